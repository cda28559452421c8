import { readdirSync, statSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { ArcaError, createArca, localDir, type Bytes } from '@arca/core';
import { collect } from '@arca/core/test-kit';
import { SNAPSHOT_PREFIX, sqlite } from '@arca/source-sqlite';
import { assertConsistentPrefix, createDb, integrity, maxCounter, readContent, startWriter, tempDir } from './fixtures.js';

async function failure(p: Promise<unknown>): Promise<ArcaError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(ArcaError);
  return e as ArcaError;
}

async function* bytesOf(buf: Uint8Array): AsyncIterable<Bytes> {
  for (let i = 0; i < buf.byteLength; i += 1 << 16) yield buf.subarray(i, i + (1 << 16));
}

async function findFile(root: string, suffix: string): Promise<string> {
  for (const e of await fs.readdir(root, { recursive: true })) if (String(e).endsWith(suffix)) return path.join(root, String(e));
  throw new Error(`no ${suffix} under ${root}`);
}

/**
 * Run `fn` with os.tmpdir() pointing at a private folder (TMPDIR is read on every call), so
 * the "no temp file left" checks look at the real default location without racing other tests.
 */
async function withPrivateTmp<T>(fn: (tmp: string) => Promise<T>): Promise<T> {
  const tmp = await tempDir('sqlite-tmpdir');
  const saved = process.env.TMPDIR;
  process.env.TMPDIR = tmp;
  try {
    expect(os.tmpdir()).toBe(tmp);
    return await fn(tmp);
  } finally {
    if (saved === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = saved;
  }
}

const snapshotEntries = async (dir: string) => (await fs.readdir(dir)).filter((n) => n.startsWith(SNAPSHOT_PREFIX));

describe.each([
  { mode: 'WAL', wal: true },
  { mode: 'rollback journal', wal: false },
])('sqlite backup while a child process keeps writing ($mode)', ({ wal }) => {
  it('createArca().run() stores a consistent snapshot that restores and passes integrity_check', async () => {
    const dir = await tempDir();
    const db = path.join(dir, 'tickets.db');
    createDb(db, { wal, fillerRows: 3000 });
    const writer = await startWriter(db);
    const arca = createArca({
      destinations: { local: localDir({ path: path.join(dir, 'backups'), fsync: false }) },
      // Small steps: the copy takes many event-loop turns, so the writer commits during it.
      jobs: { daily: { sources: { db: sqlite({ path: db, pagesPerStep: 64 }) }, destinations: ['local'] } },
    });
    const before = maxCounter(db);
    const run = await arca.run('daily');
    const after = maxCounter(db);
    await writer.stop();
    expect(run.error).toBeUndefined();
    expect(run.status).toBe('completed');
    expect(after).toBeGreaterThan(before); // the writer really wrote while the backup ran

    const meta = run.artifacts[0]!.meta;
    expect(run.artifacts[0]!.file).toBe('db.sqlite.gz');
    expect(meta).toMatchObject({ journalMode: wal ? 'wal' : 'delete', tableCount: 4 });
    expect(meta.bytes).toBe(run.artifacts[0]!.contentBytes);
    expect(meta.bytes).toBe((meta.pageSize as number) * (meta.pageCount as number));

    const restored = path.join(dir, 'restored', 'tickets.db');
    await arca.restore('daily', run.backupId, { into: sqlite({ path: restored }) });
    expect(integrity(restored)).toBe('ok');
    const content = readContent(restored);
    const n = assertConsistentPrefix(content);
    expect(n).toBeGreaterThanOrEqual(before);
    expect(n).toBeLessThanOrEqual(after);
    expect(content.notes).toHaveLength(200);
  });
});

describe('sqlite source', () => {
  it('finishes a consistent snapshot while the same process writes on every event-loop turn', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'app.db');
    createDb(file, { wal: true, fillerRows: 2000 });
    const app = new Database(file);
    const insert = app.prepare('INSERT INTO counter (n, pad) VALUES (?, randomblob(100))');
    const total = app.prepare('UPDATE totals SET n = ? WHERE id = 1');
    let n = 0;
    let timer: NodeJS.Immediate | undefined;
    const tick = () => {
      app.transaction(() => {
        n++;
        insert.run(n);
        total.run(n);
      })();
      timer = setImmediate(tick);
    };
    tick();
    try {
      const dump = await sqlite({ path: file, pagesPerStep: 16 }).dump();
      const atSnapshotEnd = n;
      const bytes = await collect(dump.stream);
      const meta = await dump.meta();
      // Every step saw a concurrent commit, so SQLite restarted the copy; the escalating
      // step size still got it done.
      expect(meta.backupRestarts as number).toBeGreaterThan(0);
      const target = path.join(dir, 'copy.db');
      await sqlite({ path: target }).restore!(bytesOf(bytes));
      const got = assertConsistentPrefix(readContent(target));
      expect(got).toBeGreaterThan(0);
      expect(got).toBeLessThanOrEqual(atSnapshotEnd);
    } finally {
      clearImmediate(timer);
      app.close();
    }
  });

  it('leaves out a transaction the app has not committed yet', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'app.db');
    createDb(file, { wal: true });
    const app = new Database(file);
    try {
      app.exec('BEGIN IMMEDIATE');
      app.prepare("INSERT INTO notes (title) VALUES ('uncommitted')").run();
      const dump = await sqlite({ path: file }).dump();
      app.exec('COMMIT');
      const target = path.join(dir, 'copy.db');
      await sqlite({ path: target }).restore!(dump.stream);
      expect(readContent(target).notes).toHaveLength(200);
      expect(readContent(file).notes).toHaveLength(201);
    } finally {
      app.close();
    }
  });

  it('dumps to a private 0600 temp file, reports expectedBytes and meta, and removes it at the end', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'tickets.db');
    createDb(file, { fillerRows: 100 });
    const tmp = path.join(dir, 'snapshots');
    const src = sqlite({ path: file, tempDir: tmp });
    expect(src.describe()).toEqual({ kind: 'sqlite', path: file, name: 'tickets' });
    const dump = await src.dump();
    expect(dump.filename).toBe('tickets.sqlite');
    const [snapDir, ...others] = await snapshotEntries(tmp);
    expect(others).toEqual([]);
    expect((await fs.stat(path.join(tmp, snapDir!))).mode & 0o777).toBe(0o700);
    expect((await fs.stat(path.join(tmp, snapDir!, 'tickets.sqlite'))).mode & 0o777).toBe(0o600);
    const bytes = await collect(dump.stream);
    expect(bytes.byteLength).toBe(dump.expectedBytes);
    expect(bytes.subarray(0, 16).toString('latin1')).toBe('SQLite format 3\0');
    expect(await snapshotEntries(tmp)).toEqual([]);
    const meta = await dump.meta();
    expect(meta).toMatchObject({ journalMode: 'delete', tableCount: 4, bytes: bytes.byteLength });
    expect(meta.sqliteVersion).toMatch(/^3\.\d+\.\d+$/);
    expect(meta.pageSize as number).toBeGreaterThanOrEqual(512);
    expect(meta.pageCount as number).toBeGreaterThan(1);
    expect(sqlite({ path: file, name: 'db' }).describe().name).toBe('db');
  });

  it('check() reports version, size estimate and journal mode of a healthy database', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'tickets.db');
    createDb(file, { wal: true, fillerRows: 50 });
    const r = await sqlite({ path: file }).check!();
    expect(r.problems).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.facts).toMatchObject({ path: file, journalMode: 'wal', tableCount: 4 });
    expect(r.facts.estimatedBytes).toBe((r.facts.pageSize as number) * (r.facts.pageCount as number));
    expect(r.facts.sqliteVersion).toMatch(/^3\./);
  });

  it('a missing file is NOT_FOUND, check() says so, and no empty database is created', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'nope.db');
    const src = sqlite({ path: file });
    const e = await failure(src.dump());
    expect(e.code).toBe('NOT_FOUND');
    expect(e.message).toContain(file);
    const r = await src.check!();
    expect(r.ok).toBe(false);
    expect(r.problems.join()).toMatch(/does not exist/);
    await expect(fs.stat(file)).rejects.toThrow();
  });

  it('a file that is not a database is SOURCE_FAILED with a clear message', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'notes.txt');
    await fs.writeFile(file, 'just some text, not a database\n'.repeat(200));
    const e = await failure(sqlite({ path: file }).dump());
    expect(e.code).toBe('SOURCE_FAILED');
    expect(e.message).toMatch(/is not a SQLite database/);
    const r = await sqlite({ path: file }).check!();
    expect(r.ok).toBe(false);
    expect(r.problems.join()).toMatch(/not a SQLite database/);
    const folder = await failure(sqlite({ path: dir }).dump());
    expect(folder.code).toBe('SOURCE_FAILED');
  });

  it('rejects invalid options with CONFIG_INVALID', () => {
    expect(() => sqlite({} as never)).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
    expect(() => sqlite({ path: 'a.db', name: '../x' })).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
    expect(() => sqlite({ path: 'a.db', pagesPerStep: 0 })).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
  });

  it('abort during the snapshot and mid-stream: ABORTED, and nothing left in os.tmpdir()', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'tickets.db');
    createDb(file, { wal: true, fillerRows: 3000 });
    await withPrivateTmp(async (tmp) => {
      // 1. While the backup API copies pages (one page per step: thousands of event-loop turns).
      //    Abort once the copy is under way: SQLite keeps a -journal beside the snapshot while
      //    its write transaction is open (checked on every event-loop turn).
      const ac1 = new AbortController();
      let abortedMidCopy = false;
      const watch = () => {
        const [d] = readdirSync(tmp).filter((n) => n.startsWith(SNAPSHOT_PREFIX));
        if (d && statSync(path.join(tmp, d, 'tickets.sqlite-journal'), { throwIfNoEntry: false })) {
          abortedMidCopy = true;
          ac1.abort();
        } else if (!stopWatching) setImmediate(watch);
      };
      let stopWatching = false;
      watch();
      const e1 = await failure(sqlite({ path: file, pagesPerStep: 1 }).dump({ signal: ac1.signal })).finally(() => (stopWatching = true));
      expect(e1.code).toBe('ABORTED');
      expect(abortedMidCopy).toBe(true);
      expect(await snapshotEntries(tmp)).toEqual([]);

      // 2. While the snapshot streams out.
      const ac2 = new AbortController();
      const dump = await sqlite({ path: file }).dump({ signal: ac2.signal });
      expect(await snapshotEntries(tmp)).toHaveLength(1);
      let chunks = 0;
      const err = await failure(
        (async () => {
          for await (const _ of dump.stream) if (++chunks === 2) ac2.abort();
        })(),
      );
      expect(err.code).toBe('ABORTED');
      expect(chunks).toBe(2);
      expect(await snapshotEntries(tmp)).toEqual([]);

      // 3. Stopped early by the consumer, and never read at all.
      const d3 = await sqlite({ path: file }).dump();
      for await (const _ of d3.stream) break;
      const d4 = await sqlite({ path: file }).dump();
      await d4.stream[Symbol.asyncIterator]().return!();
      // 4. Aborted after dump() resolved but before anyone read the stream.
      const ac5 = new AbortController();
      const d5 = await sqlite({ path: file }).dump({ signal: ac5.signal });
      ac5.abort();
      // The abort itself starts the removal; a later read reports ABORTED once it is done.
      expect((await failure(d5.stream[Symbol.asyncIterator]().next())).code).toBe('ABORTED');
      expect(await snapshotEntries(tmp)).toEqual([]);
    });
  });
});

describe('sqlite restore', () => {
  async function dumpBytes(file: string): Promise<Buffer> {
    return collect((await sqlite({ path: file }).dump()).stream);
  }
  const besides = async (target: string) => (await fs.readdir(path.dirname(target))).filter((n) => n.includes('arca-'));

  it('a corrupted stored artifact fails (CHECKSUM_MISMATCH) and leaves the target unchanged', async () => {
    const dir = await tempDir();
    const db = path.join(dir, 'tickets.db');
    createDb(db, { fillerRows: 200 });
    const arca = createArca({
      destinations: { local: localDir({ path: path.join(dir, 'backups'), fsync: false }) },
      jobs: { daily: { sources: { db: sqlite({ path: db }) }, destinations: ['local'] } },
    });
    const run = await arca.run('daily');
    expect(run.status).toBe('completed');
    const stored = await findFile(path.join(dir, 'backups'), 'db.sqlite.gz');
    const original = await fs.readFile(stored);

    const target = path.join(dir, 'live', 'tickets.db');
    createDb(path.join(dir, 'other.db'));
    await fs.mkdir(path.dirname(target));
    await fs.copyFile(path.join(dir, 'other.db'), target);
    const before = await fs.readFile(target);
    const restoreWith = async (flipAt: number) => {
      const gz = Buffer.from(original);
      gz.writeUInt8(gz.readUInt8(flipAt) ^ 0xff, flipAt);
      await fs.writeFile(stored, gz);
      return failure(arca.restore('daily', run.backupId, { into: sqlite({ path: target }), overwrite: true }));
    };
    // A byte gunzip ignores (the gzip header's MTIME): only the sha256 check can catch it.
    expect((await restoreWith(5)).code).toBe('CHECKSUM_MISMATCH');
    // A byte in the deflate data: gunzip may notice first (CORRUPT_ARTIFACT) or the sha256 does.
    expect(['CHECKSUM_MISMATCH', 'CORRUPT_ARTIFACT']).toContain((await restoreWith(Math.floor(original.length / 2))).code);
    expect((await fs.readFile(target)).equals(before)).toBe(true);
    expect(await besides(target)).toEqual([]);
  });

  it('passes the input error through unchanged and removes the temp file', async () => {
    const dir = await tempDir();
    const db = path.join(dir, 'a.db');
    createDb(db);
    const bytes = await dumpBytes(db);
    const boom = new ArcaError('CHECKSUM_MISMATCH', 'test: bad bytes');
    async function* failing(): AsyncIterable<Bytes> {
      yield bytes.subarray(0, 4096);
      throw boom;
    }
    const target = path.join(dir, 'new.db');
    await expect(sqlite({ path: target }).restore!(failing())).rejects.toBe(boom);
    await expect(fs.stat(target)).rejects.toThrow();
    expect(await besides(target)).toEqual([]);
  });

  it('integrity_check failure and non-database input are CORRUPT_ARTIFACT; the target is untouched', async () => {
    const dir = await tempDir();
    const db = path.join(dir, 'a.db');
    createDb(db, { fillerRows: 300 });
    const good = await dumpBytes(db);
    const target = path.join(dir, 'live.db');
    await sqlite({ path: target }).restore!(bytesOf(good));
    const before = await fs.readFile(target);

    // Valid header, damaged b-tree pages in the middle of the file.
    const pageSize = good.readUInt16BE(16);
    const bad = Buffer.from(good);
    for (let p = 3; p < 8; p++) bad.fill(0x5a, p * pageSize + 8, p * pageSize + 200);
    const e1 = await failure(sqlite({ path: target }).restore!(bytesOf(bad), { overwrite: true }));
    expect(e1.code).toBe('CORRUPT_ARTIFACT');

    const e2 = await failure(sqlite({ path: target }).restore!(bytesOf(Buffer.from('not a database at all'.repeat(100))), { overwrite: true }));
    expect(e2.code).toBe('CORRUPT_ARTIFACT');
    expect(e2.message).toMatch(/not a SQLite database/);

    expect((await fs.readFile(target)).equals(before)).toBe(true);
    expect(await besides(target)).toEqual([]);
  });

  it('a folder as target is RESTORE_FAILED and nothing is read or written', async () => {
    const dir = await tempDir();
    let pulled = 0;
    async function* input(): AsyncIterable<Bytes> {
      pulled++;
      yield new Uint8Array(10);
    }
    const e = await failure(sqlite({ path: dir }).restore!(input(), { overwrite: true }));
    expect(e.code).toBe('RESTORE_FAILED');
    expect(e.message).toMatch(/is a folder/);
    expect(pulled).toBe(0);
    expect(await fs.readdir(dir)).toEqual([]);
  });

  it('abort while the input is stalled: ABORTED, temp removed, target untouched', async () => {
    const dir = await tempDir();
    const db = path.join(dir, 'a.db');
    createDb(db);
    const bytes = await dumpBytes(db);
    const ac = new AbortController();
    async function* stalled(): AsyncIterable<Bytes> {
      yield bytes.subarray(0, 8192);
      ac.abort();
      await new Promise(() => {}); // never delivers the rest
    }
    const target = path.join(dir, 'new.db');
    const e = await failure(sqlite({ path: target }).restore!(stalled(), { signal: ac.signal }));
    expect(e.code).toBe('ABORTED');
    await expect(fs.stat(target)).rejects.toThrow();
    expect(await besides(target)).toEqual([]);
  });

  it('overwrite removes a stale WAL of the old database so it cannot be replayed onto the new one', async () => {
    const dir = await tempDir();
    const source = path.join(dir, 'source.db');
    createDb(source, { wal: true, fillerRows: 50 });
    const expected = readContent(source);
    const bytes = await dumpBytes(source);

    // The old target has committed data that lives only in its WAL (as after a crash).
    const target = path.join(dir, 'live.db');
    createDb(target, { wal: true });
    const app = new Database(target);
    app.pragma('wal_autocheckpoint = 0');
    app.prepare('DELETE FROM notes').run();
    for (let i = 0; i < 50; i++) app.prepare("INSERT INTO notes (title) VALUES ('from the old wal')").run();
    const crashCopy = path.join(dir, 'crash');
    await fs.mkdir(crashCopy);
    for (const s of ['', '-wal']) await fs.copyFile(target + s, path.join(crashCopy, 'live.db' + s));
    app.close();
    await fs.rm(target);
    await fs.rm(target + '-wal', { force: true });
    await fs.rm(target + '-shm', { force: true });
    for (const s of ['', '-wal']) await fs.copyFile(path.join(crashCopy, 'live.db' + s), target + s);
    expect((await fs.stat(target + '-wal')).size).toBeGreaterThan(0);

    const refused = await failure(sqlite({ path: target }).restore!(bytesOf(bytes)));
    expect(refused.code).toBe('TARGET_NOT_EMPTY');
    await sqlite({ path: target }).restore!(bytesOf(bytes), { overwrite: true });
    // Opening the restored file would replay a leftover WAL: check the content first.
    expect(integrity(target)).toBe('ok');
    expect(readContent(target)).toEqual(expected);
    expect(await fs.readdir(dir)).not.toContain('live.db-journal');
    expect(await besides(target)).toEqual([]);
  });
});
