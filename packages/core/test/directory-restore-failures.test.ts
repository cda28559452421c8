/**
 * A directory restore whose input fails, wherever it fails, rejects promptly with the input's
 * own error, leaves the target as it was, removes its temp folder and ends the input.
 *
 * Regression: tar-stream entries are streamx streams, and node's stream.pipeline() takes one
 * that is already destroyed for one that ended cleanly, so it never ends the file it writes
 * to and waits forever. An input failing while the restore makes a file's folder destroyed
 * the entry before its pipeline was attached: the restore of a truncated gzip'd tar hung
 * (corruption.test.ts, ~1 run in 20 with 256 KiB gunzip chunks).
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { createGunzip } from 'node:zlib';
import * as tar from 'tar-stream';
import { describe, expect, it } from 'vitest';
import { ArcaError, directory, gzip, hashStream, throughDuplex, verifyingStream } from '@arca/core';
import { collect } from '@arca/core/test-kit';
import { readTree, tempDir, writeTree } from './helpers.js';

type Entry = { header: Partial<tar.Header> & { name: string }; body?: Buffer };

async function tarOf(entries: Entry[]): Promise<{ bytes: Buffer; ends: Record<string, number> }> {
  const pack = tar.pack();
  for (const e of entries) pack.entry(e.header as tar.Header, e.body ?? Buffer.alloc(0));
  pack.finalize();
  const bytes = await collect(pack as AsyncIterable<Uint8Array>);
  const ends: Record<string, number> = {}; // where each entry's header starts, and the end-of-archive blocks
  let off = 0;
  for (const e of entries) {
    ends[e.header.name] = off;
    off += 512 + Math.ceil((e.body?.length ?? 0) / 512) * 512;
  }
  ends['(end of archive)'] = off;
  return { bytes, ends };
}

/** Not compressible, so gzip'd offsets stay spread over the whole archive. */
const noise = (n: number, seed: string) => {
  const b = Buffer.alloc(n);
  for (let off = 0, i = 0; off < n; i++) off += createHash('sha256').update(`${seed}:${i}`).digest().copy(b, off);
  return b;
};

const ENTRIES: Entry[] = [
  { header: { name: 'docs', type: 'directory' } },
  { header: { name: 'docs/a.txt' }, body: Buffer.from('alpha\n') },
  { header: { name: 'media/2024/photo.bin' }, body: noise(300_000, 'photo') }, // its folders are made before it is written
  { header: { name: 'media/2025', type: 'directory' } },
  { header: { name: 'media/2025/clip.bin' }, body: noise(200_000, 'clip') },
];

/** The restore's outcome, or 'hung' if it did not settle within `ms`. */
async function settle(p: Promise<unknown>, ms = 3000): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise((resolve) => (timer = setTimeout(() => resolve('hung'), ms)));
  try {
    return await Promise.race([p.then(() => 'restored', (e: unknown) => e), hung]);
  } finally {
    clearTimeout(timer);
  }
}

/** `bytes` in `chunk`-sized pieces, then the error; `ended()` says whether the consumer ended it. */
function failingAfter(bytes: Buffer, chunk: number) {
  let finalized = false;
  async function* gen(): AsyncIterable<Uint8Array> {
    try {
      for (let o = 0; o < bytes.length; o += chunk) yield bytes.subarray(o, o + chunk);
      throw new ArcaError('CHECKSUM_MISMATCH', 'the stored copy does not match its manifest');
    } finally {
      finalized = true;
    }
  }
  return { input: gen(), ended: () => finalized };
}

async function freshTarget() {
  const dir = await tempDir('arca-restore-fail');
  const target = path.join(dir, 'target');
  await writeTree(target, { 'keep.txt': 'precious\n' });
  return { dir, target, before: await readTree(target) };
}

async function expectRefused(outcome: unknown, t: { dir: string; target: string; before: Record<string, string> }, code: string) {
  expect(outcome, 'the restore settled').not.toBe('hung');
  expect(outcome).toBeInstanceOf(ArcaError);
  expect((outcome as ArcaError).code).toBe(code);
  expect(await readTree(t.target)).toEqual(t.before);
  expect(await fs.readdir(t.dir)).toEqual(['target']); // no temp folder left beside it
}

describe('directory restore when its input fails', () => {
  it('rejects with the input error when the input fails while a file entry is waiting for its folder', async () => {
    const { bytes, ends } = await tarOf(ENTRIES);
    // the photo's header and part of its data arrive in one piece, then the input fails:
    // all of that happens while the restore is still making media/2024 for the photo
    const cut = ends['media/2024/photo.bin']! + 512 + 100_000;
    for (const [from, chunk] of [[ends['media/2024/photo.bin']!, cut], [0, cut]] as const) {
      const t = await freshTarget();
      const feed = failingAfter(bytes.subarray(from, cut), chunk);
      await expectRefused(await settle(directory({ path: t.target }).restore!(feed.input, { overwrite: true })), t, 'CHECKSUM_MISMATCH');
      expect(feed.ended()).toBe(true);
    }
  });

  it('rejects with the input error wherever the input fails: before the first entry, in a header, in a file, between entries, at the end', async () => {
    const { bytes, ends } = await tarOf(ENTRIES);
    const cuts = new Set<number>([0, 100, 512, 1000]);
    for (const start of Object.values(ends)) for (const d of [0, 1, 511, 512, 513, 70_000]) cuts.add(Math.min(start + d, bytes.length - 1));
    for (const cut of [...cuts].sort((a, b) => a - b)) {
      for (const chunk of [512 * 7, 1 << 16, 1 << 20]) {
        const t = await freshTarget();
        const feed = failingAfter(bytes.subarray(0, cut), chunk);
        const outcome = await settle(directory({ path: t.target }).restore!(feed.input, { overwrite: true }));
        await expectRefused(outcome, t, 'CHECKSUM_MISMATCH').catch((e: Error) => {
          throw new Error(`cut at ${cut}, ${chunk}-byte chunks: ${e.message}`);
        });
        expect(feed.ended(), `cut at ${cut}`).toBe(true);
      }
    }
  });

  it('an archive that does not parse fails with CORRUPT_ARTIFACT, so a restore goes on to the next copy', async () => {
    const { bytes, ends } = await tarOf(ENTRIES);
    const badHeader = Buffer.from(bytes);
    badHeader.fill(0x41, ends['media/2024/photo.bin']! + 148, ends['media/2024/photo.bin']! + 156); // its header checksum
    const endsEarly = bytes.subarray(0, ends['media/2024/photo.bin']! + 512 + 1000); // and the input ends without an error
    for (const [what, archive] of [['a damaged header', badHeader], ['an archive cut short', endsEarly]] as const) {
      const t = await freshTarget();
      async function* intact(): AsyncIterable<Uint8Array> {
        for (let o = 0; o < archive.length; o += 1 << 16) yield archive.subarray(o, o + (1 << 16));
      }
      const outcome = await settle(directory({ path: t.target }).restore!(intact(), { overwrite: true }));
      await expectRefused(outcome, t, 'CORRUPT_ARTIFACT');
      expect((outcome as ArcaError).message, what).toMatch(/^The archive is damaged \(.+\); nothing was restored\. Restore from another destination or backup\.$/);
    }
  });

  it('a truncated gzip artifact fails with CHECKSUM_MISMATCH at every cut, with 64 KiB and 1 MiB gunzip output chunks', async () => {
    const { bytes } = await tarOf(ENTRIES.slice(2)); // like corruption.test.ts' media: a big file first
    const stored = await collect(gzip({ threads: 1 }).encode((async function* () { yield bytes; })()));
    const whole = await hashStream((async function* () { yield stored; })());
    const decoders = {
      codec: (s: AsyncIterable<Uint8Array>) => gzip().decode(s),
      '64 KiB': (s: AsyncIterable<Uint8Array>) => throughDuplex(s, createGunzip({ chunkSize: 1 << 16 })),
      '1 MiB': (s: AsyncIterable<Uint8Array>) => throughDuplex(s, createGunzip({ chunkSize: 1 << 20 })),
    };
    for (const [name, decode] of Object.entries(decoders)) {
      for (let cut = 0; cut < stored.length; cut += 24_989) {
        const t = await freshTarget();
        async function* truncated(): AsyncIterable<Uint8Array> {
          for (let o = 0; o < cut; o += 1 << 16) yield stored.subarray(o, Math.min(o + (1 << 16), cut)); // the stored copy ends early
        }
        // what restoreBackup does: check the stored bytes as they are read, then decode
        const input = decode(verifyingStream(truncated(), { sha256: whole.sha256, bytes: whole.bytes, what: 'ftp:j/x/media.tar.gz' }));
        const outcome = await settle(directory({ path: t.target }).restore!(input, { overwrite: true }));
        await expectRefused(outcome, t, 'CHECKSUM_MISMATCH').catch((e: Error) => {
          throw new Error(`${name}, cut at ${cut} of ${stored.length}: ${e.message}`);
        });
      }
    }
  });
});
