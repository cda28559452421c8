import { z } from 'zod';
import type { ArcaEvent, AuditEntry, JobHealth, RunResult, SignalOptions } from '../contracts.js';
import { ArcaError, ErrorCodes, abortError, redact } from '../errors.js';
import { formatAge, formatBytes } from '../retention/duration-parse.js';

/**
 * What a notifier can be told about: `failure` / `partial` / `success` (run results),
 * `skipped` (a scheduled run skipped, e.g. the previous one still running), `unhealthy` /
 * `recovered` (health changes), `verify-failed` (a stored copy failed its checksum, or a
 * restore drill failed).
 */
export type NotifyOn = 'failure' | 'partial' | 'success' | 'skipped' | 'unhealthy' | 'recovered' | 'verify-failed';

/** Default filter: everything but `success` and `skipped`. */
export const DEFAULT_NOTIFY_ON: readonly NotifyOn[] = ['failure', 'partial', 'unhealthy', 'recovered', 'verify-failed'];

export const NotifyOnSchema = z.array(z.enum(['failure', 'partial', 'success', 'skipped', 'unhealthy', 'recovered', 'verify-failed'])).min(1, 'give at least one event kind, or leave `on` out for the default');

/** The kind of an event for `on` filters, or `undefined` for events notifiers never receive. */
export function eventKind(e: ArcaEvent): NotifyOn | undefined {
  switch (e.type) {
    case 'run:done':
      return e.data.status === 'completed' ? 'success' : e.data.status === 'partial' ? 'partial' : 'failure';
    case 'health:unhealthy':
      return 'unhealthy';
    case 'health:recovered':
      return 'recovered';
    case 'audit':
      return e.data.action === 'verify' && !e.data.ok ? 'verify-failed' : undefined;
    default:
      return (e.type as string) === 'run:skipped' ? 'skipped' : undefined;
  }
}

/** A `wants()` for the `on` option. */
export function wantsFor(on: readonly NotifyOn[] | undefined): (e: ArcaEvent) => boolean {
  const set = new Set(on ?? DEFAULT_NOTIFY_ON);
  return (e) => {
    const k = eventKind(e);
    return k !== undefined && set.has(k);
  };
}

export interface EventSummary {
  kind: NotifyOn | 'other';
  /** `ok` (green), `warning` (amber), `critical` (red). */
  severity: 'ok' | 'warning' | 'critical';
  job?: string;
  /** One line: "Backup failed: daily". */
  title: string;
  /** A few sentences (error message, health problems). */
  text: string;
  /** Label/value pairs: job, status, backup, duration, size, destinations… */
  fields: Array<{ label: string; value: string }>;
}

const STATUS_TITLE: Record<string, string> = { completed: 'Backup completed', partial: 'Backup partially failed', failed: 'Backup failed', skipped: 'Backup skipped' };

function runSummary(r: RunResult | (Omit<RunResult, 'status'> & { status: string })): EventSummary {
  const severity = r.status === 'completed' ? 'ok' : r.status === 'failed' ? 'critical' : 'warning';
  const fields: EventSummary['fields'] = [
    { label: 'Job', value: r.job },
    { label: 'Status', value: r.status },
  ];
  if (r.backupId) fields.push({ label: 'Backup', value: r.backupId });
  fields.push({ label: 'Trigger', value: r.trigger.actor ? `${r.trigger.type} by ${r.trigger.actor}` : r.trigger.type });
  fields.push({ label: 'Started', value: r.startedAt });
  fields.push({ label: 'Duration', value: formatAge(r.durationMs).replace(/^0s$/, `${r.durationMs} ms`) });
  if (r.bytes) fields.push({ label: 'Size', value: formatBytes(r.bytes) });
  for (const d of r.destinations ?? []) {
    fields.push({ label: `Destination ${d.name}`, value: d.status === 'completed' ? `completed, ${formatBytes(d.bytes)}${d.durationMs !== undefined ? ` in ${formatAge(d.durationMs).replace(/^0s$/, `${d.durationMs} ms`)}` : ''}` : `${d.status}${d.error ? `: ${d.error.message}` : ''}` });
  }
  const kind = r.status === 'completed' ? 'success' : r.status === 'partial' ? 'partial' : r.status === 'skipped' ? 'skipped' : 'failure';
  const text = r.error ? `${r.error.code}: ${r.error.message}` : r.status === 'completed' ? `All ${r.destinations?.length ?? 0} destination(s) hold the backup.` : r.status === 'partial' ? `Failed on ${(r.destinations ?? []).filter((d) => d.status !== 'completed').map((d) => (d.error ? `${d.name} (${d.error.code}: ${d.error.message})` : d.name)).join('; ') || 'some destinations'}; run retryFailed once they are back.` : '';
  return { kind, severity, job: r.job, title: `${STATUS_TITLE[r.status] ?? `Backup ${r.status}`}: ${r.job}`, text, fields };
}

function healthSummary(h: JobHealth, recovered: boolean): EventSummary {
  const fields: EventSummary['fields'] = [{ label: 'Job', value: h.job }];
  if (h.newest) fields.push({ label: 'Newest backup', value: `${h.newest.id} (${formatAge(h.newest.ageMs)} old)` });
  else fields.push({ label: 'Newest backup', value: 'none' });
  if (h.maxAgeMs !== undefined) fields.push({ label: 'Max age (RPO)', value: formatAge(h.maxAgeMs) });
  if (h.lastRun) fields.push({ label: 'Last run', value: `${h.lastRun.status} at ${h.lastRun.finishedAt}` });
  if (h.lastVerify) fields.push({ label: 'Last verify', value: `${h.lastVerify.ok ? 'ok' : 'FAILED'} at ${h.lastVerify.at}` });
  if (h.failedDestinations.length) fields.push({ label: 'Failed destinations', value: h.failedDestinations.join(', ') });
  return {
    kind: recovered ? 'recovered' : 'unhealthy',
    severity: recovered ? 'ok' : 'critical',
    job: h.job,
    title: recovered ? `Backups healthy again: ${h.job}` : `Backups unhealthy: ${h.job}`,
    text: recovered ? 'Every health check passes again.' : h.problems.map((p) => `- ${p}`).join('\n'),
    fields,
  };
}

function verifySummary(a: AuditEntry): EventSummary {
  const d = (a.details ?? {}) as { level?: string; destinations?: Array<{ name: string; holds: boolean; ok: boolean }>; drills?: Array<{ source: string; ok: boolean; problems: string[] }> };
  const fields: EventSummary['fields'] = [
    { label: 'Job', value: a.job },
    { label: 'Backup', value: a.backupId },
    { label: 'Level', value: d.level ?? 'checksum' },
  ];
  for (const x of d.destinations ?? []) fields.push({ label: `Destination ${x.name}`, value: !x.holds ? 'does not hold it' : x.ok ? 'ok' : 'CORRUPT: does not match its manifest' });
  for (const x of d.drills ?? []) fields.push({ label: `Restore drill ${x.source}`, value: x.ok ? 'ok' : `FAILED: ${x.problems.join(' ')}` });
  const ok = a.ok;
  return {
    kind: ok ? 'other' : 'verify-failed',
    severity: ok ? 'ok' : 'critical',
    job: a.job,
    title: `${ok ? 'Backup verified' : 'Backup verification failed'}: ${a.job}`,
    text: ok ? 'Every copy matches its manifest.' : 'A stored copy is missing or corrupt, or a restore drill failed: restore from a healthy copy, run retryFailed to replace the bad one, and take a fresh backup.',
    fields,
  };
}

/** A human summary of an event, shared by every formatter (chat, e-mail). Redacted. */
export function summarizeEvent(e: ArcaEvent): EventSummary {
  let s: EventSummary;
  if (e.type === 'run:done') s = runSummary(e.data);
  else if ((e.type as string) === 'run:skipped') s = runSummary(e.data as unknown as RunResult);
  else if (e.type === 'health:unhealthy') s = healthSummary(e.data, false);
  else if (e.type === 'health:recovered') s = healthSummary(e.data, true);
  else if (e.type === 'audit' && e.data.action === 'verify') s = verifySummary(e.data);
  else s = { kind: 'other', severity: 'warning', title: `Arca event: ${e.type}`, text: JSON.stringify(e.data).slice(0, 1000), fields: [] };
  return { ...s, title: redact(s.title), text: redact(s.text), fields: s.fields.map((f) => ({ label: f.label, value: redact(f.value) })) };
}

/** Cut `s` to `max` characters, marking the cut. */
export function clip(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, Math.max(0, max - 1))}…`;
}

export interface PostOptions extends SignalOptions {
  timeoutMs: number;
  headers?: Record<string, string>;
}

/**
 * POST a body with fetch, bounded by `timeoutMs` and the caller's signal. Rejects with
 * `NOTIFIER_FAILED` on a network error, a timeout or a non-2xx answer (the answer's first
 * 300 characters, redacted), and `ABORTED` when the caller aborted. `where` names the
 * endpoint in messages: never the full URL, which is a secret for most chat webhooks.
 */
export async function postBody(what: string, url: string, body: string, o: PostOptions): Promise<Response> {
  const where = safeOrigin(url);
  const signals = [AbortSignal.timeout(o.timeoutMs), ...(o.signal ? [o.signal] : [])];
  const signal = AbortSignal.any(signals);
  let res: Response;
  try {
    res = await fetch(url, { method: 'POST', body, headers: { 'content-type': 'application/json', ...o.headers }, signal, redirect: 'error' });
  } catch (e) {
    if (o.signal?.aborted) throw abortError(o.signal, `${what}`);
    if (signal.aborted) throw new ArcaError(ErrorCodes.NOTIFIER_FAILED, `${what}: ${where} did not answer within ${o.timeoutMs} ms. Check that the endpoint is reachable from this host.`);
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    throw new ArcaError(ErrorCodes.NOTIFIER_FAILED, `${what}: cannot reach ${where} (${cause?.code ?? cause?.message ?? (e as Error).message}). Check the URL and the network.`);
  }
  if (!res.ok) {
    let answer = '';
    try {
      answer = clip((await res.text()).replace(/\s+/g, ' ').trim(), 300);
    } catch {
      // the status is enough
    }
    throw new ArcaError(ErrorCodes.NOTIFIER_FAILED, `${what}: ${where} answered HTTP ${res.status}${answer ? ` (${answer})` : ''}. Check the webhook URL or token.`, { details: { status: res.status } });
  }
  return res;
}

/** `https://hooks.slack.com` from a webhook URL: the part of the URL that is safe to show. */
export function safeOrigin(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return 'the endpoint';
  }
}

export const BaseNotifierSchema = {
  on: NotifyOnSchema.optional(),
  timeoutMs: z.number().int().positive().optional(),
  name: z.string().min(1).optional(),
};

export const HttpUrl = z.string().refine((u) => {
  try {
    return ['http:', 'https:'].includes(new URL(u).protocol);
  } catch {
    return false;
  }
}, 'must be an http(s) URL');
