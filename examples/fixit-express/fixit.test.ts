// Smoke test of the FIXIT example against real services: the Express app on 127.0.0.1,
// s3rver as the S3 bucket, a real HTTP receiver for the failure webhook.
import * as fs from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { directory, type Arca, type RunResult } from '@arca/core';
import { describeWithService } from '@arca/core/test-kit';
import type { ArcaHandler } from '@arca/http';
import { CREDS, fakeClient, probeS3rver, startS3rver, type S3rverHandle } from '../../packages/dest-s3/test/s3-harness.js';
import { startReceiver } from '../../packages/core/test/notifier-receiver.js';
import { createSessions } from './src/auth.js';
import { createFixitBackups, WEEKLY_EXCLUDE, type FixitPaths } from './src/backups.js';
import { createFixitApp } from './src/app.js';
import { openDatabase } from './src/db.js';

const BUCKET = 'fixit-backups';
const receiver = await startReceiver();

await describeWithService('FIXIT example (Express + SQLite + uploads → local + s3rver)', probeS3rver, () => {
  let s3: S3rverHandle;
  let root: string;
  let elsewhere: string;
  let arca: Arca;
  let paths: FixitPaths;
  let db: Database.Database;
  let admin: ArcaHandler;
  let server: Server;
  let base: string;
  const cookies: Record<string, string> = {};

  const call = (p: string, init: RequestInit & { as?: 'admin' | 'tech' } = {}) => {
    const headers = new Headers(init.headers);
    if (init.as) headers.set('cookie', cookies[init.as]!);
    return fetch(`${base}${p}`, { ...init, headers, redirect: 'manual' });
  };
  const postJson = (p: string, body: unknown, as?: 'admin' | 'tech') => call(p, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' }, ...(as ? { as } : {}) });

  /** Start a run through the admin API and wait for its RunResult. */
  async function runThroughApi(job: string): Promise<RunResult> {
    const r = await postJson(`/admin/backups/api/jobs/${job}/runs`, {}, 'admin');
    expect(r.status).toBe(202);
    const { runId } = (await r.json()) as { runId: string };
    for (;;) {
      const s = (await (await call(`/admin/backups/api/runs/${runId}`, { as: 'admin' })).json()) as { status: string; result?: RunResult };
      if (s.status !== 'running' && s.result) return s.result;
      await new Promise((res) => setTimeout(res, 50));
    }
  }

  beforeAll(async () => {
    s3 = await startS3rver([BUCKET]);
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'arca-fixit-'));
    elsewhere = await fs.mkdtemp(path.join(os.tmpdir(), 'arca-fixit-out-'));
    // A project folder like FIXIT's, with everything the weekly archive must leave out.
    const files: Record<string, string> = {
      'README.md': '# FIXIT\n',
      'src/app.ts': 'export {};\n',
      'static/style.css': 'body{}\n',
      '.git/HEAD': 'ref: refs/heads/main\n',
      'node_modules/express/index.js': 'module.exports = 1;\n',
      '__pycache__/app.cpython-311.pyc': 'x',
      'venv/bin/python': 'x',
      'instance/secret.cfg': 'SECRET_KEY=dev\n',
      'uploads/screenshot.png': 'PNG-bytes',
      'uploads/invoice.pdf': '%PDF-1.7 invoice',
    };
    for (const [f, body] of Object.entries(files)) {
      await fs.mkdir(path.dirname(path.join(root, f)), { recursive: true });
      await fs.writeFile(path.join(root, f), body);
    }
    const env = {
      AWS_S3_BUCKET: BUCKET,
      AWS_S3_ENDPOINT: s3.endpoint,
      AWS_S3_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: CREDS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: CREDS.secretAccessKey,
      FIXIT_ALERT_WEBHOOK_URL: receiver.url('/hooks/fixit'),
    };
    let warnings: string[];
    ({ arca, paths, warnings } = createFixitBackups(root, env));
    expect(warnings).toEqual([]);
    db = openDatabase(paths.database, [
      { username: 'admin', password: 'admin-pass', superuser: true },
      { username: 'tech', password: 'tech-pass', superuser: false },
    ]);
    const sessions = createSessions(db);
    let app;
    ({ app, admin } = createFixitApp({ db, sessions, arca, paths }));
    server = await new Promise<Server>((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    for (const [who, password] of [['admin', 'admin-pass'], ['tech', 'tech-pass']] as const) {
      const r = await postJson('/login', { username: who, password });
      expect(r.status).toBe(200);
      cookies[who] = r.headers.get('set-cookie')!.split(';')[0]!;
    }
  });

  afterAll(async () => {
    server?.closeAllConnections();
    await new Promise((r) => (server ? server.close(r) : r(undefined)));
    admin?.dispose();
    await arca?.stop({ timeoutMs: 5_000 });
    db?.close();
    await s3?.stop();
    for (const d of [root, elsewhere]) if (d) await fs.rm(d, { recursive: true, force: true });
  });

  it('lets only superusers into /admin/backups', async () => {
    const anonymousPage = await call('/admin/backups/');
    expect(anonymousPage.status).toBe(303);
    expect(anonymousPage.headers.get('location')).toMatch(/\/login\?next=/);
    expect((await call('/admin/backups/api/jobs')).status).toBe(403);
    expect((await call('/admin/backups/api/jobs', { as: 'tech' })).status).toBe(403);
    expect((await call('/admin/backups/', { as: 'tech' })).status).toBe(403);
    expect((await postJson('/admin/backups/api/jobs/daily/runs', {}, 'tech')).status).toBe(403);
    expect(await arca.list('daily')).toEqual([]);

    const page = await call('/admin/backups/', { as: 'admin' });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('FIXIT backups');
    const jobs = (await (await call('/admin/backups/api/jobs', { as: 'admin' })).json()) as { jobs: Array<{ name: string; schedule?: string }> };
    expect(jobs.jobs.map((j) => j.name).sort()).toEqual(['daily', 'weekly']);
  });

  it('daily: database + uploads to the local folder, restorable into a scratch database', async () => {
    const before = db.prepare('SELECT * FROM tickets ORDER BY id').all();
    expect(before.length).toBeGreaterThan(0);
    const run = await runThroughApi('daily');
    expect(run.status).toBe('completed');
    expect(run.trigger.actor).toBe('admin');
    const stored = (await fs.readdir(path.join(paths.backups, 'daily', run.backupId))).sort();
    expect(stored).toEqual(['db.sqlite.gz', 'manifest.json', 'uploads.tar.gz']);

    // The app keeps working: this ticket is not in the backup.
    expect((await postJson('/api/tickets', { title: 'Added after the backup' }, 'tech')).status).toBe(201);

    const restore = await postJson(`/admin/backups/api/jobs/daily/backups/${run.backupId}/restore`, { confirm: 'daily', artifact: 'db', target: 'scratch' }, 'admin');
    expect(restore.status).toBe(200);
    const scratch = new Database(path.join(root, 'restore-scratch', 'tickets.db'), { readonly: true });
    try {
      expect(scratch.prepare('SELECT * FROM tickets ORDER BY id').all()).toEqual(before);
    } finally {
      scratch.close();
    }
    expect(db.prepare('SELECT count(*) AS n FROM tickets').get()).toEqual({ n: before.length + 1 });

    const uploads = path.join(elsewhere, 'restored-uploads');
    await arca.restore('daily', run.backupId, { artifact: 'uploads', into: directory({ path: uploads }) });
    expect(await fs.readFile(path.join(uploads, 'invoice.pdf'), 'utf8')).toBe('%PDF-1.7 invoice');
  });

  it('weekly: the project as tar.zst (without .git, node_modules, ...) to the local folder and S3', async () => {
    const run = await runThroughApi('weekly');
    expect(run.status).toBe('completed');
    expect(run.destinations.map((d) => [d.name, d.status]).sort()).toEqual([
      ['local', 'completed'],
      ['s3', 'completed'],
    ]);
    const files = ['db.sqlite.zst', 'manifest.json', 'project.tar.zst'];
    expect((await fs.readdir(path.join(paths.backups, 'weekly', run.backupId))).sort()).toEqual(files);
    const client = fakeClient(s3.endpoint);
    try {
      const listed = await client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: `fixit/weekly/${run.backupId}/` }));
      expect((listed.Contents ?? []).map((o) => o.Key).sort()).toEqual(files.map((f) => `fixit/weekly/${run.backupId}/${f}`));
    } finally {
      client.destroy();
    }

    const backups = (await (await call('/admin/backups/api/jobs/weekly/backups', { as: 'admin' })).json()) as { backups: Array<{ id: string; copies: Array<{ destination: string; status: string }> }> };
    expect(backups.backups.find((b) => b.id === run.backupId)?.copies.map((c) => `${c.destination}:${c.status}`).sort()).toEqual(['local:ok', 's3:ok']);
    const verify = await postJson(`/admin/backups/api/jobs/weekly/backups/${run.backupId}/verify`, { level: 'checksum' }, 'admin');
    expect(((await verify.json()) as { ok: boolean }).ok).toBe(true);

    // Restore the archive from S3 and look inside.
    const out = path.join(elsewhere, 'restored-project');
    await arca.restore('weekly', run.backupId, { artifact: 'project', from: 's3', into: directory({ path: out }) });
    expect(await fs.readFile(path.join(out, 'README.md'), 'utf8')).toBe('# FIXIT\n');
    expect(await fs.readFile(path.join(out, 'uploads', 'screenshot.png'), 'utf8')).toBe('PNG-bytes');
    const top = await fs.readdir(out);
    for (const excluded of WEEKLY_EXCLUDE) expect(top).not.toContain(excluded);
  });

  it('applies the 30-day retention without deleting fresh backups', async () => {
    const report = await (await call('/admin/backups/api/jobs/daily/prune', { as: 'admin' })).json() as { policies: Record<string, string | null>; decisions: Array<{ action: string }> };
    expect(JSON.stringify(report.policies)).toMatch(/30/);
    expect(report.decisions.length).toBeGreaterThan(0);
    expect(report.decisions.every((d) => d.action === 'keep')).toBe(true);
  });

  it('alerts the webhook when a backup fails (and not for the runs that completed)', async () => {
    const runAlerts = () => receiver.received.filter((r) => (r.json as { event?: string }).event === 'run:done');
    expect(runAlerts()).toEqual([]);
    // (Health alerts may already be there: the dashboard checked health before the first backups.)
    const seen = receiver.received.length;
    const moved = `${paths.uploads}.away`;
    await fs.rename(paths.uploads, moved);
    try {
      const run = await runThroughApi('daily');
      expect(run.status).toBe('failed');
    } finally {
      await fs.rename(moved, paths.uploads);
    }
    await receiver.waitFor(seen + 1);
    const [hook] = runAlerts();
    expect(hook!.url).toBe('/hooks/fixit');
    expect(hook!.json).toMatchObject({ version: 1, event: 'run:done', kind: 'failure', job: 'daily' });
    expect((hook!.json as { text: string }).text).toMatch(/uploads/);
    expect(hook!.body).not.toContain(CREDS.secretAccessKey);
  });
});
