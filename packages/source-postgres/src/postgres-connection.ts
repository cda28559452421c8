import { createRequire } from 'node:module';
import { userInfo } from 'node:os';
import type { ClientConfig } from 'pg';
import type pgModule from 'pg';
import { ArcaError, ErrorCodes, abortError, registerSecret } from '@arca/core';

/**
 * node-postgres, loaded so that it does not build a `new Response()` at import. pg 8 asks
 * "am I in Cloudflare Workers?" when its module loads: without a global `navigator` (Node 20;
 * Node 21+ has one) it constructs a Response, which loads Node's bundled undici: 16-18 ms of
 * every backup and restore process (import('pg') 45-50 ms -> 29-34 ms here). A `navigator`
 * with a non-Workers user agent exists only during this synchronous require, so no other code
 * can observe it; with a real one present nothing is changed.
 */
function loadPg(): typeof pgModule {
  const load = () => createRequire(import.meta.url)('pg') as typeof pgModule;
  if ('navigator' in globalThis) return load();
  Object.defineProperty(globalThis, 'navigator', { value: { userAgent: 'Node.js' }, configurable: true, writable: true });
  try {
    return load();
  } finally {
    delete (globalThis as { navigator?: unknown }).navigator;
  }
}
const pg = loadPg();

/**
 * Where and how to connect. Resolved once from the factory options: either a
 * `postgres://user:password@host:port/db?sslmode=require` URI or separate fields (fields win
 * over the URI). The password is registered with `registerSecret` so it is redacted from
 * every message, and it reaches the PostgreSQL tools only through the child's environment
 * (`PGPASSWORD`) or a temporary 0600 passfile: never argv.
 */
export interface PgConnection {
  host: string;
  port: number;
  user: string;
  password?: string;
  database: string;
  /** libpq sslmode: disable | allow | prefer | require | verify-ca | verify-full. */
  sslmode?: string;
  sslrootcert?: string;
  sslcert?: string;
  sslkey?: string;
  /** libpq `options` (e.g. `-c statement_timeout=0`). */
  options?: string;
  connectTimeoutMs: number;
  applicationName: string;
}

export interface ConnectionFields {
  connection?: string | undefined;
  host?: string | undefined;
  port?: number | undefined;
  user?: string | undefined;
  password?: string | undefined;
  database?: string | undefined;
  sslmode?: string | undefined;
  connectTimeoutMs?: number | undefined;
  applicationName?: string | undefined;
}

/** URI query parameters we understand (mapped to the matching libpq environment variables). */
const QUERY_KEYS = new Set(['sslmode', 'sslrootcert', 'sslcert', 'sslkey', 'options', 'application_name', 'connect_timeout', 'host', 'port', 'user', 'password', 'dbname']);

function safeUri(uri: string): string {
  return uri.replace(/\/\/([^:/?#@]*):[^@/?#]*@/, '//$1:***@');
}

/** Resolve URI + fields into one connection. Throws `CONFIG_INVALID` with a redacted message. */
export function resolveConnection(f: ConnectionFields): PgConnection {
  let fromUri: Partial<PgConnection> = {};
  if (f.connection !== undefined) {
    let url: URL;
    try {
      url = new URL(f.connection);
    } catch {
      throw new ArcaError(ErrorCodes.CONFIG_INVALID, `postgres: connection must be a URI like postgres://user@host:5432/db (got ${safeUri(f.connection)}).`);
    }
    if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
      throw new ArcaError(ErrorCodes.CONFIG_INVALID, `postgres: connection must start with postgres:// or postgresql:// (got ${url.protocol}//).`);
    }
    const q = url.searchParams;
    for (const k of q.keys()) {
      if (!QUERY_KEYS.has(k)) {
        throw new ArcaError(ErrorCodes.CONFIG_INVALID, `postgres: unsupported connection parameter "${k}"; supported: ${[...QUERY_KEYS].join(', ')}.`);
      }
    }
    const dec = (s: string) => (s ? decodeURIComponent(s) : undefined);
    const host = q.get('host') ?? dec(url.hostname.replace(/^\[|\]$/g, ''));
    const port = q.get('port') ?? (url.port || undefined);
    const timeout = q.get('connect_timeout');
    fromUri = {
      ...(host ? { host } : {}),
      ...(port ? { port: Number(port) } : {}),
      ...(q.get('user') ?? dec(url.username) ? { user: (q.get('user') ?? dec(url.username))! } : {}),
      ...(q.get('password') ?? dec(url.password) ? { password: (q.get('password') ?? dec(url.password))! } : {}),
      ...(q.get('dbname') ?? dec(url.pathname.replace(/^\//, '')) ? { database: (q.get('dbname') ?? dec(url.pathname.replace(/^\//, '')))! } : {}),
      ...(q.get('sslmode') ? { sslmode: q.get('sslmode')! } : {}),
      ...(q.get('sslrootcert') ? { sslrootcert: q.get('sslrootcert')! } : {}),
      ...(q.get('sslcert') ? { sslcert: q.get('sslcert')! } : {}),
      ...(q.get('sslkey') ? { sslkey: q.get('sslkey')! } : {}),
      ...(q.get('options') ? { options: q.get('options')! } : {}),
      ...(q.get('application_name') ? { applicationName: q.get('application_name')! } : {}),
      ...(timeout ? { connectTimeoutMs: Number(timeout) * 1000 } : {}),
    };
  }
  const password = f.password ?? fromUri.password;
  registerSecret(password);
  const database = f.database ?? fromUri.database;
  if (!database) {
    throw new ArcaError(ErrorCodes.CONFIG_INVALID, 'postgres: no database given. Set `database` or put it in the connection URI (postgres://host/db).');
  }
  const port = f.port ?? fromUri.port ?? 5432;
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new ArcaError(ErrorCodes.CONFIG_INVALID, `postgres: port must be an integer from 1 to 65535 (got ${String(port)}).`);
  }
  const sslmode = f.sslmode ?? fromUri.sslmode;
  if (sslmode !== undefined && !['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'].includes(sslmode)) {
    throw new ArcaError(ErrorCodes.CONFIG_INVALID, `postgres: sslmode must be one of disable, allow, prefer, require, verify-ca, verify-full (got ${sslmode}).`);
  }
  const c: PgConnection = {
    host: f.host ?? fromUri.host ?? 'localhost',
    port,
    user: f.user ?? fromUri.user ?? userInfo().username,
    database,
    connectTimeoutMs: f.connectTimeoutMs ?? fromUri.connectTimeoutMs ?? 10_000,
    applicationName: f.applicationName ?? fromUri.applicationName ?? 'arca',
  };
  if (password !== undefined) c.password = password;
  if (sslmode !== undefined) c.sslmode = sslmode;
  for (const k of ['sslrootcert', 'sslcert', 'sslkey', 'options'] as const) if (fromUri[k] !== undefined) c[k] = fromUri[k];
  return c;
}

/** The same server, another database (scratch databases, the maintenance database). */
export function withDatabase(c: PgConnection, database: string): PgConnection {
  return { ...c, database };
}

/** Non-secret view for describe(), meta() and messages. */
export function describeConnection(c: PgConnection): Record<string, unknown> {
  return {
    host: c.host,
    port: c.port,
    user: c.user,
    database: c.database,
    ...(c.sslmode ? { sslmode: c.sslmode } : {}),
    password: c.password === undefined ? 'none' : 'set (hidden)',
  };
}

export function where(c: PgConnection): string {
  return `PostgreSQL ${c.user}@${c.host}:${c.port}/${c.database}`;
}

/**
 * libpq environment for pg_dump / pg_restore / psql. Every inherited `PG*` variable is
 * dropped first so the child connects exactly where the options say (a stray PGSERVICE or
 * PGPASSWORD in the host's environment would otherwise win silently). The password goes in
 * `PGPASSWORD` unless a passfile path is given.
 */
export function libpqEnv(c: PgConnection, passfile?: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('PG')) env[k] = v;
  // Without a configured password, a host-level passfile stays usable.
  if (c.password === undefined && process.env.PGPASSFILE) env.PGPASSFILE = process.env.PGPASSFILE;
  env.PGHOST = c.host;
  env.PGPORT = String(c.port);
  env.PGUSER = c.user;
  env.PGDATABASE = c.database;
  env.PGAPPNAME = c.applicationName;
  // libpq treats anything below 2 s as 2 s.
  env.PGCONNECT_TIMEOUT = String(Math.max(2, Math.ceil(c.connectTimeoutMs / 1000)));
  if (c.sslmode) env.PGSSLMODE = c.sslmode;
  if (c.sslrootcert) env.PGSSLROOTCERT = c.sslrootcert;
  if (c.sslcert) env.PGSSLCERT = c.sslcert;
  if (c.sslkey) env.PGSSLKEY = c.sslkey;
  if (c.options) env.PGOPTIONS = c.options;
  if (passfile) env.PGPASSFILE = passfile;
  else if (c.password !== undefined) env.PGPASSWORD = c.password;
  return env;
}

/** A libpq conninfo for `--dbname` naming only the database (everything else comes from the env). */
export function dbnameArg(database: string): string {
  return `--dbname=dbname='${database.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

function sslConfig(c: PgConnection): ClientConfig['ssl'] {
  switch (c.sslmode) {
    case undefined:
    case 'disable':
    case 'allow':
    case 'prefer':
      return false;
    case 'require':
      return { rejectUnauthorized: false };
    default:
      return { rejectUnauthorized: true };
  }
}

/** Map a connection/query failure of node-postgres (or libpq stderr) to an ArcaError that says what to do. */
export function connectionError(c: PgConnection, e: unknown, doing = 'connecting'): ArcaError {
  if (e instanceof ArcaError) return e;
  const err = e as { code?: string; message?: string };
  const msg = err?.message ?? String(e);
  const w = where(c);
  if (err?.code === '3D000' || /database ".*" does not exist/.test(msg)) {
    return new ArcaError(ErrorCodes.NOT_FOUND, `${w}: database "${c.database}" does not exist. Create it or fix \`database\` in the source options.`, { cause: e });
  }
  if (err?.code === '28P01' || err?.code === '28000' || /password authentication failed|no password supplied|authentication failed/i.test(msg)) {
    return new ArcaError(ErrorCodes.SOURCE_FAILED, `${w}: authentication failed for user "${c.user}". Check the password (and pg_hba.conf).`, { cause: e });
  }
  if (/timeout|timed out/i.test(msg)) {
    return new ArcaError(ErrorCodes.SOURCE_FAILED, `${w}: no answer within ${c.connectTimeoutMs} ms while ${doing}. Check host, port, firewall and that PostgreSQL is running.`, { cause: e });
  }
  if (['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ECONNRESET'].includes(err?.code ?? '') || /could not connect|Connection refused|could not translate host/i.test(msg)) {
    return new ArcaError(ErrorCodes.SOURCE_FAILED, `${w}: cannot connect (${err?.code ?? msg.split('\n')[0]}). Check host and port and that PostgreSQL is running.`, { cause: e });
  }
  return new ArcaError(ErrorCodes.SOURCE_FAILED, `${w}: ${doing} failed: ${msg}`, { cause: e });
}

/**
 * Open a node-postgres client, honouring the connect timeout and the abort signal
 * (an abort destroys the socket and rejects with ABORTED).
 */
export async function connect(c: PgConnection, signal?: AbortSignal): Promise<pgModule.Client> {
  if (signal?.aborted) throw abortError(signal);
  const client = new pg.Client({
    host: c.host,
    port: c.port,
    user: c.user,
    database: c.database,
    ...(c.password !== undefined ? { password: c.password } : {}),
    ssl: sslConfig(c),
    connectionTimeoutMillis: c.connectTimeoutMs,
    application_name: c.applicationName,
    ...(c.options ? { options: c.options } : {}),
  });
  // A connection dropped while idle (server restart, pg_terminate_backend) must not crash the host.
  client.on('error', () => {});
  const onAbort = () => void client.end().catch(() => {});
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    await client.connect();
    if (signal?.aborted) throw abortError(signal);
    return client;
  } catch (e) {
    await client.end().catch(() => {});
    if (signal?.aborted) throw abortError(signal);
    throw connectionError(c, e);
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}

/** Run `fn` with a short-lived client, always closed. */
export async function withClient<T>(c: PgConnection, signal: AbortSignal | undefined, fn: (client: pgModule.Client) => Promise<T>): Promise<T> {
  const client = await connect(c, signal);
  const onAbort = () => void client.end().catch(() => {});
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    return await fn(client);
  } catch (e) {
    if (signal?.aborted) throw abortError(signal);
    throw connectionError(c, e, 'querying');
  } finally {
    signal?.removeEventListener('abort', onAbort);
    await client.end().catch(() => {});
  }
}

/** Quote an identifier for SQL (`"my ""db"""`). */
export function ident(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
