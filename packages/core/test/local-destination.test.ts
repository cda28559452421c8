import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ArcaError, localDir } from '@arca/core';
import { describeWithService, generatedStream, testDestination } from '@arca/core/test-kit';
import { tempDir } from './helpers.js';

testDestination('localDir', async () => {
  const dir = await tempDir('arca-local');
  return { destination: localDir({ path: path.join(dir, 'store') }) };
}, { recycles: true });

describe('localDir specifics', () => {
  it('check() reports a destination that cannot be created or written', async () => {
    const dir = await tempDir();
    await fs.writeFile(path.join(dir, 'a-file'), 'x');
    const bad = await localDir({ path: path.join(dir, 'a-file', 'backups') }).check!();
    expect(bad.ok).toBe(false);
    expect(bad.problems.join(' ')).toMatch(/not writable/);
    const good = await localDir({ path: path.join(dir, 'ok') }).check!();
    expect(good.ok).toBe(true);
    expect(good.facts.freeBytes).toBeGreaterThan(0);
  });

  it('put into a folder that cannot exist fails with a clear code and leaves nothing', async () => {
    const dir = await tempDir();
    await fs.writeFile(path.join(dir, 'a-file'), 'x');
    const d = localDir({ path: path.join(dir, 'a-file', 'store') });
    const e = await d.put('job/id/x', generatedStream(1000)).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ArcaError);
    expect((e as ArcaError).message).toContain('a-file');
  });
});

await describeWithService(
  'localDir on a full disk (1 MiB tmpfs)',
  async () => {
    if (process.getuid?.() !== 0) return 'needs root to mount a tmpfs';
    try {
      execFileSync('mount', ['--version'], { stdio: 'ignore' });
    } catch {
      return 'mount(8) not available';
    }
    return undefined;
  },
  () => {
    it('rejects with DEST_FULL and removes its temp file', async () => {
      const dir = await tempDir('arca-full');
      const mnt = path.join(dir, 'mnt');
      await fs.mkdir(mnt);
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mnt]);
      try {
        const d = localDir({ path: mnt });
        const e = await d.put('job/20261122T020000Z-abcd/big.bin', generatedStream(4 << 20)).catch((x: unknown) => x);
        expect(e).toBeInstanceOf(ArcaError);
        expect((e as ArcaError).code).toBe('DEST_FULL');
        expect((e as ArcaError).message).toMatch(/no space left/);
        const left: string[] = [];
        for await (const o of d.list('')) left.push(o.key);
        expect(left).toEqual([]);
        expect(await fs.readdir(path.join(mnt, 'job', '20261122T020000Z-abcd'))).toEqual([]);
      } finally {
        execFileSync('umount', [mnt]);
      }
    });
  },
);
