import { createHmac, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import type { ArcaEvent, Notifier } from '../contracts.js';
import { redact, registerSecret } from '../errors.js';
import { parseOptions } from '../options.js';
import { BaseNotifierSchema, HttpUrl, type NotifyOn, postBody, summarizeEvent, wantsFor } from './notifier-support.js';

export interface WebhookOptions {
  /** Where to POST (http or https). Treated as a secret: never shown in errors or events. */
  url: string;
  /**
   * Shared secret for the signature. When set, every request carries
   * `X-Arca-Timestamp: <unix seconds>` and
   * `X-Arca-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>`;
   * receivers verify it with {@link verifyWebhookSignature} (or the same few lines in any
   * language) and reject old timestamps to stop replays.
   */
  secret?: string;
  /** Extra headers (e.g. `Authorization` for an SMS gateway). Their values are treated as secrets. */
  headers?: Record<string, string>;
  /** Which events to send (default: failure, partial, unhealthy, recovered). */
  on?: NotifyOn[];
  /** Give up after this long (default 10 000 ms); the run never waits longer. */
  timeoutMs?: number;
  /** Name in error events (default `'webhook'`). */
  name?: string;
}

const WebhookSchema = z
  .object({ url: HttpUrl, secret: z.string().min(8, 'use a secret of at least 8 characters').optional(), headers: z.record(z.string(), z.string()).optional(), ...BaseNotifierSchema })
  .strict();

/** The JSON body every webhook request carries. */
export interface WebhookPayload {
  /** Payload format version. */
  version: 1;
  /** The Arca event type: `run:done`, `health:unhealthy`, `health:recovered`, `run:skipped`, `audit` (a failed verify). */
  event: string;
  /** `failure`, `partial`, `success`, `skipped`, `unhealthy`, `recovered` or `verify-failed`. */
  kind: string;
  job?: string;
  /** A readable summary, for gateways that only forward text (SMS). */
  title: string;
  text: string;
  /** The event's data as Arca emits it (RunResult or JobHealth), redacted. */
  data: unknown;
  sentAt: string;
}

/** Build the signature header value for a body (what the sender does). */
export function signWebhook(secret: string, timestamp: number | string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/**
 * Verify a request from {@link webhook} on the receiving side: recompute the HMAC over
 * `"<X-Arca-Timestamp>.<raw body>"`, compare in constant time, and refuse timestamps more
 * than `toleranceSec` (default 300) away from now. Pass the RAW body, before JSON parsing.
 */
export function verifyWebhookSignature(o: { secret: string; body: string; timestamp: string | null | undefined; signature: string | null | undefined; toleranceSec?: number; now?: Date }): boolean {
  if (!o.timestamp || !o.signature || !/^\d+$/.test(o.timestamp)) return false;
  const now = Math.floor((o.now ?? new Date()).getTime() / 1000);
  if (Math.abs(now - Number(o.timestamp)) > (o.toleranceSec ?? 300)) return false;
  const want = Buffer.from(signWebhook(o.secret, o.timestamp, o.body));
  const got = Buffer.from(o.signature);
  return want.length === got.length && timingSafeEqual(want, got);
}

/**
 * A generic JSON webhook (your own endpoint, an SMS gateway, a chat bridge), optionally
 * signed with HMAC-SHA256. Failures reject with `NOTIFIER_FAILED` (unreachable, non-2xx,
 * timeout) and are reported by Arca as `error` events; they never fail a backup.
 * Throws `CONFIG_INVALID` for a bad URL or a short secret.
 */
export function webhook(options: WebhookOptions): Notifier {
  const o = parseOptions(WebhookSchema, options, 'webhook()');
  registerSecret(o.url);
  registerSecret(o.secret);
  for (const v of Object.values(o.headers ?? {})) registerSecret(v.replace(/^(bearer|basic|token)\s+/i, ''));
  const name = o.name ?? 'webhook';
  const wants = wantsFor(o.on);
  return {
    name,
    wants,
    async notify(event: ArcaEvent, n = {}) {
      const s = summarizeEvent(event);
      const payload: WebhookPayload = {
        version: 1,
        event: event.type,
        kind: s.kind,
        ...(s.job ? { job: s.job } : {}),
        title: s.title,
        text: s.text,
        data: JSON.parse(redact(JSON.stringify(event.data))),
        sentAt: new Date().toISOString(),
      };
      const body = JSON.stringify(payload);
      const headers: Record<string, string> = { 'user-agent': 'arca-webhook/1', 'x-arca-event': event.type, ...o.headers };
      if (o.secret) {
        const ts = Math.floor(Date.now() / 1000);
        headers['x-arca-timestamp'] = String(ts);
        headers['x-arca-signature'] = signWebhook(o.secret, ts, body);
      }
      await postBody(`Webhook notifier ${name}`, o.url, body, { timeoutMs: o.timeoutMs ?? 10_000, headers, ...(n.signal ? { signal: n.signal } : {}) });
    },
  };
}
