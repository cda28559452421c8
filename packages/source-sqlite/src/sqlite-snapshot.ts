import { createReadStream, type ReadStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { ArcaError, ErrorCodes, abortError, type Bytes } from '@arca/core';
import { closeQuietly, openReadOnly, readFacts, sqliteError, type SqliteDb, type SqliteFacts } from './sqlite-open.js';

/** Prefix of the private temp folders holding snapshots (`<tempDir>/arca-sqlite-XXXXXX/`). */
export const SNAPSHOT_PREFIX = 'arca-sqlite-';

/** Copy everything left in one step: SQLite then holds its read lock until the copy is done. */
const ALL_PAGES = 0x7fffffff;
/** After this many restarts caused by concurrent writers, copy the rest in one step. */
const MAX_RESTARTS = 6;

export interface SnapshotOptions {
  file: string;
  source: SqliteDb;
  tempDir: string;
  filename: string;
  pagesPerStep: number;
  busyTimeoutMs: number;
  signal?: AbortSignal;
}

export interface Snapshot {
  /** Private folder (0700) holding the snapshot; removed by `cleanup()`. */
  dir: string;
  file: string;
  bytes: number;
  facts: SqliteFacts;
  restarts: number;
  steps: number;
  durationMs: number;
  cleanup(): Promise<void>;
}

/**
 * Take a consistent copy of `source` with SQLite's online backup API into a private temp file.
 *
 * The backup copies `pagesPerStep` pages per step and yields to the event loop between
 * steps, so the host app keeps running. A write by any other connection (the app, another
 * process) between two steps makes SQLite restart the copy from page 1 — which is what makes
 * the result consistent: a finished backup always reflects one single committed state. To be
 * sure a busy database still finishes, every restart doubles the step size and after
 * {@link MAX_RESTARTS} restarts the rest is copied in one step, during which SQLite holds a
 * read transaction (WAL: writers go on; rollback journal: writers wait up to their busy
 * timeout).
 */
export async function takeSnapshot(o: SnapshotOptions): Promise<Snapshot> {
  await fs.mkdir(o.tempDir, { recursive: true }).catch(() => {});
  let dir: string;
  try {
    dir = await fs.mkdtemp(path.join(o.tempDir, SNAPSHOT_PREFIX)); // mode 0700
  } catch (e) {
    throw new ArcaError(ErrorCodes.SOURCE_FAILED, `Cannot create a temp folder in ${o.tempDir} for the SQLite snapshot (${(e as Error).message}): make it writable or set tempDir.`, { cause: e });
  }
  let removed: Promise<void> | undefined;
  const cleanup = () => (removed ??= fs.rm(dir, { recursive: true, force: true }).catch(() => {}));
  const file = path.join(dir, o.filename);
  const t0 = Date.now();
  let restarts = 0;
  let steps = 0;
  try {
    // Created empty with 0600 first: SQLite would otherwise create it with 0644 & ~umask.
    await (await fs.open(file, 'wx', 0o600)).close();
    if (o.signal?.aborted) throw abortError(o.signal, 'The SQLite snapshot');
    let lastRemaining = Number.POSITIVE_INFINITY;
    try {
      await o.source.backup(file, {
        progress: ({ remainingPages }) => {
          // Throwing here makes better-sqlite3 finish the backup handle and reject.
          if (o.signal?.aborted) throw abortError(o.signal, 'The SQLite snapshot');
          steps++;
          if (remainingPages > lastRemaining) restarts++;
          lastRemaining = remainingPages;
          return restarts >= MAX_RESTARTS ? ALL_PAGES : Math.min(ALL_PAGES, o.pagesPerStep * 2 ** restarts);
        },
      });
    } catch (e) {
      throw sqliteError(e, o.file, ErrorCodes.SOURCE_FAILED, o.busyTimeoutMs);
    }
    if (o.signal?.aborted) throw abortError(o.signal, 'The SQLite snapshot');
    // Facts come from the snapshot itself, so they describe exactly what is stored.
    const snap = openReadOnly(file, o.busyTimeoutMs);
    let facts: SqliteFacts;
    try {
      facts = readFacts(snap);
    } finally {
      closeQuietly(snap);
    }
    const bytes = (await fs.stat(file)).size;
    return { dir, file, bytes, facts, restarts, steps, durationMs: Date.now() - t0, cleanup };
  } catch (e) {
    await cleanup();
    if (e instanceof ArcaError) throw e;
    throw new ArcaError(ErrorCodes.SOURCE_FAILED, `Snapshot of ${o.file} failed: ${(e as Error).message}`, { cause: e });
  }
}

/**
 * Stream a snapshot file and remove its folder when the iteration ends, throws, is returned
 * early, or the signal aborts. A hand-written iterator rather than an async generator: a
 * generator's `return()` before the first `next()` would not run its `finally`, and the
 * temp file would stay behind.
 */
export function snapshotStream(snapshot: Snapshot, signal?: AbortSignal): AsyncIterable<Bytes> {
  let rs: ReadStream | undefined;
  let it: AsyncIterator<Buffer> | undefined;
  let finished: Promise<void> | undefined;
  const finish = () =>
    (finished ??= (async () => {
      signal?.removeEventListener('abort', onAbort);
      rs?.destroy();
      await snapshot.cleanup();
    })());
  const onAbort = () => {
    rs?.destroy(abortError(signal, 'The SQLite dump'));
    void finish();
  };
  if (signal?.aborted) onAbort();
  else signal?.addEventListener('abort', onAbort, { once: true });

  const iterator: AsyncIterator<Bytes> = {
    async next() {
      if (signal?.aborted) {
        await finish();
        throw abortError(signal, 'The SQLite dump');
      }
      if (finished) throw new ArcaError(ErrorCodes.SOURCE_FAILED, 'This SQLite dump stream was already closed; take a new dump.');
      if (!it) {
        rs = createReadStream(snapshot.file, { highWaterMark: 1 << 20 });
        it = rs[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
      }
      let step: IteratorResult<Buffer>;
      try {
        step = await it.next();
      } catch (e) {
        await finish();
        if (signal?.aborted) throw abortError(signal, 'The SQLite dump');
        if (e instanceof ArcaError) throw e;
        throw new ArcaError(ErrorCodes.SOURCE_FAILED, `Reading the SQLite snapshot failed: ${(e as Error).message}`, { cause: e });
      }
      if (signal?.aborted) {
        await finish();
        throw abortError(signal, 'The SQLite dump');
      }
      if (step.done) {
        await finish();
        return { done: true, value: undefined };
      }
      return { done: false, value: step.value };
    },
    async return() {
      await finish();
      return { done: true, value: undefined };
    },
    async throw(e?: unknown) {
      await finish();
      throw e;
    },
  };
  return { [Symbol.asyncIterator]: () => iterator };
}
