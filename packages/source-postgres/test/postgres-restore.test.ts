import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ArcaError, createArca, gzip, localDir, verifyingStream, type Source } from '@arca/core';
import { collect, describeWithService } from '@arca/core/test-kit';
import { drillBackup, postgres, restoreDrill } from '@arca/source-postgres';
import { fingerprint } from '../src/postgres-stats.js';
import { PG, RICH_SCHEMA, adminClient, createDb, databasesLike, dbExists, dropAll, probePostgres, rmrf, sql, tempDir, track, uniqueName } from './pg-helpers.js';

async function fp(database: string): Promise<Record<string, string>> {
  const c = adminClient(database);
  await c.connect();
  try {
    return await fingerprint(c);
  } finally {
    await c.end();
  }
}

async function* bytes(buf: Uint8Array, cut?: number): AsyncIterable<Uint8Array> {
  const end = cut ?? buf.byteLength;
  for (let i = 0; i < end; i += 1 << 16) yield buf.subarray(i, Math.min(end, i + (1 << 16)));
}

async function rejection(p: Promise<unknown>): Promise<ArcaError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(ArcaError);
  return e as ArcaError;
}

const HEAVY = 300_000; // pgbench scale 10 on a shared 2-core machine

await describeWithService('postgres restore, drills (PostgreSQL on 127.0.0.1:5432)', probePostgres, () => {
  let db: string;
  let dir: string;
  let original: Record<string, string>;
  let archive: Buffer;
  let meta: Record<string, unknown>;
  // A small database for the failure paths (the pgbench one is for the round trip and the Arca drill).
  let small: Buffer;
  let smallMeta: Record<string, unknown>;
  let smallFp: Record<string, string>;

  beforeAll(async () => {
    dir = await tempDir();
    db = await createDb('pgbench');
    // pgbench scale 10: 1,000,000 accounts; -q keeps its progress output short.
    execFileSync('pgbench', ['-i', '-q', '-s', '10', '-h', PG.host, '-p', String(PG.port), '-U', PG.user, db], { stdio: 'ignore' });
    await sql(db, RICH_SCHEMA);
    original = await fp(db);
    const d = await postgres({ ...PG, database: db }).dump();
    archive = await collect(d.stream);
    meta = await d.meta();
    const sdb = await createDb('small');
    await sql(sdb, RICH_SCHEMA + 'CREATE TABLE public.bulk AS SELECT i, md5(i::text) AS h FROM generate_series(1, 20000) i;');
    smallFp = await fp(sdb);
    const sd = await postgres({ ...PG, database: sdb }).dump();
    small = await collect(sd.stream);
    smallMeta = await sd.meta();
  }, 300_000);
  afterAll(async () => {
    await dropAll();
    await rmrf(dir);
  }, HEAVY);

  it('round-trips pgbench (scale 10) plus bytea, jsonb, arrays, large objects, sequences, views, functions and triggers', async () => {
    expect(Object.keys(original)).toEqual(expect.arrayContaining(['public.pgbench_accounts', 'app.blobs', 'app.audit', 'app.invoice_no', 'app.audit_id_seq', 'public.Mixed Case', 'public.lo_refs']));
    expect((meta.tables as Record<string, number>)['public.pgbench_accounts']).toBe(1_000_000);
    expect((meta.sequences as Record<string, number | null>)['app.invoice_no']).toBe(1030);
    const target = track(uniqueName('rt'));
    await postgres({ ...PG, database: target, restore: { createDatabase: true, jobs: 2 } }).restore!(bytes(archive));
    expect(await fp(target)).toEqual(original);
    // Objects that fingerprints do not cover: view, function + trigger still work, large object content.
    expect(await sql(target, 'SELECT count(*)::int AS n FROM app.blob_sizes')).toEqual([{ n: 502 }]);
    await sql(target, "INSERT INTO app.blobs (data) VALUES ('\\x01')");
    // The trigger was created after the first 500 rows: 2 audited inserts at dump time, + 1 now.
    expect(await sql(target, 'SELECT count(*)::int AS n FROM app.audit')).toEqual([{ n: 3 }]);
    expect(await sql(target, "SELECT nextval('app.invoice_no')::int AS v")).toEqual([{ v: 1035 }]);
    expect(await sql(target, 'SELECT length(lo_get(lo)) AS n FROM lo_refs')).toEqual([{ n: 13000 }]);
    expect(await databasesLike(`${target}_arca_`)).toEqual([]);
  }, HEAVY);

  it('restores a truncated archive nowhere: the existing target is untouched (transaction and swap) and no scratch database is left', async () => {
    const target = await createDb('trunc');
    await sql(target, 'CREATE TABLE keep_me (v text); INSERT INTO keep_me VALUES (\'precious\')');
    const before = await fp(target);
    for (const strategy of ['transaction', 'swap'] as const) {
      const t = postgres({ ...PG, database: target, restore: { strategy } });
      // The TOC survives at the front, so pg_restore --list accepts it; the data is cut.
      const e = await rejection(t.restore!(bytes(small, Math.floor(small.byteLength * 0.6)), { overwrite: true }));
      expect(e.code).toBe('RESTORE_FAILED');
      expect(e.message).toMatch(/pg_restore failed .* target database is as it was before.*pg_restore said/s);
      expect(await fp(target)).toEqual(before);
      expect(await databasesLike(`${target}_arca_`)).toEqual([]);
    }
    const garbage = await rejection(postgres({ ...PG, database: target }).restore!(bytes(Buffer.from('PGDMP but not really, just garbage bytes')), { overwrite: true }));
    expect(garbage.code).toBe('CORRUPT_ARTIFACT');
    expect(await fp(target)).toEqual(before);
  }, HEAVY);

  it('overwrites an existing database in place (swap strategy, jobs 2) and refuses to swap while sessions are open', async () => {
    const target = await createDb('swap');
    await sql(target, 'CREATE TABLE old_stuff (i int)');
    const busy = adminClient(target);
    await busy.connect();
    try {
      const e = await rejection(postgres({ ...PG, database: target, restore: { jobs: 2 } }).restore!(bytes(small), { overwrite: true }));
      expect(e.code).toBe('RESTORE_FAILED');
      expect(e.message).toMatch(/1 open session\(s\).*terminateConnections/);
      expect(Object.keys(await fp(target))).toEqual(['public.old_stuff']);
      await postgres({ ...PG, database: target, restore: { jobs: 2, terminateConnections: true } }).restore!(bytes(small), { overwrite: true });
    } finally {
      await busy.end().catch(() => {});
    }
    expect(await fp(target)).toEqual(smallFp);
    expect(await databasesLike(`${target}_`)).toEqual([]);
  }, HEAVY);

  it('refuses a missing target unless createDatabase, and stops with ABORTED leaving nothing behind', async () => {
    const missing = uniqueName('missing');
    const e = await rejection(postgres({ ...PG, database: missing }).restore!(bytes(small)));
    expect(e.code).toBe('NOT_FOUND');
    expect(e.message).toMatch(/createDatabase/);
    const ac = new AbortController();
    const aborting = (async function* () {
      let n = 0;
      for await (const c of bytes(small)) {
        if (++n === 3) ac.abort();
        yield c;
      }
    })();
    const a = await rejection(postgres({ ...PG, database: track(missing), restore: { createDatabase: true } }).restore!(aborting, { signal: ac.signal }));
    expect(a.code).toBe('ABORTED');
    expect(await dbExists(missing)).toBe(false);
    expect(await databasesLike(`${missing}_`)).toEqual([]);
  }, HEAVY);

  it('restores a plain SQL dump with psql', async () => {
    const src = await createDb('plain');
    await sql(src, RICH_SCHEMA);
    const want = await fp(src);
    const d = await postgres({ ...PG, database: src, format: 'plain' }).dump();
    const target = track(uniqueName('plain_t'));
    await postgres({ ...PG, database: target, format: 'plain', restore: { createDatabase: true } }).restore!(d.stream);
    expect(await fp(target)).toEqual(want);
  }, HEAVY);

  it('drills a stored backup through Arca: restores into a scratch database, checks every count, drops it, measures the time', async () => {
    const arca = createArca({
      destinations: { local: localDir({ path: path.join(dir, 'b'), fsync: false }) },
      jobs: { nightly: { sources: { db: postgres({ ...PG, database: db }) }, destinations: ['local'], compress: gzip({ level: 1 }) } },
    });
    const run = await arca.run('nightly');
    expect(run.status).toBe('completed');
    expect(run.artifacts[0]!.file).toBe('db.pgdump.gz');
    expect(run.artifacts[0]!.meta).toMatchObject({ format: 'custom', compression: 0, snapshot: 'exported' });
    const report = await drillBackup(arca, 'nightly', run.backupId, {
      ...PG,
      databasePrefix: 'arca_t_drill',
      checks: [
        { name: 'accounts exist', sql: 'SELECT count(*) = 1000000 FROM pgbench_accounts' },
        { name: 'branches balance', sql: 'SELECT sum(bbalance) = 0 FROM pgbench_branches' },
      ],
    });
    expect(report.problems).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.mismatches).toEqual([]);
    expect(report.checks).toEqual([{ name: 'accounts exist', ok: true }, { name: 'branches balance', ok: true }]);
    expect(report.tables).toBe(Object.keys(meta.tables as object).length);
    expect(report.rows).toBeGreaterThan(1_000_000);
    expect(report.restoreMs).toBeGreaterThan(0);
    expect(report.totalMs).toBeGreaterThanOrEqual(report.restoreMs);
    expect(report.from).toBe('local');
    expect(await dbExists(report.database)).toBe(false);
    expect(await databasesLike('arca_t_drill')).toEqual([]);
  }, HEAVY);

  it("arca.verify({ level: 'restore' }) drills every postgres artifact from a copy that passed its checksum, with the source's own checks", async () => {
    const src = await createDb('vdrill');
    await sql(src, 'CREATE TABLE public.t AS SELECT i FROM generate_series(1, 50) i;');
    const job = (checks: Array<{ name: string; sql: string }>) => ({
      sources: { db: postgres({ ...PG, database: src, drill: { databasePrefix: 'arca_t_scratchv', checks } }) },
      destinations: ['local'],
    });
    const arca = createArca({
      destinations: { local: localDir({ path: path.join(dir, 'vdrill'), fsync: false }) },
      jobs: { good: job([{ name: 'fifty rows', sql: 'SELECT count(*) = 50 FROM t' }]), bad: job([{ name: 'impossible', sql: 'SELECT false' }]) },
    });
    const good = await arca.run('good');
    const v = await arca.verify('good', good.backupId, { level: 'restore' });
    expect(v.ok).toBe(true);
    expect(v.drills).toHaveLength(1);
    expect(v.drills![0]).toMatchObject({ source: 'db', from: 'local', ok: true, problems: [] });
    expect(v.drills![0]!.report).toMatchObject({ tables: 1, rows: 50, checks: [{ name: 'fifty rows', ok: true }] });
    expect(v.drills![0]!.durationMs).toBeGreaterThan(0);
    const bad = await arca.run('bad');
    const vb = await arca.verify('bad', bad.backupId, { level: 'restore' });
    expect(vb.destinations[0]!.ok).toBe(true); // the copy is fine ...
    expect(vb.ok).toBe(false); // ... but the drill's check failed
    expect(vb.drills![0]!.problems.join(' ')).toMatch(/impossible/);
    expect(await databasesLike('arca_t_scratchv')).toEqual([]);
  }, HEAVY);

  it('a drill reports wrong counts and failing checks (ok: false), and throws on a corrupt input, dropping the scratch database every time', async () => {
    const tables = { ...(smallMeta.tables as Record<string, number>), 'public.bulk': 999 };
    const r = await restoreDrill({ ...PG, databasePrefix: 'arca_t_drill2', checks: [{ name: 'impossible', sql: 'SELECT false' }, { name: 'typo', sql: 'SELECT * FROM nope' }] }, bytes(small), { tables });
    expect(r.ok).toBe(false);
    expect(r.mismatches).toEqual([{ relation: 'public.bulk', expected: 999, actual: 20_000 }]);
    expect(r.problems.join('\n')).toMatch(/public.bulk: expected 999, restored 20000/);
    expect(r.checks.map((c) => c.ok)).toEqual([false, false]);
    expect(r.checks[1]!.error).toMatch(/nope/);
    const bad = verifyingStream(bytes(small), { sha256: '0'.repeat(64), bytes: small.byteLength, what: 'drill input' });
    const e = await rejection(restoreDrill({ ...PG, databasePrefix: 'arca_t_drill2' }, bad));
    expect(e.code).toBe('CHECKSUM_MISMATCH');
    const failed = await restoreDrill({ ...PG, databasePrefix: 'arca_t_drill2', jobs: 1 }, bytes(small, Math.floor(small.byteLength * 0.6)));
    expect(failed.ok).toBe(false);
    expect(failed.error?.code).toBe('RESTORE_FAILED');
    expect(await databasesLike('arca_t_drill2')).toEqual([]);
  }, HEAVY);

  it('restores in place through Arca after a safety backup, with --no-owner', async () => {
    const live = await createDb('inplace');
    await sql(live, RICH_SCHEMA);
    const want = await fp(live);
    const source: Source = postgres({ ...PG, database: live, noOwner: true });
    const arca = createArca({ destinations: { local: localDir({ path: path.join(dir, 'inplace'), fsync: false }) }, jobs: { app: { sources: { db: source }, destinations: ['local'] } } });
    const run = await arca.run('app');
    await sql(live, 'DELETE FROM app.blobs WHERE id > 10; DROP VIEW app.blob_sizes');
    expect(await fp(live)).not.toEqual(want);
    const res = await arca.restore('app', run.backupId, { overwrite: true });
    expect(res.safetyBackupId).toBeDefined();
    expect(await fp(live)).toEqual(want);
    expect(await sql(live, 'SELECT count(*)::int AS n FROM app.blob_sizes')).toEqual([{ n: 502 }]);
    const list = await arca.list('app');
    expect(list.map((b) => b.trigger.type).sort()).toEqual(['manual', 'safety']);
    await fs.rm(path.join(dir, 'inplace'), { recursive: true, force: true });
  }, HEAVY);
});
