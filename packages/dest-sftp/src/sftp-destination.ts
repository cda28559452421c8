import { randomBytes } from 'node:crypto';
import { posix } from 'node:path';
import { z } from 'zod';
import type { SFTPWrapper } from 'ssh2';
import {
  ArcaError,
  ErrorCodes,
  abortError,
  assertValidKey,
  assertValidPrefix,
  parseOptions,
  recyclerOf,
  registerSecret,
  throwIfAborted,
  walkPrefix,
  type CheckReport,
  type Destination,
  type ObjectInfo,
} from '@arca/core';
import { isConnectionLost, normalizeFingerprint, raceAbort, sftpConnector } from './sftp-connection.js';
import * as op from './sftp-ops.js';

const TMP_MARK = '.arca-tmp-';
/** Folders NAS systems keep inside shares (Synology recycle bin, thumbnails, snapshots): never listed by default. */
export const DEFAULT_EXCLUDED_DIRS = ['#recycle', '@eaDir', '#snapshot', '@Recycle', '.Trash-1000'];

const SftpOptions = z
  .object({
    /** Name used in results and the catalog. */
    name: z.string().optional(),
    host: z.string().min(1),
    port: z.number().int().min(1).max(65535).optional(),
    username: z.string().min(1),
    password: z.string().optional(),
    /** OpenSSH/PEM private key text (not a path: read the file yourself). */
    privateKey: z.string().optional(),
    passphrase: z.string().optional(),
    /** ssh-agent socket path, e.g. `process.env.SSH_AUTH_SOCK`. */
    agent: z.string().optional(),
    /** Expected host key fingerprint(s), as printed by `ssh-keyscan host | ssh-keygen -lf -`. */
    hostKey: z.object({ sha256: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]) }).optional(),
    /** Accept any host key. Makes man-in-the-middle attacks possible: tests and first setup only. */
    insecureSkipHostKeyCheck: z.boolean().optional(),
    /** Folder on the server (absolute, or relative to the login folder). Created on first write. */
    root: z.string().optional(),
    /** Folder names skipped when listing (default: NAS recycle bins and metadata folders). */
    excludeDirs: z.array(z.string().min(1)).optional(),
    /** WRITE/READ requests kept in flight per transfer (default 16; memory is about this × 256 KiB). */
    concurrency: z.number().int().min(1).max(64).optional(),
    readyTimeoutMs: z.number().int().positive().optional(),
    /** Close the connection after this long unused (default 30 s); it never keeps the process alive. */
    idleTimeoutMs: z.number().int().positive().optional(),
    /** Unix mode of stored files (default 0o600: backups are private). */
    fileMode: z.number().int().min(0).max(0o777).optional(),
  })
  .strict()
  .superRefine((o, ctx) => {
    if (o.password === undefined && o.privateKey === undefined && o.agent === undefined) {
      ctx.addIssue({ code: 'custom', path: ['password'], message: 'give a password, a privateKey or an agent socket' });
    }
    if (!o.hostKey && !o.insecureSkipHostKeyCheck) {
      ctx.addIssue({
        code: 'custom',
        path: ['hostKey'],
        message: "the server's host key fingerprint is required (get it with `ssh-keyscan -p PORT HOST | ssh-keygen -lf -`), or set insecureSkipHostKeyCheck: true",
      });
    }
    if (o.root !== undefined && (o.root.includes('\0') || o.root.split('/').includes('..'))) {
      ctx.addIssue({ code: 'custom', path: ['root'], message: 'must not contain ".." segments or NUL' });
    }
  });
export type SftpOptions = z.input<typeof SftpOptions>;

/** An SFTP destination, plus `close()` for hosts that want to drop the connection at shutdown. */
export interface SftpDestination extends Destination {
  close(): Promise<void>;
}

/** Wraps an error thrown by the data being written, so it is not mistaken for a server error. */
class DataError {
  constructor(readonly inner: unknown) {}
}

/**
 * A folder on an SSH server (NAS, remote host) over SFTP. The host key is verified against
 * the configured SHA-256 fingerprint (`DEST_HOST_KEY_MISMATCH` otherwise). Writes are atomic:
 * temp file in the same folder, fsync, `posix-rename` over the target.
 */
export function sftp(options: SftpOptions): SftpDestination {
  const opts = parseOptions(SftpOptions, options, 'sftp');
  registerSecret(opts.password);
  registerSecret(opts.passphrase);
  if (opts.privateKey) {
    registerSecret(opts.privateKey);
    for (const line of opts.privateKey.split(/\r?\n/)) if (line.length >= 16 && !line.startsWith('-----')) registerSecret(line.trim());
  }
  const port = opts.port ?? 22;
  const name = opts.name ?? 'sftp';
  const rootRaw = (opts.root ?? '').replace(/\/+$/, '');
  const root = rootRaw === '' && opts.root?.startsWith('/') ? '/' : rootRaw;
  const label = `SFTP destination ${name} (${opts.username}@${opts.host}:${port}${root ? ` ${root}` : ''})`;
  const concurrency = opts.concurrency ?? 16;
  const excluded = new Set(opts.excludeDirs ?? DEFAULT_EXCLUDED_DIRS);
  const fingerprints = opts.hostKey ? [opts.hostKey.sha256].flat().map(normalizeFingerprint) : [];
  const conn = sftpConnector({
    host: opts.host,
    port,
    username: opts.username,
    ...(opts.password !== undefined && { password: opts.password }),
    ...(opts.privateKey !== undefined && { privateKey: opts.privateKey }),
    ...(opts.passphrase !== undefined && { passphrase: opts.passphrase }),
    ...(opts.agent !== undefined && { agent: opts.agent }),
    fingerprints,
    insecureSkipHostKeyCheck: opts.insecureSkipHostKeyCheck ?? false,
    readyTimeoutMs: opts.readyTimeoutMs ?? 20_000,
    idleTimeoutMs: opts.idleTimeoutMs ?? 30_000,
    label,
  });

  const remote = (key: string) => (root === '' ? key : root === '/' ? `/${key}` : `${root}/${key}`);

  const toArca = (e: unknown, what: string, details: Record<string, unknown> = {}): ArcaError => {
    if (e instanceof ArcaError) return e;
    const msg = (e as Error)?.message ?? String(e);
    const where = `${label}: ${what}`;
    switch (op.sftpCode(e)) {
      case op.SFTP_NO_SUCH_FILE:
        return new ArcaError(ErrorCodes.NOT_FOUND, `${where}: not found.`, { cause: e, details });
      case op.SFTP_PERMISSION_DENIED:
        return new ArcaError(ErrorCodes.DEST_PERMISSION, `${where}: permission denied. Give user "${opts.username}" write access to ${root || 'its login folder'}.`, { cause: e, details });
      case op.SFTP_FAILURE:
        return new ArcaError(ErrorCodes.DEST_UNREACHABLE, `${where}: the server reported a failure (${msg}). Check free space, quotas and permissions on the server.`, { cause: e, details });
    }
    if (isConnectionLost(e)) {
      return new ArcaError(ErrorCodes.DEST_UNREACHABLE, `${where}: the connection was lost (${msg}). Check the network and the server, then retry.`, { cause: e, details });
    }
    return new ArcaError(ErrorCodes.DEST_UNREACHABLE, `${where}: ${msg}`, { cause: e, details });
  };

  /** SFTP reports a full disk as a generic FAILURE: ask the server (statvfs) to tell DEST_FULL apart. */
  async function explainWriteError(s: SFTPWrapper, e: unknown, what: string, details: Record<string, unknown>): Promise<ArcaError> {
    if (op.sftpCode(e) === op.SFTP_FAILURE) {
      const v = await op.statvfs(s, root || '.').catch(() => undefined);
      if (v && v.f_bavail * v.f_frsize < 1 << 20) {
        return new ArcaError(ErrorCodes.DEST_FULL, `${label}: ${what}: no space left on the server. Free space or prune old backups, then run again.`, { cause: e, details });
      }
    }
    return toArca(e, what, details);
  }

  async function openForWrite(s: SFTPWrapper, path: string): Promise<Buffer> {
    // Try first, create folders on NO_SUCH_FILE: one round trip in the common case, and
    // robust against a concurrent delete() pruning the (then empty) folder.
    for (let attempt = 0; ; attempt++) {
      try {
        return await op.open(s, path, 'w', opts.fileMode ?? 0o600);
      } catch (e) {
        if (op.sftpCode(e) !== op.SFTP_NO_SUCH_FILE || attempt >= 3) throw e;
        await op.mkdirp(s, posix.dirname(path));
      }
    }
  }

  const dest: SftpDestination = {
    name,
    kind: 'sftp',
    describe: () => ({
      kind: 'sftp',
      host: opts.host,
      port,
      username: opts.username,
      root: root || '.',
      auth: opts.privateKey ? 'key' : opts.agent ? 'agent' : 'password',
      hostKey: opts.insecureSkipHostKeyCheck ? 'NOT VERIFIED (insecureSkipHostKeyCheck)' : fingerprints,
    }),

    async put(key, data, o = {}) {
      assertValidKey(key);
      throwIfAborted(o.signal, `Writing ${key}`);
      const details = { destination: name, key };
      const full = remote(key);
      const tmp = posix.join(posix.dirname(full), `.${posix.basename(full)}${TMP_MARK}${randomBytes(4).toString('hex')}`);
      const lease = await conn.acquire(o.signal);
      const s = lease.sftp;
      let handle: Buffer | undefined;
      let bytes = 0;
      const inflight = new Set<Promise<void>>();
      let writeError: unknown;
      let it: AsyncIterator<Uint8Array> | undefined;
      try {
        handle = await raceAbort(lease.guard(openForWrite(s, tmp)), o.signal);
        const h = handle;
        it = data[Symbol.asyncIterator]();
        const recycle = recyclerOf(data);
        for (;;) {
          let step: IteratorResult<Uint8Array>;
          try {
            step = await it.next();
          } catch (e) {
            throw new DataError(e); // the producer failed: pass its error through unchanged
          }
          if (step.done) break;
          if (o.signal?.aborted || writeError !== undefined || lease.lost) {
            const done = it;
            it = undefined;
            await done.return?.();
            if (o.signal?.aborted) throw abortError(o.signal, `Writing ${key}`);
            break;
          }
          const given = step.value;
          const chunk = Buffer.from(given.buffer, given.byteOffset, given.byteLength);
          if (chunk.length === 0) continue;
          // Pipelined WRITEs: up to `concurrency` in flight (bounded memory), so throughput is
          // not one round trip per chunk. Once the server acknowledged a WRITE, its chunk goes
          // back to a Recyclable producer (see @arca/core's Recyclable).
          const w: Promise<void> = op.write(s, h, chunk, bytes).then(
            () => {
              inflight.delete(w);
              recycle?.(given);
            },
            (e: unknown) => {
              inflight.delete(w);
              writeError ??= e;
            },
          );
          inflight.add(w);
          bytes += chunk.length;
          if (inflight.size >= concurrency) await raceAbort(lease.guard(Promise.race(inflight)), o.signal);
        }
        await raceAbort(lease.guard(Promise.all(inflight)), o.signal);
        if (writeError !== undefined) throw writeError;
        throwIfAborted(o.signal, `Writing ${key}`);
        await lease.guard(op.fsync(s, h)).catch((e: unknown) => {
          if (op.sftpCode(e) !== undefined || lease.lost) throw e; // unsupported extension: skip
        });
        handle = undefined;
        await lease.guard(op.close(s, h));
        await raceAbort(lease.guard(op.replace(s, tmp, full)), o.signal);
        return { key, bytes };
      } catch (e) {
        // Remove the temp file (best effort: after a lost connection it stays, invisible to
        // list(), and is overwritten by name never, since names are random).
        if (!lease.lost) {
          await lease.guard(Promise.allSettled(inflight)).catch(() => {});
          if (handle) await lease.guard(op.close(s, handle)).catch(() => {});
          await lease.guard(op.unlink(s, tmp)).catch(() => {});
        }
        if (e instanceof DataError) throw e.inner;
        await it?.return?.().catch(() => {}); // stop the producer (its resources are released)
        if (o.signal?.aborted) throw abortError(o.signal, `Writing ${key}`);
        throw lease.lost ? toArca(e, `writing ${key}`, details) : await explainWriteError(s, e, `writing ${key}`, details);
      } finally {
        lease.release();
      }
    },

    async get(key, o = {}) {
      assertValidKey(key);
      throwIfAborted(o.signal);
      const full = remote(key);
      const details = { destination: name, key };
      const lease = await conn.acquire(o.signal);
      let handle: Buffer;
      let size: number;
      try {
        handle = await raceAbort(op.open(lease.sftp, full, 'r'), o.signal);
        const st = await op.fstat(lease.sftp, handle).catch(async (e: unknown) => {
          await op.close(lease.sftp, handle).catch(() => {});
          throw e;
        });
        if (!st.isFile()) {
          await op.close(lease.sftp, handle).catch(() => {});
          throw new ArcaError(ErrorCodes.NOT_FOUND, `${label}: ${key} is not a file.`, { details });
        }
        size = st.size;
      } catch (e) {
        lease.release();
        throw toArca(e, `reading ${key}`, details);
      }
      const s = lease.sftp;
      const h = handle;
      const blockSize = 1 << 18; // 256 KiB, under OpenSSH's READ limit
      return (async function* read(): AsyncGenerator<Uint8Array> {
        // Read-ahead: several READs in flight, yielded in order.
        const readBlock = async (pos: number, len: number): Promise<Buffer> => {
          const buf = Buffer.allocUnsafe(len);
          let got = 0;
          while (got < len) {
            const n = await lease.guard(op.read(s, h, buf, got, len - got, pos + got));
            if (n <= 0) throw new ArcaError(ErrorCodes.DEST_UNREACHABLE, `${label}: ${key} ended early while reading (changed on the server?).`, { details });
            got += n;
          }
          return buf;
        };
        const queue: Array<Promise<Buffer>> = [];
        let next = 0;
        const fill = () => {
          while (queue.length < Math.max(2, Math.min(concurrency, 8)) && next < size) {
            const len = Math.min(blockSize, size - next);
            const p = readBlock(next, len);
            p.catch(() => {}); // observed when awaited in order
            queue.push(p);
            next += len;
          }
        };
        try {
          fill();
          while (queue.length) {
            throwIfAborted(o.signal, `Reading ${key}`);
            let buf: Buffer;
            try {
              buf = await raceAbort(queue.shift()!, o.signal);
            } catch (e) {
              throw toArca(e, `reading ${key}`, details);
            }
            fill();
            yield buf;
          }
        } finally {
          await lease.guard(Promise.allSettled(queue)).catch(() => {});
          if (!lease.lost) await lease.guard(op.close(s, h)).catch(() => {});
          lease.release();
        }
      })();
    },

    async stat(key, o = {}) {
      assertValidKey(key);
      try {
        return await conn.use(o.signal, async (s) => {
          try {
            const st = await op.stat(s, remote(key));
            return st.isFile() ? { key, size: st.size, modifiedAt: new Date(st.mtime * 1000) } : undefined;
          } catch (e) {
            if (op.sftpCode(e) === op.SFTP_NO_SUCH_FILE) return undefined;
            throw e;
          }
        });
      } catch (e) {
        throw toArca(e, `stat ${key}`, { destination: name, key });
      }
    },

    list(prefix, o = {}): AsyncIterable<ObjectInfo> {
      assertValidPrefix(prefix);
      return walkPrefix(prefix, {
        signal: o.signal,
        skipDir: (d) => excluded.has(d),
        skipFile: (f) => !o.includeTemp && f.includes(TMP_MARK),
        async readDir(rel) {
          try {
            const entries = await conn.use(o.signal, (s) => op.readdir(s, rel ? remote(rel) : root || '.'));
            return entries.map((e) => ({ name: e.filename, kind: e.attrs.isDirectory() ? 'dir' : e.attrs.isFile() ? 'file' : 'other', size: e.attrs.size, modifiedAt: new Date(e.attrs.mtime * 1000) }));
          } catch (e) {
            if (op.sftpCode(e) === op.SFTP_NO_SUCH_FILE) return [];
            throw toArca(e, `listing ${rel || '/'}`, { destination: name, prefix });
          }
        },
      });
    },

    async delete(keys, o = {}) {
      for (const key of keys) assertValidKey(key);
      const parents = new Set<string>();
      try {
        for (let i = 0; i < keys.length; i += 32) {
          throwIfAborted(o.signal);
          await conn.use(o.signal, (s) =>
            Promise.all(
              keys.slice(i, i + 32).map((key) =>
                op.unlink(s, remote(key)).catch((e: unknown) => {
                  if (op.sftpCode(e) !== op.SFTP_NO_SUCH_FILE) throw Object.assign(e as object, { arcaKey: key });
                }),
              ),
            ),
          );
          for (const key of keys.slice(i, i + 32)) if (key.includes('/')) parents.add(key.slice(0, key.lastIndexOf('/')));
        }
      } catch (e) {
        const key = (e as { arcaKey?: string }).arcaKey;
        throw toArca(e, `deleting ${key ?? keys.join(', ')}`, { destination: name, key });
      }
      // Remove folders left empty, deepest first, up to (not including) the root. Best effort.
      const dirs = new Set<string>();
      for (const p of parents) for (let d = p; d; d = d.includes('/') ? d.slice(0, d.lastIndexOf('/')) : '') dirs.add(d);
      const sorted = [...dirs].sort((a, b) => b.split('/').length - a.split('/').length);
      await conn
        .use(o.signal, async (s) => {
          for (const d of sorted) await op.rmdir(s, remote(d)).catch(() => {});
        })
        .catch(() => {});
    },

    async check(o = {}): Promise<CheckReport> {
      const problems: string[] = [];
      const facts: Record<string, unknown> = { host: opts.host, port, username: opts.username, root: root || '.' };
      try {
        await conn.use(o.signal, async (s) => {
          facts.connected = true;
          const dir = root || '.';
          try {
            await op.mkdirp(s, dir);
            const st = await op.stat(s, dir);
            facts.exists = st.isDirectory();
            if (!st.isDirectory()) problems.push(`${dir} on ${opts.host} is not a folder: point root at a folder.`);
          } catch (e) {
            facts.exists = false;
            problems.push(`${dir} on ${opts.host} does not exist and cannot be created (${(e as Error).message}): create it and give user "${opts.username}" write access.`);
          }
          if (facts.exists) {
            const probe = posix.join(dir, `.probe${TMP_MARK}${randomBytes(4).toString('hex')}`);
            try {
              const h = await op.open(s, probe, 'w', 0o600);
              await op.write(s, h, Buffer.from('arca'), 0);
              await op.close(s, h);
              await op.unlink(s, probe);
              facts.writable = true;
            } catch (e) {
              facts.writable = false;
              await op.unlink(s, probe).catch(() => {});
              problems.push(`${dir} on ${opts.host} is not writable (${(e as Error).message}): give user "${opts.username}" write access.`);
            }
          }
          const ext = (s as unknown as { _extensions?: Record<string, string> })._extensions ?? {};
          facts.atomicReplace = ext['posix-rename@openssh.com'] === '1';
          try {
            const v = await op.statvfs(s, dir);
            facts.freeBytes = v.f_bavail * v.f_frsize;
            facts.totalBytes = v.f_blocks * v.f_frsize;
          } catch {
            /* no statvfs@openssh.com: no free-space facts */
          }
        });
      } catch (e) {
        const err = toArca(e, 'connecting');
        facts.connected = false;
        facts.errorCode = err.code;
        problems.push(err.message);
      }
      return { ok: problems.length === 0, problems, facts };
    },

    close: () => conn.close(),
  };
  return dest;
}
