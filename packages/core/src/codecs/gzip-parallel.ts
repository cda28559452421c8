import { constants, crc32, deflateRaw, type ZlibOptions } from 'node:zlib';
import { promisify } from 'node:util';
import { ArcaError, ErrorCodes, abortError } from '../errors.js';
import type { Bytes } from '../contracts.js';

const deflateRawAsync = promisify<Buffer, ZlibOptions, Buffer>(deflateRaw);

/** Deflate's window: each block is primed with this much of the input before it. */
const WINDOW = 32 * 1024;

export interface ParallelGzipOptions {
  level: number;
  /** Blocks compressed at once on the libuv threadpool (≥ 1). */
  threads: number;
  /** Input bytes per block. */
  blockSize: number;
  signal?: AbortSignal | undefined;
}

/**
 * gzip (RFC 1952) that compresses `blockSize` blocks of the input concurrently on the libuv
 * threadpool, pigz-style, and emits them in order as ONE gzip member:
 *
 * - each block is raw deflate primed with the previous 32 KiB of input as its dictionary, so
 *   it compresses as well as a single-threaded stream (the window never starts empty);
 * - every block but the last ends with Z_SYNC_FLUSH (byte-aligned, not final), the last one
 *   with Z_FINISH, so the concatenation is one valid deflate stream;
 * - the CRC-32 is computed in input order on the calling thread (zlib.crc32, several GB/s).
 *
 * Why one member rather than concatenated gzip members (also valid RFC 1952, and simpler):
 * measured on pg_dump -Z0 output at 1 MiB blocks both ran at the same speed, but the single
 * member is what every reader handles (some — older Java, some browsers' DecompressionStream,
 * `gzip -l` sizes — stop at or misreport the first member) and is as small as `gzip`'s.
 *
 * Memory: at most `threads` blocks are in flight plus the one being filled, each ≤ blockSize
 * in and about as much out. Backpressure: this is a pull-based generator; nothing more is read
 * from `input` while the consumer has not asked for the next chunk and `threads` blocks wait.
 * Input errors pass through unchanged; `signal` aborts between chunks (blocks already handed
 * to zlib finish on their thread and are discarded).
 */
export async function* parallelGzip(input: AsyncIterable<Bytes>, o: ParallelGzipOptions): AsyncGenerator<Buffer> {
  const { level, threads, blockSize, signal } = o;
  const pending: Promise<Buffer>[] = [];
  let crc = 0;
  let total = 0;
  let dictionary: Buffer | undefined;
  let parts: Buffer[] = [];
  let filled = 0;

  const next = async (): Promise<Buffer> => {
    try {
      return await pending.shift()!;
    } catch (e) {
      throw new ArcaError(ErrorCodes.CODEC_FAILED, `gzip compression failed (${(e as Error).message}); nothing was stored. Retry, or use another codec.`, { cause: e });
    }
  };
  const submit = (block: Buffer, last: boolean): void => {
    // Not for an empty block: zlib's crc32(crc, NULL, 0) returns 0 (its "initial value" call),
    // and an empty Buffer may carry a NULL data pointer.
    if (block.length) crc = crc32(block, crc);
    total += block.length;
    const opts: ZlibOptions = { level, finishFlush: last ? constants.Z_FINISH : constants.Z_SYNC_FLUSH, ...(dictionary ? { dictionary } : {}) };
    const p = deflateRawAsync(block, opts);
    p.catch(() => {}); // rejections are observed in order below; never unhandled if we stop early
    pending.push(p);
    // Copy: the block's buffer may be a view into a chunk the producer reuses.
    dictionary = block.length >= WINDOW ? Buffer.from(block.subarray(block.length - WINDOW)) : Buffer.concat([dictionary ?? Buffer.alloc(0), block]).subarray(-WINDOW);
  };
  const takeBlock = (): Buffer => {
    const all = parts.length === 1 ? parts[0]! : Buffer.concat(parts, filled);
    const block = all.subarray(0, blockSize);
    const rest = all.subarray(blockSize);
    parts = rest.length ? [rest] : [];
    filled = rest.length;
    return block;
  };

  yield gzipHeader(level);
  for await (const chunk of input) {
    if (signal?.aborted) throw abortError(signal);
    if (!chunk.byteLength) continue;
    parts.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    filled += chunk.byteLength;
    while (filled >= blockSize) {
      // Never final here: only the end of input says which block is last (it may be empty).
      submit(takeBlock(), false);
      while (pending.length >= threads) yield await next();
    }
  }
  if (signal?.aborted) throw abortError(signal);
  submit(takeBlock(), true); // may be empty: Z_FINISH then writes the final empty block (03 00)
  while (pending.length) yield await next();
  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE(crc >>> 0, 0);
  trailer.writeUInt32LE(total >>> 0, 4); // ISIZE is the length modulo 2^32
  yield trailer;
}

/** The 10-byte member header zlib writes: no name, no mtime (reproducible output), OS = Unix. */
function gzipHeader(level: number): Buffer {
  // XFL: 2 = best compression, 4 = fastest, as gzip and zlib set it.
  return Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, level === 9 ? 2 : level === 1 ? 4 : 0, 3]);
}
