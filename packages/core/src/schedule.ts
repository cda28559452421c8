import { Cron } from 'croner';
import { ArcaError, ErrorCodes } from './errors.js';

const DAYS: Record<string, number> = { sun: 0, mon: 1, tue: 2, wed: 3, thu: 4, fri: 5, sat: 6 };

function hm(s: string | undefined, original: string): [number, number] {
  if (s === undefined) return [0, 0];
  const m = /^([01]?\d|2[0-3]):([0-5]\d)$/.exec(s);
  if (!m) throw bad(original, `"${s}" is not a time like 02:00`);
  return [Number(m[1]), Number(m[2])];
}

function bad(schedule: string, why: string): ArcaError {
  return new ArcaError(
    ErrorCodes.CONFIG_INVALID,
    `Invalid schedule ${JSON.stringify(schedule)}: ${why}. Use a preset ('hourly', 'daily@02:00', 'weekly@sun 03:00', 'monthly@1 04:00', 'every 4h', 'every 15m') or a cron expression ('0 2 * * *').`,
  );
}

/** Turn a preset or cron expression into a cron expression; throws `CONFIG_INVALID` if it is neither. */
export function toCron(schedule: string): string {
  const s = schedule.trim().toLowerCase();
  let m: RegExpExecArray | null;
  if (s === 'hourly') return '0 * * * *';
  if ((m = /^daily(?:@(\S+))?$/.exec(s))) {
    const [h, mi] = hm(m[1], schedule);
    return `${mi} ${h} * * *`;
  }
  if ((m = /^weekly(?:@(\w{3})(?:\s+(\S+))?)?$/.exec(s))) {
    const day = m[1] === undefined ? 0 : DAYS[m[1]];
    if (day === undefined) throw bad(schedule, `"${m[1]}" is not a day (sun, mon, tue, wed, thu, fri, sat)`);
    const [h, mi] = hm(m[2], schedule);
    return `${mi} ${h} * * ${day}`;
  }
  if ((m = /^monthly(?:@(\d{1,2})(?:\s+(\S+))?)?$/.exec(s))) {
    const dom = m[1] === undefined ? 1 : Number(m[1]);
    if (dom < 1 || dom > 28) throw bad(schedule, 'the day of the month must be 1–28 (every month has it)');
    const [h, mi] = hm(m[2], schedule);
    return `${mi} ${h} ${dom} * *`;
  }
  if ((m = /^every\s+(\d+)\s*(m|min|h)$/.exec(s))) {
    const n = Number(m[1]);
    if (m[2] === 'h') {
      if (n < 1 || n > 23 || 24 % n !== 0) throw bad(schedule, 'hours must divide 24 (1, 2, 3, 4, 6, 8, 12)');
      return `0 */${n} * * *`;
    }
    if (n < 1 || n > 59 || 60 % n !== 0) throw bad(schedule, 'minutes must divide 60 (1, 5, 10, 15, 20, 30)');
    return `*/${n} * * * *`;
  }
  if (!/^[\d*/,\-?LW#A-Za-z\s]+$/.test(schedule) || schedule.trim().split(/\s+/).length < 5) {
    throw bad(schedule, 'it is neither a preset nor a cron expression');
  }
  return schedule.trim();
}

/** Whether `tz` is an IANA time zone this runtime knows (croner only notices a bad one when it computes a time). */
export function isValidTimezone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return tz.length > 0;
  } catch {
    return false;
  }
}

/** Validate a schedule (and timezone) and return a paused croner instance for next-run queries. */
export function compileSchedule(schedule: string, timezone?: string): Cron {
  const cron = toCron(schedule);
  if (timezone !== undefined && !isValidTimezone(timezone)) throw bad(schedule, `unknown time zone ${JSON.stringify(timezone)} (use an IANA name such as "Europe/Rome" or "UTC")`);
  try {
    return new Cron(cron, { paused: true, timezone });
  } catch (e) {
    throw bad(schedule, (e as Error).message);
  }
}

/** The next `n` run times of a schedule, from `from` (default now). */
export function nextRuns(schedule: string, n: number, o: { timezone?: string; from?: Date } = {}): Date[] {
  const c = compileSchedule(schedule, o.timezone);
  const out = c.nextRuns(n, o.from ?? new Date());
  c.stop();
  return out;
}
