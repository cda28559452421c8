import { z } from 'zod';
import { ArcaError, ErrorCodes, abortError, parseOptions, throwIfAborted, type Lock, type LockHandle } from '@arca/core';
import { connect, connectionError, resolveConnection } from './postgres-connection.js';
import { connectionShape } from './postgres-options.js';

const PgAdvisoryLockOptions = z
  .object({
    /** `postgres://user:password@host/db`, or the fields. Any database works; use the app's own. */
    ...connectionShape,
    database: z.string().min(1).optional(),
    /**
     * Prefix mixed into every key (default `'arca'`), so two apps sharing one database can
     * use the same job names without blocking each other.
     */
    namespace: z.string().optional(),
  })
  .strict()
  .refine((o) => o.connection !== undefined || o.database !== undefined, { message: 'give `connection` (a postgres:// URI) or at least `database`' });

export type PgAdvisoryLockOptions = z.input<typeof PgAdvisoryLockOptions>;

/**
 * A `Lock` backed by PostgreSQL session-level advisory locks, so several app instances
 * sharing a database never run the same job at once.
 *
 * `acquire(key)` opens a dedicated connection and calls
 * `pg_try_advisory_lock(hashtextextended(namespace || ':' || key, 0))`: it resolves a handle
 * when it got the lock, `undefined` at once when another session holds it. The lock lives
 * as long as that connection: `release()` unlocks and closes it, and if the process dies
 * or the connection drops the server releases the lock by itself (no stale lock files).
 * Connection failures reject with `SOURCE_FAILED` (the run then fails rather than running
 * unprotected); an abort rejects with `ABORTED`.
 */
export function pgAdvisoryLock(options: PgAdvisoryLockOptions): Lock & { describe(): Record<string, unknown> } {
  const opts = parseOptions(PgAdvisoryLockOptions, options, 'pgAdvisoryLock');
  const conn = { ...resolveConnection({ ...opts, applicationName: 'arca-lock' }) };
  const namespace = opts.namespace ?? 'arca';
  return {
    describe: () => ({ kind: 'pg-advisory-lock', host: conn.host, port: conn.port, database: conn.database, namespace }),
    async acquire(key: string, o = {}): Promise<LockHandle | undefined> {
      throwIfAborted(o.signal, 'Taking the lock');
      const client = await connect(conn, o.signal);
      const lockKey = `${namespace}:${key}`;
      try {
        const r = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS ok', [lockKey]);
        throwIfAborted(o.signal, 'Taking the lock');
        if (!r.rows[0]!.ok) {
          await client.end().catch(() => {});
          return undefined;
        }
      } catch (e) {
        await client.end().catch(() => {});
        if (o.signal?.aborted) throw abortError(o.signal, 'Taking the lock');
        throw e instanceof ArcaError ? e : connectionError(conn, e, 'taking the advisory lock');
      }
      let released = false;
      // The lock lives as long as the session: a session that ends under us (server restart,
      // pg_terminate_backend, network) means another instance may take the lock now.
      const lost = new AbortController();
      const onGone = () => {
        if (!released) lost.abort(new ArcaError(ErrorCodes.LOCKED, `The advisory lock ${JSON.stringify(lockKey)} was lost: its PostgreSQL session ended (server restarted or connection dropped).`));
      };
      client.on('error', onGone);
      client.on('end', onGone);
      return {
        lost: lost.signal,
        async release() {
          if (released) return;
          released = true;
          // Closing the session frees the lock even if the unlock query fails (connection already gone).
          await client.query('SELECT pg_advisory_unlock(hashtextextended($1, 0))', [lockKey]).catch(() => {});
          await client.end().catch(() => {});
        },
      };
    },
  };
}
