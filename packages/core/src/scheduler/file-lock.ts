import { createHash, randomUUID } from 'node:crypto';
import { readlinkSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { z } from 'zod';
import type { Lock, LockHandle } from '../contracts.js';
import { ArcaError, ErrorCodes, fsErrorToArca, throwIfAborted } from '../errors.js';
import { parseOptions } from '../options.js';

// Written by hand rather than with proper-lockfile: that library locks with mkdir and judges
// staleness by mtime only, so a crashed holder blocks for the whole stale period and there is
// no pid/host check; its compromised-lock handling also throws asynchronously. The protocol
// here is small: link(2) for atomic creation, pid/host for an immediate verdict on this
// machine, an mtime heartbeat for every other case, and a breaker file so two processes
// breaking the same stale lock cannot both win.

const FileLockOptions = z
  .object({
    /** Folder holding the lock files (created if missing). Share it between instances: a local folder, or NFS for several hosts. */
    dir: z.string().min(1),
    /** A lock whose heartbeat is older than this is stale and may be taken over (default 60 000 ms). */
    staleMs: z.number().int().min(100).optional(),
    /** How often the holder refreshes its heartbeat (default staleMs / 4). Must be below staleMs. */
    heartbeatMs: z.number().int().min(10).optional(),
  })
  .strict()
  .refine((o) => o.heartbeatMs === undefined || o.heartbeatMs < (o.staleMs ?? 60_000), {
    message: 'heartbeatMs must be smaller than staleMs, otherwise a live holder looks stale',
  });

export type FileLockOptions = z.input<typeof FileLockOptions>;

/** What a lock file holds (JSON); `token` identifies one acquisition. */
export interface FileLockInfo {
  v: 1;
  key: string;
  token: string;
  pid: number;
  hostname: string;
  /** Linux pid namespace (`pid:[4026531836]`): containers sharing a hostname do not share pids. */
  pidNs?: string;
  acquiredAt: string;
}

const HOST = os.hostname();
const PID_NS: string | undefined = (() => {
  try {
    return readlinkSync('/proc/self/ns/pid');
  } catch {
    return undefined;
  }
})();

/** A file name safe on every OS for any key, unique per key. */
export function lockFileName(key: string): string {
  const readable = key.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^\.+/, '').slice(0, 80);
  return `${readable}-${createHash('sha256').update(key).digest('hex').slice(0, 12)}.lock`;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // exists, owned by someone else
  }
}

const errno = (e: unknown) => (e as NodeJS.ErrnoException | undefined)?.code;

/**
 * Create `file` with `content` atomically, failing (false) if it exists. The content is
 * written to a private temp file first and hard-linked into place, so a reader never sees a
 * half-written lock. Filesystems without hard links fall back to O_EXCL creation.
 */
async function createExclusive(file: string, content: string): Promise<boolean> {
  const tmp = `${file}.${randomUUID()}.tmp`;
  await fs.writeFile(tmp, content, { flag: 'wx', mode: 0o644 });
  try {
    await fs.link(tmp, file);
    return true;
  } catch (e) {
    if (errno(e) === 'EEXIST') return false;
    if (!['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EXDEV'].includes(errno(e) ?? '')) throw e;
    try {
      await fs.writeFile(file, content, { flag: 'wx', mode: 0o644 });
      return true;
    } catch (e2) {
      if (errno(e2) === 'EEXIST') return false;
      throw e2;
    }
  } finally {
    await fs.unlink(tmp).catch(() => {});
  }
}

interface Inspection {
  info?: FileLockInfo;
  /** Raw content, to recognise the very same lock later. */
  raw: string;
  stale: boolean;
  reason: string;
}

/** Read a lock file and judge it; `undefined` when it does not exist (any more). */
async function inspect(file: string, staleMs: number): Promise<Inspection | undefined> {
  let raw: string;
  let mtimeMs: number;
  try {
    const h = await fs.open(file, 'r');
    try {
      raw = await h.readFile('utf8');
      mtimeMs = (await h.stat()).mtimeMs;
    } finally {
      await h.close();
    }
  } catch (e) {
    if (errno(e) === 'ENOENT') return undefined;
    throw e;
  }
  let info: FileLockInfo | undefined;
  try {
    const j = JSON.parse(raw) as FileLockInfo;
    if (j && typeof j.token === 'string' && typeof j.pid === 'number' && typeof j.hostname === 'string') info = j;
  } catch {
    // an empty (O_EXCL fallback mid-write) or foreign file: judged by its heartbeat only
  }
  const sameMachine = info !== undefined && info.hostname === HOST && (info.pidNs ?? PID_NS) === PID_NS;
  if (sameMachine && !isAlive(info!.pid)) return { info, raw, stale: true, reason: `holder pid ${info!.pid} on this host is gone` };
  const age = Date.now() - mtimeMs;
  if (age > staleMs) return { info, raw, stale: true, reason: `heartbeat is ${Math.round(age / 1000)} s old (stale after ${staleMs / 1000} s)` };
  return { info, raw, stale: false, reason: 'held' };
}

/**
 * Remove a stale lock, provided it is still the very one judged stale. A breaker file
 * serialises breakers: without it, two processes could both judge the same lock stale, one
 * removes it and takes a fresh lock, and the other then removes that fresh lock.
 * Returns true when the lock file is gone and creation may be retried.
 */
async function breakStale(file: string, judged: Inspection, staleMs: number, content: string): Promise<boolean> {
  const breaker = `${file}.break`;
  if (!(await createExclusive(breaker, content))) {
    // Someone is breaking it right now; a breaker left by a crashed process is removed when
    // stale itself (it is held for milliseconds), and the next acquire tries again.
    const b = await inspect(breaker, Math.min(staleMs, 10_000));
    if (b?.stale) await fs.unlink(breaker).catch(() => {});
    return false;
  }
  try {
    const now = await inspect(file, staleMs);
    if (!now) return true;
    if (now.raw !== judged.raw || !now.stale) return false;
    await fs.unlink(file).catch((e) => {
      if (errno(e) !== 'ENOENT') throw e;
    });
    return true;
  } finally {
    await fs.unlink(breaker).catch(() => {});
  }
}

export interface FileLockHandle extends LockHandle {
  /** Aborts when the heartbeat finds that the lock file was removed or taken over by another process. */
  readonly lost: AbortSignal;
  readonly file: string;
}

export interface FileLock extends Lock {
  acquire(key: string, o?: { signal?: AbortSignal }): Promise<FileLockHandle | undefined>;
  /** Who holds `key` now, and whether that lock is stale; `undefined` when nobody does. For status pages and diagnostics. */
  inspect(key: string): Promise<{ holder?: FileLockInfo; stale: boolean; reason: string } | undefined>;
  describe(): Record<string, unknown>;
}

/**
 * A `Lock` made of files in a shared folder: overlap protection for several processes on one
 * machine, or several machines sharing a folder (NFS; keep their clocks in sync).
 *
 * `acquire(key)` creates `<dir>/<key>.lock` atomically (temp file + `link`) holding the
 * holder's pid, hostname and a token, and resolves `undefined` at once when a live holder has
 * it. A holder refreshes the file's mtime every `heartbeatMs`. A lock is stale, and is taken
 * over, when its holder was on this machine and its pid is gone (a crash or `kill -9`: taken
 * over immediately), or when its heartbeat is older than `staleMs` (another host, a frozen
 * process, a reused pid). `release()` removes the file only if it still holds this
 * acquisition's token. File-system failures reject (`DEST_PERMISSION`, `DEST_FULL`, ...)
 * so a run fails rather than running unprotected; an aborted signal rejects with `ABORTED`.
 */
export function fileLock(options: FileLockOptions): FileLock {
  const opts = parseOptions(FileLockOptions, options, 'fileLock');
  const dir = path.resolve(opts.dir);
  const staleMs = opts.staleMs ?? 60_000;
  const heartbeatMs = opts.heartbeatMs ?? Math.max(10, Math.floor(staleMs / 4));
  const where = (key: string) => `Lock ${JSON.stringify(key)} in ${dir}`;

  async function acquire(key: string, o: { signal?: AbortSignal } = {}): Promise<FileLockHandle | undefined> {
    throwIfAborted(o.signal, 'Taking the lock');
    const file = path.join(dir, lockFileName(key));
    const info: FileLockInfo = { v: 1, key, token: randomUUID(), pid: process.pid, hostname: HOST, ...(PID_NS ? { pidNs: PID_NS } : {}), acquiredAt: new Date().toISOString() };
    const content = JSON.stringify(info) + '\n';
    try {
      await fs.mkdir(dir, { recursive: true });
      for (let attempt = 0; attempt < 3; attempt++) {
        throwIfAborted(o.signal, 'Taking the lock');
        if (await createExclusive(file, content)) return holdLock(key, file, content);
        const judged = await inspect(file, staleMs);
        if (!judged) continue; // released meanwhile
        if (!judged.stale) return undefined;
        if (!(await breakStale(file, judged, staleMs, content))) return undefined;
      }
      return undefined;
    } catch (e) {
      throw fsErrorToArca(e, where(key));
    }
  }

  function holdLock(key: string, file: string, content: string): FileLockHandle {
    const lost = new AbortController();
    let released = false;
    let timer: NodeJS.Timeout | undefined;
    let beating: Promise<void> = Promise.resolve();
    const stillOurs = async () => {
      try {
        return (await fs.readFile(file, 'utf8')) === content;
      } catch {
        return false;
      }
    };
    const beat = async () => {
      if (released) return;
      if (!(await stillOurs())) {
        lost.abort(new ArcaError(ErrorCodes.LOCKED, `${where(key)} was lost: its file was removed or taken over as stale (was this process frozen longer than staleMs?).`));
        return;
      }
      const t = new Date();
      await fs.utimes(file, t, t).catch(() => {});
      schedule();
    };
    const schedule = () => {
      if (released) return;
      timer = setTimeout(() => {
        beating = beat();
      }, heartbeatMs);
      timer.unref(); // a held lock never keeps the process alive by itself
    };
    schedule();
    return {
      file,
      lost: lost.signal,
      async release() {
        if (released) return;
        released = true;
        clearTimeout(timer);
        await beating;
        // Only remove our own lock: after a takeover the file belongs to someone else.
        if (await stillOurs()) await fs.unlink(file).catch(() => {});
      },
    };
  }

  return {
    acquire,
    async inspect(key) {
      const r = await inspect(path.join(dir, lockFileName(key)), staleMs);
      return r && { ...(r.info ? { holder: r.info } : {}), stale: r.stale, reason: r.reason };
    },
    describe: () => ({ kind: 'file-lock', dir, staleMs, heartbeatMs }),
  };
}
