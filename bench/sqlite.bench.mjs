#!/usr/bin/env node
// SQLite backup to a local folder: Arca (online backup API into a temp file → stream →
// sha256 → localDir with fsync, no compression) vs the sqlite3 CLI's `.backup` (the same
// API, straight to the output file), and vs `.backup` to a temp file then `cp` to the
// destination (the same two copies Arca makes); same database, same run. Prints the ratios
// (Arca time / raw time) and Arca's peak RSS. Needs the sqlite3 CLI (Debian package
// sqlite3); skipped without it.
import { spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { benchDir, fmt, freshDir, report, timeNode, timeShell } from './lib.mjs';

const MIB = Number(process.env.ARCA_BENCH_MIB ?? 256);
if (spawnSync('sqlite3', ['-version']).status !== 0) {
  console.log('sqlite3 CLI not found (apt-get install sqlite3): skipping the SQLite bench');
  process.exit(0);
}
const Database = createRequire(import.meta.url)('better-sqlite3');
const work = await freshDir('sqlite');
const db = path.join(work, 'tickets.db');
const d = new Database(db);
d.pragma('journal_mode = WAL');
d.exec('CREATE TABLE tickets (id INTEGER PRIMARY KEY, title TEXT, body TEXT, status TEXT)');
const ins = d.prepare('INSERT INTO tickets (title, body, status) VALUES (?, ?, ?)');
const body = 'The printer on the second floor jams on every duplex job; tried a new tray. '.repeat(12);
const rows = Math.round((MIB * 2 ** 20) / 1000);
d.transaction(() => {
  for (let i = 0; i < rows; i++) ins.run(`ticket ${i}`, body + i, i % 3 ? 'open' : 'closed');
})();
d.close();

const size = statSync(db).size / 2 ** 20;
console.log(`database: ${fmt(size, 0)} MiB (WAL mode)`);
console.log('.backup s | .backup+cp s | arca snapshot s | arca s | ratio vs .backup | ratio vs .backup+cp | arca MiB/s | arca peak RSS MiB');
for (let i = 0; i < 2; i++) {
  const out = await freshDir('sqlite-out');
  const raw = timeShell(`sqlite3 ${db} ".backup ${out}/raw.db" && sync -f ${out}/raw.db`);
  const raw2 = timeShell(`sqlite3 ${db} ".backup ${out}/tmp.db" && cp ${out}/tmp.db ${out}/copy.db && sync -f ${out}/copy.db && rm ${out}/tmp.db`);
  const arca = timeNode(path.join(benchDir, 'sqlite-child.mjs'), [db, path.join(out, 'arca'), path.join(out, 'tmp')]);
  if (arca.result.status !== 'completed') throw new Error(JSON.stringify(arca.result));
  const snap = arca.result.meta.snapshotMs / 1000;
  if (i === 1) report({ metric: `SQLite ${fmt(size, 0)} MiB vs sqlite3 .backup + cp`, arca: arca.seconds, raw: raw2, unit: 's', goal: '≤ 1.05×', rssMiB: arca.maxRssMiB });
  console.log(
    [
      fmt(raw).padStart(9),
      fmt(raw2).padStart(12),
      fmt(snap).padStart(15),
      fmt(arca.seconds).padStart(6),
      fmt(arca.seconds / raw).padStart(16),
      fmt(arca.seconds / raw2).padStart(19),
      fmt(size / arca.seconds, 0).padStart(10),
      fmt(arca.maxRssMiB, 1).padStart(17),
    ].join(' | '),
  );
}
