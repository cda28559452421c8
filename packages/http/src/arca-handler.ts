import { ArcaError, ErrorCodes, redact, type Arca } from '@arca/core';
import { ACTIONS, type ArcaAction, type ArcaHandlerOptions, type AuthorizeContext } from './handler-options.js';
import { availableRoutes, capabilities, type RouteContext } from './api-routes.js';
import { formatIssues } from './api-schemas.js';
import { createCsrfGuard, isCsrfError } from './csrf-guard.js';
import { CSP, describeError, json, mediaType, readJson, readText, withHeaders } from './http-support.js';
import { openApiDocument } from './openapi-document.js';
import { createRunTracker } from './run-tracker.js';
import { CSS, JS } from './ui-assets.js';
import { layout } from './ui-html.js';
import type { Page, PageContext } from './ui-pages.js';
import { errorPage, UI_ROUTES, type UiRoute } from './ui-routes.js';

/** A Web-standard request handler (`fetch` style) serving the JSON API and the dashboard under `basePath`. */
export interface ArcaHandler {
  (request: Request): Promise<Response>;
  /** The normalized mount point (`/admin/backups`, or `''`). */
  readonly basePath: string;
  /** Stop following the Arca instance's events (the handler keeps answering). */
  dispose(): void;
}

type Match = { params: Record<string, string> } | undefined;

function matchPath(template: string, segments: string[]): Match {
  const t = template === '/' ? [] : template.slice(1).split('/');
  if (t.length !== segments.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < t.length; i++) {
    const part = t[i]!;
    if (part.startsWith('{')) params[part.slice(1, -1)] = segments[i]!;
    else if (part !== segments[i]) return undefined;
  }
  return { params };
}

type Decision = { allowed: true; actor?: string } | { allowed: false; response?: Response };

/**
 * Build the admin routes for an Arca instance. Every request goes through
 * `options.authorize(request, action, context)` first and is refused (403) unless it returns
 * `true` or an object; ids and names are validated before anything is read (400); state
 * changes need CSRF proof (see csrf-guard.ts); restore answers 403 unless `allowRestore`.
 * Throws `CONFIG_INVALID` at once when `authorize` or `basePath` is missing or malformed.
 */
export function createArcaHandler(arca: Arca, options: ArcaHandlerOptions): ArcaHandler {
  if (!arca || typeof arca.list !== 'function' || typeof arca.jobs !== 'function') {
    throw new ArcaError(ErrorCodes.CONFIG_INVALID, 'createArcaHandler(arca, options): pass the instance returned by createArca().');
  }
  if (!options || typeof options.authorize !== 'function') {
    throw new ArcaError(ErrorCodes.CONFIG_INVALID, 'createArcaHandler: options.authorize(request, action, context) is required. It decides who may do what (return true or { actor }); without it every request would be open.');
  }
  if (typeof options.basePath !== 'string' || !/^(\/[A-Za-z0-9._~-]+)*$/.test(options.basePath.replace(/\/$/, '')) || /\/\.\.?(\/|$)/.test(options.basePath)) {
    throw new ArcaError(ErrorCodes.CONFIG_INVALID, `createArcaHandler: options.basePath must be '' or a path like '/admin/backups' (got ${JSON.stringify(options.basePath)}).`);
  }
  const basePath = options.basePath.replace(/\/$/, '');
  const title = options.title ?? 'Backups';
  const csrf = createCsrfGuard(basePath, options.csrf);
  const tracker = createRunTracker(arca);
  const caps = capabilities(arca, options);
  const apiRoutes = availableRoutes(arca, options);
  const uiRoutes = UI_ROUTES.filter((r) => !r.needs || caps[r.needs]);
  const onError =
    options.onError ??
    ((e: unknown, info: { correlationId: string; method: string; path: string }) => {
      console.error(`[arca/http] ${info.correlationId} ${info.method} ${info.path}: ${redact(e instanceof Error ? (e.stack ?? e.message) : String(e))}`);
    });

  async function decide(request: Request, action: ArcaAction, ctx: AuthorizeContext): Promise<Decision> {
    try {
      const r = await options.authorize(request, action, ctx);
      if (r === true) return { allowed: true };
      if (r instanceof Response) return { allowed: false, response: r };
      if (r && typeof r === 'object') {
        const actor = (r as { actor?: unknown }).actor;
        return { allowed: true, ...(typeof actor === 'string' && actor ? { actor } : {}) };
      }
      return { allowed: false };
    } catch (e) {
      onError(e, { correlationId: 'authorize', method: request.method, path: new URL(request.url).pathname });
      return { allowed: false };
    }
  }

  const forbidden = (ui: boolean, message = 'You are not allowed to do this.') =>
    ui ? html(403, errorPage(403, message)) : json({ error: { code: 'FORBIDDEN', message } }, 403);

  function html(status: number, page: Page, extra: Record<string, string> = {}): Response {
    const body = layout({ ...page, basePath, appTitle: title });
    return new Response(body, { status, headers: withHeaders({ 'content-type': 'text/html; charset=utf-8', 'content-security-policy': CSP, ...extra }) });
  }

  function failure(e: unknown, request: Request, ui: boolean): Response {
    if (isCsrfError(e)) return ui ? html(403, errorPage(403, (e as Error).message)) : json({ error: { code: 'CSRF', message: (e as Error).message } }, 403);
    const path = new URL(request.url).pathname;
    const { status, body } = describeError(e, (err, correlationId) => onError(err, { correlationId, method: request.method, path }));
    return ui ? html(status, errorPage(status, body.error.message, body.error.correlationId)) : json(body, status);
  }

  async function handle(request: Request): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname !== basePath && !url.pathname.startsWith(`${basePath}/`)) {
      return json({ error: { code: ErrorCodes.NOT_FOUND, message: `Not under ${basePath || '/'}.` } }, 404);
    }
    const rest = url.pathname.slice(basePath.length) || '/';
    const ui = !rest.startsWith('/api/');
    let segments: string[];
    try {
      segments = rest === '/' ? [] : rest.slice(1).split('/').map((s) => decodeURIComponent(s));
    } catch {
      return failure(new ArcaError(ErrorCodes.KEY_INVALID, 'The path is not valid percent-encoding.'), request, ui);
    }
    if (rest === '/' && url.pathname === basePath && basePath !== '') return new Response(null, { status: 308, headers: { location: `${basePath}/${url.search}` } });
    try {
      if (!ui) return await handleApi(request, segments, url);
      return await handleUi(request, segments);
    } catch (e) {
      return failure(e, request, ui);
    }
  }

  function validateParams(schema: { safeParse(v: unknown): { success: true; data: unknown } | { success: false; error: import('zod').ZodError } } | undefined, params: Record<string, string>): Record<string, string> {
    if (!schema) return params;
    const r = schema.safeParse(params);
    if (!r.success) throw new ArcaError(ErrorCodes.KEY_INVALID, formatIssues(r.error, 'path'));
    return r.data as Record<string, string>;
  }

  async function handleApi(request: Request, segments: string[], url: URL): Promise<Response> {
    const sub = '/' + segments.join('/');
    if (sub === '/api/openapi.json' && request.method === 'GET') {
      const d = await decide(request, 'read', { operation: 'openapi', ui: false });
      if (!d.allowed) return d.response ?? forbidden(false);
      return json(openApiDocument(apiRoutes, { basePath, version: arca.version, title }));
    }
    const method = request.method === 'HEAD' ? 'GET' : request.method;
    const candidates = apiRoutes.map((r) => ({ r, m: matchPath(r.path, segments) })).filter((x) => x.m);
    if (!candidates.length) return json({ error: { code: ErrorCodes.NOT_FOUND, message: `No API route ${sub}. See ${basePath}/api/openapi.json.` } }, 404);
    const hit = candidates.find((x) => x.r.method === method);
    if (!hit) return json({ error: { code: 'METHOD_NOT_ALLOWED', message: `Use ${candidates.map((x) => x.r.method).join(' or ')}.` } }, 405, { allow: candidates.map((x) => x.r.method).join(', ') });
    const route = hit.r;
    const params = validateParams(route.params, hit.m!.params);
    if (route.action === 'restore' && !options.allowRestore) return forbidden(false, 'Restore is disabled on this server (allowRestore: false).');
    const d = await decide(request, route.action, { operation: route.id, ui: false, ...params });
    if (!d.allowed) return d.response ?? forbidden(false);
    if (route.method !== 'GET') csrf.checkApi(request);
    let query: unknown = {};
    if (route.query) {
      const r = route.query.safeParse(Object.fromEntries([...url.searchParams].filter(([, v]) => v !== '')));
      if (!r.success) throw new ArcaError(ErrorCodes.KEY_INVALID, formatIssues(r.error, 'query'));
      query = r.data;
    }
    let body: unknown = {};
    if (route.body) {
      if (request.body && mediaType(request) !== 'application/json' && (request.headers.get('content-length') ?? '0') !== '0') {
        throw new ArcaError(ErrorCodes.KEY_INVALID, 'Send the request body as application/json.');
      }
      const r = route.body.safeParse(await readJson(request));
      if (!r.success) throw new ArcaError(ErrorCodes.KEY_INVALID, formatIssues(r.error, 'body'));
      body = r.data;
    }
    const ctx: RouteContext = { arca, request, options, tracker, params, query, body, ...(d.actor ? { actor: d.actor } : {}), report: (e) => onError(e, { correlationId: 'stream', method: request.method, path: url.pathname }) };
    return route.handle(ctx);
  }

  async function handleUi(request: Request, segments: string[]): Promise<Response> {
    const sub = '/' + segments.join('/');
    // The stylesheet and script are the same constant text for everyone and hold no data, so
    // they are served without authorize(): the 403 page and a host's login redirect stay styled.
    if (request.method === 'GET' && (sub === '/assets/arca.css' || sub === '/assets/arca.js')) {
      const css = sub.endsWith('.css');
      return new Response(css ? CSS : JS, { headers: withHeaders({ 'content-type': css ? 'text/css; charset=utf-8' : 'text/javascript; charset=utf-8', 'cache-control': 'private, max-age=300' }) });
    }
    const candidates = uiRoutes.map((r) => ({ r, m: matchPath(r.path, segments) })).filter((x) => x.m);
    if (!candidates.length) return html(404, errorPage(404, 'There is no such page.'));
    const hit = candidates.find((x) => x.r.method === request.method);
    if (!hit) return new Response('Method not allowed', { status: 405, headers: withHeaders({ allow: candidates.map((x) => x.r.method).join(', ') }) });
    const route: UiRoute = hit.r;
    const params = validateParams(route.params, hit.m!.params);
    if (route.action === 'restore' && !options.allowRestore) return forbidden(true, 'Restore is disabled on this server (allowRestore: false).');
    const actx: AuthorizeContext = { operation: route.id, ui: true, ...params };
    const d = await decide(request, route.action, actx);
    if (!d.allowed) return d.response ?? forbidden(true);
    let form = new URLSearchParams();
    if (route.method === 'POST') {
      if (mediaType(request) !== 'application/x-www-form-urlencoded') throw new ArcaError(ErrorCodes.KEY_INVALID, 'Dashboard forms are posted as application/x-www-form-urlencoded.');
      form = new URLSearchParams(await readText(request));
      csrf.checkForm(request, form.get('_csrf'));
    }
    let token = csrf.tokenFromCookie(request);
    const extra: Record<string, string> = {};
    if (!token) {
      const issued = csrf.issue(request);
      token = issued.token;
      extra['set-cookie'] = issued.setCookie;
    }
    const can = Object.fromEntries(
      await Promise.all(ACTIONS.map(async (a) => [a, a === route.action ? true : (await decide(request, a, { ...actx, probe: true })).allowed] as const)),
    ) as Record<ArcaAction, boolean>;
    const page: PageContext = { arca, options, tracker, base: basePath, csrf: token, can, caps, signal: request.signal };
    const out = await route.handle({ arca, request, options, tracker, params, query: {}, body: {}, ...(d.actor ? { actor: d.actor } : {}), report: () => {}, page, form });
    if (out instanceof Response) {
      for (const [k, v] of Object.entries(extra)) out.headers.set(k, v);
      return out;
    }
    return html(200, out, extra);
  }

  const handler = handle as ArcaHandler;
  Object.defineProperty(handler, 'basePath', { value: basePath, enumerable: true });
  Object.defineProperty(handler, 'dispose', { value: () => tracker.dispose(), enumerable: true });
  return handler;
}
