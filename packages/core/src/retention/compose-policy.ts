import type { BackupSummary, RetentionDecision, RetentionPolicy } from '../contracts.js';
import { ArcaError, ErrorCodes } from '../errors.js';
import { applyPolicy, sortNewestFirst } from './policy-support.js';

function combine(kind: 'allOf' | 'anyOf', policies: RetentionPolicy[]): RetentionPolicy & { readonly policies: RetentionPolicy[] } {
  if (!policies.length || policies.some((p) => typeof p?.plan !== 'function')) {
    throw new ArcaError(ErrorCodes.CONFIG_INVALID, `Invalid ${kind}(): give one or more retention policies, e.g. ${kind}(gfs({ daily: 7 }), maxTotalBytes({ bytes: 50e9 })).`);
  }
  const list = [...policies];
  const joiner = kind === 'allOf' ? ' and ' : ' or ';
  return {
    policies: list,
    describe: () => list.map((p, i) => p.describe?.() ?? `policy #${i + 1}`).map((s) => `(${s})`).join(joiner),
    plan(backups: BackupSummary[], now: Date): RetentionDecision[] {
      const sorted = sortNewestFirst(backups);
      const plans = list.map((p) => new Map(applyPolicy(p, sorted, now).map((d) => [d.id, d])));
      return sorted.map((b) => {
        const ds = plans.map((m) => m.get(b.id)!);
        const keepers = ds.filter((d) => d.action === 'keep');
        const deleters = ds.filter((d) => d.action === 'delete');
        const keep = kind === 'allOf' ? deleters.length === 0 : keepers.length > 0;
        const reasons = (keep ? keepers : deleters).flatMap((d) => d.reasons);
        return { id: b.id, action: keep ? 'keep' : 'delete', reasons: [...new Set(reasons)] };
      });
    },
  };
}

/**
 * Keep a backup only if EVERY policy keeps it (e.g. GFS, but never more than 50 GB).
 * Keep reasons are the union of all policies' reasons; delete reasons come from the policies
 * that delete. Throws `CONFIG_INVALID` when given no policy.
 */
export function allOf(...policies: RetentionPolicy[]) {
  return combine('allOf', policies);
}

/** Keep a backup if ANY policy keeps it (the union, like several restic `--keep-*` flags). Throws `CONFIG_INVALID` when given no policy. */
export function anyOf(...policies: RetentionPolicy[]) {
  return combine('anyOf', policies);
}
