import type { Arca, HealthReport, JobHealth, RunLogEntry } from '@arca/core';
import type { ArcaAction, ArcaHandlerOptions } from './handler-options.js';
import { listBackupViews, lastVerifies, backupView, jobDestinationNames, type Capabilities } from './api-routes.js';
import type { RunTracker } from './run-tracker.js';
import { trendChart } from './ui-chart.js';
import { ago, badge, bytes, duration, html, postForm, statusBadge, when, type SafeHtml } from './ui-html.js';

export interface PageContext {
  arca: Arca;
  options: ArcaHandlerOptions;
  tracker: RunTracker;
  base: string;
  csrf: string;
  can: Record<ArcaAction, boolean>;
  caps: Capabilities;
  signal: AbortSignal;
}

export interface Page {
  title: string;
  heading: string;
  crumbs?: Array<[string, string]>;
  body: SafeHtml;
}

const u = encodeURIComponent;
export const jobUrl = (pc: PageContext, job: string) => `${pc.base}/jobs/${u(job)}`;
export const backupUrl = (pc: PageContext, job: string, id: string) => `${jobUrl(pc, job)}/backups/${u(id)}`;

/** The "Run now" button and its live progress area (filled over SSE by arca.js). */
export function runButton(pc: PageContext, job: string): SafeHtml {
  return pc.can.run ? postForm(`${jobUrl(pc, job)}/run`, pc.csrf, 'Run backup now', { cls: 'btn btn-primary', run: job }) : html``;
}

export function runProgress(pc: PageContext, job: string): SafeHtml {
  if (!pc.can.run && !pc.tracker.runningFor(job)) return html``;
  const running = pc.tracker.runningFor(job);
  return html`<div class="run-progress" data-job="${job}"${running ? html` data-follow-run="${running.runId}"` : html` hidden`}><progress max="1" aria-label="Backup progress of ${job}"></progress><span class="run-status" role="status" aria-live="polite">${running ? 'Running…' : ''}</span></div>`;
}

function healthBadge(h: JobHealth | undefined): SafeHtml {
  if (!h) return html``;
  return h.healthy ? badge('ok', 'healthy') : badge('bad', 'unhealthy', h.problems.join(' '));
}

export async function overviewPage(pc: PageContext): Promise<Page> {
  const jobs = pc.arca.jobs();
  const health: HealthReport | undefined = pc.caps.health ? await pc.arca.health({ signal: pc.signal }).catch(() => undefined) : undefined;
  const cards = await Promise.all(
    jobs.map(async (job) => {
      const backups = await pc.arca.list(job, { signal: pc.signal }).catch(() => undefined);
      const last = backups?.[0];
      const h = health?.jobs.find((x) => x.job === job);
      const next = pc.arca.nextRuns(job, 1)[0];
      const info = pc.caps.config ? pc.arca.describeJob(job) : undefined;
      const used = h?.storage.filter((s) => s.bytes !== undefined).map((s) => html`<li>${s.destination}: ${bytes(s.bytes)} (${s.backups ?? 0} backups)</li>`);
      return html`<section class="card" aria-labelledby="job-${job}"><h2 id="job-${job}"><a href="${jobUrl(pc, job)}">${job}</a> ${healthBadge(h)}</h2>
<dl class="facts"><dt>Last backup</dt><dd>${last ? html`${when(last.startedAt)} <span class="muted">(${ago(last.startedAt)})</span>, ${bytes(last.bytes)}` : backups ? html`<span class="muted">none yet</span>` : badge('bad', 'cannot list')}</dd>
<dt>Backups</dt><dd>${backups?.length ?? '–'}</dd>
<dt>Schedule</dt><dd>${info?.schedule ?? html`<span class="muted">manual only</span>`}${next ? html` <span class="muted">· next ${when(next.toISOString())}</span>` : ''}</dd>
${info ? html`<dt>Destinations</dt><dd>${info.destinations.map((d) => html`<span class="badge badge-muted">${d.name} (${d.kind})</span>`)}</dd>` : ''}
${used?.length ? html`<dt>Space used</dt><dd><ul class="plain">${used}</ul></dd>` : ''}
${h && !h.healthy ? html`<dt>Problems</dt><dd>${h.problems.map((p) => html`<div>${p}</div>`)}</dd>` : ''}</dl>
<p>${runButton(pc, job)} <a class="btn" href="${jobUrl(pc, job)}">Backups</a></p>${runProgress(pc, job)}</section>`;
    }),
  );
  const recent = await pc.arca.history({ limit: 8 });
  return {
    title: 'Overview',
    heading: 'Backups',
    body: html`<div class="cards" id="overview-jobs">${cards}</div><h2>Recent activity</h2>${historyTable(pc, recent)}<p><a href="${pc.base}/log">Full run log</a></p>`,
  };
}

export function historyTable(pc: PageContext, entries: RunLogEntry[]): SafeHtml {
  if (!entries.length) return html`<p class="muted">Nothing recorded yet.</p>`;
  return html`<table><thead><tr><th>When</th><th>Job</th><th>What</th><th>Status</th><th>Who</th><th class="num">Size</th><th class="num">Duration</th><th>Details</th></tr></thead><tbody>${entries.map((e) =>
    e.type === 'run'
      ? html`<tr><td>${when(e.startedAt)}</td><td><a href="${jobUrl(pc, e.job)}">${e.job}</a></td><td>backup (${e.trigger.type})</td><td>${statusBadge(e.status)}</td><td>${e.trigger.actor ?? ''}</td><td class="num">${e.status === 'skipped' ? '' : bytes(e.bytes)}</td><td class="num">${duration(e.durationMs)}</td><td>${e.error ? html`<span class="muted">${e.error.code}: ${e.error.message}</span>` : e.backupId ? html`<span class="mono">${e.backupId}</span>` : ''}</td></tr>`
      : html`<tr><td>${when(e.at)}</td><td><a href="${jobUrl(pc, e.job)}">${e.job}</a></td><td>${e.action}</td><td>${e.ok ? badge('ok', 'ok') : badge('bad', 'failed')}</td><td>${e.actor ?? ''}</td><td></td><td></td><td>${e.backupId ? html`<span class="mono">${e.backupId}</span> ` : ''}${e.error ? html`<span class="muted">${e.error.code}: ${e.error.message}</span>` : ''}</td></tr>`,
  )}</tbody></table>`;
}

function copyBadge(c: { destination: string; status: 'ok' | 'missing' | 'verify-failed'; lastVerifyOk?: boolean }): SafeHtml {
  if (c.status === 'ok') return badge('ok', c.destination, c.lastVerifyOk ? `${c.destination}: stored, last verify passed` : `${c.destination}: stored`);
  if (c.status === 'verify-failed') return badge('warn', c.destination, `${c.destination}: stored, but the last verify failed`);
  return badge('bad', c.destination, `${c.destination}: missing (failed or deleted there)`);
}

export async function jobPage(pc: PageContext, job: string): Promise<Page> {
  const { backups } = await listBackupViews(pc.arca, job, pc.signal);
  const info = pc.caps.config ? pc.arca.describeJob(job) : undefined;
  const next = pc.arca.nextRuns(job, 1)[0];
  const toolbar = html`<div class="toolbar">${runButton(pc, job)}${pc.caps.prune && pc.can.prune ? html`<a class="btn" href="${jobUrl(pc, job)}/prune">Prune preview</a>` : ''}<a class="btn" href="${jobUrl(pc, job)}/check">Check destinations</a>${pc.can.config && info ? html`<a class="btn" href="${jobUrl(pc, job)}/config">Configuration</a>` : ''}<a class="btn" href="${pc.base}/log?job=${u(job)}">Run log</a></div>${runProgress(pc, job)}`;
  const rows = backups.map(
    (b) => html`<tr><td><a href="${backupUrl(pc, job, b.id)}">${when(b.startedAt)}</a><div class="muted mono">${b.id}</div></td><td class="num">${bytes(b.bytes)}</td><td class="num">${duration(b.durationMs)}</td><td>${b.trigger.type}${b.trigger.actor ? html` · ${b.trigger.actor}` : ''}</td><td>${b.copies.map(copyBadge)}</td><td class="actions">${
      pc.can.download && pc.caps.download && b.artifacts.length === 1 ? html`<a class="btn" href="${pc.base}/api/jobs/${u(job)}/backups/${u(b.id)}/files/${u(b.artifacts[0]!.file)}" download>Download</a>` : pc.can.download && pc.caps.download ? html`<a class="btn" href="${backupUrl(pc, job, b.id)}#files">Files</a>` : ''
    }${pc.can.verify ? postForm(`${backupUrl(pc, job, b.id)}/verify`, pc.csrf, 'Verify') : ''}${pc.can.run && b.copies.some((c) => c.status === 'missing') ? postForm(`${backupUrl(pc, job, b.id)}/retry`, pc.csrf, 'Copy to missing') : ''}${
      pc.can.delete ? postForm(`${backupUrl(pc, job, b.id)}/delete`, pc.csrf, 'Delete', { cls: 'btn btn-danger', confirm: `Delete backup ${b.id} of ${job} from every destination?` }) : ''
    }</td></tr>`,
  );
  return {
    title: job,
    heading: `Job ${job}`,
    crumbs: [[`${pc.base}/`, 'Overview']],
    body: html`${toolbar}<p class="muted">${info?.schedule ? html`Schedule ${info.schedule}${info.timezone ? html` (${info.timezone})` : ''}${next ? html`, next run ${when(next.toISOString())}` : ''}.` : 'No schedule: runs on demand.'} ${info?.retention ? html`Retention: ${info.retention}.` : ''}</p>
<h2>Size and duration</h2><div class="chart" id="chart">${trendChart(backups)}<div class="legend"><span class="sw sw-size"></span>stored size <span class="sw sw-dur"></span>duration</div></div>
<div id="backups"><h2>Backups (${backups.length})</h2>${backups.length ? html`<table><thead><tr><th>Started</th><th class="num">Size</th><th class="num">Duration</th><th>Trigger</th><th>Destinations</th><th>Actions</th></tr></thead><tbody>${rows}</tbody></table>` : html`<p class="muted">No backups yet.</p>`}</div>`,
  };
}

export async function backupPage(pc: PageContext, job: string, id: string): Promise<Page> {
  const [b, verifies] = await Promise.all([pc.arca.get(job, id, { signal: pc.signal }), lastVerifies(pc.arca, job)]);
  const view = backupView(b, jobDestinationNames(pc.arca, job) ?? b.destinations, verifies);
  const m = b.manifest;
  const dl = (file: string, from?: string) => `${pc.base}/api/jobs/${u(job)}/backups/${u(id)}/files/${u(file)}${from ? `?from=${u(from)}` : ''}`;
  const canRestore = pc.caps.restore && pc.can.restore;
  const canDrill = pc.arca.describeJob(job).sources.some((s) => s.canDrill);
  return {
    title: id,
    heading: `Backup ${id}`,
    crumbs: [[`${pc.base}/`, 'Overview'], [jobUrl(pc, job), job]],
    body: html`<div class="card"><dl class="facts"><dt>Job</dt><dd>${job}</dd><dt>Started</dt><dd>${when(b.startedAt)} <span class="muted">(${ago(b.startedAt)})</span></dd><dt>Finished</dt><dd>${when(b.finishedAt)} · ${duration(view.durationMs)}</dd><dt>Stored size</dt><dd>${bytes(b.bytes)}</dd><dt>Trigger</dt><dd>${b.trigger.type}${b.trigger.actor ? html` by ${b.trigger.actor}` : ''}</dd>${b.tags.length ? html`<dt>Tags</dt><dd>${b.tags.join(', ')}</dd>` : ''}<dt>Destinations</dt><dd>${view.copies.map(copyBadge)}</dd><dt>Host</dt><dd>${m.host.hostname} (${m.host.platform}, Node ${m.host.node})</dd><dt>Arca</dt><dd>${m.arca.version}</dd></dl></div>
<div class="toolbar">${pc.can.verify ? html`${postForm(`${backupUrl(pc, job, id)}/verify`, pc.csrf, 'Verify checksums', { fields: { level: 'checksum' } })}${postForm(`${backupUrl(pc, job, id)}/verify`, pc.csrf, 'Quick verify (sizes)', { fields: { level: 'exists' } })}${canDrill ? postForm(`${backupUrl(pc, job, id)}/verify`, pc.csrf, 'Restore drill', { fields: { level: 'restore' } }) : ''}` : ''}${pc.can.run && view.copies.some((c) => c.status === 'missing') ? postForm(`${backupUrl(pc, job, id)}/retry`, pc.csrf, 'Copy to missing destinations') : ''}${canRestore ? html`<a class="btn btn-primary" href="${backupUrl(pc, job, id)}/restore">Restore…</a>` : ''}${
      pc.can.delete ? html`${postForm(`${backupUrl(pc, job, id)}/delete`, pc.csrf, 'Delete everywhere', { cls: 'btn btn-danger', confirm: `Delete backup ${id} from every destination?` })}${view.copies.filter((c) => c.status !== 'missing').length > 1 ? view.copies.filter((c) => c.status !== 'missing').map((c) => postForm(`${backupUrl(pc, job, id)}/delete`, pc.csrf, `Delete from ${c.destination}`, { cls: 'btn btn-danger', confirm: `Delete the copy of ${id} on ${c.destination}?`, fields: { destinations: c.destination } })) : ''}` : ''
    }</div>
<h2 id="files">Files</h2><table><thead><tr><th>File</th><th>Source</th><th class="num">Stored</th><th class="num">Content</th><th>Encoding</th><th>sha256 (stored)</th><th>${pc.can.download && pc.caps.download ? 'Download' : ''}</th></tr></thead><tbody>${m.artifacts.map(
      (a) => html`<tr><td class="mono">${a.file}</td><td>${a.source} <span class="muted">(${a.kind})</span></td><td class="num">${bytes(a.bytes)}</td><td class="num">${bytes(a.contentBytes)}</td><td>${a.encoding.join(' + ') || 'none'}</td><td class="mono" title="${a.sha256}">${a.sha256.slice(0, 16)}…</td><td>${pc.can.download && pc.caps.download ? html`<a class="btn" href="${dl(a.file)}" download>Download</a>` : ''}</td></tr>`,
    )}${pc.can.download && pc.caps.download ? html`<tr><td class="mono">manifest.json</td><td colspan="5" class="muted">the commit record: every artifact's sha256</td><td><a class="btn" href="${dl('manifest.json')}" download>Download</a></td></tr>` : ''}</tbody></table>`,
  };
}
