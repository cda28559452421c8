import { createConnection, type Connection, type RowDataPacket } from 'mysql2/promise';
import { ArcaError, ErrorCodes, abortError, type ErrorCode } from '@arca/core';
import type { MySqlConfig } from './mysql-options.js';
import { qi } from './mysql-options.js';

export type Conn = Connection;

/** Schemas that are never user data. `mysql` is kept for allDatabases (users, grants). */
export const SYSTEM_SCHEMAS = ['information_schema', 'performance_schema', 'sys'];

/** Map a driver error to an ArcaError that says what to do; never includes the password. */
export function driverError(e: unknown, cfg: MySqlConfig, what: string, code: ErrorCode = ErrorCodes.SOURCE_FAILED): ArcaError {
  if (e instanceof ArcaError) return e;
  const err = e as { code?: string; errno?: number; message?: string };
  const where = cfg.socket ? `socket ${cfg.socket}` : `${cfg.host}:${cfg.port}`;
  switch (err.code) {
    case 'ER_ACCESS_DENIED_ERROR':
    case 'ER_DBACCESS_DENIED_ERROR':
      return new ArcaError(code, `${what}: access denied for user ${cfg.user} at ${where}. Check the user name and password, and that the user may connect from this host.`, { cause: e });
    case 'ER_BAD_DB_ERROR':
      return new ArcaError(ErrorCodes.NOT_FOUND, `${what}: ${err.message ?? 'unknown database'}. Create the database or fix the name in the job.`, { cause: e });
    case 'ETIMEDOUT':
    case 'ECONNREFUSED':
    case 'EHOSTUNREACH':
    case 'ENOTFOUND':
    case 'ENOENT':
    case 'PROTOCOL_CONNECTION_LOST':
      return new ArcaError(code, `${what}: cannot reach the server at ${where} (${err.code}). Check that it runs and that host/port/socket are right.`, { cause: e });
    default:
      return new ArcaError(code, `${what}: ${err.message ?? String(e)}`, { cause: e });
  }
}

/** Open a driver connection (no database selected), honouring the signal and connect timeout. */
export async function connect(cfg: MySqlConfig, what: string, signal?: AbortSignal): Promise<Conn> {
  if (signal?.aborted) throw abortError(signal, what);
  let conn: Conn;
  try {
    conn = await createConnection({
      ...(cfg.socket ? { socketPath: cfg.socket } : { host: cfg.host, port: cfg.port }),
      user: cfg.user,
      password: cfg.password ?? '',
      connectTimeout: cfg.connectTimeoutMs,
      charset: 'utf8mb4_general_ci',
      supportBigNumbers: true,
      bigNumberStrings: true,
      dateStrings: true,
    });
  } catch (e) {
    throw driverError(e, cfg, what);
  }
  if (signal?.aborted) {
    conn.destroy();
    throw abortError(signal, what);
  }
  return conn;
}

export async function rows<T = Record<string, unknown>>(conn: Conn, sql: string, params: unknown[] = []): Promise<T[]> {
  const [r] = await conn.query<RowDataPacket[]>(sql, params);
  return r as unknown as T[];
}

export interface ServerInfo {
  flavour: 'mariadb' | 'mysql';
  version: string;
  versionComment: string;
  binlog: boolean;
}

export async function serverInfo(conn: Conn): Promise<ServerInfo> {
  const [r] = await rows<{ v: string; c: string; b: string | number }>(conn, 'SELECT VERSION() AS v, @@version_comment AS c, @@log_bin AS b');
  const version = String(r!.v);
  const flavour = /mariadb/i.test(version) || /mariadb/i.test(String(r!.c)) ? 'mariadb' : 'mysql';
  return { flavour, version, versionComment: String(r!.c), binlog: String(r!.b) === '1' };
}

export async function schemaExists(conn: Conn, db: string): Promise<{ charset: string; collation: string } | undefined> {
  const r = await rows<{ cs: string; co: string }>(conn, 'SELECT DEFAULT_CHARACTER_SET_NAME AS cs, DEFAULT_COLLATION_NAME AS co FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?', [db]);
  return r[0] ? { charset: r[0].cs, collation: r[0].co } : undefined;
}

export async function userSchemas(conn: Conn): Promise<string[]> {
  const r = await rows<{ s: string }>(conn, 'SELECT SCHEMA_NAME AS s FROM information_schema.SCHEMATA ORDER BY SCHEMA_NAME');
  return r.map((x) => x.s).filter((s) => !SYSTEM_SCHEMAS.includes(s.toLowerCase()));
}

/** What one database holds, as recorded in meta and compared by drills. Names sorted. */
export interface Inventory {
  charset?: string;
  collation?: string;
  /** Base tables (and sequences) with row counts (from the dump stream, or COUNT(*) in drills). */
  tables: Record<string, number>;
  views: string[];
  /** `PROCEDURE name` / `FUNCTION name`. */
  routines: string[];
  triggers: string[];
  events: string[];
  /** data_length + index_length from information_schema (an estimate). */
  estimatedBytes: number;
}

const sortStr = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Inventory of `db` from information_schema; row counts are 0 until filled by the caller. */
export async function inventory(conn: Conn, db: string, exclude: Set<string> = new Set()): Promise<Inventory> {
  const tables = await rows<{ n: string; t: string; b: string | number | null }>(
    conn,
    'SELECT TABLE_NAME AS n, TABLE_TYPE AS t, COALESCE(DATA_LENGTH,0)+COALESCE(INDEX_LENGTH,0) AS b FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?',
    [db],
  );
  const inv: Inventory = { tables: {}, views: [], routines: [], triggers: [], events: [], estimatedBytes: 0 };
  for (const t of tables.sort((a, b) => sortStr(a.n, b.n))) {
    if (exclude.has(t.n)) continue;
    if (t.t === 'VIEW') inv.views.push(t.n);
    else {
      inv.tables[t.n] = 0;
      inv.estimatedBytes += Number(t.b ?? 0);
    }
  }
  inv.routines = (await rows<{ n: string; t: string }>(conn, 'SELECT ROUTINE_NAME AS n, ROUTINE_TYPE AS t FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ?', [db]))
    .map((r) => `${r.t} ${r.n}`)
    .sort(sortStr);
  inv.triggers = (await rows<{ n: string; t: string }>(conn, 'SELECT TRIGGER_NAME AS n, EVENT_OBJECT_TABLE AS t FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ?', [db]))
    .filter((r) => !exclude.has(r.t))
    .map((r) => r.n)
    .sort(sortStr);
  inv.events = (await rows<{ n: string }>(conn, 'SELECT EVENT_NAME AS n FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ?', [db])).map((r) => r.n).sort(sortStr);
  const s = await schemaExists(conn, db);
  if (s) {
    inv.charset = s.charset;
    inv.collation = s.collation;
  }
  return inv;
}

/** Exact row counts (drills, tests): one COUNT(*) per table. */
export async function countRows(conn: Conn, db: string, tables: string[]): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const t of tables) {
    const [r] = await rows<{ c: string | number }>(conn, `SELECT COUNT(*) AS c FROM ${qi(db)}.${qi(t)}`);
    out[t] = Number(r!.c);
  }
  return out;
}

export function isEmptyInventory(inv: Inventory): boolean {
  return !Object.keys(inv.tables).length && !inv.views.length && !inv.routines.length && !inv.triggers.length && !inv.events.length;
}
