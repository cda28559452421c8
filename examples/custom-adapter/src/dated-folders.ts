/**
 * A Destination written from scratch: a folder where every backup lands in a subfolder
 * named for its day, so people browsing the disk (or a USB drive) see
 *
 *   /mnt/backups/2026-11-25/daily/20261125T020000123Z-7f3a9c/db.sqlite.gz
 *   /mnt/backups/2026-11-26/daily/20261126T020000456Z-0b1c2d/db.sqlite.gz
 *
 * The day comes from the backup id inside the key (`<job>/<backupId>/<file>`), in UTC, so
 * the mapping key → file is a pure function: `get`, `stat` and `delete` never search. Keys
 * without a backup id (Arca writes none today, but the contract allows any key) go under
 * `undated/`. `list` walks the day folders and strips the day again.
 *
 * It is built on node:fs alone on purpose: the point of the template is to show every MUST
 * of the Destination contract (see docs/writing-an-adapter.md) in one readable file.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import { z } from 'zod';
import {
  abortError,
  ArcaError,
  assertValidKey,
  assertValidPrefix,
  backupIdTime,
  ErrorCodes,
  fsErrorToArca,
  isValidBackupId,
  parseOptions,
  throwIfAborted,
  type Bytes,
  type CheckReport,
  type Destination,
  type ObjectInfo,
  type PutOptions,
  type PutResult,
  type SignalOptions,
} from '@arca/core';

export interface DatedFoldersOptions {
  /** The root folder (created on first write). Absolute, or relative to the process cwd. */
  path: string;
  /** Name in run results and events (default `'dated'`). */
  name?: string;
  /** fsync each file and its folder before `put` resolves (default true: survives a power cut). */
  fsync?: boolean;
}

const Options = z
  .object({
    path: z.string().min(1, 'path is required: the folder that holds the day folders'),
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'use letters, digits, "_", "-" or "."').optional(),
    fsync: z.boolean().optional(),
  })
  .strict();

const DAY_RE = /^\d{4}-\d{2}-\d{2}$/;
const UNDATED = 'undated';
/** In-flight files: `.<name>.<12 hex>.partial`, next to the final file so `rename` is atomic. */
const PARTIAL_RE = /^\..*\.[0-9a-f]{12}\.partial$/;

/** The day folder of a key: the UTC date of the first backup id among its segments. */
export function dayOf(key: string): string {
  const id = key.split('/').find((s) => isValidBackupId(s));
  return id ? backupIdTime(id).toISOString().slice(0, 10) : UNDATED;
}

const isAbort = (e: unknown) => (e as Error | undefined)?.name === 'AbortError';

/**
 * A local or mounted folder with one subfolder per day. `put` is atomic (temp file in the
 * same folder, fsync, rename, fsync of the folder); a failed or aborted `put` removes its
 * temp file and rejects; `list` never shows temp files. Errors: `NOT_FOUND`, `KEY_INVALID`,
 * `ABORTED`, `DEST_FULL` (ENOSPC), `DEST_PERMISSION` (EACCES/EROFS), as `fsErrorToArca` maps them.
 */
export function datedFolders(options: DatedFoldersOptions): Destination {
  const o = parseOptions(Options, options, 'datedFolders');
  const root = path.resolve(o.path);
  const name = o.name ?? 'dated';
  const doSync = o.fsync ?? true;
  const fileOf = (key: string) => path.join(root, dayOf(key), ...key.split('/'));

  async function syncFile(file: string): Promise<void> {
    const fh = await fs.open(file, 'r+');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  }

  async function syncDir(dir: string): Promise<void> {
    if (!doSync) return;
    const fh = await fs.open(dir, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  }

  /** Remove folders left empty by a delete, up to (not including) the root. */
  async function pruneEmptyParents(file: string): Promise<void> {
    for (let dir = path.dirname(file); dir.startsWith(root + path.sep); dir = path.dirname(dir)) {
      try {
        await fs.rmdir(dir);
      } catch {
        return; // not empty (or gone): stop climbing
      }
    }
  }

  /** Every file under `dir` whose key starts with `prefix`; `keyBase` is dir's key ('' for a day folder). */
  async function* walk(dir: string, keyBase: string, prefix: string, signal?: AbortSignal): AsyncIterable<ObjectInfo> {
    let entries;
    try {
      entries = await fs.readdir(dir, { withFileTypes: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw fsErrorToArca(e, `Listing ${dir}`);
    }
    for (const entry of entries) {
      throwIfAborted(signal, `Listing ${root}`);
      const key = keyBase + entry.name;
      if (entry.isDirectory()) {
        // Descend only where keys can still match the prefix.
        if (prefix.startsWith(key + '/') || (key + '/').startsWith(prefix)) yield* walk(path.join(dir, entry.name), key + '/', prefix, signal);
      } else if (entry.isFile() && !PARTIAL_RE.test(entry.name) && key.startsWith(prefix)) {
        const st = await fs.stat(path.join(dir, entry.name)).catch(() => undefined);
        if (st) yield { key, size: st.size, modifiedAt: st.mtime };
      }
    }
  }

  return {
    name,
    kind: 'dated-folders',
    describe: () => ({ kind: 'dated-folders', path: root, layout: '<YYYY-MM-DD>/<job>/<backupId>/<file>' }),

    async put(key: string, data: AsyncIterable<Bytes>, po: PutOptions = {}): Promise<PutResult> {
      assertValidKey(key);
      throwIfAborted(po.signal, `Writing ${key}`);
      const final = fileOf(key);
      const dir = path.dirname(final);
      const temp = path.join(dir, `.${path.basename(final)}.${randomBytes(6).toString('hex')}.partial`);
      let bytes = 0;
      try {
        await fs.mkdir(dir, { recursive: true });
        const count = async function* (source: AsyncIterable<Bytes>) {
          for await (const chunk of source) {
            bytes += chunk.byteLength;
            yield chunk;
          }
        };
        // pipeline() gives backpressure and stops on the signal even while `data` is idle.
        await pipeline(data, count, createWriteStream(temp, { flags: 'wx', mode: 0o600 }), po.signal ? { signal: po.signal } : {});
        if (doSync) await syncFile(temp); // fsync works on the file, whichever descriptor asks
        await fs.rename(temp, final); // the only moment the object becomes visible
        await syncDir(dir);
        return { key, bytes };
      } catch (e) {
        await fs.rm(temp, { force: true }).catch(() => {});
        if (po.signal?.aborted || isAbort(e)) throw abortError(po.signal, `Writing ${key}`);
        if (e instanceof ArcaError || !(e as NodeJS.ErrnoException).syscall) throw e; // the data stream's own error, unchanged
        throw fsErrorToArca(e, `Writing ${final}`);
      }
    },

    async get(key: string, so: SignalOptions = {}): Promise<AsyncIterable<Bytes>> {
      assertValidKey(key);
      throwIfAborted(so.signal, `Reading ${key}`);
      const file = fileOf(key);
      let fh;
      try {
        fh = await fs.open(file, 'r');
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' || code === 'EISDIR' || code === 'ENOTDIR') throw new ArcaError(ErrorCodes.NOT_FOUND, `${key} does not exist in ${root} (looked in ${dayOf(key)}/).`);
        throw fsErrorToArca(e, `Reading ${file}`);
      }
      const stream = createReadStream('', { fd: fh, ...(so.signal ? { signal: so.signal } : {}) });
      return (async function* () {
        try {
          for await (const chunk of stream) yield chunk as Buffer;
        } catch (e) {
          if (so.signal?.aborted || isAbort(e)) throw abortError(so.signal, `Reading ${key}`);
          throw fsErrorToArca(e, `Reading ${file}`);
        } finally {
          stream.destroy(); // closes the file when the reader stops early
        }
      })();
    },

    async *list(prefix: string, so: SignalOptions = {}): AsyncIterable<ObjectInfo> {
      assertValidPrefix(prefix);
      let days: string[];
      try {
        days = (await fs.readdir(root, { withFileTypes: true })).filter((d) => d.isDirectory() && (DAY_RE.test(d.name) || d.name === UNDATED)).map((d) => d.name);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return; // nothing written yet
        throw fsErrorToArca(e, `Listing ${root}`);
      }
      for (const day of days.sort()) yield* walk(path.join(root, day), '', prefix, so.signal);
    },

    async stat(key: string, so: SignalOptions = {}): Promise<ObjectInfo | undefined> {
      assertValidKey(key);
      throwIfAborted(so.signal, `Checking ${key}`);
      try {
        const st = await fs.stat(fileOf(key));
        return st.isFile() ? { key, size: st.size, modifiedAt: st.mtime } : undefined;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
        throw fsErrorToArca(e, `Checking ${fileOf(key)}`);
      }
    },

    async delete(keys: string[], so: SignalOptions = {}): Promise<void> {
      keys.forEach((k) => assertValidKey(k)); // all or nothing: validate before deleting any
      const failed: string[] = [];
      for (const key of keys) {
        throwIfAborted(so.signal, `Deleting from ${root}`);
        const file = fileOf(key);
        try {
          await fs.rm(file, { force: true }); // a missing key is not an error
          await pruneEmptyParents(file);
        } catch (e) {
          failed.push(`${key} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
        }
      }
      if (failed.length) throw new ArcaError(ErrorCodes.DEST_PERMISSION, `Could not delete ${failed.length} object(s) in ${root}: ${failed.slice(0, 5).join(', ')}. Check the folder's permissions.`);
    },

    async check(so: SignalOptions = {}): Promise<CheckReport> {
      const problems: string[] = [];
      const facts: Record<string, unknown> = { path: root };
      try {
        throwIfAborted(so.signal, `Checking ${root}`);
        await fs.mkdir(root, { recursive: true });
        const probe = path.join(root, `.arca-probe-${randomBytes(6).toString('hex')}.partial`);
        await fs.writeFile(probe, 'probe');
        await fs.rm(probe, { force: true });
        const sf = await fs.statfs(root);
        facts.freeBytes = sf.bavail * sf.bsize;
        facts.days = (await fs.readdir(root)).filter((d) => DAY_RE.test(d)).length;
      } catch (e) {
        problems.push(`${root} is not writable (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}): create it or give the user running Arca write access.`);
      }
      return { ok: problems.length === 0, problems, facts };
    },
  };
}
