/**
 * Smoke test of the postgres-nas example: the real `arca` binary (node_modules/.bin/arca, the
 * built packages/cli, as `npx arca` runs it from cron) with this folder's arca.config.ts,
 * against the real PostgreSQL (127.0.0.1:5432, trust), a real sshd as the NAS and an SMTP
 * listener with STARTTLS + AUTH (the Gmail setup). Settings reach the config through the
 * environment, as from /etc/arca/env.
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithService } from '@arca/core/test-kit';
import { sshdProbe, startSshd, type Sshd } from '../../packages/dest-sftp/test/sshd-harness.js';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const ROOT = path.join(HERE, '..', '..');
const ARCA = path.join(ROOT, 'node_modules', '.bin', 'arca');
const DB = `gestionale_${randomBytes(4).toString('hex')}`;
const SCRATCH = `${DB}_restored`;
const APP_PASSWORD = 'abcd efgh ijkl mnop';

const admin = async <T extends pg.QueryResultRow>(database: string, text: string): Promise<T[]> => {
  const c = new pg.Client({ host: '127.0.0.1', port: 5432, user: 'postgres', database, connectionTimeoutMillis: 3000 });
  await c.connect();
  try {
    return (await c.query<T>(text)).rows;
  } finally {
    await c.end();
  }
};

async function probe(): Promise<string | undefined> {
  try {
    await admin('postgres', 'SELECT 1');
  } catch (e) {
    return `PostgreSQL at 127.0.0.1:5432 (postgres, trust) is not reachable: ${(e as Error).message}`;
  }
  if (!existsSync(path.join(ROOT, 'packages', 'cli', 'dist', 'cli.js'))) return 'the arca CLI is not built: run `npm run build` at the repository root first';
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
  } catch {
    return 'the openssl CLI is needed for the SMTP test certificate (apt-get install openssl)';
  }
  return sshdProbe();
}

let sshd: Sshd;
let work: string;
let smtp: SMTPServer;
const mails: Array<{ raw: string; rcptTo: string[]; user?: string; secure: boolean }> = [];
let env: Record<string, string>;

/** `arca <args>` with the config's folder as cwd, as the crontab line runs it. */
function arca(args: string[], extraEnv: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string; json(): any }> {
  return new Promise((resolve, reject) => {
    const child = spawn(ARCA, args, { cwd: work, env: { ...process.env, NO_COLOR: '1', ...env, ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr, json: () => JSON.parse(stdout) }));
  });
}

await describeWithService('examples/postgres-nas: arca CLI + PostgreSQL + sshd + SMTP', probe, () => {
  beforeAll(async () => {
    // The config is used verbatim; a copy under .tmp/ keeps the CLI's .arca/ state (run log,
    // lock) out of the example folder, and @arca/* still resolve from the repository.
    await fs.mkdir(path.join(HERE, '.tmp'), { recursive: true });
    work = await fs.mkdtemp(path.join(HERE, '.tmp', 'run-'));
    await fs.copyFile(path.join(HERE, 'arca.config.ts'), path.join(work, 'arca.config.ts'));
    const conf = path.join(work, 'server-config');
    await fs.mkdir(path.join(conf, 'nginx'), { recursive: true });
    await fs.mkdir(path.join(conf, '#recycle'), { recursive: true });
    await fs.writeFile(path.join(conf, 'nginx', 'gestionale.conf'), 'server { listen 443 ssl; }\n');
    await fs.writeFile(path.join(conf, 'docker-compose.yml'), 'services: {}\n');
    await fs.writeFile(path.join(conf, '#recycle', 'old.conf'), 'deleted long ago\n');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', path.join(work, 'key.pem'), '-out', path.join(work, 'cert.pem')], { stdio: 'ignore' });

    await admin('postgres', `CREATE DATABASE ${DB}`);
    await admin(DB, `CREATE TABLE clienti (id serial PRIMARY KEY, nome text NOT NULL);
      CREATE TABLE ordini (id serial PRIMARY KEY, cliente_id int NOT NULL REFERENCES clienti(id), totale numeric(10,2) NOT NULL, creato timestamptz NOT NULL DEFAULT now());
      INSERT INTO clienti (nome) SELECT 'Cliente ' || g FROM generate_series(1, 50) g;
      INSERT INTO ordini (cliente_id, totale) SELECT 1 + g % 50, g * 1.5 FROM generate_series(1, 1200) g;`);

    sshd = await startSshd();
    await fs.writeFile(path.join(work, 'nas_ed25519'), sshd.privateKey, { mode: 0o600 });
    smtp = new SMTPServer({
      key: await fs.readFile(path.join(work, 'key.pem')),
      cert: await fs.readFile(path.join(work, 'cert.pem')),
      logger: false,
      authMethods: ['PLAIN', 'LOGIN'],
      onAuth(auth, _s, cb) {
        if (auth.username === 'backup@example.com' && auth.password === APP_PASSWORD) cb(null, { user: auth.username });
        else cb(Object.assign(new Error('5.7.8 Username and Password not accepted'), { responseCode: 535 }));
      },
      onData(stream, session, cb) {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          mails.push({ raw: Buffer.concat(chunks).toString('utf8'), rcptTo: session.envelope.rcptTo.map((r) => r.address), user: session.user as string | undefined, secure: session.secure });
          cb();
        });
      },
    });
    await new Promise<void>((r) => smtp.listen(0, '127.0.0.1', () => r()));
    env = {
      NAS_HOST: sshd.host,
      NAS_PORT: String(sshd.port),
      NAS_USER: sshd.username,
      // Key auth: the harness's password is shared by every sshd test process (each sets it with chpasswd).
      NAS_KEY_FILE: path.join(work, 'nas_ed25519'),
      NAS_HOST_KEY: sshd.fingerprint,
      NAS_ROOT: sshd.root,
      DB_HOST: '127.0.0.1',
      DB_PORT: '5432',
      DB_USER: 'postgres',
      DB_PASSWORD: 'pg-secret-ignored-by-trust', // trust auth accepts it: the password path runs, unchecked
      DB_NAME: DB,
      CONFIG_DIR: conf,
      SMTP_HOST: '127.0.0.1',
      SMTP_PORT: String((smtp.server.address() as AddressInfo).port),
      SMTP_USER: 'backup@example.com',
      SMTP_APP_PASSWORD: APP_PASSWORD,
      SMTP_CA_FILE: path.join(work, 'cert.pem'),
      MAIL_TO: 'ops@example.com, mauri@example.com',
    };
  });

  afterAll(async () => {
    await new Promise<void>((r) => (smtp ? smtp.close(() => r()) : r()));
    await sshd?.stop();
    for (const d of [DB, SCRATCH]) await admin('postgres', `DROP DATABASE IF EXISTS ${d} WITH (FORCE)`).catch(() => {});
    if (work) await fs.rm(work, { recursive: true, force: true });
  });

  it('arca backup: pg_dump and the config folder to the NAS over SFTP (exit 0)', async () => {
    const r = await arca(['backup', 'gestionale', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const [run] = r.json().result.runs;
    expect(run).toMatchObject({ job: 'gestionale', status: 'completed' });
    const files = (await fs.readdir(sshd.pathOf(`gestionale/${run.backupId}`))).sort();
    expect(files).toEqual(['config.tar.gz', 'db.pgdump.gz', 'manifest.json']);
    const manifest = await fs.readFile(sshd.pathOf(`gestionale/${run.backupId}/manifest.json`), 'utf8');
    expect(manifest).toContain(DB);
    for (const secret of [env.DB_PASSWORD!, APP_PASSWORD, sshd.privateKey.split('\n')[1]!]) expect(manifest).not.toContain(secret);
    expect(r.stdout + r.stderr).not.toContain(env.DB_PASSWORD);
  });

  it('a missing setting stops arca with exit code 2 and names it', async () => {
    const r = await arca(['config'], { MAIL_TO: '' });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('MAIL_TO is not set');
  });

  it('arca list, arca verify (checksum re-read from the NAS), arca prune and arca health', async () => {
    const list = await arca(['list', 'gestionale', '--json']);
    expect(list.code, list.stderr).toBe(0);
    const [b] = list.json().result.backups;
    expect(b.destinations).toEqual(['nas']);
    expect(b.artifacts.map((a: { source: string }) => a.source).sort()).toEqual(['config', 'db']);
    const verify = await arca(['verify', 'gestionale', 'latest', '--json']);
    expect(verify.code, verify.stderr).toBe(0);
    expect(verify.json().result.ok).toBe(true);
    // The other crontab lines: retention (nothing is older than 7 days) and the 26 h RPO check.
    const prune = await arca(['prune', 'gestionale', '--json']);
    expect(prune.code, prune.stderr).toBe(0);
    const health = await arca(['health', '--json']);
    expect(health.code, health.stderr).toBe(0);
    expect(health.json().result.jobs[0]).toMatchObject({ job: 'gestionale', healthy: true, maxAgeMs: 26 * 3600_000 });
  });

  it('arca restore into a scratch database: same row counts; the config folder restored without #recycle', async () => {
    // As in the README: the password is a ${DB_PASSWORD} reference that arca resolves, never argv.
    const into = JSON.stringify({ use: '@arca/source-postgres', host: '127.0.0.1', user: 'postgres', password: '${DB_PASSWORD}', database: SCRATCH, restore: { createDatabase: true } });
    const r = await arca(['restore', 'gestionale', 'latest', '--artifact', 'db', '--into', into, '--yes', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout + r.stderr).not.toContain(env.DB_PASSWORD);
    for (const t of ['clienti', 'ordini']) {
      const [want] = await admin<{ n: string }>(DB, `SELECT count(*) AS n FROM ${t}`);
      const [got] = await admin<{ n: string }>(SCRATCH, `SELECT count(*) AS n FROM ${t}`);
      expect(got!.n).toBe(want!.n);
    }
    const out = path.join(work, 'restored-config');
    const c = await arca(['restore', 'gestionale', 'latest', '--artifact', 'config', '--into', out, '--yes']);
    expect(c.code, c.stderr).toBe(0);
    expect(await fs.readFile(path.join(out, 'nginx', 'gestionale.conf'), 'utf8')).toBe('server { listen 443 ssl; }\n');
    expect(existsSync(path.join(out, '#recycle'))).toBe(false);
  });

  it('a failing backup exits 1 and mails every recipient through STARTTLS + AUTH; the app password never shows', async () => {
    const r = await arca(['backup', 'gestionale', '--json'], { DB_NAME: `${DB}_missing` });
    expect(r.code).toBe(1);
    expect(r.json().result.runs[0]).toMatchObject({ status: 'failed', error: { code: 'NOT_FOUND' } });
    await expect.poll(() => mails.length, { timeout: 15_000 }).toBe(1);
    const [mail] = mails;
    expect(mail!.rcptTo).toEqual(['ops@example.com', 'mauri@example.com']);
    expect(mail!.secure).toBe(true);
    expect(mail!.user).toBe('backup@example.com');
    expect(mail!.raw).toMatch(/^Subject: \[gestionale backup\]/m);
    expect(mail!.raw).toContain('gestionale');
    expect(mail!.raw + r.stdout + r.stderr).not.toContain(APP_PASSWORD);
  });
});
