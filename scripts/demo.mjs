#!/usr/bin/env node
// `npm run demo`: the main job on an embedded default. Creates a demo SQLite database
// (tickets.db) and an uploads folder, backs both up to a local destination, lists the
// backup, verifies every byte, restores it into a new place and proves the restored data
// matches. Exits non-zero if anything does not match. Uses the built packages (npm run
// demo builds first).
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { createArca, directory, jsonlRunLog, localDir } from '../packages/core/dist/index.js';
import { sqlite } from '../packages/source-sqlite/dist/index.js';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '.demo');
const app = path.join(root, 'app');
const say = (s) => console.log(s);
const mib = (n) => `${(n / 2 ** 20).toFixed(2)} MiB`;

// 1. A small app: a SQLite database and an uploads folder.
await fs.rm(root, { recursive: true, force: true });
await fs.mkdir(path.join(app, 'static', 'uploads', 'tickets'), { recursive: true });
const db = new Database(path.join(app, 'tickets.db'));
db.pragma('journal_mode = WAL');
db.exec(`CREATE TABLE tickets (id INTEGER PRIMARY KEY, title TEXT NOT NULL, status TEXT NOT NULL, created_at TEXT NOT NULL)`);
const insert = db.prepare('INSERT INTO tickets (title, status, created_at) VALUES (?, ?, ?)');
db.transaction(() => {
  for (let i = 1; i <= 5000; i++) insert.run(`Printer on floor ${i % 7} is jammed (#${i})`, i % 5 ? 'open' : 'closed', new Date(Date.UTC(2026, 10, 1) + i * 60_000).toISOString());
})();
for (let i = 1; i <= 20; i++) {
  const bytes = Buffer.alloc(50_000 + i * 1000);
  for (let j = 0; j < bytes.length; j++) bytes[j] = (j * 31 + i * 7) & 0xff;
  await fs.writeFile(path.join(app, 'static', 'uploads', 'tickets', `photo-${i}.jpg`), bytes);
}
await fs.writeFile(path.join(app, 'static', 'uploads', 'README.txt'), 'Attachments uploaded by FIXIT users.\n');
say(`demo app: ${app}\n  tickets.db with 5000 tickets (WAL mode), static/uploads with 21 files`);

// 2. Arca, embedded as a host app would.
const arca = createArca({
  destinations: { local: localDir({ path: path.join(root, 'backups') }) },
  jobs: {
    daily: {
      sources: {
        db: sqlite({ path: path.join(app, 'tickets.db') }),
        uploads: directory({ path: path.join(app, 'static', 'uploads') }),
      },
      destinations: ['local'],
      schedule: 'daily@02:00',
    },
  },
  runLog: jsonlRunLog(path.join(root, 'backups', 'runs.jsonl')),
});

// 3. Back up while the app keeps writing.
const writer = setInterval(() => insert.run('written during the backup', 'open', new Date().toISOString()), 2);
const run = await arca.run('daily', { trigger: 'cli', actor: 'demo' });
clearInterval(writer);
say(`\nbackup ${run.backupId}: ${run.status} in ${run.durationMs} ms`);
for (const a of run.artifacts) say(`  ${a.file.padEnd(20)} ${mib(a.contentBytes)} → ${mib(a.bytes)} stored, sha256 ${a.sha256.slice(0, 16)}…`);
for (const d of run.destinations) say(`  destination ${d.name}: ${d.status}`);
if (run.status !== 'completed') throw new Error(`backup failed: ${run.error?.message}`);

// 4. List (rebuilt from the manifests on the destination).
say('\nbackups of job daily:');
for (const b of await arca.list('daily')) say(`  ${b.id}  ${mib(b.bytes).padStart(10)}  on ${b.destinations.join(', ')}  (${b.trigger.type} by ${b.trigger.actor})`);
say(`  next scheduled run: ${arca.nextRuns('daily', 1)[0]?.toISOString()}`);

// 5. Verify every byte.
const v = await arca.verify('daily', run.backupId, { level: 'checksum' });
say(`\nverify (checksum): ${v.ok ? 'ok' : 'FAILED'}`);
if (!v.ok) throw new Error('verification failed');

// 6. Restore into a new place.
const restored = path.join(root, 'restored');
await arca.restore('daily', run.backupId, {
  into: { db: sqlite({ path: path.join(restored, 'tickets.db') }), uploads: directory({ path: path.join(restored, 'uploads') }) },
});
say(`restored into ${restored}`);

// 7. Prove it matches: the snapshot's rows, and every uploaded file byte for byte.
const rdb = new Database(path.join(restored, 'tickets.db'), { readonly: true });
const integrity = rdb.pragma('integrity_check', { simple: true });
const restoredCount = rdb.prepare('SELECT count(*) AS n FROM tickets').get().n;
const firstRows = rdb.prepare('SELECT * FROM tickets WHERE id <= 5000 ORDER BY id').all();
const originalRows = db.prepare('SELECT * FROM tickets WHERE id <= 5000 ORDER BY id').all();
const rowsMatch = JSON.stringify(firstRows) === JSON.stringify(originalRows);
const contiguous = rdb.prepare('SELECT max(id) AS m FROM tickets').get().m === restoredCount;
rdb.close();
db.close();

async function hashes(dir) {
  const out = {};
  for (const e of await fs.readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!e.isFile()) continue;
    const full = path.join(e.parentPath ?? e.path, e.name);
    out[path.relative(dir, full)] = createHash('sha256').update(await fs.readFile(full)).digest('hex');
  }
  return out;
}
const a = await hashes(path.join(app, 'static', 'uploads'));
const b = await hashes(path.join(restored, 'uploads'));
const filesMatch = JSON.stringify(Object.entries(a).sort()) === JSON.stringify(Object.entries(b).sort());

say(`\ncheck restored data:`);
say(`  database integrity_check: ${integrity}`);
say(`  tickets restored: ${restoredCount} (5000 original + ${restoredCount - 5000} written during the backup, ids contiguous: ${contiguous})`);
say(`  original 5000 rows identical: ${rowsMatch}`);
say(`  uploads: ${Object.keys(b).length}/${Object.keys(a).length} files, byte-identical: ${filesMatch}`);
if (integrity !== 'ok' || !rowsMatch || !contiguous || !filesMatch) {
  console.error('\n✗ restored data does NOT match');
  process.exit(1);
}
say(`\n✓ restored data matches. Backups are in ${path.join(root, 'backups')}; by hand: tar -xzf uploads.tar.gz, gunzip db.sqlite.gz`);
