#!/usr/bin/env node
// PostgreSQL backup and restore: Arca (pg_dump -Fc streamed through the pipeline into
// localDir: exported snapshot + row counts, codec, sha256, fsync) vs the raw tool
// `pg_dump -Fc -f file` on the same database in the same run, for several ways of
// compressing: pg_dump's own zlib (-Z) vs Arca's codec (gzip 1/6, zstd 3) vs none.
// Restore: `createdb && pg_restore -d db file` (a file written by `pg_dump -Fc -f`) vs Arca's
// restore into a new database (verify sha256, decode, then jobs=1: stream into
// `pg_restore --single-transaction` on a scratch database; jobs>1: spool, patch the data
// offsets into the TOC, `pg_restore --jobs`; rename into place). For context it also times
// pg_restore of the same dump written to a pipe (no data offsets: what --jobs suffers from).
// The goal rows are the default configuration, what users get: postgres() dumps with -Z0 and
// the job compresses with gzip level 6 (multi-threaded), restored with jobs = 1. Other rows
// are information (goal "info").
// ARCA_BENCH_PG_VARIANTS: 'all' backup variants (default), 'restore' (only those the restore
// cases need; the ARCA_BENCH_QUICK default), 'default' (Z0 + gzip6 and its 1-thread twin), or a
// comma-separated list of variant names ('Z0 + gzip6,Z6 + none').
// ARCA_BENCH_PG_ROUNDS=n alternates raw and Arca n times (backups and restores) and keeps the
// best of each (default 1; `npm run bench` sets 3). ARCA_BENCH_PG_RESTORE=0 skips the restores;
// =default runs only the jobs=1 default one.
// Prints ratios (Arca time / raw time; 1.00 = as fast) and Arca's peak RSS.
// Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust), pg_dump/pg_restore/pgbench and
// `npm run build`. Size: ARCA_BENCH_PG_SCALE (pgbench scale, default 25 ≈ 375 MB) plus
// ARCA_BENCH_PG_EVENTS rows (default 1.5 M ≈ 200 MB) of less compressible text.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import { loadavg } from 'node:os';
import * as path from 'node:path';
import { benchDir, fmt, freshDir, report, timeNode, timeShell } from './lib.mjs';

const SCALE = Number(process.env.ARCA_BENCH_PG_SCALE ?? 25);
const EVENTS = Number(process.env.ARCA_BENCH_PG_EVENTS ?? 1_500_000);
// 'all' backup variants, or only those the restore cases need ('restore'; the ARCA_BENCH_QUICK default).
const VARIANTS = process.env.ARCA_BENCH_PG_VARIANTS ?? (process.env.ARCA_BENCH_QUICK === '1' ? 'restore' : 'all');
// Restore rounds: raw and Arca alternate, the best of each is kept (the machine may be shared).
const ROUNDS = Number(process.env.ARCA_BENCH_PG_ROUNDS ?? 1);
const RESTORE = process.env.ARCA_BENCH_PG_RESTORE ?? 'all';
const CONN = '-h 127.0.0.1 -p 5432 -U postgres';
const psql = (db, q) => {
  const r = spawnSync('psql', [...CONN.split(' '), '-d', db, '-v', 'ON_ERROR_STOP=1', '-Atqc', q], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`psql failed: ${r.stderr}`);
  return r.stdout.trim();
};
if (spawnSync('pg_dump', ['--version']).status !== 0 || spawnSync('psql', [...CONN.split(' '), '-d', 'postgres', '-c', 'SELECT 1']).status !== 0) {
  console.log('PostgreSQL on 127.0.0.1:5432 or pg_dump not available: skipping the PostgreSQL bench');
  process.exit(0);
}
const hasZstd = spawnSync('zstd', ['--version']).status === 0;
const db = `arcabench_pg_${randomBytes(3).toString('hex')}`;
const extraDbs = [];
process.on('exit', () => {
  for (const d of [db, ...extraDbs]) spawnSync('psql', [...CONN.split(' '), '-d', 'postgres', '-qc', `DROP DATABASE IF EXISTS "${d}" WITH (FORCE)`]);
});

let t0 = Date.now();
psql('postgres', `CREATE DATABASE "${db}"`);
timeShell(`pgbench -i -q -s ${SCALE} ${CONN} ${db} 2>/dev/null`);
psql(db, `CREATE TABLE events AS SELECT i AS id, now() - (i || ' s')::interval AS at, md5(i::text) AS token,
  jsonb_build_object('user', i % 9973, 'kind', (ARRAY['view','click','buy','refund'])[1 + i % 4], 'sid', md5((i * 31)::text)) AS payload
  FROM generate_series(1, ${EVENTS}) i`);
psql(db, 'VACUUM ANALYZE');
const dbBytes = Number(psql(db, 'SELECT pg_database_size(current_database())'));
console.log(`generated pgbench scale ${SCALE} + ${EVENTS.toLocaleString()} events: database ${fmt(dbBytes / 2 ** 20, 0)} MiB in ${fmt((Date.now() - t0) / 1000, 1)} s`);

// Raw pg_dump runs, one per compression level used below.
const out = await freshDir('postgres-out');
const raw = {};
const rawDump = (z) => {
  const f = path.join(out, `raw-z${z}.pgdump`);
  const s = timeShell(`pg_dump ${CONN} -Fc -Z ${z} -f ${f} ${db} && sync -f ${f}`);
  raw[z] = { s: Math.min(s, raw[z]?.s ?? Infinity), mib: statSync(f).size / 2 ** 20, file: f };
  return s;
};
for (const z of [0, 1, 6]) rawDump(z);
console.log(`raw pg_dump -Fc: -Z0 ${fmt(raw[0].s)} s (${fmt(raw[0].mib, 0)} MiB), -Z1 ${fmt(raw[1].s)} s (${fmt(raw[1].mib, 0)} MiB), -Z6 (the -Fc default) ${fmt(raw[6].s)} s (${fmt(raw[6].mib, 0)} MiB)`);

const variants = [
  { name: 'Z0 + none', z: 0, codec: 'none', vs: 0 },
  { name: 'Z0 + none, no counts', z: 0, codec: 'none', vs: 0, nocounts: true },
  { name: 'Z6 + none', z: 6, codec: 'none', vs: 6 },
  { name: 'Z1 + none', z: 1, codec: 'none', vs: 1 },
  { name: 'Z0 + gzip6', z: 0, codec: 'gzip6', vs: 6, goal: true },
  { name: 'Z0 + gzip6 1 thread', z: 0, codec: 'gzip6t1', vs: 6 },
  { name: 'Z0 + gzip1', z: 0, codec: 'gzip1', vs: 6 },
  ...(hasZstd ? [{ name: 'Z0 + zstd3', z: 0, codec: 'zstd3', vs: 6 }] : []),
].filter((v) => {
  if (VARIANTS === 'all') return true;
  if (VARIANTS === 'restore') return ['Z0 + none', 'Z6 + none', 'Z0 + gzip6', 'Z0 + gzip1'].includes(v.name);
  if (VARIANTS === 'default') return v.name.startsWith('Z0 + gzip6');
  return VARIANTS.split(',').map((x) => x.trim()).includes(v.name);
});
console.log('\nArca backup          | vs raw | raw s | arca s | ratio | stored MiB | arca MiB/s (dump) | arca peak RSS MiB');
const backups = {};
for (const v of variants) {
  const dest = path.join(out, `arca-${v.z}-${v.codec}${v.nocounts ? '-nc' : ''}`);
  let arca = { seconds: Infinity };
  const r = raw[v.vs];
  for (let round = 0; round < ROUNDS; round++) {
    // Rounds after the first alternate the raw dump (same level) and Arca; the best of each is kept.
    if (round % 2 === 1) r.s = Math.min(r.s, rawDump(v.vs));
    const a = timeNode(path.join(benchDir, 'postgres-child.mjs'), ['backup', db, dest, String(v.z), v.codec, ...(v.nocounts ? ['-', '-', '-', 'nocounts'] : [])]);
    if (a.result.status !== 'completed') throw new Error(JSON.stringify(a.result));
    if (a.seconds < arca.seconds) arca = a;
    if (round % 2 === 0 && round > 0) r.s = Math.min(r.s, rawDump(v.vs));
  }
  backups[v.name] ??= { dest, ...arca.result, z: v.z, codec: v.codec };
  report({ metric: `PG backup ${fmt(dbBytes / 2 ** 20, 0)} MiB db (${v.name}${v.goal ? ', the default' : ''}) vs pg_dump -Fc -Z${v.vs} -f`, arca: arca.seconds, raw: r.s, unit: 's', goal: v.goal ? '≤ 1.05×' : 'info', rssMiB: arca.maxRssMiB });
  console.log(
    [
      v.name.padEnd(20).slice(0, 20),
      `-Z${v.vs}`.padStart(6),
      fmt(r.s).padStart(5),
      fmt(arca.seconds).padStart(6),
      fmt(arca.seconds / r.s).padStart(5),
      fmt(arca.result.bytes / 2 ** 20, 0).padStart(10),
      fmt(arca.result.contentBytes / 2 ** 20 / arca.seconds, 0).padStart(17),
      fmt(arca.maxRssMiB, 0).padStart(17),
    ].join(' | '),
  );
}

// What pg_restore --jobs costs on an archive pg_dump wrote to a pipe (no data offsets in its
// TOC), as Arca's artifacts are: for context, not a ratio.
console.log(`\nrestore (best of ${ROUNDS})     | raw pg_restore s | arca s | ratio | arca peak RSS MiB | raw pg_restore of the same dump written to a pipe s`);
const restoreCases = [
  { from: 'Z6 + none', jobs: 1, z: 6 },
  { from: 'Z0 + gzip6', jobs: 1, z: 6, goal: true },
  { from: 'Z0 + gzip6', jobs: 2, z: 6 },
  { from: 'Z0 + none', jobs: 2, z: 0 },
].filter((c) => backups[c.from] && (RESTORE === 'all' || (RESTORE === 'default' && c.goal)));
for (const z of new Set(restoreCases.map((c) => c.z))) {
  raw[z].piped = path.join(out, `piped-z${z}.pgdump`);
  timeShell(`pg_dump ${CONN} -Fc -Z ${z} ${db} | cat > ${raw[z].piped}`);
}
// Every timed restore starts from a settled server: the previous restore's dirty pages and the
// DROP of its database are written out first (CHECKPOINT, sync), so no run pays for the
// writeback of the one before it (raw's first round used to be the only one that did not).
const settle = () => {
  psql('postgres', 'CHECKPOINT');
  spawnSync('sync');
};
const rawRestore = (file, jobs) => {
  const rawDb = `${db}_raw_${jobs}`;
  extraDbs.push(rawDb);
  psql('postgres', `DROP DATABASE IF EXISTS "${rawDb}" WITH (FORCE)`);
  settle();
  const s = timeShell(`createdb ${CONN} -T template0 ${rawDb} && pg_restore ${CONN} --exit-on-error ${jobs > 1 ? `--jobs=${jobs}` : '--single-transaction'} -d ${rawDb} ${file}`);
  psql('postgres', `DROP DATABASE IF EXISTS "${rawDb}" WITH (FORCE)`);
  return s;
};
for (const c of restoreCases) {
  const b = backups[c.from];
  if (!b) continue;
  let rawS = Infinity;
  let arca = { seconds: Infinity };
  for (let round = 0; round < ROUNDS; round++) {
    const arcaDb = `${db}_arca_${c.jobs}_${randomBytes(2).toString('hex')}`;
    extraDbs.push(arcaDb);
    const runRaw = () => (rawS = Math.min(rawS, rawRestore(raw[c.z].file, c.jobs)));
    if (round % 2 === 0) runRaw();
    settle();
    const a = timeNode(path.join(benchDir, 'postgres-child.mjs'), ['restore', db, b.dest, String(b.z), b.codec, b.backupId, arcaDb, String(c.jobs)]);
    if (a.seconds < arca.seconds) arca = a;
    if (round % 2 === 1) runRaw();
    const check = psql(arcaDb, 'SELECT count(*) FROM pgbench_accounts') === String(SCALE * 100000);
    if (!check) throw new Error(`restored ${arcaDb} has the wrong pgbench_accounts count`);
    psql('postgres', `DROP DATABASE IF EXISTS "${arcaDb}" WITH (FORCE)`);
  }
  const pipedS = rawRestore(raw[c.z].piped, c.jobs);
  report({ metric: `PG restore (${c.from}, jobs=${c.jobs}${c.goal ? ', the default' : ''}) vs createdb + pg_restore ${c.jobs > 1 ? `-j${c.jobs}` : '-1'} of a pg_dump -Fc -Z${c.z} -f file`, arca: arca.seconds, raw: rawS, unit: 's', goal: c.goal ? '≤ 1.05×' : 'info', rssMiB: arca.maxRssMiB });
  console.log(
    [`${c.from} jobs=${c.jobs}`.padEnd(23), fmt(rawS).padStart(16), fmt(arca.seconds).padStart(6), fmt(arca.seconds / rawS).padStart(5), fmt(arca.maxRssMiB, 0).padStart(17), fmt(pipedS).padStart(5)].join(' | '),
  );
}
console.log(`load average: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
await freshDir('postgres-out');
