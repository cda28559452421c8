import { createHash } from 'node:crypto';
import type { SignalOptions } from '../contracts.js';
import type { ResolvedDestination, ResolvedJob } from '../config.js';
import { MANIFEST_FILE, backupPrefix } from '../keys.js';
import { fromBuffer, verifyingStream, meter } from '../streams.js';
import { readManifest } from '../catalog/catalog.js';
import type { ArcaContext } from './context.js';

/**
 * Copy a committed backup from one destination to another: every artifact is re-read and
 * its sha256 checked while it streams; the identical manifest is written last. On failure
 * whatever was written to `to` is removed and the error rethrown.
 */
export async function copyBackup(
  _ctx: ArcaContext,
  job: ResolvedJob,
  backupId: string,
  from: ResolvedDestination,
  to: ResolvedDestination,
  o: SignalOptions & { onProgress?: (artifact: string, bytes: number) => void } = {},
): Promise<{ keys: string[]; bytes: number; manifestSha256: string }> {
  const prefix = backupPrefix(job.name, backupId);
  const { manifest, bytes: manifestBytes } = await readManifest(from, job.name, backupId, o);
  const keys: string[] = [];
  let bytes = 0;
  try {
    for (const a of manifest.artifacts) {
      const key = prefix + a.file;
      const checked = verifyingStream(await from.destination.get(key, o), { sha256: a.sha256, bytes: a.bytes, what: `${from.name}:${key}` });
      const counted = meter(checked, (n) => o.onProgress?.(a.source, n));
      const r = await to.destination.put(key, counted.stream, { signal: o.signal, expectedBytes: a.bytes });
      keys.push(key);
      bytes += r.bytes;
    }
    const r = await to.destination.put(prefix + MANIFEST_FILE, fromBuffer(manifestBytes), { signal: o.signal, contentType: 'application/json' });
    keys.push(prefix + MANIFEST_FILE);
    bytes += r.bytes;
  } catch (e) {
    if (keys.length) await to.destination.delete(keys).catch(() => {});
    throw e;
  }
  return { keys, bytes, manifestSha256: createHash('sha256').update(manifestBytes).digest('hex') };
}
