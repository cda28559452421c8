import { abortError, assertValidKey, ArcaError, ErrorCodes, type Destination, type ObjectInfo, type Source } from '@arca/core';

/**
 * An in-memory destination: no I/O at all, so runs complete under fake timers by advancing
 * the clock only. It follows the Destination contract (atomic put, NOT_FOUND, list by prefix).
 */
export function memoryDestination(name = 'mem'): Destination & { objects: Map<string, Buffer> } {
  const objects = new Map<string, Buffer>();
  return {
    name,
    kind: 'memory',
    objects,
    describe: () => ({ kind: 'memory' }),
    async put(key, data, o = {}) {
      assertValidKey(key);
      const chunks: Buffer[] = [];
      for await (const c of data) {
        if (o.signal?.aborted) throw abortError(o.signal, 'put');
        chunks.push(Buffer.from(c));
      }
      const b = Buffer.concat(chunks);
      objects.set(key, b);
      return { key, bytes: b.length };
    },
    async get(key) {
      const b = objects.get(key);
      if (!b) throw new ArcaError(ErrorCodes.NOT_FOUND, `${key} not found`);
      return (async function* () {
        yield new Uint8Array(b);
      })();
    },
    async *list(prefix): AsyncIterable<ObjectInfo> {
      for (const [key, b] of objects) if (key.startsWith(prefix)) yield { key, size: b.length };
    },
    async stat(key) {
      const b = objects.get(key);
      return b && { key, size: b.length };
    },
    async delete(keys) {
      for (const k of keys) objects.delete(k);
    },
  };
}

/**
 * A source whose dumps wait at a gate until the test opens it: `dumps` counts dumps started,
 * `open()` lets every waiting and future dump finish. A dump waiting at the gate honours its
 * AbortSignal (rejects with ABORTED), like a real source killing its child process.
 */
export function gatedSource(): Source & { dumps: number; open(): void; close(): void } {
  let release!: () => void;
  let gate = new Promise<void>((r) => (release = r));
  const s = {
    kind: 'gated',
    dumps: 0,
    describe: () => ({ kind: 'gated' }),
    open: () => release(),
    close: () => {
      gate = new Promise<void>((r) => (release = r));
    },
    async dump(o: { signal?: AbortSignal } = {}) {
      s.dumps++;
      const wait = gate;
      async function* stream() {
        yield new Uint8Array([1, 2, 3]);
        await new Promise<void>((resolve, reject) => {
          if (o.signal?.aborted) return reject(abortError(o.signal, 'dump'));
          o.signal?.addEventListener('abort', () => reject(abortError(o.signal, 'dump')), { once: true });
          void wait.then(resolve);
        });
        yield new Uint8Array([4, 5, 6]);
      }
      return { filename: 'data.bin', stream: stream(), meta: async () => ({}) };
    },
  };
  return s;
}
