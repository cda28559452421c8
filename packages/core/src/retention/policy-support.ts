import type { BackupSummary, RetentionDecision, RetentionPolicy } from '../contracts.js';
import { backupIdTime } from '../keys.js';

/** The reason given when the newest backup is kept only because it is the newest. */
export const NEWEST_REASON = 'newest backup (always kept)';

/** When a backup was taken: its `startedAt`, or the time encoded in its id. */
export function backupTime(b: Pick<BackupSummary, 'id' | 'startedAt'>): Date {
  const t = Date.parse(b.startedAt);
  return Number.isFinite(t) ? new Date(t) : backupIdTime(b.id);
}

/** Newest first by start time, then by id (stable for equal times). */
export function sortNewestFirst<T extends Pick<BackupSummary, 'id' | 'startedAt'>>(backups: T[]): T[] {
  return backups
    .map((b, i) => ({ b, i, t: backupTime(b).getTime() }))
    .sort((x, y) => y.t - x.t || x.i - y.i)
    .map((x) => x.b);
}

/**
 * Run a policy defensively: backups are sorted newest first, every backup gets exactly one
 * decision (one the policy forgot is kept, "the policy gave no decision"), and the newest
 * backup is kept whatever the policy said. Prune always goes through here.
 */
export function applyPolicy(policy: RetentionPolicy, backups: BackupSummary[], now: Date): RetentionDecision[] {
  const list = sortNewestFirst(backups);
  if (!list.length) return [];
  const given = new Map<string, RetentionDecision>();
  for (const d of policy.plan(list, now)) if (!given.has(d.id)) given.set(d.id, d);
  return list.map((b, i) => {
    const d = given.get(b.id);
    if (!d || (d.action !== 'keep' && d.action !== 'delete')) return { id: b.id, action: 'keep', reasons: ['the policy gave no decision: kept'] };
    if (i === 0 && d.action === 'delete') return { id: b.id, action: 'keep', reasons: [NEWEST_REASON] };
    return { id: b.id, action: d.action, reasons: d.reasons.length ? [...d.reasons] : [d.action === 'keep' ? 'kept by the policy' : 'deleted by the policy'] };
  });
}
