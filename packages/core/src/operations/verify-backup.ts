import type { SignalOptions } from '../contracts.js';
import { ArcaError, ErrorCodes, isArcaError, serializeError, type SerializedError } from '../errors.js';
import { backupPrefix } from '../keys.js';
import { hashStream } from '../streams.js';
import { findHolders } from '../catalog/catalog.js';
import { type ArcaContext, getJob, record } from '../pipeline/context.js';

export type VerifyLevel = 'exists' | 'checksum';

export interface VerifyOptions extends SignalOptions {
  /** `exists`: every artifact is there with the recorded size. `checksum` (default): re-read and sha256 every byte. */
  level?: VerifyLevel;
  /** Only these destinations (default: every destination of the job). */
  destinations?: string[];
  actor?: string;
}

export interface ArtifactCheck {
  file: string;
  ok: boolean;
  expectedBytes: number;
  actualBytes?: number;
  error?: SerializedError;
}

export interface VerifyReport {
  job: string;
  backupId: string;
  level: VerifyLevel;
  /** True when at least one destination holds the backup and every holder passed. */
  ok: boolean;
  destinations: Array<{ name: string; holds: boolean; ok: boolean; artifacts: ArtifactCheck[]; durationMs: number }>;
}

/** Check every copy of a backup. Never throws for a bad copy: the report says which file is wrong and why. */
export async function verifyBackup(ctx: ArcaContext, jobName: string, backupId: string, o: VerifyOptions = {}): Promise<VerifyReport> {
  const job = getJob(ctx, jobName);
  const level = o.level ?? 'checksum';
  const holders = await findHolders(ctx, job, backupId, o);
  if (!holders.length) {
    throw new ArcaError(ErrorCodes.NOT_FOUND, `Backup ${backupId} of job ${job.name} has no valid manifest on any destination: nothing to verify. Run \`list\` to see the available backups.`);
  }
  const wanted = job.destinations.filter((d) => !o.destinations || o.destinations.includes(d.name));
  const prefix = backupPrefix(job.name, backupId);
  const destinations = await Promise.all(
    wanted.map(async (d) => {
      const t0 = Date.now();
      const holder = holders.find((h) => h.dest.name === d.name);
      if (!holder) return { name: d.name, holds: false, ok: false, artifacts: [], durationMs: 0 };
      const artifacts: ArtifactCheck[] = [];
      for (const a of holder.manifest.artifacts) {
        const key = prefix + a.file;
        const check: ArtifactCheck = { file: a.file, ok: false, expectedBytes: a.bytes };
        try {
          if (level === 'exists') {
            const st = await d.destination.stat(key, o);
            if (!st) throw new ArcaError(ErrorCodes.NOT_FOUND, `${d.name}:${key} is missing.`);
            check.actualBytes = st.size;
            if (st.size !== a.bytes) throw new ArcaError(ErrorCodes.CHECKSUM_MISMATCH, `${d.name}:${key} has ${st.size} bytes, the manifest says ${a.bytes}.`);
          } else {
            const r = await hashStream(await d.destination.get(key, o), o.signal);
            check.actualBytes = r.bytes;
            if (r.bytes !== a.bytes || r.sha256 !== a.sha256) {
              throw new ArcaError(ErrorCodes.CHECKSUM_MISMATCH, `${d.name}:${key} does not match its manifest (sha256 ${r.sha256.slice(0, 12)}…, expected ${a.sha256.slice(0, 12)}…): this copy is corrupt. Restore from another destination and run retryFailed after deleting it.`);
            }
          }
          check.ok = true;
        } catch (e) {
          if (isArcaError(e, 'ABORTED')) throw e;
          check.error = serializeError(e);
        }
        artifacts.push(check);
      }
      return { name: d.name, holds: true, ok: artifacts.every((c) => c.ok), artifacts, durationMs: Date.now() - t0 };
    }),
  );
  const held = destinations.filter((d) => d.holds);
  const report: VerifyReport = { job: job.name, backupId, level, ok: held.length > 0 && held.every((d) => d.ok), destinations };
  await record(ctx, {
    type: 'audit',
    action: 'verify',
    job: job.name,
    backupId,
    at: new Date().toISOString(),
    ...(o.actor ? { actor: o.actor } : {}),
    ok: report.ok,
    details: { level, destinations: destinations.map((d) => ({ name: d.name, holds: d.holds, ok: d.ok })) },
  });
  return report;
}
