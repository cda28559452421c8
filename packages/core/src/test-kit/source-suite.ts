import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Source } from '../contracts.js';
import { ArcaError } from '../errors.js';
import { verifyingStream } from '../streams.js';

export interface SourceFixture {
  source: Source;
  /** A fresh, empty restore target of the same kind (a new folder, a scratch database). */
  restoreTarget?: () => Promise<Source>;
  /** Assert that `target` now holds what `source` held when it was dumped. */
  assertRestored?: (target: Source) => Promise<void>;
  /** A comparable picture of a target's current state, to prove a failed restore changed nothing. */
  snapshot?: (target: Source) => Promise<unknown>;
  /** Secrets (passwords, tokens) given to the source: they must appear nowhere. */
  secrets?: string[];
  cleanup?: () => Promise<void>;
}

export type SourceFactory = () => Promise<SourceFixture>;

export interface SourceKitOptions {
  timeoutMs?: number;
  /** Run the restore tests (default true): the source must then implement restore() and the fixture restoreTarget/assertRestored. */
  restore?: boolean;
}

async function drain(it: AsyncIterable<Uint8Array>): Promise<{ bytes: number; data: Buffer[] }> {
  const data: Buffer[] = [];
  let bytes = 0;
  for await (const c of it) {
    bytes += c.byteLength;
    data.push(Buffer.from(c));
  }
  return { bytes, data };
}

/**
 * The Source contract suite: a dump yields bytes and meta, aborts with ABORTED, never leaks
 * secrets, and (when the source can restore) round-trips through `restore`, refuses a
 * non-empty target without `overwrite`, and leaves the target unchanged on a corrupt input.
 */
export function testSource(name: string, factory: SourceFactory, options: SourceKitOptions = {}): void {
  const timeout = options.timeoutMs ?? 120_000;
  describe(`Source contract: ${name}`, () => {
    let fx: SourceFixture;
    beforeAll(async () => {
      fx = await factory();
    }, timeout);
    afterAll(async () => {
      await fx?.cleanup?.();
    }, timeout);

    it('dumps a non-empty stream, then meta()', { timeout }, async () => {
      const dump = await fx.source.dump();
      expect(dump.filename).toMatch(/^[\w.-]+$/);
      const { bytes } = await drain(dump.stream);
      expect(bytes).toBeGreaterThan(0);
      const meta = await dump.meta();
      expect(typeof meta).toBe('object');
      expect(() => JSON.stringify(meta)).not.toThrow();
    });

    it('never shows secrets in describe(), meta() or check()', { timeout }, async () => {
      const dump = await fx.source.dump();
      await drain(dump.stream);
      const seen = JSON.stringify([fx.source.describe(), await dump.meta(), fx.source.check ? await fx.source.check() : null]);
      for (const s of fx.secrets ?? []) expect(seen).not.toContain(s);
    });

    it('stops with ABORTED when the signal fires mid-dump', { timeout }, async () => {
      const ac = new AbortController();
      const pre = new AbortController();
      pre.abort();
      const early = await (async () => {
        const d = await fx.source.dump({ signal: pre.signal });
        await drain(d.stream);
      })().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(early).toBeInstanceOf(ArcaError);
      expect((early as ArcaError).code).toBe('ABORTED');
      const dump = await fx.source.dump({ signal: ac.signal });
      const err = await (async () => {
        for await (const _ of dump.stream) ac.abort();
      })().then(
        () => undefined,
        (e: unknown) => e,
      );
      // A dump that fits in one chunk may legitimately finish before the abort lands.
      if (err !== undefined) {
        expect(err).toBeInstanceOf(ArcaError);
        expect((err as ArcaError).code).toBe('ABORTED');
      }
    });

    it('check() (when present) reports ok', { timeout }, async () => {
      if (!fx.source.check) {
        expect(fx.source.check).toBeUndefined();
        return;
      }
      const r = await fx.source.check();
      expect(r.problems).toEqual([]);
      expect(r.ok).toBe(true);
    });

    if (options.restore === false) return;

    it('restores into a new target', { timeout }, async () => {
      expect(typeof fx.source.restore).toBe('function');
      expect(typeof fx.restoreTarget).toBe('function');
      expect(typeof fx.assertRestored).toBe('function');
      const target = await fx.restoreTarget!();
      const dump = await fx.source.dump();
      await target.restore!(dump.stream);
      await fx.assertRestored?.(target);
    });

    it('refuses a non-empty target without overwrite, replaces it with overwrite', { timeout }, async () => {
      const target = await fx.restoreTarget!();
      await target.restore!((await fx.source.dump()).stream);
      const again = await target.restore!((await fx.source.dump()).stream).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(again).toBeInstanceOf(ArcaError);
      expect((again as ArcaError).code).toBe('TARGET_NOT_EMPTY');
      await target.restore!((await fx.source.dump()).stream, { overwrite: true });
      await fx.assertRestored?.(target);
    });

    it('leaves the target unchanged when the input turns out corrupt', { timeout }, async () => {
      const target = await fx.restoreTarget!();
      await target.restore!((await fx.source.dump()).stream);
      const before = await fx.snapshot?.(target);
      // Same bytes, wrong expected checksum: the input throws CHECKSUM_MISMATCH at its very end.
      const dump = await fx.source.dump();
      const corrupt = verifyingStream(dump.stream, { sha256: '0'.repeat(64), bytes: Number.MAX_SAFE_INTEGER, what: 'test input' });
      const err = await target.restore!(corrupt, { overwrite: true }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ArcaError);
      expect((err as ArcaError).code).toBe('CHECKSUM_MISMATCH');
      if (fx.snapshot) expect(await fx.snapshot(target)).toEqual(before);
      await fx.assertRestored?.(target);
    });
  });
}
