#!/usr/bin/env node
// Peak RSS of a big backup: a ARCA_BENCH_RSS_MIB (default 2048) MiB directory backed up with
// gzip -1 to localDir, in a child process whose peak RSS (getrusage maxRSS) is the figure
// (goal ≤ 150 MB: streaming, nothing buffers a whole artifact). For scale it also times
// `tar -c | gzip -1 > file` on the same data (ratio = Arca time / tar time).
// Needs `npm run build` (core's dist).
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { benchDir, benchSize, fmt, freshDir, makeDataset, report, timeNode, timeShell } from './lib.mjs';

const MIB = benchSize('ARCA_BENCH_RSS_MIB', 2048, 256);
const src = await freshDir('rss-src');
await makeDataset(src, MIB);
const out = await freshDir('rss-out');
try {
  const raw = timeShell(`tar -cf - -C ${src} . | gzip -1 > ${out}/raw.tar.gz && sync -f ${out}/raw.tar.gz`);
  await fs.rm(path.join(out, 'raw.tar.gz'));
  const arca = timeNode(path.join(benchDir, 'directory-child.mjs'), [src, path.join(out, 'arca'), '1']);
  if (arca.result.status !== 'completed') throw new Error(JSON.stringify(arca.result));
  console.log(`${MIB} MiB directory, gzip -1: arca ${fmt(arca.seconds)} s, peak RSS ${fmt(arca.maxRssMiB, 1)} MiB; tar|gzip -1 ${fmt(raw)} s; ratio ${fmt(arca.seconds / raw)}`);
  report({ metric: `peak RSS, ${fmt(MIB / 1024, 2)} GiB directory backup (gzip -1)`, arca: arca.maxRssMiB, raw: null, unit: 'MiB', goal: '≤ 150 MiB' });
  report({ metric: `${fmt(MIB / 1024, 2)} GiB directory backup vs tar | gzip -1`, arca: arca.seconds, raw, unit: 's', goal: '≤ 1.05×', rssMiB: arca.maxRssMiB });
} finally {
  await fs.rm(src, { recursive: true, force: true });
  await fs.rm(out, { recursive: true, force: true });
}
