import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createArca, jsonlRunLog, memoryRunLog, queryRunLog, runLogToCsv, type RunLog, type RunLogEntry } from '@arca/core';
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

  it('jsonlRunLog rotates at maxBytes, keeps `keep` old files, and reads across them', async () => {
    const dir = await tempDir('arca-rot');
    const file = path.join(dir, 'runs.jsonl');
    const log = jsonlRunLog(file, { maxBytes: 2048, keep: 2 });
    const all: RunLogEntry[] = [];
    for (let i = 0; i < 40; i++) {
      const e = run('daily', new Date(Date.UTC(2026, 0, 1, 0, i)).toISOString(), 'completed');
      all.push(e);
      await log.append(e);
    }
    expect((await fs.readdir(dir)).sort()).toEqual(['runs.jsonl', 'runs.jsonl.1', 'runs.jsonl.2']);
    for (const f of await fs.readdir(dir)) expect((await fs.stat(path.join(dir, f))).size).toBeLessThanOrEqual(2048);
    const read = await log.read();
    expect(read.length).toBeGreaterThan(10);
    expect(read.length).toBeLessThan(40); // the oldest were dropped
    // newest first, contiguous: exactly the last N appended
    expect(read.map((e) => (e.type === 'run' ? e.runId : ''))).toEqual(all.slice(-read.length).reverse().map((e) => (e.type === 'run' ? e.runId : '')));
    expect(() => jsonlRunLog(file, { maxBytes: 10 })).toThrow(/maxBytes/);
  });

  it('runLogToCsv: a header, one row per entry, quoting, and no formulas for spreadsheets', () => {
    const failed: RunLogEntry = {
      ...(run('daily', '2026-03-05T02:00:00.000Z', 'completed') as RunLogEntry & { type: 'run' }),
      status: 'partial',
      trigger: { type: 'manual', actor: '=HYPERLINK("http://evil","x")' },
      destinations: [
        { name: 'local', kind: 'local', status: 'completed', priority: 0, bytes: 10 },
        { name: 'nas', kind: 'sftp', status: 'failed', priority: 1, bytes: 0 },
      ],
      error: { name: 'ArcaError', code: 'DEST_UNREACHABLE', message: 'nas: timeout, "retry" later' },
    };
    const csv = runLogToCsv([failed, entries[3]!]);
    const lines = csv.split('\r\n');
    expect(lines[0]).toBe('type,job,status,backupId,trigger,actor,scheduledFor,startedAt,finishedAt,durationMs,bytes,destinations,errorCode,error');
    expect(lines[1]).toBe(
      `run,daily,partial,,manual,"'=HYPERLINK(""http://evil"",""x"")",,2026-03-05T02:00:00.000Z,2026-03-05T02:00:00.000Z,0,0,local:completed;nas:failed,DEST_UNREACHABLE,"nas: timeout, ""retry"" later"`,
    );
    expect(lines[2]).toBe('audit,daily,restore,b1,,alice,,2026-03-02T10:00:00.000Z,2026-03-02T10:00:00.000Z,,,,,');
    expect(lines).toHaveLength(4);
    expect(lines[3]).toBe('');
  });
});
