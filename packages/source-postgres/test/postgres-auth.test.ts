import { afterAll, beforeAll, expect, it } from 'vitest';
import { ArcaError } from '@arca/core';
import { collect, describeWithService } from '@arca/core/test-kit';
import { pgAdvisoryLock, postgres } from '@arca/source-postgres';
import { fingerprint } from '../src/postgres-stats.js';
import pg from 'pg';
import { probePrivateCluster, startPrivateCluster, type PrivateCluster } from './pg-private-cluster.js';

/** Against a private cluster with scram-sha-256: passwords are really checked here. */
await describeWithService('postgres with enforced passwords (private initdb cluster)', probePrivateCluster, () => {
  let cluster: PrivateCluster;
  const password = `app-${Math.random().toString(36).slice(2)}-pw`;
  const base = () => ({ host: '127.0.0.1', port: cluster.port, user: 'app' });
  const superSql = async (database: string, text: string) => {
    const c = new pg.Client({ host: '127.0.0.1', port: cluster.port, user: 'postgres', password: cluster.superPassword, database });
    await c.connect();
    try {
      return (await c.query(text)).rows;
    } finally {
      await c.end();
    }
  };

  beforeAll(async () => {
    cluster = await startPrivateCluster();
    await superSql('postgres', `CREATE ROLE app LOGIN CREATEDB PASSWORD '${password}'`);
    await superSql('postgres', 'CREATE DATABASE shop OWNER app');
    const c = new pg.Client({ ...base(), password, database: 'shop' });
    await c.connect();
    await c.query("CREATE TABLE orders AS SELECT i AS id, 'order ' || i AS label FROM generate_series(1, 5000) i");
    await c.end();
  }, 120_000);
  afterAll(async () => cluster?.stop(), 60_000);

  it('a wrong password fails with a clear SOURCE_FAILED that does not contain it, in dump() and check()', async () => {
    const wrong = 'definitely-Wrong-pw';
    const source = postgres({ ...base(), password: wrong, database: 'shop' });
    const e = await source.dump().then(
      () => undefined,
      (err: unknown) => err as ArcaError,
    );
    expect(e).toBeInstanceOf(ArcaError);
    expect(e!.code).toBe('SOURCE_FAILED');
    expect(e!.message).toMatch(/authentication failed for user "app".*Check the password/);
    expect(e!.message).not.toContain(wrong);
    const report = await source.check!();
    expect(report.ok).toBe(false);
    expect(JSON.stringify(report)).not.toContain(wrong);
    const noPw = await postgres({ ...base(), database: 'shop' }).dump().then(
      () => undefined,
      (err: unknown) => err as ArcaError,
    );
    expect(noPw?.code).toBe('SOURCE_FAILED');
  });

  for (const passwordVia of ['env', 'passfile'] as const) {
    it(`pg_dump and pg_restore authenticate with the right password via ${passwordVia} (scram), round trip`, async () => {
      const source = postgres({ connection: `postgres://app:${password}@127.0.0.1:${cluster.port}/shop`, passwordVia });
      const d = await source.dump();
      const archive = await collect(d.stream);
      expect((await d.meta()).tables).toEqual({ 'public.orders': 5000 });
      const target = `shop_copy_${passwordVia}`;
      await postgres({ ...base(), password, database: target, passwordVia, restore: { createDatabase: true } }).restore!((async function* () {
        yield archive;
      })());
      const c = new pg.Client({ ...base(), password, database: target });
      await c.connect();
      try {
        expect((await fingerprint(c))['public.orders']).toMatch(/^5000:/);
      } finally {
        await c.end();
      }
    });
  }

  it('the advisory lock authenticates too', async () => {
    const h = await pgAdvisoryLock({ ...base(), password, database: 'shop' }).acquire('k');
    expect(h).toBeDefined();
    await h!.release();
    const bad = await pgAdvisoryLock({ ...base(), password: 'nope-nope', database: 'shop' }).acquire('k').then(
      () => undefined,
      (err: unknown) => err as ArcaError,
    );
    expect(bad?.code).toBe('SOURCE_FAILED');
  });
});
