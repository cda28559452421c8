/**
 * The HTTP half of the leak scanner: the same jobs built in-process with the adapters'
 * factories, served by @arca/http, and every route of its OpenAPI document plus every
 * dashboard page called (runs of every job first, so failure paths have results to show;
 * restore into a scratch database; delete last). Captures every response, every event and
 * every console line for the scan.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { age, createArca, directory, jsonlRunLog, localDir, type Arca, type Destination, type Notifier, type Source } from '@arca/core';
import { s3 } from '@arca/dest-s3';
import { sftp } from '@arca/dest-sftp';
import { createArcaHandler, type ArcaHandler } from '@arca/http';
import { email } from '@arca/notify-email';
import { mysql } from '@arca/source-mysql';
import { postgres } from '@arca/source-postgres';
import { secretEnv, specs } from './leak-config.js';
import type { World } from './leak-world.js';

type Spec = { use: string } & Record<string, unknown>;

/** The factory a spec names (what `arca` does with `"use"`, written out for the handful used here). */
function build(spec: Spec): unknown {
  const { use, ...o } = spec;
  const any = o as never;
  switch (use) {
    case 'localDir':
      return localDir(any);
    case 'directory':
      return directory(any);
    case 'age':
      return age(any);
    case '@arca/source-postgres':
      return postgres(any);
    case '@arca/source-mysql':
      return mysql(any);
    case '@arca/dest-s3':
      return s3(any);
    case '@arca/dest-sftp':
      return sftp(any);
    case '@arca/notify-email':
      return email(any);
    default:
      throw new Error(`no factory for ${use}`);
  }
}
const mapValues = <T>(r: Record<string, Spec>, f: (s: Spec, k: string) => T): Record<string, T> => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, f(v, k)]));

export interface HttpApp {
  arca: Arca;
  handler: ArcaHandler;
  root: string;
  /** Every event the Arca instance emitted, as JSON. */
  events: string[];
  /** Errors handed to onError (500s). */
  errors: string[];
}

export async function makeHttpApp(w: World, root: string): Promise<HttpApp> {
  const env = secretEnv(w);
  const dataDir = path.join(root, 'data');
  await fs.mkdir(dataDir, { recursive: true });
  await fs.writeFile(path.join(dataDir, 'notes.txt'), 'nothing secret here\n');
  const s = specs(w, (name) => env[name]!, dataDir, path.join(root, 'backups'));
  const destinations = mapValues(s.destinations, (d, name) => build({ ...d, name }) as Destination);
  const jobs = mapValues(s.jobs as unknown as Record<string, Spec>, (j) => {
    const job = j as unknown as { sources: Record<string, Spec>; encrypt?: Spec } & Record<string, unknown>;
    return { ...job, sources: mapValues(job.sources, (src) => build(src) as Source), ...(job.encrypt ? { encrypt: build(job.encrypt) } : {}) };
  });
  const arca = createArca({
    destinations,
    jobs: jobs as never,
    notifiers: s.notifiers.map((n) => build(n) as Notifier),
    codecs: [age({ identities: w.age.identity })],
    runLog: jsonlRunLog(path.join(root, 'backups', 'runs.jsonl')),
  });
  const events: string[] = [];
  for (const name of ['run:start', 'progress', 'destination:done', 'run:done', 'run:skipped', 'error', 'audit', 'health:unhealthy', 'health:recovered'] as const) {
    arca.on(name, (e: unknown) => void events.push(`${name} ${JSON.stringify(e)}`));
  }
  const errors: string[] = [];
  const handler = createArcaHandler(arca, {
    basePath: '/admin',
    authorize: () => ({ actor: 'security-scan' }),
    allowRestore: true,
    restoreTargets: { scratch: { label: 'Scratch database', into: { pg: build(s.pgScratch(`${w.pg.database}_http`)) as Source } } },
    onError: (e, info) => void errors.push(`${info.correlationId} ${String((e as Error)?.stack ?? e)}`),
  });
  return { arca, handler, root, events, errors };
}

export interface Exchange {
  what: string;
  status: number;
  /** Status line, headers and body. */
  text: string;
}

const ORIGIN = 'http://arca.test';

export async function call(h: ArcaHandler, method: string, url: string, body?: unknown, extra: Record<string, string> = {}): Promise<Exchange> {
  const headers: Record<string, string> = { origin: ORIGIN, 'x-arca-request': '1', ...extra };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await h(new Request(ORIGIN + url, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) }));
  const text = await res.text();
  return { what: `${method} ${url}`, status: res.status, text: `${res.status}\n${[...res.headers].map(([k, v]) => `${k}: ${v}`).join('\n')}\n\n${text}` };
}

/** Run every job through the API (waiting on its SSE stream), then call every route and page. */
export async function callEveryRoute(app: HttpApp): Promise<{ exchanges: Exchange[]; problems: string[] }> {
  const h = app.handler;
  const exchanges: Exchange[] = [];
  const problems: string[] = [];
  const go = async (method: string, url: string, body?: unknown, expect?: number[]) => {
    const x = await call(h, method, url, body);
    exchanges.push(x);
    if (x.status >= 500 || (expect && !expect.includes(x.status))) problems.push(`${x.what} → ${x.status}: ${x.text.slice(0, 400)}`);
    return x;
  };
  const bodyOf = (x: Exchange) => JSON.parse(x.text.slice(x.text.indexOf('\n\n') + 2));

  const runIds: string[] = [];
  for (const job of ['main', 'broken', 'partial']) {
    const started = await go('POST', `/admin/api/jobs/${job}/runs`, {}, [202]);
    const runId = bodyOf(started).runId as string;
    runIds.push(runId);
    await go('GET', `/admin/api/runs/${runId}/events`); // the SSE stream ends with the run
    await go('GET', `/admin/api/runs/${runId}`, undefined, [200]);
  }

  const doc = bodyOf(await go('GET', '/admin/api/openapi.json', undefined, [200])) as { paths: Record<string, Record<string, { operationId: string }>> };
  const latest = bodyOf(await go('GET', '/admin/api/jobs/main/backups', undefined, [200]));
  const backup = (latest.backups ?? latest)[0] as { id: string };
  const detail = bodyOf(await go('GET', `/admin/api/jobs/main/backups/${backup.id}`, undefined, [200]));
  const files = (detail.manifest.artifacts as Array<{ file: string }>).map((a) => a.file);
  const partialId = ((bodyOf(await go('GET', '/admin/api/jobs/partial/backups')).backups ?? []) as Array<{ id: string }>)[0]?.id;

  const later: Array<() => Promise<unknown>> = [];
  const last: Array<() => Promise<unknown>> = [];
  for (const [template, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const M = method.toUpperCase();
      for (const job of template.includes('{job}') ? ['main', 'plain', 'broken', 'partial'] : ['']) {
        const id = job === 'partial' ? partialId : backup.id;
        if (template.includes('{id}') && (!id || (job !== 'main' && job !== 'partial'))) continue;
        for (const file of template.includes('{file}') ? files : ['']) {
          for (const runId of template.includes('{runId}') ? runIds : ['']) {
            const url = `${template.startsWith('/admin/') ? '' : '/admin'}${template.replace('{job}', job).replace('{id}', id ?? '').replace('{file}', encodeURIComponent(file)).replace('{runId}', runId)}`;
            switch (op.operationId) {
              case 'runJob':
                continue; // done above
              case 'verifyBackup':
                later.push(() => go(M, url, { level: 'checksum' }));
                break;
              case 'retryFailed':
              case 'applyPrune':
                later.push(() => go(M, url, {}));
                break;
              case 'restoreBackup':
                if (job === 'main') later.push(() => go(M, url, { confirm: job, artifact: 'pg', target: 'scratch' }, [200]));
                break;
              case 'deleteBackup':
                if (job === 'main') last.push(() => go(M, `${url}?destinations=nas`, undefined, [200]));
                break;
              default:
                if (M !== 'GET') problems.push(`a route the scanner does not know how to call: ${M} ${template} (${op.operationId}); add it to leak-http.ts`);
                else await go(M, url);
            }
          }
        }
      }
    }
  }
  // Dashboard pages.
  for (const job of ['main', 'plain', 'broken', 'partial']) {
    for (const p of ['', '/check', '/config', '/prune']) await go('GET', `/admin/jobs/${job}${p}`, undefined, [200]);
  }
  for (const url of ['/admin/', '/admin/log', `/admin/jobs/main/backups/${backup.id}`, `/admin/jobs/main/backups/${backup.id}/restore`]) await go('GET', url, undefined, [200]);
  if (partialId) await go('GET', `/admin/jobs/partial/backups/${partialId}`, undefined, [200]);
  // State changes last; delete (ordered last by the route list) only from one destination.
  for (const f of [...later, ...last]) await f();
  return { exchanges, problems };
}
