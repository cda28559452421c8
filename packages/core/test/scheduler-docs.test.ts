import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createArca, directory, fileLock, jsonlRunLog, localDir } from '@arca/core';
import { tempDir } from './helpers.js';

// The example of docs/guide/scheduling.md, checked: it typechecks, validates, and gives
// the run times the text promises.
describe('docs/guide/scheduling.md example', () => {
  it('FIXIT: daily at 02:00 and weekly on Sunday at 03:00 in Rome, with catch-up, jitter, lock and rotation', async () => {
    const dir = await tempDir('arca-doc');
    const arca = createArca({
      destinations: { local: localDir({ path: path.join(dir, 'backups') }) },
      jobs: {
        daily: {
          sources: { uploads: directory({ path: path.join(dir, 'static/uploads') }) },
          destinations: ['local'],
          schedule: 'daily@02:00',
          timezone: 'Europe/Rome',
          catchUp: 'once',
        },
        weekly: {
          sources: { project: directory({ path: dir, exclude: ['.git', 'node_modules'] }) },
          destinations: ['local'],
          schedule: 'weekly@sun 03:00',
          timezone: 'Europe/Rome',
          jitterMs: 5 * 60_000,
        },
      },
      runLog: jsonlRunLog(path.join(dir, 'backups/runs.jsonl'), { maxBytes: 10 * 2 ** 20 }),
      lock: fileLock({ dir: path.join(dir, 'backups/.locks') }),
      scheduler: { concurrency: 1 },
    });
    const from = new Date('2026-11-20T12:00:00Z'); // a Friday
    expect(arca.nextRuns('daily', 2, from).map((d) => d.toISOString())).toEqual(['2026-11-21T01:00:00.000Z', '2026-11-22T01:00:00.000Z']);
    expect(arca.nextRuns('weekly', 1, from).map((d) => d.toISOString())).toEqual(['2026-11-22T02:00:00.000Z']);
    await arca.start(); // empty history: nothing to catch up
    await arca.stop({ timeoutMs: 1_000 });
    expect(await arca.history()).toEqual([]);
  });
});
