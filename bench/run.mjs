#!/usr/bin/env node
// `npm run bench`: run every bench/*.bench.mjs (or those named on the command line) one
// after another, then print ONE table — metric, Arca's figure, the raw tool's figure
// measured in the same run, the ratio, the goal, peak RSS — and save it with a description
// of the machine as bench/RESULTS.md (ARCA_BENCH_RESULTS=<path> to write elsewhere, =- not
// at all). Each bench appends its rows through report() (bench/lib.mjs) to the file named by
// ARCA_BENCH_REPORT, which this script sets.
//
//   npm run bench                      # default sizes: ~15 min on 2 cores
//   ARCA_BENCH_QUICK=1 npm run bench   # small sizes: ~2–3 min, proves the benches work
//   node bench/run.mjs listing fanout  # only the benches whose file names contain these
//
// Sizes are the benches' own env vars (ARCA_BENCH_MIB, ARCA_BENCH_PG_SCALE, …); the ones
// below are this suite's defaults, and anything already set in the environment wins.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const QUICK = process.env.ARCA_BENCH_QUICK === '1';
// [full, quick] per bench file (by name fragment); applied only when the variable is unset.
const SIZES = {
  codecs: { ARCA_BENCH_MIB: [512, 64] },
  directory: { ARCA_BENCH_MIB: [512, 64] },
  sqlite: { ARCA_BENCH_MIB: [256, 32] },
  mysql: { ARCA_BENCH_MIB: [512, 32] },
  // ≈ 620 MiB database; only the backup variants the report and the restore cases use. Best of
  // 3 alternating rounds: one round of a ~5 s restore swings ±10 % on a shared 2-vCPU machine,
  // more than the 5 % the goals allow.
  postgres: { ARCA_BENCH_PG_SCALE: [25, 2], ARCA_BENCH_PG_EVENTS: [1_500_000, 100_000], ARCA_BENCH_PG_VARIANTS: ['restore', 'restore'], ARCA_BENCH_PG_ROUNDS: [3, 1] },
  s3: { ARCA_BENCH_S3_MIB: [512, 64], ARCA_BENCH_ROUNDS: [1, 1] },
  ftp: { ARCA_BENCH_MB: [1024, 32] }, // the issue's 1 GB upload
  sftp: { ARCA_BENCH_MB: [1024, 32] },
  fanout: { ARCA_BENCH_FANOUT_MIB: [512, 64] },
  'rss-2g': { ARCA_BENCH_RSS_MIB: [2048, 256] },
  listing: { ARCA_BENCH_LIST_N: [10_000, 10_000] },
};

const sh = (cmd) => {
  try {
    return execFileSync('bash', ['-c', cmd], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim().split('\n')[0];
  } catch {
    return 'not installed';
  }
};
const load = () => os.loadavg().map((l) => l.toFixed(2)).join(' ');

function machine() {
  const cpu = os.cpus()[0]?.model ?? 'unknown';
  return {
    date: new Date().toISOString(),
    cpus: `${sh('nproc')} (nproc) × ${cpu}`,
    memory: `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`,
    kernel: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    pg_dump: sh('pg_dump --version'),
    'mariadb-dump': sh('mariadb-dump --version'),
    aws: sh('aws --version 2>&1'),
    rclone: sh('rclone version'),
    age: sh('age --version'),
    zstd: sh('zstd --version'),
    gzip: sh('gzip --version'),
  };
}

async function runBench(file, env) {
  const t0 = Date.now();
  let log = '';
  const code = await new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(here, file)], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (c) => (process.stdout.write(c), (log += c)));
    child.stderr.on('data', (c) => (process.stderr.write(c), (log += c)));
    child.on('close', (c) => resolve(c ?? 1));
  });
  return { code, seconds: (Date.now() - t0) / 1000, log };
}

const num = (n, unit) => {
  if (n === null || n === undefined || !Number.isFinite(n)) return '—';
  const d = Math.abs(n) >= 100 ? 0 : Math.abs(n) >= 10 ? 1 : 2;
  return `${n.toFixed(d)} ${unit}`;
};

/** '≤ 1.05×' / '≥ 1.00×' compare the ratio; '≤ 150 MiB' / '< 200 ms' compare Arca's figure. */
function verdict(row) {
  const m = /^\s*(≤|<|≥|>)\s*([\d.]+)\s*(×|x)?/.exec(row.goal ?? '');
  if (!m) return '';
  const value = m[3] ? row.ratio : row.arca;
  if (value === null || value === undefined) return '';
  const g = Number(m[2]);
  const ok = m[1] === '≤' ? value <= g : m[1] === '<' ? value < g : m[1] === '≥' ? value >= g : value > g;
  return ok ? 'met' : 'MISSED';
}

function table(rows) {
  const head = ['metric', 'Arca', 'raw tool (same run)', 'ratio', 'goal', '', 'Arca peak RSS'];
  const body = rows.map((r) => [r.metric, num(r.arca, r.unit), num(r.raw, r.unit), r.ratio === null ? '—' : `${r.ratio.toFixed(2)}×`, r.goal, verdict(r), r.rssMiB === null ? '—' : `${r.rssMiB.toFixed(0)} MiB`]);
  return [head, head.map(() => '---'), ...body].map((cells) => `| ${cells.map((c) => String(c).replace(/\|/g, '\\|')).join(' | ')} |`).join('\n');
}

const wanted = process.argv.slice(2);
const files = readdirSync(here)
  .filter((f) => f.endsWith('.bench.mjs'))
  .filter((f) => !wanted.length || wanted.some((w) => f.includes(w)))
  .sort();
const workDir = path.join(here, '.work');
await fs.mkdir(workDir, { recursive: true });
const reportFile = path.join(workDir, 'report.jsonl');
await fs.rm(reportFile, { force: true });
const start = { ...machine(), load: load() };
const runs = [];
for (const f of files) {
  console.log(`\n=== ${f} ===`);
  const env = { ...process.env, ARCA_BENCH_REPORT: reportFile };
  for (const [frag, vars] of Object.entries(SIZES)) {
    if (f.replace('.bench.mjs', '') !== frag) continue;
    for (const [k, [full, quick]] of Object.entries(vars)) if (process.env[k] === undefined) env[k] = String(QUICK ? quick : full);
  }
  const r = await runBench(f, env);
  runs.push({ file: f, ...r });
  if (r.code !== 0) console.error(`${f} failed (exit ${r.code})`);
}
const endLoad = load();
const rows = existsSync(reportFile) ? readFileSync(reportFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)) : [];
const t = table(rows);
console.log(`\n${t}\n\nload average (1/5/15 min): ${start.load} at start, ${endLoad} at end`);
const failed = runs.filter((r) => r.code !== 0);
if (failed.length) console.error(`failed: ${failed.map((r) => r.file).join(', ')}`);

const out = process.env.ARCA_BENCH_RESULTS ?? path.join(here, 'RESULTS.md');
if (out !== '-') {
  const { load: startLoad, date, ...desc } = start;
  const md = [
    '# Arca benchmark results',
    '',
    `Written by \`${QUICK ? 'ARCA_BENCH_QUICK=1 ' : ''}npm run bench\`${wanted.length ? ` (only: ${wanted.join(', ')})` : ''} on ${date}.${QUICK ? ' **Quick mode: small sizes, the figures only prove the benches work.**' : ''}`,
    'Ratios are Arca ÷ the raw tool measured in the same run (time: lower is better; encryption throughput: higher is better).',
    '',
    '## Machine',
    '',
    ...Object.entries(desc).map(([k, v]) => `- ${k}: ${v}`),
    `- load average (1/5/15 min): ${startLoad} at start, ${endLoad} at end${Number(startLoad.split(' ')[0]) > 1 || Number(endLoad.split(' ')[0]) > 1 ? ' — **the machine was not idle: treat the figures as noisy**' : ''}`,
    '',
    '## Results',
    '',
    t,
    '',
    '## Benches',
    '',
    ...runs.map((r) => `- ${r.file}: ${r.code === 0 ? 'ok' : `FAILED (exit ${r.code})`}, ${r.seconds.toFixed(0)} s`),
    '',
    '<details><summary>Full output</summary>',
    '',
    ...runs.flatMap((r) => [`### ${r.file}`, '', '```', r.log.trimEnd(), '```', '']),
    '</details>',
    '',
  ].join('\n');
  writeFileSync(out, md);
  console.log(`written ${path.relative(process.cwd(), out)}`);
}
process.exit(failed.length ? 1 : 0);
