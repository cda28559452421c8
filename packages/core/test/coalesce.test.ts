import { describe, expect, it } from 'vitest';
import { coalesce } from '../src/streams.js';

async function collect(it: AsyncIterable<Uint8Array>): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for await (const c of it) out.push(c);
  return out;
}

async function* chunks(sizes: number[]): AsyncIterable<Uint8Array> {
  let v = 0;
  for (const n of sizes) {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = v++ & 0xff;
    yield b;
  }
}

describe('coalesce', () => {
  it('re-chunks small chunks into full buffers, keeping every byte in order', async () => {
    const sizes = [3, 5, 1, 7, 10, 2, 9];
    const out = await collect(coalesce(chunks(sizes), 8));
    // The 10-byte chunk arrives with nothing pending: it passes through whole.
    expect(out.map((c) => c.byteLength)).toEqual([8, 8, 10, 8, 3]);
    const all = Buffer.concat(out);
    expect(all.byteLength).toBe(37);
    for (let i = 0; i < all.length; i++) expect(all[i]).toBe(i & 0xff);
  });

  it('passes big chunks through uncopied when nothing is pending, and never reuses a yielded buffer', async () => {
    const big = Buffer.alloc(20, 1);
    async function* src() {
      yield big;
      yield Buffer.alloc(3, 2);
      yield Buffer.alloc(20, 3);
    }
    const out = await collect(coalesce(src(), 8));
    expect(out[0]).toBe(big);
    expect(out.map((c) => c.byteLength)).toEqual([20, 8, 8, 7]);
    expect(new Set(out.map((c) => c.buffer)).size).toBe(out.length);
    expect(Buffer.concat(out.slice(1))).toEqual(Buffer.concat([Buffer.alloc(3, 2), Buffer.alloc(20, 3)]));
  });

  it('yields nothing for an empty stream and propagates the input error and early stop', async () => {
    expect(await collect(coalesce(chunks([]), 8))).toEqual([]);
    const boom = new Error('boom');
    async function* failing() {
      yield Buffer.alloc(4);
      throw boom;
    }
    await expect(collect(coalesce(failing(), 8))).rejects.toBe(boom);
    let closed = false;
    async function* endless() {
      try {
        for (;;) yield Buffer.alloc(8);
      } finally {
        closed = true;
      }
    }
    for await (const _ of coalesce(endless(), 8)) break;
    expect(closed).toBe(true);
  });
});
