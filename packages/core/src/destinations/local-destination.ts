import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { z } from 'zod';
import { ArcaError, ErrorCodes, abortError, fsErrorToArca, throwIfAborted } from '../errors.js';
import type { CheckReport, Destination, ObjectInfo } from '../contracts.js';
import { assertValidKey, assertValidPrefix } from '../keys.js';
import { parseOptions } from '../options.js';
import { walkPrefix } from './prefix-walk.js';
import { readFileBytes, recyclerOf } from '../buffer-recycling.js';

const TMP_MARK = '.arca-tmp-';

/** Wraps an error thrown by the data being written, so it is not mistaken for a disk error. */
class DataError {
  constructor(readonly inner: unknown) {}
}

const LocalDirOptions = z.object({
  /** Root folder; created on first write. Relative paths resolve against the process cwd. */
  path: z.string().min(1),
  /** Name used in results and the catalog; defaults to the key in `createArca({ destinations })`. */
  name: z.string().optional(),
  /** fsync files and folders before a put resolves (default true). Turn off only for tests on tmpfs. */
  fsync: z.boolean().optional(),
});
export type LocalDirOptions = z.input<typeof LocalDirOptions>;

/** Folders read and files stat'ed at once while listing. */
const LIST_PARALLEL = 32;

/**
 * A folder on a local or mounted disk (external drive, NFS/SMB mount).
 * Writes are atomic: temp file in the same folder, fsync, rename, fsync of the folder.
 */
export function localDir(options: LocalDirOptions): Destination {
  const opts = parseOptions(LocalDirOptions, options, 'localDir');
  const root = path.resolve(opts.path);
  const doFsync = opts.fsync ?? true;
  const where = (key: string) => `Local destination ${root} (${key})`;

  const resolveKey = (key: string): string => {
    assertValidKey(key);
    const full = path.resolve(root, ...key.split('/'));
    // Defence in depth: assertValidKey already rejects "..", absolute paths and backslashes.
    if (full !== root && !full.startsWith(root + path.sep)) {
      throw new ArcaError(ErrorCodes.KEY_INVALID, `Key ${JSON.stringify(key)} resolves outside ${root}.`);
    }
    return full;
  };

  async function fsyncDir(dir: string): Promise<void> {
    if (!doFsync) return;
    const h = await fs.open(dir, 'r');
    try {
      await h.sync();
    } finally {
      await h.close();
    }
  }

  return {
    name: opts.name ?? 'local',
    kind: 'local',
    describe: () => ({ kind: 'local', path: root }),

    async put(key, data, o = {}) {
      const full = resolveKey(key);
      throwIfAborted(o.signal, `Writing ${key}`);
      const dir = path.dirname(full);
      const tmp = path.join(dir, `.${path.basename(full)}${TMP_MARK}${randomBytes(4).toString('hex')}`);
      let handle: fs.FileHandle | undefined;
      let bytes = 0;
      try {
        await fs.mkdir(dir, { recursive: true });
        handle = await fs.open(tmp, 'wx', 0o600);
        const recycle = recyclerOf(data);
        const it = data[Symbol.asyncIterator]();
        for (;;) {
          let step: IteratorResult<Uint8Array>;
          try {
            step = await it.next();
          } catch (e) {
            throw new DataError(e); // the producer failed: pass its error through unchanged
          }
          if (step.done) break;
          const chunk = step.value;
          if (o.signal?.aborted) {
            await it.return?.();
            throw abortError(o.signal, `Writing ${key}`);
          }
          let off = 0;
          while (off < chunk.byteLength) {
            const { bytesWritten } = await handle.write(chunk, off, chunk.byteLength - off);
            off += bytesWritten;
          }
          recycle?.(chunk); // written: the file has the bytes
          bytes += chunk.byteLength;
        }
        throwIfAborted(o.signal, `Writing ${key}`);
        if (doFsync) await handle.sync();
        await handle.close();
        handle = undefined;
        await fs.rename(tmp, full);
        await fsyncDir(dir);
        return { key, bytes };
      } catch (e) {
        await handle?.close().catch(() => {});
        await fs.rm(tmp, { force: true }).catch(() => {});
        if (e instanceof DataError) throw e.inner;
        throw fsErrorToArca(e, where(key), { destination: opts.name, key });
      }
    },

    async get(key, o = {}) {
      const full = resolveKey(key);
      throwIfAborted(o.signal);
      let size: number;
      try {
        const st = await fs.stat(full);
        if (!st.isFile()) throw Object.assign(new Error('not a file'), { code: 'ENOENT' });
        size = st.size;
      } catch (e) {
        throw fsErrorToArca(e, where(key), { key });
      }
      // 1 MiB reads: with 64 KiB ones, a restore spent more time in read calls and stream
      // plumbing than decrypting (measured with the age codec: 355 vs 673 MiB/s). Recyclable:
      // copying a backup to a destination that gives chunks back reuses a few buffers.
      return readFileBytes(full, { signal: o.signal, what: where(key), size });
    },

    async stat(key, o = {}) {
      const full = resolveKey(key);
      throwIfAborted(o.signal);
      try {
        const st = await fs.stat(full);
        return st.isFile() ? { key, size: st.size, modifiedAt: st.mtime } : undefined;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
        throw fsErrorToArca(e, where(key), { key });
      }
    },

    list(prefix, o = {}): AsyncIterable<ObjectInfo> {
      assertValidPrefix(prefix);
      // Folders are read, and files stat'ed, LIST_PARALLEL at a time: a catalog of 10 000
      // backups is 10 000 folders, and one syscall after the other left the thread pool idle.
      return walkPrefix(prefix, {
        parallel: LIST_PARALLEL,
        signal: o.signal,
        skipFile: (name) => !o.includeTemp && name.includes(TMP_MARK),
        async readDir(rel) {
          try {
            const entries = await fs.readdir(rel ? path.join(root, ...rel.split('/')) : root, { withFileTypes: true });
            return entries.map((ent) => ({ name: ent.name, kind: ent.isDirectory() ? 'dir' : ent.isFile() ? 'file' : 'other' }));
          } catch (e) {
            const c = (e as NodeJS.ErrnoException).code;
            if (c === 'ENOENT' || c === 'ENOTDIR') return [];
            throw fsErrorToArca(e, where(rel || '/'));
          }
        },
        stat: (key) =>
          fs.stat(path.join(root, ...key.split('/'))).then(
            (st) => ({ size: st.size, modifiedAt: st.mtime }),
            () => undefined, // deleted while listing: not there any more
          ),
      });
    },

    async delete(keys, o = {}) {
      for (const key of keys) resolveKey(key);
      for (const key of keys) {
        throwIfAborted(o.signal);
        const full = resolveKey(key);
        try {
          await fs.rm(full, { force: true });
        } catch (e) {
          throw fsErrorToArca(e, where(key), { key });
        }
        // Remove folders left empty, up to (not including) the root.
        let dir = path.dirname(full);
        while (dir !== root && dir.startsWith(root + path.sep)) {
          try {
            await fs.rmdir(dir);
          } catch {
            break;
          }
          dir = path.dirname(dir);
        }
      }
    },

    async check(o = {}): Promise<CheckReport> {
      throwIfAborted(o.signal);
      const problems: string[] = [];
      const facts: Record<string, unknown> = { path: root };
      try {
        const st = await fs.stat(root);
        facts.exists = st.isDirectory();
        if (!st.isDirectory()) problems.push(`${root} exists but is not a folder: point the destination at a folder.`);
      } catch {
        facts.exists = false;
      }
      try {
        await fs.mkdir(root, { recursive: true });
        const probe = path.join(root, `.probe${TMP_MARK}${randomBytes(4).toString('hex')}`);
        await fs.writeFile(probe, 'arca');
        await fs.rm(probe);
        facts.writable = true;
      } catch (e) {
        facts.writable = false;
        problems.push(`${root} is not writable (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}): create it and give the Arca user write permission.`);
      }
      try {
        const s = await fs.statfs(facts.exists || facts.writable ? root : path.dirname(root));
        facts.freeBytes = Number(s.bavail) * Number(s.bsize);
        facts.totalBytes = Number(s.blocks) * Number(s.bsize);
      } catch {
        /* statfs unsupported: no free-space facts */
      }
      return { ok: problems.length === 0, problems, facts };
    },
  };
}
