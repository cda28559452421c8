import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createArca, directory, gfs, localDir, memoryRunLog, type Arca } from '@arca/core';
import { describeWithService } from '@arca/core/test-kit';
import { sqlite } from '@arca/source-sqlite';
import { toNodeHandler } from '@arca/http';
import { handlerFor, listen, roleAuthorize, tempDir } from './fixtures.js';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
/** Screenshots land here (CI keeps them as artifacts; git ignores test-results/). */
const SHOTS = fileURLToPath(new URL('../test-results/', import.meta.url));

async function probe(): Promise<string | undefined> {
  try {
    await fs.access(CHROMIUM, fs.constants.X_OK);
    return undefined;
  } catch {
    return `${CHROMIUM} not found (apt-get install chromium)`;
  }
}

/** A host app: its own login page sets a cookie; the Arca routes sit under /admin/backups behind `authorize`. */
async function hostApp(arca: Arca) {
  const admin = toNodeHandler(handlerFor(arca, { authorize: roleAuthorize, allowRestore: true, title: 'FIXIT backups' }));
  const server = http.createServer((req, res) => {
    if (req.url === '/login' && req.method === 'GET') {
      res.writeHead(200, { 'content-type': 'text/html' }).end('<form method="post" action="/login"><label>User <input name="user"></label><button>Log in</button></form>');
      return;
    }
    if (req.url === '/login' && req.method === 'POST') {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        const user = new URLSearchParams(body).get('user') ?? '';
        res.writeHead(303, { 'set-cookie': `user=${encodeURIComponent(user)}; Path=/; HttpOnly; SameSite=Lax`, location: '/admin/backups/' }).end();
      });
      return;
    }
    admin(req, res, () => res.writeHead(404).end('not found'));
  });
  return listen(server);
}

await describeWithService('chromium', probe, () => {
  let ctx: BrowserContext;
  let page: Page;
  let base: string;
  let arca: Arca;
  let dbFile: string;
  const problems: string[] = [];

  beforeAll(async () => {
    const dir = await tempDir('arca-http-browser');
    const uploads = path.join(dir, 'static', 'uploads');
    await fs.mkdir(uploads, { recursive: true });
    await fs.writeFile(path.join(uploads, 'ticket-17.png'), Buffer.alloc(200_000, 3));
    dbFile = path.join(dir, 'tickets.db');
    const db = new Database(dbFile);
    db.exec("CREATE TABLE tickets (id INTEGER PRIMARY KEY, title TEXT); INSERT INTO tickets (title) VALUES ('printer on fire'), ('wifi down'), ('coffee machine');");
    db.close();
    arca = createArca({
      destinations: { local: localDir({ path: path.join(dir, 'backups') }), s3: localDir({ path: path.join(dir, 'offsite') }) },
      jobs: {
        daily: { sources: { uploads: directory({ path: uploads }) }, destinations: ['local', 's3'], schedule: 'daily@02:00', timezone: 'Europe/Rome', retention: gfs({ last: 2 }), health: { maxAge: '26h' } },
        tickets: { sources: { db: sqlite({ path: dbFile }) }, destinations: ['local'] },
      },
      runLog: memoryRunLog(),
    });
    base = await hostApp(arca);
    await fs.mkdir(SHOTS, { recursive: true });
    ctx = await chromium.launchPersistentContext(await fs.mkdtemp(path.join(os.tmpdir(), 'arca-chromium-')), { executablePath: CHROMIUM, args: ARGS, headless: true, acceptDownloads: true, viewport: { width: 1280, height: 860 } });
    page = ctx.pages()[0] ?? (await ctx.newPage());
    page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
    });
  });
  afterAll(async () => {
    await ctx?.close();
  });

  it('logs in through the host, runs a backup with live progress, sees the new row with green badges, downloads it', async () => {
    const denied = await page.goto(`${base}/admin/backups/`);
    expect(denied!.status()).toBe(403);
    await page.goto(`${base}/login`);
    await page.fill('input[name=user]', 'dba');
    await page.click('button');
    await page.waitForURL(`${base}/admin/backups/`);
    problems.length = 0; // the host's own login page (no favicon) is not ours to judge
    await expect(page.locator('h1').textContent()).resolves.toBe('Backups');

    await page.click('a[href="/admin/backups/jobs/daily"] >> nth=0');
    await expect(page.locator('#backups').textContent()).resolves.toContain('No backups yet');
    await page.click('form[data-run] button');
    const box = page.locator('.run-progress[data-job="daily"]');
    await box.locator('xpath=self::*[@data-status="completed"]').waitFor();
    await expect(box.locator('.run-status').textContent()).resolves.toMatch(/^Backup completed — .* in .* s$/);
    await expect(page.locator('progress').getAttribute('max')).resolves.toBe('1');
    const row = page.locator('#backups tbody tr');
    await row.first().waitFor();
    expect(await row.count()).toBe(1);
    expect(await row.first().locator('.badge-ok').allTextContents()).toEqual(['✓ local', '✓ s3']);
    await page.screenshot({ path: path.join(SHOTS, 'job-after-run.png'), fullPage: true });

    const [b] = await arca.list('daily');
    const downloadP = page.waitForEvent('download');
    await row.first().locator('a', { hasText: 'Download' }).click();
    const download = await downloadP;
    expect(download.suggestedFilename()).toBe(`daily-${b!.id}-uploads.tar.gz`);
    const saved = await download.path();
    expect(createHash('sha256').update(await fs.readFile(saved)).digest('hex')).toBe(b!.artifacts[0]!.sha256);
  });

  it('shows the prune preview with a reason for every decision', async () => {
    await arca.run('daily');
    await arca.run('daily');
    await page.goto(`${base}/admin/backups/jobs/daily`);
    expect(await page.locator('#backups tbody tr').count()).toBe(3);
    await page.locator('#chart svg').waitFor();
    await page.click('text=Prune preview');
    await page.waitForURL(/\/prune$/);
    const rows = page.locator('tbody tr');
    expect(await rows.count()).toBe(3);
    const doomed = rows.filter({ hasText: '✗ delete' });
    expect(await doomed.count()).toBe(1);
    await expect(doomed.textContent()).resolves.toContain('the 2 last slots are taken by newer backups');
    await expect(page.locator('form button.btn-danger').textContent()).resolves.toMatch(/^Apply: delete 1 and free /);
    await page.screenshot({ path: path.join(SHOTS, 'prune-preview.png'), fullPage: true });
    await page.goto(`${base}/admin/backups/`);
    await page.screenshot({ path: path.join(SHOTS, 'overview.png'), fullPage: true });
    await page.click('header >> text=Run log');
    await page.selectOption('select[name=job]', 'daily');
    await page.click('button:has-text("Filter")');
    await page.waitForURL(/\/log\?job=daily/);
    expect(await page.locator('tbody tr').count()).toBe(3);
    await expect(page.locator('a', { hasText: 'Export CSV' }).getAttribute('href')).resolves.toContain('/api/history.csv?job=daily');
    await page.screenshot({ path: path.join(SHOTS, 'run-log.png'), fullPage: true });
  });

  it('restores a SQLite backup in place through the wizard (safety backup first)', async () => {
    const backup = await arca.run('tickets', { actor: 'nightly' });
    expect(backup.status).toBe('completed');
    const db = new Database(dbFile);
    db.exec("DELETE FROM tickets WHERE title != 'wifi down'");
    db.close();

    await page.goto(`${base}/admin/backups/jobs/tickets/backups/${backup.backupId}`);
    await page.click('text=Restore…');
    await page.check('input[value="in-place"]');
    await page.click('text=Next: summary');
    await expect(page.locator('.notice-warn').textContent()).resolves.toContain('This will restore db from the first healthy destination in place');
    const submit = page.locator('button', { hasText: 'Restore now' });
    expect(await submit.isDisabled()).toBe(true);
    await page.fill('#confirm', 'ticket');
    expect(await submit.isDisabled()).toBe(true);
    await page.fill('#confirm', 'tickets');
    expect(await submit.isDisabled()).toBe(false);
    await page.screenshot({ path: path.join(SHOTS, 'restore-confirm.png'), fullPage: true });
    await submit.click();
    await page.locator('.notice-ok').waitFor();
    await expect(page.locator('.notice-ok').textContent()).resolves.toMatch(/^Restored db\. Safety backup taken first: \d{8}T\d{6}(\d{3})?Z-[0-9a-f]+\.$/);
    await page.screenshot({ path: path.join(SHOTS, 'restore-done.png'), fullPage: true });

    const after = new Database(dbFile, { readonly: true });
    expect(after.prepare('SELECT title FROM tickets ORDER BY id').all()).toEqual([{ title: 'printer on fire' }, { title: 'wifi down' }, { title: 'coffee machine' }]);
    after.close();
    const audit = await arca.history({ job: 'tickets', type: 'audit' });
    expect(audit[0]).toMatchObject({ action: 'restore', actor: 'dba', ok: true });
    const safety = (await arca.list('tickets')).find((x) => x.trigger.type === 'safety');
    expect(safety?.tags).toContain('pre-restore');
  });

  it('ran without script errors or CSP violations', () => {
    expect(problems).toEqual([]);
  });
});
