import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ArcaError, zstd } from '@arca/core';
import { collect, describeWithService, generatedStream, peakRss } from '@arca/core/test-kit';
import { chunks, commandsInstalled, rejection, sha, tempDir } from './helpers.js';

const csv = (rows: number) => Buffer.from(Array.from({ length: rows }, (_, i) => `${i},ticket-${i % 97},"customer ${i % 13}",open\n`).join(''));
const zstdCli = (args: string[], input: Buffer) => spawnSync('zstd', args, { input, maxBuffer: 256 << 20 });
const hasZstd = commandsInstalled('the `zstd` command (Debian package zstd)', 'zstd');

describe('zstd options', () => {
  it('validates the level and describes itself', () => {
    expect(() => zstd({ level: 0 })).toThrow(/level/);
    expect(() => zstd({ level: 23 })).toThrow(/level/);
    expect(zstd().describe()).toEqual({ level: 3 });
    expect(zstd({ level: 9, threads: 2 }).describe()).toEqual({ level: 9, threads: 2 });
    expect(zstd().extension).toBe('.zst');
  });

  it('a missing zstd command is CODEC_FAILED saying how to fix it', async () => {
    const c = zstd({ implementation: 'cli', command: '/nonexistent/zstd' });
    const e = await rejection(collect(c.encode(chunks(Buffer.from('x')))));
    expect(e.code).toBe('CODEC_FAILED');
    expect(e.message).toMatch(/zstd-napi@0\.0\.13.*apt-get install zstd/);
  });
});

await describeWithService('zstd interop with the zstd CLI', hasZstd, () => {
  const plain = csv(40_000); // ~1.3 MB of CSV-like text
  for (const implementation of ['native', 'cli'] as const) {
    describe(implementation, () => {
      it.each([1, 3, 9])('level %i: `zstd -d` reads Arca output; Arca reads `zstd` output', async (level) => {
        const c = zstd({ level, implementation });
        const enc = await collect(c.encode(chunks(plain)));
        expect(enc.length).toBeLessThan(plain.length / 4);
        expect(enc.readUInt32LE(0)).toBe(0xfd2fb528); // zstd frame magic
        const d = zstdCli(['-d', '-c'], enc);
        expect(d.status, d.stderr.toString()).toBe(0);
        expect(sha(d.stdout)).toBe(sha(plain));
        const fromCli = zstdCli([`-${level}`, '-c'], plain).stdout;
        expect(sha(await collect(c.decode(chunks(fromCli, 4096))))).toBe(sha(plain));
      });

      it.each([1 << 20, 2 << 20, (1 << 20) + 1])('%i bytes (output-buffer boundaries), also multi-frame input, round trip and read `zstd` output', async (n) => {
        const exact = Buffer.concat([csv(60_000), csv(60_000)]).subarray(0, n);
        for (const c of [zstd({ implementation }), zstd({ implementation, threads: 1 })]) {
          const enc = await collect(c.encode(chunks(exact, 65_536)));
          expect(sha(zstdCli(['-d', '-c'], enc).stdout)).toBe(sha(exact));
          expect(sha(await collect(c.decode(chunks(enc, 65_536))))).toBe(sha(exact));
        }
        const fromCli = zstdCli(['-3', '-c'], exact).stdout;
        const c = zstd({ implementation });
        expect(sha(await collect(c.decode(chunks(fromCli, 65_536))))).toBe(sha(exact));
        // Two concatenated frames are one valid .zst stream (what `zstd -d` accepts too).
        expect(sha(await collect(c.decode(chunks(Buffer.concat([fromCli, fromCli]), 65_536))))).toBe(sha(Buffer.concat([exact, exact])));
      });

      it('empty input round trips', async () => {
        const c = zstd({ implementation });
        const enc = await collect(c.encode(chunks(Buffer.alloc(0))));
        expect(zstdCli(['-d', '-c'], enc).status).toBe(0);
        expect((await collect(c.decode(chunks(enc)))).length).toBe(0);
      });

      it('truncated or corrupt input → CORRUPT_ARTIFACT', async () => {
        const c = zstd({ implementation });
        const enc = await collect(c.encode(chunks(plain)));
        const truncated = await rejection(collect(c.decode(chunks(enc.subarray(0, enc.length - 100)))));
        expect(truncated.code).toBe('CORRUPT_ARTIFACT');
        const garbage = await rejection(collect(c.decode(chunks(Buffer.from('definitely not zstd data')))));
        expect(garbage.code).toBe('CORRUPT_ARTIFACT');
        const flipped = Buffer.from(enc);
        flipped[Math.floor(enc.length / 2)]! ^= 0x55;
        const bad = await rejection(collect(c.decode(chunks(flipped))));
        expect(bad.code).toBe('CORRUPT_ARTIFACT');
        expect(bad.message).toMatch(/corrupt or truncated/);
      });

      it('an input error propagates (a failed dump is not a short artifact)', async () => {
        async function* failing() {
          yield Buffer.from('some data');
          throw new ArcaError('SOURCE_FAILED', 'dump died');
        }
        const e = await rejection(collect(zstd({ implementation }).encode(failing())));
        expect(e.code).toBe('SOURCE_FAILED');
      });

      it('abort stops with ABORTED', async () => {
        const ac = new AbortController();
        const src = generatedStream(64 << 20, {
          onChunk: (sent) => {
            if (sent > 4 << 20) ac.abort();
          },
        });
        const e = await rejection(collect(zstd({ implementation }).encode(src, { signal: ac.signal })));
        expect(e.code).toBe('ABORTED');
      });
    });
  }

  it("'auto' uses the zstd command when it is found, else the binding", async () => {
    const dir = await tempDir('arca-zstd-auto');
    const marker = path.join(dir, 'ran');
    const wrapper = path.join(dir, 'zstd-wrapper');
    await fs.writeFile(wrapper, `#!/bin/sh\necho "$@" >> '${marker}'\nexec zstd "$@"\n`, { mode: 0o755 });
    const plain = csv(5_000);
    const viaCommand = await collect(zstd({ command: wrapper }).encode(chunks(plain)));
    expect(await fs.readFile(marker, 'utf8')).toMatch(/-c -3 -/);
    expect(sha(await collect(zstd({ command: wrapper }).decode(chunks(viaCommand))))).toBe(sha(plain));
    expect(await fs.readFile(marker, 'utf8')).toMatch(/-d/);
    // no such command: the binding does the work (the optional dependency is installed here)
    const viaBinding = await collect(zstd({ command: path.join(dir, 'missing-zstd') }).encode(chunks(plain)));
    expect(sha(zstdCli(['-d', '-c'], viaBinding).stdout)).toBe(sha(plain));
  });

  it('the CLI implementation kills zstd when the consumer stops early', async () => {
    const ours = () => spawnSync('pgrep', ['-P', String(process.pid), '-x', 'zstd'], { encoding: 'utf8' }).stdout.trim();
    const it = zstd({ implementation: 'cli' }).encode(generatedStream(64 << 20))[Symbol.asyncIterator]();
    await it.next();
    expect(ours()).not.toBe('');
    await it.return!();
    // poll until the kernel reaped it instead of sleeping a fixed time
    for (let i = 0; i < 100 && ours() !== ''; i++) await new Promise((r) => setTimeout(r, 20));
    expect(ours()).toBe('');
  });

  it('128 MiB through native zstd and back with flat memory, output readable by `zstd -d`', { timeout: 120_000 }, async () => {
    const size = 128 << 20;
    const src = generatedStream(size, { chunk: 1 << 20 });
    const child = spawn('zstd', ['-d', '-c'], { stdio: ['pipe', 'pipe', 'inherit'] });
    const digest = createHash('sha256');
    let out = 0;
    child.stdout.on('data', (c: Buffer) => {
      digest.update(c);
      out += c.length;
    });
    const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
    const { peakGrowth } = await peakRss(async () => {
      for await (const c of zstd({ implementation: 'native', level: 1 }).encode(src)) {
        if (!child.stdin.write(c)) await new Promise((r) => child.stdin.once('drain', r));
      }
      child.stdin.end();
      expect(await closed).toBe(0);
    });
    expect(out).toBe(size);
    expect(digest.digest('hex')).toBe(src.sha256());
    expect(peakGrowth).toBeLessThan(96 << 20);
  });
});
