import type { BackupSummary, ObjectInfo, SignalOptions } from '../contracts.js';
import type { ResolvedDestination, ResolvedJob } from '../config.js';
import { ArcaError, ErrorCodes, isArcaError } from '../errors.js';
import { MANIFEST_FILE, assertValidBackupId, backupPrefix, isValidBackupId } from '../keys.js';
import { readSmall } from '../streams.js';
import { type ArcaContext, getJob, reportError } from '../pipeline/context.js';
import { parseManifest, type Manifest } from './manifest.js';

const MANIFEST_LIMIT = 16 * 1024 * 1024;

/** Read and validate one manifest; `NOT_FOUND` if absent, `CORRUPT_ARTIFACT` if malformed or misplaced. */
export async function readManifest(dest: ResolvedDestination, job: string, backupId: string, o: SignalOptions = {}): Promise<{ manifest: Manifest; bytes: Buffer }> {
  assertValidBackupId(backupId);
  const key = backupPrefix(job, backupId) + MANIFEST_FILE;
  const bytes = await readSmall(await dest.destination.get(key, o), MANIFEST_LIMIT, `${dest.name}:${key}`);
  const manifest = parseManifest(bytes, `${dest.name}:${key}`);
  if (manifest.job !== job || manifest.backupId !== backupId) {
    throw new ArcaError(ErrorCodes.CORRUPT_ARTIFACT, `${dest.name}:${key} describes ${manifest.job}/${manifest.backupId}, not ${job}/${backupId}: it was moved or tampered with.`);
  }
  return { manifest, bytes };
}

function summarize(m: Manifest): Omit<BackupSummary, 'destinations'> {
  return {
    job: m.job,
    id: m.backupId,
    startedAt: m.startedAt,
    finishedAt: m.finishedAt,
    bytes: m.artifacts.reduce((s, a) => s + a.bytes, 0),
    trigger: m.trigger,
    tags: m.tags,
    artifacts: m.artifacts,
  };
}

/** Backup ids that have a manifest on one destination, with the manifest's listing entry (the catalog is rebuilt from listings). */
export async function listManifests(dest: ResolvedDestination, job: string, o: SignalOptions = {}): Promise<Array<{ id: string; info: ObjectInfo }>> {
  const found: Array<{ id: string; info: ObjectInfo }> = [];
  for await (const obj of dest.destination.list(`${job}/`, o)) {
    const parts = obj.key.split('/');
    if (parts.length === 3 && parts[2] === MANIFEST_FILE && isValidBackupId(parts[1])) found.push({ id: parts[1]!, info: obj });
  }
  return found;
}

/** Manifests read at once per destination while listing (each is one small GET). */
const READ_PARALLEL = 16;

/**
 * Parsed manifests of the last listing of each (context, destination, job). A manifest is
 * immutable once committed, so a listing entry with the same size and modification time is
 * the same manifest and is not read again; anything else (no mtime from the destination, a
 * replaced file) is read and validated. Only `list()` uses it: verify, restore and get
 * always read the manifest from the destination.
 */
const manifestCache = new WeakMap<ArcaContext, Map<string, Map<string, { size: number; mtime: number; manifest: Manifest }>>>();

/** Run `fn` over `items`, at most `limit` at a time (a few lines: no library needed). */
async function forEachLimit<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/**
 * Every restorable backup of a job, newest first, merged across destinations.
 * A destination that cannot be listed, or a manifest that does not parse, is reported as an
 * `error` event and left out; a backup without a valid manifest is never listed.
 */
export async function listBackups(ctx: ArcaContext, jobName: string, o: SignalOptions = {}): Promise<BackupSummary[]> {
  const job = getJob(ctx, jobName);
  const merged = new Map<string, BackupSummary>();
  let caches = manifestCache.get(ctx);
  if (!caches) manifestCache.set(ctx, (caches = new Map()));
  const perDest = await Promise.all(
    job.destinations.map(async (d) => {
      const found: Array<{ id: string; manifest: Manifest }> = [];
      const cacheKey = `${d.name}\0${job.name}`;
      const before = caches.get(cacheKey);
      const after = new Map<string, { size: number; mtime: number; manifest: Manifest }>();
      try {
        const listed = await listManifests(d, job.name, o);
        await forEachLimit(listed, READ_PARALLEL, async ({ id, info }) => {
          const mtime = info.modifiedAt?.getTime();
          const hit = before?.get(id);
          if (hit && mtime !== undefined && hit.mtime === mtime && hit.size === info.size) {
            found.push({ id, manifest: hit.manifest });
            after.set(id, hit);
            return;
          }
          try {
            const { manifest } = await readManifest(d, job.name, id, o);
            found.push({ id, manifest });
            if (mtime !== undefined) after.set(id, { size: info.size, mtime, manifest });
          } catch (e) {
            if (isArcaError(e, 'ABORTED')) throw e;
            reportError(ctx, e, `catalog: manifest on ${d.name}`, { job: job.name, backupId: id });
          }
        });
        caches.set(cacheKey, after);
      } catch (e) {
        if (isArcaError(e, 'ABORTED')) throw e;
        reportError(ctx, e, `catalog: listing ${d.name}`, { job: job.name });
      }
      return { d, found };
    }),
  );
  for (const { d, found } of perDest) {
    for (const { id, manifest } of found) {
      const existing = merged.get(id);
      if (existing) existing.destinations.push(d.name);
      else merged.set(id, { ...summarize(manifest), destinations: [d.name] });
    }
  }
  return [...merged.values()].sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
}

export interface BackupDetails extends BackupSummary {
  manifest: Manifest;
}

/** One backup with its manifest (from the first destination, in priority order, whose manifest is valid). */
export async function getBackup(ctx: ArcaContext, jobName: string, backupId: string, o: SignalOptions = {}): Promise<BackupDetails> {
  const job = getJob(ctx, jobName);
  assertValidBackupId(backupId);
  const holders = await findHolders(ctx, job, backupId, o);
  if (!holders.length) {
    throw new ArcaError(ErrorCodes.NOT_FOUND, `Backup ${backupId} of job ${job.name} was not found on any destination (${job.destinations.map((d) => d.name).join(', ')}). Run \`list\` to see the available backups.`);
  }
  const { manifest } = holders[0]!;
  return { ...summarize(manifest), destinations: holders.map((h) => h.dest.name), manifest };
}

/** Destinations that hold a valid manifest for the backup, in priority order. */
export async function findHolders(ctx: ArcaContext, job: ResolvedJob, backupId: string, o: SignalOptions = {}) {
  assertValidBackupId(backupId);
  const found = await Promise.all(
    job.destinations.map(async (dest) => {
      try {
        const r = await readManifest(dest, job.name, backupId, o);
        return { dest, ...r };
      } catch (e) {
        if (isArcaError(e, 'ABORTED')) throw e;
        if (!isArcaError(e, 'NOT_FOUND')) reportError(ctx, e, `manifest on ${dest.name}`, { job: job.name, backupId });
        return undefined;
      }
    }),
  );
  return found.filter((x): x is NonNullable<typeof x> => x !== undefined);
}
