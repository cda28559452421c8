// Shared helpers for benchmarks: timing, child-process peak RSS, data generation.
import { execFileSync, spawnSync } from 'node:child_process';
import { appendFileSync, createWriteStream } from 'node:fs';
import { once } from 'node:events';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

export const benchDir = path.dirname(fileURLToPath(import.meta.url));
export const workDir = path.join(benchDir, '.work');

export async function freshDir(name) {
  const d = path.join(workDir, name);
  await fs.rm(d, { recursive: true, force: true });
  await fs.mkdir(d, { recursive: true });
  return d;
}

/** Time a shell pipeline (seconds). */
export function timeShell(cmd) {
  const t0 = process.hrtime.bigint();
  execFileSync('bash', ['-o', 'pipefail', '-c', cmd], { stdio: ['ignore', 'ignore', 'inherit'] });
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

/** Run a Node script in a child; it must print one JSON line. Returns { seconds, result, maxRssMiB }. */
export function timeNode(script, args = []) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, [script, ...args], { encoding: 'utf8', maxBuffer: 1 << 24 });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`${script} failed: ${r.stderr}`);
  const result = JSON.parse(r.stdout.trim().split('\n').pop());
  return { seconds, result, maxRssMiB: result.maxRssBytes / 2 ** 20 };
}

/** A folder of text-like (CSV/log) files and some incompressible "photos": `mib` MiB in total. */
export async function makeDataset(dir, mib) {
  const lines = [];
  let len = 0;
  for (let row = 0; len < 4 << 20; row++) {
    const l = `${row},ticket-${row % 9973},${(row * 2654435761) % 1000003},"customer ${row % 7919}",${row % 3 ? 'open' : 'closed'}\n`;
    lines.push(l);
    len += l.length;
  }
  const text = Buffer.from(lines.join(''));
  const photo = Buffer.alloc(4 << 20);
  let s = 1;
  for (let i = 0; i < photo.length; i += 4) {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    photo.writeUInt32LE(s, i);
  }
  const files = Math.max(1, Math.round(mib / 64));
  for (let f = 0; f < files; f++) {
    const isPhoto = f % 4 === 3; // a quarter of the data does not compress
    const out = createWriteStream(path.join(dir, isPhoto ? `photo-${f}.jpg` : `data-${f}.csv`));
    for (let w = 0; w < 64 << 20; w += 4 << 20) if (!out.write(isPhoto ? photo : text)) await once(out, 'drain');
    out.end();
    await once(out, 'finish');
  }
}

export function fmt(n, digits = 2) {
  return Number(n).toFixed(digits);
}

/**
 * One row of the `npm run bench` report: appends a JSON line to the file named by
 * ARCA_BENCH_REPORT (bench/run.mjs sets it; a no-op when a bench runs on its own).
 * `ratio` defaults to arca / raw (time: lower is better; pass it for throughput, where
 * higher is better). `goal` is printed next to the ratio: '≤ 1.05×', '≥ 1.00×' (compared
 * with the ratio) or '≤ 150 MiB', '< 200 ms' (compared with Arca's figure).
 */
export function report({ metric, arca, raw, unit, ratio, goal, rssMiB }) {
  const file = process.env.ARCA_BENCH_REPORT;
  if (!file) return;
  const r = ratio ?? (Number.isFinite(raw) && raw > 0 ? arca / raw : undefined);
  appendFileSync(file, JSON.stringify({ metric, arca, raw: raw ?? null, unit, ratio: r ?? null, goal: goal ?? '', rssMiB: rssMiB ?? null, bench: path.basename(process.argv[1] ?? '') }) + '\n');
}

/** A size from env `name`, else `full` (or `quick` under ARCA_BENCH_QUICK=1). */
export function benchSize(name, full, quick) {
  const v = process.env[name];
  if (v !== undefined && v !== '') return Number(v);
  return process.env.ARCA_BENCH_QUICK === '1' ? quick : full;
}
