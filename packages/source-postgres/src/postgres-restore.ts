import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { ArcaError, ErrorCodes, abortError, throwIfAborted, type Bytes, type RestoreOptions } from '@arca/core';
import { connect, dbnameArg, ident, withClient, withDatabase, where, type PgConnection } from './postgres-connection.js';
import type { PostgresRestoreOptions } from './postgres-options.js';
import { customArchiveScanner } from './postgres-archive-offsets.js';
import { streamRestoreTool } from './postgres-restore-stream.js';
import { userObjectCount } from './postgres-stats.js';
import { spawnTool, toolFailure } from './postgres-tools.js';

export interface RestoreContext {
  /** The target database. */
  conn: PgConnection;
  maintenanceDatabase: string;
  pgRestore: string;
  psql: string;
  format: 'custom' | 'plain' | 'tar';
  passwordVia: 'env' | 'passfile';
  noOwner?: boolean | undefined;
  restore: PostgresRestoreOptions;
}

/** A spooled artifact on disk (0600, in its own 0700 folder), removed by `remove()`. */
export interface Spool {
  file: string;
  bytes: number;
  /**
   * Custom format only: the spool was parsed through to a clean end (header, TOC, every data
   * block) while it was written, and the data offsets were patched into its TOC (see
   * postgres-archive-offsets.ts), so `pg_restore --jobs` seeks instead of scanning.
   */
  scanned?: { complete: boolean; patched: number };
  remove(): Promise<void>;
}

/**
 * Write the (already decoded and checksum-verified-on-end) input to a private temp file.
 * Errors thrown by the input (CHECKSUM_MISMATCH, CORRUPT_ARTIFACT) pass through unchanged.
 * With `format: 'custom'` the archive is scanned on the way and its data offsets patched in.
 */
export async function spoolInput(input: AsyncIterable<Bytes>, dir: string | undefined, signal?: AbortSignal, format?: RestoreContext['format']): Promise<Spool> {
  const folder = await fs.mkdtemp(path.join(dir ?? tmpdir(), 'arca-pg-restore-'));
  const file = path.join(folder, 'artifact');
  const remove = () => fs.rm(folder, { recursive: true, force: true });
  let bytes = 0;
  const scanner = format === 'custom' ? customArchiveScanner() : undefined;
  async function* counted() {
    for await (const c of input) {
      bytes += c.byteLength;
      scanner?.push(c);
      yield c;
    }
  }
  try {
    await pipeline(Readable.from(counted()), createWriteStream(file, { flags: 'wx', mode: 0o600, highWaterMark: 1 << 20 }), ...(signal ? [{ signal }] : []));
    throwIfAborted(signal, 'The PostgreSQL restore');
    const scanned = scanner ? await scanner.patchOffsets(file) : undefined;
    return { file, bytes, remove, ...(scanned ? { scanned } : {}) };
  } catch (e) {
    await remove().catch(() => {});
    if (signal?.aborted) throw abortError(signal, 'The PostgreSQL restore');
    if (e instanceof ArcaError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new ArcaError(
      ErrorCodes.RESTORE_FAILED,
      `Could not spool the artifact to ${folder} (${code ?? (e as Error).message}); the target was not touched. ${code === 'ENOSPC' ? 'Free space there or set restore.spoolDir.' : ''}`.trim(),
      { cause: e },
    );
  }
}

/**
 * `pg_restore --list` (custom/tar) or a header/trailer check (plain SQL): CORRUPT_ARTIFACT if
 * it is not a complete dump. Skipped for a custom archive the spool already parsed to a clean
 * end (`spool.scanned.complete`: a stricter check than --list, which reads only the TOC).
 */
export async function validateSpool(ctx: RestoreContext, spool: Spool, signal?: AbortSignal): Promise<void> {
  if (ctx.format === 'custom' && spool.scanned?.complete) return;
  if (ctx.format === 'plain') {
    const fh = await fs.open(spool.file, 'r');
    try {
      const head = Buffer.alloc(256);
      await fh.read(head, 0, 256, 0);
      const tail = Buffer.alloc(256);
      await fh.read(tail, 0, 256, Math.max(0, spool.bytes - 256));
      if (!head.toString().includes('PostgreSQL database dump') || !tail.toString().includes('PostgreSQL database dump complete')) {
        throw new ArcaError(ErrorCodes.CORRUPT_ARTIFACT, 'The SQL artifact is not a complete pg_dump script (header or "dump complete" trailer missing); nothing was restored.');
      }
    } finally {
      await fh.close();
    }
    return;
  }
  const t = await spawnTool(ctx.pgRestore, ['--list', spool.file], ctx.conn, { signal, passwordVia: 'env' });
  t.child.stdout?.resume();
  const r = await t.result;
  await t.done();
  if (signal?.aborted) throw abortError(signal, 'The PostgreSQL restore');
  if (r.failed) {
    throw new ArcaError(ErrorCodes.CORRUPT_ARTIFACT, `pg_restore cannot read the artifact (${t.stderr.toString() || `exit code ${String(r.exitCode)}`}); it is not a complete ${ctx.format} archive. Nothing was restored.`);
  }
}

/** Run pg_restore (or psql for plain SQL) from the spool into `database`. */
export async function runRestoreTool(ctx: RestoreContext, spool: Spool, database: string, o: { clean: boolean; singleTransaction: boolean; jobs: number; signal?: AbortSignal | undefined }): Promise<void> {
  const target = withDatabase(ctx.conn, database);
  const r = ctx.restore;
  let bin: string;
  let args: string[];
  if (ctx.format === 'plain') {
    bin = ctx.psql;
    args = ['--no-password', '--no-psqlrc', '--quiet', '--set=ON_ERROR_STOP=1', dbnameArg(database), ...(o.singleTransaction ? ['--single-transaction'] : []), '--file', spool.file];
  } else {
    bin = ctx.pgRestore;
    args = ['--no-password', '--exit-on-error', dbnameArg(database)];
    if (r.noOwner ?? ctx.noOwner) args.push('--no-owner');
    if (r.noPrivileges) args.push('--no-privileges');
    if (r.role) args.push(`--role=${r.role}`);
    if (o.clean) args.push('--clean', '--if-exists');
    if (o.singleTransaction) args.push('--single-transaction');
    else if (o.jobs > 1) args.push(`--jobs=${o.jobs}`);
    args.push(spool.file);
  }
  const t = await spawnTool(bin, args, target, { signal: o.signal, passwordVia: ctx.passwordVia });
  t.child.stdout?.resume();
  const res = await t.result;
  await t.done();
  if (o.signal?.aborted || res.isCanceled) throw abortError(o.signal, 'The PostgreSQL restore');
  if (res.failed) {
    throw toolFailure('RESTORE_FAILED', ctx.format === 'plain' ? 'psql' : 'pg_restore', target, res, t.stderr, 'The restore was rolled back or discarded: the target database is as it was before.');
  }
}

interface TargetState {
  exists: boolean;
  objects: number;
  settings?: { encoding: string; collate: string; ctype: string };
}

async function targetState(ctx: RestoreContext, admin: pg.Client, signal?: AbortSignal): Promise<TargetState> {
  const r = await admin.query<{ enc: string; collate: string; ctype: string }>(
    'SELECT pg_encoding_to_char(encoding) AS enc, datcollate AS collate, datctype AS ctype FROM pg_database WHERE datname = $1',
    [ctx.conn.database],
  );
  if (!r.rows.length) return { exists: false, objects: 0 };
  const objects = await withClient(ctx.conn, signal, (c) => userObjectCount(c));
  const row = r.rows[0]!;
  return { exists: true, objects, settings: { encoding: row.enc, collate: row.collate, ctype: row.ctype } };
}

/** A database name that fits PostgreSQL's 63-byte limit: `<base>_<tag>_<random>`. */
export function scratchName(base: string, tag: string): string {
  const suffix = `_${tag}_${randomBytes(4).toString('hex')}`;
  return Buffer.from(base).subarray(0, 63 - suffix.length).toString().replace(/\uFFFD$/, '') + suffix;
}

export async function createDatabase(admin: pg.Client, name: string, like?: TargetState['settings']): Promise<void> {
  const extra = like ? ` ENCODING '${like.encoding}' LC_COLLATE '${like.collate.replace(/'/g, "''")}' LC_CTYPE '${like.ctype.replace(/'/g, "''")}'` : '';
  await admin.query(`CREATE DATABASE ${ident(name)} TEMPLATE template0${extra}`);
}

export async function dropDatabase(admin: pg.Client, name: string): Promise<void> {
  // WITH (FORCE) (PostgreSQL 13+) ends sessions a failed check may have left behind.
  await admin.query(`DROP DATABASE IF EXISTS ${ident(name)} WITH (FORCE)`).catch(async () => admin.query(`DROP DATABASE IF EXISTS ${ident(name)}`));
}

/**
 * Restore into the source's database. The target is not touched until the whole artifact
 * has been received without error and validated:
 *
 * 1. Refuse early: an existing non-empty target without `overwrite` → `TARGET_NOT_EMPTY`;
 *    a missing one without `restore.createDatabase` → `NOT_FOUND`.
 * 2. Spool the input to a private temp file. pg_restore must be able to seek (for `--jobs`
 *    and for reading a TOC written at the end), and the input's checksum is only known at
 *    its end: spooling is the one way to know the artifact is intact *before* the first
 *    statement runs against the target. A CHECKSUM_MISMATCH from the input ends the restore here.
 *    A custom archive is parsed while it is spooled and its data offsets are patched into
 *    its TOC (pg_dump cannot write them to a pipe), so `--jobs` seeks instead of scanning.
 *    Exception: the swap strategy with jobs = 1 and the custom format streams the input
 *    straight into `pg_restore --single-transaction` on the scratch database — never the
 *    target — and renames it only after the input's checksum passed (no spool, no temp space).
 * 3. `pg_restore --list` proves the archive is readable (CORRUPT_ARTIFACT otherwise); not
 *    needed when the spool already parsed the whole custom archive.
 * 4. Apply it:
 *    - `transaction` (default for an existing target with jobs = 1): `pg_restore --clean
 *      --if-exists --single-transaction` into the target. PostgreSQL's DDL is transactional,
 *      so any error rolls the whole restore back: the target stays as it was.
 *    - `swap` (missing target, jobs > 1, or asked for): restore into a fresh database, then
 *      rename it over the target; a failure drops the fresh database and leaves the target.
 */
export async function restoreDatabase(ctx: RestoreContext, input: AsyncIterable<Bytes>, o: RestoreOptions = {}): Promise<void> {
  const signal = o.signal;
  throwIfAborted(signal, 'The PostgreSQL restore');
  const adminConn = withDatabase(ctx.conn, ctx.maintenanceDatabase);
  const admin = await connect(adminConn, signal);
  let spool: Spool | undefined;
  let scratch: string | undefined;
  try {
    const state = await targetState(ctx, admin, signal);
    const nonEmpty = state.exists && state.objects > 0;
    if (nonEmpty && !o.overwrite) {
      throw new ArcaError(ErrorCodes.TARGET_NOT_EMPTY, `${where(ctx.conn)} already holds ${state.objects} objects: restore into a new database (postgres({ database: 'new_name', restore: { createDatabase: true } })), or pass overwrite: true (arca restore --overwrite) to replace its content.`);
    }
    if (!state.exists && !ctx.restore.createDatabase) {
      throw new ArcaError(ErrorCodes.NOT_FOUND, `${where(ctx.conn)}: database "${ctx.conn.database}" does not exist. Create it, or set restore: { createDatabase: true } on the target.`);
    }
    const jobs = ctx.restore.jobs ?? 1;
    const strategy = !state.exists ? 'swap' : (ctx.restore.strategy ?? (jobs > 1 || (ctx.format === 'plain' && nonEmpty) ? 'swap' : 'transaction'));
    if (strategy === 'swap' && jobs === 1 && ctx.format === 'custom') {
      // Into a scratch database, which is not the target: stream, no spool (see streamRestoreTool).
      scratch = scratchName(ctx.conn.database, 'arca');
      // pg_restore starts while the database is created; it gets its input once it exists.
      await streamRestoreTool(ctx, input, scratch, signal, createDatabase(admin, scratch, state.settings));
      throwIfAborted(signal, 'The PostgreSQL restore');
      await swapInto(ctx, admin, scratch, state.exists);
      scratch = undefined;
      return;
    }
    // The swap's fresh database is created while the input spools (CREATE DATABASE takes
    // 60-100 ms here; the spool seconds): a failed spool drops it in `finally`, queued after
    // the CREATE on the same client.
    let created: Promise<void> | undefined;
    if (strategy === 'swap') {
      scratch = scratchName(ctx.conn.database, 'arca');
      created = createDatabase(admin, scratch, state.settings);
      created.catch(() => {}); // awaited below; a spool error must not leave it unhandled
    }
    spool = await spoolInput(input, ctx.restore.spoolDir, signal, ctx.format);
    await validateSpool(ctx, spool, signal);

    if (strategy === 'transaction') {
      await runRestoreTool(ctx, spool, ctx.conn.database, { clean: nonEmpty && ctx.format !== 'plain', singleTransaction: true, jobs: 1, signal });
      return;
    }
    await created;
    await runRestoreTool(ctx, spool, scratch!, { clean: false, singleTransaction: jobs === 1, jobs, signal });
    throwIfAborted(signal, 'The PostgreSQL restore');
    await swapInto(ctx, admin, scratch!, state.exists);
    scratch = undefined;
  } catch (e) {
    if (signal?.aborted) throw abortError(signal, 'The PostgreSQL restore');
    throw e;
  } finally {
    if (scratch) await dropDatabase(admin, scratch).catch(() => {});
    await spool?.remove().catch(() => {});
    await admin.end().catch(() => {});
  }
}

/** Rename `scratch` over the target; the previous target is renamed aside, then dropped. */
async function swapInto(ctx: RestoreContext, admin: pg.Client, scratch: string, exists: boolean): Promise<void> {
  const target = ctx.conn.database;
  if (!exists) {
    await admin.query(`ALTER DATABASE ${ident(scratch)} RENAME TO ${ident(target)}`);
    return;
  }
  const sessions = await admin.query<{ n: string }>('SELECT count(*)::text AS n FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [target]);
  const n = Number(sessions.rows[0]!.n);
  if (n > 0) {
    if (!ctx.restore.terminateConnections) {
      throw new ArcaError(ErrorCodes.RESTORE_FAILED, `${where(ctx.conn)} has ${n} open session(s), so it cannot be replaced. Stop the app (or set restore: { terminateConnections: true }) and restore again; the target was not changed.`);
    }
    await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [target]);
  }
  const old = scratchName(target, 'old');
  try {
    // ALTER DATABASE ... RENAME is transactional: both renames commit together or not at all.
    await admin.query('BEGIN');
    await admin.query(`ALTER DATABASE ${ident(target)} RENAME TO ${ident(old)}`);
    await admin.query(`ALTER DATABASE ${ident(scratch)} RENAME TO ${ident(target)}`);
    await admin.query('COMMIT');
  } catch (e) {
    await admin.query('ROLLBACK').catch(() => {});
    throw new ArcaError(ErrorCodes.RESTORE_FAILED, `Could not swap the restored database into place (${(e as Error).message}); the target was not changed. Close sessions on it and retry.`, { cause: e });
  }
  await dropDatabase(admin, old);
}
