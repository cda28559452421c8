import { formatBytes } from '@arca/core';

/** Markup that is already escaped (built by {@link html}). */
export class SafeHtml {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function esc(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

type Part = SafeHtml | string | number | boolean | null | undefined | Part[];

function render(v: Part): string {
  if (v === null || v === undefined || v === false || v === true) return '';
  if (v instanceof SafeHtml) return v.value;
  if (Array.isArray(v)) return v.map(render).join('');
  return esc(v);
}

/** Tagged template: every interpolated value is escaped unless it is SafeHtml (nested `html`). */
export function html(strings: TemplateStringsArray, ...values: Part[]): SafeHtml {
  let out = strings[0]!;
  for (let i = 0; i < values.length; i++) out += render(values[i]!) + strings[i + 1]!;
  return new SafeHtml(out);
}

export const bytes = (n: number | undefined): string => (n === undefined ? '–' : formatBytes(n));

export function duration(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return '–';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.round(s % 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

/** `2026-11-22 02:00 UTC` (the dashboard shows UTC: servers and operators may sit in other zones). */
export function when(iso: string | undefined): string {
  if (!iso) return '–';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

export function ago(iso: string | undefined, now = Date.now()): string {
  if (!iso) return '';
  const ms = now - Date.parse(iso);
  if (!Number.isFinite(ms)) return '';
  if (ms < 60_000) return 'just now';
  if (ms < 3_600_000) return `${Math.floor(ms / 60_000)} min ago`;
  if (ms < 48 * 3_600_000) return `${Math.floor(ms / 3_600_000)} h ago`;
  return `${Math.floor(ms / 86_400_000)} days ago`;
}

export type BadgeKind = 'ok' | 'bad' | 'warn' | 'info' | 'muted';
const SYMBOL: Record<BadgeKind, string> = { ok: '✓', bad: '✗', warn: '⚠', info: '●', muted: '–' };

/** A status badge: symbol plus text, so it never relies on colour alone. */
export function badge(kind: BadgeKind, text: string, title?: string): SafeHtml {
  return html`<span class="badge badge-${kind}"${title ? html` title="${title}"` : ''}><span aria-hidden="true">${SYMBOL[kind]}</span> ${text}</span>`;
}

export function statusBadge(status: string): SafeHtml {
  const kind: BadgeKind = status === 'completed' ? 'ok' : status === 'partial' || status === 'skipped' ? 'warn' : status === 'running' ? 'info' : 'bad';
  return badge(kind, status);
}

/** A POST form with the CSRF token; `confirm` asks before sending (with JS). */
export function postForm(action: string, csrf: string, label: string, o: { confirm?: string; fields?: Record<string, string>; cls?: string; run?: string } = {}): SafeHtml {
  return html`<form method="post" action="${action}" class="inline"${o.confirm ? html` data-confirm="${o.confirm}"` : ''}${o.run ? html` data-run="${o.run}"` : ''}><input type="hidden" name="_csrf" value="${csrf}">${Object.entries(o.fields ?? {}).map(([k, v]) => html`<input type="hidden" name="${k}" value="${v}">`)}<button type="submit" class="${o.cls ?? 'btn'}">${label}</button></form>`;
}

export interface LayoutOptions {
  title: string;
  basePath: string;
  heading: string;
  crumbs?: Array<[string, string]>;
  body: SafeHtml;
}

export function layout(o: LayoutOptions & { appTitle: string }): string {
  const b = o.basePath;
  return `<!doctype html>${html`<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><meta name="referrer" content="same-origin"><link rel="icon" href="data:,"><title>${o.title} · ${o.appTitle}</title><link rel="stylesheet" href="${b}/assets/arca.css"><script src="${b}/assets/arca.js" defer></script></head><body data-base="${b}"><header class="top"><a class="brand" href="${b}/">${o.appTitle}</a><nav aria-label="Main"><a href="${b}/">Overview</a> <a href="${b}/log">Run log</a></nav></header><main id="main"><nav class="crumbs" aria-label="Breadcrumb">${(o.crumbs ?? []).map(([href, text], i) => html`${i ? ' / ' : ''}<a href="${href}">${text}</a>`)}</nav><h1>${o.heading}</h1>${o.body}</main><footer class="foot">Arca · times in UTC</footer></body></html>`}`;
}
