import type { Writable } from 'node:stream';
import { abortError, throwIfAborted, type Bytes } from '@arca/core';
import { dbnameArg, withDatabase } from './postgres-connection.js';
import type { RestoreContext } from './postgres-restore.js';
import { uncompressedArchiveRechunker } from './postgres-archive-rechunk.js';
import { spawnTool, toolFailure } from './postgres-tools.js';

/** Bytes written to pg_restore's stdin and not yet taken by the pipe, at most (see below). */
const QUEUE = 4 << 20;

/**
 * `pg_restore --single-transaction` of a custom-format archive read from stdin, fed from
 * `input` as it arrives (download, checksum and decoding overlap the restore; no spool file,
 * no temp space). The row-sized data chunks of a -Z0 archive are merged into 64 KiB ones on
 * the way (postgres-archive-rechunk.ts); pg_restore gets the same archive otherwise. Only for
 * a database that is NOT the target — the scratch database of the swap strategy — because
 * the input's checksum is known only at its end: the caller renames the scratch database
 * over the target only after this returned, i.e. after the whole input passed its checksum
 * AND pg_restore succeeded; on any failure it drops the scratch database.
 *
 * `ready` (the CREATE DATABASE of `database`) runs while pg_restore starts: pg_restore reads
 * the archive's header and TOC before it connects, so it gets no byte until `ready` resolved.
 * That hides pg_restore's start (20-30 ms here, most of it Debian's Perl pg_wrapper) behind
 * CREATE DATABASE's ~50 ms.
 *
 * MUST throw: the input's own error (CHECKSUM_MISMATCH, CORRUPT_ARTIFACT…) unchanged, with
 * pg_restore killed first; `ready`'s error unchanged (pg_restore killed before it connected,
 * the input not read); ABORTED when `signal` aborts; RESTORE_FAILED when pg_restore fails.
 * The input is always read to its end or its error, even when pg_restore stopped reading
 * early, so a checksum mismatch is never missed.
 */
export async function streamRestoreTool(ctx: RestoreContext, input: AsyncIterable<Bytes>, database: string, signal?: AbortSignal, ready?: Promise<void>): Promise<void> {
  ready?.catch(() => {}); // awaited below, after the spawn: a fast failure must not be an unhandled rejection meanwhile
  const target = withDatabase(ctx.conn, database);
  const r = ctx.restore;
  const args = ['--no-password', '--exit-on-error', '--single-transaction', dbnameArg(database)];
  if (r.noOwner ?? ctx.noOwner) args.push('--no-owner');
  if (r.noPrivileges) args.push('--no-privileges');
  if (r.role) args.push(`--role=${r.role}`);
  const t = await spawnTool(ctx.pgRestore, args, target, { signal, passwordVia: ctx.passwordVia, stdin: 'pipe' });
  t.child.stdout?.resume();
  const stdin = t.child.stdin as Writable;
  // Up to QUEUE bytes wait in stdin's own queue, not the 16 KiB of its highWaterMark: whenever
  // pg_restore drains the pipe, libuv refills it from there at once (one writev), without
  // waiting for the JS thread to be free of hashing, gunzip callbacks and GC, so the COPY
  // backend is not starved. Measured (bench archive, 8 alternating rounds): median restore
  // 5.91 -> 5.67 s, writeBuffer 424 -> 85 ms of main-thread CPU.
  let queued = 0;
  let wake: (() => void) | undefined;
  const resume = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  let open = true; // pg_restore may exit (failure, or done before EOF): then keep reading, stop writing
  const closed = () => ((open = false), resume());
  stdin.on('error', closed).on('close', closed);
  // Row-sized chunks of a -Z0 archive merged into 64 KiB ones: fewer CopyData messages for the
  // server (see postgres-archive-rechunk.ts); anything else passes through as it is.
  const rechunk = uncompressedArchiveRechunker();
  const write = async (chunks: Buffer[]) => {
    for (const c of chunks) {
      if (!open) return;
      queued += c.length;
      stdin.write(c, () => {
        queued -= c.length;
        rechunk.release(c);
        if (queued <= QUEUE / 2) resume();
      });
    }
    if (queued > QUEUE && open) await new Promise<void>((resolve) => (wake = resolve));
  };
  let inputError: unknown;
  try {
    await ready;
    for await (const c of input) {
      throwIfAborted(signal, 'The PostgreSQL restore');
      if (!open) continue;
      await write(rechunk.push(c));
    }
    throwIfAborted(signal, 'The PostgreSQL restore');
    await write(rechunk.end());
  } catch (e) {
    inputError = e;
    t.child.kill('SIGKILL'); // before EOF: pg_restore never commits a partial archive
  }
  if (inputError === undefined && open) stdin.end();
  const res = await t.result;
  await t.done();
  if (signal?.aborted || res.isCanceled) throw abortError(signal, 'The PostgreSQL restore');
  if (inputError !== undefined) throw inputError;
  if (res.failed) {
    throw toolFailure('RESTORE_FAILED', 'pg_restore', target, res, t.stderr, 'The restore was rolled back or discarded: the target database is as it was before.');
  }
}
