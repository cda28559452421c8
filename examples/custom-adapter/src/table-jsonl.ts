/**
 * A Source written from scratch: one SQLite table exported as JSON lines, the format people
 * grep, `jq` and load into anything:
 *
 *   {"format":"arca-table-jsonl/1","table":"notes","columns":["id","title","body"],"sql":"CREATE TABLE notes (...)"}
 *   {"id":1,"title":"Printer","body":"jams on duplex"}
 *   {"id":2,"title":"VPN","body":{"$blob":"AAEC"}}
 *
 * Values keep their SQLite type exactly: INTEGER → a JSON integer ({"$int":"…"} beyond
 * 2^53), REAL → a JSON number with a fraction, or {"$real":"3"} when it is integral or not
 * finite, TEXT → a string, BLOB → {"$blob":"<base64>"}, NULL → null.
 *
 * Restore loads the lines into a staging database next to the target, then swaps the rows
 * in with ONE SQLite transaction (ATTACH + DELETE + INSERT … SELECT), so the target table
 * is untouched unless the whole input arrived and checked out.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { z } from 'zod';
import { ArcaError, ErrorCodes, abortError, parseOptions, throwIfAborted, type Bytes, type CheckReport, type Dump, type DumpOptions, type RestoreOptions, type SignalOptions, type Source } from '@arca/core';

export interface TableJsonlOptions {
  /** The SQLite database file. A dump never creates it; a restore does. */
  path: string;
  /** The table to export (letters, digits, `_`; not quoted in your schema). */
  table: string;
  /** Wait this long for a writer's lock, in ms (default 5000). */
  busyTimeoutMs?: number;
}

const Options = z
  .object({
    path: z.string().min(1, 'path is required: the SQLite database file'),
    table: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, 'use a plain table name (letters, digits, "_")'),
    busyTimeoutMs: z.number().int().min(0).optional(),
  })
  .strict();

export const FORMAT = 'arca-table-jsonl/1';
const CHUNK = 64 * 1024; // bytes of JSON per yielded chunk
const BATCH = 500; // rows per staging transaction

interface Header {
  format: string;
  table: string;
  columns: string[];
  sql: string;
}

const q = (ident: string) => `"${ident.replace(/"/g, '""')}"`;

// ------------------------------------------------------------------ value encoding

function encodeValue(v: unknown): unknown {
  if (typeof v === 'bigint') return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : { $int: v.toString() };
  if (typeof v === 'number') return Number.isInteger(v) || !Number.isFinite(v) ? { $real: String(v) } : v;
  if (Buffer.isBuffer(v)) return { $blob: v.toString('base64') };
  return v; // string or null
}

function decodeValue(v: unknown, where: string): unknown {
  if (v === null || typeof v === 'string') return v;
  if (typeof v === 'number') return Number.isInteger(v) ? BigInt(v) : v;
  if (typeof v === 'object') {
    const o = v as Record<string, unknown>;
    if (typeof o.$int === 'string' && /^-?\d+$/.test(o.$int)) return BigInt(o.$int);
    if (typeof o.$real === 'string') return Number(o.$real);
    if (typeof o.$blob === 'string') return Buffer.from(o.$blob, 'base64');
  }
  throw new ArcaError(ErrorCodes.CORRUPT_ARTIFACT, `${where}: unexpected value ${JSON.stringify(v).slice(0, 80)}; is this an ${FORMAT} file?`);
}

/**
 * Split a byte stream into lines. Hand-written (readline would do it) because errors of the
 * input, such as CHECKSUM_MISMATCH at its very end, must reach the caller unchanged.
 */
async function* lines(input: AsyncIterable<Bytes>): AsyncIterable<string> {
  const decoder = new StringDecoder('utf8');
  let rest = '';
  for await (const chunk of input) {
    rest += decoder.write(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    let nl;
    while ((nl = rest.indexOf('\n')) >= 0) {
      yield rest.slice(0, nl);
      rest = rest.slice(nl + 1);
    }
  }
  rest += decoder.end();
  if (rest) yield rest;
}

// ------------------------------------------------------------------ the source

/**
 * One SQLite table as JSON lines. `dump` reads with a single SELECT (one consistent
 * snapshot; in WAL mode writers are not blocked) and yields 64 KiB chunks, checking the
 * signal between chunks. Errors: `NOT_FOUND` (no database file), `SOURCE_FAILED` (no such
 * table, unreadable), `TARGET_NOT_EMPTY`, `RESTORE_FAILED`, `CORRUPT_ARTIFACT`, `ABORTED`.
 */
export function tableJsonl(options: TableJsonlOptions): Source {
  const o = parseOptions(Options, options, 'tableJsonl');
  const file = path.resolve(o.path);
  const table = o.table;
  const busy = o.busyTimeoutMs ?? 5000;

  function openReadOnly(): Database.Database {
    let db: Database.Database;
    try {
      db = new Database(file, { readonly: true, fileMustExist: true, timeout: busy });
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code === 'SQLITE_CANTOPEN') throw new ArcaError(ErrorCodes.NOT_FOUND, `${file} does not exist or cannot be opened: check tableJsonl({ path }).`, { cause: e });
      throw new ArcaError(ErrorCodes.SOURCE_FAILED, `${file} cannot be opened as a SQLite database (${(e as Error).message}).`, { cause: e });
    }
    return db;
  }

  function headerOf(db: Database.Database): Header {
    const row = db.prepare<[string], { sql: string }>("SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = ?").get(table);
    if (!row) throw new ArcaError(ErrorCodes.SOURCE_FAILED, `${file} has no table "${table}": check tableJsonl({ table }).`);
    const columns = db.prepare<[string], { name: string }>('SELECT name FROM pragma_table_info(?)').all(table).map((c) => c.name);
    return { format: FORMAT, table, columns, sql: row.sql };
  }

  return {
    kind: 'sqlite-table-jsonl',
    describe: () => ({ kind: 'sqlite-table-jsonl', path: file, table }),

    async check(so: SignalOptions = {}): Promise<CheckReport> {
      const problems: string[] = [];
      const facts: Record<string, unknown> = { path: file, table };
      try {
        throwIfAborted(so.signal, `Checking ${file}`);
        const db = openReadOnly();
        try {
          facts.columns = headerOf(db).columns.length;
          facts.rows = (db.prepare(`SELECT count(*) AS n FROM ${q(table)}`).get() as { n: number }).n;
          facts.sqliteVersion = (db.prepare('SELECT sqlite_version() AS v').get() as { v: string }).v;
        } finally {
          db.close();
        }
      } catch (e) {
        problems.push((e as Error).message);
      }
      return { ok: problems.length === 0, problems, facts };
    },

    async dump(d: DumpOptions = {}): Promise<Dump> {
      throwIfAborted(d.signal, `Exporting ${table}`);
      const db = openReadOnly();
      let header: Header;
      try {
        header = headerOf(db);
      } catch (e) {
        db.close();
        throw e;
      }
      let rows = 0;
      let done = false;
      async function* stream(): AsyncIterable<Bytes> {
        try {
          const stmt = db.prepare(`SELECT * FROM ${q(table)}`).safeIntegers(true);
          let buf = JSON.stringify(header) + '\n';
          for (const row of stmt.iterate() as Iterable<Record<string, unknown>>) {
            const out: Record<string, unknown> = {};
            for (const c of header.columns) out[c] = encodeValue(row[c]);
            buf += JSON.stringify(out) + '\n';
            rows++;
            if (buf.length >= CHUNK) {
              throwIfAborted(d.signal, `Exporting ${table}`);
              yield Buffer.from(buf);
              buf = '';
              await yieldToLoop(); // better-sqlite3 is synchronous: let the app breathe between chunks
              throwIfAborted(d.signal, `Exporting ${table}`);
            }
          }
          throwIfAborted(d.signal, `Exporting ${table}`);
          yield Buffer.from(buf);
          done = true;
        } catch (e) {
          if (e instanceof ArcaError) throw e;
          throw new ArcaError(ErrorCodes.SOURCE_FAILED, `Exporting ${table} from ${file} failed (${(e as Error).message}).`, { cause: e });
        } finally {
          db.close(); // on success, error, or a consumer that stopped early
        }
      }
      return {
        filename: `${table}.jsonl`,
        stream: stream(),
        meta: async () => ({ table, columns: header.columns.length, ...(done ? { rows } : {}) }),
      };
    },

    async restore(input: AsyncIterable<Bytes>, r: RestoreOptions = {}): Promise<void> {
      throwIfAborted(r.signal, `Restoring ${table}`);
      await fs.mkdir(path.dirname(file), { recursive: true });
      // 1. Refuse a non-empty target before reading anything.
      const nonEmpty = () => {
        const db = new Database(file, { timeout: busy });
        try {
          const exists = db.prepare("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?").get(table);
          return exists ? db.prepare(`SELECT 1 FROM ${q(table)} LIMIT 1`).get() !== undefined : false;
        } finally {
          db.close();
        }
      };
      if (!r.overwrite && nonEmpty()) {
        throw new ArcaError(ErrorCodes.TARGET_NOT_EMPTY, `Table ${table} in ${file} already has rows: restore into an empty table or a new file, or pass overwrite: true.`);
      }
      // 2. Stage every line in a scratch database next to the target (same disk).
      const staging = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(6).toString('hex')}.restore`);
      const stage = new Database(staging);
      try {
        stage.pragma('journal_mode = OFF');
        stage.pragma('synchronous = OFF'); // a scratch file: durability comes from the final transaction
        let header: Header | undefined;
        let insert: Database.Statement | undefined;
        let batch: unknown[][] = [];
        const flush = () => {
          const rows = batch;
          batch = [];
          stage.transaction(() => rows.forEach((row) => insert!.run(row)))();
        };
        let n = 0;
        for await (const line of lines(input)) {
          n++;
          if (!line) continue;
          let parsed: unknown;
          try {
            parsed = JSON.parse(line);
          } catch {
            throw new ArcaError(ErrorCodes.CORRUPT_ARTIFACT, `Line ${n} of the ${table} export is not JSON: the artifact is damaged.`);
          }
          if (!header) {
            const h = parsed as Partial<Header>;
            if (h.format !== FORMAT || typeof h.sql !== 'string' || !Array.isArray(h.columns)) throw new ArcaError(ErrorCodes.CORRUPT_ARTIFACT, `The input does not start with an ${FORMAT} header.`);
            if (h.table !== table) throw new ArcaError(ErrorCodes.RESTORE_FAILED, `The backup holds table "${h.table}", this target is "${table}": restore with tableJsonl({ table: '${h.table}' }).`);
            header = h as Header;
            stage.exec(header.sql);
            insert = stage.prepare(`INSERT INTO ${q(table)} (${header.columns.map(q).join(', ')}) VALUES (${header.columns.map(() => '?').join(', ')})`);
            continue;
          }
          const row = parsed as Record<string, unknown>;
          batch.push(header.columns.map((c) => decodeValue(row[c] ?? null, `line ${n}`)));
          if (batch.length >= BATCH) {
            throwIfAborted(r.signal, `Restoring ${table}`);
            flush();
          }
        }
        if (!header) throw new ArcaError(ErrorCodes.CORRUPT_ARTIFACT, `The ${table} export is empty: the artifact is damaged.`);
        throwIfAborted(r.signal, `Restoring ${table}`);
        flush();
        stage.close();
        // 3. Swap the rows in, all or nothing.
        const db = new Database(file, { timeout: busy });
        try {
          db.prepare('ATTACH DATABASE ? AS stage').run(staging);
          const cols = header.columns.map(q).join(', ');
          db.transaction(() => {
            const exists = db.prepare("SELECT 1 FROM main.sqlite_schema WHERE type = 'table' AND name = ?").get(table);
            if (!exists) db.exec(header.sql);
            else if (db.prepare(`SELECT 1 FROM main.${q(table)} LIMIT 1`).get()) {
              if (!r.overwrite) throw new ArcaError(ErrorCodes.TARGET_NOT_EMPTY, `Table ${table} in ${file} got rows during the restore: retry with overwrite: true.`);
              db.exec(`DELETE FROM main.${q(table)}`);
            }
            db.exec(`INSERT INTO main.${q(table)} (${cols}) SELECT ${cols} FROM stage.${q(table)}`);
          }).immediate();
          db.exec('DETACH DATABASE stage');
        } finally {
          db.close();
        }
      } catch (e) {
        if (r.signal?.aborted) throw abortError(r.signal, `Restoring ${table}`);
        if (e instanceof ArcaError) throw e;
        throw new ArcaError(ErrorCodes.RESTORE_FAILED, `Restoring ${table} into ${file} failed (${(e as Error).message}); the table was not changed.`, { cause: e });
      } finally {
        if (stage.open) stage.close();
        await fs.rm(staging, { force: true });
      }
    },
  };
}
