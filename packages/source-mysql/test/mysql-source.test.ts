import * as fs from 'node:fs/promises';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ArcaError, createArca, localDir, type Source } from '@arca/core';
import { describeWithService } from '@arca/core/test-kit';
import { mysql } from '@arca/source-mysql';
import type { Connection } from 'mysql2/promise';
import { HOST, PORT, admin, checksums, childPids, cmdline, createUser, databasesLike, dropDb, objects, probeMariaDb, seedLogistics, uniqueName } from './helpers.js';

async function rejection(p: Promise<unknown>): Promise<ArcaError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e, 'expected a rejection').toBeInstanceOf(ArcaError);
  return e as ArcaError;
}

async function* bytes(s: string | Buffer): AsyncIterable<Uint8Array> {
  yield Buffer.from(s);
}

async function drain(it: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of it) parts.push(Buffer.from(c));
  return Buffer.concat(parts);
}

async function exists(p: string): Promise<boolean> {
  return fs.access(p).then(
    () => true,
    () => false,
  );
}

function defaultsPath(argv: string[]): string {
  const a = argv.find((x) => x.startsWith('--defaults-extra-file='));
  expect(a, 'child argv has --defaults-extra-file').toBeDefined();
  return a!.slice('--defaults-extra-file='.length);
}

await describeWithService('mysql source on the real MariaDB: secrets, failures, check', probeMariaDb, () => {
  let c: Connection;
  const db = uniqueName('src');
  const user = uniqueName('u');
  const password = `Pw-${uniqueName('x')}-é"\\#`;
  const weak = uniqueName('w');
  const weakPassword = `Weak-${uniqueName('y')}`;
  let dropUser: () => Promise<void>;
  let dropWeak: () => Promise<void>;
  const extraDbs: string[] = [];
  const opts = () => ({ host: HOST, port: PORT, user, password, database: db });

  beforeAll(async () => {
    c = await admin();
    await seedLogistics(c, db, 200_000);
    dropUser = await createUser(c, user, password, [`ALL PRIVILEGES ON \`arcat\\_%\`.*`, 'SELECT ON mysql.proc', 'SET USER ON *.*']);
    dropWeak = await createUser(c, weak, weakPassword, [`SELECT ON \`${db}\`.*`]);
  }, 300_000);
  afterAll(async () => {
    for (const d of [db, ...extraDbs]) await dropDb(c, d);
    await dropUser?.();
    await dropWeak?.();
    await c.end();
  }, 120_000);

  it('passes the password only through a 0600 option file that is gone after the dump', async () => {
    const dump = await mysql(opts()).dump();
    const it = dump.stream[Symbol.asyncIterator]();
    expect((await it.next()).done).toBe(false);
    const pids = await childPids('mariadb-dump');
    expect(pids).toHaveLength(1);
    const argv = await cmdline(pids[0]!);
    expect(argv.join(' ')).not.toContain(password);
    expect(argv.some((a) => a.startsWith('-p') || a.startsWith('--password'))).toBe(false);
    const file = defaultsPath(argv);
    expect((await fs.stat(file)).mode & 0o777).toBe(0o600);
    expect((await fs.stat(path.dirname(file))).mode & 0o777).toBe(0o700);
    expect(await fs.readFile(file, 'utf8')).toContain('password=');
    // The environment of the child carries no password either.
    expect(await fs.readFile(`/proc/${pids[0]}/environ`, 'utf8')).not.toContain(password);
    for (let r = await it.next(); !r.done; r = await it.next());
    expect(await exists(file)).toBe(false);
    expect(await childPids('mariadb-dump')).toEqual([]);
    expect(JSON.stringify(await dump.meta())).not.toContain(password);
  });

  it('removes the option file and the child on abort and on early stop', async () => {
    const ac = new AbortController();
    const dump = await mysql(opts()).dump({ signal: ac.signal });
    const it = dump.stream[Symbol.asyncIterator]();
    await it.next();
    const file = defaultsPath(await cmdline((await childPids('mariadb-dump'))[0]!));
    ac.abort();
    const err = await rejection((async () => {
      for (let r = await it.next(); !r.done; r = await it.next());
    })());
    expect(err.code).toBe('ABORTED');
    expect(await exists(file)).toBe(false);
    expect(await childPids('mariadb-dump')).toEqual([]);

    const dump2 = await mysql(opts()).dump();
    const it2 = dump2.stream[Symbol.asyncIterator]();
    await it2.next();
    const file2 = defaultsPath(await cmdline((await childPids('mariadb-dump'))[0]!));
    await it2.return!();
    expect(await exists(file2)).toBe(false);
    expect(await childPids('mariadb-dump')).toEqual([]);
  });

  it('keeps the password out of the restore client argv too', async () => {
    const target = uniqueName('src_rt');
    extraDbs.push(target);
    const sql = await drain((await mysql(opts()).dump()).stream);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    async function* paused(): AsyncIterable<Uint8Array> {
      yield sql.subarray(0, 1 << 16);
      await gate;
      yield sql.subarray(1 << 16);
    }
    const restoring = mysql({ ...opts(), database: target, createDatabase: true }).restore(paused());
    let pids: number[] = [];
    while (!(pids = await childPids('mariadb')).length) await new Promise((r) => setImmediate(r));
    const argv = await cmdline(pids[0]!);
    expect(argv.join(' ')).not.toContain(password);
    const file = defaultsPath(argv);
    release();
    await restoring;
    expect(await exists(file)).toBe(false);
    expect(await checksums(c, target)).toEqual(await checksums(c, db));
  });

  it('wrong password: SOURCE_FAILED (dump) and a check() problem, no secret in messages', async () => {
    const bad = mysql({ ...opts(), password: 'definitely-Wrong-pw' });
    const e = await rejection(bad.dump());
    expect(e.code).toBe('SOURCE_FAILED');
    expect(e.message).toMatch(/access denied/i);
    expect(e.message).not.toContain('definitely-Wrong-pw');
    const r = await bad.check();
    expect(r.ok).toBe(false);
    expect(r.problems.join(' ')).toMatch(/access denied/i);
    expect(JSON.stringify(r)).not.toContain('definitely-Wrong-pw');
  });

  it('unknown database: NOT_FOUND with what to do', async () => {
    const e = await rejection(mysql({ ...opts(), database: uniqueName('nope') }).dump());
    expect(e.code).toBe('NOT_FOUND');
    expect(e.message).toMatch(/does not exist/);
  });

  it('unreachable host: fails after the connect timeout with SOURCE_FAILED', async () => {
    // A listener that accepts and never speaks: the handshake times out.
    const sockets: net.Socket[] = [];
    const server = net.createServer((s) => void sockets.push(s));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as net.AddressInfo).port;
    try {
      const src = mysql({ host: '127.0.0.1', port, user, password, database: db, connectTimeoutMs: 500 });
      const e = await rejection(src.dump());
      expect(e.code).toBe('SOURCE_FAILED');
      expect(e.message).toMatch(/cannot reach|timeout|timed out/i);
      expect((await src.check()).ok).toBe(false);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    }
  });

  it('dump tool missing: TOOL_NOT_FOUND, and check() says so', async () => {
    const src = mysql({ ...opts(), dumpPath: '/nonexistent/mariadb-dump' });
    expect((await rejection(src.dump())).code).toBe('TOOL_NOT_FOUND');
    const r = await src.check();
    expect(r.ok).toBe(false);
    expect(r.problems.join(' ')).toContain('/nonexistent/mariadb-dump');
  });

  it('a dump killed mid-stream fails the run and leaves no manifest', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'arca-mysql-kill-'));
    try {
      // The real source, with the real child SIGKILLed after the first chunk (before the rest is read).
      const real = mysql(opts());
      let killed = false;
      const killing: Source = {
        kind: real.kind,
        describe: real.describe,
        async dump(o) {
          const d = await real.dump(o);
          async function* stream(): AsyncIterable<Uint8Array> {
            for await (const chunk of d.stream) {
              if (!killed) {
                const pids = await childPids('mariadb-dump');
                for (const p of pids) process.kill(p, 'SIGKILL');
                killed = pids.length === 1;
              }
              yield chunk;
            }
          }
          return { ...d, stream: stream() };
        },
      };
      const arca = createArca({
        destinations: { local: localDir({ path: dir }) },
        jobs: { j: { sources: { db: killing }, destinations: ['local'] } },
      });
      const run = await arca.run('j');
      expect(killed).toBe(true);
      expect(run.status).toBe('failed');
      expect(run.error?.code).toBe('SOURCE_FAILED');
      expect(run.error?.message).toMatch(/killed by SIGKILL|exited with code/);
      expect(await arca.list('j')).toEqual([]);
      const files = await fs.readdir(dir, { recursive: true });
      expect(files.filter((f) => String(f).endsWith('manifest.json'))).toEqual([]);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it('a broken SQL artifact: RESTORE_FAILED with the client stderr, target and server untouched', async () => {
    const target = uniqueName('src_keep');
    extraDbs.push(target);
    const src = mysql({ ...opts(), database: target, createDatabase: true });
    await src.restore((await mysql(opts()).dump()).stream);
    const before = { sums: await checksums(c, target), objects: await objects(c, target) };
    const sql = await drain((await mysql(opts()).dump()).stream);
    const broken = Buffer.concat([sql.subarray(0, sql.length >> 1), Buffer.from('\nTHIS IS NOT SQL;\n'), sql.subarray(sql.length >> 1)]);
    const e = await rejection(src.restore(bytes(broken), { overwrite: true }));
    expect(e.code).toBe('RESTORE_FAILED');
    expect(e.message).toMatch(/ERROR 1064/);
    expect(e.message).not.toContain(password);
    expect({ sums: await checksums(c, target), objects: await objects(c, target) }).toEqual(before);
    expect(await databasesLike(c, target + '_arca')).toEqual([]);

    // A multi-database dump would write into the databases it names: refused before loading.
    const multi = Buffer.from('CREATE DATABASE /*!32312 IF NOT EXISTS*/ `other`;\nUSE `other`;\nCREATE TABLE x (a int);\n');
    expect((await rejection(src.restore(bytes(multi), { overwrite: true }))).code).toBe('NOT_SUPPORTED');
    expect(await checksums(c, target)).toEqual(before.sums);

    // A missing target without createDatabase is NOT_FOUND, and nothing is created.
    const missing = uniqueName('src_missing');
    expect((await rejection(mysql({ ...opts(), database: missing }).restore(bytes(sql)))).code).toBe('NOT_FOUND');
    expect(await databasesLike(c, missing)).toEqual([]);
  });

  it('a swap that fails half-way (no DROP privilege on the target) puts the old content back', async () => {
    const target = uniqueName('src_swap');
    extraDbs.push(target);
    await mysql({ host: HOST, port: PORT, user: 'root', database: target, createDatabase: true }).restore((await mysql(opts()).dump()).stream);
    await c.query(`DELETE FROM \`${target}\`.tracking WHERE id > 100`); // make old and new content differ
    const before = { sums: await checksums(c, target), objects: await objects(c, target) };
    const lim = uniqueName('lim');
    const limPassword = `Lim-${uniqueName('z')}`;
    // Everything on the scratch names, but no DROP on the target: dropping its old views fails
    // after its events and triggers were already dropped.
    const dropLim = await createUser(c, lim, limPassword, [
      `ALL PRIVILEGES ON \`${target.replace(/_/g, '\\_')}\\_arca\\_%\`.*`,
      `SELECT, INSERT, CREATE, SHOW VIEW, TRIGGER, EVENT ON \`${target}\`.*`,
      'SELECT ON mysql.proc',
      'SET USER ON *.*',
    ]);
    try {
      const e = await rejection(
        mysql({ host: HOST, port: PORT, user: lim, password: limPassword, database: target }).restore((await mysql(opts()).dump()).stream, { overwrite: true }),
      );
      expect(e.code).toBe('RESTORE_FAILED');
      expect(e.message).toMatch(/previous content was put back/);
      expect({ sums: await checksums(c, target), objects: await objects(c, target) }).toEqual(before);
      expect(await databasesLike(c, target + '_arca')).toEqual([]);
    } finally {
      await dropLim();
    }
  });

  it('abort during restore: ABORTED, target untouched, scratch dropped', async () => {
    const target = uniqueName('src_abort');
    extraDbs.push(target);
    const src = mysql({ ...opts(), database: target, createDatabase: true });
    await src.restore((await mysql(opts()).dump()).stream);
    const before = await checksums(c, target);
    const ac = new AbortController();
    const dump = await mysql(opts()).dump();
    async function* abortMidway(): AsyncIterable<Uint8Array> {
      let n = 0;
      for await (const chunk of dump.stream) {
        yield chunk;
        if (++n === 5) ac.abort();
      }
    }
    const e = await rejection(src.restore(abortMidway(), { overwrite: true, signal: ac.signal }));
    expect(e.code).toBe('ABORTED');
    expect(await checksums(c, target)).toEqual(before);
    expect(await databasesLike(c, target + '_arca')).toEqual([]);
    expect(await childPids('mariadb')).toEqual([]);
  });

  it('check(): ok with facts for a capable user, lists missing privileges for a SELECT-only user', async () => {
    // InnoDB refreshes table sizes in information_schema asynchronously: make them current first.
    const [tables] = await c.query(`SELECT table_name AS t FROM information_schema.tables WHERE table_schema = ? AND table_type = 'BASE TABLE'`, [db]);
    for (const { t } of tables as Array<{ t: string }>) await c.query(`ANALYZE TABLE \`${db}\`.\`${t}\``);
    const ok = await mysql(opts()).check();
    expect(ok.problems).toEqual([]);
    expect(ok.ok).toBe(true);
    expect(ok.facts).toMatchObject({ server: { flavour: 'mariadb' }, databases: [db], tables: 8 });
    expect(ok.facts.estimatedBytes).toBeGreaterThan(1_000_000);
    expect(ok.facts.dumpTool).toMatchObject({ flavour: 'mariadb' });

    const r = await mysql({ host: HOST, port: PORT, user: weak, password: weakPassword, database: db }).check();
    expect(r.ok).toBe(false);
    const text = r.problems.join('\n');
    expect(text).toContain('SHOW VIEW');
    expect(text).toContain('TRIGGER');
    expect(text).toContain('EVENT');
    expect(text).toMatch(/routines/);
    expect(text).not.toContain(weakPassword);
    // Turning the options off removes those needs.
    const r2 = await mysql({ host: HOST, port: PORT, user: weak, password: weakPassword, database: db, routines: false, triggers: false, events: false }).check();
    expect(r2.problems.join('\n')).not.toMatch(/TRIGGER|EVENT|routines/);
  });

  it('drill reports failed checks (recorded counts differ) and still drops the scratch database', async () => {
    const src = mysql(opts());
    const dump = await src.dump();
    const sql = await drain(dump.stream);
    const meta = (await dump.meta()) as any;
    meta.databases[db].tables.orders += 1;
    meta.databases[db].triggers = [...meta.databases[db].triggers, 'ghost_trigger'];
    const report = await src.drill(bytes(sql), { expected: meta, assertions: [{ name: 'no customers named X', sql: "SELECT COUNT(*) FROM customers WHERE name = 'X'", expect: 1 }] });
    expect(report.ok).toBe(false);
    expect(report.problems).toEqual([
      expect.stringMatching(/^row counts: orders: 200 rows, 201 at dump time/),
      'triggers: missing ghost_trigger',
      'no customers named X: got "0", expected 1',
    ]);
    expect(await databasesLike(c, db + '_arca')).toEqual([]);
    // As a restore target the failed drill is RESTORE_FAILED carrying the report.
    const target = src.drillTarget({ expected: meta });
    const e = await rejection(target.restore!(bytes(sql)));
    expect(e.code).toBe('RESTORE_FAILED');
    expect(target.report?.ok).toBe(false);
  });
});
