/**
 * Fuzzing through the real `arca` binary (fast-check samples, run four at a time: each is a
 * process start): hostile job names, backup ids and artifact names → exit 1 or 2 with one
 * JSON document holding an error code and a message, never a crash (stack trace, INTERNAL),
 * and no file of the project (backups, data, config) created, changed or removed.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isValidName } from '@arca/core';
import { arca, buildCli, tempProject } from '../../packages/cli/test/cli-harness.js';
import { hostile } from './fuzz-inputs.js';
import { snapshotTree } from './tree-snapshot.js';

let dir: string;
beforeAll(async () => {
  await buildCli('security-fuzz');
  dir = await tempProject('security-fuzz');
  await fs.mkdir(path.join(dir, 'data'));
  await fs.writeFile(path.join(dir, 'data', 'a.txt'), 'alpha\n');
  await fs.writeFile(
    path.join(dir, 'arca.config.json'),
    JSON.stringify({ destinations: { local: { use: 'localDir', path: './backups' } }, jobs: { daily: { sources: { files: { use: 'directory', path: './data' } }, destinations: ['local'] } } }),
  );
  const r = await arca(['backup', '--json'], { cwd: dir });
  expect(r.code, r.stderr).toBe(0);
});
afterAll(async () => {
  if (dir && !process.env.ARCA_KEEP_TMP) await fs.rm(dir, { recursive: true, force: true });
});

/** Commands with one hostile argument; `filter`: a well-formed unknown name may just match nothing (exit 0). */
const COMMANDS: Array<{ args: (v: string) => string[]; filter?: boolean }> = [
  { args: (v) => ['list', v] },
  { args: (v) => ['show', 'daily', v] },
  { args: (v) => ['show', v, 'latest'] },
  { args: (v) => ['verify', 'daily', v] },
  { args: (v) => ['backup', v] },
  { args: (v) => ['restore', 'daily', 'latest', '--artifact', v, '--into', 'restored', '--yes'] },
  { args: (v) => ['restore', 'daily', v, '--into', 'restored', '--yes'] },
  { args: (v) => ['retry', 'daily', v] },
  { args: (v) => ['prune', v, '--dry-run'] },
  { args: (v) => ['runs', v], filter: true },
];

describe('arca CLI under hostile names', () => {
  it('an empty job name ("$JOB" unset in a script) is an unknown job, not every job: `arca prune ""` prunes nothing', async () => {
    for (const args of [['prune', ''], ['list', ''], ['runs', ''], ['backup', '']]) {
      const r = await arca([...args, '--json'], { cwd: dir });
      expect(r.code, `arca ${args.join(' ')}: ${r.stdout}`).toBe(2);
      expect(r.json().error).toMatchObject({ code: 'USAGE', message: expect.stringContaining('Unknown job ""') });
    }
  });

  it('exits 1 or 2 with a JSON error code and message, never a crash, and touches no file', async () => {
    const skip = (rel: string) => rel.startsWith('.arca');
    const before = await snapshotTree(dir, skip);
    // argv cannot carry NUL: the OS would cut the string there.
    const samples = fc.sample(fc.tuple(fc.nat(COMMANDS.length - 1), hostile.filter((v) => !v.includes('\0'))), { numRuns: 16 });
    const failures: string[] = [];
    let checked = 0;
    for (let i = 0; i < samples.length; i += 4) {
      await Promise.all(
        samples.slice(i, i + 4).map(async ([c, value]) => {
          const cmd = COMMANDS[c]!;
          const args = [...cmd.args(value), '--json'];
          const r = await arca(args, { cwd: dir });
          const where = `arca ${JSON.stringify(args)} → ${r.code}: ${r.stdout.slice(0, 300)} ${r.stderr.slice(-300)}`;
          if (/\n\s+at .+:\d+:\d+/.test(r.stderr)) failures.push(`stack trace: ${where}`);
          if (value === 'latest' || value === 'daily' || (cmd.filter && isValidName(value)) || value.startsWith('-')) return; // legit, or an option
          checked++;
          if (r.code !== 1 && r.code !== 2) return void failures.push(`exit code: ${where}`);
          let doc: { ok?: boolean; error?: { code?: string; message?: string } };
          try {
            doc = r.json();
          } catch {
            return void failures.push(`not one JSON document: ${where}`);
          }
          if (doc.ok !== false || !/^[A-Z_]+$/.test(doc.error?.code ?? '') || doc.error?.code === 'INTERNAL' || (doc.error?.message?.length ?? 0) < 10) failures.push(`error document: ${where}`);
        }),
      );
    }
    expect(failures).toEqual([]);
    expect(checked).toBeGreaterThan(8);
    expect(await snapshotTree(dir, skip)).toEqual(before);
  });
});
