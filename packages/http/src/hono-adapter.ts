import type { ArcaHandler } from './arca-handler.js';

/**
 * A Hono 4 handler: `app.all('/admin/backups', h); app.all('/admin/backups/*', h)` with
 * `const h = arcaHono(handler)`. Hono already speaks Web Request/Response, so this only
 * hands `c.req.raw` over; streams pass through untouched (with @hono/node-server too).
 */
export function arcaHono(handler: ArcaHandler) {
  return (c: { req: { raw: Request } }): Promise<Response> => handler(c.req.raw);
}

/** The paths to register a Hono handler on: the base path and everything below it. */
export function honoPaths(handler: ArcaHandler): [string, string] {
  return [handler.basePath || '/', `${handler.basePath}/*`];
}
