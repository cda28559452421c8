import { createHash } from 'node:crypto';

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
