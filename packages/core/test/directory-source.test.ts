import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import * as tar from 'tar-stream';
import { describe, expect, it } from 'vitest';
import { ArcaError, directory, type Source } from '@arca/core';
import { collect, testSource } from '@arca/core/test-kit';
import { readTree, tempDir, writeTree } from './helpers.js';

const FILES = {
  'tickets/1.txt': 'first ticket',
  'static/uploads/photo.jpg': Buffer.alloc(200_000, 3),
  'static/uploads/tmp/partial.bin': 'temp',
  'a very long folder name that goes on and on and on/and another long folder name for good measure/file with spaces and ünïcödé.txt': 'long',
  '.git/HEAD': 'ref: refs/heads/main',
  'node_modules/lib/index.js': 'module.exports = 1',
  'src/__pycache__/x.pyc': 'pyc',
  'venv/bin/python': 'py',
  'instance/config.py': 'SECRET=1',
  'empty.txt': '',
};

testSource('directory', async () => {
  const dir = await tempDir('arca-dir-kit');
  const src = path.join(dir, 'src');
  await writeTree(src, FILES);
  await fs.symlink('tickets/1.txt', path.join(src, 'latest'));
  let n = 0;
  return {
    source: directory({ path: src }),
    restoreTarget: async () => directory({ path: path.join(dir, `restored-${n++}`) }),
    assertRestored: async (t: Source) => {
      expect(await readTree(t.describe().path as string)).toEqual(await readTree(src));
    },
    snapshot: async (t: Source) => readTree(t.describe().path as string),
  };
});

async function tarOf(source: Source): Promise<string[]> {
  const dump = await source.dump();
  const names: string[] = [];
  const extract = tar.extract();
  const done = (async () => {
    for await (const e of extract as AsyncIterable<NodeJS.ReadableStream & { header: tar.Header; resume(): void }>) {
      names.push(e.header.type === 'symlink' ? `${e.header.name} -> ${e.header.linkname}` : e.header.name);
      e.resume();
    }
  })();
  extract.end(await collect(dump.stream));
  await done;
  return names;
}

async function* tarWith(entries: Array<{ header: Partial<tar.Header> & { name: string }; body?: string }>): AsyncIterable<Uint8Array> {
  const pack = tar.pack();
  for (const e of entries) pack.entry(e.header as tar.Header, e.body ?? '');
  pack.finalize();
  for await (const c of pack as AsyncIterable<Uint8Array>) yield c;
}

describe('directory source', () => {
  it('leaves out .git, node_modules, __pycache__, venv and instance at any depth, and path globs', async () => {
    const dir = await tempDir();
    await writeTree(dir, FILES);
    const names = await tarOf(directory({ path: dir, exclude: ['.git', 'node_modules', '__pycache__', 'venv', 'instance', 'static/uploads/tmp/**'] }));
    expect(names.filter((n) => !n.endsWith('/')).sort()).toEqual(
      [
        'a very long folder name that goes on and on and on/and another long folder name for good measure/file with spaces and ünïcödé.txt',
        'empty.txt',
        'static/uploads/photo.jpg',
        'tickets/1.txt',
      ].sort(),
    );
    expect(names).not.toContain('static/uploads/tmp/');
  });

  it('include keeps only matching files', async () => {
    const dir = await tempDir();
    await writeTree(dir, FILES);
    expect(await tarOf(directory({ path: dir, include: ['*.jpg', 'tickets/**'] }))).toEqual(['static/uploads/photo.jpg', 'tickets/1.txt']);
  });

  it('stores symlinks as links and never follows them out of the root', async () => {
    const dir = await tempDir();
    const outside = path.join(dir, 'outside-secret.txt');
    await fs.writeFile(outside, 'do not copy me');
    const root = path.join(dir, 'root');
    await writeTree(root, { 'a.txt': 'a' });
    await fs.symlink(outside, path.join(root, 'escape'));
    await fs.symlink(path.dirname(outside), path.join(root, 'escape-dir'));
    const dump = await directory({ path: root }).dump();
    const bytes = await collect(dump.stream);
    expect(bytes.includes(Buffer.from('do not copy me'))).toBe(false);
    expect(await dump.meta()).toMatchObject({ files: 1, symlinks: 2 });
    const names = await tarOf(directory({ path: root }));
    expect(names).toContain(`escape -> ${outside}`);
  });

  it('writes archives that GNU tar reads', async () => {
    const dir = await tempDir();
    await writeTree(path.join(dir, 'src'), FILES);
    const dump = await directory({ path: path.join(dir, 'src') }).dump();
    await fs.writeFile(path.join(dir, 'a.tar'), await collect(dump.stream));
    await fs.mkdir(path.join(dir, 'out'));
    execFileSync('tar', ['-xf', path.join(dir, 'a.tar'), '-C', path.join(dir, 'out')]);
    expect(await readTree(path.join(dir, 'out'))).toEqual(await readTree(path.join(dir, 'src')));
  });

  it('fails with NOT_FOUND for a missing folder', async () => {
    const e = await directory({ path: '/nonexistent/arca/folder' }).dump().catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ArcaError);
    expect((e as ArcaError).code).toBe('NOT_FOUND');
    expect((e as ArcaError).message).toContain('/nonexistent/arca/folder');
  });

  it('rejects invalid options with CONFIG_INVALID', () => {
    expect(() => directory({ path: '' })).toThrow(/Invalid options for directory/);
    expect(() => directory({ path: 'x', exclude: 'node_modules' as never })).toThrow(ArcaError);
  });

  it('an input that fails in the middle of a file fails the restore (no hang) and leaves the target unchanged', { timeout: 10_000 }, async () => {
    const dir = await tempDir();
    const target = path.join(dir, 'target');
    await writeTree(target, { 'keep.txt': 'precious\n' });
    const before = await readTree(target);
    const whole = await collect(tarWith([{ header: { name: 'big.bin', size: 300_000 }, body: 'x'.repeat(300_000) }]));
    async function* failing(): AsyncIterable<Uint8Array> {
      yield whole.subarray(0, 100_000); // the header and a third of the file
      throw new ArcaError('CHECKSUM_MISMATCH', 'the stored copy does not match its manifest');
    }
    const e = await directory({ path: target }).restore!(failing(), { overwrite: true }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ArcaError);
    expect((e as ArcaError).code).toBe('CHECKSUM_MISMATCH');
    expect(await readTree(target)).toEqual(before);
    expect((await fs.readdir(dir)).sort()).toEqual(['target']);
  });

  describe('restore refuses hostile archives (tar-slip) and changes nothing', () => {
    const cases: Array<[string, Array<{ header: Partial<tar.Header> & { name: string }; body?: string }>]> = [
      ['a ../ entry', [{ header: { name: 'ok.txt', size: 2 }, body: 'ok' }, { header: { name: '../evil.txt', size: 4 }, body: 'evil' }]],
      ['an absolute entry', [{ header: { name: '/tmp/arca-evil-abs.txt', size: 4 }, body: 'evil' }]],
      ['a nested ../ entry', [{ header: { name: 'a/../../evil.txt', size: 4 }, body: 'evil' }]],
      [
        'a file written through a symlink',
        [
          { header: { name: 'link', type: 'symlink', linkname: '/tmp' } },
          { header: { name: 'link/arca-evil-through-link.txt', size: 4 }, body: 'evil' },
        ],
      ],
    ];
    for (const [label, entries] of cases) {
      it(label, async () => {
        const dir = await tempDir();
        const target = path.join(dir, 'deep', 'target');
        const e = await directory({ path: target }).restore!(tarWith(entries)).catch((x: unknown) => x);
        expect(e).toBeInstanceOf(ArcaError);
        expect((e as ArcaError).code).toBe('CORRUPT_ARTIFACT');
        expect(await fs.readdir(path.join(dir, 'deep'))).toEqual([]);
        await expect(fs.stat(path.join(dir, 'evil.txt'))).rejects.toThrow();
        await expect(fs.stat(path.join(dir, 'deep', 'evil.txt'))).rejects.toThrow();
        await expect(fs.stat('/tmp/arca-evil-abs.txt')).rejects.toThrow();
        await expect(fs.stat('/tmp/arca-evil-through-link.txt')).rejects.toThrow();
      });
    }
  });
});
