import { randomBytes } from 'node:crypto';
import { posix } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { z } from 'zod';
import { FTPError, type Client } from 'basic-ftp';
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
import { ftpConnector, ftpErrorToArca, normalizeCertFingerprint } from './ftp-connection.js';
import { DataError, storeFrom } from './upload.js';

const TMP_MARK = '.arca-tmp-';
/** In-progress files of the server itself (pure-ftpd uploads to `.pureftpd-upload.*` / `.pureftpd-rename.*` first). */
const isServerTemp = (name: string) => name.startsWith('.pureftpd-');
/** Folders NAS systems keep inside shares (Synology recycle bin, thumbnails, snapshots): never listed by default. */
export const DEFAULT_EXCLUDED_DIRS = ['#recycle', '@eaDir', '#snapshot', '@Recycle', '.Trash-1000'];

const FtpOptions = z
  .object({
    /** Name used in results and the catalog. */
    name: z.string().optional(),
    host: z.string().min(1),
    port: z.number().int().min(1).max(65535).optional(),
    user: z.string().min(1),
    password: z.string(),
    /** `true`: explicit TLS (AUTH TLS, recommended); `'implicit'`: FTPS on its own port (990); `false`: plain FTP. */
    secure: z.union([z.boolean(), z.literal('implicit')]).optional(),
    tlsOptions: z
      .object({
        /** PEM of the CA (or the self-signed certificate itself) to trust. */
        ca: z.string().optional(),
        /** Pin the server certificate by SHA-256 fingerprint (`AA:BB:...`) instead of a CA: for self-signed NAS certificates. */
        certFingerprint256: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).optional(),
        /** Name the certificate must carry, when it differs from `host`. */
        servername: z.string().optional(),
        /** Accept any certificate. Makes man-in-the-middle attacks possible: tests only. */
        insecureSkipVerify: z.boolean().optional(),
      })
      .strict()
      .optional(),
    /** Folder on the server (absolute, or relative to the login folder). Created on first write. */
    root: z.string().optional(),
    /** Folder names skipped when listing (default: NAS recycle bins and metadata folders). */
    excludeDirs: z.array(z.string().min(1)).optional(),
    /** Control/data connection timeout (default 30 s): a silent server fails the operation after this. */
    timeoutMs: z.number().int().positive().optional(),
    /** Close the connection after this long unused (default 30 s); it never keeps the process alive. */
    idleTimeoutMs: z.number().int().positive().optional(),
    /** Control connections opened at most (default 3): one per operation in progress, so a stat can run during an upload. */
    maxConnections: z.number().int().min(1).max(16).optional(),
  })
  .strict()
  .superRefine((o, ctx) => {
    if (o.root !== undefined && (o.root.includes('\0') || o.root.split('/').includes('..'))) {
      ctx.addIssue({ code: 'custom', path: ['root'], message: 'must not contain ".." segments or NUL' });
    }
    if (o.tlsOptions && !o.secure) {
      ctx.addIssue({ code: 'custom', path: ['tlsOptions'], message: 'tlsOptions need secure: true or "implicit"' });
    }
  });
export type FtpOptions = z.input<typeof FtpOptions>;

/** An FTP destination, plus `close()` for hosts that want to drop the connection at shutdown. */
export interface FtpDestination extends Destination {
  close(): Promise<void>;
}

/**
 * A folder on an FTP or FTPS server (hosting plans, NAS). Writes are atomic: upload to a temp
 * name in the same folder, then RNFR/RNTO over the target. Certificates are verified by
 * default (`tlsOptions.ca` or `certFingerprint256` for self-signed ones).
 */
export function ftp(options: FtpOptions): FtpDestination {
  const opts = parseOptions(FtpOptions, options, 'ftp');
  registerSecret(opts.password);
  const secure = opts.secure ?? false;
  const port = opts.port ?? (secure === 'implicit' ? 990 : 21);
  const name = opts.name ?? 'ftp';
  const rootOpt = (opts.root ?? '').replace(/\/+$/, '');
  const label = `FTP destination ${name} (${opts.user}@${opts.host}:${port}${rootOpt ? ` ${rootOpt}` : ''})`;
  const excluded = new Set(opts.excludeDirs ?? DEFAULT_EXCLUDED_DIRS);
  const t = opts.tlsOptions ?? {};
  const certFingerprints = t.certFingerprint256 ? [t.certFingerprint256].flat().map(normalizeCertFingerprint) : [];
  const conn = ftpConnector({
    host: opts.host,
    port,
    user: opts.user,
    password: opts.password,
    secure,
    tls: {
      ...(t.ca !== undefined && { ca: t.ca }),
      ...(t.servername !== undefined && { servername: t.servername, host: t.servername }),
      ...(t.insecureSkipVerify && { rejectUnauthorized: false }),
    },
    certFingerprints,
    timeoutMs: opts.timeoutMs ?? 30_000,
    idleTimeoutMs: opts.idleTimeoutMs ?? 30_000,
    maxConnections: opts.maxConnections ?? 3,
    label,
  });
  const errInfo = { label, user: opts.user, host: opts.host, port };
  const toArca = (e: unknown, what: string, details: Record<string, unknown> = {}) => ftpErrorToArca(e, errInfo, what, { destination: name, ...details });

  /** Absolute server path of the root (relative roots resolve against the login folder). */
  const rootOf = (home: string) => (rootOpt.startsWith('/') ? rootOpt || '/' : posix.join(home, rootOpt || '.'));
  const remote = (home: string, key: string) => posix.join(rootOf(home), key);

  /** Does a file exist? (SIZE answers 550 for missing files and for folders.) */
  async function fileSize(c: Client, path: string): Promise<number | undefined> {
    try {
      return await c.size(path);
    } catch (e) {
      if (e instanceof FTPError && e.code >= 500) return undefined;
      throw e;
    }
  }

  const dest: FtpDestination = {
    name,
    kind: 'ftp',
    describe: () => ({
      kind: 'ftp',
      host: opts.host,
      port,
      user: opts.user,
      root: rootOpt || '.',
      tls: secure === 'implicit' ? 'implicit' : secure ? 'explicit' : 'none',
      certificate: !secure ? undefined : t.insecureSkipVerify ? 'NOT VERIFIED (insecureSkipVerify)' : certFingerprints.length ? { pinned: certFingerprints } : t.ca ? 'custom CA' : 'system CAs',
    }),

    async put(key, data, o = {}) {
      assertValidKey(key);
      throwIfAborted(o.signal, `Writing ${key}`);
      const details = { key };
      let bytes = 0;
      let tmp: string | undefined;
      const source = data[Symbol.asyncIterator]();
      const recycle = recyclerOf(data);
      let sourceDone = false;
      try {
        await conn.use(
          o.signal,
          async (c, home) => {
            const full = remote(home, key);
            const dir = posix.dirname(full);
            tmp = posix.join(dir, `.${posix.basename(full)}${TMP_MARK}${randomBytes(4).toString('hex')}`);
            await c.ensureDir(dir);
            try {
              await storeFrom(c, source, tmp, (n) => {
                throwIfAborted(o.signal, `Writing ${key}`);
                bytes += n;
              }, recycle);
              sourceDone = true;
            } catch (e) {
              // After a failed transfer the control connection's state is unknown: drop it.
              c.close();
              if (e instanceof DataError) sourceDone = true; // the source threw: it is finished
              throw e;
            }
            try {
              await c.rename(tmp, full);
            } catch (e) {
              // Servers that refuse RNTO over an existing file (pure-ftpd does not): delete, then rename.
              if (!(e instanceof FTPError) || (await fileSize(c, full)) === undefined) throw e;
              await c.remove(full);
              await c.rename(tmp, full);
            }
            tmp = undefined;
          },
          false,
        );
        return { key, bytes };
      } catch (e) {
        // Stop the producer; not awaited (as a destroyed stream would not be): a source blocked
        // in next() must not keep this failure from being reported.
        if (!sourceDone) Promise.resolve(source.return?.()).catch(() => {});
        if (tmp) {
          const leftover = tmp;
          // Best effort on a fresh connection; if the server is gone the temp name stays, hidden from list().
          await conn.use(undefined, (c) => c.remove(leftover, true), false).catch(() => {});
        }
        if (e instanceof DataError) {
          if ((e.inner as ArcaError)?.code === ErrorCodes.ABORTED || o.signal?.aborted) throw abortError(o.signal, `Writing ${key}`);
          throw e.inner;
        }
        if (o.signal?.aborted) throw abortError(o.signal, `Writing ${key}`);
        throw toArca(e, `writing ${key}`, details);
      }
    },

    async get(key, o = {}) {
      assertValidKey(key);
      const lease = await conn.acquire(o.signal);
      const c = lease.client;
      const full = remote(lease.home, key);
      let size: number | undefined;
      try {
        size = await fileSize(c, full);
      } catch (e) {
        c.close();
        lease.release();
        throw toArca(e, `reading ${key}`, { key });
      }
      if (size === undefined) {
        lease.release();
        throw new ArcaError(ErrorCodes.NOT_FOUND, `${label}: ${key}: not found.`, { details: { destination: name, key } });
      }
      const out = new PassThrough({ highWaterMark: 1 << 18 });
      const onAbort = () => {
        c.close();
        out.destroy(abortError(o.signal, `Reading ${key}`));
      };
      o.signal?.addEventListener('abort', onAbort, { once: true });
      const done = c.downloadTo(out, full).then(
        () => undefined,
        (e: unknown) => {
          c.close();
          if (!out.destroyed) out.destroy(o.signal?.aborted ? abortError(o.signal) : toArca(e, `reading ${key}`, { key }));
        },
      );
      const finish = async () => {
        o.signal?.removeEventListener('abort', onAbort);
        await done;
        lease.release();
      };
      return (async function* () {
        try {
          for await (const chunk of out) yield chunk as Uint8Array;
        } catch (e) {
          throw e instanceof ArcaError ? e : toArca(e, `reading ${key}`, { key });
        } finally {
          if (!out.readableEnded) {
            // Stopped early: closing the connection is the only way to stop an FTP download.
            c.close();
            out.destroy();
          }
          await finish();
        }
      })();
    },

    async stat(key, o = {}) {
      assertValidKey(key);
      try {
        return await conn.use(o.signal, async (c, home) => {
          const full = remote(home, key);
          const size = await fileSize(c, full);
          if (size === undefined) return undefined;
          const modifiedAt = await c.lastMod(full).catch(() => undefined);
          return { key, size, ...(modifiedAt && { modifiedAt }) };
        });
      } catch (e) {
        throw toArca(e, `stat ${key}`, { key });
      }
    },

    list(prefix, o = {}): AsyncIterable<ObjectInfo> {
      assertValidPrefix(prefix);
      return walkPrefix(prefix, {
        signal: o.signal,
        skipDir: (d) => excluded.has(d),
        skipFile: (f) => !o.includeTemp && (f.includes(TMP_MARK) || isServerTemp(f)),
        async readDir(rel) {
          try {
            const entries = await conn.use(o.signal, async (c, home) => {
              try {
                return await c.list(rel ? remote(home, rel) : rootOf(home));
              } catch (e) {
                if (e instanceof FTPError && e.code === 550) return []; // no such folder
                throw e;
              }
            });
            return entries.map((e) => ({ name: e.name, kind: e.isDirectory ? 'dir' : e.isFile ? 'file' : 'other', size: e.size, ...(e.modifiedAt && { modifiedAt: e.modifiedAt }) }));
          } catch (e) {
            throw toArca(e, `listing ${rel || '/'}`, { prefix });
          }
        },
      });
    },

    async delete(keys, o = {}) {
      for (const key of keys) assertValidKey(key);
      let current: string | undefined;
      try {
        await conn.use(o.signal, async (c, home) => {
          const parents = new Set<string>();
          for (const key of keys) {
            throwIfAborted(o.signal);
            current = key;
            const full = remote(home, key);
            try {
              await c.remove(full);
            } catch (e) {
              // 550 means "missing" or "refused": only a missing file may be ignored.
              if (!(e instanceof FTPError) || (await fileSize(c, full)) !== undefined) throw e;
            }
            for (let d = posix.dirname(key); d !== '.'; d = posix.dirname(d)) parents.add(d);
          }
          current = undefined;
          // Remove folders left empty, deepest first, up to (not including) the root.
          for (const d of [...parents].sort((a, b) => b.split('/').length - a.split('/').length)) {
            await c.send(`RMD ${remote(home, d)}`).catch(() => {});
          }
        });
      } catch (e) {
        throw toArca(e, `deleting ${current ?? keys.join(', ')}`, { key: current });
      }
    },

    async check(o = {}): Promise<CheckReport> {
      const problems: string[] = [];
      const facts: Record<string, unknown> = { host: opts.host, port, user: opts.user, root: rootOpt || '.', tls: secure };
      try {
        await conn.use(o.signal, async (c, home) => {
          facts.connected = true;
          const root = rootOf(home);
          facts.rootPath = root;
          const features = await c.features();
          facts.mlsd = features.has('MLST');
          try {
            await c.ensureDir(root);
            facts.exists = true;
          } catch (e) {
            facts.exists = false;
            problems.push(`${root} on ${opts.host} does not exist and cannot be created (${(e as Error).message}): create it and give user "${opts.user}" write access.`);
            return;
          }
          const probe = posix.join(root, `.probe${TMP_MARK}${randomBytes(4).toString('hex')}`);
          try {
            await c.uploadFrom(Readable.from([Buffer.from('arca')]), probe);
            await c.remove(probe);
            facts.writable = true;
          } catch (e) {
            facts.writable = false;
            await c.remove(probe, true).catch(() => {});
            problems.push(`${root} on ${opts.host} is not writable (${(e as Error).message}): give user "${opts.user}" write access.`);
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

    close: async () => conn.close(),
  };
  return dest;
}


