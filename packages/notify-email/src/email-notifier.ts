import nodemailer from 'nodemailer';
import { z } from 'zod';
import { ArcaError, ErrorCodes, abortError, parseOptions, redact, registerSecret, summarizeEvent, wantsFor, NotifyOnSchema, type ArcaEvent, type Notifier, type NotifyOn } from '@arca/core';
import { renderEmail } from './email-format.js';

export interface SmtpOptions {
  /** SMTP server name, e.g. `smtp.gmail.com`. */
  host: string;
  /** 587 (submission with STARTTLS, the default) or 465 (implicit TLS); 25 for a local relay. */
  port?: number;
  /** Implicit TLS from the first byte (port 465). Default: `port === 465`. */
  secure?: boolean;
  /**
   * Refuse to send unless the connection was upgraded with STARTTLS (when not `secure`).
   * Default `true`: credentials are never sent in clear text. Set `false` only for a local
   * relay without TLS.
   */
  requireTLS?: boolean;
  /** Login. For Gmail: the account and an app password (Google account → Security → App passwords). */
  auth?: { user: string; pass: string };
  /** TLS settings: a private CA (PEM) for an internal server, or the name on its certificate. Certificates are always verified. */
  tls?: { ca?: string | Buffer | Array<string | Buffer>; servername?: string };
}

export interface EmailOptions {
  smtp: SmtpOptions;
  /** Sender, e.g. `'Arca backups <backups@example.com>'`. */
  from: string;
  /** Recipients: an array or a comma-separated string (`'ops@example.com, dba@example.com'`). */
  to: string | string[];
  cc?: string | string[];
  bcc?: string | string[];
  /** Put before every subject (default `'[Arca]'`; `''` for none). */
  subjectPrefix?: string;
  /** Which events to mail (default: failure, partial, unhealthy, recovered). */
  on?: NotifyOn[];
  /** Give up on one message after this long (default 30 000 ms). */
  timeoutMs?: number;
  /** Name in error events (default `'email'`). */
  name?: string;
}

const EMAIL_RE = /^(?:[^<>,@\s]+@[^<>,@\s]+\.[^<>,@\s]+|[^<>,]*<[^<>,@\s]+@[^<>,@\s]+\.[^<>,@\s]+>)$/;
const addressList = z
  .union([z.string(), z.array(z.string())])
  .transform((v) => (Array.isArray(v) ? v : v.split(',')).map((s) => s.trim()).filter(Boolean))
  .refine((l) => l.every((a) => EMAIL_RE.test(a)), 'must be e-mail addresses (an array, or a comma-separated string like "ops@example.com, dba@example.com")');

const Schema = z
  .object({
    smtp: z
      .object({
        host: z.string().min(1),
        port: z.number().int().min(1).max(65535).optional(),
        secure: z.boolean().optional(),
        requireTLS: z.boolean().optional(),
        auth: z.object({ user: z.string().min(1), pass: z.string().min(1) }).strict().optional(),
        tls: z.object({ ca: z.any().optional(), servername: z.string().optional() }).strict().optional(),
      })
      .strict(),
    from: z.string().refine((a) => EMAIL_RE.test(a.trim()), 'must be an e-mail address like "Arca <backups@example.com>"'),
    to: addressList.refine((l) => l.length > 0, 'give at least one recipient'),
    cc: addressList.optional(),
    bcc: addressList.optional(),
    subjectPrefix: z.string().max(100).optional(),
    on: NotifyOnSchema.optional(),
    timeoutMs: z.number().int().positive().optional(),
    name: z.string().min(1).optional(),
  })
  .strict();

/**
 * Mail run summaries and health alerts through SMTP (nodemailer): STARTTLS on 587 (required
 * by default) or implicit TLS on 465, several recipients, a plain-text and an HTML body with
 * job, status, duration, size, per-destination results and the error. One connection per
 * message, closed afterwards. Rejects with `NOTIFIER_FAILED` (connection, TLS, login or
 * recipient refused; the password never appears) or `ABORTED`; Arca reports that as an
 * `error` event and never fails a backup. Throws `CONFIG_INVALID` for bad options.
 *
 * Gmail: `{ host: 'smtp.gmail.com', port: 587, auth: { user, pass: appPassword } }`.
 */
export function email(options: EmailOptions): Notifier {
  const o = parseOptions(Schema, options, 'email()');
  registerSecret(o.smtp.auth?.pass);
  const port = o.smtp.port ?? 587;
  const secure = o.smtp.secure ?? port === 465;
  const name = o.name ?? 'email';
  const where = `${o.smtp.host}:${port}`;
  const timeoutMs = o.timeoutMs ?? 30_000;
  const prefix = o.subjectPrefix ?? '[Arca]';
  return {
    name,
    wants: wantsFor(o.on),
    async notify(event: ArcaEvent, n = {}) {
      const s = summarizeEvent(event);
      const { text, html } = renderEmail(s);
      const transport = nodemailer.createTransport({
        host: o.smtp.host,
        port,
        secure,
        requireTLS: !secure && (o.smtp.requireTLS ?? true),
        ...(o.smtp.auth ? { auth: { user: o.smtp.auth.user, pass: o.smtp.auth.pass } } : {}),
        tls: { rejectUnauthorized: true, minVersion: 'TLSv1.2', ...(o.smtp.tls?.ca ? { ca: o.smtp.tls.ca } : {}), ...(o.smtp.tls?.servername ? { servername: o.smtp.tls.servername } : {}) },
        connectionTimeout: timeoutMs,
        greetingTimeout: timeoutMs,
        socketTimeout: timeoutMs,
        disableFileAccess: true,
        disableUrlAccess: true,
      });
      const signal = n.signal;
      let onAbort: (() => void) | undefined;
      try {
        const aborted = new Promise<never>((_, reject) => {
          onAbort = () => {
            transport.close();
            reject(abortError(signal, `${name} notifier`));
          };
          if (signal?.aborted) onAbort();
          else signal?.addEventListener('abort', onAbort, { once: true });
        });
        await Promise.race([
          transport.sendMail({
            from: o.from,
            to: o.to,
            ...(o.cc?.length ? { cc: o.cc } : {}),
            ...(o.bcc?.length ? { bcc: o.bcc } : {}),
            subject: `${prefix ? `${prefix} ` : ''}${s.title}`,
            text,
            html,
            headers: { 'X-Arca-Event': event.type },
          }),
          aborted,
        ]);
      } catch (e) {
        if (e instanceof ArcaError) throw e;
        throw new ArcaError(ErrorCodes.NOTIFIER_FAILED, describeSmtpError(name, where, e as SmtpError), { cause: e });
      } finally {
        if (onAbort) signal?.removeEventListener('abort', onAbort);
        transport.close();
      }
    },
  };
}

interface SmtpError extends Error {
  code?: string;
  response?: string;
  responseCode?: number;
}

/** A message saying what went wrong and what to do, without the password (redacted twice over). */
function describeSmtpError(name: string, where: string, e: SmtpError): string {
  const server = e.response ? ` (server said: ${e.response.slice(0, 200)})` : '';
  let what: string;
  switch (e.code) {
    case 'EAUTH':
      what = `login refused by ${where}${server}. Check the user and password; Gmail needs an app password with 2-step verification on.`;
      break;
    case 'ETLS':
      what = `TLS failed with ${where} (${e.message}). Check the port (587 STARTTLS, 465 TLS) and the server's certificate (smtp.tls.ca for a private CA).`;
      break;
    case 'ECONNECTION':
    case 'ESOCKET':
    case 'ETIMEDOUT':
    case 'EDNS':
      what = `cannot talk to ${where} (${e.message}). Check host, port and firewall.`;
      break;
    case 'EENVELOPE':
      what = `${where} refused the sender or a recipient${server}. Check from/to.`;
      break;
    default:
      what = `sending through ${where} failed (${e.code ?? 'error'}: ${e.message})${server}.`;
  }
  return redact(`E-mail notifier ${name}: ${what}`);
}
