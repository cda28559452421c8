/**
 * Smoke test of the Partesa example against real services: MariaDB (127.0.0.1:3306, root),
 * a real sshd as the remote copy, an SMTP listener (smtp-server) and a Slack webhook
 * receiver. It runs backups through the dashboard API, the weekly restore drill, the RPO
 * health check with its alerts, and every role against the routes (403 where not allowed).
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createConnection, type Connection, type RowDataPacket } from 'mysql2/promise';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithService } from '@arca/core/test-kit';
import { sshdProbe, startSshd, type Sshd } from '../../packages/dest-sftp/test/sshd-harness.js';
import { startReceiver } from '../../packages/core/test/notifier-receiver.js';
import { JOB, restoreDrill } from './partesa-backups.js';
import type { Role, User } from './partesa-admin.js';
import { settingsFromEnv, startPartesa, type RunningPartesa } from './server.js';
import type { PartesaSettings } from './partesa-backups.js';

const DB = `partesa_${randomBytes(4).toString('hex')}`;
const USERS: Record<string, User> = {
  mario: { role: 'dba', password: 'dba-pw' },
  sara: { role: 'sysadmin', password: 'sys-pw' },
  dev: { role: 'developer', password: `sha256:${createHash('sha256').update('dev-pw').digest('hex')}` }, // the hashed form
};
const PASSWORDS: Record<Role, [string, string]> = { dba: ['mario', 'dba-pw'], sysadmin: ['sara', 'sys-pw'], developer: ['dev', 'dev-pw'] };

async function root(): Promise<Connection> {
  return createConnection({ host: '127.0.0.1', port: 3306, user: 'root', password: '', multipleStatements: true, connectTimeout: 3000 });
}

async function probe(): Promise<string | undefined> {
  try {
    await (await root()).end();
  } catch (e) {
    return `MariaDB at 127.0.0.1:3306 (root, empty password) is not reachable: ${(e as Error).message}`;
  }
  if (!existsSync(new URL('../../packages/http/dist/index.js', import.meta.url))) return 'the workspace is not built (npm start runs the built @arca/* packages): run `npm run build` first';
  return sshdProbe();
}

async function count(c: Connection, sql: string): Promise<number> {
  const [rows] = await c.query<RowDataPacket[]>(sql);
  return Number(Object.values(rows[0]!)[0]);
}

let conn: Connection;
let sshd: Sshd;
let app: RunningPartesa;
let settings: PartesaSettings;
let work: string;
const mails: string[] = [];
let smtp: SMTPServer;
let slack: Awaited<ReturnType<typeof startReceiver>>;

function as(role: Role | undefined, p: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  if (role) headers.set('authorization', `Basic ${Buffer.from(PASSWORDS[role].join(':')).toString('base64')}`);
  if (init.body) headers.set('content-type', 'application/json');
  if (init.method && init.method !== 'GET') headers.set('x-arca-request', '1'); // the API's CSRF guard
  return fetch(`${app.url}/admin/backups${p}`, { ...init, headers });
}

/** Start a backup through the API as `role` and wait for it to finish. */
async function runAs(role: Role): Promise<string> {
  const r = await as(role, `/api/jobs/${JOB}/runs`, { method: 'POST', body: '{}' });
  expect(r.status).toBe(202);
  const { runId } = (await r.json()) as { runId: string };
  const events = await (await as(role, `/api/runs/${runId}/events`)).text();
  expect(events).toContain('"status":"completed"');
  return runId;
}

await describeWithService('examples/partesa-mysql: MariaDB + sshd + SMTP + Slack', probe, () => {
  beforeAll(async () => {
    work = await fs.mkdtemp(path.join(os.tmpdir(), 'arca-partesa-'));
    conn = await root();
    await conn.query(`CREATE DATABASE \`${DB}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci; USE \`${DB}\`;
      CREATE TABLE users (id INT PRIMARY KEY AUTO_INCREMENT, email VARCHAR(100) NOT NULL) ENGINE=InnoDB;
      CREATE TABLE viaggi (id INT PRIMARY KEY AUTO_INCREMENT, targa VARCHAR(10) NOT NULL, partenza DATETIME NOT NULL) ENGINE=InnoDB;
      CREATE TABLE delivery (id INT PRIMARY KEY AUTO_INCREMENT, viaggio_id INT NOT NULL, cliente VARCHAR(100) NOT NULL,
        FOREIGN KEY (viaggio_id) REFERENCES viaggi(id)) ENGINE=InnoDB;
      CREATE TABLE user_sessions (id CHAR(32) PRIMARY KEY, user_id INT NOT NULL) ENGINE=InnoDB;
      CREATE VIEW consegne_per_viaggio AS SELECT viaggio_id, COUNT(*) AS n FROM delivery GROUP BY viaggio_id;
      CREATE TRIGGER viaggi_targa BEFORE INSERT ON viaggi FOR EACH ROW SET NEW.targa = UPPER(NEW.targa);
      INSERT INTO users (email) VALUES ('a@partesa.it'), ('b@partesa.it'), ('c@partesa.it');
      INSERT INTO viaggi (targa, partenza) SELECT CONCAT('ab', seq, 'cd'), NOW() FROM seq_1_to_40;
      INSERT INTO delivery (viaggio_id, cliente) SELECT 1 + seq % 40, CONCAT('Cliente ', seq) FROM seq_1_to_300;
      INSERT INTO user_sessions VALUES (MD5('s1'), 1);`);
    sshd = await startSshd();
    smtp = new SMTPServer({
      logger: false,
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      onData(stream, _s, cb) {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => (mails.push(Buffer.concat(chunks).toString('utf8')), cb()));
      },
    });
    await new Promise<void>((r) => smtp.listen(0, '127.0.0.1', () => r()));
    slack = await startReceiver();
    settings = {
        database: { host: '127.0.0.1', port: 3306, user: 'root', database: DB },
        backupDir: path.join(work, 'backups'),
        remote: { host: sshd.host, port: sshd.port, username: sshd.username, privateKey: sshd.privateKey, hostKey: { sha256: sshd.fingerprint }, root: sshd.root },
        smtp: { host: '127.0.0.1', port: (smtp.server.address() as AddressInfo).port, requireTLS: false },
        mailFrom: 'Backup <backup@gestione-partesa.com>',
        mailTo: ['admin@gestione-partesa.com', 'dba@gestione-partesa.com'],
        slackWebhookUrl: slack.url('/services/T000/B000/partesa'),
    };
    app = await startPartesa(settings, USERS, { port: 0, schedules: false });
  });

  afterAll(async () => {
    await app?.close();
    await new Promise<void>((r) => (smtp ? smtp.close(() => r()) : r()));
    await sshd?.stop();
    if (conn) {
      const [dbs] = await conn.query<RowDataPacket[]>(`SHOW DATABASES LIKE '${DB}%'`);
      for (const d of dbs) await conn.query(`DROP DATABASE \`${Object.values(d)[0]}\``);
      await conn.end();
    }
    if (work) await fs.rm(work, { recursive: true, force: true });
  });

  it('runs the job from the dashboard API: one gzip SQL dump on the local disk and on the SFTP remote, with the actor recorded', async () => {
    await runAs('sysadmin');
    const r = await as('developer', `/api/jobs/${JOB}/backups`);
    expect(r.status).toBe(200);
    const { backups } = (await r.json()) as { backups: Array<{ id: string; destinations: string[]; trigger: { actor?: string }; artifacts: Array<{ file: string; meta: { databases: Record<string, { tables: Record<string, number> }> } }> }> };
    expect(backups).toHaveLength(1);
    expect(backups[0]!.destinations).toEqual(['local', 'remote']);
    expect(backups[0]!.trigger.actor).toBe('sara');
    expect(backups[0]!.artifacts[0]!.file).toBe('db.sql.gz');
    expect(backups[0]!.artifacts[0]!.meta.databases[DB]!.tables).toEqual({ users: 3, viaggi: 40, delivery: 300, user_sessions: 1 });
    const remoteFiles = await fs.readdir(sshd.pathOf(`${JOB}/${backups[0]!.id}`));
    expect(remoteFiles.sort()).toEqual(['db.sql.gz', 'manifest.json']);
  });

  it('weekly restore drill: restores the remote copy into a scratch database, compares counts, drops it, and is audit-logged', async () => {
    const report = await restoreDrill(app.backups);
    expect(report.ok).toBe(true);
    expect(report.tables).toBe(4);
    expect(report.rows).toBe(344);
    expect(report.checks.find((c) => c.name === 'no delivery without its trip')?.ok).toBe(true);
    const [left] = await conn.query<RowDataPacket[]>(`SHOW DATABASES LIKE '${DB}\\_arca\\_%'`);
    expect(left).toEqual([]);
    const [audit] = await app.backups.arca.history({ job: JOB, type: 'audit' });
    expect(audit).toMatchObject({ type: 'audit', action: 'restore', actor: 'weekly-drill', ok: true });
  });

  it('health: healthy within the 4 h RPO; 5 h later unhealthy, with an e-mail to every recipient and a Slack post', async () => {
    expect((await app.backups.arca.health()).healthy).toBe(true);
    const api = (await (await as('developer', '/api/health')).json()) as { healthy: boolean; jobs: Array<{ maxAgeMs: number }> };
    expect(api.healthy).toBe(true);
    expect(api.jobs[0]!.maxAgeMs).toBe(4 * 3600_000);
    const late = await app.backups.arca.health({ now: new Date(Date.now() + 5 * 3600_000) });
    expect(late.healthy).toBe(false);
    expect(late.jobs[0]!.problems.join(' ')).toMatch(/older than|4h|RPO/i);
    const [post] = await slack.waitFor(1);
    expect(post!.url).toBe('/services/T000/B000/partesa');
    expect(JSON.stringify(post!.json)).toContain(JOB);
    await expect.poll(() => mails.length, { timeout: 10_000 }).toBeGreaterThan(0);
    expect(mails[0]).toMatch(/^To: admin@gestione-partesa\.com, dba@gestione-partesa\.com/m);
    expect(mails[0]).toMatch(/^Subject: \[partesa backup\]/m);
  });

  it('roles: developer reads only, sysadmin runs/verifies/prunes, DBA does everything including restore; anonymous gets 401', async () => {
    expect((await as(undefined, '/api/jobs')).status).toBe(401);
    const { backups } = (await (await as('developer', `/api/jobs/${JOB}/backups`)).json()) as { backups: Array<{ id: string; artifacts: Array<{ file: string }> }> };
    const b = backups[0];
    const base = `/api/jobs/${JOB}/backups/${b!.id}`;
    const routes: Record<string, () => Promise<Response>> = {
      read: () => as(current, `/api/jobs/${JOB}/backups`),
      log: () => as(current, '/log'),
      verify: () => as(current, `${base}/verify`, { method: 'POST', body: JSON.stringify({ level: 'checksum' }) }),
      prune: () => as(current, `/api/jobs/${JOB}/prune`),
      download: () => as(current, `${base}/files/${b!.artifacts[0]!.file}`),
      config: () => as(current, `/api/jobs/${JOB}/config`),
      restore: () => as(current, `${base}/restore`, { method: 'POST', body: JSON.stringify({ confirm: JOB, target: 'copy', artifact: 'db' }) }),
    };
    const allowed: Record<Role, string[]> = {
      developer: ['read', 'log'],
      sysadmin: ['read', 'log', 'verify', 'prune'],
      dba: ['read', 'log', 'verify', 'prune', 'download', 'config', 'restore'],
    };
    let current: Role = 'developer';
    for (const role of ['developer', 'sysadmin', 'dba'] as const) {
      current = role;
      for (const [name, call] of Object.entries(routes)) {
        const r = await call();
        await r.arrayBuffer();
        expect({ role, name, status: r.status }).toEqual({ role, name, status: allowed[role].includes(name) ? 200 : 403 });
      }
      const run = await as(role, `/api/jobs/${JOB}/runs`, { method: 'POST', body: '{}' });
      await run.arrayBuffer();
      if (role === 'developer') expect(run.status).toBe(403);
      else expect(run.status).toBe(202);
      if (role !== 'developer') await expect.poll(async () => ((await (await as(role, '/api/jobs')).json()) as { jobs: Array<{ running: string | null }> }).jobs[0]!.running, { timeout: 30_000 }).toBeNull();
    }
    // The DBA's restore went into the copy database: same rows as production.
    for (const t of ['users', 'viaggi', 'delivery']) expect(await count(conn, `SELECT COUNT(*) FROM \`${DB}_copy\`.${t}`)).toBe(await count(conn, `SELECT COUNT(*) FROM \`${DB}\`.${t}`));
    // Deleting is the DBA's alone.
    const del = (role: Role) => as(role, base, { method: 'DELETE' });
    expect((await del('sysadmin')).status).toBe(403);
    expect((await del('dba')).status).toBe(200);
  });

  it('audit trail: every restore, verify and delete with its actor, on the dashboard log and in the CSV export', async () => {
    const audit = (await (await as('developer', '/api/history?type=audit&limit=100')).json()) as { entries: Array<{ action: string; actor?: string; ok: boolean }> };
    const seen = audit.entries.map((e) => `${e.action}:${e.actor}`);
    expect(seen).toEqual(expect.arrayContaining(['restore:weekly-drill', 'restore:mario', 'verify:sara', 'verify:mario', 'delete:mario']));
    const page = await (await as('developer', '/log')).text();
    expect(page).toContain('weekly-drill');
    expect(page).toContain('mario');
    const csv = await (await as('developer', '/api/history.csv')).text();
    expect(csv.split('\n')[0]).toContain('actor');
    expect(csv).toContain('sara');
  });

  it('`npm start` (node --import jiti/register server.ts) serves the dashboard from the environment and exits 0 on SIGTERM', async () => {
    const file = async (name: string, content: string) => (await fs.writeFile(path.join(work, name), content, { mode: 0o600 }), path.join(work, name));
    const env = {
      ...process.env,
      PORT: '0',
      PARTESA_DB_USER: 'root',
      PARTESA_DB_NAME: DB,
      PARTESA_BACKUP_DIR: path.join(work, 'process-backups'),
      PARTESA_SFTP_HOST: sshd.host,
      PARTESA_SFTP_PORT: String(sshd.port),
      PARTESA_SFTP_USER: sshd.username,
      PARTESA_SFTP_KEY_FILE: await file('sftp_ed25519', sshd.privateKey),
      PARTESA_SFTP_HOST_KEY: sshd.fingerprint,
      PARTESA_SFTP_ROOT: sshd.root,
      PARTESA_SMTP_HOST: '127.0.0.1',
      PARTESA_SMTP_PORT: String((smtp.server.address() as AddressInfo).port),
      PARTESA_MAIL_FROM: 'backup@gestione-partesa.com',
      PARTESA_MAIL_TO: 'admin@gestione-partesa.com',
      PARTESA_SLACK_WEBHOOK_FILE: await file('slack-webhook', slack.url('/services/T000/B000/partesa')),
      PARTESA_USERS_FILE: await file('users.json', JSON.stringify(USERS)),
    };
    const child = spawn(process.execPath, ['--import', 'jiti/register', 'server.ts'], { cwd: fileURLToPath(new URL('.', import.meta.url)), env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    const exited = new Promise<number | null>((r) => child.on('close', r));
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.setEncoding('utf8').on('data', (d: string) => {
        out += d;
        const m = /Partesa backups: (http:\/\/\S+?)\/admin\/backups\//.exec(out);
        if (m) resolve(m[1]!);
      });
      void exited.then((code) => reject(new Error(`server.ts exited ${code}: ${err}`)));
    });
    try {
      const auth = { authorization: `Basic ${Buffer.from('dev:dev-pw').toString('base64')}` };
      const r = await fetch(`${url}/admin/backups/api/jobs/${JOB}/backups`, { headers: auth });
      expect(r.status, err).toBe(200);
      // The remote copies made by the other instance are there: the catalog is read from the destinations.
      expect(((await r.json()) as { backups: unknown[] }).backups.length).toBeGreaterThan(0);
      expect((await fetch(`${url}/admin/backups/api/jobs/${JOB}/runs`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: '{}' })).status).toBe(403);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  });

  it('the server process arms the 4-hourly schedule and stops cleanly', async () => {
    const scheduled = await startPartesa(settings, USERS, { port: 0 });
    try {
      const [next] = scheduled.backups.arca.nextRuns(JOB, 1);
      expect(next!.getTime() - Date.now()).toBeLessThanOrEqual(4 * 3600_000);
      expect(next!.getUTCMinutes()).toBe(0);
      expect((await fetch(`${scheduled.url}/`, { redirect: 'manual' })).headers.get('location')).toBe('/admin/backups/');
    } finally {
      await scheduled.close();
    }
  });
});

it('settingsFromEnv reads secrets from files and names a missing variable', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'arca-partesa-env-'));
  try {
    const file = async (name: string, content: string) => (await fs.writeFile(path.join(dir, name), content), path.join(dir, name));
    const env = {
      PARTESA_DB_USER: 'arca_backup',
      PARTESA_DB_PASSWORD_FILE: await file('db', 'db-secret\n'),
      PARTESA_SFTP_HOST: 'backup.partesa.lan',
      PARTESA_SFTP_USER: 'arca',
      PARTESA_SFTP_KEY_FILE: await file('key', 'KEY'),
      PARTESA_SFTP_HOST_KEY: 'SHA256:abc',
      PARTESA_SMTP_HOST: 'smtp.partesa.lan',
      PARTESA_SMTP_USER: 'backup@gestione-partesa.com',
      PARTESA_SMTP_PASSWORD_FILE: await file('smtp', 'smtp-secret'),
      PARTESA_MAIL_FROM: 'backup@gestione-partesa.com',
      PARTESA_MAIL_TO: 'admin@gestione-partesa.com, dba@gestione-partesa.com',
      PARTESA_SLACK_WEBHOOK_FILE: await file('slack', 'https://hooks.slack.com/services/T/B/X\n'),
      PARTESA_USERS_FILE: await file('users.json', JSON.stringify(USERS)),
    };
    const { settings: s, users } = settingsFromEnv(env);
    expect(s.database).toEqual({ host: '127.0.0.1', user: 'arca_backup', password: 'db-secret', database: 'gestionelogistica' });
    expect(s.smtp).toEqual({ host: 'smtp.partesa.lan', port: 587, auth: { user: 'backup@gestione-partesa.com', pass: 'smtp-secret' } });
    expect(s.mailTo).toEqual(['admin@gestione-partesa.com', 'dba@gestione-partesa.com']);
    expect(s.slackWebhookUrl).toBe('https://hooks.slack.com/services/T/B/X');
    expect(s.remote).toMatchObject({ privateKey: 'KEY', hostKey: { sha256: 'SHA256:abc' }, port: 22 });
    expect(users.mario!.role).toBe('dba');
    expect(() => settingsFromEnv({ ...env, PARTESA_SFTP_HOST: '' })).toThrow(/PARTESA_SFTP_HOST/);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});
