#!/usr/bin/env node
// Listing a big catalog: `arca.list(job)` over a localDir holding ARCA_BENCH_LIST_N
// (default 10 000) backups, i.e. one directory listing plus N manifest reads and zod
// validations on the first call; later calls list again but read only manifests whose size or
// mtime changed (committed manifests are immutable). Goal < 200 ms.
// For scale it also times the raw equivalent, `find <job> -name manifest.json -exec cat`.
// The manifests are copies of one real manifest (a tiny directory backup made first) with
// their job/backupId rewritten, written straight to disk: generating 10 000 takes ~1 s.
// Needs `npm run build` (core's dist).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { benchSize, fmt, freshDir, report, timeShell } from './lib.mjs';

const { createArca, directory, localDir } = await import('../packages/core/dist/index.js');
const N = benchSize('ARCA_BENCH_LIST_N', 10_000, 10_000);
const ROUNDS = benchSize('ARCA_BENCH_LIST_ROUNDS', 3, 1);
const work = await freshDir('listing');
const src = path.join(work, 'src');
const dest = path.join(work, 'dest');
await fs.mkdir(src);
await fs.writeFile(path.join(src, 'a.txt'), 'hello\n');

const arca = createArca({
  destinations: { local: localDir({ path: dest }) },
  jobs: { bench: { sources: { files: directory({ path: src }) }, destinations: ['local'], compress: 'none' } },
});
const first = await arca.run('bench');
if (first.status !== 'completed') throw new Error(`seed backup ${first.status}: ${JSON.stringify(first.error)}`);
const manifest = JSON.parse(readFileSync(path.join(dest, 'bench', first.backupId, 'manifest.json'), 'utf8'));

const t0 = Date.now();
const base = Date.UTC(2024, 0, 1);
for (let i = 1; i < N; i++) {
  const at = new Date(base + i * 3_600_000); // one backup an hour
  const id = `${at.toISOString().slice(0, 23).replace(/[-:.]/g, '')}Z-${i.toString(16).padStart(6, '0')}`;
  const m = { ...manifest, backupId: id, runId: `bench-${i}`, startedAt: at.toISOString(), finishedAt: new Date(+at + 1000).toISOString() };
  mkdirSync(path.join(dest, 'bench', id));
  writeFileSync(path.join(dest, 'bench', id, 'manifest.json'), JSON.stringify(m, null, 2) + '\n');
}
console.log(`catalog: ${N.toLocaleString()} backups (manifests of ${readFileSync(path.join(dest, 'bench', first.backupId, 'manifest.json')).length} bytes) generated in ${fmt((Date.now() - t0) / 1000, 1)} s`);

const times = [];
for (let r = 0; r < ROUNDS; r++) {
  const t = process.hrtime.bigint();
  const list = await arca.list('bench');
  times.push(Number(process.hrtime.bigint() - t) / 1e6);
  if (list.length !== N) throw new Error(`arca.list returned ${list.length} backups, expected ${N}`);
  if (list[0].id < list[list.length - 1].id) throw new Error('arca.list is not newest first');
}
const raw = timeShell(`find ${path.join(dest, 'bench')} -name manifest.json -exec cat {} + > /dev/null`) * 1000;
const best = Math.min(...times);
const rss = process.resourceUsage().maxRSS / 1024;
console.log(`arca.list over ${N.toLocaleString()} backups: first ${fmt(times[0], 0)} ms, best of ${ROUNDS} ${fmt(best, 0)} ms (${times.map((t) => fmt(t, 0)).join(', ')}); find+cat of the manifests ${fmt(raw, 0)} ms; ratio ${fmt(best / raw)}; process peak RSS ${fmt(rss, 0)} MiB`);
report({ metric: `listing ${N.toLocaleString('en-US')} backups (arca.list, localDir; first call)`, arca: times[0], raw, unit: 'ms', goal: '< 200 ms', rssMiB: rss });
if (ROUNDS > 1) report({ metric: `listing ${N.toLocaleString('en-US')} backups (best of ${ROUNDS})`, arca: best, raw, unit: 'ms', goal: '< 200 ms' });
await fs.rm(work, { recursive: true, force: true });
