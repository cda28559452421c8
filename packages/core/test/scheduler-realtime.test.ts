import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createArca, jsonlRunLog, localDir, type RunResult } from '@arca/core';
import { tempDir } from './helpers.js';
import { gatedSource } from './scheduler-fixtures.js';

describe('scheduler (real clock)', () => {
  it("a '* * * * * *' schedule fires, and stop() waits for the running backup before resolving", async () => {
    const dir = await tempDir('arca-sched');
    const source = gatedSource();
    const arca = createArca({
      destinations: { local: localDir({ path: path.join(dir, 'backups') }) },
      jobs: { tick: { sources: { data: source }, destinations: ['local'], schedule: '* * * * * *' } },
      runLog: jsonlRunLog(path.join(dir, 'runs.jsonl')),
    });
    const firstStart = new Promise<void>((resolve) => arca.on('run:start', () => resolve()));
    const done: RunResult[] = [];
    arca.on('run:done', (r) => done.push(r));
    await arca.start();
    await firstStart;
    let stopped = false;
    const stopping = arca.stop().then(() => (stopped = true));
    // More than one tick passes: stop() keeps waiting and no new run starts.
    await new Promise((r) => setTimeout(r, 1_300));
    expect(stopped).toBe(false);
    expect(source.dumps).toBe(1);
    source.open();
    await stopping;
    expect(done.map((r) => [r.status, r.trigger.type])).toEqual([['completed', 'schedule']]);
    expect((await arca.list('tick')).map((b) => b.id)).toEqual([done[0]!.backupId]);
    expect(await arca.history({ job: 'tick', type: 'run' })).toHaveLength(1);
  });
});
