import { describe, expect, it } from 'vitest';
import { ACTIONS, type ArcaAction } from '@arca/http';
import { API_ROUTES } from '../src/api-routes.js';
import { UI_ROUTES } from '../src/ui-routes.js';
import { handlerFor, makeFixture, SECRET } from './fixtures.js';

const ORIGIN = 'http://admin.test';
const BASE = `${ORIGIN}/admin/backups`;

async function setup(o: { allowRestore?: boolean } = {}) {
  const f = await makeFixture();
  const h = handlerFor(f.arca, o);
  const run = await f.arca.run('daily', { actor: 'seed' });
  const crm = await f.arca.run('crm');
  const fill = (p: string) => p.replace('{job}', 'daily').replace('{id}', run.backupId).replace('{file}', run.artifacts[0]!.file).replace('{runId}', run.runId);
  return { ...f, run, crm, h, fill };
}

/** Every route with the action it needs, as concrete requests. */
function allRoutes(fill: (p: string) => string) {
  return [
    ...API_ROUTES.map((r) => ({ id: r.id, method: r.method, path: fill(r.path), action: r.action, ui: false })),
    ...UI_ROUTES.map((r) => ({ id: r.id, method: r.method, path: fill(r.path), action: r.action, ui: true })),
    { id: 'openapi', method: 'GET' as const, path: '/api/openapi.json', action: 'read' as ArcaAction, ui: false },
  ];
}

async function pageToken(h: (r: Request) => Promise<Response>, user: string) {
  const r = await h(new Request(`${BASE}/jobs/daily`, { headers: { 'x-user': user } }));
  const cookie = r.headers.get('set-cookie')!.split(';')[0]!;
  const token = /name="_csrf" value="([^"]+)"/.exec(await r.text())![1]!;
  return { cookie, token };
}

describe('authorization (fails closed, per action)', () => {
  it('refuses every route to an anonymous caller and to a role without its action; allows the role with it', async () => {
    const { h, fill } = await setup({ allowRestore: true });
    const routes = allRoutes(fill);
    expect(new Set(routes.map((r) => r.action))).toEqual(new Set(ACTIONS));
    for (const r of routes) {
      const req = (user?: string) =>
        h(new Request(BASE + r.path, { method: r.method, headers: { ...(user ? { 'x-user': user } : {}), 'content-type': r.ui ? 'application/x-www-form-urlencoded' : 'application/json' }, ...(r.method === 'GET' ? {} : { body: r.ui ? '' : '{}' }) }));
      expect((await req()).status, `${r.id} anonymous`).toBe(403);
      // developer has read only; sysadmin lacks delete, restore, config
      const denied = r.action === 'read' ? undefined : r.action === 'delete' || r.action === 'restore' || r.action === 'config' ? 'sysadmin' : 'developer';
      if (denied) expect((await req(denied)).status, `${r.id} as ${denied}`).toBe(403);
      if (r.method === 'GET') expect((await req('dba')).status, `${r.id} as dba`).not.toBe(403);
    }
  });

  it('accepts only true or an object; throws, truthy strings and numbers deny; a Response is sent as it is', async () => {
    const f = await makeFixture();
    const outcomes: Array<[unknown, number]> = [[true, 200], [{ actor: 'x' }, 200], [{}, 200], [false, 403], [undefined, 403], [null, 403], ['yes', 403], [1, 403]];
    for (const [value, status] of outcomes) {
      const h = handlerFor(f.arca, { authorize: () => value as never });
      expect((await h(new Request(`${BASE}/api/jobs`))).status, JSON.stringify(value)).toBe(status);
    }
    const thrower = handlerFor(f.arca, { authorize: () => { throw new Error('session store down'); }, onError: () => {} });
    expect((await thrower(new Request(`${BASE}/api/jobs`))).status).toBe(403);
    const rejecter = handlerFor(f.arca, { authorize: async () => { throw new Error('x'); }, onError: () => {} });
    expect((await rejecter(new Request(`${BASE}/`))).status).toBe(403);
    const login = handlerFor(f.arca, { authorize: () => new Response(null, { status: 401, headers: { 'www-authenticate': 'Basic realm="ops"' } }) });
    const r = await login(new Request(`${BASE}/api/jobs`));
    expect(r.status).toBe(401);
    expect(r.headers.get('www-authenticate')).toBe('Basic realm="ops"');
  });

  it('passes job, backup id and file to authorize so a host can scope a role to one job', async () => {
    const f = await makeFixture();
    const run = await f.arca.run('daily');
    const seen: unknown[] = [];
    const h = handlerFor(f.arca, { authorize: (_r, action, ctx) => { seen.push({ action, ...ctx }); return ctx.job === 'crm'; } });
    expect((await h(new Request(`${BASE}/api/jobs/daily/backups/${run.backupId}/files/${run.artifacts[0]!.file}`))).status).toBe(403);
    expect(seen[0]).toEqual({ action: 'download', operation: 'downloadArtifact', ui: false, job: 'daily', id: run.backupId, file: run.artifacts[0]!.file });
    expect((await h(new Request(`${BASE}/api/jobs/crm/backups`))).status).toBe(200);
  });

  it('hides the buttons a role may not use', async () => {
    const { h, run } = await setup({ allowRestore: true });
    const page = async (user: string, p: string) => (await h(new Request(BASE + p, { headers: { 'x-user': user } }))).text();
    const dev = await page('developer', `/jobs/daily/backups/${run.backupId}`);
    expect(dev).not.toMatch(/Verify|Delete|Download|Restore/);
    const sys = await page('sysadmin', `/jobs/daily/backups/${run.backupId}`);
    expect(sys).toContain('Verify checksums');
    expect(sys).toContain('Download');
    expect(sys).not.toMatch(/Delete everywhere|Restore…/);
    const dba = await page('dba', `/jobs/daily/backups/${run.backupId}`);
    expect(dba).toContain('Delete everywhere');
    expect(dba).toContain('Restore…');
    expect(await page('developer', '/jobs/daily')).not.toContain('Run backup now');
    expect(await page('sysadmin', '/jobs/daily')).toContain('Prune preview');
  });

  it('refuses restore when allowRestore is false, whatever authorize says', async () => {
    const { h, run, fill, arca } = await setup();
    const api = await h(new Request(`${BASE}/api/jobs/daily/backups/${run.backupId}/restore`, { method: 'POST', headers: { 'x-user': 'dba', 'content-type': 'application/json' }, body: JSON.stringify({ confirm: 'daily' }) }));
    expect(api.status).toBe(403);
    expect((await h(new Request(BASE + fill('/jobs/{job}/backups/{id}/restore'), { headers: { 'x-user': 'dba' } }))).status).toBe(403);
    expect(await (await h(new Request(BASE + fill('/jobs/{job}/backups/{id}'), { headers: { 'x-user': 'dba' } }))).text()).not.toContain('Restore…');
    const wrongName = handlerFor(arca, { allowRestore: true });
    const r = await wrongName(new Request(`${BASE}/api/jobs/daily/backups/${run.backupId}/restore`, { method: 'POST', headers: { 'x-user': 'dba', 'content-type': 'application/json' }, body: JSON.stringify({ confirm: 'dail' }) }));
    expect(r.status).toBe(400);
    expect(((await r.json()) as { error: { message: string } }).error.message).toBe('Type the job name "daily" to confirm the restore.');
  });
});

describe('CSRF', () => {
  it('form posts need the signed double-submit token; a missing, foreign or mismatched one is refused', async () => {
    const { h, run } = await setup();
    const { cookie, token } = await pageToken(h, 'sysadmin');
    const post = (body: string, headers: Record<string, string> = {}) =>
      h(new Request(`${BASE}/jobs/daily/backups/${run.backupId}/verify`, { method: 'POST', headers: { 'x-user': 'sysadmin', 'content-type': 'application/x-www-form-urlencoded', ...headers }, body }));
    expect((await post(`_csrf=${token}&level=exists`, { cookie })).status).toBe(200);
    expect((await post('level=exists', { cookie })).status).toBe(403);
    expect((await post(`_csrf=${token}&level=exists`)).status).toBe(403);
    const other = await pageToken(h, 'sysadmin');
    expect((await post(`_csrf=${other.token}&level=exists`, { cookie })).status).toBe(403);
    const forged = `${token.split('.')[0]}.AAAA`;
    expect((await post(`_csrf=${forged}`, { cookie: `arca_csrf=${forged}` })).status).toBe(403);
    expect((await post(`_csrf=${token}`, { cookie, origin: 'https://evil.example' })).status).toBe(403);
    expect((await post(`_csrf=${token}`, { cookie, origin: ORIGIN })).status).toBe(200);
    expect((await post(JSON.stringify({ _csrf: token }), { cookie, 'content-type': 'application/json' })).status).toBe(400);
  });

  it('the cookie is HttpOnly, SameSite=Strict and scoped to the base path', async () => {
    const { h } = await setup();
    const r = await h(new Request(`${BASE}/`, { headers: { 'x-user': 'developer' } }));
    expect(r.headers.get('set-cookie')).toMatch(/^arca_csrf=[\w-]+\.[\w-]+; Path=\/admin\/backups; HttpOnly; SameSite=Strict$/);
    const s = await h(new Request(`https://admin.test/admin/backups/`, { headers: { 'x-user': 'developer' } }));
    expect(s.headers.get('set-cookie')).toMatch(/; Secure$/);
  });

  it('state-changing API calls need a JSON content type or X-Arca-Request, and a same-site Origin', async () => {
    const { h, run } = await setup();
    const post = (headers: Record<string, string>, body = '{}') => h(new Request(`${BASE}/api/jobs/daily/backups/${run.backupId}/verify`, { method: 'POST', headers: { 'x-user': 'sysadmin', ...headers }, body }));
    expect((await post({ 'content-type': 'text/plain' })).status).toBe(403);
    expect((await post({ 'content-type': 'application/x-www-form-urlencoded' }, 'level=exists')).status).toBe(403);
    expect((await post({ 'content-type': 'application/json', origin: 'https://evil.example' })).status).toBe(403);
    expect((await post({ 'content-type': 'application/json', origin: 'null' })).status).toBe(403);
    expect((await post({ 'content-type': 'application/json', origin: ORIGIN })).status).toBe(200);
    expect((await post({ 'x-arca-request': '1' }, '')).status).toBe(200);
    const del = await h(new Request(`${BASE}/api/jobs/daily/backups/${run.backupId}`, { method: 'DELETE', headers: { 'x-user': 'dba' } }));
    expect(del.status).toBe(403);
    expect((await f2TrustedOrigin()).status).toBe(202);
    async function f2TrustedOrigin() {
      const t = handlerFor((await setup()).arca, { csrf: { trustedOrigins: ['https://ops.example.com'] } });
      return t(new Request(`${BASE}/api/jobs/daily/runs`, { method: 'POST', headers: { 'x-user': 'sysadmin', 'content-type': 'application/json', origin: 'https://ops.example.com' }, body: '{}' }));
    }
  });
});

describe('output safety', () => {
  it('no page, JSON answer, CSV or OpenAPI document contains the source password', async () => {
    const { h, run, crm, fill } = await setup({ allowRestore: true });
    const paths = [
      '/', '/log', '/jobs/daily', '/jobs/crm', '/jobs/crm/config', '/jobs/crm/check', `/jobs/crm/backups/${crm.backupId}`, `/jobs/crm/backups/${crm.backupId}/restore?target=in-place`, '/jobs/crm/prune',
      '/api/jobs', '/api/jobs/crm/config', '/api/jobs/crm/check', '/api/jobs/crm/backups', `/api/jobs/crm/backups/${crm.backupId}`, `/api/jobs/crm/backups/${crm.backupId}/files/manifest.json`, '/api/health', '/api/history', '/api/history.csv', '/api/openapi.json', `/api/runs/${crm.runId}`,
      fill('/jobs/{job}/backups/{id}'),
    ];
    let checked = 0;
    for (const p of paths) {
      const r = await h(new Request(BASE + p, { headers: { 'x-user': 'dba' } }));
      expect(r.status, p).toBe(200);
      const text = await r.text();
      expect(text, p).not.toContain(SECRET);
      checked += text.length;
    }
    // the crm job's configuration is shown, just not its password
    expect(await (await h(new Request(`${BASE}/api/jobs/crm/config`, { headers: { 'x-user': 'dba' } }))).text()).toContain('crm.internal');
    expect(checked).toBeGreaterThan(20_000);
    void run;
  });

  it('escapes everything it renders and sends a strict CSP', async () => {
    const f = await makeFixture();
    const evil = '<img src=x onerror=alert(1)>';
    const h = handlerFor(f.arca, { authorize: () => ({ actor: evil }) });
    const r = await h(new Request(`${BASE}/api/jobs/daily/runs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' }));
    expect(r.status).toBe(202);
    while ((await f.arca.history({ type: 'run' })).length === 0) await new Promise((res) => setImmediate(res));
    const page = await h(new Request(`${BASE}/log`));
    const text = await page.text();
    expect(text).toContain('&lt;img src=x onerror=alert(1)&gt;');
    expect(text).not.toContain(evil);
    expect(page.headers.get('content-security-policy')).toBe("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'");
    expect(page.headers.get('x-content-type-options')).toBe('nosniff');
    expect(page.headers.get('cache-control')).toBe('no-store');
    expect(text).not.toMatch(/<script>|style="|<[^>]+\son\w+=/);
  });
});
