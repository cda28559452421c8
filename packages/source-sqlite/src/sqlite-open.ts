import * as fs from 'node:fs/promises';
import Database from 'better-sqlite3';
import { ArcaError, ErrorCodes, type ErrorCode } from '@arca/core';

export type SqliteDb = Database.Database;

/** Non-secret facts about a database file, read through an open connection. */
export interface SqliteFacts {
  sqliteVersion: string;
  pageSize: number;
  pageCount: number;
  /** `page_count * page_size`: the size of the database without its WAL. */
  estimatedBytes: number;
  journalMode: string;
  tableCount: number;
}

const sqliteCode = (e: unknown): string | undefined => {
  const code = (e as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
};

/**
 * Turn a better-sqlite3 / fs error about `file` into an ArcaError that says what to do.
 * `code` is the ArcaError code for "the file is not a usable database" (SOURCE_FAILED when
 * dumping, CORRUPT_ARTIFACT when checking a restored file).
 */
export function sqliteError(e: unknown, file: string, code: ErrorCode, busyTimeoutMs: number): ArcaError {
  if (e instanceof ArcaError) return e;
  const c = sqliteCode(e) ?? '';
  const msg = (e as Error | undefined)?.message ?? String(e);
  if (c.startsWith('SQLITE_NOTADB')) {
    return new ArcaError(code, `${file} is not a SQLite database (${msg}). Point the job at the app's database file (not a folder, a SQL dump or an encrypted file).`, { cause: e, details: { sqlite: c } });
  }
  if (c.startsWith('SQLITE_CORRUPT')) {
    return new ArcaError(code, `${file} is a damaged SQLite database (${msg}). Run \`sqlite3 ${file} "PRAGMA integrity_check"\` to see the damage; restore it from an earlier backup if needed.`, { cause: e, details: { sqlite: c } });
  }
  if (c.startsWith('SQLITE_BUSY') || c.startsWith('SQLITE_LOCKED')) {
    return new ArcaError(code, `${file} stayed locked by another connection for more than ${busyTimeoutMs} ms (${msg}). Retry later, or raise busyTimeoutMs.`, { cause: e, details: { sqlite: c } });
  }
  if (c.startsWith('SQLITE_CANTOPEN') || c === 'EACCES' || c === 'EPERM') {
    return new ArcaError(code, `${file} cannot be opened (${msg}). Make the file readable by the user running Arca; for a WAL database its folder must also allow creating the -shm file, or the app must keep it open.`, { cause: e, details: { sqlite: c } });
  }
  return new ArcaError(code, `${file}: ${msg}`, { cause: e, details: c ? { sqlite: c } : {} });
}

/**
 * Stat `file` first so a missing database is reported as NOT_FOUND and is never created:
 * better-sqlite3 (like sqlite3_open) would otherwise create an empty database.
 */
export async function assertDatabaseFile(file: string): Promise<{ size: number }> {
  let st;
  try {
    st = await fs.stat(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') {
      throw new ArcaError(ErrorCodes.NOT_FOUND, `SQLite database ${file} does not exist: fix the path in the job (Arca never creates it).`, { cause: e });
    }
    throw sqliteError(e, file, ErrorCodes.SOURCE_FAILED, 0);
  }
  if (!st.isFile()) {
    throw new ArcaError(ErrorCodes.SOURCE_FAILED, `${file} is not a file: point the sqlite source at the database file itself.`);
  }
  return { size: st.size };
}

/**
 * Open a database read-only (never creating it) and read its schema once, so a file that
 * is not a database fails here with a clear error instead of on the first page copy.
 */
export function openReadOnly(file: string, busyTimeoutMs: number, code: ErrorCode = ErrorCodes.SOURCE_FAILED): SqliteDb {
  let db: SqliteDb | undefined;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true, timeout: busyTimeoutMs });
    db.prepare('SELECT count(*) FROM sqlite_schema').get();
    return db;
  } catch (e) {
    try {
      db?.close();
    } catch {
      // closing a connection that failed to read is best effort
    }
    throw sqliteError(e, file, code, busyTimeoutMs);
  }
}

export function readFacts(db: SqliteDb): SqliteFacts {
  const pageSize = Number(db.pragma('page_size', { simple: true }));
  const pageCount = Number(db.pragma('page_count', { simple: true }));
  const sqliteVersion = String((db.prepare('SELECT sqlite_version() AS v').get() as { v: string }).v);
  const journalMode = String(db.pragma('journal_mode', { simple: true }));
  const tableCount = Number(
    (db.prepare("SELECT count(*) AS n FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'").get() as { n: number }).n,
  );
  return { sqliteVersion, pageSize, pageCount, estimatedBytes: pageSize * pageCount, journalMode, tableCount };
}

export function closeQuietly(db: SqliteDb | undefined): void {
  try {
    db?.close();
  } catch {
    // nothing useful to do: the connection is gone either way
  }
}
