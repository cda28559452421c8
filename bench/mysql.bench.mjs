#!/usr/bin/env node
// MySQL/MariaDB backup: Arca (mariadb-dump streamed through the pipeline into localDir, with
// the dump scanner counting rows, sha256, fsync) vs the raw tool `mariadb-dump ... > file`
// and `mariadb-dump ... | gzip > file` (and zstd when available), same database, same run.
// Prints ratios (Arca time / raw time) and Arca's peak RSS. With ARCA_BENCH_RESTORE=1 it also
// times `mariadb db < file` vs Arca's restore (scratch database + RENAME swap).
// Needs MariaDB on 127.0.0.1:3306 (root, no password) and the client tools; skipped otherwise.
// Size: ARCA_BENCH_MIB (default 512) MiB of SQL, roughly.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import * as path from 'node:path';
import { benchDir, fmt, freshDir, report, timeNode, timeShell } from './lib.mjs';

const MIB = Number(process.env.ARCA_BENCH_MIB ?? 512);
const RESTORE = process.env.ARCA_BENCH_RESTORE === '1';
const CONN = '-h127.0.0.1 -P3306 -uroot';
const sql = (q) => {
  const r = spawnSync('mariadb', [...CONN.split(' '), '-N', '-e', q], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`mariadb -e failed: ${r.stderr}`);
  return r.stdout.trim();
};
if (spawnSync('mariadb-dump', ['--version']).status !== 0 || spawnSync('mariadb', [...CONN.split(' '), '-e', 'SELECT 1']).status !== 0) {
  console.log('MariaDB on 127.0.0.1:3306 or mariadb-dump not available: skipping the MySQL bench');
  process.exit(0);
}
const hasZstd = spawnSync('zstd', ['--version']).status === 0;
const db = `arcabench_${randomBytes(3).toString('hex')}`;
const restoreDbs = [];
const dropAll = () => {
  for (const d of [db, ...restoreDbs]) sql(`DROP DATABASE IF EXISTS \`${d}\``);
};
process.on('exit', () => {
  try {
    dropAll();
  } catch {}
});

// ~220 bytes of SQL per row (text, numbers, a datetime, a 32-byte binary as hex).
const rows = Math.round((MIB * 2 ** 20) / 220);
const t0 = Date.now();
sql(`CREATE DATABASE \`${db}\`; CREATE TABLE \`${db}\`.tracking (id INT PRIMARY KEY, shipment_id INT NOT NULL, carrier VARCHAR(20), place VARCHAR(40),
  note VARCHAR(120), seen_at DATETIME, payload VARBINARY(32)) ENGINE=InnoDB;
  CREATE TABLE \`${db}\`.orders (id INT PRIMARY KEY, customer VARCHAR(60), total DECIMAL(12,2)) ENGINE=InnoDB;
  USE \`${db}\`; INSERT INTO \`${db}\`.orders SELECT seq, CONCAT('customer ', seq % 997), seq * 0.37 FROM seq_1_to_100000;`);
for (let from = 1; from <= rows; from += 500_000) {
  const to = Math.min(rows, from + 499_999);
  sql(`USE \`${db}\`; INSERT INTO \`${db}\`.tracking SELECT seq, seq % 100000, ELT(1 + seq % 4, 'BRT', 'GLS', 'SDA', 'DHL'),
    ELT(1 + seq % 6, 'Milano hub', 'Bologna interporto', 'Roma Fiumicino', 'Napoli porto', 'Verona', 'Bari'),
    CONCAT('consegna ', seq, ' collo ', seq % 13, ' note: fragile, lato alto, chiamare prima (', seq % 977, ')'),
    '2026-01-01' + INTERVAL (seq % 5000000) SECOND, UNHEX(SHA2(seq, 256)) FROM seq_${from}_to_${to}`);
}
console.log(`generated ${rows.toLocaleString()} rows in ${fmt((Date.now() - t0) / 1000, 1)} s`);

const dumpCmd = `mariadb-dump ${CONN} --single-transaction --routines --triggers --events --hex-blob --quick --default-character-set=utf8mb4 --no-tablespaces ${db}`;
const variants = [
  { name: 'none', raw: (f) => `${dumpCmd} > ${f} && sync -f ${f}`, ext: '' },
  { name: 'gzip1', raw: (f) => `${dumpCmd} | gzip -1 > ${f} && sync -f ${f}`, ext: '.gz' },
  { name: 'gzip6', raw: (f) => `${dumpCmd} | gzip -6 > ${f} && sync -f ${f}`, ext: '.gz' },
  ...(hasZstd ? [{ name: 'zstd3', raw: (f) => `${dumpCmd} | zstd -q -3 > ${f} && sync -f ${f}`, ext: '.zst' }] : []),
];
console.log('codec | raw s | arca s | ratio | raw MiB | arca MiB | SQL MiB | arca MiB/s (SQL) | arca peak RSS MiB');
for (const v of variants) {
  const out = await freshDir('mysql-out');
  const rawFile = path.join(out, `raw.sql${v.ext}`);
  const raw = timeShell(v.raw(rawFile));
  const rawMiB = statSync(rawFile).size / 2 ** 20;
  const arca = timeNode(path.join(benchDir, 'mysql-child.mjs'), ['backup', db, path.join(out, 'arca'), v.name]);
  if (arca.result.status !== 'completed') throw new Error(JSON.stringify(arca.result));
  const sqlMiB = arca.result.contentBytes / 2 ** 20;
  console.log(
    [
      v.name.padEnd(5),
      fmt(raw).padStart(5),
      fmt(arca.seconds).padStart(6),
      fmt(arca.seconds / raw).padStart(5),
      fmt(rawMiB, 0).padStart(7),
      fmt(arca.result.bytes / 2 ** 20, 0).padStart(8),
      fmt(sqlMiB, 0).padStart(7),
      fmt(sqlMiB / arca.seconds, 0).padStart(16),
      fmt(arca.maxRssMiB, 1).padStart(17),
    ].join(' | '),
  );
  report({ metric: `MySQL backup ${fmt(sqlMiB, 0)} MiB SQL vs mariadb-dump${v.name === 'none' ? '' : ` | ${v.name.replace(/(\d)$/, ' -$1')}`}`, arca: arca.seconds, raw, unit: 's', goal: '≤ 1.05×', rssMiB: arca.maxRssMiB });
  if (v.name === 'gzip1' && RESTORE) {
    const a = `${db}_r1`;
    const b = `${db}_r2`;
    restoreDbs.push(a, b);
    sql(`CREATE DATABASE \`${a}\``);
    const rawRestore = timeShell(`gunzip -c ${rawFile} | mariadb ${CONN} ${a}`);
    const arcaRestore = timeNode(path.join(benchDir, 'mysql-child.mjs'), ['restore', db, path.join(out, 'arca'), 'gzip1', arca.result.backupId, b]);
    const same = sql(`CHECKSUM TABLE \`${a}\`.tracking, \`${b}\`.tracking`).split('\n').map((l) => l.split('\t')[1]);
    console.log(
      `restore (gzip1): raw gunzip|mariadb ${fmt(rawRestore)} s, arca ${fmt(arcaRestore.seconds)} s, ratio ${fmt(arcaRestore.seconds / rawRestore)}, arca peak RSS ${fmt(arcaRestore.maxRssMiB, 1)} MiB, checksums equal: ${same[0] === same[1]}`,
    );
  }
}
