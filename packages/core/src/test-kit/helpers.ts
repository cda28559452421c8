import { createHash } from 'node:crypto';
import type { Recyclable } from '../contracts.js';

/**
 * Deterministic pseudo-random bytes (xorshift), `size` bytes in `chunk`-sized pieces:
 * lets suites push hundreds of MiB through an adapter without holding them in memory.
 */
export function generatedStream(size: number, o: { chunk?: number; seed?: number; onChunk?: (sent: number) => void | Promise<void> } = {}): AsyncIterable<Uint8Array> & { sha256(): string } {
  const chunk = o.chunk ?? 1 << 16;
  const hash = createHash('sha256');
  let digest: string | undefined;
  const it = async function* () {
    let state = (o.seed ?? 0x9e3779b9) >>> 0 || 1;
    let sent = 0;
    while (sent < size) {
      const n = Math.min(chunk, size - sent);
      const buf = Buffer.allocUnsafe(n);
      for (let i = 0; i + 4 <= n; i += 4) {
        state ^= state << 13;
        state >>>= 0;
        state ^= state >>> 17;
        state ^= state << 5;
        state >>>= 0;
        buf.writeUInt32LE(state, i);
      }
      for (let i = n - (n % 4); i < n; i++) buf[i] = i & 0xff;
      hash.update(buf);
      sent += n;
      await o.onChunk?.(sent);
      yield buf as Uint8Array;
    }
  };
  return Object.assign(it(), {
    sha256: () => (digest ??= hash.digest('hex')),
  });
}

/** Read an iterable fully (small data only). */
export async function collect(input: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of input) parts.push(Buffer.from(c));
  return Buffer.concat(parts);
}

/** Sample RSS every 20 ms while `fn` runs; returns the peak growth over the starting RSS (bytes). */
export async function peakRss<T>(fn: () => Promise<T>): Promise<{ value: T; peakGrowth: number }> {
  globalThis.gc?.();
  const start = process.memoryUsage().rss;
  let peak = start;
  const t = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 20);
  try {
    const value = await fn();
    peak = Math.max(peak, process.memoryUsage().rss);
    return { value, peakGrowth: peak - start };
  } finally {
    clearInterval(t);
  }
}

/**
 * A {@link Recyclable} stream of `size` deterministic bytes in `chunk`-sized buffers (default
 * 1 MiB) that reuses what its consumer gives back — and scribbles over every buffer the moment
 * it is given back. A consumer that recycles a chunk it still reads (a socket still sending
 * it) therefore stores wrong bytes, which the sha256 of the stored object shows. It also
 * rejects a chunk given back twice or one it never handed out.
 */
export function recyclingStream(size: number, o: { chunk?: number } = {}): AsyncIterable<Uint8Array> & Recyclable & { sha256(): string; readonly recycled: number; readonly misuse: string[] } {
  const chunk = o.chunk ?? 1 << 20;
  const hash = createHash('sha256');
  const free: Buffer[] = [];
  const out = new Set<Uint8Array>(); // handed out and not yet given back
  const misuse: string[] = [];
  let recycled = 0;
  let digest: string | undefined;
  async function* gen() {
    for (let sent = 0, i = 0; sent < size; i++) {
      const n = Math.min(chunk, size - sent);
      const buf = free.pop() ?? Buffer.allocUnsafe(chunk);
      for (let j = 0; j < n; j += 4096) buf.fill((i * 31 + j / 4096) & 0xff, j, Math.min(n, j + 4096));
      const piece = n === chunk ? buf : buf.subarray(0, n);
      hash.update(piece);
      out.add(piece);
      sent += n;
      yield piece as Uint8Array;
    }
  }
  const stream = gen() as AsyncGenerator<Uint8Array> & Recyclable & { sha256(): string; readonly recycled: number; misuse: string[] };
  Object.defineProperty(stream, 'recycled', { get: () => recycled });
  return Object.assign(stream, {
    recycle(c: Uint8Array) {
      if (!out.delete(c)) {
        misuse.push(`a chunk of ${c.byteLength} bytes was given back twice or was never handed out`);
        return;
      }
      recycled++;
      (c as Buffer).fill(0xee); // what a producer reusing the buffer would do to a consumer still reading it
      if (c.byteLength === chunk) free.push(c as Buffer);
    },
    sha256: () => (digest ??= hash.digest('hex')),
    misuse,
  });
}
