import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { jsonlRunLog, type RunLogEntry } from '@arca/core';
import { tempDir } from './helpers.js';
import { bundleChild, startChild } from './process-harness.js';

describe('two Arca instances in two processes sharing a lock folder', () => {
  it('never run the same job at once: every overlap is skipped with LOCKED and recorded', { timeout: 60_000 }, async () => {
    const dir = await tempDir('arca-two');
    const child = await bundleChild(dir);
    const locks = path.join(dir, 'locks');
    const backups = path.join(dir, 'backups');
    // Each runs a ~1.3 s backup every second for 3.5 s: runs outlive ticks in both processes.
    const a = startChild(child, ['arca', locks, backups, path.join(dir, 'a.jsonl'), '3500']);
    const b = startChild(child, ['arca', locks, backups, path.join(dir, 'b.jsonl'), '3500']);
    expect(await a.next()).toMatchObject({ started: true });
    expect(await b.next()).toMatchObject({ started: true });
    expect(await a.next()).toMatchObject({ stopped: true });
    expect(await b.next()).toMatchObject({ stopped: true });
    expect(await a.exited).toBe(0);
    expect(await b.exited).toBe(0);

    const entries: Array<RunLogEntry & { type: 'run' }> = [];
    for (const f of ['a.jsonl', 'b.jsonl']) {
      for (const e of await jsonlRunLog(path.join(dir, f)).read()) if (e.type === 'run') entries.push(e);
    }
    const ran = entries.filter((e) => e.status === 'completed').sort((x, y) => x.startedAt.localeCompare(y.startedAt));
    const skipped = entries.filter((e) => e.status === 'skipped');
    expect(ran.length).toBeGreaterThanOrEqual(2);
    for (let i = 1; i < ran.length; i++) {
      // the next run (in either process) started after the previous one finished
      expect(Date.parse(ran[i]!.startedAt)).toBeGreaterThanOrEqual(Date.parse(ran[i - 1]!.finishedAt));
    }
    expect(skipped.every((s) => s.error?.code === 'LOCKED')).toBe(true);
    expect(skipped.some((s) => /elsewhere/.test(s.error!.message))).toBe(true); // the other process held it
    expect(skipped.some((s) => /still running/.test(s.error!.message))).toBe(true); // this process held it
    expect(entries.filter((e) => e.status === 'failed')).toEqual([]);
    expect(await fs.readdir(locks)).toEqual([]); // both released on stop
  });
});
