/**
 * `arca serve`: the admin UI and JSON API of `@arca/http` on a local port, for operators
 * without a host app. A token is required (fails closed): from `ARCA_SERVE_TOKEN` or
 * `--token-file`, never from argv (visible in `ps`). Browsers log in with HTTP Basic auth (any
 * user name, the token as password); scripts send `Authorization: Bearer <token>`. Binds
 * 127.0.0.1 by default: plain HTTP, so put a TLS proxy in front before exposing it.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { registerSecret } from '@arca/core';
import { UsageError } from './cli-errors.js';
import { has, notSupported, type CommandContext, type Outcome } from './command-support.js';
import { ExitCodes } from './exit-codes.js';

interface HttpModule {
  createArcaHandler(arca: unknown, o: Record<string, unknown>): ((request: Request) => Promise<Response>) & { dispose(): void };
  toNodeHandler(handler: unknown): (req: http.IncomingMessage, res: http.ServerResponse, next?: () => void) => void;
}

const digest = (s: string) => createHash('sha256').update(s).digest();

/** True when the request carries the token (Bearer, or Basic with the token as password); constant time. */
export function hasToken(request: Request, token: string): boolean {
  const auth = request.headers.get('authorization') ?? '';
  let given: string | undefined;
  if (/^bearer /i.test(auth)) given = auth.slice(7).trim();
  else if (/^basic /i.test(auth)) {
    const decoded = Buffer.from(auth.slice(6).trim(), 'base64').toString('utf8');
    given = decoded.slice(decoded.indexOf(':') + 1);
  }
  return given !== undefined && timingSafeEqual(digest(given), digest(token));
}

export async function serveCommand(ctx: CommandContext, o: { host: string; port: string; tokenFile?: string; allowRestore?: boolean; schedule?: boolean }): Promise<Outcome> {
  let token = process.env.ARCA_SERVE_TOKEN;
  if (o.tokenFile) {
    try {
      token = readFileSync(path.resolve(ctx.cwd, o.tokenFile), 'utf8').trim();
    } catch (e) {
      throw new UsageError(`Cannot read --token-file ${o.tokenFile} (${(e as NodeJS.ErrnoException).code ?? 'error'}).`);
    }
  }
  if (!token) throw new UsageError('serve needs a token: set ARCA_SERVE_TOKEN or pass --token-file <file> (create one with `openssl rand -hex 24`).');
  if (token.length < 16) throw new UsageError('The serve token is too short: use at least 16 characters (`openssl rand -hex 24`).');
  registerSecret(token);
  const port = Number(o.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port must be a port number (got ${JSON.stringify(o.port)}).`);

  const loaded = await ctx.load();
  const { arca } = loaded;
  let mod: HttpModule;
  try {
    mod = (await import(await loaded.adapters.url('@arca/http'))) as HttpModule;
  } catch {
    return notSupported('admin UI: `npm install @arca/http` next to the config');
  }
  const secret = token;
  const handler = mod.createArcaHandler(arca, {
    basePath: '',
    allowRestore: !!o.allowRestore,
    title: 'Arca',
    authorize: (request: Request) =>
      hasToken(request, secret)
        ? { actor: ctx.actor }
        : new Response('Log in with any user name and the token as password.\n', { status: 401, headers: { 'www-authenticate': 'Basic realm="Arca", charset="UTF-8"', 'content-type': 'text/plain; charset=utf-8' } }),
  });
  const node = mod.toNodeHandler(handler);
  const server = http.createServer((req, res) => node(req, res, () => res.writeHead(404).end()));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, o.host, () => resolve());
  });
  const addr = server.address() as { port: number };
  const url = `http://${o.host.includes(':') ? `[${o.host}]` : o.host}:${addr.port}/`;
  const out = ctx.out;
  if (out.json) out.jsonLine({ schema: 'arca.cli/1', event: 'listening', at: new Date().toISOString(), data: { url, allowRestore: !!o.allowRestore, schedule: !!o.schedule } });
  else out.note(`Arca admin on ${url} (user: any, password: the token)${o.allowRestore ? '; restore enabled' : ''}. Ctrl-C stops it.`);
  if (!['127.0.0.1', 'localhost', '::1'].includes(o.host)) out.note(`Warning: listening on ${o.host} over plain HTTP; the token crosses the network in clear unless a TLS proxy is in front.`);
  if (o.schedule) {
    if (!has(arca, 'start')) notSupported('scheduler');
    await arca.start();
  }
  await new Promise<void>((resolve) => (ctx.signal.aborted ? resolve() : ctx.signal.addEventListener('abort', () => resolve(), { once: true })));
  handler.dispose();
  server.closeAllConnections?.();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (o.schedule && has(arca, 'stop')) await arca.stop({ timeoutMs: 600_000 });
  if (out.json) out.jsonLine({ schema: 'arca.cli/1', event: 'stopped', at: new Date().toISOString(), data: {} });
  return { exitCode: ExitCodes.OK, streamed: out.json };
}
