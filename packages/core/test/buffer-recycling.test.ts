import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ArcaError, readFileBytes, recyclerOf, verifyingStream } from '@arca/core';
import { recyclingStream } from '@arca/core/test-kit';
import { coalesce, meter } from '../src/streams.js';
import { fanOut } from '../src/pipeline/fan-out.js';
import { tempDir } from './helpers.js';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** Consume `s`, giving every chunk back (after a turn of the event loop) unless `keep`. */
async function drain(s: AsyncIterable<Uint8Array>, keep = false): Promise<{ sha256: string; bytes: number; buffers: number }> {
  const h = createHash('sha256');
  const recycle = recyclerOf(s);
  const buffers = new Set<ArrayBufferLike>();
  let bytes = 0;
  for await (const c of s) {
    h.update(c);
    bytes += c.byteLength;
    buffers.add(c.buffer);
    await new Promise((r) => setImmediate(r));
    if (!keep) recycle?.(c);
  }
  return { sha256: h.digest('hex'), bytes, buffers: buffers.size };
}

describe('readFileBytes', () => {
  it('reads a file, or a range of it, reusing the buffers its consumer gives back', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'f.bin');
    const data = Buffer.alloc(5 * (1 << 20) + 333);
    for (let i = 0; i < data.length; i += 4096) data[i] = (i / 4096) & 0xff;
    await fs.writeFile(file, data);
    const all = await drain(readFileBytes(file));
    expect(all).toMatchObject({ sha256: sha(data), bytes: data.length });
    expect(all.buffers).toBeLessThanOrEqual(3); // two 1 MiB buffers in turn (one is read ahead), plus the short last read's
    const kept = await drain(readFileBytes(file), true);
    expect(kept.buffers).toBe(6); // nothing given back: every read gets a fresh buffer
    const small = path.join(dir, 'manifest.json');
    await fs.writeFile(small, '{"job":"nightly"}');
    const chunks: Uint8Array[] = [];
    for await (const c of readFileBytes(small)) chunks.push(c);
    expect(Buffer.concat(chunks).toString()).toBe('{"job":"nightly"}');
    expect(chunks[0]!.buffer.byteLength).toBeLessThan(1 << 16); // sized to the file, not a pooled megabyte
    // A size hint that is out of date (the file grew) only sizes the buffers: every byte is read.
    expect((await drain(readFileBytes(file, { size: 100 }))).sha256).toBe(sha(data));
    const range = await drain(readFileBytes(file, { start: 1000, end: 3 << 20, chunkSize: 1 << 16 }));
    expect(range).toMatchObject({ sha256: sha(data.subarray(1000, 3 << 20)), bytes: (3 << 20) - 1000 });
  });

  it('rejects NOT_FOUND for a missing file, ABORTED on abort, and closes the file when stopped early', async () => {
    const dir = await tempDir();
    const e = await drain(readFileBytes(path.join(dir, 'missing'), { what: 'the archive' })).catch((x: unknown) => x);
    expect((e as ArcaError).code).toBe('NOT_FOUND');
    expect((e as ArcaError).message).toContain('the archive');
    const file = path.join(dir, 'f.bin');
    await fs.writeFile(file, Buffer.alloc(3 << 20));
    const ac = new AbortController();
    const it = readFileBytes(file, { signal: ac.signal })[Symbol.asyncIterator]();
    await it.next();
    ac.abort();
    expect(((await it.next().catch((x: unknown) => x)) as ArcaError).code).toBe('ABORTED');
    const fds = async () => (await fs.readdir('/proc/self/fd')).length;
    const before = await fds();
    for (let i = 0; i < 20; i++) for await (const _ of readFileBytes(file)) break;
    expect(await fds()).toBeLessThanOrEqual(before);
  });
});

describe('recycling through the pipeline pieces', () => {
  it('coalesce reuses its buffers once given back, and gives copied input chunks back upstream', async () => {
    const src = recyclingStream(3 * (1 << 20) + 77, { chunk: 1 << 16 });
    const out = await drain(coalesce(src, 1 << 18));
    expect(out).toMatchObject({ sha256: src.sha256(), bytes: 3 * (1 << 20) + 77 });
    expect(out.buffers).toBeLessThanOrEqual(3);
    expect(src.misuse).toEqual([]);
    expect(src.recycled).toBe(49); // every input chunk was copied, then given back
  });

  it('coalesce passes the give-back of a chunk it passed through to the input', async () => {
    const src = recyclingStream(4 << 20); // 1 MiB chunks pass through a 1 MiB coalesce uncopied
    const out = await drain(coalesce(src));
    expect(out.sha256).toBe(src.sha256());
    expect(src.recycled).toBe(4);
    expect(src.misuse).toEqual([]);
  });

  it('meter and verifyingStream forward the give-back; the bytes stay right', async () => {
    const src = recyclingStream(3 << 20);
    const m = meter(src);
    const expected = { sha256: '', bytes: 3 << 20, what: 'x' };
    const out = await drain(m.stream);
    expect(src.recycled).toBe(3);
    expected.sha256 = out.sha256;
    const again = recyclingStream(3 << 20);
    await drain(verifyingStream(again, expected));
    expect(again.recycled).toBe(3);
    expect(m.meter.digest()).toBe(src.sha256());
  });

  it('fanOut gives a chunk back only after every consumer gave it back', async () => {
    const consume = (keep: boolean) => async (data: AsyncIterable<Uint8Array>) => (await drain(data, keep)).sha256;
    const both = recyclingStream(8 << 20);
    const r = await fanOut(both, [
      { name: 'a', consume: consume(false) },
      { name: 'b', consume: consume(false) },
    ]);
    expect(r.results.get('a')).toEqual({ ok: true, value: both.sha256() });
    expect(r.results.get('b')).toEqual({ ok: true, value: both.sha256() });
    expect(both.recycled).toBe(8);
    expect(both.misuse).toEqual([]);
    // One consumer keeps its chunks (a multipart upload holding parts): nothing is reused.
    const one = recyclingStream(8 << 20);
    const r2 = await fanOut(one, [
      { name: 'a', consume: consume(false) },
      { name: 'keeps', consume: consume(true) },
    ]);
    expect(r2.results.get('keeps')).toEqual({ ok: true, value: one.sha256() });
    expect(one.recycled).toBe(0);
  });
});
