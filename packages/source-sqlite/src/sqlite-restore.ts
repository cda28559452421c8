import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { ArcaError, ErrorCodes, abortError, type Bytes, type RestoreOptions } from '@arca/core';
import { closeQuietly, sqliteError, type SqliteDb } from './sqlite-open.js';

/**
 * Files SQLite keeps next to a database. A WAL or a hot rollback journal left over from the
 * OLD database would be replayed onto the NEW file the next time it is opened (SQLite cannot
 * tell they belong to another database) and corrupt it, so an in-place restore moves them
 * away together with the old file. This is only safe while nobody holds the database open:
 * stop the app (or close its connection) before restoring in place.
 */
const SIDECARS = ['-wal', '-shm', '-journal'] as const;

const HEADER = Buffer.from('SQLite format 3\0', 'latin1');

async function sizeOf(file: string): Promise<number | undefined> {
  try {
    const st = await fs.lstat(file);
    if (st.isDirectory()) {
      throw new ArcaError(ErrorCodes.RESTORE_FAILED, `Restore target ${file} is a folder: give the path of the database file to create.`);
    }
    return st.size;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

async function fsyncDir(dir: string): Promise<void> {
  const h = await fs.open(dir, 'r');
  try {
    await h.sync();
  } finally {
    await h.close();
  }
}

/** Wait for the next chunk, or reject with ABORTED as soon as the signal fires (even while the input is stalled). */
function nextOrAbort(it: AsyncIterator<Bytes>, signal: AbortSignal | undefined): Promise<IteratorResult<Bytes>> {
  if (!signal) return it.next();
  if (signal.aborted) return Promise.reject(abortError(signal, 'The SQLite restore'));
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(abortError(signal, 'The SQLite restore'));
    signal.addEventListener('abort', onAbort, { once: true });
    it.next().then(
      (r) => {
        signal.removeEventListener('abort', onAbort);
        resolve(r);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

/** Wraps an error thrown by the input so it is passed through unchanged (e.g. CHECKSUM_MISMATCH). */
class InputError {
  constructor(readonly inner: unknown) {}
}

async function writeInput(input: AsyncIterable<Bytes>, tmp: string, signal: AbortSignal | undefined): Promise<number> {
  const handle = await fs.open(tmp, 'wx', 0o600);
  const it = input[Symbol.asyncIterator]();
  let bytes = 0;
  let ended = false;
  try {
    for (;;) {
      let step: IteratorResult<Bytes>;
      try {
        step = await nextOrAbort(it, signal);
      } catch (e) {
        ended = !(signal?.aborted ?? false);
        throw signal?.aborted ? abortError(signal, 'The SQLite restore') : new InputError(e);
      }
      if (step.done) {
        ended = true;
        break;
      }
      let off = 0;
      while (off < step.value.byteLength) {
        const { bytesWritten } = await handle.write(step.value, off, step.value.byteLength - off);
        off += bytesWritten;
      }
      bytes += off;
    }
    await handle.sync();
    return bytes;
  } finally {
    await handle.close().catch(() => {});
    // Stop an input we did not read to its end (abort, disk error) so it releases its resources.
    if (!ended) void Promise.resolve(it.return?.()).catch(() => {});
  }
}

/** `PRAGMA integrity_check` on the restored copy; anything but a single 'ok' is CORRUPT_ARTIFACT. */
async function checkIntegrity(tmp: string, bytes: number, busyTimeoutMs: number): Promise<void> {
  if (bytes > 0) {
    const h = await fs.open(tmp, 'r');
    const head = Buffer.alloc(HEADER.length);
    try {
      await h.read(head, 0, head.length, 0);
    } finally {
      await h.close();
    }
    if (bytes < 512 || !head.equals(HEADER)) {
      throw new ArcaError(ErrorCodes.CORRUPT_ARTIFACT, 'The artifact is not a SQLite database (bad header): it was not made by the sqlite source. Nothing was restored.');
    }
  }
  let db: SqliteDb | undefined;
  try {
    // Read-write on purpose: a snapshot of a WAL database keeps WAL mode in its header, and a
    // read-only connection could not create the -shm it needs. Only our temp file is touched.
    db = new Database(tmp, { fileMustExist: true, timeout: busyTimeoutMs });
    const rows = db.pragma('integrity_check') as Array<{ integrity_check: string }>;
    const problems = rows.map((r) => r.integrity_check).filter((m) => m !== 'ok');
    if (problems.length || rows.length === 0) {
      throw new ArcaError(
        ErrorCodes.CORRUPT_ARTIFACT,
        `The restored SQLite database failed PRAGMA integrity_check (${problems.slice(0, 3).join('; ') || 'no answer'}). Nothing was restored: use another backup.`,
        { details: { problems: problems.slice(0, 20) } },
      );
    }
  } catch (e) {
    throw sqliteError(e, 'The restored SQLite database', ErrorCodes.CORRUPT_ARTIFACT, busyTimeoutMs);
  } finally {
    closeQuietly(db);
  }
}

async function removeWithSidecars(file: string): Promise<void> {
  await Promise.all([file, ...SIDECARS.map((s) => file + s)].map((f) => fs.rm(f, { force: true }).catch(() => {})));
}

/**
 * Restore a SQLite database file into `target`:
 * 1. refuse a non-empty target unless `overwrite` (TARGET_NOT_EMPTY), before reading anything;
 * 2. stream the input into a 0600 temp file in the target's folder (same filesystem, so the
 *    final rename is atomic) and fsync it;
 * 3. open it and run `PRAGMA integrity_check` (must answer `ok`);
 * 4. move the old file's -wal/-shm/-journal aside, rename the temp file over the target,
 *    fsync the folder, and only then delete the old sidecars.
 * On any failure (input error passed through unchanged, CORRUPT_ARTIFACT, ABORTED) the temp
 * file is removed and the target is left exactly as it was.
 */
export async function restoreSqliteFile(target: string, input: AsyncIterable<Bytes>, o: RestoreOptions, busyTimeoutMs: number): Promise<void> {
  if (o.signal?.aborted) throw abortError(o.signal, 'The SQLite restore');
  const existing = await sizeOf(target);
  const walBytes = (await sizeOf(target + '-wal')) ?? 0;
  if (!o.overwrite && ((existing ?? 0) > 0 || walBytes > 0)) {
    throw new ArcaError(ErrorCodes.TARGET_NOT_EMPTY, `Restore target ${target} already holds a database: restore into a new file, or pass overwrite: true (arca restore --overwrite) to replace it (stop the app first).`);
  }
  const dir = path.dirname(target);
  const suffix = randomBytes(4).toString('hex');
  const tmp = path.join(dir, `.${path.basename(target)}.arca-restore-${suffix}`);
  const moved: Array<[string, string]> = [];
  try {
    await fs.mkdir(dir, { recursive: true });
    const bytes = await writeInput(input, tmp, o.signal);
    if (o.signal?.aborted) throw abortError(o.signal, 'The SQLite restore');
    await checkIntegrity(tmp, bytes, busyTimeoutMs);
    // The check's connection is closed; drop the -wal/-shm it may have left beside the temp file.
    await Promise.all(SIDECARS.map((s) => fs.rm(tmp + s, { force: true })));
    const mode = existing === undefined ? 0o644 : (await fs.stat(target)).mode & 0o777;
    await fs.chmod(tmp, mode);
    if (o.signal?.aborted) throw abortError(o.signal, 'The SQLite restore');

    // Swap. Old sidecars go aside first (see SIDECARS) so no old WAL can meet the new file.
    for (const s of SIDECARS) {
      const aside = path.join(dir, `.${path.basename(target)}${s}.arca-old-${suffix}`);
      try {
        await fs.rename(target + s, aside);
        moved.push([target + s, aside]);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
    }
    await fs.rename(tmp, target);
    const old = moved.splice(0);
    await fsyncDir(dir).catch(() => {});
    await Promise.all(old.map(([, aside]) => fs.rm(aside, { force: true }).catch(() => {})));
  } catch (err) {
    // Put the old sidecars back: the target file itself was not replaced.
    for (const [orig, aside] of moved.reverse()) await fs.rename(aside, orig).catch(() => {});
    await removeWithSidecars(tmp);
    if (err instanceof InputError) throw err.inner;
    if (err instanceof ArcaError) {
      if (err.code === ErrorCodes.ABORTED || err.code === ErrorCodes.CORRUPT_ARTIFACT || err.code === ErrorCodes.RESTORE_FAILED) throw err;
    }
    const code = (err as NodeJS.ErrnoException).code;
    const hint = code === 'ENOSPC' ? ' (no space left: free space in that folder)' : code === 'EACCES' || code === 'EPERM' ? ' (permission denied: make the folder writable)' : '';
    throw new ArcaError(ErrorCodes.RESTORE_FAILED, `Restoring SQLite database ${target} failed${hint}: ${(err as Error).message}. The target was left unchanged.`, { cause: err });
  }
}
