import type { RetentionPolicy, SignalOptions } from '../contracts.js';
import type { ResolvedDestination } from '../config.js';
import { isArcaError, serializeError, type SerializedError } from '../errors.js';
import { MANIFEST_FILE, backupIdTime, isValidBackupId } from '../keys.js';
import { listBackups } from '../catalog/catalog.js';
import { deleteBackup } from '../operations/manage-backups.js';
import { type ArcaContext, getJob, record, reportError } from '../pipeline/context.js';
import { formatAge, parseDurationMs } from './duration-parse.js';
import { applyPolicy } from './policy-support.js';

export interface PruneOptions extends SignalOptions {
  /** Decide and report, delete nothing (what the UI and CLI show before deleting). Default false. */
  dryRun?: boolean;
  /** Who asked (recorded in the run log with every deletion). */
  actor?: string;
  /** Incomplete leftovers (no manifest) younger than this are left alone: `'24h'` (default), `'2d'`, or milliseconds. */
  leftoverGrace?: string | number;
  /** The time decisions are made against (default: now). */
  now?: Date;
}

export interface PruneDestinationDecision {
  destination: string;
  action: 'keep' | 'delete';
  reasons: string[];
  /** After a real prune: whether the copy was deleted, or why not. */
  deleted?: boolean;
  error?: SerializedError;
}

export interface PruneDecision {
  id: string;
  startedAt: string;
  bytes: number;
  /** `delete` when every copy goes, `partial` when only some destinations drop it, `keep` otherwise. */
  action: 'keep' | 'delete' | 'partial';
  /** One entry per destination holding the backup, in job priority order. */
  destinations: PruneDestinationDecision[];
}

export interface PruneLeftover {
  destination: string;
  backupId: string;
  /** Objects under the backup's folder, and their bytes. */
  objects: number;
  bytes: number;
  action: 'keep' | 'delete';
  reason: string;
  deleted?: boolean;
  error?: SerializedError;
}

export interface PruneReport {
  job: string;
  dryRun: boolean;
  at: string;
  /** The policy in force on each destination (`describe()`), or `null` when it has none. */
  policies: Record<string, string | null>;
  /** Every restorable backup, newest first, with the decision per destination and its reasons. */
  decisions: PruneDecision[];
  /** Incomplete backups (no manifest) found on the destinations. */
  leftovers: PruneLeftover[];
  /** Stored bytes removed (or, in a dry run, that would be removed), counting every copy. */
  freedBytes: number;
  /** True when every planned deletion succeeded (always true for a dry run). */
  ok: boolean;
}

const DEFAULT_GRACE = '24h';

/**
 * Apply the job's retention: each destination's own policy, or else the job's, decides over
 * the backups that destination holds (newest first); then incomplete leftovers older than the
 * grace period are removed. Deletion goes through `deleteBackup` (manifest first). Backups of
 * a run in progress have no manifest yet and are never considered; leftovers are left alone
 * while a run of the job is in progress in this process. A destination that cannot be listed
 * is skipped (reported as an `error` event). Deletion failures are reported per copy in the
 * result (`ok: false`), never thrown; throws only `NOT_FOUND` (unknown job), `CONFIG_INVALID`
 * (bad `leftoverGrace`) or `ABORTED`. Each deleted backup or leftover and the run as a whole
 * are recorded in the run log as `prune` audit entries with the actor; dry runs record nothing.
 */
export async function pruneBackups(ctx: ArcaContext, jobName: string, o: PruneOptions = {}): Promise<PruneReport> {
  const job = getJob(ctx, jobName);
  const graceMs = parseDurationMs(o.leftoverGrace ?? DEFAULT_GRACE, 'leftoverGrace');
  const now = o.now ?? new Date();
  const dryRun = o.dryRun === true;
  const policyOf = (d: { retention?: RetentionPolicy }) => d.retention ?? job.config.retention;
  const policies: Record<string, string | null> = {};
  for (const d of job.destinations) {
    const p = policyOf(d);
    policies[d.name] = p ? (p.describe?.() ?? 'custom policy') : null;
  }

  const backups = await listBackups(ctx, job.name, o);
  const byId = new Map<string, PruneDecision>(
    backups.map((b) => [b.id, { id: b.id, startedAt: b.startedAt, bytes: b.bytes, action: 'keep', destinations: [] }]),
  );
  for (const d of job.destinations) {
    const held = backups.filter((b) => b.destinations.includes(d.name));
    const policy = policyOf(d);
    const decisions = policy ? applyPolicy(policy, held, now) : held.map((b) => ({ id: b.id, action: 'keep' as const, reasons: ['no retention policy for this destination'] }));
    for (const dec of decisions) byId.get(dec.id)!.destinations.push({ destination: d.name, action: dec.action, reasons: dec.reasons });
  }
  const decisions = backups.map((b) => byId.get(b.id)!);
  for (const dec of decisions) {
    const del = dec.destinations.filter((x) => x.action === 'delete').length;
    dec.action = del === 0 ? 'keep' : del === dec.destinations.length ? 'delete' : 'partial';
  }

  const leftovers = await findLeftovers(ctx, job.name, job.destinations, new Set(backups.map((b) => b.id)), now, graceMs, o);
  let freedBytes = 0;
  let ok = true;

  for (const dec of decisions) {
    const targets = dec.destinations.filter((x) => x.action === 'delete');
    if (!targets.length) continue;
    freedBytes += dec.bytes * targets.length;
    if (dryRun) continue;
    const r = await deleteQuietly(ctx, job.name, dec.id, targets.map((t) => t.destination), o, { reasons: Object.fromEntries(targets.map((t) => [t.destination, t.reasons])) });
    for (const t of targets) {
      t.deleted = r.deletedFrom.includes(t.destination);
      if (!t.deleted) {
        ok = false;
        t.error = r.error ?? { name: 'ArcaError', code: 'NOT_FOUND', message: `${dec.id} was no longer on ${t.destination}.` };
      }
    }
  }
  for (const l of leftovers) {
    if (l.action !== 'delete') continue;
    freedBytes += l.bytes;
    if (dryRun) continue;
    const r = await deleteQuietly(ctx, job.name, l.backupId, [l.destination], o, { leftover: true, reason: l.reason, objects: l.objects, bytes: l.bytes });
    l.deleted = r.deletedFrom.includes(l.destination);
    if (!l.deleted && r.error) {
      ok = false;
      l.error = r.error;
    }
  }

  const report: PruneReport = { job: job.name, dryRun, at: now.toISOString(), policies, decisions, leftovers, freedBytes, ok };
  if (!dryRun) {
    await record(ctx, {
      type: 'audit',
      action: 'prune',
      job: job.name,
      backupId: '',
      at: new Date().toISOString(),
      ...(o.actor ? { actor: o.actor } : {}),
      ok,
      details: {
        summary: true,
        policies,
        kept: decisions.filter((d) => d.action === 'keep').map((d) => d.id),
        deleted: decisions.filter((d) => d.action !== 'keep').map((d) => ({ id: d.id, from: d.destinations.filter((x) => x.deleted).map((x) => x.destination) })),
        leftoversDeleted: leftovers.filter((l) => l.deleted).map((l) => `${l.destination}:${l.backupId}`),
        freedBytes,
      },
    });
  }
  return report;
}

/** deleteBackup (manifest first, audit entry as `prune`) that reports failures instead of throwing, except ABORTED. */
async function deleteQuietly(ctx: ArcaContext, job: string, backupId: string, destinations: string[], o: PruneOptions, details: Record<string, unknown>) {
  try {
    const r = await deleteBackup(ctx, job, backupId, { destinations, ...(o.actor ? { actor: o.actor } : {}), ...(o.signal ? { signal: o.signal } : {}), auditAction: 'prune', auditDetails: details });
    return { deletedFrom: r.deletedFrom, error: undefined };
  } catch (e) {
    if (isArcaError(e, 'ABORTED')) throw e;
    const deletedFrom = (isArcaError(e) && Array.isArray(e.details.deletedFrom) ? e.details.deletedFrom : []) as string[];
    return { deletedFrom, error: serializeError(e) };
  }
}

async function findLeftovers(
  ctx: ArcaContext,
  job: string,
  dests: ResolvedDestination[],
  complete: Set<string>,
  now: Date,
  graceMs: number,
  o: SignalOptions,
): Promise<PruneLeftover[]> {
  const out: PruneLeftover[] = [];
  const running = ctx.running.has(job);
  for (const d of dests) {
    const folders = new Map<string, { objects: number; bytes: number; manifest: boolean }>();
    try {
      // includeTemp: a folder holding only temp files of a killed run is a leftover too (file destinations hide them from list()).
      for await (const obj of d.destination.list(`${job}/`, { ...o, includeTemp: true })) {
        const parts = obj.key.split('/');
        if (parts.length < 3 || !isValidBackupId(parts[1])) continue;
        const f = folders.get(parts[1]!) ?? { objects: 0, bytes: 0, manifest: false };
        f.objects++;
        f.bytes += obj.size;
        if (parts.length === 3 && parts[2] === MANIFEST_FILE) f.manifest = true;
        folders.set(parts[1]!, f);
      }
    } catch (e) {
      if (isArcaError(e, 'ABORTED')) throw e;
      reportError(ctx, e, `prune: listing ${d.name}`, { job });
      continue;
    }
    for (const [id, f] of [...folders].sort((a, b) => (a[0] < b[0] ? 1 : -1))) {
      // A folder with a manifest is a backup (a corrupt manifest is reported by the catalog and left for a person).
      if (f.manifest || complete.has(id)) continue;
      const age = now.getTime() - backupIdTime(id).getTime();
      let action: 'keep' | 'delete' = 'keep';
      let reason: string;
      if (running) reason = 'a run of this job is in progress in this process';
      else if (!(age >= graceMs)) reason = `incomplete (no manifest) but younger than the grace period ${formatAge(graceMs)} (${formatAge(age)} old)`;
      else {
        action = 'delete';
        reason = `incomplete (no manifest) and ${formatAge(age)} old, past the grace period ${formatAge(graceMs)}`;
      }
      out.push({ destination: d.name, backupId: id, objects: f.objects, bytes: f.bytes, action, reason });
    }
  }
  return out;
}
