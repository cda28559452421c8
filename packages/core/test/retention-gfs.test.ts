import { describe, expect, it } from 'vitest';
import { allOf, anyOf, applyPolicy, createArca, gfs, isoWeek, localDir, maxAge, maxTotalBytes, NEWEST_REASON, type RetentionDecision } from '@arca/core';
import { syntheticSource } from './fixtures.js';
import { resticBackups, resticTime, summary } from './retention-fixtures.js';

const NOW = new Date('2030-01-01T00:00:00Z');
const byId = (backups: ReturnType<typeof resticBackups>) => new Map(backups.map((b) => [b.id, b]));

/** Kept backups as [restic time, reasons], newest first. */
function kept(decisions: RetentionDecision[], backups = resticBackups()): Array<[string, string[]]> {
  const m = byId(backups);
  return decisions.filter((d) => d.action === 'keep').map((d) => [resticTime(m.get(d.id)!.startedAt), d.reasons]);
}

describe('gfs(): restic forget semantics, checked against restic\'s own golden files', () => {
  it('daily 2, weekly 2, monthly 6 (restic policy_keep_snapshots_15)', () => {
    const d = gfs({ daily: 2, weekly: 2, monthly: 6 }).plan(resticBackups(), NOW);
    expect(kept(d)).toEqual([
      ['2016-01-18 12:02:03', ['daily snapshot', 'weekly snapshot', 'monthly snapshot']],
      ['2016-01-12 21:08:03', ['daily snapshot', 'weekly snapshot']],
      ['2015-11-22 10:20:30', ['monthly snapshot']],
      ['2015-10-22 10:20:30', ['monthly snapshot']],
      ['2015-09-22 10:20:30', ['monthly snapshot']],
      ['2015-08-22 10:20:30', ['monthly snapshot']],
      ['2014-11-22 10:20:30', ['monthly snapshot']],
    ]);
    expect(d).toHaveLength(resticBackups().length);
  });

  it('yearly 10 keeps the oldest backup while counts are left (restic policy_keep_snapshots_16)', () => {
    expect(kept(gfs({ yearly: 10 }).plan(resticBackups(), NOW))).toEqual([
      ['2016-01-18 12:02:03', ['yearly snapshot']],
      ['2015-11-22 10:20:30', ['yearly snapshot']],
      ['2014-11-22 10:20:30', ['yearly snapshot']],
      ['2014-08-08 10:20:30', ['oldest yearly snapshot']],
    ]);
  });

  it('within 2d is measured from the newest backup, not from now (restic policy_keep_snapshots_22)', () => {
    expect(kept(gfs({ within: '2d' }).plan(resticBackups(), NOW))).toEqual([['2016-01-18 12:02:03', ['within 2d']]]);
  });

  it('hand-worked on the same timeline: daily 3, last 5 + daily 5, weekly 2, within 1m14d, tags', () => {
    expect(kept(gfs({ daily: 3 }).plan(resticBackups(), NOW)).map((k) => k[0])).toEqual(['2016-01-18 12:02:03', '2016-01-12 21:08:03', '2016-01-09 21:02:03']);
    expect(kept(gfs({ last: 5, daily: 5 }).plan(resticBackups(), NOW))).toEqual([
      ['2016-01-18 12:02:03', ['last snapshot', 'daily snapshot']],
      ['2016-01-12 21:08:03', ['last snapshot', 'daily snapshot']],
      ['2016-01-12 21:02:03', ['last snapshot']],
      ['2016-01-09 21:02:03', ['last snapshot', 'daily snapshot']],
      ['2016-01-08 20:02:03', ['last snapshot', 'daily snapshot']],
      ['2016-01-07 10:02:03', ['daily snapshot']],
    ]);
    // 2016-01-18 is a Monday (ISO week 3), 2016-01-12 a Tuesday of week 2.
    expect(kept(gfs({ weekly: 2 }).plan(resticBackups(), NOW)).map((k) => k[0])).toEqual(['2016-01-18 12:02:03', '2016-01-12 21:08:03']);
    // 2016-01-18 12:02:03 minus 1 month 14 days = 2015-12-04 12:02:03: the 19 backups of January 2016.
    const within = kept(gfs({ within: '1m14d' }).plan(resticBackups(), NOW));
    expect(within).toHaveLength(19);
    expect(within.at(-1)).toEqual(['2016-01-01 01:02:03', ['within 1m14d']]);
    // restic --keep-tag foo,bar: only backups carrying both tags (plus the newest, always kept).
    expect(kept(gfs({ tags: ['foo,bar'] }).plan(resticBackups(), NOW))).toEqual([
      ['2016-01-18 12:02:03', [NEWEST_REASON]],
      ['2015-10-22 10:20:30', ['has tags [foo bar]']],
      ['2015-10-22 10:20:30', ['has tags [foo bar]']],
      ['2015-10-22 10:20:30', ['has tags [foo bar]']],
      ['2014-11-15 10:20:30', ['has tags [foo bar]']],
    ]);
  });

  it('"all" keeps every period (restic -1), and a backup kept by several rules lists every reason', () => {
    const d = gfs({ daily: 'all' }).plan(resticBackups(), NOW);
    const days = new Set(resticBackups().map((b) => b.startedAt.slice(0, 10)));
    expect(d.filter((x) => x.action === 'keep')).toHaveLength(days.size);
  });

  it('Partesa: 7 daily / 4 weekly / 12 monthly on daily backups ending Tuesday 2026-03-10', () => {
    const backups = [];
    for (let t = Date.UTC(2025, 0, 1, 2); t <= Date.UTC(2026, 2, 10, 2); t += 86_400_000) backups.push(summary(new Date(t), backups.length));
    const d = gfs({ daily: 7, weekly: 4, monthly: 12 }).plan(backups.reverse(), new Date('2026-03-10T03:00:00Z'));
    const keep = d.filter((x) => x.action === 'keep').map((x) => [x.id.slice(0, 8), x.reasons.join(', ')]);
    expect(keep).toEqual([
      ['20260310', 'daily snapshot, weekly snapshot, monthly snapshot'],
      ['20260309', 'daily snapshot'],
      ['20260308', 'daily snapshot, weekly snapshot'], // Sunday closes ISO week 10
      ['20260307', 'daily snapshot'],
      ['20260306', 'daily snapshot'],
      ['20260305', 'daily snapshot'],
      ['20260304', 'daily snapshot'],
      ['20260301', 'weekly snapshot'],
      ['20260228', 'monthly snapshot'],
      ['20260222', 'weekly snapshot'],
      ['20260131', 'monthly snapshot'],
      ['20251231', 'monthly snapshot'],
      ['20251130', 'monthly snapshot'],
      ['20251031', 'monthly snapshot'],
      ['20250930', 'monthly snapshot'],
      ['20250831', 'monthly snapshot'],
      ['20250731', 'monthly snapshot'],
      ['20250630', 'monthly snapshot'],
      ['20250531', 'monthly snapshot'],
      ['20250430', 'monthly snapshot'],
    ]);
    const del = d.find((x) => x.id.startsWith('20260303'))!;
    expect(del.action).toBe('delete');
    expect(del.reasons).toEqual([
      'the 7 daily slots are taken by newer backups',
      'weekly 2026-W10 is already kept by the newer ' + d.find((x) => x.id.startsWith('20260308'))!.id,
      'monthly 2026-03 is already kept by the newer ' + d[0]!.id,
    ]);
  });

  it('periods follow the configured time zone (Europe/Rome) instead of UTC', () => {
    const backups = [summary('2026-03-10T00:30:00Z', 2), summary('2026-03-09T23:30:00Z', 1), summary('2026-03-08T12:00:00Z', 0)];
    const utc = gfs({ daily: 5 }).plan(backups, NOW);
    const rome = gfs({ daily: 5, timezone: 'Europe/Rome' }).plan(backups, NOW);
    expect(utc.map((d) => d.action)).toEqual(['keep', 'keep', 'keep']);
    // 23:30 UTC on the 9th is 00:30 on the 10th in Rome: the same day as the newer backup.
    expect(rome.map((d) => d.action)).toEqual(['keep', 'delete', 'keep']);
    expect(rome[1]!.reasons[0]).toBe(`daily 2026-03-10 is already kept by the newer ${backups[0]!.id}`);
  });

  it('ISO weeks match Go\'s ISOWeek at year boundaries', () => {
    expect(isoWeek(2016, 1, 1)).toEqual([2015, 53]);
    expect(isoWeek(2016, 1, 4)).toEqual([2016, 1]);
    expect(isoWeek(2024, 12, 30)).toEqual([2025, 1]);
    expect(isoWeek(2026, 12, 31)).toEqual([2026, 53]);
    expect(isoWeek(2027, 1, 3)).toEqual([2026, 53]);
  });

  it('the newest backup is kept even when no rule matches it, and with no backups there is nothing to decide', () => {
    const backups = [summary('2026-03-10T00:00:00Z', 1), summary('2026-01-10T00:00:00Z', 0, { tags: ['keep'] })];
    expect(gfs({ tags: ['keep'] }).plan(backups, NOW)).toEqual([
      { id: backups[0]!.id, action: 'keep', reasons: [NEWEST_REASON] },
      { id: backups[1]!.id, action: 'keep', reasons: ['has tags [keep]'] },
    ]);
    expect(gfs({ daily: 1 }).plan([], NOW)).toEqual([]);
  });

  it('describe() says what the policy keeps, in restic\'s words', () => {
    expect(gfs({ daily: 7, weekly: 4, monthly: 12 }).describe!()).toBe('keep 7 daily, 4 weekly, 12 monthly backups');
    expect(gfs({ last: 3, yearly: 'all', within: '2d' }).describe!()).toBe('keep 3 latest, all yearly backups and all backups within 2d of the newest');
  });
});

describe('maxAge, maxTotalBytes and composition', () => {
  const daily = (n: number, newest = Date.UTC(2026, 2, 10, 2)) => Array.from({ length: n }, (_, k) => summary(new Date(newest - k * 86_400_000), n - k));

  it('maxAge({ days: 30 }) keeps the last 30 days (FIXIT) and explains the rest', () => {
    const backups = daily(40);
    const d = maxAge({ days: 30 }).plan(backups, new Date(Date.UTC(2026, 2, 10, 3)));
    expect(d.filter((x) => x.action === 'keep')).toHaveLength(30);
    expect(d[29]!.reasons).toEqual(['younger than 30 days (29d 1h old)']);
    expect(d[30]).toEqual({ id: backups[30]!.id, action: 'delete', reasons: ['older than 30 days (30d 1h old)'] });
  });

  it('maxAge keeps the newest backup however old it is', () => {
    const d = maxAge({ days: 1 }).plan(daily(3), new Date(Date.UTC(2026, 5, 1)));
    expect(d.map((x) => x.action)).toEqual(['keep', 'delete', 'delete']);
    expect(d[0]!.reasons[0]).toBe(NEWEST_REASON);
  });

  it('maxTotalBytes keeps the newest backups within the budget, never leaving gaps', () => {
    const backups = [summary('2026-03-04', 4, { bytes: 5 }), summary('2026-03-03', 3, { bytes: 5 }), summary('2026-03-02', 2, { bytes: 5 }), summary('2026-03-01', 1, { bytes: 1 })];
    const d = maxTotalBytes({ bytes: 12 }).plan(backups, NOW);
    expect(d.map((x) => x.action)).toEqual(['keep', 'keep', 'delete', 'delete']);
    expect(d[2]!.reasons).toEqual(['over 12 B total: the newer backups kept already use 10 B']);
    const huge = maxTotalBytes({ bytes: 4 }).plan(backups, NOW);
    expect(huge.map((x) => x.action)).toEqual(['keep', 'delete', 'delete', 'delete']);
    expect(huge[0]!.reasons).toEqual([NEWEST_REASON, 'alone it exceeds 4 B (5 B)']);
  });

  it('allOf keeps only what every policy keeps; anyOf keeps what any keeps; reasons come from the deciding policies', () => {
    const backups = daily(10).map((b) => ({ ...b, bytes: 10 }));
    const both = allOf(gfs({ daily: 7 }), maxTotalBytes({ bytes: 50 })).plan(backups, NOW);
    expect(both.map((x) => x.action)).toEqual(['keep', 'keep', 'keep', 'keep', 'keep', 'delete', 'delete', 'delete', 'delete', 'delete']);
    expect(both[5]!.reasons).toEqual(['over 50 B total: the newer backups kept already use 50 B']);
    expect(both[8]!.reasons).toEqual(['the 7 daily slots are taken by newer backups', 'over 50 B total: the newer backups kept already use 50 B']);
    expect(both[0]!.reasons).toEqual(['daily snapshot', 'within 50 B total (10 B so far)']);
    const either = anyOf(gfs({ last: 2 }), maxAge({ days: 4 })).plan(backups, new Date(Date.UTC(2026, 2, 10, 3)));
    expect(either.filter((x) => x.action === 'keep')).toHaveLength(4);
    expect(either[0]!.reasons).toEqual(['last snapshot', 'younger than 4 days (1h old)']);
    expect(allOf(gfs({ daily: 1 }), maxAge({ days: 1 })).describe!()).toBe('(keep 1 daily backups) and (keep backups younger than 1 day)');
  });

  it('applyPolicy guards against a faulty custom policy: forgotten backups are kept, the newest is never deleted', () => {
    const backups = daily(3);
    const greedy = { plan: () => backups.map((b) => ({ id: b.id, action: 'delete' as const, reasons: [] })) };
    expect(applyPolicy(greedy, backups, NOW).map((d) => [d.action, d.reasons[0]])).toEqual([['keep', NEWEST_REASON], ['delete', 'deleted by the policy'], ['delete', 'deleted by the policy']]);
    const forgetful = { plan: () => [] };
    expect(applyPolicy(forgetful, backups, NOW).every((d) => d.action === 'keep' && d.reasons[0] === 'the policy gave no decision: kept')).toBe(true);
  });
});

describe('bad policies are refused with CONFIG_INVALID', () => {
  it.each([
    ['an empty gfs()', () => gfs({})],
    ['gfs() with only zero counts', () => gfs({ daily: 0, weekly: 0 })],
    ['a negative count', () => gfs({ daily: -1 })],
    ['a fractional count', () => gfs({ daily: 1.5 })],
    ['an unknown option', () => gfs({ dayly: 7 } as never)],
    ['a malformed within', () => gfs({ within: '7 days' })],
    ['a zero within', () => gfs({ within: '0d' })],
    ['an unknown time zone', () => gfs({ daily: 7, timezone: 'Mars/Olympus' })],
    ['maxAge of 0 days', () => maxAge({ days: 0 })],
    ['maxTotalBytes without bytes', () => maxTotalBytes({} as never)],
    ['allOf() of nothing', () => allOf()],
    ['anyOf() of a non-policy', () => anyOf({} as never)],
  ])('%s', (_name, make) => {
    expect(make).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
  });

  it('the empty-policy message says why it is refused', () => {
    expect(() => gfs({})).toThrow(/would delete every backup but the newest/);
  });

  it('createArca refuses a retention that is not a policy, on the job or on a destination, and a bad health.maxAge', () => {
    const base = { sources: { data: syntheticSource(10) } };
    const dests = { local: localDir({ path: '/tmp/arca-never-written' }) };
    expect(() => createArca({ destinations: dests, jobs: { j: { ...base, destinations: ['local'], retention: {} as never } } })).toThrow(/jobs\.j\.retention: must be a RetentionPolicy/);
    expect(() => createArca({ destinations: dests, jobs: { j: { ...base, destinations: [{ name: 'local', retention: { days: 7 } as never }] } } })).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
    expect(() => createArca({ destinations: dests, jobs: { j: { ...base, destinations: ['local'], health: { maxAge: 'a day' } } } })).toThrow(/jobs\.j\.health\.maxAge/);
  });
});
