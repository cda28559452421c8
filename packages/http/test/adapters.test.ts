import { createHash } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import express from 'express';
import Fastify from 'fastify';
import { Hono } from 'hono';
import { serve } from '@hono/node-server';
import { createArca, directory, localDir, memoryRunLog } from '@arca/core';
import { arcaExpress, arcaFastify, arcaHono, honoPaths, toNodeHandler, type ArcaHandler } from '@arca/http';
import { gateSource, handlerFor, listen, roleAuthorize, tempDir } from './fixtures.js';
import * as fs from 'node:fs/promises';

async function fixture() {
  const dir = await tempDir();
  await fs.mkdir(path.join(dir, 'src'));
  await fs.writeFile(path.join(dir, 'src', 'a.bin'), Buffer.alloc(300_000, 5));
  const gate = gateSource();
  const arca = createArca({
    destinations: { local: localDir({ path: path.join(dir, 'b') }) },
    jobs: { daily: { sources: { files: directory({ path: path.join(dir, 'src') }) }, destinations: ['local'] }, slow: { sources: { data: gate.source }, destinations: ['local'] } },
    runLog: memoryRunLog(),
  });
  const handler = handlerFor(arca, { authorize: roleAuthorize });
  const seed = await arca.run('daily');
  return { arca, handler, gate, seed };
}

/** Read an SSE response chunk by chunk, resolving each event as it arrives (proves it is streamed, not buffered). */
function sseReader(res: Response) {
  const reader = res.body!.getReader();
  let buf = '';
  return async function next(): Promise<{ event: string; data: any } | undefined> {
    for (;;) {
      const i = buf.indexOf('\n\n');
      if (i >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        if (!block.includes('data:')) continue;
        return { event: /event: (.*)/.exec(block)![1]!, data: JSON.parse(/data: (.*)/.exec(block)![1]!) };
      }
      const { done, value } = await reader.read();
      if (done) return undefined;
      buf += Buffer.from(value).toString('utf8');
    }
  };
}

/** The same journey through a real server, whatever framework mounts the handler. */
async function journey(base: string, f: Awaited<ReturnType<typeof fixture>>) {
  const admin = `${base}/admin/backups`;
  const as = (user: string, init: RequestInit = {}) => ({ ...init, headers: { 'x-user': user, ...(init.headers as Record<string, string>) } });

  expect((await fetch(`${admin}/`)).status).toBe(403);
  const page = await fetch(`${admin}/jobs/daily`, as('dba'));
  expect(page.status).toBe(200);
  expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
  const cookie = page.headers.get('set-cookie')!.split(';')[0]!;
  const html = await page.text();
  expect(html).toContain(f.seed.backupId);
  const token = /name="_csrf" value="([^"]+)"/.exec(html)![1]!;
  expect((await fetch(`${admin}/assets/arca.css`, as('developer'))).headers.get('content-type')).toBe('text/css; charset=utf-8');

  // a dashboard form post (urlencoded, CSRF token), through whatever body parsing the host has
  const form = await fetch(`${admin}/jobs/daily/backups/${f.seed.backupId}/verify`, as('sysadmin', { method: 'POST', headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' }, body: `_csrf=${encodeURIComponent(token)}&level=checksum` }));
  expect(form.status).toBe(200);
  expect(await form.text()).toContain('Backup verified (checksum)');
  expect((await fetch(`${admin}/jobs/daily/backups/${f.seed.backupId}/verify`, as('sysadmin', { method: 'POST', headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' }, body: 'level=checksum' }))).status).toBe(403);

  // JSON API: verify with a body
  const v = await fetch(`${admin}/api/jobs/daily/backups/${f.seed.backupId}/verify`, as('sysadmin', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ level: 'exists' }) }));
  expect(v.status).toBe(200);
  expect(await v.json()).toMatchObject({ ok: true, level: 'exists' });

  // download: streamed with its length, bytes equal to the manifest's sha256
  const a = f.seed.artifacts[0]!;
  const dl = await fetch(`${admin}/api/jobs/daily/backups/${f.seed.backupId}/files/${a.file}`, as('sysadmin'));
  expect(dl.status).toBe(200);
  expect(dl.headers.get('content-length')).toBe(String(a.bytes));
  expect(dl.headers.get('content-disposition')).toContain(`filename="daily-${f.seed.backupId}-${a.file}"`);
  expect(createHash('sha256').update(Buffer.from(await dl.arrayBuffer())).digest('hex')).toBe(a.sha256);

  // run now + SSE: the first event arrives while the run is still blocked, so the adapter streams
  const started = await fetch(`${admin}/api/jobs/slow/runs`, as('sysadmin', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' }));
  expect(started.status).toBe(202);
  const { runId } = (await started.json()) as { runId: string };
  await f.gate.started;
  const sse = await fetch(`${admin}/api/runs/${runId}/events`, as('developer'));
  expect(sse.headers.get('content-type')).toMatch(/^text\/event-stream/);
  const next = sseReader(sse);
  const first = await next();
  expect(first).toMatchObject({ event: 'state', data: { status: 'running', runId } });
  const locked = await fetch(`${admin}/api/jobs/slow/runs`, as('sysadmin', { method: 'POST', headers: { 'x-arca-request': '1' } }));
  expect(locked.status).toBe(409);
  f.gate.open();
  let last: { event: string; data: any } | undefined;
  for (let e = await next(); e; e = await next()) last = e;
  expect(last).toMatchObject({ event: 'done', data: { status: 'completed', runId } });
}

describe('adapters, each mounted in a real server on 127.0.0.1', () => {
  it('node:http (toNodeHandler), with a fallthrough for the host routes', async () => {
    const f = await fixture();
    const node = toNodeHandler(f.handler);
    const base = await listen(http.createServer((req, res) => node(req, res, () => res.writeHead(200, { 'content-type': 'text/plain' }).end('host app'))));
    expect(await (await fetch(`${base}/other`)).text()).toBe('host app');
    await journey(base, f);
  });

  it('Express 5 router with global body parsers and the host auth middleware', async () => {
    const f = await fixture();
    const app = express();
    app.use(express.json());
    app.use(express.urlencoded({ extended: false }));
    const requireLogin: express.RequestHandler = (req, res, next) => (req.get('x-user') ? next() : res.status(403).send('log in first'));
    app.use('/admin/backups', requireLogin, arcaExpress(f.handler));
    app.post('/echo', (req, res) => res.json(req.body));
    const base = await listen(http.createServer(app));
    expect(await (await fetch(`${base}/echo`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":1}' })).json()).toEqual({ a: 1 });
    expect(await (await fetch(`${base}/admin/backups/`)).text()).toBe('log in first');
    const f2 = await fixture();
    const app2 = express();
    app2.use('/admin/backups', arcaExpress(f2.handler));
    await journey(await listen(http.createServer(app2)), f2);
    await journey(base, f);
  });

  it('Fastify 5 plugin (encapsulated body parsing; host routes keep theirs)', async () => {
    const f = await fixture();
    const app = Fastify();
    await app.register(arcaFastify(f.handler));
    app.post('/echo', async (req) => req.body);
    await app.listen({ port: 0, host: '127.0.0.1' });
    afterAll(() => app.close());
    const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    expect(await (await fetch(`${base}/echo`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":1}' })).json()).toEqual({ a: 1 });
    await journey(base, f);
  });

  it('Hono 4 on @hono/node-server', async () => {
    const f = await fixture();
    const app = new Hono();
    const h = arcaHono(f.handler);
    for (const p of honoPaths(f.handler)) app.all(p, h);
    app.get('/', (c) => c.text('host app'));
    const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }) as http.Server;
    await new Promise<void>((r) => (server.listening ? r() : server.once('listening', () => r())));
    afterAll(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    expect(await (await fetch(`${base}/`)).text()).toBe('host app');
    await journey(base, f);
  });
});

export type { ArcaHandler };
