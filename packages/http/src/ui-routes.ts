import type { z } from 'zod';
import { ArcaError, ErrorCodes } from '@arca/core';
import type { ArcaAction } from './handler-options.js';
import * as S from './api-schemas.js';
import { historyQuery, restore, type RouteContext } from './api-routes.js';
import { checkPage, configPage, logPage, prunePage, pruneTable, resultPage, restoreResult, restoreWizard, retryResult, verifyResult } from './ui-pages-ops.js';
import { backupPage, jobPage, jobUrl, overviewPage, type Page, type PageContext } from './ui-pages.js';
import { bytes, html } from './ui-html.js';

export interface UiContext extends RouteContext {
  page: PageContext;
  form: URLSearchParams;
}

export interface UiRoute {
  id: string;
  method: 'GET' | 'POST';
  path: string;
  action: ArcaAction;
  params?: z.ZodObject;
  /** Only when the Arca instance has this capability. */
  needs?: 'prune' | 'config';
  /** A Page to render, or a Response (a redirect). */
  handle(c: UiContext): Promise<Page | Response>;
}

const p = <T>(c: UiContext) => c.params as T;
const redirect = (to: string) => new Response(null, { status: 303, headers: { location: to } });

export const UI_ROUTES: UiRoute[] = [
  { id: 'page:overview', method: 'GET', path: '/', action: 'read', handle: (c) => overviewPage(c.page) },
  {
    id: 'page:log', method: 'GET', path: '/log', action: 'read',
    async handle(c) {
      const search = new URL(c.request.url).searchParams;
      const raw = Object.fromEntries([...search].filter(([, v]) => v !== ''));
      const q = S.HistoryQuery.safeParse(raw);
      if (!q.success) throw new ArcaError(ErrorCodes.KEY_INVALID, S.formatIssues(q.error, 'log filter'));
      return logPage(c.page, { ...historyQuery(q.data), offset: q.data.offset, limit: q.data.limit }, new URLSearchParams(raw));
    },
  },
  { id: 'page:job', method: 'GET', path: '/jobs/{job}', action: 'read', params: S.JobParams, handle: (c) => jobPage(c.page, p<{ job: string }>(c).job) },
  { id: 'page:check', method: 'GET', path: '/jobs/{job}/check', action: 'read', params: S.JobParams, handle: (c) => checkPage(c.page, p<{ job: string }>(c).job) },
  { id: 'page:config', method: 'GET', path: '/jobs/{job}/config', action: 'config', needs: 'config', params: S.JobParams, handle: async (c) => configPage(c.page, p<{ job: string }>(c).job) },
  { id: 'page:prune', method: 'GET', path: '/jobs/{job}/prune', action: 'prune', needs: 'prune', params: S.JobParams, handle: (c) => prunePage(c.page, p<{ job: string }>(c).job) },
  {
    id: 'form:prune', method: 'POST', path: '/jobs/{job}/prune', action: 'prune', needs: 'prune', params: S.JobParams,
    async handle(c) {
      const { job } = p<{ job: string }>(c);
      const r = await c.arca.prune(job, { dryRun: false, ...(c.actor ? { actor: c.actor } : {}), signal: c.request.signal });
      return resultPage(c.page, job, undefined, r.ok ? 'ok' : 'bad', r.ok ? `Pruned: freed ${bytes(r.freedBytes)}.` : 'Some deletions failed; see below and run prune again.', pruneTable(r));
    },
  },
  {
    id: 'form:run', method: 'POST', path: '/jobs/{job}/run', action: 'run', params: S.JobParams,
    async handle(c) {
      const { job } = p<{ job: string }>(c);
      await c.tracker.start(job, { trigger: 'manual', ...(c.actor ? { actor: c.actor } : {}) });
      return redirect(jobUrl(c.page, job));
    },
  },
  { id: 'page:backup', method: 'GET', path: '/jobs/{job}/backups/{id}', action: 'read', params: S.BackupParams, handle: (c) => backupPage(c.page, p<{ job: string; id: string }>(c).job, p<{ job: string; id: string }>(c).id) },
  {
    id: 'form:verify', method: 'POST', path: '/jobs/{job}/backups/{id}/verify', action: 'verify', params: S.BackupParams,
    async handle(c) {
      const { job, id } = p<{ job: string; id: string }>(c);
      const asked = c.form.get('level');
      const level = asked === 'exists' || asked === 'restore' ? asked : 'checksum';
      return verifyResult(c.page, await c.arca.verify(job, id, { level, ...(c.actor ? { actor: c.actor } : {}), signal: c.request.signal }));
    },
  },
  {
    id: 'form:retry', method: 'POST', path: '/jobs/{job}/backups/{id}/retry', action: 'run', params: S.BackupParams,
    async handle(c) {
      const { job, id } = p<{ job: string; id: string }>(c);
      return retryResult(c.page, await c.arca.retryFailed(job, id, { ...(c.actor ? { actor: c.actor } : {}), signal: c.request.signal }));
    },
  },
  {
    id: 'form:delete', method: 'POST', path: '/jobs/{job}/backups/{id}/delete', action: 'delete', params: S.BackupParams,
    async handle(c) {
      const { job, id } = p<{ job: string; id: string }>(c);
      const q = S.DeleteQuery.safeParse(c.form.get('destinations') ? { destinations: c.form.get('destinations') } : {});
      if (!q.success) throw new ArcaError(ErrorCodes.KEY_INVALID, S.formatIssues(q.error, 'destinations'));
      const r = await c.arca.deleteBackup(job, id, { ...(q.data.destinations ? { destinations: q.data.destinations } : {}), ...(c.actor ? { actor: c.actor } : {}), signal: c.request.signal });
      return resultPage(c.page, job, undefined, 'ok', `Deleted backup ${id} from ${r.deletedFrom.join(', ')}.`);
    },
  },
  {
    id: 'page:restore', method: 'GET', path: '/jobs/{job}/backups/{id}/restore', action: 'restore', params: S.BackupParams,
    handle: (c) => restoreWizard(c.page, p<{ job: string }>(c).job, p<{ id: string }>(c).id, new URL(c.request.url).searchParams),
  },
  {
    id: 'form:restore', method: 'POST', path: '/jobs/{job}/backups/{id}/restore', action: 'restore', params: S.BackupParams,
    async handle(c) {
      const { job, id } = p<{ job: string; id: string }>(c);
      const raw: Record<string, unknown> = {};
      for (const k of ['confirm', 'artifact', 'from', 'target']) {
        const v = c.form.get(k);
        if (v) raw[k] = v;
      }
      raw.confirm ??= '';
      const b = S.RestoreBody.safeParse(raw);
      if (!b.success) throw new ArcaError(ErrorCodes.KEY_INVALID, S.formatIssues(b.error, 'restore form'));
      return restoreResult(c.page, await restore(c, job, id, b.data));
    },
  },
];

export function errorPage(status: number, message: string, correlationId?: string): Page {
  return { title: 'Error', heading: status === 403 ? 'Not allowed' : status === 404 ? 'Not found' : 'Something went wrong', body: html`<div class="notice notice-bad" role="alert">${message}${correlationId ? html` <span class="mono">(${correlationId})</span>` : ''}</div>` };
}
