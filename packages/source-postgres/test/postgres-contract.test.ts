import { afterAll, expect } from 'vitest';
import { describeWithService, testSource } from '@arca/core/test-kit';
import { postgres } from '@arca/source-postgres';
import { fingerprint } from '../src/postgres-stats.js';
import { PG, RICH_SCHEMA, adminClient, createDb, dropAll, probePostgres, sql, track, uniqueName } from './pg-helpers.js';

async function fingerprintOf(database: string): Promise<Record<string, string>> {
  const c = adminClient(database);
  await c.connect();
  try {
    return await fingerprint(c);
  } finally {
    await c.end();
  }
}

await describeWithService('postgres source contract (PostgreSQL 15 on 127.0.0.1:5432)', probePostgres, () => {
  afterAll(dropAll);
  testSource('postgres', async () => {
    const db = await createDb('contract');
    await sql(db, RICH_SCHEMA);
    // A few MB so the mid-dump abort lands while pg_dump still streams.
    await sql(db, `CREATE TABLE bulk AS SELECT i, md5(i::text) AS h FROM generate_series(1, 200000) i`);
    const expected = await fingerprintOf(db);
    const dbOf = (s: { describe(): Record<string, unknown> }) => String(s.describe().database);
    return {
      source: postgres({ ...PG, database: db }),
      restoreTarget: async () => postgres({ ...PG, database: track(uniqueName('target')), restore: { createDatabase: true } }),
      assertRestored: async (target) => expect(await fingerprintOf(dbOf(target))).toEqual(expected),
      snapshot: async (target) => fingerprintOf(dbOf(target)),
    };
  });
});
