import { randomUUID } from 'node:crypto';
import { ArcaError, ErrorCodes, isArcaError, redact, type ErrorCode } from '@arca/core';

/** Headers on every answer: nothing cached, nothing sniffed, never framed. */
export const SECURITY_HEADERS: Record<string, string> = {
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

/** The dashboard's Content-Security-Policy: only our own script and stylesheet, no inline code, no external origins. */
export const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

export function withHeaders(init: Record<string, string> = {}): Headers {
  const h = new Headers(SECURITY_HEADERS);
  for (const [k, v] of Object.entries(init)) h.set(k, v);
  return h;
}

export function json(data: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(data), { status, headers: withHeaders({ 'content-type': 'application/json; charset=utf-8', ...headers }) });
}

/** HTTP status for an error code; unknown errors are 500. */
export function statusFor(code: ErrorCode | string): number {
  switch (code) {
    case ErrorCodes.KEY_INVALID:
    case ErrorCodes.CONFIG_INVALID:
      return 400;
    case ErrorCodes.NOT_FOUND:
      return 404;
    case ErrorCodes.LOCKED:
    case ErrorCodes.TARGET_NOT_EMPTY:
      return 409;
    case ErrorCodes.NOT_SUPPORTED:
      return 422;
    case ErrorCodes.DEST_UNREACHABLE:
    case ErrorCodes.DEST_AUTH:
    case ErrorCodes.DEST_PERMISSION:
    case ErrorCodes.DEST_HOST_KEY_MISMATCH:
    case ErrorCodes.NO_HEALTHY_DESTINATION:
      return 502;
    case ErrorCodes.ABORTED:
      return 503;
    default:
      return 500;
  }
}

export interface HttpErrorBody {
  error: { code: string; message: string; correlationId?: string };
}

/**
 * Map anything thrown to a status and a body without secrets. ArcaError messages are
 * redacted by construction and meant for users; any other error (a bug) is replaced by a
 * generic message and a correlation id that points to the host's log.
 */
export function describeError(e: unknown, report: (e: unknown, correlationId: string) => void): { status: number; body: HttpErrorBody } {
  if (isArcaError(e)) {
    const status = statusFor(e.code);
    if (status < 500) return { status, body: { error: { code: e.code, message: e.message } } };
    const correlationId = randomUUID();
    report(e, correlationId);
    return { status, body: { error: { code: e.code, message: redact(e.message), correlationId } } };
  }
  const correlationId = randomUUID();
  report(e, correlationId);
  return { status: 500, body: { error: { code: ErrorCodes.INTERNAL, message: `Internal error; the server log has the details under ${correlationId}.`, correlationId } } };
}

export function badRequest(message: string): ArcaError {
  return new ArcaError(ErrorCodes.KEY_INVALID, message);
}

const BODY_LIMIT = 64 * 1024;

/** Read a small request body as text (forms and JSON commands are tiny); refuses more than 64 KiB. */
export async function readText(request: Request): Promise<string> {
  if (!request.body) return '';
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > BODY_LIMIT) {
      await reader.cancel().catch(() => {});
      throw badRequest(`The request body is larger than ${BODY_LIMIT} bytes.`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export function mediaType(request: Request): string {
  return (request.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
}

/** Parse a JSON command body (empty body = `{}`). */
export async function readJson(request: Request): Promise<unknown> {
  const text = await readText(request);
  if (!text.trim()) return {};
  try {
    return JSON.parse(text);
  } catch {
    throw badRequest('The request body is not valid JSON.');
  }
}

/** A stream of bytes as a Web ReadableStream, pulled on demand (backpressure), cancelled with the client. */
export function toReadable(source: AsyncIterable<Uint8Array>, onError: (e: unknown) => void): ReadableStream<Uint8Array> {
  const it = source[Symbol.asyncIterator]();
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          const { done, value } = await it.next();
          if (done) controller.close();
          else controller.enqueue(value);
        } catch (e) {
          onError(e);
          controller.error(e);
        }
      },
      async cancel() {
        await it.return?.();
      },
    },
    { highWaterMark: 0 },
  );
}

/** `attachment; filename="..."` with an RFC 5987 UTF-8 variant; quotes and controls removed. */
export function contentDisposition(name: string): string {
  // eslint-disable-next-line no-control-regex
  const ascii = name.replace(/[^\x20-\x7e]|["\\]/g, '_');
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(name)}`;
}
