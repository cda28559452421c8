import type { z } from 'zod';
import { ArcaError, ErrorCodes, runLogToCsv, type Arca, type BackupSummary, type RunLogEntry, type RunLogQuery } from '@arca/core';
import type { ArcaAction, ArcaHandlerOptions } from './handler-options.js';
import * as S from './api-schemas.js';
import { contentDisposition, json, toReadable, withHeaders } from './http-support.js';
import type { RunTracker } from './run-tracker.js';
import { sseResponse } from './sse-stream.js';

export interface RouteContext {
  arca: Arca;
  request: Request;
  options: ArcaHandlerOptions;
  tracker: RunTracker;
  actor?: string;
  params: Record<string, string>;
  query: unknown;
  body: unknown;
  report(e: unknown): void;
}

export interface ApiRoute {
  id: string;
  method: 'GET' | 'POST' | 'DELETE';
  /** OpenAPI-style path below `<basePath>`, e.g. `/api/jobs/{job}`. */
  path: string;
  action: ArcaAction;
  summary: string;
  params?: z.ZodObject;
  query?: z.ZodType;
  body?: z.ZodType;
  /** What a 200 carries, for the OpenAPI document. */
  produces?: 'json' | 'octet-stream' | 'event-stream' | 'csv';
  handle(c: RouteContext): Promise<Response>;
}

/** Capabilities are feature-detected: a method the Arca instance lacks hides its routes and buttons. */
export function capabilities(arca: Arca, options: ArcaHandlerOptions) {
  return {
    prune: typeof arca.prune === 'function',
    health: typeof arca.health === 'function',
    download: typeof arca.openArtifact === 'function',
    config: typeof arca.describeJob === 'function',
    restore: options.allowRestore === true,
  };
}
export type Capabilities = ReturnType<typeof capabilities>;

/** A backup as the API shows it: its summary, how long it took, and where it is. */
export function backupView(b: BackupSummary, jobDestinations: string[], verifies: Map<string, Map<string, boolean>>) {
  const v = verifies.get(b.id);
  return {
    ...b,
    durationMs: Math.max(0, Date.parse(b.finishedAt) - Date.parse(b.startedAt)),
    copies: jobDestinations.map((name) => ({
      destination: name,
      status: !b.destinations.includes(name) ? ('missing' as const) : v?.get(name) === false ? ('verify-failed' as const) : ('ok' as const),
      ...(v?.has(name) ? { lastVerifyOk: v.get(name) } : {}),
    })),
  };
}

/** The newest verify result per backup and destination, from the audit log. */
export async function lastVerifies(arca: Arca, job: string): Promise<Map<string, Map<string, boolean>>> {
  const out = new Map<string, Map<string, boolean>>();
  const entries = await arca.history({ job, type: 'audit', limit: 1000 });
  for (const e of entries) {
    if (e.type !== 'audit' || e.action !== 'verify') continue;
    const dests = (e.details?.destinations ?? []) as Array<{ name: string; holds: boolean; ok: boolean }>;
    let m = out.get(e.backupId);
    if (!m) out.set(e.backupId, (m = new Map()));
    for (const d of dests) if (d.holds && !m.has(d.name)) m.set(d.name, d.ok);
  }
  return out;
}

export function jobDestinationNames(arca: Arca, job: string): string[] | undefined {
  return typeof arca.describeJob === 'function' ? arca.describeJob(job).destinations.map((d) => d.name) : undefined;
}

export async function listBackupViews(arca: Arca, job: string, signal?: AbortSignal) {
  const [backups, verifies] = await Promise.all([arca.list(job, { signal }), lastVerifies(arca, job)]);
  const names = jobDestinationNames(arca, job) ?? [...new Set(backups.flatMap((b) => b.destinations))];
  return { destinations: names, backups: backups.map((b) => backupView(b, names, verifies)) };
}

export function jobSummary(arca: Arca, tracker: RunTracker, job: string) {
  const info = typeof arca.describeJob === 'function' ? arca.describeJob(job) : undefined;
  return {
    name: job,
    ...(info?.schedule ? { schedule: info.schedule } : {}),
    nextRuns: arca.nextRuns(job, 3).map((d) => d.toISOString()),
    running: tracker.runningFor(job)?.runId ?? null,
    destinations: info?.destinations.map((d) => ({ name: d.name, kind: d.kind })) ?? [],
    sources: info?.sources.map((s) => ({ name: s.name, kind: s.kind })) ?? [],
  };
}

export function historyQuery(q: z.infer<typeof S.HistoryQuery>): RunLogQuery {
  return {
    ...(q.job ? { job: q.job } : {}),
    ...(q.type ? { type: q.type } : {}),
    ...(q.status ? { status: q.status } : {}),
    ...(q.since ? { since: q.since } : {}),
    ...(q.until ? { until: q.until } : {}),
    offset: q.offset,
    limit: q.limit,
  };
}

/** Start a restore after every check the API and the wizard share. */
export async function restore(c: RouteContext, job: string, id: string, b: z.infer<typeof S.RestoreBody>) {
  if (!c.options.allowRestore) throw new ArcaError(ErrorCodes.NOT_SUPPORTED, 'Restore is disabled on this dashboard (allowRestore is false).');
  if (b.confirm !== job) throw new ArcaError(ErrorCodes.KEY_INVALID, `Type the job name "${job}" to confirm the restore.`);
  let into: NonNullable<Parameters<Arca['restore']>[2]>['into'];
  if (b.target !== 'in-place') {
    // Own keys only: "valueOf" or "constructor" must not find Object.prototype's (an in-place restore followed).
    const targets = c.options.restoreTargets ?? {};
    const t = Object.hasOwn(targets, b.target) ? targets[b.target] : undefined;
    if (!t || (t.jobs && !t.jobs.includes(job))) throw new ArcaError(ErrorCodes.NOT_FOUND, `Unknown restore target "${b.target}" for job ${job}.`);
    into = t.into;
  }
  return c.arca.restore(job, id, {
    ...(b.artifact ? { artifact: b.artifact } : {}),
    ...(b.from ? { from: b.from } : {}),
    ...(into ? { into } : {}),
    overwrite: b.overwrite,
    ...(c.actor ? { actor: c.actor } : {}),
    signal: c.request.signal,
  });
}

export async function download(c: RouteContext, job: string, id: string, file: string, from?: string): Promise<Response> {
  const a = await c.arca.openArtifact(job, id, file, { ...(from ? { from } : {}) });
  const headers = withHeaders({
    'content-type': file.endsWith('.json') ? 'application/json' : 'application/octet-stream',
    'content-length': String(a.bytes),
    'content-disposition': contentDisposition(`${job}-${id}-${a.file}`),
    'x-arca-sha256': a.sha256,
    'x-arca-destination': a.destination,
  });
  return new Response(toReadable(a.stream, c.report), { status: 200, headers });
}

const p = <T>(c: RouteContext) => c.params as T;

export const API_ROUTES: ApiRoute[] = [
  {
    id: 'listJobs', method: 'GET', path: '/api/jobs', action: 'read', summary: 'Jobs with schedule, next runs, the run in progress and capabilities',
    async handle(c) {
      return json({ version: c.arca.version, capabilities: capabilities(c.arca, c.options), jobs: c.arca.jobs().map((j) => jobSummary(c.arca, c.tracker, j)) });
    },
  },
  {
    id: 'getJobConfig', method: 'GET', path: '/api/jobs/{job}/config', action: 'config', params: S.JobParams, summary: "A job's sources, destinations, schedule and policies (describe(): no secrets)",
    async handle(c) {
      if (typeof c.arca.describeJob !== 'function') throw new ArcaError(ErrorCodes.NOT_SUPPORTED, 'This Arca version cannot describe jobs.');
      return json(c.arca.describeJob(p<{ job: string }>(c).job));
    },
  },
  {
    id: 'checkJob', method: 'GET', path: '/api/jobs/{job}/check', action: 'read', params: S.JobParams, summary: 'Pre-flight check of every source and destination (reachable, free space)',
    async handle(c) {
      return json(await c.arca.check(p<{ job: string }>(c).job, { signal: c.request.signal }));
    },
  },
  {
    id: 'listBackups', method: 'GET', path: '/api/jobs/{job}/backups', action: 'read', params: S.JobParams, summary: 'Restorable backups, newest first, with per-destination status, sizes, checksums and timings',
    async handle(c) {
      const { job } = p<{ job: string }>(c);
      return json({ job, ...(await listBackupViews(c.arca, job, c.request.signal)) });
    },
  },
  {
    id: 'getBackup', method: 'GET', path: '/api/jobs/{job}/backups/{id}', action: 'read', params: S.BackupParams, summary: 'One backup with its manifest',
    async handle(c) {
      const { job, id } = p<{ job: string; id: string }>(c);
      const [b, verifies] = await Promise.all([c.arca.get(job, id, { signal: c.request.signal }), lastVerifies(c.arca, job)]);
      const names = jobDestinationNames(c.arca, job) ?? b.destinations;
      return json({ ...backupView(b, names, verifies), manifest: b.manifest });
    },
  },
  {
    id: 'runJob', method: 'POST', path: '/api/jobs/{job}/runs', action: 'run', params: S.JobParams, body: S.RunBody, summary: 'Start a backup now; answers 202 with the run id at once (follow it with /api/runs/{runId}/events)',
    async handle(c) {
      const { job } = p<{ job: string }>(c);
      const b = c.body as z.infer<typeof S.RunBody>;
      const started = await c.tracker.start(job, { trigger: 'api', ...(c.actor ? { actor: c.actor } : {}), ...(b.tags ? { tags: b.tags } : {}) });
      return json({ job, ...started, events: `api/runs/${started.runId}/events` }, 202);
    },
  },
  {
    id: 'getRun', method: 'GET', path: '/api/runs/{runId}', action: 'read', params: S.RunParams, summary: 'A run in progress or recently finished (this process)',
    async handle(c) {
      const r = c.tracker.get(p<{ runId: string }>(c).runId);
      if (!r) throw new ArcaError(ErrorCodes.NOT_FOUND, 'Unknown run (finished long ago, or started by another process). See the history.');
      return json(r);
    },
  },
  {
    id: 'runEvents', method: 'GET', path: '/api/runs/{runId}/events', action: 'read', params: S.RunParams, produces: 'event-stream', summary: 'Server-sent events of a run: state, progress, destination, done',
    async handle(c) {
      const r = c.tracker.get(p<{ runId: string }>(c).runId);
      if (!r) throw new ArcaError(ErrorCodes.NOT_FOUND, 'Unknown run (finished long ago, or started by another process). See the history.');
      return sseResponse(c.tracker, r, c.request.signal);
    },
  },
  {
    id: 'verifyBackup', method: 'POST', path: '/api/jobs/{job}/backups/{id}/verify', action: 'verify', params: S.BackupParams, body: S.VerifyBody, summary: 'Re-check every stored copy (size, or a full sha256 re-read)',
    async handle(c) {
      const { job, id } = p<{ job: string; id: string }>(c);
      const b = c.body as z.infer<typeof S.VerifyBody>;
      return json(await c.arca.verify(job, id, { level: b.level, ...(b.destinations ? { destinations: b.destinations } : {}), ...(c.actor ? { actor: c.actor } : {}), signal: c.request.signal }));
    },
  },
  {
    id: 'downloadArtifact', method: 'GET', path: '/api/jobs/{job}/backups/{id}/files/{file}', action: 'download', params: S.FileParams, query: S.DownloadQuery, produces: 'octet-stream', summary: 'Stream one stored file as it is on the destination (compressed/encrypted), checked against the manifest',
    async handle(c) {
      const { job, id, file } = p<{ job: string; id: string; file: string }>(c);
      return download(c, job, id, file, (c.query as z.infer<typeof S.DownloadQuery>).from);
    },
  },
  {
    id: 'deleteBackup', method: 'DELETE', path: '/api/jobs/{job}/backups/{id}', action: 'delete', params: S.BackupParams, query: S.DeleteQuery, summary: 'Delete a backup from every destination, or from the ones listed',
    async handle(c) {
      const { job, id } = p<{ job: string; id: string }>(c);
      const q = c.query as z.infer<typeof S.DeleteQuery>;
      return json(await c.arca.deleteBackup(job, id, { ...(q.destinations ? { destinations: q.destinations } : {}), ...(c.actor ? { actor: c.actor } : {}), signal: c.request.signal }));
    },
  },
  {
    id: 'retryFailed', method: 'POST', path: '/api/jobs/{job}/backups/{id}/retry', action: 'run', params: S.BackupParams, body: S.RetryBody, summary: 'Copy a backup to the destinations that miss it',
    async handle(c) {
      const { job, id } = p<{ job: string; id: string }>(c);
      return json(await c.arca.retryFailed(job, id, { ...(c.actor ? { actor: c.actor } : {}), signal: c.request.signal }));
    },
  },
  {
    id: 'previewPrune', method: 'GET', path: '/api/jobs/{job}/prune', action: 'prune', params: S.JobParams, summary: 'Retention dry run: every decision with its reasons (nothing is deleted)',
    async handle(c) {
      return json(await c.arca.prune(p<{ job: string }>(c).job, { dryRun: true, signal: c.request.signal }));
    },
  },
  {
    id: 'applyPrune', method: 'POST', path: '/api/jobs/{job}/prune', action: 'prune', params: S.JobParams, body: S.PruneBody, summary: 'Apply retention (deletions are audit-logged with the actor)',
    async handle(c) {
      const b = c.body as z.infer<typeof S.PruneBody>;
      return json(await c.arca.prune(p<{ job: string }>(c).job, { dryRun: false, ...(b.leftoverGrace ? { leftoverGrace: b.leftoverGrace } : {}), ...(c.actor ? { actor: c.actor } : {}), signal: c.request.signal }));
    },
  },
  {
    id: 'restoreBackup', method: 'POST', path: '/api/jobs/{job}/backups/{id}/restore', action: 'restore', params: S.BackupParams, body: S.RestoreBody, summary: 'Restore (only with allowRestore): type the job name in confirm; in place takes a safety backup first',
    async handle(c) {
      const { job, id } = p<{ job: string; id: string }>(c);
      return json(await restore(c, job, id, c.body as z.infer<typeof S.RestoreBody>));
    },
  },
  {
    id: 'health', method: 'GET', path: '/api/health', action: 'read', summary: 'Health of every job (RPO, storage, last run, last verify)',
    async handle(c) {
      return json(await c.arca.health({ signal: c.request.signal }));
    },
  },
  {
    id: 'history', method: 'GET', path: '/api/history', action: 'read', query: S.HistoryQuery, summary: 'Run log and audit entries, newest first, paged',
    async handle(c) {
      const q = c.query as z.infer<typeof S.HistoryQuery>;
      const entries: RunLogEntry[] = await c.arca.history({ ...historyQuery(q), limit: q.limit + 1 });
      const more = entries.length > q.limit;
      return json({ entries: entries.slice(0, q.limit), offset: q.offset, limit: q.limit, ...(more ? { nextOffset: q.offset + q.limit } : {}) });
    },
  },
  {
    id: 'historyCsv', method: 'GET', path: '/api/history.csv', action: 'read', query: S.HistoryCsvQuery, produces: 'csv', summary: 'The run log as CSV (RFC 4180, formula-safe)',
    async handle(c) {
      const q = c.query as z.infer<typeof S.HistoryQuery>;
      const csvText = runLogToCsv(await c.arca.history(historyQuery(q)));
      return new Response(csvText, { headers: withHeaders({ 'content-type': 'text/csv; charset=utf-8', 'content-disposition': contentDisposition(`arca-history${q.job ? `-${q.job}` : ''}.csv`) }) });
    },
  },
];

/** Routes whose Arca method is missing are not served (and not documented). */
export function availableRoutes(arca: Arca, options: ArcaHandlerOptions): ApiRoute[] {
  const caps = capabilities(arca, options);
  return API_ROUTES.filter((r) => {
    if (r.id === 'previewPrune' || r.id === 'applyPrune') return caps.prune;
    if (r.id === 'health') return caps.health;
    if (r.id === 'downloadArtifact') return caps.download;
    if (r.id === 'getJobConfig') return caps.config;
    return true;
  });
}
