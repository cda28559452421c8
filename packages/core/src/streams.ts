import { createHash } from 'node:crypto';
import { PassThrough, Readable, type Duplex } from 'node:stream';
import { pipeline } from 'node:stream';
import { ArcaError, ErrorCodes, abortError } from './errors.js';
import type { Bytes } from './contracts.js';
import { BufferPool, forwardRecycle, recyclerOf } from './buffer-recycling.js';

/**
 * Run `input` through a Node.js transform stream and expose the output as an async
 * iterable. Errors on either side and aborts propagate to the consumer; stopping the
 * iteration early destroys the whole chain.
 */
export function throughDuplex(
  input: AsyncIterable<Bytes>,
  transform: Duplex,
  signal?: AbortSignal,
  mapError: (e: unknown) => unknown = (e) => e,
): AsyncIterable<Bytes> {
  return {
    [Symbol.asyncIterator]() {
      const out = new PassThrough({ highWaterMark: 1 << 16 });
      const src = Readable.from(input, { objectMode: false });
      const onAbort = () => src.destroy(abortError(signal));
      if (signal?.aborted) onAbort();
      else signal?.addEventListener('abort', onAbort, { once: true });
      pipeline(src, transform, out, (err) => {
        signal?.removeEventListener('abort', onAbort);
        if (err) out.destroy(mapError(err) as Error);
      });
      const it = out[Symbol.asyncIterator]();
      return {
        next: async () => {
          try {
            return await it.next();
          } catch (e) {
            if (e instanceof ArcaError) throw e;
            throw mapError(e);
          }
        },
        return: async () => {
          src.destroy();
          out.destroy();
          return { done: true, value: undefined };
        },
      };
    },
  };
}

export interface Meter {
  readonly bytes: number;
  /** Hex sha256; only final once the metered iterable has ended. */
  digest(): string;
}

/**
 * Count and hash bytes flowing through. `onChunk` is called with the running total.
 * The digest is available after the iteration finished.
 */
export function meter(
  input: AsyncIterable<Bytes>,
  onChunk?: (total: number) => void,
): { stream: AsyncIterable<Bytes>; meter: Meter } {
  const hash = createHash('sha256');
  let bytes = 0;
  let digest: string | undefined;
  const m: Meter = {
    get bytes() {
      return bytes;
    },
    digest() {
      digest ??= hash.digest('hex');
      return digest;
    },
  };
  async function* gen() {
    for await (const chunk of input) {
      hash.update(chunk);
      bytes += chunk.byteLength;
      onChunk?.(bytes);
      yield chunk;
    }
  }
  return { stream: forwardRecycle(gen(), input), meter: m };
}

/**
 * Pass `input` through while hashing it; when it ends, compare with the expected
 * sha256 and byte count and throw `CHECKSUM_MISMATCH` instead of ending if they differ.
 * Consumers that commit only after the input ended (Source.restore) therefore never
 * commit corrupt data.
 */
export function verifyingStream(input: AsyncIterable<Bytes>, expected: { sha256: string; bytes: number; what: string }): AsyncIterable<Bytes> {
  return forwardRecycle(verifying(input, expected), input);
}

async function* verifying(input: AsyncIterable<Bytes>, expected: { sha256: string; bytes: number; what: string }): AsyncIterable<Bytes> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of input) {
    hash.update(chunk);
    bytes += chunk.byteLength;
    if (bytes > expected.bytes) {
      throw new ArcaError(ErrorCodes.CHECKSUM_MISMATCH, `${expected.what} is larger than recorded (${expected.bytes} bytes): it was modified after the backup. Restore from another destination.`);
    }
    yield chunk;
  }
  const actual = hash.digest('hex');
  if (bytes !== expected.bytes || actual !== expected.sha256) {
    throw new ArcaError(
      ErrorCodes.CHECKSUM_MISMATCH,
      `${expected.what} does not match its manifest (expected ${expected.bytes} bytes sha256 ${expected.sha256.slice(0, 12)}…, read ${bytes} bytes sha256 ${actual.slice(0, 12)}…). The copy is corrupt or truncated: restore from another destination.`,
      { details: { expectedSha256: expected.sha256, actualSha256: actual, expectedBytes: expected.bytes, actualBytes: bytes } },
    );
  }
}

/** Read a small object fully (manifests only). Refuses more than `limit` bytes. */
export async function readSmall(input: AsyncIterable<Bytes>, limit: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const c of input) {
    total += c.byteLength;
    if (total > limit) throw new ArcaError(ErrorCodes.CORRUPT_ARTIFACT, `${what} is larger than ${limit} bytes: it is not an Arca manifest.`);
    chunks.push(Buffer.from(c.buffer, c.byteOffset, c.byteLength));
  }
  return Buffer.concat(chunks);
}

/** Drain an iterable and return its sha256 and size (verify --checksum). */
export async function hashStream(input: AsyncIterable<Bytes>, signal?: AbortSignal): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const c of input) {
    if (signal?.aborted) throw abortError(signal);
    hash.update(c);
    bytes += c.byteLength;
  }
  return { sha256: hash.digest('hex'), bytes };
}

/** Size of the chunks the backup pipeline hands to destinations (see `coalesce`). */
export const COALESCE_BYTES = 1 << 20;

/**
 * Re-chunk a byte stream into buffers of `size` bytes (the last one may be shorter).
 * Codecs and tar emit many small chunks (16–64 KiB); every chunk costs promise hops through
 * the meter, the fan-out and each destination's stream, and a syscall in file and socket
 * writers. One memcpy per byte is cheaper than that. A chunk of `size` bytes or more passes
 * through uncopied when nothing is pending. The result is {@link Recyclable}: a buffer is
 * reused only after the consumer gave it back, so a consumer may keep what it does not give
 * back (fan-out queues, sockets still writing); chunks passed through go back to `input`.
 */
export function coalesce(input: AsyncIterable<Bytes>, size = COALESCE_BYTES): AsyncIterable<Bytes> {
  const pool = new BufferPool(size);
  const upstream = recyclerOf(input);
  const passed = new WeakSet<Bytes>(); // input chunks yielded as they are
  const recycle = (c: Bytes) => void (pool.give(c) || (passed.delete(c) && upstream?.(c)));
  return Object.assign(coalescing(input, pool, upstream, passed), { recycle });
}

async function* coalescing(input: AsyncIterable<Bytes>, pool: BufferPool, upstream: ((c: Bytes) => void) | undefined, passed: WeakSet<Bytes>): AsyncGenerator<Bytes> {
  const size = pool.size;
  let buf: Buffer | undefined;
  let len = 0;
  for await (const chunk of input) {
    const n = chunk.byteLength;
    if (len === 0 && n >= size) {
      if (upstream) passed.add(chunk);
      yield chunk;
      continue;
    }
    let off = 0;
    while (off < n) {
      buf ??= pool.take();
      const take = Math.min(size - len, n - off);
      buf.set(take === n ? chunk : chunk.subarray(off, off + take), len);
      len += take;
      off += take;
      if (len === size) {
        const full = buf;
        buf = undefined;
        len = 0;
        yield full;
      }
    }
    upstream?.(chunk); // copied: coalesce is done with it
  }
  if (len) yield buf!.subarray(0, len);
}

export async function* fromBuffer(buf: Uint8Array): AsyncIterable<Bytes> {
  yield buf;
}

/** Stop iterating when the signal aborts, rejecting with ABORTED. */
export async function* abortable(input: AsyncIterable<Bytes>, signal?: AbortSignal): AsyncIterable<Bytes> {
  if (!signal) {
    yield* input;
    return;
  }
  for await (const c of input) {
    if (signal.aborted) throw abortError(signal);
    yield c;
  }
  if (signal.aborted) throw abortError(signal);
}
