import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ArcaError, createArca, fileLock, localDir, lockFileName, type FileLockInfo, type Source } from '@arca/core';
import { generatedStream } from '@arca/core/test-kit';
import { tempDir } from './helpers.js';
import { bundleChild, startChild } from './process-harness.js';

/** A pid that surely belonged to a process that is gone now. */
function deadPid(): number {
  return Number(execFileSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).toString());
}

async function writeLock(dir: string, key: string, info: Partial<FileLockInfo>, ageMs = 0): Promise<string> {
  const file = path.join(dir, lockFileName(key));
  await fs.mkdir(dir, { recursive: true });
  await fs.writeFile(file, JSON.stringify({ v: 1, key, token: 'foreign', pid: 1, hostname: os.hostname(), acquiredAt: new Date().toISOString(), ...info }));
  const t = new Date(Date.now() - ageMs);
  await fs.utimes(file, t, t);
  return file;
}

describe('fileLock in one process', () => {
  it('gives a key to one holder at a time, releases idempotently, leaves no temp files', async () => {
    const dir = path.join(await tempDir('arca-lock'), 'locks');
    const lock = fileLock({ dir });
    const a = await lock.acquire('arca:job:daily');
    expect(a).toBeDefined();
    expect(await lock.acquire('arca:job:daily')).toBeUndefined(); // same process, same key: refused
    expect(await fileLock({ dir }).acquire('arca:job:daily')).toBeUndefined(); // another instance too
    const other = await lock.acquire('arca:job:weekly');
    expect(other).toBeDefined();
    const holder = JSON.parse(await fs.readFile(a!.file, 'utf8')) as FileLockInfo;
    expect(holder).toMatchObject({ key: 'arca:job:daily', pid: process.pid, hostname: os.hostname() });
    expect(await lock.inspect('arca:job:daily')).toMatchObject({ stale: false, holder: { pid: process.pid } });
    await a!.release();
    await a!.release();
    expect(await lock.inspect('arca:job:daily')).toBeUndefined();
    const again = await lock.acquire('arca:job:daily');
    expect(again).toBeDefined();
    await again!.release();
    await other!.release();
    expect(await fs.readdir(dir)).toEqual([]);
  });

  it('file names are safe and distinct for keys that escape to the same text', () => {
    const a = lockFileName('arca:job:a/b');
    const b = lockFileName('arca:job:a_b');
    expect(a).not.toBe(b);
    for (const n of [a, b, lockFileName('../../etc/passwd'), lockFileName('x'.repeat(500))]) {
      expect(n).toMatch(/^[A-Za-z0-9._-]+\.lock$/);
      expect(n.length).toBeLessThan(120);
      expect(n.startsWith('..')).toBe(false);
    }
  });

  it('a lock of another host is respected while its heartbeat is fresh and taken over once stale', async () => {
    const dir = await tempDir('arca-lock');
    const lock = fileLock({ dir, staleMs: 5_000 });
    const file = await writeLock(dir, 'k', { hostname: 'some-other-host', pid: 4242 }, 1_000);
    expect(await lock.acquire('k')).toBeUndefined();
    expect(await lock.inspect('k')).toMatchObject({ stale: false, holder: { hostname: 'some-other-host' } });
    const old = new Date(Date.now() - 6_000);
    await fs.utimes(file, old, old);
    expect((await lock.inspect('k'))?.reason).toMatch(/heartbeat is 6 s old/);
    const h = await lock.acquire('k');
    expect(h).toBeDefined();
    expect(JSON.parse(await fs.readFile(file, 'utf8')).pid).toBe(process.pid);
    await h!.release();
  });

  it('a lock of a dead pid on this host is taken over at once; an unreadable one waits for its heartbeat', async () => {
    const dir = await tempDir('arca-lock');
    const lock = fileLock({ dir });
    await writeLock(dir, 'dead', { pid: deadPid() });
    const h = await lock.acquire('dead');
    expect(h).toBeDefined();
    await h!.release();
    const garbage = path.join(dir, lockFileName('garbage'));
    await fs.writeFile(garbage, '');
    expect(await lock.acquire('garbage')).toBeUndefined();
    const old = new Date(Date.now() - 120_000);
    await fs.utimes(garbage, old, old);
    const g = await lock.acquire('garbage');
    expect(g).toBeDefined();
    await g!.release();
  });

  it('release after a takeover leaves the new holder alone; the heartbeat reports the loss', async () => {
    const dir = await tempDir('arca-lock');
    const mine = fileLock({ dir, staleMs: 400, heartbeatMs: 50 });
    const h = await mine.acquire('k');
    expect(h).toBeDefined();
    // Someone judged it stale and took it over (simulated by replacing the file).
    await fs.unlink(h!.file);
    await writeLock(dir, 'k', { pid: process.pid, token: 'theirs' });
    await new Promise<void>((resolve) => h!.lost.addEventListener('abort', () => resolve()));
    expect(h!.lost.reason).toBeInstanceOf(ArcaError);
    expect((h!.lost.reason as ArcaError).code).toBe('LOCKED');
    await h!.release();
    expect(JSON.parse(await fs.readFile(h!.file, 'utf8')).token).toBe('theirs');
  });

  it('a run whose lock is lost mid-run is aborted with LOCKED and commits nothing', async () => {
    const dir = await tempDir();
    const locks = path.join(dir, 'locks');
    let removed = false;
    const slow: Source = {
      kind: 'slow',
      describe: () => ({ kind: 'slow' }),
      async dump() {
        // 4 MiB in 64 KiB chunks, 20 ms apart (~1.3 s): time for the heartbeat to notice.
        const stream = generatedStream(4 << 20, {
          chunk: 64 << 10,
          onChunk: async (sent) => {
            if (!removed && sent > 1 << 20) {
              removed = true;
              for (const f of await fs.readdir(locks)) await fs.unlink(path.join(locks, f)); // another host's takeover, as seen by this one
            }
            await new Promise((r) => setTimeout(r, 20));
          },
        });
        return { filename: 'data.bin', stream, meta: async () => ({}) };
      },
    };
    const arca = createArca({
      destinations: { local: localDir({ path: path.join(dir, 'backups') }) },
      jobs: { j: { sources: { data: slow }, destinations: ['local'] } },
      lock: fileLock({ dir: locks, heartbeatMs: 50 }),
    });
    const run = await arca.run('j');
    expect(removed).toBe(true);
    expect(run.status).toBe('failed');
    expect(run.error?.code).toBe('LOCKED');
    expect(await arca.list('j')).toEqual([]);
  });

  it('rejects (never reports "held") when the folder cannot be used, and honours an aborted signal', async () => {
    const dir = await tempDir('arca-lock');
    const notADir = path.join(dir, 'file');
    await fs.writeFile(notADir, 'x');
    await expect(fileLock({ dir: path.join(notADir, 'locks') }).acquire('k')).rejects.toBeInstanceOf(ArcaError);
    const ac = new AbortController();
    ac.abort();
    await expect(fileLock({ dir }).acquire('k', { signal: ac.signal })).rejects.toMatchObject({ code: 'ABORTED' });
    expect(() => fileLock({ dir, staleMs: 1000, heartbeatMs: 1000 })).toThrow(/heartbeatMs must be smaller than staleMs/);
    expect(() => fileLock({} as never)).toThrow(ArcaError);
  });
});

describe('fileLock across real processes', () => {
  let child: string;
  let dir: string;
  beforeAll(async () => {
    dir = await tempDir('arca-lock-proc');
    child = await bundleChild(dir);
  });

  it('one process holds, another is refused; after kill -9 of the holder the lock is taken over', async () => {
    const locks = path.join(dir, 'kill9');
    const holder = startChild(child, ['hold', locks, 'arca:job:daily', '60000', '1000']);
    expect(await holder.next()).toMatchObject({ got: true, pid: holder.pid });
    const refused = startChild(child, ['try', locks, 'arca:job:daily', '60000', 'now']);
    expect(await refused.next()).toMatchObject({ got: false });
    expect(await fileLock({ dir: locks }).acquire('arca:job:daily')).toBeUndefined();

    holder.proc.kill('SIGKILL');
    await holder.exited;
    // Same host and the pid is gone: no need to wait for the 60 s heartbeat staleness.
    const taker = startChild(child, ['try', locks, 'arca:job:daily', '60000', 'now']);
    expect(await taker.next()).toMatchObject({ got: true });
    expect(await taker.exited).toBe(0);
    expect(await fs.readdir(locks)).toEqual([]);
  });

  it('a frozen holder (SIGSTOP) loses its lock once its heartbeat is stale, and learns it when it wakes up', async () => {
    const locks = path.join(dir, 'frozen');
    const holder = startChild(child, ['hold', locks, 'k', '600', '50']);
    expect(await holder.next()).toMatchObject({ got: true });
    holder.proc.kill('SIGSTOP');
    const lock = fileLock({ dir: locks, staleMs: 600 });
    expect(await lock.acquire('k')).toBeUndefined(); // pid alive, heartbeat fresh
    let mine;
    const deadline = Date.now() + 10_000;
    while (!(mine = await lock.acquire('k')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(mine).toBeDefined();
    holder.proc.kill('SIGCONT');
    expect(await holder.next()).toMatchObject({ lost: true, code: 'LOCKED' });
    holder.send('release');
    expect(await holder.next()).toMatchObject({ released: true });
    // The woken holder's release did not remove the new holder's lock.
    expect(await lock.inspect('k')).toMatchObject({ stale: false, holder: { pid: process.pid } });
    await mine!.release();
  });

  it('several processes breaking the same stale lock at the same moment: exactly one wins', async () => {
    const locks = path.join(dir, 'race');
    for (let round = 0; round < 1; round++) {
      await writeLock(locks, 'k', { pid: deadPid() });
      const racers = Array.from({ length: 4 }, () => startChild(child, ['try', locks, 'k', '60000', 'go', '1000']));
      for (const r of racers) expect(await r.next()).toMatchObject({ ready: true });
      for (const r of racers) r.send('go');
      const results = await Promise.all(racers.map((r) => r.next()));
      expect(results.filter((r) => r.got === true)).toHaveLength(1);
      await Promise.all(racers.map((r) => r.exited));
    }
  });
});
