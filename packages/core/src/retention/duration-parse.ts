import { ArcaError, ErrorCodes } from '../errors.js';

/** A calendar span as restic's `--keep-within` takes it: `1y2m3d4h` (m = months). */
export interface CalendarSpan {
  years: number;
  months: number;
  days: number;
  hours: number;
}

/**
 * Parse restic's duration grammar (`6y5m234d37h`: y = years, m = MONTHS, d = days,
 * h = hours; any order, each unit at most once). Throws `CONFIG_INVALID` otherwise.
 */
export function parseCalendarSpan(text: string, what: string): CalendarSpan {
  const span: CalendarSpan = { years: 0, months: 0, days: 0, hours: 0 };
  const s = String(text).trim();
  const re = /(\d+)([ymdh])/gy;
  const seen = new Set<string>();
  let m: RegExpExecArray | null;
  let at = 0;
  while (at < s.length && (m = re.exec(s))) {
    const unit = m[2]!;
    if (seen.has(unit)) break;
    seen.add(unit);
    const n = Number(m[1]);
    if (unit === 'y') span.years = n;
    else if (unit === 'm') span.months = n;
    else if (unit === 'd') span.days = n;
    else span.hours = n;
    at = re.lastIndex;
  }
  if (!s || at !== s.length || isZeroSpan(span)) {
    throw new ArcaError(
      ErrorCodes.CONFIG_INVALID,
      `Invalid ${what} ${JSON.stringify(String(text).slice(0, 50))}: use restic's form like '7d', '36h', '1m14d' or '1y2m3d4h' (y years, m months, d days, h hours), greater than zero.`,
    );
  }
  return span;
}

export function isZeroSpan(s: CalendarSpan): boolean {
  return s.years === 0 && s.months === 0 && s.days === 0 && s.hours === 0;
}

/** `1y2m3d4h` in restic's canonical order (used in reasons: "within 1m14d"). */
export function formatSpan(s: CalendarSpan): string {
  return `${s.years ? `${s.years}y` : ''}${s.months ? `${s.months}m` : ''}${s.days ? `${s.days}d` : ''}${s.hours ? `${s.hours}h` : ''}`;
}

/** `t` minus the span, with calendar arithmetic in UTC (Mar 31 − 1m = Mar 3, like Go's AddDate). */
export function subtractSpan(t: Date, s: CalendarSpan): Date {
  const d = new Date(
    Date.UTC(
      t.getUTCFullYear() - s.years,
      t.getUTCMonth() - s.months,
      t.getUTCDate() - s.days,
      t.getUTCHours(),
      t.getUTCMinutes(),
      t.getUTCSeconds(),
      t.getUTCMilliseconds(),
    ),
  );
  return new Date(d.getTime() - s.hours * 3_600_000);
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, min: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/**
 * Parse an elapsed duration for health checks and grace periods: `'26h'`, `'90m'`, `'2d'`,
 * `'1d12h'`, `'1w'`, or a number of milliseconds. Here `m` means MINUTES.
 * Throws `CONFIG_INVALID` for anything else.
 */
export function parseDurationMs(value: string | number, what: string): number {
  if (typeof value === 'number') {
    if (Number.isFinite(value) && value > 0) return value;
  } else {
    const s = String(value).trim().toLowerCase();
    const re = /(\d+(?:\.\d+)?)\s*(ms|min|s|m|h|d|w)/gy;
    let total = 0;
    let at = 0;
    let m: RegExpExecArray | null;
    while (at < s.length && (m = re.exec(s))) {
      total += Number(m[1]) * UNIT_MS[m[2]!]!;
      at = re.lastIndex;
      while (s[at] === ' ') at++;
      re.lastIndex = at;
    }
    if (s && at === s.length && total > 0) return total;
  }
  throw new ArcaError(
    ErrorCodes.CONFIG_INVALID,
    `Invalid ${what} ${JSON.stringify(String(value).slice(0, 50))}: use a duration like '26h', '90m', '2d', '1d12h', '1w' (m = minutes) or a number of milliseconds, greater than zero.`,
  );
}

/** `93784000` → `1d 2h 3m`: for messages. */
export function formatAge(ms: number): string {
  const neg = ms < 0;
  let s = Math.floor(Math.abs(ms) / 1000);
  const d = Math.floor(s / 86400);
  s -= d * 86400;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  const parts = [d ? `${d}d` : '', h ? `${h}h` : '', m && !d ? `${m}m` : ''].filter(Boolean);
  return (neg ? '-' : '') + (parts.join(' ') || `${s}s`);
}

/** `1536` → `1.5 KiB`. */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = n;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(v >= 100 ? 0 : 1)} ${units[i]}`;
}
