import { z } from 'zod';
import type { BackupSummary, RetentionDecision, RetentionPolicy } from '../contracts.js';
import { parseOptions } from '../options.js';
import { formatAge, formatBytes } from './duration-parse.js';
import { NEWEST_REASON, backupTime, sortNewestFirst } from './policy-support.js';

export interface MaxAgeOptions {
  /** Delete backups started more than this many days before now (fractions allowed, > 0). */
  days: number;
}

/**
 * Keep backups younger than `days` (measured from now, by start time); delete older ones.
 * The newest backup is always kept, however old, so a job whose runs stopped keeps its last
 * good copy. Throws `CONFIG_INVALID` unless `days` is a positive number.
 */
export function maxAge(options: MaxAgeOptions): RetentionPolicy & { readonly options: MaxAgeOptions } {
  const o = parseOptions(z.object({ days: z.number().positive().finite() }).strict(), options, 'maxAge()');
  const limitMs = o.days * 86_400_000;
  const label = `${o.days} day${o.days === 1 ? '' : 's'}`;
  return {
    options: { ...o },
    describe: () => `keep backups younger than ${label}`,
    plan(backups: BackupSummary[], now: Date): RetentionDecision[] {
      return sortNewestFirst(backups).map((b, i): RetentionDecision => {
        const age = now.getTime() - backupTime(b).getTime();
        if (age <= limitMs) return { id: b.id, action: 'keep', reasons: [`younger than ${label} (${formatAge(age)} old)`] };
        if (i === 0) return { id: b.id, action: 'keep', reasons: [NEWEST_REASON, `older than ${label} (${formatAge(age)} old)`] };
        return { id: b.id, action: 'delete', reasons: [`older than ${label} (${formatAge(age)} old)`] };
      });
    },
  };
}

export interface MaxTotalBytesOptions {
  /** Upper bound for the stored bytes of all kept backups together (one copy), > 0. */
  bytes: number;
}

/**
 * Keep the newest backups whose stored bytes add up to at most `bytes`; from the first
 * backup that would exceed the budget on, delete every older one (no gaps are filled with
 * smaller old backups). The newest backup is always kept, even when it alone exceeds the
 * budget. Throws `CONFIG_INVALID` unless `bytes` is a positive number.
 */
export function maxTotalBytes(options: MaxTotalBytesOptions): RetentionPolicy & { readonly options: MaxTotalBytesOptions } {
  const o = parseOptions(z.object({ bytes: z.number().positive().finite() }).strict(), options, 'maxTotalBytes()');
  const budget = formatBytes(o.bytes);
  return {
    options: { ...o },
    describe: () => `keep the newest backups up to ${budget} in total`,
    plan(backups: BackupSummary[], _now: Date): RetentionDecision[] {
      let total = 0;
      let full = false;
      return sortNewestFirst(backups).map((b, i): RetentionDecision => {
        const after = total + b.bytes;
        if (i === 0) {
          total = after;
          return { id: b.id, action: 'keep', reasons: after <= o.bytes ? [`within ${budget} total (${formatBytes(after)} so far)`] : [NEWEST_REASON, `alone it exceeds ${budget} (${formatBytes(after)})`] };
        }
        if (!full && after <= o.bytes) {
          total = after;
          return { id: b.id, action: 'keep', reasons: [`within ${budget} total (${formatBytes(after)} so far)`] };
        }
        full = true;
        return { id: b.id, action: 'delete', reasons: [`over ${budget} total: the newer backups kept already use ${formatBytes(total)}`] };
      });
    },
  };
}
