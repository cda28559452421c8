import { describe, expect, it } from 'vitest';
import { createArca, missedRun, nextRuns, toCron, type RunLogEntry, type RunResult } from '@arca/core';
import { gatedSource, memoryDestination } from './scheduler-fixtures.js';

const ROME = 'Europe/Rome';
const iso = (ds: Date[]) => ds.map((d) => d.toISOString());

describe('schedules: presets, time zones, DST, month ends (pure, fixed dates)', () => {
  it('presets turn into the cron expressions they say', () => {
    expect(toCron('hourly')).toBe('0 * * * *');
    expect(toCron('daily@02:00')).toBe('0 2 * * *');
    expect(toCron('weekly@sun 03:00')).toBe('0 3 * * 0');
    expect(toCron('monthly@1 04:00')).toBe('0 4 1 * *');
    expect(toCron('every 4h')).toBe('0 */4 * * *');
    expect(toCron('every 15m')).toBe('*/15 * * * *');
    expect(toCron('0 2 * * 1-5')).toBe('0 2 * * 1-5');
  });

  it('FIXIT: daily at 02:00 and weekly on Sunday at 03:00, Rome time', () => {
    const from = new Date('2026-07-01T12:00:00Z');
    expect(iso(nextRuns('daily@02:00', 2, { timezone: ROME, from }))).toEqual(['2026-07-02T00:00:00.000Z', '2026-07-03T00:00:00.000Z']);
    expect(iso(nextRuns('weekly@sun 03:00', 2, { timezone: ROME, from }))).toEqual(['2026-07-05T01:00:00.000Z', '2026-07-12T01:00:00.000Z']);
    // Partesa: every 4 hours, on the hour
    expect(iso(nextRuns('every 4h', 3, { timezone: 'UTC', from }))).toEqual(['2026-07-01T16:00:00.000Z', '2026-07-01T20:00:00.000Z', '2026-07-02T00:00:00.000Z']);
  });

  it('spring forward in Rome: a 02:30 job runs once, at 03:00, on the day 02:30 does not exist', () => {
    const runs = nextRuns('daily@02:30', 3, { timezone: ROME, from: new Date('2026-03-28T12:00:00Z') });
    expect(iso(runs)).toEqual(['2026-03-29T01:00:00.000Z', '2026-03-30T00:30:00.000Z', '2026-03-31T00:30:00.000Z']);
  });

  it('fall back in Rome: a 02:30 job runs once although 02:30 happens twice; hourly runs both 02:00s', () => {
    expect(iso(nextRuns('daily@02:30', 2, { timezone: ROME, from: new Date('2026-10-24T12:00:00Z') }))).toEqual([
      '2026-10-25T00:30:00.000Z',
      '2026-10-26T01:30:00.000Z',
    ]);
    expect(iso(nextRuns('every 1h', 3, { timezone: ROME, from: new Date('2026-10-24T23:30:00Z') }))).toEqual([
      '2026-10-25T00:00:00.000Z',
      '2026-10-25T01:00:00.000Z',
      '2026-10-25T02:00:00.000Z',
    ]);
  });

  it('month ends: the last day with L, day 31 only in long months, monthly presets refuse days some months lack', () => {
    const from = new Date('2026-01-15T00:00:00Z');
    expect(iso(nextRuns('0 4 L * *', 3, { timezone: ROME, from }))).toEqual(['2026-01-31T03:00:00.000Z', '2026-02-28T03:00:00.000Z', '2026-03-31T02:00:00.000Z']);
    expect(iso(nextRuns('0 4 31 * *', 2, { timezone: ROME, from }))).toEqual(['2026-01-31T03:00:00.000Z', '2026-03-31T02:00:00.000Z']);
    expect(() => toCron('monthly@31')).toThrow(/1–28/);
  });

  it('bad schedules, zones and scheduler options are refused at config time, each problem listed', () => {
    const base = { sources: { d: gatedSource() }, destinations: ['m'] };
    let err: unknown;
    try {
      createArca({
        destinations: { m: memoryDestination() },
        jobs: {
          a: { ...base, schedule: 'dayly@02:00' },
          b: { ...base, schedule: 'daily@02:00', timezone: 'Mars/Olympus' },
          c: { ...base, catchUp: 'once' },
          d: { ...base, schedule: 'hourly', catchUp: 'always' as never },
        },
        scheduler: { concurrency: 0 },
      });
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'CONFIG_INVALID' });
    const msg = (err as Error).message;
    expect(msg).toMatch(/jobs\.d\.catchUp/);
    expect(msg).toMatch(/scheduler\.concurrency/);
    expect(() =>
      createArca({ destinations: { m: memoryDestination() }, jobs: { a: { ...base, schedule: 'dayly@02:00' }, b: { ...base, schedule: 'daily@02:00', timezone: 'Mars/Olympus' }, c: { ...base, catchUp: 'once' } } }),
    ).toThrow(/jobs\.a\.schedule: Invalid schedule "dayly@02:00"[\s\S]*jobs\.b\.timezone: unknown time zone "Mars\/Olympus"[\s\S]*jobs\.c: catchUp and jitterMs need a schedule/);
  });
});

function runEntry(startedAt: string, extra: Partial<RunResult> = {}): RunLogEntry {
  return {
    type: 'run',
    runId: startedAt,
    job: 'daily',
    backupId: '',
    status: 'completed',
    trigger: { type: 'schedule' },
    startedAt,
    finishedAt: startedAt,
    durationMs: 0,
    bytes: 0,
    artifacts: [],
    destinations: [],
    ...extra,
  };
}

describe('missedRun: which due time the catch-up policy runs', () => {
  const now = new Date('2026-03-10T08:00:00Z'); // 09:00 in Rome; 02:00 Rome = 01:00Z
  it('the host was down at 02:00: the 02:00 run is missed (once, however many were missed)', () => {
    const last = [runEntry('2026-03-07T01:00:02Z')];
    expect(missedRun('daily@02:00', ROME, last, now)?.toISOString()).toBe('2026-03-10T01:00:00.000Z');
  });
  it('a run at or after the due time covers it, whatever triggered it', () => {
    expect(missedRun('daily@02:00', ROME, [runEntry('2026-03-10T01:00:00.004Z')], now)).toBeUndefined();
    expect(missedRun('daily@02:00', ROME, [runEntry('2026-03-10T06:00:00Z', { trigger: { type: 'manual', actor: 'alice' } })], now)).toBeUndefined();
    // a run due at 02:00 that started a little early (clock skew) still counts through scheduledFor
    expect(missedRun('daily@02:00', ROME, [runEntry('2026-03-10T00:59:59.990Z', { trigger: { type: 'schedule', scheduledFor: '2026-03-10T01:00:00.000Z' } })], now)).toBeUndefined();
  });
  it('the time zone decides the due time', () => {
    const last = [runEntry('2026-03-10T01:30:00Z')]; // after 02:00 Rome, before 02:00 UTC
    expect(missedRun('daily@02:00', ROME, last, now)).toBeUndefined();
    expect(missedRun('daily@02:00', 'UTC', last, now)?.toISOString()).toBe('2026-03-10T02:00:00.000Z');
  });
  it('no run in the history: nothing is known to be missed', () => {
    expect(missedRun('daily@02:00', ROME, [], now)).toBeUndefined();
    const audit: RunLogEntry = { type: 'audit', action: 'delete', job: 'daily', backupId: 'x', at: '2026-01-01T00:00:00Z', ok: true };
    expect(missedRun('daily@02:00', ROME, [audit], now)).toBeUndefined();
  });
});
