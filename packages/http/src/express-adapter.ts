import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ArcaHandler } from './arca-handler.js';
import { sendWebResponse, toWebRequest } from './node-adapter.js';

/** The parts of an Express 4/5 request this adapter reads (no import of express: it stays optional). */
export type ExpressLikeRequest = IncomingMessage & { originalUrl?: string; body?: unknown; _body?: boolean };

/** Re-encode a body that a global parser (express.json(), express.urlencoded()) already consumed. */
function consumedBody(req: ExpressLikeRequest): string | undefined {
  const parsed = req._body === true || (req.body !== undefined && req.readableEnded);
  if (!parsed || req.body === undefined) return undefined;
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (typeof req.body === 'string') return req.body;
  if (Buffer.isBuffer(req.body)) return req.body.toString('utf8');
  if (type === 'application/x-www-form-urlencoded') {
    const form = new URLSearchParams();
    for (const [k, v] of Object.entries(req.body as Record<string, unknown>)) form.append(k, String(v));
    return form.toString();
  }
  return JSON.stringify(req.body);
}

/**
 * Express 4/5 middleware: `app.use('/admin/backups', requireLogin, arcaExpress(handler))`.
 * Mount it at the handler's `basePath` (it reads `req.originalUrl`, so Express's prefix
 * stripping does not matter). Works whether or not a body parser ran before it. Errors that
 * escape the handler go to Express's `next(err)`.
 */
export function arcaExpress(handler: ArcaHandler) {
  return (req: ExpressLikeRequest, res: ServerResponse, next: (err?: unknown) => void): void => {
    const body = consumedBody(req);
    handler(toWebRequest(req, res, { url: req.originalUrl ?? req.url, ...(body !== undefined ? { body } : {}) }))
      .then((r) => sendWebResponse(res, r))
      .catch(next);
  };
}
