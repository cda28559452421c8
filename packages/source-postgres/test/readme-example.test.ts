import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, it } from 'vitest';
import { describeWithService } from '@arca/core/test-kit';
import { restoreNewestToScratch, shopBackups } from './readme-example.js';
import { PG, createDb, dropAll, probePostgres, rmrf, sql, tempDir, track, uniqueName } from './pg-helpers.js';

const here = path.dirname(fileURLToPath(import.meta.url));

it('README shows the example code', async () => {
  const readme = await fs.readFile(path.join(here, '..', 'README.md'), 'utf8');
  const code = await fs.readFile(path.join(here, 'readme-example.ts'), 'utf8');
  expect(readme).toContain(code.trim());
});

await describeWithService('README example (PostgreSQL on 127.0.0.1:5432)', probePostgres, () => {
  afterAll(dropAll);
  it('backs the shop up, restores the newest backup into a new database and drills it', async () => {
    const dir = await tempDir();
    const db = await createDb('shop');
    await sql(db, `CREATE TABLE orders (id serial PRIMARY KEY, created_at timestamptz DEFAULT now(), total numeric);
      INSERT INTO orders (total) SELECT i * 1.5 FROM generate_series(1, 1000) i;
      CREATE TABLE sessions AS SELECT md5(i::text) AS sid FROM generate_series(1, 100) i;`);
    const url = `postgres://${PG.user}@${PG.host}:${PG.port}/${db}`;
    try {
      const run = await shopBackups(url, path.join(dir, 'backups')).run('nightly');
      expect(run.status).toBe('completed');
      const scratch = track(uniqueName('scratch'));
      const r = await restoreNewestToScratch(url, path.join(dir, 'backups'), scratch);
      expect(r.backupId).toBe(run.backupId);
      expect(r.rtoMs).toBeGreaterThan(0);
      expect(await sql(scratch, 'SELECT count(*)::int AS n FROM orders')).toEqual([{ n: 1000 }]);
      // excludeTableData: the sessions table is there, its rows are not.
      expect(await sql(scratch, 'SELECT count(*)::int AS n FROM sessions')).toEqual([{ n: 0 }]);
    } finally {
      await rmrf(dir);
    }
  }, 300_000);
});
