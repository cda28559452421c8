/**
 * Modes of everything Arca writes (issue #15), watched while the real `arca` binary backs up
 * PostgreSQL (password through a passfile), MariaDB (password through --defaults-extra-file),
 * SQLite and a folder to a local destination, then restores PostgreSQL and MariaDB in place
 * (each after a safety backup). A separate process samples the mode of every file and
 * folder under the project and a private TMPDIR every few ms, so short-lived files (the
 * passfile, the MySQL option file, temp files of atomic writes, the lock) are seen too.
 * The documented table is in docs/guide/security.md ("Files Arca writes and their modes").
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithService } from '@arca/core/test-kit';
import { arca, buildCli, tempProject, type CliResult } from '../../packages/cli/test/cli-harness.js';
import { probeMariaDb } from '../../packages/source-mysql/test/helpers.js';
import { probePostgres } from '../../packages/source-postgres/test/pg-helpers.js';
import { canary } from './canaries.js';
import { createDatabases, type DbLogins } from './leak-world.js';
import { startSampler, type SamplerReport } from './proc-sampler.js';

const probe = async () => (await probePostgres()) ?? (await probeMariaDb());

await describeWithService('modes of the files Arca writes', probe, () => {
  let dbs: DbLogins;
  let dir: string;
  let tmp: string;
  let report: SamplerReport;
  const results: Array<{ args: string[]; r: CliResult }> = [];

  beforeAll(async () => {
    await buildCli('security-modes');
    dbs = await createDatabases(randomBytes(4).toString('hex'), canary('modes-pg'), canary('modes-my'));
    dir = await tempProject('security-modes');
    tmp = path.join(dir, 'tmp');
    await fs.mkdir(tmp, { mode: 0o700 });
    await fs.mkdir(path.join(dir, 'data'));
    await fs.writeFile(path.join(dir, 'data', 'a.txt'), 'alpha\n');
    const db = new Database(path.join(dir, 'app.db'));
    db.exec("CREATE TABLE t (x); INSERT INTO t VALUES ('row');");
    db.close();
    const pg = { use: '@arca/source-postgres', host: dbs.pg.host, port: dbs.pg.port, user: dbs.pg.user, password: '${MODES_PG_PW}', passwordVia: 'passfile' };
    const config = {
      destinations: { local: { use: 'localDir', path: './backups' } },
      jobs: {
        all: {
          sources: {
            pg: { ...pg, database: dbs.pg.database },
            my: { use: '@arca/source-mysql', host: dbs.mysql.host, port: dbs.mysql.port, user: dbs.mysql.user, password: '${MODES_MY_PW}', database: dbs.mysql.database },
            app: { use: '@arca/source-sqlite', path: './app.db' },
            files: { use: 'directory', path: './data' },
          },
          destinations: ['local'],
        },
      },
    };
    await fs.writeFile(path.join(dir, 'arca.config.json'), JSON.stringify(config, null, 2));
    const env = { TMPDIR: tmp, MODES_PG_PW: dbs.pg.password, MODES_MY_PW: dbs.mysql.password };
    const run = async (args: string[]) => void results.push({ args, r: await arca(args, { cwd: dir, env }) });

    const sampler = await startSampler({ watchDirs: [dir], intervalMs: 4 });
    try {
      await run(['backup', 'all', '--json']);
      // In place: a safety backup first, then the artifact is spooled and checked before pg_restore touches the database.
      await run(['restore', 'all', 'latest', '--artifact', 'pg', '--yes', '--overwrite']);
      await run(['restore', 'all', 'latest', '--artifact', 'my', '--yes', '--overwrite']);
      await run(['keygen', '--out', 'identity.txt']);
    } finally {
      report = await sampler.stop();
    }
  });
  afterAll(async () => {
    await dbs?.drop();
    if (dir && !process.env.ARCA_KEEP_TMP) await fs.rm(dir, { recursive: true, force: true });
  });

  /** Sampled entries under `sub` of the project: [relative path, modes seen, 'f'|'d']. */
  const seen = (sub: string) =>
    Object.entries(report.modes)
      .map(([k, modes]) => ({ type: k[0], rel: path.relative(dir, k.slice(2)), modes }))
      .filter((e) => e.rel === sub || e.rel.startsWith(sub + path.sep));

  it('the commands worked (so the files below were really written)', () => {
    for (const { args, r } of results) expect(r.code, `arca ${args.join(' ')}: ${r.stdout}${r.stderr}`).toBe(0);
    expect(report.ticks).toBeGreaterThan(20);
  });

  it('local backups: artifacts, manifests and temp files of atomic writes are 0600; folders 0755 (listable, not writable)', () => {
    const files = seen('backups').filter((e) => e.type === 'f');
    expect(files.filter((e) => e.rel.endsWith('manifest.json')).length).toBeGreaterThanOrEqual(3); // backup + a safety backup before each in-place restore
    expect(files.filter((e) => /\.(pgdump|sql|sqlite|tar)(\.gz)?$/.test(e.rel)).length).toBeGreaterThanOrEqual(4);
    for (const f of files) expect(f.modes, f.rel).toEqual(['0600']);
    for (const d of seen('backups').filter((e) => e.type === 'd')) expect(d.modes, d.rel).toEqual(['0755']);
  });

  it('temp files (pg passfile, MySQL option file, restore spool, SQLite snapshot) are 0600 in 0700 folders, and gone afterwards', async () => {
    const entries = seen('tmp');
    const files = entries.filter((e) => e.type === 'f');
    expect(files.some((e) => /arca-pg-[^/]+\/pgpass$/.test(e.rel)), JSON.stringify(entries)).toBe(true);
    expect(files.some((e) => /arca-mysql-[^/]+\//.test(e.rel)), JSON.stringify(entries)).toBe(true);
    expect(files.some((e) => /arca-pg-restore-[^/]+\//.test(e.rel)), JSON.stringify(entries)).toBe(true);
    expect(files.some((e) => /arca-sqlite-[^/]+\//.test(e.rel)), JSON.stringify(entries)).toBe(true);
    for (const f of files) expect(f.modes, f.rel).toEqual(['0600']);
    for (const d of entries.filter((e) => e.type === 'd' && e.rel !== 'tmp')) expect(d.modes, d.rel).toEqual(['0700']);
    expect(await fs.readdir(tmp)).toEqual([]);
  });

  it('the CLI run log is 0600; lock files 0644 (pid, host and a token: no secret), never group/world-writable', async () => {
    expect(((await fs.stat(path.join(dir, '.arca', 'runs.jsonl'))).mode & 0o777).toString(8)).toBe('600');
    const locks = seen(path.join('.arca', 'locks')).filter((e) => e.type === 'f');
    expect(locks.length).toBeGreaterThan(0);
    for (const l of locks) for (const m of l.modes) expect(parseInt(m, 8) & 0o022, `${l.rel} ${m}`).toBe(0);
    expect(locks.filter((l) => !l.rel.endsWith('.tmp')).flatMap((l) => l.modes)).toContain('0644');
  });

  it('arca keygen writes the age identity 0600', async () => {
    expect(((await fs.stat(path.join(dir, 'identity.txt'))).mode & 0o777).toString(8)).toBe('600');
  });
});
