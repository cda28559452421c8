#!/usr/bin/env node
// Fan-out: one directory backup (gzip -1) sent to three destinations at once — localDir on
// disk, localDir on /dev/shm and S3 (s3rver in a child process) — against the same backup
// sent to each destination alone, same data, same run. Ratio = fan-out time / slowest
// single-destination time (goal ≤ 1.2×: the artifact is produced once and teed, so the
// fan-out should cost about as much as its slowest destination). Times are measured inside
// the child (no Node start-up). Size: ARCA_BENCH_FANOUT_MIB (default 512).
// Needs `npm run build` (core and dest-s3 dist).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { benchDir, benchSize, fmt, freshDir, makeDataset, report, timeNode } from './lib.mjs';

const MIB = benchSize('ARCA_BENCH_FANOUT_MIB', 512, 64);
const root = path.join(benchDir, '..');
const src = await freshDir('fanout-src');
await makeDataset(src, MIB);
const work = await freshDir('fanout-out');
const shmRoot = existsSync('/dev/shm') ? await fs.mkdtemp('/dev/shm/arca-fanout-') : path.join(work, 'shm');
const bucket = 'arca-bench';
const s3rver = spawn(process.execPath, ['--openssl-legacy-provider', path.join(root, 'packages/dest-s3/test/fixtures/s3rver-child.cjs'), path.join(work, 's3rver'), bucket], {
  stdio: ['pipe', 'pipe', 'inherit'],
  cwd: path.join(root, 'packages/dest-s3'),
});
try {
  const port = await new Promise((resolve, reject) => {
    createInterface({ input: s3rver.stdout }).once('line', (l) => resolve(JSON.parse(l).port));
    s3rver.once('exit', (c) => reject(new Error(`s3rver exited with ${c}`)));
  });
  const child = path.join(benchDir, 'fanout-child.mjs');
  const run = async (names) => {
    const where = { disk: path.join(work, 'disk'), shm: shmRoot, s3Endpoint: `http://127.0.0.1:${port}`, bucket };
    await fs.rm(where.disk, { recursive: true, force: true });
    await fs.rm(shmRoot, { recursive: true, force: true });
    const r = timeNode(child, [src, JSON.stringify(where), names.join(','), '1']);
    if (r.result.status !== 'completed') throw new Error(`${names}: ${JSON.stringify(r.result)}`);
    return { seconds: r.result.seconds, rss: r.maxRssMiB, bytes: r.result.bytes };
  };
  console.log(`dataset: ${MIB} MiB (3/4 CSV text, 1/4 random), gzip -1`);
  const single = {};
  for (const d of ['disk', 'shm', 's3']) {
    single[d] = await run([d]);
    console.log(`  single ${d.padEnd(4)} ${fmt(single[d].seconds).padStart(7)} s  peak RSS ${fmt(single[d].rss, 0)} MiB`);
  }
  const fan = await run(['disk', 'shm', 's3']);
  const [slowName, slow] = Object.entries(single).sort((a, b) => b[1].seconds - a[1].seconds)[0];
  console.log(`  fan-out to 3  ${fmt(fan.seconds).padStart(6)} s  peak RSS ${fmt(fan.rss, 0)} MiB; slowest single (${slowName}) ${fmt(slow.seconds)} s; ratio ${fmt(fan.seconds / slow.seconds)}`);
  report({ metric: `fan-out to 3 destinations (disk, shm, s3rver) vs slowest single (${slowName}), ${MIB} MiB`, arca: fan.seconds, raw: slow.seconds, unit: 's', goal: '≤ 1.2×', rssMiB: fan.rss });
} finally {
  s3rver.kill('SIGTERM');
  await fs.rm(shmRoot, { recursive: true, force: true });
  await fs.rm(src, { recursive: true, force: true });
  await fs.rm(work, { recursive: true, force: true });
}
