import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll } from 'vitest';

/** A fresh temp folder removed after the file's tests. */
export async function tempDir(label = 'sqlite-src-test'): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), `${label}-`));
  afterAll(() => fs.rm(dir, { recursive: true, force: true }));
  return dir;
}

export interface DbSpec {
  wal?: boolean;
  /** Rows of ~1 KiB filler, to make the database span many pages. */
  fillerRows?: number;
}

/** A database with a counter table (for the consistency checks), a notes table and filler. */
export function createDb(file: string, spec: DbSpec = {}): void {
  const db = new Database(file);
  try {
    db.pragma(`journal_mode = ${spec.wal ? 'WAL' : 'DELETE'}`);
    db.exec(`
      CREATE TABLE counter (n INTEGER PRIMARY KEY, pad BLOB);
      CREATE TABLE totals (id INTEGER PRIMARY KEY, n INTEGER NOT NULL);
      INSERT INTO totals VALUES (1, 0);
      CREATE TABLE notes (id INTEGER PRIMARY KEY, title TEXT NOT NULL, body TEXT);
      CREATE INDEX notes_title ON notes (title);
      CREATE TABLE filler (id INTEGER PRIMARY KEY, data BLOB);
    `);
    const note = db.prepare('INSERT INTO notes (title, body) VALUES (?, ?)');
    const fill = db.prepare('INSERT INTO filler (data) VALUES (randomblob(1000))');
    db.transaction(() => {
      for (let i = 0; i < 200; i++) note.run(`ticket ${i}`, `body of ticket ${i} ${'x'.repeat(i)}`);
      for (let i = 0; i < (spec.fillerRows ?? 0); i++) fill.run();
    })();
  } finally {
    db.close();
  }
}

/** Everything a restore must reproduce (filler compared by hash). */
export function readContent(file: string): { notes: unknown[]; counter: number[]; total: number; fillerSha: string } {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const h = createHash('sha256');
    for (const r of db.prepare('SELECT id, data FROM filler ORDER BY id').iterate() as Iterable<{ id: number; data: Buffer }>) {
      h.update(String(r.id)).update(r.data);
    }
    return {
      notes: db.prepare('SELECT id, title, body FROM notes ORDER BY id').all(),
      counter: (db.prepare('SELECT n FROM counter ORDER BY n').all() as Array<{ n: number }>).map((r) => r.n),
      total: (db.prepare('SELECT n FROM totals WHERE id = 1').get() as { n: number }).n,
      fillerSha: h.digest('hex'),
    };
  } finally {
    db.close();
  }
}

export function integrity(file: string): string {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return (db.pragma('integrity_check') as Array<{ integrity_check: string }>).map((r) => r.integrity_check).join('; ');
  } finally {
    db.close();
  }
}

export function maxCounter(file: string): number {
  const db = new Database(file, { readonly: true, fileMustExist: true, timeout: 10_000 });
  try {
    return (db.prepare('SELECT coalesce(max(n), 0) AS m FROM counter').get() as { m: number }).m;
  } finally {
    db.close();
  }
}

/** The rows are exactly 1..N and the totals row agrees: the mark of a single committed state. */
export function assertConsistentPrefix(c: { counter: number[]; total: number }): number {
  const n = c.counter.length;
  const contiguous = c.counter.every((v, i) => v === i + 1);
  if (!contiguous || c.total !== n) {
    throw new Error(`inconsistent snapshot: ${n} rows, contiguous=${contiguous}, totals.n=${c.total}`);
  }
  return n;
}

export interface Writer {
  child: ChildProcess;
  /** Rows committed when the writer announced itself. */
  readyAt: number;
  stop(): Promise<void>;
}

/** Start writer.mjs in a child process and wait until it has committed its first rows. */
export async function startWriter(file: string): Promise<Writer> {
  const script = fileURLToPath(new URL('./writer.mjs', import.meta.url));
  const child = spawn(process.execPath, [script, file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const readyAt = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /ready (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`writer exited early (${code}): ${stderr}`)));
    child.once('error', reject);
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  afterAll(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  return {
    child,
    readyAt,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Entries of os.tmpdir() that carry the snapshot prefix. */
export async function snapshotTemps(prefix: string): Promise<string[]> {
  return (await fs.readdir(os.tmpdir())).filter((n) => n.startsWith(prefix)).sort();
}
