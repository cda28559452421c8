import type { Bytes, Source, SignalOptions } from '../contracts.js';
import { ArcaError, ErrorCodes, isArcaError, serializeError } from '../errors.js';
import { assertValidName, backupPrefix } from '../keys.js';
import { verifyingStream } from '../streams.js';
import { findHolders } from '../catalog/catalog.js';
import type { Manifest } from '../catalog/manifest.js';
import { type ArcaContext, getJob, record } from '../pipeline/context.js';
import { runBackup } from '../pipeline/run-backup.js';

export interface RestoreBackupOptions extends SignalOptions {
  /** Restore only this source's artifact (`'db'`); default: every artifact. */
  artifact?: string;
  /**
   * Where to restore: a Source (when one artifact is restored) or a map from source name to
   * Source. Default: the job's own sources, in place — which takes a safety backup first.
   */
  into?: Source | Record<string, Source>;
  /** Read from this destination only (default: the first healthy holder, in priority order). */
  from?: string;
  /** Replace a non-empty target. */
  overwrite?: boolean;
  /** Back up the current state before an in-place restore (default true). */
  safetyBackup?: boolean;
  actor?: string;
}

export interface RestoreReport {
  job: string;
  backupId: string;
  safetyBackupId?: string;
  artifacts: Array<{ source: string; file: string; from: string; bytes: number; durationMs: number }>;
}

const RETRYABLE = new Set(['CHECKSUM_MISMATCH', 'CORRUPT_ARTIFACT', 'DEST_UNREACHABLE', 'NOT_FOUND', 'DEST_PERMISSION']);

/** Decode stored bytes: check sha256 of what is read, undo codecs in reverse, check the content sha256. */
export function decodeArtifact(ctx: ArcaContext, manifest: Manifest, file: string, stored: AsyncIterable<Bytes>, where: string, signal?: AbortSignal): AsyncIterable<Bytes> {
  const a = manifest.artifacts.find((x) => x.file === file)!;
  let s: AsyncIterable<Bytes> = verifyingStream(stored, { sha256: a.sha256, bytes: a.bytes, what: where });
  for (const name of [...a.encoding].reverse()) {
    const codec = ctx.codecs.get(name);
    if (!codec) {
      throw new ArcaError(ErrorCodes.CODEC_FAILED, `${where} is encoded with "${name}", which this Arca instance does not know: add the codec to createArca({ codecs: [...] }) (for encryption, with your identity).`);
    }
    s = codec.decode(s, { signal });
  }
  return verifyingStream(s, { sha256: a.contentSha256, bytes: a.contentBytes, what: `${where} (decoded)` });
}

/**
 * A wrong identity names the keys provided (the codec's message); add the public keys the
 * manifest says the backup was encrypted to, so a rotated-away key is recognisable.
 */
function withManifestRecipients(e: ArcaError, manifest: Manifest, where: string): ArcaError {
  const recipients = manifest.codecs.flatMap((c) => {
    const r = (c.describe as { recipients?: unknown } | undefined)?.recipients;
    return Array.isArray(r) ? r.filter((x): x is string => typeof x === 'string') : [];
  });
  if (!recipients.length) return e;
  return new ArcaError(ErrorCodes.DECRYPT_FAILED, `${where}: ${e.message} This backup's manifest says it was encrypted to ${recipients.join(', ')}: restore with the identity of one of these keys (after a key rotation, keep the old identity in age({ identities }) next to the new one).`, {
    cause: e,
    details: { ...e.details, recipients },
  });
}

/**
 * Restore a backup. Streams from the first healthy destination, verifying while reading;
 * a corrupt copy is reported and the next destination is tried. Targets are changed only
 * after their artifact was read completely and checked (Source.restore contract).
 */
export async function restoreBackup(ctx: ArcaContext, jobName: string, backupId: string, o: RestoreBackupOptions = {}): Promise<RestoreReport> {
  const job = getJob(ctx, jobName);
  const report: RestoreReport = { job: job.name, backupId, artifacts: [] };
  try {
    let holders = await findHolders(ctx, job, backupId, o);
    if (o.from) holders = holders.filter((h) => h.dest.name === o.from);
    if (!holders.length) {
      throw new ArcaError(ErrorCodes.NOT_FOUND, `Backup ${backupId} of job ${job.name} was not found${o.from ? ` on ${o.from}` : ''}. Run \`list\` to see the available backups.`);
    }
    const manifest = holders[0]!.manifest;
    if (o.artifact !== undefined) assertValidName(o.artifact, 'artifact');
    const artifacts = manifest.artifacts.filter((a) => o.artifact === undefined || a.source === o.artifact);
    if (!artifacts.length) {
      throw new ArcaError(ErrorCodes.NOT_FOUND, `Backup ${backupId} has no artifact "${o.artifact}"; it has: ${manifest.artifacts.map((a) => a.source).join(', ')}.`);
    }
    const targets = new Map<string, Source>();
    for (const a of artifacts) {
      let target: Source | undefined;
      if (o.into && typeof (o.into as Source).dump === 'function') {
        if (artifacts.length > 1) {
          throw new ArcaError(ErrorCodes.CONFIG_INVALID, `This backup has ${artifacts.length} artifacts: pass { artifact } to restore one of them into a single target, or into: { ${artifacts.map((x) => x.source).join(', ')} }.`);
        }
        target = o.into as Source;
      } else if (o.into) target = Object.hasOwn(o.into, a.source) ? (o.into as Record<string, Source>)[a.source] : undefined; // own keys: not Object.prototype's
      else target = job.sources.find((s) => s.name === a.source)?.source;
      if (!target) throw new ArcaError(ErrorCodes.NOT_FOUND, `No restore target for artifact "${a.source}": pass it in into.`);
      if (!target.restore) throw new ArcaError(ErrorCodes.NOT_SUPPORTED, `The ${target.kind} source cannot restore; restore the file by hand (see the manifest) or use an adapter with restore().`);
      targets.set(a.source, target);
    }
    if (!o.into && o.safetyBackup !== false) {
      const safety = await runBackup(ctx, job.name, { trigger: { type: 'safety', ...(o.actor ? { actor: o.actor } : {}) }, tags: ['pre-restore'], signal: o.signal });
      if (safety.status === 'failed') {
        throw new ArcaError(ErrorCodes.RESTORE_FAILED, `The safety backup before the in-place restore failed (${safety.error?.message ?? 'see run log'}); nothing was restored. Fix it, or pass safetyBackup: false if you accept losing the current state.`);
      }
      report.safetyBackupId = safety.backupId;
    }
    const prefix = backupPrefix(job.name, backupId);
    for (const a of artifacts) {
      const target = targets.get(a.source)!;
      let lastError: unknown;
      let done = false;
      for (const h of holders) {
        const t0 = Date.now();
        const where = `${h.dest.name}:${prefix}${a.file}`;
        try {
          const stored = await h.dest.destination.get(prefix + a.file, o);
          await target.restore!(decodeArtifact(ctx, h.manifest, a.file, stored, where, o.signal), { overwrite: o.overwrite, signal: o.signal });
          report.artifacts.push({ source: a.source, file: a.file, from: h.dest.name, bytes: a.bytes, durationMs: Date.now() - t0 });
          done = true;
          break;
        } catch (e) {
          lastError = e;
          if (isArcaError(e, 'DECRYPT_FAILED')) throw withManifestRecipients(e, h.manifest, where);
          if (!(e instanceof ArcaError) || !RETRYABLE.has(e.code)) throw e;
          ctx.emitter.emit('error', { error: serializeError(e), context: `restore from ${h.dest.name}; trying the next destination`, job: job.name, backupId });
        }
      }
      if (!done) throw lastError;
    }
    await record(ctx, { type: 'audit', action: 'restore', job: job.name, backupId, at: new Date().toISOString(), ...(o.actor ? { actor: o.actor } : {}), ok: true, details: { ...report } });
    return report;
  } catch (e) {
    await record(ctx, {
      type: 'audit',
      action: 'restore',
      job: job.name,
      backupId: String(backupId).slice(0, 100),
      at: new Date().toISOString(),
      ...(o.actor ? { actor: o.actor } : {}),
      ok: false,
      error: serializeError(e),
      details: { ...report },
    });
    if (isArcaError(e)) throw e;
    throw new ArcaError(ErrorCodes.RESTORE_FAILED, `Restore of ${job.name}/${backupId} failed: ${(e as Error).message}`, { cause: e });
  }
}
