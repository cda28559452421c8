import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createArca, directory, localDir, isArcaError } from '@arca/core';
import { tempDir, writeTree } from './helpers.js';

async function setup() {
  const dir = await tempDir();
  const src = path.join(dir, 'src');
  await writeTree(src, { 'a.txt': 'alpha', 'b.bin': Buffer.alloc(200_000, 3) });
  const arca = createArca({
    destinations: { first: localDir({ path: path.join(dir, 'd1') }), second: localDir({ path: path.join(dir, 'd2') }) },
    jobs: { daily: { sources: { files: directory({ path: src }) }, destinations: ['first', { name: 'second', priority: 5 }], schedule: 'daily@02:00', timezone: 'Europe/Rome' } },
  });
  const run = await arca.run('daily');
  return { dir, arca, run };
}

async function drain(s: AsyncIterable<Uint8Array>) {
  const h = createHash('sha256');
  let n = 0;
  for await (const c of s) {
    h.update(c);
    n += c.byteLength;
  }
  return { sha256: h.digest('hex'), bytes: n };
}

const code = async (p: Promise<unknown>) => p.then(() => 'resolved', (e) => (isArcaError(e) ? e.code : `not ArcaError: ${e}`));

describe('arca.openArtifact', () => {
  it('streams the stored bytes of an artifact and the manifest, from the first holder or a chosen one', async () => {
    const { arca, run } = await setup();
    const file = run.artifacts[0]!.file;
    const a = await arca.openArtifact('daily', run.backupId, file);
    expect(a).toMatchObject({ file, bytes: run.artifacts[0]!.bytes, sha256: run.artifacts[0]!.sha256, destination: 'first' });
    expect(await drain(a.stream)).toEqual({ sha256: a.sha256, bytes: a.bytes });
    const b = await arca.openArtifact('daily', run.backupId, file, { from: 'second' });
    expect(b.destination).toBe('second');
    expect((await drain(b.stream)).sha256).toBe(run.artifacts[0]!.sha256);
    const m = await arca.openArtifact('daily', run.backupId, 'manifest.json');
    const text = Buffer.concat(await (async () => { const out: Buffer[] = []; for await (const c of m.stream) out.push(Buffer.from(c)); return out; })()).toString();
    expect(JSON.parse(text).backupId).toBe(run.backupId);
    expect(m.bytes).toBe(Buffer.byteLength(text));
  });

  it('falls back to the next destination when the first lost the file, and throws CHECKSUM_MISMATCH for a corrupt copy', async () => {
    const { dir, arca, run } = await setup();
    const file = run.artifacts[0]!.file;
    await fs.rm(path.join(dir, 'd1', 'daily', run.backupId, file));
    const a = await arca.openArtifact('daily', run.backupId, file);
    expect(a.destination).toBe('second');
    expect((await drain(a.stream)).sha256).toBe(run.artifacts[0]!.sha256);
    const p = path.join(dir, 'd2', 'daily', run.backupId, file);
    const buf = await fs.readFile(p);
    buf[10] = buf[10]! ^ 0xff;
    await fs.writeFile(p, buf);
    const c = await arca.openArtifact('daily', run.backupId, file);
    expect(await code(drain(c.stream))).toBe('CHECKSUM_MISMATCH');
  });

  it('refuses bad ids and file names (KEY_INVALID) and unknown ones (NOT_FOUND)', async () => {
    const { arca, run } = await setup();
    const file = run.artifacts[0]!.file;
    expect(await code(arca.openArtifact('daily', '../x', file))).toBe('KEY_INVALID');
    expect(await code(arca.openArtifact('daily', run.backupId, '../../etc/passwd'))).toBe('KEY_INVALID');
    expect(await code(arca.openArtifact('daily', run.backupId, 'a\0b'))).toBe('KEY_INVALID');
    expect(await code(arca.openArtifact('daily', run.backupId, 'sub/file'))).toBe('KEY_INVALID');
    expect(await code(arca.openArtifact('daily', run.backupId, 'other.tar.gz'))).toBe('NOT_FOUND');
    expect(await code(arca.openArtifact('nope', run.backupId, file))).toBe('NOT_FOUND');
    expect(await code(arca.openArtifact('daily', '20200101T000000Z-abcd', file))).toBe('NOT_FOUND');
    expect(await code(arca.openArtifact('daily', run.backupId, file, { from: 'elsewhere' }))).toBe('NOT_FOUND');
  });
});

describe('arca.describeJob', () => {
  it('shows schedule, sources, destinations in priority order and capabilities', async () => {
    const { arca } = await setup();
    const info = arca.describeJob('daily');
    expect(info).toMatchObject({ name: 'daily', schedule: 'daily@02:00', timezone: 'Europe/Rome', retention: null, codecs: ['gzip'] });
    expect(info.sources.map((s) => [s.name, s.kind, s.canRestore])).toEqual([['files', 'directory', true]]);
    expect(info.destinations.map((d) => [d.name, d.kind, d.priority, d.canCheck])).toEqual([['first', 'local', 0, true], ['second', 'local', 5, true]]);
    expect(() => arca.describeJob('nope')).toThrow(/Unknown job/);
  });
});
