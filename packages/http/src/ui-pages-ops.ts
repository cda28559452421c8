import type { CheckReport, PruneReport, RestoreReport, RetryReport, RunLogQuery, VerifyReport } from '@arca/core';
import { badge, bytes, duration, html, postForm, when, type SafeHtml } from './ui-html.js';
import { backupUrl, historyTable, jobUrl, type Page, type PageContext } from './ui-pages.js';

const u = encodeURIComponent;

export async function prunePage(pc: PageContext, job: string): Promise<Page> {
  const r = await pc.arca.prune(job, { dryRun: true, signal: pc.signal });
  const deleting = r.decisions.filter((d) => d.action !== 'keep').length + r.leftovers.filter((l) => l.action === 'delete').length;
  return {
    title: `Prune ${job}`,
    heading: `Prune preview: ${job}`,
    crumbs: [[`${pc.base}/`, 'Overview'], [jobUrl(pc, job), job]],
    body: html`<p>Policies: ${Object.entries(r.policies).map(([d, p]) => html`<span class="badge badge-muted">${d}: ${p ?? 'no policy (keeps everything)'}</span>`)}</p>
${pruneTable(r)}
${deleting && pc.can.prune ? html`<p>${postForm(`${jobUrl(pc, job)}/prune`, pc.csrf, `Apply: delete ${deleting} and free ${bytes(r.freedBytes)}`, { cls: 'btn btn-danger', confirm: `Delete ${deleting} backups/leftovers of ${job}?` })}</p>` : html`<p class="muted">Nothing to delete.</p>`}`,
  };
}

export function pruneTable(r: PruneReport): SafeHtml {
  return html`<table><thead><tr><th>Backup</th><th class="num">Size</th><th>Decision</th><th>Per destination</th></tr></thead><tbody>${r.decisions.map(
    (d) => html`<tr><td>${when(d.startedAt)}<div class="muted mono">${d.id}</div></td><td class="num">${bytes(d.bytes)}</td><td>${d.action === 'keep' ? badge('ok', 'keep') : d.action === 'partial' ? badge('warn', 'partly delete') : badge('bad', 'delete')}</td><td>${d.destinations.map(
      (x) => html`<div>${x.action === 'keep' ? badge('ok', x.destination) : badge('bad', x.destination)} <span class="muted">${x.reasons.join('; ')}</span>${x.deleted === false ? html` ${badge('bad', 'not deleted', x.error?.message)}` : ''}</div>`,
    )}</td></tr>`,
  )}${r.leftovers.map((l) => html`<tr><td class="mono">${l.backupId}</td><td class="num">${bytes(l.bytes)}</td><td>${l.action === 'delete' ? badge('bad', 'delete leftover') : badge('muted', 'keep leftover')}</td><td>${l.destination}: <span class="muted">${l.reason}</span></td></tr>`)}</tbody></table>
<p class="muted">${r.dryRun ? 'Would free' : 'Freed'} ${bytes(r.freedBytes)}.</p>`;
}

export async function logPage(pc: PageContext, q: RunLogQuery & { offset: number; limit: number }, search: URLSearchParams): Promise<Page> {
  const entries = await pc.arca.history({ ...q, limit: q.limit + 1 });
  const more = entries.length > q.limit;
  const link = (offset: number) => {
    const s = new URLSearchParams(search);
    s.set('offset', String(offset));
    return `${pc.base}/log?${s}`;
  };
  const csv = new URLSearchParams(search);
  csv.delete('offset');
  csv.delete('limit');
  return {
    title: 'Run log',
    heading: q.job ? `Run log: ${q.job}` : 'Run log',
    crumbs: [[`${pc.base}/`, 'Overview']],
    body: html`<form method="get" action="${pc.base}/log" class="toolbar"><label>Job <select name="job"><option value="">all</option>${pc.arca.jobs().map((j) => html`<option${j === q.job ? html` selected` : ''}>${j}</option>`)}</select></label><label>Kind <select name="type"><option value="">all</option><option value="run"${q.type === 'run' ? html` selected` : ''}>runs</option><option value="audit"${q.type === 'audit' ? html` selected` : ''}>audit</option></select></label><label>From <input type="date" name="since" value="${typeof q.since === 'string' ? q.since.slice(0, 10) : ''}"></label><label>Before <input type="date" name="until" value="${typeof q.until === 'string' ? q.until.slice(0, 10) : ''}"></label><button type="submit">Filter</button><a class="btn" href="${pc.base}/api/history.csv${csv.toString() ? `?${csv}` : ''}">Export CSV</a></form>
${historyTable(pc, entries.slice(0, q.limit))}
<div class="pager">${q.offset > 0 ? html`<a class="btn" href="${link(Math.max(0, q.offset - q.limit))}">← Newer</a>` : ''}<span class="muted">Entries ${q.offset + 1}–${q.offset + Math.min(entries.length, q.limit)}</span>${more ? html`<a class="btn" href="${link(q.offset + q.limit)}">Older →</a>` : ''}</div>`,
  };
}

function checkRows(kind: string, items: Array<{ name: string; kind: string; report: CheckReport }>): SafeHtml {
  return html`${items.map(
    (x) => html`<tr><td>${kind}</td><td>${x.name} <span class="muted">(${x.kind})</span></td><td>${x.report.ok ? badge('ok', 'reachable') : badge('bad', 'problem')}</td><td>${x.report.problems.map((p) => html`<div>${p}</div>`)}${Object.entries(x.report.facts).map(([k, v]) => html`<div class="muted">${k}: ${typeof v === 'number' && /bytes/i.test(k) ? bytes(v) : typeof v === 'object' ? JSON.stringify(v) : String(v)}</div>`)}</td></tr>`,
  )}`;
}

export async function checkPage(pc: PageContext, job: string): Promise<Page> {
  const c = await pc.arca.check(job, { signal: pc.signal });
  return {
    title: `Check ${job}`,
    heading: `Destinations and sources: ${job}`,
    crumbs: [[`${pc.base}/`, 'Overview'], [jobUrl(pc, job), job]],
    body: html`<p>${c.ok ? badge('ok', 'all reachable') : badge('bad', 'problems found')}</p><table><thead><tr><th>Kind</th><th>Name</th><th>Status</th><th>Details</th></tr></thead><tbody>${checkRows('destination', c.destinations)}${checkRows('source', c.sources)}</tbody></table>`,
  };
}

export function configPage(pc: PageContext, job: string): Page {
  const info = pc.arca.describeJob(job);
  const facts = (o: Record<string, unknown>) => html`<dl class="facts">${Object.entries(o).map(([k, v]) => html`<dt>${k}</dt><dd class="mono">${typeof v === 'string' ? v : JSON.stringify(v)}</dd>`)}</dl>`;
  return {
    title: `Config ${job}`,
    heading: `Configuration: ${job}`,
    crumbs: [[`${pc.base}/`, 'Overview'], [jobUrl(pc, job), job]],
    body: html`<div class="card"><dl class="facts"><dt>Schedule</dt><dd>${info.schedule ?? 'none'} ${info.timezone ?? ''}</dd><dt>Retention</dt><dd>${info.retention ?? 'none'}</dd><dt>Codecs</dt><dd>${info.codecs.join(' + ') || 'none'}</dd><dt>Health</dt><dd>${info.health ? JSON.stringify(info.health) : 'no rules'}</dd></dl></div>
<h2>Sources</h2>${info.sources.map((s) => html`<div class="card"><h2>${s.name} <span class="muted">(${s.kind})</span> ${s.canRestore ? badge('ok', 'can restore') : badge('muted', 'no restore')}</h2>${facts(s.describe)}</div>`)}
<h2>Destinations</h2>${info.destinations.map((d) => html`<div class="card"><h2>${d.name} <span class="muted">(${d.kind}, priority ${d.priority})</span></h2>${facts({ ...d.describe, retention: d.retention ?? 'none' })}</div>`)}`,
  };
}

export function verifyResult(pc: PageContext, r: VerifyReport): Page {
  return resultPage(pc, r.job, r.backupId, r.ok ? 'ok' : 'bad', r.ok ? `Backup verified (${r.level}): every copy matches its manifest.` : `Verification failed (${r.level}).`, html`<table><thead><tr><th>Destination</th><th>Status</th><th>Files</th><th class="num">Time</th></tr></thead><tbody>${r.destinations.map(
    (d) => html`<tr><td>${d.name}</td><td>${!d.holds ? badge('bad', 'missing') : d.ok ? badge('ok', 'ok') : badge('warn', 'corrupt')}</td><td>${d.artifacts.map((a) => html`<div>${a.ok ? badge('ok', a.file) : badge('bad', a.file)} ${a.error ? html`<span class="muted">${a.error.message}</span>` : ''}</div>`)}</td><td class="num">${duration(d.durationMs)}</td></tr>`,
  )}</tbody></table>${r.drills?.length ? html`<h2>Restore drills</h2><table><thead><tr><th>Source</th><th>From</th><th>Status</th><th>Problems</th><th class="num">Time (RTO)</th></tr></thead><tbody>${r.drills.map(
    (d) => html`<tr><td>${d.source}</td><td>${d.from ?? ''}</td><td>${d.ok ? badge('ok', 'restored and checked') : badge('bad', 'failed')}</td><td>${d.problems.map((x) => html`<div class="muted">${x}</div>`)}</td><td class="num">${duration(d.durationMs)}</td></tr>`,
  )}</tbody></table>` : ''}`);
}

export function retryResult(pc: PageContext, r: RetryReport): Page {
  const ok = r.failed.length === 0;
  return resultPage(pc, r.job, r.backupId, ok ? 'ok' : 'bad', ok ? (r.copied.length ? `Copied to ${r.copied.join(', ')}.` : 'Every destination already had it.') : `Copy failed on ${r.failed.map((f) => `${f.name} (${f.error.message})`).join('; ')}.`);
}

export function restoreResult(pc: PageContext, r: RestoreReport): Page {
  return resultPage(pc, r.job, r.backupId, 'ok', `Restored ${r.artifacts.map((a) => a.source).join(', ')}.${r.safetyBackupId ? ` Safety backup taken first: ${r.safetyBackupId}.` : ''}`, html`<table><thead><tr><th>Source</th><th>File</th><th>From</th><th class="num">Size</th><th class="num">Time</th></tr></thead><tbody>${r.artifacts.map((a) => html`<tr><td>${a.source}</td><td class="mono">${a.file}</td><td>${a.from}</td><td class="num">${bytes(a.bytes)}</td><td class="num">${duration(a.durationMs)}</td></tr>`)}</tbody></table>`);
}

export function resultPage(pc: PageContext, job: string, id: string | undefined, kind: 'ok' | 'bad' | 'warn', message: string, details?: SafeHtml): Page {
  return {
    title: 'Result',
    heading: id ? `Backup ${id}` : `Job ${job}`,
    crumbs: [[`${pc.base}/`, 'Overview'], [jobUrl(pc, job), job], ...(id ? [[backupUrl(pc, job, id), id] as [string, string]] : [])],
    body: html`<div class="notice notice-${kind}" role="status">${message}</div>${details ?? ''}<p><a class="btn" href="${id ? backupUrl(pc, job, id) : jobUrl(pc, job)}">Back</a> <a class="btn" href="${jobUrl(pc, job)}">All backups of ${job}</a></p>`,
  };
}

export async function restoreWizard(pc: PageContext, job: string, id: string, q: URLSearchParams): Promise<Page> {
  const b = await pc.arca.get(job, id, { signal: pc.signal });
  const info = pc.caps.config ? pc.arca.describeJob(job) : undefined;
  const targets = Object.entries(pc.options.restoreTargets ?? {}).filter(([, t]) => !t.jobs || t.jobs.includes(job));
  const target = q.get('target');
  const artifact = q.get('artifact') ?? '';
  const from = q.get('from') ?? '';
  const chosen = target !== null && (target === 'in-place' || targets.some(([k]) => k === target));
  const step = chosen ? 3 : 2;
  const steps = ['Backup', 'Target', 'Summary', 'Confirm', 'Result'];
  const head = html`<ol class="steps">${steps.map((s, i) => html`<li${i + 1 === step || (chosen && i === 3) ? html` class="current"` : ''}>${i + 1}. ${s}</li>`)}</ol>
<div class="card"><dl class="facts"><dt>Backup</dt><dd><a href="${backupUrl(pc, job, id)}">${id}</a> · ${when(b.startedAt)} · ${bytes(b.bytes)}</dd><dt>Holders</dt><dd>${b.destinations.join(', ')}</dd></dl></div>`;
  if (!chosen) {
    return {
      title: `Restore ${id}`,
      heading: `Restore ${job}`,
      crumbs: [[`${pc.base}/`, 'Overview'], [jobUrl(pc, job), job], [backupUrl(pc, job, id), id]],
      body: html`<div class="wizard">${head}<form method="get" action="${backupUrl(pc, job, id)}/restore"><fieldset><legend>Restore into</legend><label><input type="radio" name="target" value="in-place" checked> In place: the job's own sources${info ? html` (${info.sources.map((s) => s.name).join(', ')})` : ''}, after a safety backup of their current state</label>${targets.map(([k, t]) => html`<label><input type="radio" name="target" value="${k}"> ${t.label}</label>`)}</fieldset>
<fieldset><legend>What</legend><label>Artifact <select name="artifact"><option value="">all (${b.artifacts.map((a) => a.source).join(', ')})</option>${b.artifacts.map((a) => html`<option value="${a.source}">${a.source} (${a.file})</option>`)}</select></label><label>Read from <select name="from"><option value="">first healthy destination</option>${b.destinations.map((d) => html`<option>${d}</option>`)}</select></label></fieldset><button type="submit" class="btn btn-primary">Next: summary</button></form></div>`,
    };
  }
  const arts = b.artifacts.filter((a) => !artifact || a.source === artifact);
  const targetLabel = target === 'in-place' ? 'in place (the live data is replaced; a safety backup is taken first)' : targets.find(([k]) => k === target)![1].label;
  return {
    title: `Restore ${id}`,
    heading: `Restore ${job}`,
    crumbs: [[`${pc.base}/`, 'Overview'], [jobUrl(pc, job), job], [backupUrl(pc, job, id), id]],
    body: html`<div class="wizard">${head}<div class="notice notice-warn">This will restore <strong>${arts.map((a) => a.source).join(', ')}</strong> from ${from || 'the first healthy destination'} ${targetLabel}.</div>
<table><thead><tr><th>Artifact</th><th>File</th><th class="num">Size</th><th>Into</th></tr></thead><tbody>${arts.map((a) => html`<tr><td>${a.source}</td><td class="mono">${a.file}</td><td class="num">${bytes(a.contentBytes)}</td><td>${target === 'in-place' ? html`${a.kind} <span class="mono">${Object.entries(info?.sources.find((s) => s.name === a.source)?.describe ?? {}).filter(([k]) => k !== 'kind').map(([k, v]) => `${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`).join(' · ')}</span>` : targetLabel}</td></tr>`)}</tbody></table>
<form method="post" action="${backupUrl(pc, job, id)}/restore" class="card"><input type="hidden" name="_csrf" value="${pc.csrf}"><input type="hidden" name="target" value="${target}"><input type="hidden" name="artifact" value="${artifact}"><input type="hidden" name="from" value="${from}">
<label for="confirm">Type the job name <strong>${job}</strong> to confirm</label><input type="text" id="confirm" name="confirm" autocomplete="off" data-confirm-name="${job}" required>
<p><button type="submit" class="btn btn-danger">Restore now</button> <a class="btn" href="${backupUrl(pc, job, id)}/restore">Back</a></p></form></div>`,
  };
}

export { u as encode };
