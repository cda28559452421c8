import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createArca, isArcaError, localDir, memoryRunLog } from '@arca/core';
import { createArcaHandler } from '@arca/http';
import { gateSource, handlerFor, makeFixture, readSse, tempDir } from './fixtures.js';

const BASE = 'http://admin.test/admin/backups';

/** A Response whose json() is loosely typed, for terse assertions. */
type Res = Omit<Response, 'json'> & { json(): Promise<any> };

function call(h: (r: Request) => Promise<Response>, method: string, p: string, o: { user?: string; body?: unknown; headers?: Record<string, string> } = {}): Promise<Res> {
  const headers: Record<string, string> = { ...(o.user ? { 'x-user': o.user } : {}), ...o.headers };
  if (o.body !== undefined) headers['content-type'] ??= 'application/json';
  return h(new Request(BASE + p, { method, headers, ...(o.body !== undefined ? { body: JSON.stringify(o.body) } : {}) }));
}

describe('createArcaHandler options', () => {
  it('refuses to build without authorize or with a bad basePath (CONFIG_INVALID)', async () => {
    const { arca } = await makeFixture();
    const code = (f: () => unknown) => {
      try {
        f();
        return 'built';
      } catch (e) {
        return isArcaError(e) ? e.code : String(e);
      }
    };
    expect(code(() => createArcaHandler(arca, { basePath: '/x' } as never))).toBe('CONFIG_INVALID');
    expect(code(() => createArcaHandler(arca, { basePath: '/x', authorize: 'yes' } as never))).toBe('CONFIG_INVALID');
    expect(code(() => createArcaHandler(arca, { basePath: 'admin', authorize: () => true }))).toBe('CONFIG_INVALID');
    expect(code(() => createArcaHandler(arca, { basePath: '/a/../b', authorize: () => true }))).toBe('CONFIG_INVALID');
    expect(code(() => createArcaHandler({} as never, { basePath: '/x', authorize: () => true }))).toBe('CONFIG_INVALID');
    const h = createArcaHandler(arca, { basePath: '/admin/backups/', authorize: () => true });
    expect(h.basePath).toBe('/admin/backups');
    h.dispose();
  });
});

describe('JSON API', () => {
  it('lists jobs, runs a backup (202 + SSE to the end), lists it with per-destination status, gets, verifies and downloads it', async () => {
    const f = await makeFixture();
    const h = handlerFor(f.arca);
    const jobs = await (await call(h, 'GET', '/api/jobs', { user: 'developer' })).json();
    expect(jobs.jobs.map((j: { name: string }) => j.name)).toEqual(['daily', 'crm']);
    expect(jobs.capabilities).toEqual({ prune: true, health: true, download: true, config: true, restore: false });
    expect(jobs.jobs[0].nextRuns).toHaveLength(3);

    const started = await call(h, 'POST', '/api/jobs/daily/runs', { user: 'sysadmin', body: {} });
    expect(started.status).toBe(202);
    const { runId, backupId } = await started.json();
    expect(runId).toMatch(/^[0-9a-f-]{36}$/);
    const sse = await call(h, 'GET', `/api/runs/${runId}/events`, { user: 'developer' });
    expect(sse.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const events = await readSse(sse);
    expect(events[0]!.event).toBe('state');
    const done = events.find((e) => e.event === 'done') ?? (events[0]!.data.result ? { data: events[0]!.data.result } : undefined);
    expect(done?.data.status).toBe('completed');
    expect(done?.data.trigger).toEqual({ type: 'api', actor: 'sysadmin' });

    const list = await (await call(h, 'GET', '/api/jobs/daily/backups', { user: 'developer' })).json();
    expect(list.destinations).toEqual(['local', 'nas']);
    expect(list.backups[0].id).toBe(backupId);
    expect(list.backups[0].copies).toEqual([{ destination: 'local', status: 'ok' }, { destination: 'nas', status: 'ok' }]);
    expect(list.backups[0].durationMs).toBeGreaterThanOrEqual(0);
    expect(list.backups[0].artifacts[0].sha256).toMatch(/^[0-9a-f]{64}$/);

    const one = await (await call(h, 'GET', `/api/jobs/daily/backups/${backupId}`, { user: 'developer' })).json();
    expect(one.manifest.backupId).toBe(backupId);

    const v = await call(h, 'POST', `/api/jobs/daily/backups/${backupId}/verify`, { user: 'sysadmin', body: { level: 'checksum' } });
    expect(v.status).toBe(200);
    expect((await v.json()).ok).toBe(true);
    const afterVerify = await (await call(h, 'GET', '/api/jobs/daily/backups', { user: 'developer' })).json();
    expect(afterVerify.backups[0].copies[0]).toEqual({ destination: 'local', status: 'ok', lastVerifyOk: true });

    const file = one.artifacts[0].file as string;
    const dl = await call(h, 'GET', `/api/jobs/daily/backups/${backupId}/files/${file}?from=nas`, { user: 'sysadmin' });
    expect(dl.status).toBe(200);
    expect(dl.headers.get('content-length')).toBe(String(one.artifacts[0].bytes));
    expect(dl.headers.get('content-disposition')).toBe(`attachment; filename="daily-${backupId}-${file}"; filename*=UTF-8''daily-${backupId}-${file}`);
    expect(dl.headers.get('x-arca-destination')).toBe('nas');
    const buf = Buffer.from(await dl.arrayBuffer());
    expect(createHash('sha256').update(buf).digest('hex')).toBe(one.artifacts[0].sha256);
    expect(buf.subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b])); // the stored gzip bytes
  });

  it('delete from one destination, retryFailed copies it back, delete everywhere; prune preview then apply', async () => {
    const f = await makeFixture();
    const h = handlerFor(f.arca);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await f.arca.run('daily')).backupId);
    const del = await call(h, 'DELETE', `/api/jobs/daily/backups/${ids[0]}?destinations=nas`, { user: 'dba', headers: { 'x-arca-request': '1' } });
    expect(del.status).toBe(200);
    expect(await del.json()).toEqual({ deletedFrom: ['nas'] });
    const list = await (await call(h, 'GET', '/api/jobs/daily/backups', { user: 'dba' })).json();
    expect(list.backups.find((b: { id: string }) => b.id === ids[0]).copies).toEqual([{ destination: 'local', status: 'ok' }, { destination: 'nas', status: 'missing' }]);
    const retry = await call(h, 'POST', `/api/jobs/daily/backups/${ids[0]}/retry`, { user: 'sysadmin', body: {} });
    expect(await retry.json()).toMatchObject({ alreadyHeld: ['local'], copied: ['nas'], failed: [] });

    // newest first by start time, as retention sees them (ids made within one second order by their random suffix)
    const ordered = (await f.arca.list('daily')).sort((a, b) => Date.parse(b.startedAt) - Date.parse(a.startedAt)).map((b) => b.id);
    const preview = await (await call(h, 'GET', '/api/jobs/daily/prune', { user: 'sysadmin' })).json();
    expect(preview.dryRun).toBe(true);
    expect(preview.decisions.filter((d: { action: string }) => d.action === 'delete').map((d: { id: string }) => d.id)).toEqual([ordered[2]]);
    expect((await f.arca.list('daily')).length).toBe(3);
    const applied = await (await call(h, 'POST', '/api/jobs/daily/prune', { user: 'sysadmin', body: {} })).json();
    expect(applied).toMatchObject({ dryRun: false, ok: true });
    expect((await f.arca.list('daily')).map((b) => b.id).sort()).toEqual([ordered[0], ordered[1]].sort());
    const audit = await f.arca.history({ type: 'audit' });
    expect(audit.find((e) => e.type === 'audit' && e.action === 'prune' && e.backupId === ordered[2])).toMatchObject({ actor: 'sysadmin', ok: true });

    const gone = await call(h, 'DELETE', `/api/jobs/daily/backups/${ordered[1]}`, { user: 'dba', headers: { 'content-type': 'application/json' } });
    expect(await gone.json()).toEqual({ deletedFrom: ['local', 'nas'] });
    expect((await call(h, 'GET', `/api/jobs/daily/backups/${ordered[1]}`, { user: 'dba' })).status).toBe(404);
  });

  it('check, health, config, history paging and CSV export', async () => {
    const f = await makeFixture();
    const h = handlerFor(f.arca);
    for (let i = 0; i < 3; i++) await f.arca.run('daily', { actor: `user${i}` });
    const check = await (await call(h, 'GET', '/api/jobs/daily/check', { user: 'developer' })).json();
    expect(check.ok).toBe(true);
    expect(check.destinations.map((d: { name: string }) => d.name)).toEqual(['local', 'nas']);
    const health = await (await call(h, 'GET', '/api/health', { user: 'developer' })).json();
    expect(health.jobs.find((j: { job: string }) => j.job === 'daily').healthy).toBe(true);
    expect((await call(h, 'GET', '/api/jobs/daily/config', { user: 'developer' })).status).toBe(403);
    const config = await (await call(h, 'GET', '/api/jobs/daily/config', { user: 'dba' })).json();
    expect(config).toMatchObject({ name: 'daily', schedule: 'daily@02:00', retention: 'keep 2 latest backups' });

    const p1 = await (await call(h, 'GET', '/api/history?type=run&limit=2', { user: 'developer' })).json();
    expect(p1.entries.map((e: { trigger: { actor: string } }) => e.trigger.actor)).toEqual(['user2', 'user1']);
    expect(p1.nextOffset).toBe(2);
    const p2 = await (await call(h, 'GET', '/api/history?type=run&limit=2&offset=2', { user: 'developer' })).json();
    expect(p2.entries.map((e: { trigger: { actor: string } }) => e.trigger.actor)).toEqual(['user0']);
    expect(p2.nextOffset).toBeUndefined();
    expect((await call(h, 'GET', '/api/history?limit=0', { user: 'developer' })).status).toBe(400);
    const today = new Date().toISOString().slice(0, 10);
    expect((await (await call(h, 'GET', `/api/history?type=run&since=${today}`, { user: 'developer' })).json()).entries).toHaveLength(3);
    expect((await (await call(h, 'GET', `/api/history?type=run&until=${today}`, { user: 'developer' })).json()).entries).toHaveLength(0);
    expect((await call(h, 'GET', '/api/history?since=yesterday', { user: 'developer' })).status).toBe(400);
    const logPage = await (await h(new Request(`${BASE}/log?job=daily&since=${today}`, { headers: { 'x-user': 'developer' } }))).text();
    expect(logPage).toContain(`name="since" value="${today}"`);
    expect(logPage).toContain(`/api/history.csv?job=daily&amp;since=${today}`);

    const csv = await call(h, 'GET', '/api/history.csv?job=daily', { user: 'developer' });
    expect(csv.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    expect(csv.headers.get('content-disposition')).toContain('arca-history-daily.csv');
    const lines = (await csv.text()).trim().split('\r\n');
    expect(lines).toHaveLength(4);
    expect(lines[1]).toContain('user2');
  });

  it('maps errors: 400 bad ids and bodies, 404 unknown, 405, 409 while the job runs, 500 with a correlation id and no secret', async () => {
    const dir = await tempDir();
    const g = gateSource();
    const arca = createArca({ destinations: { local: localDir({ path: path.join(dir, 'b') }) }, jobs: { slow: { sources: { data: g.source }, destinations: ['local'] } }, runLog: memoryRunLog() });
    const errors: Array<{ id: string; e: unknown }> = [];
    const h = handlerFor(arca, { authorize: () => ({ actor: 'ops' }), onError: (e, info) => errors.push({ id: info.correlationId, e }) });
    const first = await call(h, 'POST', '/api/jobs/slow/runs', { body: {} });
    expect(first.status).toBe(202);
    const { runId } = await first.json();
    await g.started;
    const second = await call(h, 'POST', '/api/jobs/slow/runs', { body: {} });
    expect(second.status).toBe(409);
    expect((await second.json()).error.code).toBe('LOCKED');
    const run = await (await call(h, 'GET', `/api/runs/${runId}`)).json();
    expect(run).toMatchObject({ status: 'running', job: 'slow' });
    expect(run.progress.bytes).toBeGreaterThan(0);
    const sse = call(h, 'GET', `/api/runs/${runId}/events`);
    g.open();
    const events = await readSse(await sse);
    expect(events.map((e) => e.event)).toContain('done');
    expect(events.at(-1)).toMatchObject({ event: 'done', data: { status: 'completed', runId } });

    expect((await call(h, 'GET', '/api/jobs/nope/backups')).status).toBe(404);
    expect((await call(h, 'GET', '/api/jobs/slow/backups/20200101T000000Z-abcd')).status).toBe(404);
    expect((await call(h, 'GET', '/api/runs/00000000-0000-4000-8000-000000000000')).status).toBe(404);
    expect((await call(h, 'GET', '/api/nothing')).status).toBe(404);
    const m = await call(h, 'PUT', '/api/jobs/slow/runs');
    expect(m.status).toBe(405);
    expect(m.headers.get('allow')).toBe('POST');
    for (const bad of ['/api/jobs/..%2F..%2Fetc/backups', '/api/jobs/a%00b/backups', '/api/jobs/slow/backups/%2E%2E%2Fx', '/api/jobs/slow/backups/20200101T000000Z-abcd/files/..%2Fmanifest.json', '/api/jobs/slow/backups/20200101T000000Z-abcd/files/a%00.gz', '/api/jobs/%E0%A4%A/backups']) {
      const r = await call(h, 'GET', bad);
      expect(r.status, bad).toBe(400);
      expect((await r.json()).error.code, bad).toBe('KEY_INVALID');
    }
    expect((await call(h, 'POST', '/api/jobs/slow/runs', { body: { nope: 1 } })).status).toBe(400);
    expect((await call(h, 'POST', '/api/jobs/slow/runs', { headers: { 'content-type': 'application/json' }, body: undefined })).status).not.toBe(400);
    const notJson = await h(new Request(`${BASE}/api/jobs/slow/runs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{oops' }));
    expect(notJson.status).toBe(400);

    // An unexpected failure (a bug, a broken run log) never shows its message, only a correlation id.
    const broken = { ...arca, history: async () => { throw new Error('db://admin:S3cr3t-Pa55word-7781@x failed'); } };
    const hb = handlerFor(broken, { authorize: () => true, onError: (e, info) => errors.push({ id: info.correlationId, e }) });
    const r500 = await call(hb, 'GET', '/api/history');
    expect(r500.status).toBe(500);
    const body = await r500.json();
    expect(body.error.code).toBe('INTERNAL');
    expect(JSON.stringify(body)).not.toContain('S3cr3t');
    expect(errors.find((x) => x.id === body.error.correlationId)).toBeDefined();
  });

  it('serves an OpenAPI 3.1 document generated from the request schemas', async () => {
    const f = await makeFixture();
    const h = handlerFor(f.arca);
    const doc = await (await call(h, 'GET', '/api/openapi.json', { user: 'developer' })).json();
    expect(doc.openapi).toBe('3.1.0');
    const run = doc.paths['/admin/backups/api/jobs/{job}/runs'].post;
    expect(run.operationId).toBe('runJob');
    expect(run['x-arca-action']).toBe('run');
    expect(run.parameters[0]).toMatchObject({ name: 'job', in: 'path', required: true, schema: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$' } });
    const verify = doc.paths['/admin/backups/api/jobs/{job}/backups/{id}/verify'].post;
    expect(verify.requestBody.content['application/json'].schema.properties.level.enum).toEqual(['exists', 'checksum', 'restore']);
    const hist = doc.paths['/admin/backups/api/history'].get.parameters.map((p: { name: string }) => p.name);
    expect(hist).toEqual(['job', 'type', 'status', 'since', 'until', 'offset', 'limit']);
    expect(Object.keys(doc.paths)).toHaveLength(16);
    const dl = doc.paths['/admin/backups/api/jobs/{job}/backups/{id}/files/{file}'].get;
    expect(Object.keys(dl.responses['200'].content)).toEqual(['application/octet-stream']);
  });

  it('hides what the Arca instance cannot do (capabilities are feature-detected)', async () => {
    const f = await makeFixture();
    const run = await f.arca.run('daily');
    const lite = { ...f.arca, prune: undefined, health: undefined, openArtifact: undefined, describeJob: undefined } as unknown as typeof f.arca;
    const h = handlerFor(lite);
    const jobs = await (await call(h, 'GET', '/api/jobs', { user: 'dba' })).json();
    expect(jobs.capabilities).toEqual({ prune: false, health: false, download: false, config: false, restore: false });
    expect((await call(h, 'GET', '/api/jobs/daily/prune', { user: 'dba' })).status).toBe(404);
    expect((await call(h, 'GET', '/api/health', { user: 'dba' })).status).toBe(404);
    expect((await call(h, 'GET', `/api/jobs/daily/backups/${run.backupId}/files/manifest.json`, { user: 'dba' })).status).toBe(404);
    const doc = await (await call(h, 'GET', '/api/openapi.json', { user: 'dba' })).json();
    expect(Object.keys(doc.paths)).not.toContain('/admin/backups/api/jobs/{job}/prune');
    const page = await (await h(new Request(`${BASE}/jobs/daily`, { headers: { 'x-user': 'dba' } }))).text();
    expect(page).toContain(run.backupId);
    expect(page).not.toMatch(/Prune preview|Download|Configuration/);
    expect((await h(new Request(`${BASE}/jobs/daily/prune`, { headers: { 'x-user': 'dba' } }))).status).toBe(404);
    expect((await h(new Request(`${BASE}/`, { headers: { 'x-user': 'dba' } }))).status).toBe(200);
  });

  it('a corrupt stored copy aborts the download instead of completing it', async () => {
    const f = await makeFixture();
    const h = handlerFor(f.arca);
    const run = await f.arca.run('daily');
    const file = run.artifacts[0]!.file;
    for (const d of ['backups', 'nas']) {
      const p = path.join(f.dir, d, 'daily', run.backupId, file);
      const b = await fs.readFile(p);
      b[b.length - 5] = b[b.length - 5]! ^ 0xff;
      await fs.writeFile(p, b);
    }
    const errors: unknown[] = [];
    const h2 = handlerFor(f.arca, { onError: (e) => errors.push(e) });
    const r = await call(h2, 'GET', `/api/jobs/daily/backups/${run.backupId}/files/${file}`, { user: 'sysadmin' });
    expect(r.status).toBe(200);
    await expect(r.arrayBuffer()).rejects.toThrow();
    expect(errors.some((e) => isArcaError(e, 'CHECKSUM_MISMATCH'))).toBe(true);
    void h;
  });
});
