import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createArca, gzip, localDir } from '@arca/core';
import { describeWithService } from '@arca/core/test-kit';
import { mysql } from '@arca/source-mysql';
import type { Connection } from 'mysql2/promise';
import { HOST, PORT, admin, checksums, databasesLike, dropDb, objects, probeMariaDb, q, seedLogistics, uniqueName } from './helpers.js';

const BIG = 1_000_000;

await describeWithService('MariaDB round trip of a logistics schema (1 M rows)', probeMariaDb, () => {
  let c: Connection;
  let dir: string;
  const db = uniqueName('logi');
  const restored = uniqueName('logi_rt');
  beforeAll(async () => {
    c = await admin();
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'arca-mysql-rt-'));
    await seedLogistics(c, db, BIG);
  }, 300_000);
  afterAll(async () => {
    for (const d of [db, restored]) await dropDb(c, d);
    await c.end();
    await fs.rm(dir, { recursive: true, force: true });
  }, 120_000);

  it('backs up through the pipeline, restores into another database with equal CHECKSUM TABLE, and drills', { timeout: 600_000 }, async () => {
    const source = mysql({ host: HOST, port: PORT, user: 'root', database: db });
    const arca = createArca({
      destinations: { local: localDir({ path: path.join(dir, 'backups') }) },
      jobs: { nightly: { sources: { db: source }, destinations: ['local'], compress: gzip({ level: 1 }) } },
    });
    const run = await arca.run('nightly');
    expect(run.error).toBeUndefined();
    expect(run.status).toBe('completed');
    const art = run.artifacts[0]!;
    expect(art.file).toBe('db.sql.gz');

    // meta: exact row counts from the dump stream, objects, server, binlog state.
    const meta = art.meta as any;
    expect(meta.server.flavour).toBe('mariadb');
    expect(meta.tool.name).toMatch(/^(mariadb-dump|mysqldump)$/);
    const [logBin] = await q<{ b: number }>(c, 'SELECT @@log_bin AS b');
    if (Number(logBin!.b) === 0) expect(meta.binlog).toEqual({ enabled: false });
    const recorded = meta.databases[db];
    expect(recorded.tables.tracking).toBe(BIG);
    expect(recorded.tables.orders).toBe(200);
    expect(recorded.tables.audit_log).toBe(200); // written by the trigger
    expect(recorded.tables.blobs).toBe(3);
    for (const [t, n] of Object.entries(recorded.tables)) {
      const [r] = await q<{ n: number }>(c, `SELECT COUNT(*) AS n FROM \`${db}\`.\`${t}\``);
      expect(Number(r!.n), t).toBe(n);
    }
    expect(recorded.views).toEqual(['open_orders']);
    expect(recorded.routines).toEqual(['FUNCTION order_count', 'PROCEDURE ship_order']);
    expect(recorded.triggers).toEqual(['orders_audit']);
    expect(recorded.events).toEqual(['purge_audit']);
    expect(meta.rows).toBe(Object.values(recorded.tables as Record<string, number>).reduce((s, n) => s + n, 0));

    // Restore into another database, created on request.
    const report = await arca.restore('nightly', run.backupId, { into: mysql({ host: HOST, port: PORT, user: 'root', database: restored, createDatabase: true }) });
    expect(report.artifacts[0]!.source).toBe('db');
    expect(await checksums(c, restored)).toEqual(await checksums(c, db));
    expect(await objects(c, restored)).toEqual(await objects(c, db));
    // Non-UTF-8 and binary data byte for byte (CHECKSUM covers it; also look at values).
    const [u] = await q<{ t: string }>(c, `SELECT t FROM \`${restored}\`.texts_utf8 WHERE id = 1`);
    expect(u!.t).toBe('emoji 🚀🔥 and 𝔘𝔫𝔦𝔠𝔬𝔡𝔢');
    const [l] = await q<{ t: string; h: string }>(c, `SELECT t, HEX(t) AS h FROM \`${restored}\`.texts_latin1 WHERE id = 1`);
    expect(l!.t).toBe('àèìòù ç ß ñ €');
    expect(l!.h).toBe('E0E8ECF2F920E720DF20F12080'); // latin1 bytes, € is 0x80 (cp1252)
    const [b] = await q<{ vb: Buffer }>(c, `SELECT vb FROM \`${restored}\`.blobs WHERE id = 1`);
    expect(Buffer.from(b!.vb)).toEqual(Buffer.from(Array.from({ length: 256 }, (_, i) => i)));
    // The restored routine, trigger and view work.
    await c.query(`CALL \`${restored}\`.ship_order(3, 'SDA')`);
    const [o] = await q<{ n: number }>(c, `SELECT \`${restored}\`.order_count(1) AS n`);
    expect(Number(o!.n)).toBeGreaterThan(0);
    await c.query(`INSERT INTO \`${restored}\`.orders (customer_id, total, created_at) VALUES (2, 9.99, NOW())`);
    const [a] = await q<{ n: number }>(c, `SELECT COUNT(*) AS n FROM \`${restored}\`.audit_log`);
    expect(Number(a!.n)).toBe(201);

    // Drill through core's restore (checksums verified while reading) into a scratch database.
    const target = source.drillTarget({
      expected: art.meta,
      assertions: [
        { name: 'every order has a customer', sql: 'SELECT COUNT(*) FROM orders o LEFT JOIN customers c ON c.id = o.customer_id WHERE c.id IS NULL', expect: 0 },
        { name: 'tracking is complete', sql: 'SELECT MAX(id) FROM tracking', expect: BIG },
      ],
    });
    await arca.restore('nightly', run.backupId, { artifact: 'db', into: target });
    const drill = target.report!;
    expect(drill.problems).toEqual([]);
    expect(drill.ok).toBe(true);
    expect(drill.tables).toBe(Object.keys(recorded.tables).length);
    expect(drill.rows).toBe(meta.rows);
    expect(drill.durationMs).toBeGreaterThan(0);
    expect(drill.durationMs).toBeGreaterThanOrEqual(drill.restoreMs);
    expect(drill.checks.map((x) => x.name)).toEqual(['tables', 'row counts', 'views', 'routines', 'triggers', 'events', 'every order has a customer', 'tracking is complete']);
    expect(await databasesLike(c, db + '_arca')).toEqual([]);

    // The same drill through core's verify level 'restore' (Source.drill capability).
    const v = await arca.verify('nightly', run.backupId, { level: 'restore' });
    expect(v.ok).toBe(true);
    expect(v.drills).toMatchObject([{ source: 'db', from: 'local', ok: true, problems: [] }]);
    expect(v.drills![0]!.report).toMatchObject({ tables: drill.tables, rows: meta.rows });
    expect(await databasesLike(c, db + '_arca')).toEqual([]);
    console.log(`drill of ${meta.rows} rows: ${drill.durationMs} ms (restore ${drill.restoreMs} ms, checks ${drill.checksMs} ms)`);
  });
});
