import type { AuditEntry, DrillOutcome, SignalOptions } from '../contracts.js';
import { ArcaError, ErrorCodes, isArcaError, serializeError, type SerializedError } from '../errors.js';
import { backupPrefix } from '../keys.js';
import { hashStream } from '../streams.js';
import { findHolders, readManifest } from '../catalog/catalog.js';
import { type ArcaContext, getJob, notify, record, selectDestinations } from '../pipeline/context.js';
import { decodeArtifact } from './restore-backup.js';

export type VerifyLevel = 'exists' | 'checksum' | 'restore';

export interface VerifyOptions extends SignalOptions {
  /**
   * `exists`: every artifact is there with the recorded size. `checksum` (default): re-read
   * and sha256 every byte. `restore`: `checksum`, then a restore drill of every artifact
   * whose source can drill (`Source.drill`: PostgreSQL, MySQL), from the first destination
   * whose copy passed, into a scratch database that is dropped afterwards.
   */
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
  /** `error`: why a destination that has a manifest.json for this backup does not hold it (unreadable, invalid, another backup's). */
  destinations: Array<{ name: string; holds: boolean; ok: boolean; artifacts: ArtifactCheck[]; durationMs: number; error?: SerializedError }>;
  /** Level `restore`: one entry per artifact whose source can drill. */
  drills?: DrillCheck[];
}

export interface DrillCheck {
  /** The source (artifact) name. */
  source: string;
  file: string;
  /** The destination the drill read from. */
  from?: string;
  ok: boolean;
  /** Download + decode + restore + checks: the measured recovery time (RTO) of this artifact. */
  durationMs: number;
  problems: string[];
  /** The adapter's own report (tables, rows, timings). */
  report?: DrillOutcome;
  /** When the drill could not run at all. */
  error?: SerializedError;
}

/** Check every copy of a backup. Never throws for a bad copy: the report says which file is wrong and why. */
export async function verifyBackup(ctx: ArcaContext, jobName: string, backupId: string, o: VerifyOptions = {}): Promise<VerifyReport> {
  const job = getJob(ctx, jobName);
  const level = o.level ?? 'checksum';
  const holders = await findHolders(ctx, job, backupId, o);
  if (!holders.length) {
    throw new ArcaError(ErrorCodes.NOT_FOUND, `Backup ${backupId} of job ${job.name} has no valid manifest on any destination: nothing to verify. Run \`list\` to see the available backups.`);
  }
  const wanted = selectDestinations(job, o.destinations);
  const prefix = backupPrefix(job.name, backupId);
  const destinations = await Promise.all(
    wanted.map(async (d) => {
      const t0 = Date.now();
      const holder = holders.find((h) => h.dest.name === d.name);
      if (!holder) {
        // No copy, or a manifest.json that is not this backup's valid manifest: say which.
        const error = await readManifest(d, job.name, backupId, o).then(
          () => undefined,
          (e: unknown) => (isArcaError(e, 'ABORTED') ? Promise.reject(e) : isArcaError(e, 'NOT_FOUND') ? undefined : serializeError(e)),
        );
        return { name: d.name, holds: false, ok: false, artifacts: [], durationMs: 0, ...(error ? { error } : {}) };
      }
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
  if (level === 'restore') {
    report.drills = await drillAll(ctx, job, holders, destinations, o.signal);
    report.ok &&= report.drills.every((d) => d.ok);
  }
  const audit: AuditEntry = {
    action: 'verify',
    job: job.name,
    backupId,
    at: new Date().toISOString(),
    ...(o.actor ? { actor: o.actor } : {}),
    ok: report.ok,
    details: {
      level,
      destinations: destinations.map((d) => ({ name: d.name, holds: d.holds, ok: d.ok })),
      ...(report.drills ? { drills: report.drills.map((d) => ({ source: d.source, ok: d.ok, durationMs: d.durationMs, problems: d.problems })) } : {}),
    },
  };
  await record(ctx, { type: 'audit', ...audit });
  // A copy that no longer matches its manifest (or a failed drill) is silent data loss in waiting: tell someone.
  if (!report.ok) await notify(ctx, { type: 'audit', data: audit });
  return report;
}

type Holders = Awaited<ReturnType<typeof findHolders>>;

/** Drill every artifact whose source can, reading from the first destination whose copy of it passed the checksum. */
async function drillAll(ctx: ArcaContext, job: ReturnType<typeof getJob>, holders: Holders, checked: VerifyReport['destinations'], signal?: AbortSignal): Promise<DrillCheck[]> {
  const manifest = holders[0]!.manifest;
  const drills: DrillCheck[] = [];
  for (const a of manifest.artifacts) {
    const source = job.sources.find((s) => s.name === a.source)?.source;
    if (!source?.drill) continue;
    const t0 = Date.now();
    const holder = holders.find((h) => checked.find((d) => d.name === h.dest.name)?.artifacts.some((c) => c.file === a.file && c.ok));
    const check: DrillCheck = { source: a.source, file: a.file, ok: false, durationMs: 0, problems: [] };
    try {
      if (!holder) throw new ArcaError(ErrorCodes.CHECKSUM_MISMATCH, `No destination holds a copy of ${a.file} that passed the checksum: nothing to drill.`);
      check.from = holder.dest.name;
      const key = backupPrefix(job.name, holder.manifest.backupId) + a.file;
      const stored = await holder.dest.destination.get(key, { signal });
      const input = decodeArtifact(ctx, holder.manifest, a.file, stored, `${holder.dest.name}:${key}`, signal);
      const outcome = await source.drill(input, { expected: a.meta, ...(signal ? { signal } : {}) });
      check.ok = outcome.ok;
      check.problems = outcome.problems;
      check.report = outcome;
    } catch (e) {
      if (isArcaError(e, 'ABORTED')) throw e;
      check.error = serializeError(e);
      check.problems = [check.error.message];
    }
    check.durationMs = Date.now() - t0;
    drills.push(check);
  }
  return drills;
}
