import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { allOf, anyOf, applyPolicy, gfs, maxAge, maxTotalBytes, type BackupSummary, type GfsOptions, type RetentionPolicy } from '@arca/core';
import { summary } from './retention-fixtures.js';

const START = Date.UTC(2024, 0, 1);
const SPAN_MIN = 3 * 366 * 24 * 60; // three years, minute resolution
const NOW = new Date(START + SPAN_MIN * 60_000 + 3_600_000);

/** A random timeline: 1–80 backups at random minutes over three years (duplicates allowed), random sizes and tags. */
const timeline = fc
  .array(fc.record({ minute: fc.integer({ min: 0, max: SPAN_MIN }), bytes: fc.integer({ min: 1, max: 1000 }), tagged: fc.boolean() }), { minLength: 1, maxLength: 80 })
  .map((xs) => xs.map((x, i) => summary(new Date(START + x.minute * 60_000), i, { bytes: x.bytes, tags: x.tagged ? ['monthly-report'] : [] })));

const count = fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 8 }), fc.constant('all' as const));
const gfsOptions = fc
  .record(
    {
      last: count,
      hourly: count,
      daily: count,
      weekly: count,
      monthly: count,
      yearly: count,
      within: fc.constantFrom('3d', '2m', '1y2m3d4h', '36h'),
      withinDaily: fc.constantFrom('10d', '1m'),
      tags: fc.constant(['monthly-report']),
      timezone: fc.constantFrom('UTC', 'Europe/Rome', 'America/New_York'),
    },
    { requiredKeys: [] },
  )
  .filter((o) => ['last', 'hourly', 'daily', 'weekly', 'monthly', 'yearly'].some((k) => (o as Record<string, unknown>)[k] !== undefined && (o as Record<string, unknown>)[k] !== 0) || !!o.within || !!o.withinDaily || !!o.tags) as fc.Arbitrary<GfsOptions>;

const leaf: fc.Arbitrary<RetentionPolicy> = fc.oneof(
  gfsOptions.map((o) => gfs(o)),
  fc.integer({ min: 1, max: 400 }).map((days) => maxAge({ days })),
  fc.integer({ min: 1, max: 20_000 }).map((bytes) => maxTotalBytes({ bytes })),
);
const policy: fc.Arbitrary<RetentionPolicy> = fc.oneof(
  { weight: 3, arbitrary: leaf },
  { weight: 1, arbitrary: fc.array(leaf, { minLength: 1, maxLength: 3 }).map((ps) => allOf(...ps)) },
  { weight: 1, arbitrary: fc.array(leaf, { minLength: 1, maxLength: 3 }).map((ps) => anyOf(...ps)) },
);

const newestId = (bs: BackupSummary[]) => [...bs].sort((a, b) => Date.parse(b.startedAt) - Date.parse(a.startedAt) || Number.parseInt(a.id.slice(-4), 16) - Number.parseInt(b.id.slice(-4), 16))[0]!.id;
const runs = { numRuns: 120 };

describe('retention properties on random timelines (fast-check)', () => {
  it('every backup gets exactly one decision with at least one reason, and the newest is always kept', () => {
    fc.assert(
      fc.property(timeline, policy, (bs, p) => {
        const raw = p.plan(bs, NOW);
        expect(raw.map((d) => d.id).sort()).toEqual(bs.map((b) => b.id).sort());
        for (const d of raw) expect(d.reasons.length).toBeGreaterThan(0);
        expect(raw.find((d) => d.id === newestId(bs))!.action).toBe('keep');
      }),
      runs,
    );
  });

  it('is idempotent: pruning what was kept deletes nothing more', () => {
    fc.assert(
      fc.property(timeline, policy, (bs, p) => {
        const keptIds = new Set(applyPolicy(p, bs, NOW).filter((d) => d.action === 'keep').map((d) => d.id));
        const again = applyPolicy(p, bs.filter((b) => keptIds.has(b.id)), NOW);
        expect(again.filter((d) => d.action === 'delete')).toEqual([]);
      }),
      runs,
    );
  });

  it('is deterministic and does not depend on the order backups are given in', () => {
    fc.assert(
      fc.property(timeline, policy, (bs, p) => {
        const a = applyPolicy(p, bs, NOW);
        const b = applyPolicy(p, [...bs].reverse(), NOW);
        // equal start times are ordered by input position, so only compare timelines without ties
        fc.pre(new Set(bs.map((x) => x.startedAt)).size === bs.length);
        expect(b).toEqual(a);
      }),
      runs,
    );
  });

  it('gfs({ daily: n }) keeps exactly the newest backup of each of the n newest days, plus the oldest backup when fewer than n days exist', () => {
    fc.assert(
      fc.property(timeline, fc.integer({ min: 1, max: 10 }), (bs, n) => {
        const sorted = [...bs].sort((a, b) => Date.parse(b.startedAt) - Date.parse(a.startedAt) || Number.parseInt(a.id.slice(-4), 16) - Number.parseInt(b.id.slice(-4), 16));
        const expected = new Set<string>();
        const days: string[] = [];
        for (const b of sorted) {
          const day = b.startedAt.slice(0, 10);
          if (!days.includes(day)) {
            days.push(day);
            if (days.length <= n) expected.add(b.id);
          }
        }
        if (days.length < n) expected.add(sorted.at(-1)!.id);
        const kept = gfs({ daily: n }).plan(bs, NOW).filter((d) => d.action === 'keep').map((d) => d.id);
        expect(new Set(kept)).toEqual(expected);
      }),
      runs,
    );
  });

  it('counted rules never keep more than the sum of their counts; within keeps every backup in the span before the newest', () => {
    fc.assert(
      fc.property(timeline, fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 6 }), (bs, d, w, m) => {
        const kept = gfs({ daily: d, weekly: w, monthly: m }).plan(bs, NOW).filter((x) => x.action === 'keep');
        expect(kept.length).toBeLessThanOrEqual(d + w + m);
        const newest = Math.max(...bs.map((b) => Date.parse(b.startedAt)));
        const within = gfs({ within: '36h' }).plan(bs, NOW);
        for (const b of bs) {
          const inSpan = Date.parse(b.startedAt) > newest - 36 * 3_600_000;
          expect(within.find((x) => x.id === b.id)!.action).toBe(inSpan || Date.parse(b.startedAt) === newest ? 'keep' : 'delete');
        }
      }),
      runs,
    );
  });

  it('maxAge keeps exactly the backups younger than the limit (and the newest); maxTotalBytes stays within budget unless the newest alone exceeds it', () => {
    fc.assert(
      fc.property(timeline, fc.integer({ min: 1, max: 800 }), fc.integer({ min: 1, max: 5000 }), (bs, days, budget) => {
        const newest = newestId(bs);
        for (const d of maxAge({ days }).plan(bs, NOW)) {
          const b = bs.find((x) => x.id === d.id)!;
          const young = NOW.getTime() - Date.parse(b.startedAt) <= days * 86_400_000;
          expect(d.action).toBe(young || b.id === newest ? 'keep' : 'delete');
        }
        const kept = maxTotalBytes({ bytes: budget }).plan(bs, NOW).filter((x) => x.action === 'keep');
        const total = kept.reduce((s, k) => s + bs.find((b) => b.id === k.id)!.bytes, 0);
        if (kept.length > 1) expect(total).toBeLessThanOrEqual(budget);
        else expect(kept.map((k) => k.id)).toEqual([newest]);
      }),
      runs,
    );
  });
});
