import { spawnSync } from 'node:child_process';
import { gunzipSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { ArcaError, gzip } from '@arca/core';
import { collect, describeWithService } from '@arca/core/test-kit';
import { chunks, commandsInstalled, rejection, sha } from './helpers.js';

/** CSV-like rows (compressible) with a pseudo-random column, so blocks differ. */
const csv = (bytes: number) => {
  const rows: string[] = [];
  let len = 0;
  for (let i = 0; len < bytes; i++) {
    const r = `${i},ticket-${i % 97},"customer ${(i * 2654435761) % 100003}",open\n`;
    rows.push(r);
    len += r.length;
  }
  return Buffer.from(rows.join('')).subarray(0, bytes);
};
const cli = (args: string[], input: Buffer) => spawnSync('gzip', args, { input, maxBuffer: 256 << 20 });
const hasGzip = commandsInstalled('the `gzip` command (Debian package gzip)', 'gzip');

describe('gzip options', () => {
  it('validates level, threads and block size; describes only the level', () => {
    expect(() => gzip({ level: 0 })).toThrow(/level/);
    expect(() => gzip({ threads: 0 })).toThrow(/threads/);
    expect(() => gzip({ threads: 1.5 })).toThrow(/threads/);
    expect(() => gzip({ blockSize: 0 })).toThrow(/blockSize/);
    expect(gzip({ level: 9, threads: 4 }).describe()).toEqual({ level: 9 });
  });
});

describe('parallel gzip: one standard member, block boundaries', () => {
  const block = 40_000; // > 32 KiB: each block is primed with the previous block's tail
  const sizes = [0, 1, block - 1, block, block + 1, 2 * block, 3 * block + 7];
  for (const threads of [1, 2, 3]) {
    it(`threads=${threads}: sizes around multiples of the block round-trip through zlib and Arca`, async () => {
      const codec = gzip({ threads, blockSize: block });
      for (const size of sizes) {
        const data = csv(size);
        for (const chunk of [997, block, 3 * block]) {
          const z = await collect(codec.encode(chunks(data, chunk)));
          expect(z.subarray(0, 2).toString('hex'), `size ${size}`).toBe('1f8b');
          expect(sha(gunzipSync(z)), `size ${size} chunk ${chunk}`).toBe(sha(data));
          expect(sha(await collect(codec.decode(chunks(z, 4096)))), `size ${size}`).toBe(sha(data));
          // One member: the trailer's CRC-32 and ISIZE are those of the whole input.
          expect(z.readUInt32LE(z.length - 4)).toBe(size);
        }
      }
    });
  }

  it('blocks smaller than the 32 KiB window (dictionary spans several blocks)', async () => {
    const data = csv(50_000);
    const z = await collect(gzip({ threads: 2, blockSize: 1000 }).encode(chunks(data, 333)));
    expect(sha(gunzipSync(z))).toBe(sha(data));
  });

  it('compresses as well as single-threaded zlib and a few KB cost one small member', async () => {
    const data = csv(3 << 20);
    const par = await collect(gzip({ threads: 2 }).encode(chunks(data, 1 << 16)));
    const ref = gzipSync(data, { level: 6 });
    expect(par.length).toBeLessThan(ref.length * 1.002);
    const small = csv(4000);
    const z = await collect(gzip({ threads: 4 }).encode(chunks(small)));
    expect(Math.abs(z.length - gzipSync(small).length)).toBeLessThanOrEqual(8);
  });

  it('empty input is a valid empty gzip file', async () => {
    const z = await collect(gzip({ threads: 2 }).encode(chunks(Buffer.alloc(0))));
    expect(gunzipSync(z).length).toBe(0);
    expect(await collect(gzip().decode(chunks(z)))).toEqual(Buffer.alloc(0));
  });

  it('backpressure: reads at most threads + 1 blocks ahead of a consumer that stopped pulling', async () => {
    const block = 64 * 1024;
    let pulled = 0;
    async function* source() {
      for (let i = 0; i < 100; i++) {
        pulled += block;
        yield csv(block);
      }
    }
    const it = gzip({ threads: 2, blockSize: block }).encode(source())[Symbol.asyncIterator]();
    await it.next(); // header
    await it.next(); // first block
    await new Promise((r) => setTimeout(r, 100));
    expect(pulled).toBeLessThanOrEqual(4 * block);
    await it.return?.();
  });

  it('an aborted signal ends with ABORTED; an input error passes through unchanged', async () => {
    const ac = new AbortController();
    async function* source() {
      for (let i = 0; i < 50; i++) {
        if (i === 5) ac.abort();
        yield csv(64 * 1024);
      }
    }
    const e = await rejection(collect(gzip({ threads: 2, blockSize: 64 * 1024 }).encode(source(), { signal: ac.signal })));
    expect(e.code).toBe('ABORTED');

    const boom = new ArcaError('SOURCE_FAILED', 'the source broke');
    async function* failing() {
      yield csv(200_000);
      throw boom;
    }
    const f = await collect(gzip({ threads: 2, blockSize: 64 * 1024 }).encode(failing())).catch((x: unknown) => x);
    expect(f).toBe(boom);
  });
});

describe('gzip decode', () => {
  it('corrupt or truncated data is CORRUPT_ARTIFACT', async () => {
    const data = csv(300_000);
    const z = await collect(gzip({ threads: 2, blockSize: 50_000 }).encode(chunks(data)));
    const flipped = Buffer.from(z);
    flipped[Math.floor(z.length / 2)]! ^= 0x55;
    expect((await rejection(collect(gzip().decode(chunks(flipped))))).code).toBe('CORRUPT_ARTIFACT');
    expect((await rejection(collect(gzip().decode(chunks(z.subarray(0, z.length - 20)))))).code).toBe('CORRUPT_ARTIFACT');
    const badCrc = Buffer.from(z);
    badCrc[z.length - 8]! ^= 1;
    expect((await rejection(collect(gzip().decode(chunks(badCrc))))).code).toBe('CORRUPT_ARTIFACT');
  });

  it('reads concatenated members (cat a.gz b.gz, pigz --independent)', async () => {
    const a = csv(100_000);
    const b = Buffer.from('second member\n'.repeat(1000));
    const z = Buffer.concat([gzipSync(a), gzipSync(b, { level: 1 })]);
    expect(sha(await collect(gzip().decode(chunks(z, 7777))))).toBe(sha(Buffer.concat([a, b])));
  });
});

await describeWithService('gzip interop with the gzip command', hasGzip, () => {
  it('`gzip -t` and `gunzip` accept Arca output at every block boundary; Arca reads `gzip -1/-9` output', async () => {
    const block = 40_000;
    for (const size of [0, 1, block, block + 1, 5 * block]) {
      const data = csv(size);
      const z = await collect(gzip({ threads: 2, blockSize: block }).encode(chunks(data, 12_345)));
      expect(cli(['-t'], z).status, `size ${size}`).toBe(0);
      const out = cli(['-dc'], z);
      expect(out.status).toBe(0);
      expect(sha(out.stdout)).toBe(sha(data));
    }
    const data = csv(2 << 20);
    const big = await collect(gzip().encode(chunks(data, 1 << 16)));
    const listed = spawnSync('sh', ['-c', 'gzip -t && echo ok'], { input: big, encoding: 'utf8' });
    expect(listed.stdout.trim()).toBe('ok');
    for (const level of ['-1', '-9']) {
      const z = cli(['-c', level], data).stdout;
      expect(sha(await collect(gzip().decode(chunks(z, 65_536))))).toBe(sha(data));
    }
    const twoMembers = Buffer.concat([cli(['-c'], data.subarray(0, 1000)).stdout, cli(['-c'], data.subarray(1000)).stdout]);
    expect(sha(await collect(gzip().decode(chunks(twoMembers))))).toBe(sha(data));
  });
});
