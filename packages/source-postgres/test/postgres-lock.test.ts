import * as path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ArcaError, createArca, localDir, type Source } from '@arca/core';
import { describeWithService } from '@arca/core/test-kit';
import { pgAdvisoryLock } from '@arca/source-postgres';
import { PG, createDb, dropAll, probePostgres, rmrf, sql, tempDir } from './pg-helpers.js';

await describeWithService('pgAdvisoryLock (PostgreSQL on 127.0.0.1:5432)', probePostgres, () => {
  let db: string;
  let dir: string;
  beforeAll(async () => {
    db = await createDb('lock');
    dir = await tempDir();
  });
  afterAll(async () => {
    await dropAll();
    await rmrf(dir);
  });

  it('lets one holder in per key, frees the key on release, and keeps keys and namespaces apart', async () => {
    const a = pgAdvisoryLock({ ...PG, database: db });
    const b = pgAdvisoryLock({ ...PG, database: db });
    const other = pgAdvisoryLock({ ...PG, database: db, namespace: 'other-app' });
    const h1 = await a.acquire('job:nightly');
    expect(h1).toBeDefined();
    expect(await b.acquire('job:nightly')).toBeUndefined();
    const h2 = await b.acquire('job:weekly');
    expect(h2).toBeDefined();
    const h3 = await other.acquire('job:nightly');
    expect(h3).toBeDefined();
    await h1!.release();
    await h1!.release(); // idempotent
    const h4 = await b.acquire('job:nightly');
    expect(h4).toBeDefined();
    for (const h of [h2, h3, h4]) await h!.release();
    const held = await sql<{ n: number }>(db, "SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory'");
    expect(held).toEqual([{ n: 0 }]);
  });

  it('is freed by the server when the holding session dies', async () => {
    const lock = pgAdvisoryLock({ ...PG, database: db });
    const h = await lock.acquire('crash');
    expect(h).toBeDefined();
    expect(await lock.acquire('crash')).toBeUndefined();
    await sql(db, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'arca-lock' AND datname = $1", [db]);
    // pg_terminate_backend only signals; wait for the backend to be gone (poll the server, not the clock).
    for (let i = 0; i < 1000; i++) {
      const n = await sql<{ n: number }>(db, "SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory'");
      if (n[0]!.n === 0) break;
      await new Promise((r) => setImmediate(r));
    }
    // The holder learns it lost the lock (core aborts its run with this signal).
    if (!h!.lost!.aborted) await new Promise((r) => h!.lost!.addEventListener('abort', r, { once: true }));
    expect((h!.lost!.reason as ArcaError).code).toBe('LOCKED');
    const again = await lock.acquire('crash');
    expect(again).toBeDefined();
    await again!.release();
    expect(again!.lost!.aborted).toBe(false); // a release is not a loss
    await h!.release(); // its session is gone: release must not throw
  });

  it('makes a second app instance skip a job that is already running (LOCKED)', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let started!: () => void;
    const running = new Promise<void>((r) => (started = r));
    // A source that waits until the test lets it finish, so the first run holds the lock.
    const slow: Source = {
      kind: 'slow',
      describe: () => ({ kind: 'slow' }),
      dump: async () => ({
        filename: 'x.bin',
        stream: (async function* () {
          started();
          await gate;
          yield Buffer.from('done');
        })(),
        meta: async () => ({}),
      }),
    };
    const make = (sub: string) =>
      createArca({
        destinations: { local: localDir({ path: path.join(dir, sub), fsync: false }) },
        jobs: { nightly: { sources: { x: slow }, destinations: ['local'] } },
        lock: pgAdvisoryLock({ ...PG, database: db }),
      });
    const first = make('one').run('nightly');
    await running;
    const second = await make('two').run('nightly').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(second).toBeInstanceOf(ArcaError);
    expect((second as ArcaError).code).toBe('LOCKED');
    release();
    expect((await first).status).toBe('completed');
  });

  it('rejects (instead of running unprotected) when the lock database is missing, and with ABORTED when cancelled', async () => {
    const bad = pgAdvisoryLock({ ...PG, database: 'arca_no_such_lock_db' });
    const e = await bad.acquire('k').then(
      () => undefined,
      (err: unknown) => err as ArcaError,
    );
    expect(e?.code).toBe('NOT_FOUND');
    const ac = new AbortController();
    ac.abort();
    const a = await pgAdvisoryLock({ ...PG, database: db }).acquire('k', { signal: ac.signal }).then(
      () => undefined,
      (err: unknown) => err as ArcaError,
    );
    expect(a?.code).toBe('ABORTED');
  });
});
