import { once } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import type { ArcaHandler } from './arca-handler.js';

/** What the adapters pass when a framework already read the body (Express/Fastify parsers). */
export interface NodeRequestOverrides {
  /** The full original URL path and query (Express `req.originalUrl`), when `req.url` was rewritten by a mount. */
  url?: string;
  /** A body already consumed by a parser, re-encoded (JSON text or urlencoded form), or a stream to read it from. */
  body?: string | Readable;
}

/** Turn a node:http request into a Web Request (the body streams; it aborts when the client goes away). */
export function toWebRequest(req: IncomingMessage, res: ServerResponse, o: NodeRequestOverrides = {}): Request {
  const ac = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) ac.abort();
  });
  const proto = (req.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http';
  const url = new URL(o.url ?? req.url ?? '/', `${proto}://${req.headers.host ?? 'localhost'}`);
  const headers = new Headers();
  for (const [k, v] of Object.entries(req.headers)) {
    if (v === undefined || k.startsWith(':')) continue;
    if (Array.isArray(v)) for (const x of v) headers.append(k, x);
    else headers.set(k, v);
  }
  const method = req.method ?? 'GET';
  const init: RequestInit & { duplex?: 'half' } = { method, headers, signal: ac.signal };
  if (method !== 'GET' && method !== 'HEAD') {
    if (typeof o.body === 'string') {
      init.body = o.body;
      headers.delete('content-length');
      headers.delete('transfer-encoding');
    } else {
      init.body = Readable.toWeb(o.body ?? req) as ReadableStream<Uint8Array>;
      init.duplex = 'half';
    }
  }
  return new Request(url, init);
}

/**
 * Write a Web Response to a node:http response, streaming the body with backpressure (never
 * buffered). If the body fails midway (a corrupt copy detected while downloading), the
 * connection is destroyed so the client sees an incomplete transfer, never a "complete" one.
 */
export async function sendWebResponse(res: ServerResponse, response: Response): Promise<void> {
  const headers: Record<string, string | string[]> = {};
  response.headers.forEach((v, k) => {
    if (k !== 'set-cookie') headers[k] = v;
  });
  const cookies = response.headers.getSetCookie();
  if (cookies.length) headers['set-cookie'] = cookies;
  res.writeHead(response.status, headers);
  if (!response.body) {
    res.end();
    return;
  }
  const reader = response.body.getReader();
  const onClose = () => void reader.cancel().catch(() => {});
  res.once('close', onClose);
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (res.destroyed) return;
      if (!res.write(value)) await Promise.race([once(res, 'drain'), once(res, 'close')]);
      // SSE and other live streams must reach the client now, not when a buffer fills.
      (res as { flush?: () => void }).flush?.();
    }
    res.end();
  } catch (e) {
    res.destroy(e instanceof Error ? e : new Error(String(e)));
  } finally {
    res.off('close', onClose);
  }
}

export type NodeHandler = (req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void) => void;

/**
 * A node:http listener (`http.createServer(toNodeHandler(handler))`), also usable as
 * Connect-style middleware: with a `next`, requests outside `handler.basePath` are passed on.
 */
export function toNodeHandler(handler: ArcaHandler): NodeHandler {
  return (req, res, next) => {
    const path = (req.url ?? '/').split('?')[0]!;
    if (next && path !== handler.basePath && !path.startsWith(`${handler.basePath}/`)) return next();
    handler(toWebRequest(req, res))
      .then((r) => sendWebResponse(res, r))
      .catch((e) => {
        if (next) return next(e);
        if (!res.headersSent) res.writeHead(500).end();
        else res.destroy();
      });
  };
}
