import { createHash } from 'node:crypto';
import type { Bytes, SignalOptions } from '../contracts.js';
import { ArcaError, ErrorCodes, isArcaError, serializeError } from '../errors.js';
import { assertValidBackupId, assertValidKey, backupPrefix, MANIFEST_FILE } from '../keys.js';
import { abortable, verifyingStream } from '../streams.js';
import { findHolders } from '../catalog/catalog.js';
import { type ArcaContext, getJob } from '../pipeline/context.js';

export interface OpenArtifactOptions extends SignalOptions {
  /** Read from this destination only (default: the first holder, in priority order, that opens). */
  from?: string;
}

export interface OpenedArtifact {
  /** The stored bytes (after codecs: compressed/encrypted as on the destination). Throws `CHECKSUM_MISMATCH` instead of ending if they differ from the manifest. */
  stream: AsyncIterable<Bytes>;
  /** Stored file name as in the manifest (`db.sqlite.gz`, or `manifest.json`). */
  file: string;
  /** Size in bytes recorded in the manifest (for a download's Content-Length). */
  bytes: number;
  /** sha256 (hex) of the stored bytes, recorded in the manifest. */
  sha256: string;
  /** The destination the bytes come from. */
  destination: string;
}

/**
 * Open one stored file of a backup for reading as it is on the destination (a download):
 * an artifact listed in the manifest, or `manifest.json` itself. The bytes are checked
 * against the manifest while they stream (a corrupt copy throws `CHECKSUM_MISMATCH` at the
 * end instead of ending normally). Tries the holders in priority order until one opens.
 * Rejects `KEY_INVALID` (malformed id or file name), `NOT_FOUND` (unknown job, backup or
 * file) or the last destination's error; nothing is buffered.
 */
export async function openArtifact(ctx: ArcaContext, jobName: string, backupId: string, file: string, o: OpenArtifactOptions = {}): Promise<OpenedArtifact> {
  const job = getJob(ctx, jobName);
  assertValidBackupId(backupId);
  assertValidKey(file, 'artifact file');
  if (file.includes('/')) throw new ArcaError(ErrorCodes.KEY_INVALID, `Invalid artifact file ${JSON.stringify(file.slice(0, 100))}: it must be a file name from the manifest, without "/".`);
  let holders = await findHolders(ctx, job, backupId, o);
  if (o.from !== undefined) holders = holders.filter((h) => h.dest.name === o.from);
  if (!holders.length) {
    throw new ArcaError(ErrorCodes.NOT_FOUND, `Backup ${backupId} of job ${job.name} was not found${o.from !== undefined ? ` on ${JSON.stringify(o.from)}` : ''}. Run \`list\` to see the available backups.`);
  }
  const prefix = backupPrefix(job.name, backupId);
  let lastError: unknown;
  for (const h of holders) {
    const where = `${h.dest.name}:${prefix}${file}`;
    if (file === MANIFEST_FILE) {
      const bytes = new Uint8Array(h.bytes);
      const sha256 = createHash('sha256').update(bytes).digest('hex');
      return { stream: abortable((async function* () { yield bytes; })(), o.signal), file, bytes: bytes.byteLength, sha256, destination: h.dest.name };
    }
    const a = h.manifest.artifacts.find((x) => x.file === file);
    if (!a) {
      throw new ArcaError(ErrorCodes.NOT_FOUND, `Backup ${backupId} of job ${job.name} has no file ${JSON.stringify(file)}; it has: ${[...h.manifest.artifacts.map((x) => x.file), MANIFEST_FILE].join(', ')}.`);
    }
    try {
      const stored = await h.dest.destination.get(prefix + file, o);
      return { stream: abortable(verifyingStream(stored, { sha256: a.sha256, bytes: a.bytes, what: where }), o.signal), file, bytes: a.bytes, sha256: a.sha256, destination: h.dest.name };
    } catch (e) {
      if (isArcaError(e, 'ABORTED')) throw e;
      lastError = e;
      ctx.emitter.emit('error', { error: serializeError(e), context: `open ${where}; trying the next destination`, job: job.name, backupId });
    }
  }
  throw lastError;
}
