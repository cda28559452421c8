import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, expect } from 'vitest';
import { ArcaError } from '@arca/core';

// One hook, registered when a test file imports this module: vitest 4 never runs an
// afterAll registered from inside a test or another hook, so temp folders made there leaked.
const made: string[] = [];
afterAll(async () => {
  for (const dir of made.splice(0)) await fs.rm(dir, { recursive: true, force: true });
});

/** A fresh temp folder removed after the file's tests. */
export async function tempDir(label = 'arca'): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), `${label}-`));
  made.push(dir);
  return dir;
}

/** Write a small tree of files: { 'a/b.txt': 'content' }. */
export async function writeTree(root: string, files: Record<string, string | Buffer>): Promise<void> {
  for (const [rel, content] of Object.entries(files)) {
    const full = path.join(root, rel);
    await fs.mkdir(path.dirname(full), { recursive: true });
    await fs.writeFile(full, content);
  }
}

/** Every file under root (relative path → content), symlinks as `-> target`. */
export async function readTree(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  async function walk(rel: string) {
    for (const ent of await fs.readdir(path.join(root, rel), { withFileTypes: true })) {
      const r = rel ? `${rel}/${ent.name}` : ent.name;
      if (ent.isDirectory()) await walk(r);
      else if (ent.isSymbolicLink()) out[r] = `-> ${await fs.readlink(path.join(root, r))}`;
      else out[r] = (await fs.readFile(path.join(root, r))).toString('base64');
    }
  }
  await walk('');
  return out;
}

/** The ArcaError a promise rejects with (fails the test when it resolves or rejects with something else). */
export async function rejection(p: Promise<unknown>): Promise<ArcaError> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(ArcaError);
  return e as ArcaError;
}

/** `buf` in pieces of `size` bytes, as a stream of chunks. */
export async function* chunks(buf: Buffer, size = 10_000): AsyncIterable<Uint8Array> {
  for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, i + size);
}

/** Length and sha256 of a buffer: compared instead of the bytes (vitest's per-byte diff is slow on MiB-sized buffers). */
export const sha = (b: Buffer) => `${b.length} bytes ${createHash('sha256').update(b).digest('hex')}`;

/** A describeWithService check: `undefined` when every command answers `--version`, else why not. */
export const commandsInstalled = (what: string, ...commands: string[]) => async () =>
  commands.every((c) => spawnSync(c, ['--version']).status === 0) ? undefined : `${what} is not installed`;
