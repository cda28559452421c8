import * as fs from 'node:fs/promises';
import * as http from 'node:http';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { expressApp, fixitArca, nodeServer, sessions } from './readme-example.js';
import { listen, tempDir } from './fixtures.js';

const here = path.dirname(fileURLToPath(import.meta.url));

describe('README example', () => {
  it('is the code shown in the README', async () => {
    const readme = await fs.readFile(path.join(here, '..', 'README.md'), 'utf8');
    const code = await fs.readFile(path.join(here, 'readme-example.ts'), 'utf8');
    const shown = code.slice(code.indexOf('import * as http'), code.indexOf('export { sessions }')).trim();
    expect(readme).toContain(shown);
  });

  it('serves the dashboard and API under /admin/backups with roles, on node:http and Express', async () => {
    const dir = await tempDir();
    await fs.mkdir(path.join(dir, 'static', 'uploads'), { recursive: true });
    await fs.writeFile(path.join(dir, 'static', 'uploads', 'a.txt'), 'hello');
    const arca = fixitArca(dir);
    sessions.set('s-dev', { name: 'dario', role: 'developer' });
    sessions.set('s-ops', { name: 'olga', role: 'sysadmin' });
    for (const base of [await listen(nodeServer(arca)), await listen(http.createServer(expressApp(arca)))]) {
      const dev = await fetch(`${base}/admin/backups/api/jobs/daily/runs`, { method: 'POST', headers: { cookie: 'sid=s-dev', 'content-type': 'application/json' }, body: '{}' });
      expect(dev.status).toBe(403);
      const ops = await fetch(`${base}/admin/backups/api/jobs/daily/runs`, { method: 'POST', headers: { cookie: 'sid=s-ops', 'content-type': 'application/json' }, body: '{}' });
      expect(ops.status).toBe(202);
      const { runId } = (await ops.json()) as { runId: string };
      const events = await (await fetch(`${base}/admin/backups/api/runs/${runId}/events`, { headers: { cookie: 'sid=s-dev' } })).text();
      expect(events).toContain('"status":"completed"');
      const page = await fetch(`${base}/admin/backups/`, { headers: { cookie: 'sid=s-dev' } });
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('daily');
    }
    const anonymousNode = await fetch(`${await listen(nodeServer(arca))}/admin/backups/`);
    expect(anonymousNode.status).toBe(403);
    const anonymousExpress = await fetch(`${await listen(http.createServer(expressApp(arca)))}/admin/backups/`, { redirect: 'manual' });
    expect(anonymousExpress.status).toBe(302);
    expect(anonymousExpress.headers.get('location')).toBe('/login');
    const history = await arca.history({ type: 'run' });
    expect(history.map((h) => (h.type === 'run' ? h.trigger.actor : ''))).toContain('olga');
  });
});
