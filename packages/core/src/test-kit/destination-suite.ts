import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Destination } from '../contracts.js';
import { ArcaError } from '../errors.js';
import { hashStream } from '../streams.js';
import { collect, generatedStream, peakRss, recyclingStream } from './helpers.js';

export type DestinationFactory = () => Promise<{ destination: Destination; cleanup?: () => Promise<void> }>;

export interface DestinationKitOptions {
  /** Bytes pushed through the large-stream test (default 64 MiB). */
  largeBytes?: number;
  /** Allowed RSS growth during the large put (default 96 MiB). */
  maxRssGrowth?: number;
  /** Keys created for the listing test (default 1100: crosses S3's 1000-key pages). */
  listCount?: number;
  /** Per-test timeout (default 120 s). */
  timeoutMs?: number;
  /** The destination gives chunks of a `Recyclable` stream back (asserted, so the fast path cannot silently stop). */
  recycles?: boolean;
}

async function* bytes(...parts: Array<string | Uint8Array>): AsyncIterable<Uint8Array> {
  for (const p of parts) yield typeof p === 'string' ? Buffer.from(p) : p;
}

async function* failingAfter(chunks: number, error: Error): AsyncIterable<Uint8Array> {
  for (let i = 0; i < chunks; i++) yield Buffer.alloc(1 << 16, i);
  throw error;
}

async function keysUnder(d: Destination, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const o of d.list(prefix)) out.push(o.key);
  return out.sort();
}

async function expectCode(p: Promise<unknown>, code: string): Promise<void> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e, `expected rejection with ${code}`).toBeInstanceOf(ArcaError);
  expect((e as ArcaError).code).toBe(code);
}

/**
 * The Destination contract suite: round trip, atomicity under failure and abort, listing
 * with pagination and prefix semantics, deletes, key validation, flat memory, buffer
 * recycling (`Recyclable`), check().
 * Every adapter MUST pass it against a real backend.
 */
export function testDestination(name: string, factory: DestinationFactory, options: DestinationKitOptions = {}): void {
  const timeout = options.timeoutMs ?? 120_000;
  describe(`Destination contract: ${name}`, () => {
    let d: Destination;
    let cleanup: (() => Promise<void>) | undefined;
    const root = `kit-${randomBytes(4).toString('hex')}`;

    beforeAll(async () => {
      ({ destination: d, cleanup } = await factory());
    }, timeout);
    afterAll(async () => {
      if (d) {
        const keys = await keysUnder(d, `${root}/`).catch(() => []);
        if (keys.length) await d.delete(keys).catch(() => {});
      }
      await cleanup?.();
    }, timeout);

    it('round-trips an object: put, stat, get, list', { timeout }, async () => {
      const key = `${root}/rt/a/b.bin`;
      const r = await d.put(key, bytes('hello ', 'world'));
      expect(r).toMatchObject({ key, bytes: 11 });
      expect((await d.stat(key))?.size).toBe(11);
      expect((await collect(await d.get(key))).toString()).toBe('hello world');
      expect(await keysUnder(d, `${root}/rt/`)).toEqual([key]);
    });

    it('stores empty objects and replaces existing ones', { timeout }, async () => {
      const key = `${root}/ow/x.txt`;
      await d.put(key, bytes());
      expect((await d.stat(key))?.size).toBe(0);
      await d.put(key, bytes('second'));
      expect((await collect(await d.get(key))).toString()).toBe('second');
      expect(await keysUnder(d, `${root}/ow/`)).toEqual([key]);
    });

    it('reports missing objects: get rejects NOT_FOUND, stat is undefined, delete ignores them', { timeout }, async () => {
      await expectCode(d.get(`${root}/missing/none`), 'NOT_FOUND');
      expect(await d.stat(`${root}/missing/none`)).toBeUndefined();
      await d.delete([`${root}/missing/none`]);
    });

    it('lists by prefix: "p/" does not include "p2/"', { timeout }, async () => {
      await d.put(`${root}/pre/p/x`, bytes('x'));
      await d.put(`${root}/pre/p2/y`, bytes('y'));
      await d.put(`${root}/pre/p/deep/z`, bytes('z'));
      expect(await keysUnder(d, `${root}/pre/p/`)).toEqual([`${root}/pre/p/deep/z`, `${root}/pre/p/x`]);
      expect(await keysUnder(d, `${root}/nothing-here/`)).toEqual([]);
    });

    it('lists every key exactly once across pages', { timeout: Math.max(timeout, 300_000) }, async () => {
      const n = options.listCount ?? 1100;
      const keys = Array.from({ length: n }, (_, i) => `${root}/many/k${String(i).padStart(5, '0')}`);
      for (let i = 0; i < keys.length; i += 25) {
        await Promise.all(keys.slice(i, i + 25).map((k) => d.put(k, bytes('.'))));
      }
      const listed = await keysUnder(d, `${root}/many/`);
      expect(listed.length).toBe(n);
      expect(listed).toEqual(keys);
      await d.delete(keys);
      expect(await keysUnder(d, `${root}/many/`)).toEqual([]);
    });

    it('deletes several keys', { timeout }, async () => {
      const keys = [`${root}/del/a`, `${root}/del/b/c`, `${root}/del/d`];
      for (const k of keys) await d.put(k, bytes(k));
      await d.delete(keys.slice(0, 2));
      expect(await keysUnder(d, `${root}/del/`)).toEqual([`${root}/del/d`]);
    });

    it('rejects keys that could escape the root with KEY_INVALID', { timeout }, async () => {
      for (const bad of ['../x', 'a/../../x', '/abs/x', 'a\\b', 'a\0b', '', 'a//b', './a']) {
        await expectCode(d.put(bad, bytes('x')), 'KEY_INVALID');
        await expectCode(d.get(bad), 'KEY_INVALID');
        await expectCode(d.stat(bad), 'KEY_INVALID');
        await expectCode(d.delete([bad]), 'KEY_INVALID');
      }
    });

    it('leaves nothing visible when the data stream fails, and keeps the previous object', { timeout }, async () => {
      const key = `${root}/fail/obj`;
      const boom = new Error('source exploded');
      await expect(d.put(`${root}/fail/new`, failingAfter(20, boom))).rejects.toBe(boom);
      expect(await d.stat(`${root}/fail/new`)).toBeUndefined();
      await d.put(key, bytes('previous'));
      await expect(d.put(key, failingAfter(20, boom))).rejects.toBe(boom);
      expect((await collect(await d.get(key))).toString()).toBe('previous');
      expect(await keysUnder(d, `${root}/fail/`)).toEqual([key]);
    });

    it('keeps an object invisible until its put resolves', { timeout }, async () => {
      const key = `${root}/inflight/obj`;
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      let reached!: () => void;
      const halfway = new Promise<void>((r) => (reached = r));
      async function* slow(): AsyncIterable<Uint8Array> {
        yield Buffer.alloc(1 << 16, 1);
        reached();
        await gate;
        yield Buffer.alloc(1 << 16, 2);
      }
      const pending = d.put(key, slow());
      await halfway;
      await new Promise((r) => setTimeout(r, 50));
      expect(await d.stat(key)).toBeUndefined();
      expect(await keysUnder(d, `${root}/inflight/`)).toEqual([]);
      release();
      expect((await pending).bytes).toBe(2 << 16);
      expect((await d.stat(key))?.size).toBe(2 << 16);
    });

    it('stops on abort with ABORTED and leaves nothing visible', { timeout }, async () => {
      const ac = new AbortController();
      const key = `${root}/abort/obj`;
      const data = generatedStream(64 << 20, { onChunk: (sent) => void (sent >= 4 << 20 && ac.abort()) });
      await expectCode(d.put(key, data, { signal: ac.signal }), 'ABORTED');
      expect(await d.stat(key)).toBeUndefined();
      expect(await keysUnder(d, `${root}/abort/`)).toEqual([]);
      const pre = new AbortController();
      pre.abort();
      await expectCode(d.put(key, bytes('x'), { signal: pre.signal }), 'ABORTED');
      expect(await d.stat(key)).toBeUndefined();
    });

    it('streams a large object with flat memory and returns it intact', { timeout: Math.max(timeout, 300_000) }, async () => {
      const size = options.largeBytes ?? 64 << 20;
      const key = `${root}/large/blob`;
      const data = generatedStream(size);
      const { value, peakGrowth } = await peakRss(() => d.put(key, data, { expectedBytes: size }));
      expect(value.bytes).toBe(size);
      expect(peakGrowth).toBeLessThan(options.maxRssGrowth ?? 96 << 20);
      expect((await d.stat(key))?.size).toBe(size);
      expect((await hashStream(await d.get(key))).sha256).toBe(data.sha256());
      await d.delete([key]);
    });

    it('gives chunks of a Recyclable stream back only once it is done with them', { timeout }, async () => {
      const key = `${root}/recycle/blob`;
      const size = 24 * (1 << 20) + 12345; // 1 MiB chunks and a short last one
      const data = recyclingStream(size);
      expect((await d.put(key, data, { expectedBytes: size })).bytes).toBe(size);
      expect(data.misuse).toEqual([]);
      if (options.recycles) expect(data.recycled).toBeGreaterThan(0);
      expect((await hashStream(await d.get(key))).sha256, 'the stored bytes differ: a chunk was given back while still being written').toBe(data.sha256());
      await d.delete([key]);
    });

    it('describe() is JSON and check() (when present) reports ok with facts', { timeout }, async () => {
      expect(() => JSON.stringify(d.describe())).not.toThrow();
      expect(typeof d.kind).toBe('string');
      if (d.check) {
        const r = await d.check();
        expect(r.problems).toEqual([]);
        expect(r.ok).toBe(true);
      }
    });
  });
}
