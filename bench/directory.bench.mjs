#!/usr/bin/env node
// Directory backup to a local folder: Arca (tar-stream → gzip → sha256 ×2 → localDir with
// fsync) vs `tar -c | gzip > file`, same gzip level, same data, same run. Prints the
// ratio (Arca time / tar time; 1.00 = as fast as tar) and Arca's peak RSS.
import * as path from 'node:path';
import { benchDir, fmt, freshDir, makeDataset, report, timeNode, timeShell } from './lib.mjs';

const MIB = Number(process.env.ARCA_BENCH_MIB ?? 512);
const src = await freshDir('dir-src');
await makeDataset(src, MIB);
const out = await freshDir('dir-out');
const child = path.join(benchDir, 'directory-child.mjs');

console.log(`dataset: ${MIB} MiB (3/4 CSV text, 1/4 random "photos")`);
console.log('level | tar|gzip s | arca s | ratio | arca MiB/s | arca peak RSS MiB');
for (const level of [1, 6]) {
  const raw = timeShell(`tar -cf - -C ${src} . | gzip -${level} > ${out}/raw-${level}.tar.gz`);
  const arca = timeNode(child, [src, path.join(out, `arca-${level}`), String(level)]);
  if (arca.result.status !== 'completed') throw new Error(JSON.stringify(arca.result));
  report({ metric: `directory ${MIB} MiB vs tar | gzip -${level}`, arca: arca.seconds, raw, unit: 's', goal: '≤ 1.05×', rssMiB: arca.maxRssMiB });
  console.log(`${String(level).padStart(5)} | ${fmt(raw).padStart(9)} | ${fmt(arca.seconds).padStart(6)} | ${fmt(arca.seconds / raw).padStart(5)} | ${fmt(MIB / arca.seconds, 0).padStart(10)} | ${fmt(arca.maxRssMiB, 1).padStart(17)}`);
}
