import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createArca, jsonlRunLog, memoryRunLog, queryRunLog, type RunLog, type RunLogEntry } from '@arca/core';
import { tempDir } from './helpers.js';
import { gatedSource, memoryDestination } from './scheduler-fixtures.js';

function run(job: string, startedAt: string, status: 'completed' | 'partial' | 'failed' | 'skipped'): RunLogEntry {
  const base = { type: 'run' as const, runId: `${job}-${startedAt}`, job, backupId: '', trigger: { type: 'schedule' as const }, startedAt, finishedAt: startedAt, durationMs: 0, bytes: 0, artifacts: [], destinations: [] };
  return status === 'skipped' ? { ...base, status, error: { name: 'ArcaError', code: 'LOCKED', message: 'still running' } } : { ...base, status };
}

const entries: RunLogEntry[] = [
  run('daily', '2026-03-01T02:00:00.000Z', 'completed'),
  run('weekly', '2026-03-01T03:00:00.000Z', 'failed'),
  run('daily', '2026-03-02T02:00:00.000Z', 'partial'),
  { type: 'audit', action: 'restore', job: 'daily', backupId: 'b1', at: '2026-03-02T10:00:00.000Z', actor: 'alice', ok: true },
  run('daily', '2026-03-03T02:00:00.000Z', 'skipped'),
  run('daily', '2026-03-04T02:00:00.000Z', 'completed'),
];
const ids = (es: RunLogEntry[]) => es.map((e) => (e.type === 'run' ? `${e.job}:${e.startedAt.slice(5, 10)}:${e.status}` : `audit:${e.action}`));

describe('run history queries', () => {
  it('queryRunLog filters by job, type, status, time range and pages with offset/limit, newest first', () => {
    expect(ids(queryRunLog(entries, { job: 'daily', limit: 2 }))).toEqual(['daily:03-04:completed', 'daily:03-03:skipped']);
    expect(ids(queryRunLog(entries, { type: 'audit' }))).toEqual(['audit:restore']);
    expect(ids(queryRunLog(entries, { status: 'skipped' }))).toEqual(['daily:03-03:skipped']);
    expect(ids(queryRunLog(entries, { status: ['failed', 'partial'] }))).toEqual(['daily:03-02:partial', 'weekly:03-01:failed']);
    expect(ids(queryRunLog(entries, { since: '2026-03-02T00:00:00Z', until: new Date('2026-03-04T00:00:00Z') }))).toEqual([
      'daily:03-03:skipped',
      'audit:restore',
      'daily:03-02:partial',
    ]);
    // paging: page 2 of size 2 over the daily job's entries
    expect(ids(queryRunLog(entries, { job: 'daily', offset: 2, limit: 2 }))).toEqual(['audit:restore', 'daily:03-02:partial']);
    expect(queryRunLog(entries, { job: 'daily', offset: 10 })).toEqual([]);
    expect(() => queryRunLog(entries, { since: 'yesterday' })).toThrow(/since "yesterday" is not a date/);
  });

  for (const [name, make] of [
    ['jsonlRunLog', async () => jsonlRunLog(path.join(await tempDir('arca-hist'), 'runs.jsonl'))],
    ['memoryRunLog', async () => memoryRunLog()],
  ] as Array<[string, () => Promise<RunLog>]>) {
    it(`${name} and arca.history() apply the same filters`, async () => {
      const log = await make();
      for (const e of entries) await log.append(e);
      expect(ids(await log.read({ job: 'daily', status: ['completed', 'skipped'], offset: 1 }))).toEqual(['daily:03-03:skipped', 'daily:03-01:completed']);
      const arca = createArca({ destinations: { m: memoryDestination() }, jobs: { daily: { sources: { s: gatedSource() }, destinations: ['m'] } }, runLog: log });
      expect(ids(await arca.history({ type: 'run', since: '2026-03-03T00:00:00Z' }))).toEqual(['daily:03-04:completed', 'daily:03-03:skipped']);
      expect(ids(await arca.history({ job: 'weekly' }))).toEqual(['weekly:03-01:failed']);
    });
  }
});
