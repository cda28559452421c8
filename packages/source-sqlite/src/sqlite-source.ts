import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { z } from 'zod';
import { ArcaError, ErrorCodes, abortError, parseOptions, type CheckReport, type Dump, type Source } from '@arca/core';
import { assertDatabaseFile, closeQuietly, openReadOnly, readFacts, type SqliteDb } from './sqlite-open.js';
import { restoreSqliteFile } from './sqlite-restore.js';
import { snapshotStream, takeSnapshot } from './sqlite-snapshot.js';

/** Options of {@link sqlite}. */
export interface SqliteOptions {
  /** Path of the database file (`tickets.db`). Relative paths resolve against the process cwd. A dump never creates it. */
  path: string;
  /**
   * Base of the dump file name (`<name>.sqlite`) and a label in describe(): letters, digits,
   * `.`, `_`, `-`. Default: the database file name without its extension.
   */
  name?: string;
  /**
   * Folder for the snapshot temp file (default `os.tmpdir()`). It needs free space for a full
   * copy of the database; pass the database's own folder when /tmp is a small tmpfs.
   */
  tempDir?: string;
  /** Pages copied per backup step before yielding to the event loop (default 1024: 4 MiB at 4 KiB pages). */
  pagesPerStep?: number;
  /** How long to wait for a lock held by a writer, in ms (default 5000). */
  busyTimeoutMs?: number;
}

const SqliteOptionsSchema = z
  .object({
    path: z.string().min(1),
    name: z.string().regex(/^[\w.-]+$/, 'use only letters, digits, ".", "_" and "-"').optional(),
    tempDir: z.string().min(1).optional(),
    pagesPerStep: z.number().int().min(1).max(1_000_000).optional(),
    busyTimeoutMs: z.number().int().min(0).max(600_000).optional(),
  })
  .strict();

function defaultName(file: string): string {
  const base = path.basename(file, path.extname(file)).replace(/[^\w.-]/g, '_').replace(/^\.+/, '');
  return base || 'db';
}

async function freeBytes(dir: string): Promise<number | undefined> {
  try {
    const s = await fs.statfs(dir);
    return s.bavail * s.bsize;
  } catch {
    return undefined;
  }
}

async function fileSize(file: string): Promise<number> {
  return fs.stat(file).then(
    (s) => s.size,
    () => 0,
  );
}

/**
 * A SQLite database file, backed up with SQLite's online backup API: the dump is a
 * consistent snapshot of one committed state even while the app keeps writing (WAL or
 * rollback journal), written to a private 0600 temp file, streamed out, and removed.
 * The artifact is a plain SQLite database: `gunzip db.sqlite.gz && sqlite3 db.sqlite` opens it.
 *
 * `restore` writes into a temp file beside the target, runs `PRAGMA integrity_check`, and
 * only then renames it over the target. Restoring in place over a database the app holds
 * open is unsafe: stop the app first (or restore into a new file and switch over).
 */
export function sqlite(options: SqliteOptions): Source {
  const opts = parseOptions(SqliteOptionsSchema, options, 'sqlite');
  const file = path.resolve(opts.path);
  const name = opts.name ?? defaultName(file);
  const tempDir = path.resolve(opts.tempDir ?? os.tmpdir());
  const busyTimeoutMs = opts.busyTimeoutMs ?? 5000;
  const pagesPerStep = opts.pagesPerStep ?? 1024;

  return {
    kind: 'sqlite',
    describe: () => ({ kind: 'sqlite', path: file, name }),

    async check(o = {}): Promise<CheckReport> {
      if (o.signal?.aborted) throw abortError(o.signal, 'The SQLite check');
      const facts: Record<string, unknown> = { path: file, tempDir };
      const problems: string[] = [];
      let db: SqliteDb | undefined;
      try {
        facts.fileBytes = (await assertDatabaseFile(file)).size;
        facts.walBytes = await fileSize(file + '-wal');
        db = openReadOnly(file, busyTimeoutMs);
        Object.assign(facts, readFacts(db));
        const free = await freeBytes(tempDir);
        if (free !== undefined) {
          facts.tempFreeBytes = free;
          if (free < (facts.estimatedBytes as number)) {
            problems.push(`Only ${free} bytes free in ${tempDir}, the snapshot needs about ${String(facts.estimatedBytes)}: free space or set tempDir to a bigger folder.`);
          }
        }
      } catch (e) {
        problems.push(e instanceof ArcaError ? e.message : `Cannot read ${file}: ${(e as Error).message}`);
      } finally {
        closeQuietly(db);
      }
      return { ok: problems.length === 0, problems, facts };
    },

    async dump(o = {}): Promise<Dump> {
      const signal = o.signal;
      if (signal?.aborted) throw abortError(signal, 'The SQLite dump');
      await assertDatabaseFile(file);
      const db = openReadOnly(file, busyTimeoutMs);
      let snapshot;
      let journalMode: string;
      try {
        const facts = readFacts(db);
        journalMode = facts.journalMode;
        const free = await freeBytes(tempDir);
        if (free !== undefined && free < facts.estimatedBytes) {
          throw new ArcaError(ErrorCodes.SOURCE_FAILED, `Not enough free space in ${tempDir} for a snapshot of ${file} (needs about ${facts.estimatedBytes} bytes, ${free} free): free space or set tempDir to a bigger folder.`);
        }
        snapshot = await takeSnapshot({ file, source: db, tempDir, filename: `${name}.sqlite`, pagesPerStep, busyTimeoutMs, signal });
      } finally {
        closeQuietly(db);
      }
      const s = snapshot;
      return {
        filename: `${name}.sqlite`,
        expectedBytes: s.bytes,
        stream: snapshotStream(s, signal),
        meta: async () => ({
          ...s.facts,
          // The source's mode (the snapshot's header keeps WAL mode, so a restored copy uses it too).
          journalMode,
          bytes: s.bytes,
          snapshotMs: s.durationMs,
          backupSteps: s.steps,
          backupRestarts: s.restarts,
        }),
      };
    },

    restore: (input, o = {}) => restoreSqliteFile(file, input, o, busyTimeoutMs),
  };
}
