/**
 * Commands and exit codes through the real binary, on one project (mjs config) with
 * directory jobs, a two-destination job, a job whose source is missing, a slow job (a custom
 * source that yields a 64 KiB chunk every 5 ms) and a scheduled job.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileLock } from '@arca/core';
import { arca, buildCli, CLI, listFiles, tempProject, waitForFile } from './cli-harness.js';

const CONFIG = `import { writeFileSync } from 'node:fs';
import { directory, localDir } from '@arca/core';

/** A source that takes its time: one 64 KiB chunk every delayMs. */
function slow({ chunks, delayMs }) {
  return {
    kind: 'slow',
    describe: () => ({ kind: 'slow', chunks }),
    async dump() {
      return {
        filename: 'data.bin',
        expectedBytes: chunks * 65536,
        stream: (async function* () {
          writeFileSync('dump-started', String(process.pid));
          for (let i = 0; i < chunks; i++) {
            await new Promise((r) => setTimeout(r, delayMs));
            yield new Uint8Array(65536).fill(i % 251);
          }
        })(),
        meta: async () => ({}),
      };
    },
  };
}

export default {
  destinations: { local: localDir({ path: './backups' }), mirror: localDir({ path: './mirror' }) },
  jobs: {
    files: { sources: { data: directory({ path: './data' }) }, destinations: ['local'] },
    twice: { sources: { data: directory({ path: './data' }) }, destinations: ['local', 'mirror'] },
    missing: { sources: { data: directory({ path: './no-such-folder' }) }, destinations: ['local'] },
    slow: { sources: { data: slow({ chunks: Number(process.env.SLOW_CHUNKS ?? '100000'), delayMs: 5 }) }, destinations: ['local'], compress: 'none' },
    nightly: { sources: { data: directory({ path: './data' }) }, destinations: ['local'], schedule: 'daily@02:00', health: { maxAge: '26h' } },
  },
};
`;

let dir: string;
const run = (args: string[], env?: Record<string, string | undefined>) => arca(args, { cwd: dir, env });

beforeAll(async () => {
  await buildCli('commands');
  dir = await tempProject('commands');
  await fs.mkdir(path.join(dir, 'data', 'sub'), { recursive: true });
  await fs.writeFile(path.join(dir, 'data', 'a.txt'), 'alpha\n');
  await fs.writeFile(path.join(dir, 'data', 'sub', 'b.txt'), 'beta\n'.repeat(1000));
  await fs.writeFile(path.join(dir, 'arca.config.mjs'), CONFIG);
});
afterAll(async () => {
  if (!process.env.ARCA_KEEP_TMP) await fs.rm(dir, { recursive: true, force: true });
});

describe('usage', () => {
  it('exit 2 for unknown commands, options and jobs; --help shows examples with exit 0', async () => {
    expect((await run(['frobnicate'])).code).toBe(2);
    expect((await run(['list', '--bogus'])).code).toBe(2);
    const job = await run(['backup', 'nosuchjob', '--json']);
    expect(job.code).toBe(2);
    expect(job.json().error).toMatchObject({ code: 'USAGE' });
    expect(job.json().error!.message).toMatch(/files, twice, missing, slow, nightly/);
    expect((await run(['verify', 'files', 'latest', '--level', 'bogus'])).code).toBe(2);
    const help = await run(['restore', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/Examples:[\s\S]*--into/);
  });
});

describe('exit codes of backup', () => {
  it('0 completed, then list/show/verify; 5 when a stored artifact is corrupt', async () => {
    const b = await run(['backup', 'files']);
    expect(b.code, b.stderr).toBe(0);
    expect(b.stdout).toMatch(/^files \S+ completed/);
    expect(b.stderr).not.toContain('\x1b['); // no progress drawing when stderr is not a terminal
    const show = await run(['show', 'files', 'latest', '--json']);
    const backup = show.json().result.backup;
    expect(backup.artifacts.map((a: { file: string }) => a.file)).toEqual(['data.tar.gz']);
    expect((await run(['verify', 'files', backup.id])).code).toBe(0);
    const file = path.join(dir, 'backups', 'files', backup.id, 'data.tar.gz');
    const bytes = await fs.readFile(file);
    bytes[bytes.length >> 1]! ^= 0xff;
    await fs.writeFile(file, bytes);
    const bad = await run(['verify', 'files', backup.id, '--json']);
    expect(bad.code).toBe(5);
    expect(bad.json().result.ok).toBe(false);
    expect(bad.json().result.destinations[0].artifacts[0].error.code).toBe('CHECKSUM_MISMATCH');
    expect((await run(['show', 'files', '20990101T000000Z-abcdef'])).code).toBe(1);
  });

  it('1 when a source fails; the worst run decides when several jobs run', async () => {
    const r = await run(['backup', 'files', 'missing', '--json']);
    expect(r.code).toBe(1);
    const runs = r.json().result.runs;
    expect(runs.map((x: { job: string; status: string }) => [x.job, x.status])).toEqual([
      ['files', 'completed'],
      ['missing', 'failed'],
    ]);
    expect(runs[1].error.code).toBe('NOT_FOUND');
  });

  it('3 partial when one destination fails; retry copies it later (0)', async () => {
    await fs.writeFile(path.join(dir, 'mirror'), 'a file where the mirror folder should be');
    const r = await run(['backup', 'twice', '--json']);
    expect(r.code).toBe(3);
    const res = r.json().result.runs[0];
    expect(res.status).toBe('partial');
    expect(res.destinations.map((d: { name: string; status: string }) => [d.name, d.status])).toEqual([
      ['local', 'completed'],
      ['mirror', 'failed'],
    ]);
    expect((await run(['retry', 'twice', res.backupId])).code).toBe(3); // still broken
    await fs.rm(path.join(dir, 'mirror'));
    const retry = await run(['retry', 'twice', res.backupId, '--json']);
    expect(retry.code).toBe(0);
    expect(retry.json().result).toMatchObject({ copied: ['mirror'], alreadyHeld: ['local'], failed: [] });
    expect(await listFiles(path.join(dir, 'mirror', 'twice', res.backupId))).toEqual(['data.tar.gz', 'manifest.json']);
  });

  it('4 when another process holds the job lock', async () => {
    const lock = fileLock({ dir: path.join(dir, '.arca', 'locks') });
    const held = await lock.acquire('arca:job:files');
    expect(held).toBeDefined();
    try {
      const r = await run(['backup', 'files', '--json']);
      expect(r.code).toBe(4);
      expect(r.json().result.runs[0].error.code).toBe('LOCKED');
    } finally {
      await held!.release();
    }
  });

  it('130 on SIGINT during a long backup: nothing committed, no temp file left, run recorded as aborted', async () => {
    let child: import('node:child_process').ChildProcess | undefined;
    const started = path.join(dir, 'dump-started');
    await fs.rm(started, { force: true });
    const done = arca(['backup', 'slow', '--json'], { cwd: dir, onSpawn: (c) => (child = c) });
    await waitForFile(started);
    child!.kill('SIGINT');
    const r = await done;
    expect(r.code).toBe(130);
    const res = r.json().result.runs[0];
    expect(res).toMatchObject({ job: 'slow', status: 'failed', error: { code: 'ABORTED' } });
    expect(await listFiles(path.join(dir, 'backups', 'slow'))).toEqual([]);
    expect((await listFiles(path.join(dir, 'backups'))).filter((f) => f.includes('.arca-tmp-'))).toEqual([]);
    const runs = await run(['runs', 'slow', '--json']);
    expect(runs.json().result.entries[0]).toMatchObject({ status: 'failed', error: { code: 'ABORTED' } });
  });

  it('draws a progress bar (bytes, rate, percent) on a terminal', async () => {
    // util-linux `script` runs the command on a pseudo-terminal and copies what it draws.
    const { stdout } = await promisify(execFile)('script', ['-qec', `${CLI} backup slow`, '/dev/null'], {
      cwd: dir,
      env: { ...process.env, SLOW_CHUNKS: '40', TERM: 'xterm', NO_COLOR: '1' },
    });
    expect(stdout).toMatch(/slow data [█░]+ +\d+% [\d.]+ (KiB|MiB)\/2\.5 MiB [\d.]+ (B|KiB|MiB|GiB)\/s/);
    expect(stdout).toContain('100%');
    expect(stdout).toContain('✓ local 2.5 MiB');
    expect(stdout).toMatch(/slow \S+ completed 2\.5 MiB/);
  });
});

describe('restore, prune, health, runs, schedule', () => {
  it('restores a folder in place with --yes, after a safety backup', async () => {
    const b = await run(['backup', 'files', '--json']);
    const id = b.json().result.runs[0].backupId;
    await fs.writeFile(path.join(dir, 'data', 'a.txt'), 'changed after the backup\n');
    const refused = await run(['restore', 'files', id, '--overwrite']);
    expect(refused.code).toBe(2);
    expect(await fs.readFile(path.join(dir, 'data', 'a.txt'), 'utf8')).toBe('changed after the backup\n');
    const r = await run(['restore', 'files', id, '--overwrite', '--yes', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json().result.safetyBackupId).toMatch(/^\d{8}T\d{6}(\d{3})?Z-/);
    expect(await fs.readFile(path.join(dir, 'data', 'a.txt'), 'utf8')).toBe('alpha\n');
  });

  it('on a terminal, restore asks first: anything but "yes" changes nothing', async () => {
    const b = await run(['backup', 'files', '--json']);
    const id = b.json().result.runs[0].backupId;
    await fs.writeFile(path.join(dir, 'data', 'a.txt'), 'edited\n');
    // `script` gives arca a pseudo-terminal; what is piped into script is typed on it.
    const ask = (answer: string) =>
      new Promise<{ code: number | null; out: string }>((resolve, reject) => {
        const child = execFile('script', ['-qec', `${CLI} restore files ${id} --overwrite --no-safety-backup; echo "exit=$?"`, '/dev/null'], { cwd: dir, env: { ...process.env, TERM: 'xterm', NO_COLOR: '1' } }, (err, stdout) =>
          err ? reject(err) : resolve({ code: Number(/exit=(\d+)/.exec(stdout)?.[1]), out: stdout }),
        );
        child.stdin!.end(`${answer}\n`);
      });
    const no = await ask('no');
    expect(no.out).toMatch(/IN PLACE, replacing data[\s\S]*WITHOUT a safety backup[\s\S]*Type "yes" to go on/);
    expect(no.code).toBe(2);
    expect(await fs.readFile(path.join(dir, 'data', 'a.txt'), 'utf8')).toBe('edited\n');
    const yes = await ask('yes');
    expect(yes.code, yes.out).toBe(0);
    expect(await fs.readFile(path.join(dir, 'data', 'a.txt'), 'utf8')).toBe('alpha\n');
  });

  it('prune --dry-run reports decisions and deletes nothing', async () => {
    const before = await listFiles(path.join(dir, 'backups'));
    const r = await run(['prune', '--dry-run', '--json']);
    expect(r.code).toBe(0);
    expect(r.json().result.dryRun).toBe(true);
    expect(r.json().result.jobs.find((j: { job: string }) => j.job === 'files').decisions.length).toBeGreaterThan(1);
    expect(await listFiles(path.join(dir, 'backups'))).toEqual(before);
  });

  it('health: 5 while a job has no backup, 0 once it has a fresh one', async () => {
    const sick = await run(['health', 'nightly', '--json']);
    expect(sick.code).toBe(5);
    expect(sick.json().result.jobs[0]).toMatchObject({ job: 'nightly', healthy: false });
    expect((await run(['backup', 'nightly'])).code).toBe(0);
    const ok = await run(['health', 'nightly']);
    expect(ok.code, ok.stdout).toBe(0);
    expect(ok.stdout).toMatch(/^healthy\s+nightly/);
  });

  it('schedule runs in the foreground and stops cleanly on SIGTERM (exit 0)', async () => {
    let child: import('node:child_process').ChildProcess | undefined;
    const done = arca(['schedule', '--json'], {
      cwd: dir,
      onSpawn: (c) => {
        child = c;
        c.stdout!.on('data', (d: Buffer) => {
          if (d.toString().includes('"event":"scheduled"')) c.kill('SIGTERM');
        });
      },
    });
    const r = await done;
    expect(child).toBeDefined();
    expect(r.code, r.stderr).toBe(0);
    const events = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(events[0]).toMatchObject({ event: 'scheduled', data: { job: 'nightly' } });
    expect(Date.parse(events[0].data.nextRun)).toBeGreaterThan(Date.now());
    expect(events.at(-1)).toMatchObject({ event: 'stopped' });
  });

  it('serve needs a token, answers 401 without it, and serves the UI and API with it', async () => {
    const none = await run(['serve', '--port', '0'], { ARCA_SERVE_TOKEN: undefined });
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/ARCA_SERVE_TOKEN/);
    const token = 'serve-token-5f1c2b9a7d3e';
    const checks: Array<Promise<void>> = [];
    const results: Record<string, number | string> = {};
    const r = await arca(['serve', '--port', '0', '--json'], {
      cwd: dir,
      env: { ARCA_SERVE_TOKEN: token },
      onSpawn: (c) => {
        let buf = '';
        c.stdout!.on('data', (d: Buffer) => {
          buf += d.toString();
          const line = buf.split('\n').find((l) => l.includes('"event":"listening"'));
          if (!line || checks.length) return;
          const url = JSON.parse(line).data.url as string;
          checks.push(
            (async () => {
              results.anonymous = (await fetch(`${url}api/jobs`)).status;
              results.wrong = (await fetch(`${url}api/jobs`, { headers: { authorization: 'Bearer not-the-token-at-all' } })).status;
              const api = await fetch(`${url}api/jobs`, { headers: { authorization: `Bearer ${token}` } });
              results.api = api.status;
              results.apiBody = await api.text();
              const page = await fetch(url, { headers: { authorization: `Basic ${Buffer.from(`ops:${token}`).toString('base64')}` } });
              results.page = page.status;
              results.pageBody = await page.text();
            })().finally(() => c.kill('SIGTERM')),
          );
        });
      },
    });
    await Promise.all(checks);
    expect(r.code, r.stderr).toBe(0);
    expect(results).toMatchObject({ anonymous: 401, wrong: 401, api: 200, page: 200 });
    expect(results.apiBody).toContain('nightly');
    expect(results.pageBody).toMatch(/<html[\s\S]*nightly/i);
    expect(r.stdout + r.stderr).not.toContain(token);
    expect(r.stdout.trim().split('\n').map((l) => JSON.parse(l).event)).toEqual(['listening', 'stopped']);
  });
});
