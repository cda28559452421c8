// The two adapters of this template, proven by Arca's contract suites (the same ones every
// built-in adapter passes), plus what is specific to each.
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { createArca, newBackupId, type Source } from '@arca/core';
import { collect, testDestination, testSource } from '@arca/core/test-kit';
import { datedFolders, dayOf } from './src/dated-folders.js';
import { tableJsonl } from './src/table-jsonl.js';

const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'arca-custom-adapter-'));
afterAll(() => fs.rm(tmp, { recursive: true, force: true }));
let seq = 0;
const fresh = (name: string) => path.join(tmp, `${name}-${++seq}`);

// ------------------------------------------------------------------ destination

testDestination('datedFolders', async () => ({ destination: datedFolders({ path: fresh('dated') }) }), { largeBytes: 16 << 20, listCount: 1100, timeoutMs: 60_000 });

describe('datedFolders layout', () => {
  it('stores a backup under the UTC day of its id, and lists it under its own key', async () => {
    const root = fresh('layout');
    const d = datedFolders({ path: root });
    const id = newBackupId(new Date('2026-11-25T23:30:00Z'));
    const key = `daily/${id}/db.sqlite.gz`;
    await d.put(key, (async function* () { yield Buffer.from('db'); })());
    expect(dayOf(key)).toBe('2026-11-25');
    expect(await fs.readFile(path.join(root, '2026-11-25', 'daily', id, 'db.sqlite.gz'), 'utf8')).toBe('db');
    const listed: string[] = [];
    for await (const o of d.list('daily/')) listed.push(o.key);
    expect(listed).toEqual([key]);
    await d.delete([key]);
    expect(await fs.readdir(root)).toEqual([]); // empty day folders go with the last object
  });
});

// ------------------------------------------------------------------ source

const TICKETS = `CREATE TABLE tickets (id INTEGER PRIMARY KEY, title TEXT NOT NULL, body TEXT, score REAL, big INTEGER, attachment BLOB, anything)`;

function seed(file: string, rows: number): void {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.exec(TICKETS);
  const ins = db.prepare('INSERT INTO tickets (title, body, score, big, attachment, anything) VALUES (?, ?, ?, ?, ?, ?)');
  db.transaction(() => {
    for (let i = 0; i < rows; i++) {
      ins.run(`Ticket ${i} — stampante «piano 2»`, i % 7 === 0 ? null : `line one\nline "two" ${'x'.repeat(i % 50)}`, i % 3 === 0 ? 1.0 : i / 8 + 0.1, 2n ** 60n + BigInt(i), i % 5 === 0 ? Buffer.from([0, 1, 2, i & 255]) : null, i % 2 ? 3 : 3.0);
    }
  })();
  db.close();
}

/** Every row with each value's SQLite type: equal only if the round trip lost nothing. */
function picture(file: string): unknown[] {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const cols = ['id', 'title', 'body', 'score', 'big', 'attachment', 'anything'];
    const sql = `SELECT ${cols.map((c) => `${c}, typeof(${c}) AS t_${c}`).join(', ')} FROM tickets ORDER BY id`;
    return db.prepare(sql).safeIntegers(true).all().map((r) => JSON.parse(JSON.stringify(r, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v))));
  } finally {
    db.close();
  }
}

const sourceFile = fresh('tickets') + '.db';
seed(sourceFile, 3000); // ~400 KiB of JSON: several chunks, so the mid-dump abort lands mid-dump
const pathOf = new Map<Source, string>();

testSource('tableJsonl', async () => ({
  source: tableJsonl({ path: sourceFile, table: 'tickets' }),
  async restoreTarget() {
    const file = fresh('restored') + '.db';
    const target = tableJsonl({ path: file, table: 'tickets' });
    pathOf.set(target, file);
    return target;
  },
  async assertRestored(target) {
    expect(picture(pathOf.get(target)!)).toEqual(picture(sourceFile));
  },
  snapshot: async (target) => picture(pathOf.get(target)!),
}));

describe('tableJsonl specifics', () => {
  it('writes a header line and one JSON object per row, types preserved', async () => {
    const dump = await tableJsonl({ path: sourceFile, table: 'tickets' }).dump();
    const text = (await collect(dump.stream)).toString('utf8');
    const [header, first] = text.split('\n').map((l) => (l ? JSON.parse(l) : undefined));
    expect(header).toMatchObject({ format: 'arca-table-jsonl/1', table: 'tickets', sql: TICKETS });
    expect(first).toMatchObject({ id: 1, big: { $int: String(2n ** 60n) }, score: { $real: '1' }, attachment: { $blob: 'AAECAA==' }, anything: { $real: '3' }, body: null });
    expect(await dump.meta()).toEqual({ table: 'tickets', columns: 7, rows: 3000 });
  });

  it('stops a dump with ABORTED when the signal fires after the first chunk', async () => {
    const ac = new AbortController();
    const dump = await tableJsonl({ path: sourceFile, table: 'tickets' }).dump({ signal: ac.signal });
    let chunks = 0;
    const err = await (async () => {
      for await (const _ of dump.stream) {
        chunks++;
        ac.abort();
      }
    })().then(() => undefined, (e: unknown) => e);
    expect(chunks).toBe(1);
    expect(err).toMatchObject({ code: 'ABORTED' });
  });

  it('reports a missing table as SOURCE_FAILED, a missing file as NOT_FOUND', async () => {
    await expect(tableJsonl({ path: sourceFile, table: 'nope' }).dump()).rejects.toMatchObject({ code: 'SOURCE_FAILED' });
    await expect(tableJsonl({ path: path.join(tmp, 'missing.db'), table: 'tickets' }).dump()).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect((await tableJsonl({ path: sourceFile, table: 'nope' }).check!()).ok).toBe(false);
  });

  it('refuses bad options with CONFIG_INVALID', () => {
    expect(() => tableJsonl({ path: sourceFile, table: 'x; DROP TABLE tickets' })).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
    expect(() => datedFolders({ path: '' })).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
  });
});

// ------------------------------------------------------------------ both, in a real Arca

describe('both adapters in createArca', () => {
  it('backs up the table into a day folder, verifies and restores it', async () => {
    const root = fresh('arca');
    const arca = createArca({
      destinations: { usb: datedFolders({ path: root }) },
      jobs: { tickets: { sources: { tickets: tableJsonl({ path: sourceFile, table: 'tickets' }) }, destinations: ['usb'], compress: 'zstd' } },
    });
    const run = await arca.run('tickets', { actor: 'test' });
    expect(run.status).toBe('completed');
    const day = dayOf(`tickets/${run.backupId}/x`);
    expect((await fs.readdir(path.join(root, day, 'tickets', run.backupId))).sort()).toEqual(['manifest.json', 'tickets.jsonl.zst']);
    expect((await arca.verify('tickets', run.backupId, { level: 'checksum' })).ok).toBe(true);
    const into = fresh('from-arca') + '.db';
    await arca.restore('tickets', run.backupId, { into: tableJsonl({ path: into, table: 'tickets' }) });
    expect(picture(into)).toEqual(picture(sourceFile));
  });
});
