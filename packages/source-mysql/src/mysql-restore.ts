import * as path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ArcaError, ErrorCodes, abortError, type Bytes, type RestoreOptions } from '@arca/core';
import { qi, requireSingleDatabase, type MySqlConfig } from './mysql-options.js';
import { connect, driverError, inventory, isEmptyInventory, schemaExists, type Conn } from './mysql-server.js';
import { scratchName, swapInto } from './mysql-swap.js';
import { connectionArgs, findTool, startTool, writeDefaultsFile } from './mysql-tools.js';

const HEAD_BYTES = 64 * 1024;

/**
 * Hold back the first 64 KiB and refuse a dump that switches databases (`CREATE DATABASE`,
 * `USE`): a `--databases`/`--all-databases` dump would write straight into the databases it
 * names instead of the scratch database. mariadb-dump writes those lines before any data.
 */
async function* singleDatabaseOnly(input: AsyncIterable<Bytes>): AsyncIterable<Bytes> {
  const head: Buffer[] = [];
  let size = 0;
  let checked = false;
  const check = () => {
    checked = true;
    const text = Buffer.concat(head).toString('latin1');
    if (/^(CREATE DATABASE|USE `)/m.test(text)) {
      throw new ArcaError(ErrorCodes.NOT_SUPPORTED, 'This dump names its databases (made with databases/allDatabases or --databases): Arca restores single-database dumps only, through a scratch database. Load it by hand with the mariadb client.');
    }
  };
  for await (const c of input) {
    if (checked) {
      yield c;
      continue;
    }
    head.push(Buffer.from(c.buffer, c.byteOffset, c.byteLength));
    size += c.byteLength;
    if (size >= HEAD_BYTES) {
      check();
      for (const h of head.splice(0)) yield h;
    }
  }
  if (!checked) {
    check();
    for (const h of head.splice(0)) yield h;
  }
}

/**
 * Pipe an SQL dump into the `mariadb`/`mysql` client, loading into `database`. Resolves when the
 * input ended without error AND the client exited 0. If the input throws, that error is
 * rethrown as is (CHECKSUM_MISMATCH, CORRUPT_ARTIFACT, ABORTED...); a client failure is
 * RESTORE_FAILED with the client's redacted stderr tail. The client is killed on every early
 * exit and the option file removed.
 */
export async function loadSql(cfg: MySqlConfig, database: string, input: AsyncIterable<Bytes>, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) throw abortError(signal, 'The MySQL restore');
  const tool = await findTool('client', cfg.clientPath);
  const defaults = await writeDefaultsFile(cfg);
  const args = [...connectionArgs(cfg, defaults.path, 'client'), '--batch', '--binary-mode', `--database=${database}`];
  const run = startTool(tool.path, args, signal, 'pipe');
  let inputError: unknown;
  const src = Readable.from(singleDatabaseOnly(input), { objectMode: false });
  try {
    const feeding = pipeline(src, run.child.stdin!).catch((e: unknown) => {
      inputError = e;
      // The input failed (or the client stopped reading): the client must not run to a
      // "clean" end on a truncated script.
      run.child.kill('SIGKILL');
    });
    const [r] = await Promise.all([run.child, feeding]);
    if (signal?.aborted || r.isCanceled) throw abortError(signal, 'The MySQL restore');
    const clientFailed = r.exitCode !== 0 || r.failed;
    // An input error wins unless it is just the broken pipe of a client that died first.
    const pipeBroke = (inputError as NodeJS.ErrnoException | undefined)?.code === 'EPIPE' || (inputError as NodeJS.ErrnoException | undefined)?.code === 'ERR_STREAM_PREMATURE_CLOSE';
    if (inputError !== undefined && !(clientFailed && pipeBroke)) {
      if (inputError instanceof ArcaError) throw inputError;
      throw new ArcaError(ErrorCodes.RESTORE_FAILED, `Reading the artifact failed: ${(inputError as Error).message}`, { cause: inputError });
    }
    if (clientFailed) {
      const tail = run.stderr.text();
      throw new ArcaError(
        ErrorCodes.RESTORE_FAILED,
        `${path.basename(tool.path)} ${r.signal ? `was killed by ${r.signal}` : `exited with code ${String(r.exitCode)}`} while loading the dump.${tail ? ` Its last messages:\n${tail}` : ''}`,
        { details: { exitCode: r.exitCode ?? null } },
      );
    }
  } finally {
    if (run.child.exitCode === null && run.child.signalCode === null) {
      run.child.kill('SIGKILL');
      await run.child.catch(() => undefined);
    }
    if (!src.destroyed) src.destroy();
    await defaults.remove();
  }
}

/** Create a uniquely named scratch database with the given defaults; returns its name. */
export async function createScratch(conn: Conn, base: string, tag: string, charset?: { charset: string; collation: string }): Promise<string> {
  const name = scratchName(base, tag);
  await conn.query(`CREATE DATABASE ${qi(name)}${charset ? ` CHARACTER SET ${charset.charset} COLLATE ${charset.collation}` : ''}`);
  return name;
}

export async function dropDatabase(conn: Conn, name: string): Promise<void> {
  await conn.query('SET SESSION foreign_key_checks = 0');
  await conn.query(`DROP DATABASE IF EXISTS ${qi(name)}`);
}

/**
 * Restore a single-database dump into `cfg.database`: load it into a scratch database, and only
 * when the input ended without error and the client succeeded, swap the tables in (see
 * mysql-swap.ts for why RENAME TABLE). The scratch database is dropped on every path.
 */
export async function restoreDatabase(cfg: MySqlConfig, input: AsyncIterable<Bytes>, o: RestoreOptions = {}): Promise<void> {
  const target = requireSingleDatabase(cfg, 'Restoring');
  const signal = o.signal;
  if (signal?.aborted) throw abortError(signal, 'The MySQL restore');
  const conn = await connect(cfg, `Connecting to restore ${target}`, signal);
  let scratch: string | undefined;
  try {
    let existing: { charset: string; collation: string } | undefined;
    try {
      existing = await schemaExists(conn, target);
      if (!existing && !cfg.createDatabase) {
        throw new ArcaError(ErrorCodes.NOT_FOUND, `Restore target database ${target} does not exist: create it, or set createDatabase: true on the target source.`);
      }
      if (existing && !o.overwrite && !isEmptyInventory(await inventory(conn, target))) {
        throw new ArcaError(ErrorCodes.TARGET_NOT_EMPTY, `Restore target database ${target} is not empty: restore into another database, or pass overwrite: true (arca restore --overwrite) to replace its content.`);
      }
      scratch = await createScratch(conn, target, 'arca_restore', existing);
    } catch (e) {
      throw driverError(e, cfg, `Preparing the restore of ${target}`, ErrorCodes.RESTORE_FAILED);
    }
    await loadSql(cfg, scratch, input, signal);
    if (signal?.aborted) throw abortError(signal, 'The MySQL restore');
    try {
      if (!existing) {
        const s = await schemaExists(conn, scratch);
        await conn.query(`CREATE DATABASE IF NOT EXISTS ${qi(target)}${s ? ` CHARACTER SET ${s.charset} COLLATE ${s.collation}` : ''}`);
      }
      await swapInto(conn, target, scratch);
    } catch (e) {
      throw driverError(e, cfg, `Swapping the restored data into ${target}`, ErrorCodes.RESTORE_FAILED);
    }
  } finally {
    if (scratch) await dropDatabase(conn, scratch).catch(() => undefined);
    await conn.end().catch(() => conn.destroy());
  }
}
