import * as fs from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import * as path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ArcaError, createArca, localDir, memoryRunLog } from '@arca/core';
import { collect, describeWithService } from '@arca/core/test-kit';
import { postgres } from '@arca/source-postgres';
import { PG, childPids, cmdline, createDb, dropAll, environ, probePostgres, rmrf, sql, tempDir, uniqueName } from './pg-helpers.js';

async function rejection(p: Promise<unknown>): Promise<ArcaError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(ArcaError);
  return e as ArcaError;
}

await describeWithService('postgres source: secrets and bad input (PostgreSQL on 127.0.0.1:5432)', probePostgres, () => {
  const password = `S3cr3t-${Math.random().toString(36).slice(2)}-pw`;
  const role = uniqueName('role');
  let db: string;
  let dir: string;
  const conn = () => `postgres://${role}:${encodeURIComponent(password)}@${PG.host}:${PG.port}/${db}`;

  beforeAll(async () => {
    dir = await tempDir();
    db = await createDb('src');
    await sql('postgres', `CREATE ROLE "${role}" LOGIN PASSWORD '${password}'`);
    await sql(db, `GRANT ALL ON SCHEMA public TO "${role}"`);
    await sql(db, `CREATE TABLE public.t AS SELECT i, md5(i::text) AS h FROM generate_series(1, 200000) i; ALTER TABLE public.t OWNER TO "${role}"`);
  });
  afterAll(async () => {
    await dropAll();
    await sql('postgres', `DROP ROLE IF EXISTS "${role}"`).catch(() => {});
    await rmrf(dir);
  });

  it('keeps the password out of pg_dump argv (only PGPASSWORD carries it), describe(), meta() and check()', async () => {
    const source = postgres({ connection: conn() });
    const dump = await source.dump();
    const it = dump.stream[Symbol.asyncIterator]();
    const first = await it.next();
    expect(first.done).toBe(false);
    // pg_dump is now blocked writing into the pipe we stopped reading: inspect the live child.
    const [pid] = await childPids('pg_dump');
    expect(pid).toBeDefined();
    const argv = await cmdline(pid!);
    expect(argv).toContain('--format=c');
    expect(argv).not.toContain(password);
    expect(argv).not.toContain(role);
    const env = await environ(pid!);
    expect(env).toContain(`PGPASSWORD=${password}`);
    expect(env).toContain(`PGUSER=${role}`);
    let rest = 0;
    for (let r = await it.next(); !r.done; r = await it.next()) rest += r.value.byteLength;
    expect(rest).toBeGreaterThan(0);
    const meta = await dump.meta();
    expect(meta).toMatchObject({ serverVersion: expect.stringMatching(/^\d+\.\d+/), pgDumpVersion: expect.stringMatching(/^\d+\.\d+/), format: 'custom', compression: 0, snapshot: 'exported' });
    expect((meta.tables as Record<string, number>)['public.t']).toBe(200000);
    expect(meta.databaseBytes).toBeGreaterThan(1_000_000);
    const report = await source.check!();
    expect(report.ok).toBe(true);
    expect(report.facts.estimatedDumpBytes).toBeGreaterThan(1_000_000);
    const seen = JSON.stringify([source.describe(), meta, report]);
    expect(seen).not.toContain(password);
    expect(source.describe()).toMatchObject({ user: role, database: db, password: 'set (hidden)' });
  });

  it('with passwordVia: "passfile" hands pg_dump a 0600 passfile (no PGPASSWORD) and deletes it afterwards', async () => {
    const source = postgres({ connection: conn(), passwordVia: 'passfile' });
    const dump = await source.dump();
    const it = dump.stream[Symbol.asyncIterator]();
    await it.next();
    const [pid] = await childPids('pg_dump');
    const env = await environ(pid!);
    expect(env.some((e) => e.startsWith('PGPASSWORD='))).toBe(false);
    const passfile = env.find((e) => e.startsWith('PGPASSFILE='))!.slice('PGPASSFILE='.length);
    expect(((await fs.stat(passfile)).mode & 0o777).toString(8)).toBe('600');
    expect(await cmdline(pid!)).not.toContain(password);
    for (let r = await it.next(); !r.done; r = await it.next());
    await expect(fs.stat(passfile)).rejects.toThrow(/ENOENT/);
  });

  it('never leaks the password into run results, events, the run log or the manifest; a failed run says why without it', async () => {
    const runLog = memoryRunLog();
    const arca = createArca({
      destinations: { local: localDir({ path: path.join(dir, 'leak'), fsync: false }) },
      jobs: { nightly: { sources: { db: postgres({ connection: conn() }) }, destinations: ['local'] }, broken: { sources: { db: postgres({ connection: conn().replace(`/${db}`, '/no_such_db_x') }) }, destinations: ['local'] } },
      runLog,
    });
    const events: unknown[] = [];
    for (const ev of ['run:start', 'run:done', 'destination:done', 'error', 'audit', 'progress'] as const) arca.on(ev, (e) => events.push(e));
    const ok = await arca.run('nightly');
    expect(ok.status).toBe('completed');
    const bad = await arca.run('broken');
    expect(bad.status).toBe('failed');
    expect(bad.error?.code).toBe('NOT_FOUND');
    expect(bad.error?.message).toMatch(/no_such_db_x.*does not exist/);
    const manifest = await fs.readFile(path.join(dir, 'leak', 'nightly', ok.backupId, 'manifest.json'), 'utf8');
    const all = JSON.stringify([ok, bad, events, await runLog.read()]) + manifest;
    expect(all).not.toContain(password);
    expect(all).not.toContain(encodeURIComponent(password));
  });

  it('rejects a missing database with NOT_FOUND and reports it in check()', async () => {
    const source = postgres({ ...PG, database: 'arca_no_such_database' });
    const e = await rejection(source.dump());
    expect(e.code).toBe('NOT_FOUND');
    expect(e.message).toMatch(/does not exist.*Create it/);
    const report = await source.check!();
    expect(report.ok).toBe(false);
    expect(report.problems.join()).toMatch(/does not exist/);
  });

  it('gives up on a host that accepts TCP but never answers (timeout, not a hang)', async () => {
    const sockets: Socket[] = [];
    const silent: Server = createServer((s) => void sockets.push(s));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as { port: number }).port;
    try {
      const source = postgres({ host: '127.0.0.1', port, user: 'postgres', database: 'x', connectTimeoutMs: 1000 });
      const e = await rejection(source.dump());
      expect(e.code).toBe('SOURCE_FAILED');
      expect(e.message).toMatch(/no answer within 1000 ms/);
      expect((await source.check!()).ok).toBe(false);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => silent.close(() => r()));
    }
  });

  it('reports a refused port as SOURCE_FAILED telling what to check', async () => {
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as { port: number }).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const e = await rejection(postgres({ host: '127.0.0.1', port, user: 'postgres', database: 'x' }).dump());
    expect(e.code).toBe('SOURCE_FAILED');
    expect(e.message).toMatch(/cannot connect.*ECONNREFUSED/);
  });

  it('says TOOL_NOT_FOUND when pg_dump is missing', async () => {
    const source = postgres({ ...PG, database: db, pgDumpPath: path.join(dir, 'nope', 'pg_dump') });
    const e = await rejection(source.dump());
    expect(e.code).toBe('TOOL_NOT_FOUND');
    expect(e.message).toMatch(/apt install postgresql-client/);
    const report = await source.check!();
    expect(report.ok).toBe(false);
    expect(report.problems.join()).toMatch(/not found/);
  });

  it('says TOOL_VERSION_MISMATCH (and which version to install) for a pg_dump older than the server', async () => {
    // Failure injection: no older pg_dump is installed here, so a script stands in for pg_dump 12.
    const fake = path.join(dir, 'pg_dump_12');
    await fs.writeFile(fake, '#!/bin/sh\necho "pg_dump (PostgreSQL) 12.19"\n', { mode: 0o755 });
    const source = postgres({ ...PG, database: db, pgDumpPath: fake });
    const e = await rejection(source.dump());
    expect(e.code).toBe('TOOL_VERSION_MISMATCH');
    expect(e.message).toMatch(/pg_dump 12 .* older than the PostgreSQL server \(15\.\d+\).*postgresql-client-15/);
    const report = await source.check!();
    expect(report.problems.join()).toMatch(/older than the PostgreSQL server/);
  });

  it('fails the stream (and the run, with no manifest) when pg_dump is killed mid-dump', async () => {
    const source = postgres({ ...PG, database: db });
    const dump = await source.dump();
    const it = dump.stream[Symbol.asyncIterator]();
    await it.next();
    const [pid] = await childPids('pg_dump');
    process.kill(pid!, 'SIGKILL');
    const e = await rejection((async () => {
      for (let r = await it.next(); !r.done; r = await it.next());
    })());
    expect(e.code).toBe('SOURCE_FAILED');
    expect(e.message).toMatch(/pg_dump failed .*killed by SIGKILL.*not stored/s);
    expect(await childPids('pg_dump')).toEqual([]);

    // The same through a job: a source whose pg_dump dies after the first chunk.
    const killing: typeof source = {
      ...source,
      async dump(o) {
        const d = await source.dump(o);
        return {
          ...d,
          stream: (async function* () {
            let n = 0;
            for await (const c of d.stream) {
              if (n++ === 0) for (const p of await childPids('pg_dump')) process.kill(p, 'SIGKILL');
              yield c;
            }
          })(),
        };
      },
    };
    const dest = path.join(dir, 'killed');
    const arca = createArca({ destinations: { local: localDir({ path: dest, fsync: false }) }, jobs: { j: { sources: { db: killing }, destinations: ['local'] } } });
    const run = await arca.run('j');
    expect(run.status).toBe('failed');
    expect(run.error?.code).toBe('SOURCE_FAILED');
    expect(await arca.list('j')).toEqual([]);
    const files = await fs.readdir(dest, { recursive: true }).catch(() => [] as string[]);
    expect(files.filter((f) => String(f).endsWith('manifest.json'))).toEqual([]);
  });

  it('validates options: forbidden extraArgs, no database, bad URI (without echoing the password)', () => {
    const bad = (o: unknown) => {
      try {
        postgres(o as never);
      } catch (e) {
        return e as ArcaError;
      }
      throw new Error('expected CONFIG_INVALID');
    };
    expect(bad({ ...PG, database: 'x', extraArgs: ['--file=/tmp/x'] }).code).toBe('CONFIG_INVALID');
    expect(bad({ ...PG, database: 'x', extraArgs: ['-Fp'] }).code).toBe('CONFIG_INVALID');
    expect(bad({ host: 'h' }).message).toMatch(/connection.*database/);
    const uri = bad({ connection: 'mysql://u:hunter2-secret@h/db' });
    expect(uri.code).toBe('CONFIG_INVALID');
    expect(uri.message).not.toContain('hunter2-secret');
    expect(bad({ connection: 'postgres://h/db?foo=bar' }).message).toMatch(/unsupported connection parameter "foo"/);
    expect(bad({ ...PG, database: 'x', schemaOnly: true, dataOnly: true }).message).toMatch(/exclude each other/);
  });

  it('records row counts only for tables whose data is dumped (excludeTableData, includeTables)', async () => {
    await sql(db, 'CREATE TABLE IF NOT EXISTS public.sessions AS SELECT i FROM generate_series(1, 10) i');
    const d1 = await postgres({ ...PG, database: db, excludeTableData: ['sess*'] }).dump();
    await collect(d1.stream);
    const tables1 = (await d1.meta()).tables as Record<string, number>;
    expect(tables1['public.t']).toBe(200000);
    expect(tables1['public.sessions']).toBeUndefined();
    const d2 = await postgres({ ...PG, database: db, includeTables: ['public.sessions'], format: 'plain' }).dump();
    expect(d2.filename).toBe('db.sql');
    const text = (await collect(d2.stream)).toString();
    expect(text).toContain('CREATE TABLE public.sessions');
    expect(text).not.toContain('CREATE TABLE public.t ');
    expect((await d2.meta()).tables).toEqual({ 'public.sessions': 10 });
  });
});
