/**
 * Fuzzing through @arca/http (fast-check): hostile job names, backup ids, artifact (file)
 * names, destination and restore target names in every route that takes one → always a 4xx
 * with a JSON error code and a message, never a 5xx; and no file anywhere under the test's
 * folder (the backup roots, a sibling folder, a restore target) is created, changed or removed.
 */
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ArcaError, createArca, isValidName, directory, jsonlRunLog, localDir, type Arca } from '@arca/core';
import { createArcaHandler, type ArcaHandler } from '@arca/http';
import { hostile, segment } from './fuzz-inputs.js';
import { snapshotTree } from './tree-snapshot.js';

let root: string;
let arca: Arca;
let h: ArcaHandler;
let id: string;
const ORIGIN = 'http://arca.test';

beforeAll(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'arca-fuzz-http-'));
  for (const d of ['data', 'outside', 'restore-here']) await fs.mkdir(path.join(root, d));
  await fs.writeFile(path.join(root, 'data', 'a.txt'), 'alpha\n');
  await fs.writeFile(path.join(root, 'outside', 'passwd'), 'root:x:0:0\n');
  await fs.writeFile(path.join(root, 'victim.txt'), 'do not touch\n');
  arca = createArca({
    destinations: { local: localDir({ path: path.join(root, 'backups') }), mirror: localDir({ path: path.join(root, 'mirror') }) },
    jobs: { daily: { sources: { files: directory({ path: path.join(root, 'data') }) }, destinations: ['local', 'mirror'] } },
    runLog: jsonlRunLog(path.join(root, 'runs', 'runs.jsonl')),
  });
  const run = await arca.run('daily');
  expect(run.status).toBe('completed');
  id = run.backupId;
  h = createArcaHandler(arca, {
    basePath: '/admin',
    authorize: () => ({ actor: 'fuzz' }),
    allowRestore: true,
    restoreTargets: { elsewhere: { label: 'Elsewhere', into: directory({ path: path.join(root, 'restore-here') }) } },
    onError: () => {},
  });
});
afterAll(async () => {
  h?.dispose();
  await fs.rm(root, { recursive: true, force: true });
});

interface Shot {
  method: string;
  url: (v: string) => string;
  body?: (v: string) => unknown;
  /** A well-formed name that matches nothing is a filter with no results (200), not an error. */
  filter?: boolean;
  /** Only send values that are not well-formed names (a well-formed tag starts a real run; a destination name deletes). */
  onlyInvalid?: boolean;
}
const FILE = 'files.tar.gz';
const SHOTS: Shot[] = [
  { method: 'GET', url: (v) => `/admin/api/jobs/${v}/backups` },
  { method: 'GET', url: (v) => `/admin/api/jobs/${v}/config` },
  { method: 'GET', url: (v) => `/admin/api/jobs/daily/backups/${v}` },
  { method: 'GET', url: (v) => `/admin/api/jobs/${v}/backups/${id}` },
  { method: 'GET', url: (v) => `/admin/api/jobs/daily/backups/${id}/files/${v}` },
  { method: 'GET', url: (v) => `/admin/api/jobs/daily/backups/${v}/files/${FILE}` },
  { method: 'GET', url: (v) => `/admin/api/jobs/daily/backups/${id}/files/${FILE}?from=${v}` },
  { method: 'GET', url: (v) => `/admin/api/runs/${v}` },
  { method: 'GET', url: (v) => `/admin/jobs/${v}` },
  { method: 'GET', url: (v) => `/admin/jobs/daily/backups/${v}` },
  { method: 'GET', url: (v) => `/admin/api/history?job=${v}`, filter: true },
  { method: 'POST', url: (v) => `/admin/api/jobs/${v}/runs`, body: () => ({}) },
  { method: 'POST', url: () => `/admin/api/jobs/daily/runs`, body: (v) => ({ tags: [v] }), onlyInvalid: true },
  { method: 'POST', url: (v) => `/admin/api/jobs/daily/backups/${v}/verify`, body: () => ({ level: 'checksum' }) },
  { method: 'POST', url: () => `/admin/api/jobs/daily/backups/${id}/verify`, body: (v) => ({ level: 'checksum', destinations: [v] }) },
  { method: 'POST', url: (v) => `/admin/api/jobs/daily/backups/${v}/retry`, body: () => ({}) },
  { method: 'DELETE', url: (v) => `/admin/api/jobs/daily/backups/${v}` },
  { method: 'DELETE', url: (v) => `/admin/api/jobs/daily/backups/${id}?destinations=${v}`, onlyInvalid: true },
  { method: 'POST', url: (v) => `/admin/api/jobs/daily/backups/${v}/restore`, body: () => ({ confirm: 'daily', target: 'elsewhere' }) },
  { method: 'POST', url: () => `/admin/api/jobs/daily/backups/${id}/restore`, body: (v) => ({ confirm: 'daily', target: 'elsewhere', artifact: v }) },
  { method: 'POST', url: () => `/admin/api/jobs/daily/backups/${id}/restore`, body: (v) => ({ confirm: 'daily', target: v }) },
  { method: 'POST', url: () => `/admin/api/jobs/daily/backups/${id}/restore`, body: (v) => ({ confirm: 'daily', target: 'elsewhere', artifact: 'files', from: v }) },
];

describe('HTTP API and dashboard under hostile names', () => {
  it('answers 4xx with an error code (never 5xx) and touches no file', async () => {
    const before = await snapshotTree(root, (rel) => rel.startsWith('runs'));
    const legit = new Set(['daily', id, FILE, 'manifest.json', 'local', 'mirror', 'files', 'elsewhere', 'latest']);
    const seen: string[] = [];
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...SHOTS.keys()), hostile, fc.boolean(), async (i, value, raw) => {
        const shot = SHOTS[i]!;
        const seg = segment(value, raw);
        // What the server sees: URL parsers drop tabs and newlines, and C0 controls and spaces at the end.
        const eff = raw ? value.replace(/[\t\n\r]/g, '').replace(/[\u0000-\u0020]+$/, '') : value;
        if (shot.onlyInvalid && (isValidName(eff) || isValidName(value) || eff === '')) return;
        const sent = ORIGIN + shot.url(seg);
        let url: string;
        try {
          url = new URL(sent).href;
        } catch {
          return; // not a URL a client could send
        }
        // A client resolves "..", "." (and "%2e%2e") segments before sending: that is another route.
        const resolved = new URL(sent).pathname.split('/').length !== sent.slice(ORIGIN.length).split('?')[0]!.split('/').length;
        const body = shot.body?.(value); // bodies carry the value itself (JSON), URLs its encoded form
        const res = await h(
          new Request(url, {
            method: shot.method,
            headers: { origin: ORIGIN, 'x-arca-request': '1', ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
            ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
          }),
        );
        const text = await res.text();
        seen.push(`${res.status}`);
        expect(res.status, `${shot.method} ${url} → ${res.status} ${text.slice(0, 300)}`).toBeLessThan(500);
        if (resolved || legit.has(eff) || (eff === '' && url.includes('='))) return; // an empty query parameter means "not given"
        if (shot.filter && isValidName(eff)) return;
        expect(res.status, `${shot.method} ${url} → ${res.status} ${text.slice(0, 300)}`).toBeGreaterThanOrEqual(400);
        if (url.includes('/api/')) {
          const err = (JSON.parse(text) as { error?: { code?: string; message?: string } }).error;
          expect(err?.code, text).toMatch(/^[A-Z_]+$/);
          expect(err?.message?.length, text).toBeGreaterThan(10);
        }
      }),
      { numRuns: 400 },
    );
    expect(seen.length).toBeGreaterThan(300);
    expect(await snapshotTree(root, (rel) => rel.startsWith('runs'))).toEqual(before);
    // The backup is intact and still the only one.
    expect((await arca.verify('daily', id, { level: 'checksum' })).ok).toBe(true);
  });

  it('a well-formed but unknown destination name is 404, not a silent no-op reported as done', async () => {
    const verify = await h(new Request(`${ORIGIN}/admin/api/jobs/daily/backups/${id}/verify`, { method: 'POST', headers: { origin: ORIGIN, 'content-type': 'application/json' }, body: JSON.stringify({ destinations: ['nas'] }) }));
    expect(verify.status).toBe(404);
    expect(((await verify.json()) as { error: { message: string } }).error.message).toMatch(/Unknown destination "nas".*local, mirror/);
    const del = await h(new Request(`${ORIGIN}/admin/api/jobs/daily/backups/${id}?destinations=mirr0r`, { method: 'DELETE', headers: { origin: ORIGIN, 'x-arca-request': '1' } }));
    expect(del.status).toBe(404);
    expect((await arca.verify('daily', id, { level: 'exists' })).destinations.map((d) => [d.name, d.ok])).toEqual([
      ['local', true],
      ['mirror', true],
    ]);
  });

  it('a restore target named after an Object.prototype member is unknown (404), not an in-place restore', async () => {
    const before = await snapshotTree(root, (rel) => rel.startsWith('runs'));
    for (const target of ['valueOf', 'constructor', 'toString', 'hasOwnProperty', '__proto__']) {
      const res = await h(new Request(`${ORIGIN}/admin/api/jobs/daily/backups/${id}/restore`, { method: 'POST', headers: { origin: ORIGIN, 'content-type': 'application/json' }, body: JSON.stringify({ confirm: 'daily', target }) }));
      expect(res.status, `${target}: ${await res.clone().text()}`).toBe(404);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('NOT_FOUND');
    }
    expect(await snapshotTree(root, (rel) => rel.startsWith('runs'))).toEqual(before); // no safety backup, no restore
  });

  it('destination keys: every key localDir accepts lands inside its root; every other one is KEY_INVALID', async () => {
    const dest = localDir({ path: path.join(root, 'keys') });
    const before = await snapshotTree(root, (rel) => rel.startsWith('runs') || rel.startsWith('keys'));
    const keyish = fc.oneof(hostile, fc.array(hostile, { minLength: 1, maxLength: 4 }).map((a) => a.join('/')));
    await fc.assert(
      fc.asyncProperty(keyish, async (key) => {
        try {
          await dest.put(key, (async function* () {
            yield new Uint8Array([1, 2, 3]);
          })());
        } catch (e) {
          expect(e, String(e)).toBeInstanceOf(ArcaError);
          expect((e as ArcaError).code).toMatch(/^[A-Z_]+$/);
          if (key.split('/').some((p) => p === '..' || p === '.') || key.includes('\0') || key.startsWith('/') || key.includes('\\')) expect((e as ArcaError).code).toBe('KEY_INVALID');
          return;
        }
        const stored = path.join(root, 'keys', ...key.split('/'));
        expect(stored.startsWith(path.join(root, 'keys') + path.sep)).toBe(true);
        expect((await fs.readFile(stored)).length).toBe(3);
        expect((await dest.stat(key))?.size).toBe(3);
        await dest.delete([key]);
      }),
      { numRuns: 500 },
    );
    expect(await snapshotTree(root, (rel) => rel.startsWith('runs') || rel.startsWith('keys'))).toEqual(before);
  });
});
