import type { SignalOptions } from '../contracts.js';
import { ArcaError, ErrorCodes, serializeError, type SerializedError } from '../errors.js';
import { assertValidBackupId, backupPrefix, MANIFEST_FILE } from '../keys.js';
import { findHolders } from '../catalog/catalog.js';
import { type ArcaContext, getJob, record, selectDestinations } from '../pipeline/context.js';
import { copyBackup } from '../pipeline/copy-backup.js';

export interface DeleteOptions extends SignalOptions {
  /** Only from these destinations (default: all of the job's). */
  destinations?: string[];
  actor?: string;
  /** How the deletion is recorded in the run log (default `'delete'`; `prune()` records `'prune'`). */
  auditAction?: 'delete' | 'prune';
  /** Extra, non-secret facts merged into the audit entry's details (prune reasons). */
  auditDetails?: Record<string, unknown>;
}

/**
 * Delete a backup: on each destination the manifest goes first (so the backup stops being
 * listed as restorable even if the rest fails), then the artifacts and any leftovers.
 * `NOT_FOUND` when no destination had anything under the backup's folder.
 */
export async function deleteBackup(ctx: ArcaContext, jobName: string, backupId: string, o: DeleteOptions = {}): Promise<{ deletedFrom: string[] }> {
  const job = getJob(ctx, jobName);
  assertValidBackupId(backupId);
  const prefix = backupPrefix(job.name, backupId);
  const deletedFrom: string[] = [];
  const errors: Array<{ name: string; error: SerializedError }> = [];
  for (const d of selectDestinations(job, o.destinations)) {
    try {
      const keys: string[] = [];
      // includeTemp: temp files of an interrupted put (a killed process) go with the backup.
      for await (const obj of d.destination.list(prefix, { ...o, includeTemp: true })) keys.push(obj.key);
      if (!keys.length) continue;
      const manifest = prefix + MANIFEST_FILE;
      if (keys.includes(manifest)) await d.destination.delete([manifest], o);
      await d.destination.delete(keys.filter((k) => k !== manifest), o);
      deletedFrom.push(d.name);
    } catch (e) {
      errors.push({ name: d.name, error: serializeError(e) });
    }
  }
  const ok = errors.length === 0 && deletedFrom.length > 0;
  await record(ctx, { type: 'audit', action: o.auditAction ?? 'delete', job: job.name, backupId, at: new Date().toISOString(), ...(o.actor ? { actor: o.actor } : {}), ok, details: { ...o.auditDetails, deletedFrom, errors } });
  if (errors.length) {
    throw new ArcaError(ErrorCodes.DEST_UNREACHABLE, `Deleting ${job.name}/${backupId} failed on ${errors.map((e) => `${e.name} (${e.error.message})`).join('; ')}; deleted from: ${deletedFrom.join(', ') || 'none'}. Run the delete again when the destination is back.`, { details: { deletedFrom } });
  }
  if (!deletedFrom.length) throw new ArcaError(ErrorCodes.NOT_FOUND, `Backup ${backupId} of job ${job.name} was not found on any destination.`);
  return { deletedFrom };
}

export interface RetryReport {
  job: string;
  backupId: string;
  /** Destinations that already held the backup. */
  alreadyHeld: string[];
  copied: string[];
  failed: Array<{ name: string; error: SerializedError }>;
}

/**
 * Copy a backup to the job's destinations that lack it (after a `partial` run), reading
 * from a destination that holds it and checking every sha256 on the way.
 */
export async function retryFailed(ctx: ArcaContext, jobName: string, backupId: string, o: SignalOptions & { actor?: string } = {}): Promise<RetryReport> {
  const job = getJob(ctx, jobName);
  const holders = await findHolders(ctx, job, backupId, o);
  if (!holders.length) {
    throw new ArcaError(ErrorCodes.NOT_FOUND, `Backup ${backupId} of job ${job.name} has no valid copy on any destination, so it cannot be copied. Run a new backup instead.`);
  }
  const report: RetryReport = { job: job.name, backupId, alreadyHeld: holders.map((h) => h.dest.name), copied: [], failed: [] };
  for (const d of job.destinations.filter((x) => !report.alreadyHeld.includes(x.name))) {
    let error: unknown;
    // What this destination has under the backup's folder is an uncommitted copy (no
    // manifest): artifacts and temp files of the failed attempt. Remove it, so the folder
    // ends up holding exactly the backup, not the backup plus a dead temp file.
    try {
      const stale: string[] = [];
      for await (const obj of d.destination.list(backupPrefix(job.name, backupId), { ...o, includeTemp: true })) stale.push(obj.key);
      // (a folder with a manifest.json the catalog refused is left for a person, as prune does)
      if (stale.length && !stale.includes(backupPrefix(job.name, backupId) + MANIFEST_FILE)) await d.destination.delete(stale, o);
    } catch (e) {
      error = e;
    }
    for (const h of error === undefined ? holders : []) {
      try {
        await copyBackup(ctx, job, backupId, h.dest, d, o);
        error = undefined;
        break;
      } catch (e) {
        error = e;
      }
    }
    if (error === undefined) report.copied.push(d.name);
    else report.failed.push({ name: d.name, error: serializeError(error) });
  }
  await record(ctx, { type: 'audit', action: 'retry', job: job.name, backupId, at: new Date().toISOString(), ...(o.actor ? { actor: o.actor } : {}), ok: report.failed.length === 0, details: { ...report } });
  return report;
}
