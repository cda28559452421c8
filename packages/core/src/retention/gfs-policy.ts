import { z } from 'zod';
import type { BackupSummary, RetentionDecision, RetentionPolicy } from '../contracts.js';
import { ArcaError, ErrorCodes } from '../errors.js';
import { parseOptions } from '../options.js';
import { type CalendarSpan, formatSpan, parseCalendarSpan, subtractSpan } from './duration-parse.js';
import { NEWEST_REASON, backupTime, sortNewestFirst } from './policy-support.js';

/** A count of backups to keep per period: a whole number, or `'all'` (restic's `-1`). */
export type KeepCount = number | 'all';

export interface GfsOptions {
  /** Keep the newest N backups (restic `--keep-last`). */
  last?: KeepCount;
  /** Keep the newest backup of each of the last N hours that have backups (`--keep-hourly`). */
  hourly?: KeepCount;
  /** … of each of the last N days that have backups (`--keep-daily`). */
  daily?: KeepCount;
  /** … of each of the last N ISO weeks (Monday to Sunday) that have backups (`--keep-weekly`). */
  weekly?: KeepCount;
  /** … of each of the last N calendar months that have backups (`--keep-monthly`). */
  monthly?: KeepCount;
  /** … of each of the last N calendar years that have backups (`--keep-yearly`). */
  yearly?: KeepCount;
  /**
   * Keep every backup started within this span before the NEWEST backup (not before now),
   * restic's `--keep-within`: `'7d'`, `'36h'`, `'1m14d'`, `'1y2m3d4h'` (m = months).
   */
  within?: string;
  /** Keep the newest backup of each hour/day/week/month/year within the span before the newest backup (`--keep-within-hourly` …). */
  withinHourly?: string;
  withinDaily?: string;
  withinWeekly?: string;
  withinMonthly?: string;
  withinYearly?: string;
  /** Keep every backup carrying these tags: each entry is a tag or a comma-separated list that must all be present (`--keep-tag`). */
  tags?: string[];
  /** IANA time zone whose calendar defines hours, days, weeks, months and years (default `'UTC'`). */
  timezone?: string;
}

const Count = z.union([z.number().int().nonnegative(), z.literal('all')]);
const Span = z.string().min(1);
const GfsSchema = z
  .object({
    last: Count.optional(),
    hourly: Count.optional(),
    daily: Count.optional(),
    weekly: Count.optional(),
    monthly: Count.optional(),
    yearly: Count.optional(),
    within: Span.optional(),
    withinHourly: Span.optional(),
    withinDaily: Span.optional(),
    withinWeekly: Span.optional(),
    withinMonthly: Span.optional(),
    withinYearly: Span.optional(),
    tags: z.array(z.string().min(1)).optional(),
    timezone: z.string().optional(),
  })
  .strict();

interface Parts {
  y: number;
  mo: number;
  d: number;
  h: number;
}

function partsIn(timezone: string): (t: Date) => Parts {
  if (timezone === 'UTC') return (t) => ({ y: t.getUTCFullYear(), mo: t.getUTCMonth() + 1, d: t.getUTCDate(), h: t.getUTCHours() });
  const fmt = new Intl.DateTimeFormat('en-US', { timeZone: timezone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric' });
  return (t) => {
    const p: Record<string, number> = {};
    for (const x of fmt.formatToParts(t)) if (x.type !== 'literal') p[x.type] = Number(x.value);
    return { y: p.year!, mo: p.month!, d: p.day!, h: p.hour! % 24 };
  };
}

/** ISO 8601 week-numbering year and week of a calendar date (what Go's `ISOWeek` returns). */
export function isoWeek(y: number, mo: number, d: number): [number, number] {
  const date = new Date(Date.UTC(y, mo - 1, d));
  const dow = (date.getUTCDay() + 6) % 7; // Monday = 0
  date.setUTCDate(date.getUTCDate() - dow + 3); // the Thursday of this week decides the year
  const isoYear = date.getUTCFullYear();
  const week = 1 + Math.floor((date.getTime() - Date.UTC(isoYear, 0, 1)) / 86_400_000 / 7);
  return [isoYear, week];
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

interface Bucketer {
  key: string;
  label: string;
  /** A number per period (restic's bucker) and a readable name of the period. */
  bucket(p: Parts, nr: number): { val: number; name: string };
}

const BUCKETERS: Bucketer[] = [
  { key: 'last', label: 'last', bucket: (_p, nr) => ({ val: nr, name: `#${nr + 1}` }) },
  { key: 'hourly', label: 'hourly', bucket: (p) => ({ val: p.y * 1_000_000 + p.mo * 10_000 + p.d * 100 + p.h, name: `${p.y}-${pad(p.mo)}-${pad(p.d)} ${pad(p.h)}h` }) },
  { key: 'daily', label: 'daily', bucket: (p) => ({ val: p.y * 10_000 + p.mo * 100 + p.d, name: `${p.y}-${pad(p.mo)}-${pad(p.d)}` }) },
  {
    key: 'weekly',
    label: 'weekly',
    bucket: (p) => {
      const [wy, w] = isoWeek(p.y, p.mo, p.d);
      return { val: wy * 100 + w, name: `${wy}-W${pad(w)}` };
    },
  },
  { key: 'monthly', label: 'monthly', bucket: (p) => ({ val: p.y * 100 + p.mo, name: `${p.y}-${pad(p.mo)}` }) },
  { key: 'yearly', label: 'yearly', bucket: (p) => ({ val: p.y, name: String(p.y) }) },
];
const WITHIN_KEYS = ['withinHourly', 'withinDaily', 'withinWeekly', 'withinMonthly', 'withinYearly'] as const;

/**
 * Grandfather-father-son retention with the semantics of `restic forget` (restic 0.16+):
 * backups are walked newest first; each rule keeps the newest backup of each period
 * (hour, day, ISO week, month, year) until its count is used up, counting only periods that
 * have backups; when a rule still has count left at the oldest backup, that one is kept too
 * ("oldest daily snapshot"); `within*` spans are measured back from the newest backup (not
 * from now) and ignore backups dated in the future; a backup kept by several rules lists
 * every reason. Reasons use restic's words ("daily snapshot", "within 2d") so the output
 * can be compared with restic's. The newest backup is always kept.
 *
 * Throws `CONFIG_INVALID` for an empty policy (it would delete everything but the newest),
 * a negative or fractional count, a malformed span or an unknown time zone.
 */
export function gfs(options: GfsOptions): RetentionPolicy & { readonly options: GfsOptions } {
  const o = parseOptions(GfsSchema, options, 'gfs()');
  const timezone = o.timezone ?? 'UTC';
  let parts: (t: Date) => Parts;
  try {
    parts = partsIn(timezone);
  } catch {
    throw new ArcaError(ErrorCodes.CONFIG_INVALID, `Invalid options for gfs(): unknown time zone ${JSON.stringify(timezone)}; use an IANA name like 'Europe/Rome' or 'UTC'.`);
  }
  const counts = BUCKETERS.map((b) => {
    const c = o[b.key as keyof typeof o] as KeepCount | undefined;
    return c === 'all' ? -1 : (c ?? 0);
  });
  const within = o.within ? parseCalendarSpan(o.within, 'gfs() within') : undefined;
  const withins: Array<CalendarSpan | undefined> = WITHIN_KEYS.map((k) => (o[k] ? parseCalendarSpan(o[k]!, `gfs() ${k}`) : undefined));
  const tagLists = (o.tags ?? []).map((t) => t.split(',').map((x) => x.trim()).filter(Boolean));
  if (counts.every((c) => c === 0) && !within && withins.every((w) => !w) && !tagLists.length) {
    throw new ArcaError(
      ErrorCodes.CONFIG_INVALID,
      'Invalid options for gfs(): the policy is empty and would delete every backup but the newest. Give at least one of last, hourly, daily, weekly, monthly, yearly (> 0), within or tags.',
    );
  }
  const description = describeGfs(counts, within, withins, tagLists);

  return {
    options: { ...o },
    describe: () => description,
    plan(backups: BackupSummary[], now: Date): RetentionDecision[] {
      const list = sortNewestFirst(backups);
      if (!list.length) return [];
      // restic: the newest backup not in the future anchors every `within` span.
      let latest = -Infinity;
      for (const b of list) {
        const t = backupTime(b).getTime();
        if (t > latest && t < now.getTime()) latest = t;
      }
      const latestDate = new Date(Number.isFinite(latest) ? latest : 0);
      const buckets = BUCKETERS.map((b, i) => ({ ...b, count: counts[i]!, last: Number.NaN, lastId: '' }));
      const bucketsWithin = WITHIN_KEYS.map((k, i) => ({ key: k, span: withins[i], bucketer: BUCKETERS[i + 1]!, last: Number.NaN, lastId: '', since: withins[i] ? subtractSpan(latestDate, withins[i]!).getTime() : 0 }));
      const withinSince = within ? subtractSpan(latestDate, within).getTime() : 0;
      const out: RetentionDecision[] = [];

      list.forEach((cur, nr) => {
        const t = backupTime(cur);
        const p = parts(t);
        const isOldest = nr === list.length - 1;
        const keep: string[] = [];
        const why: string[] = [];
        for (const l of tagLists) {
          if (l.every((tag) => cur.tags.includes(tag))) keep.push(`has tags [${l.join(' ')}]`);
        }
        if (within) {
          if (t.getTime() > withinSince) keep.push(`within ${formatSpan(within)}`);
          else why.push(`older than ${formatSpan(within)} before the newest backup`);
        }
        for (const b of buckets) {
          if (b.count === 0) {
            if (counts[buckets.indexOf(b)] !== 0) why.push(`the ${counts[buckets.indexOf(b)]} ${b.label} slots are taken by newer backups`);
            continue;
          }
          const { val, name } = b.bucket(p, nr);
          if (val !== b.last || isOldest) {
            keep.push(val === b.last && isOldest ? `oldest ${b.label} snapshot` : `${b.label} snapshot`);
            b.last = val;
            b.lastId = cur.id;
            if (b.count > 0) b.count--;
          } else {
            why.push(`${b.label} ${name} is already kept by the newer ${b.lastId}`);
          }
        }
        for (const b of bucketsWithin) {
          if (!b.span) continue;
          if (t.getTime() > b.since) {
            const { val, name } = b.bucketer.bucket(p, nr);
            if (val !== b.last || isOldest) {
              keep.push(`${val === b.last && isOldest ? 'oldest ' : ''}${b.bucketer.label} within ${formatSpan(b.span)}`);
              b.last = val;
              b.lastId = cur.id;
            } else {
              why.push(`${b.bucketer.label} ${name} within ${formatSpan(b.span)} is already kept by the newer ${b.lastId}`);
            }
          } else {
            why.push(`older than the ${b.bucketer.label}-within span ${formatSpan(b.span)}`);
          }
        }
        if (!keep.length && nr === 0) keep.push(NEWEST_REASON);
        out.push(keep.length ? { id: cur.id, action: 'keep', reasons: keep } : { id: cur.id, action: 'delete', reasons: why.length ? why : ['no rule keeps it'] });
      });
      return out;
    },
  };
}

function describeGfs(counts: number[], within: CalendarSpan | undefined, withins: Array<CalendarSpan | undefined>, tags: string[][]): string {
  const keeps = BUCKETERS.flatMap((b, i) => (counts[i] === -1 ? [`all ${b.label}`] : counts[i]! > 0 ? [`${counts[i]} ${b.key === 'last' ? 'latest' : b.label}`] : []));
  const parts: string[] = [];
  if (keeps.length) parts.push(`${keeps.join(', ')} backups`);
  withins.forEach((w, i) => w && parts.push(`${BUCKETERS[i + 1]!.label} backups within ${formatSpan(w)}`));
  if (tags.length) parts.push(`all backups with tags ${tags.map((l) => `[${l.join(' ')}]`).join(' or ')}`);
  if (within) parts.push(`all backups within ${formatSpan(within)} of the newest`);
  return `keep ${parts.join(' and ')}`;
}
