#!/usr/bin/env node
// Codec throughput: Arca's gzip, zstd (levels 1/3/9; the zstd-napi binding and the `zstd`
// command, which zstd()'s 'auto' prefers) and age encrypt/decrypt, against the `gzip`, `zstd` and `age` commands on the
// same input file, in the same run (decode cases: both read the CLI's output). Ratio = Arca MiB/s ÷ CLI MiB/s (1.00 = as fast as the
// tool; > 1 faster). Arca's time excludes Node start-up (~0.1–0.5 s), the CLI's includes its own. Input: ARCA_BENCH_MIB MiB (default 1024), 3/4 CSV text, 1/4 random.
// Needs `npm run build` first (npm run bench does it) and the Debian packages zstd, age.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { benchDir, fmt, freshDir, makeDataset, report, timeNode, timeShell } from './lib.mjs';

const MIB = Number(process.env.ARCA_BENCH_MIB ?? 1024);
const work = await freshDir(`codecs-${process.pid}`); // per process: another run (a CI check, a second shell) must not delete our files
const parts = await freshDir(`codecs-parts-${process.pid}`);
await makeDataset(parts, MIB);
const input = path.join(work, 'input');
timeShell(`cat ${parts}/* > ${input}`);
await fs.rm(parts, { recursive: true, force: true });
const child = path.join(benchDir, 'codecs-child.mjs');
execFileSync('age-keygen', ['-o', path.join(work, 'key.txt')], { stdio: 'ignore' });
const recipient = /public key: (age1[0-9a-z]+)/.exec(await fs.readFile(path.join(work, 'key.txt'), 'utf8'))[1];
const key = path.join(work, 'key.txt');
const size = (f) => fs.stat(f).then((s) => s.size);

console.log(`input: ${MIB} MiB (3/4 CSV text, 1/4 random), file → codec → file (decode → discarded); load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')} (${os.cpus().length} CPUs)`);
// Under load, a single timing says more about the neighbours than about the code: with
// ARCA_BENCH_REPEAT=n each case runs n times, CLI and Arca alternating, and the best of each counts.
const REPEAT = Math.max(1, Number(process.env.ARCA_BENCH_REPEAT ?? 1));
// ARCA_BENCH_ONLY=<regex> runs only the matching cases (e.g. 'age|zstd -3').
const ONLY = process.env.ARCA_BENCH_ONLY ? new RegExp(process.env.ARCA_BENCH_ONLY) : undefined;
console.log(`best of ${REPEAT} run(s) per case`);
console.log('case                        | CLI MiB/s | Arca MiB/s | ratio | Arca peak RSS MiB | output MiB (CLI / Arca)');
async function row(label, cliCmd, cliOut, mode, spec, inFile, arcaOut) {
  if (ONLY && !ONLY.test(label)) {
    if (cliOut) timeShell(cliCmd); // a later decode case reads this output
    return;
  }
  let cli = Infinity;
  const arca = { seconds: Infinity, maxRssMiB: 0 };
  for (let i = 0; i < REPEAT; i++) {
    cli = Math.min(cli, timeShell(cliCmd));
    const run = timeNode(child, [mode, JSON.stringify(spec), inFile, arcaOut]);
    arca.seconds = Math.min(arca.seconds, run.result.seconds); // measured inside the child, without Node start-up
    arca.maxRssMiB = Math.max(arca.maxRssMiB, run.maxRssMiB);
  }
  const outs = arcaOut === '-' ? '' : `${fmt((await size(cliOut)) / 2 ** 20, 0)} / ${fmt((await size(arcaOut)) / 2 ** 20, 0)}`;
  if (label.startsWith('age')) report({ metric: `encryption: ${label} (vs age CLI)`, arca: MIB / arca.seconds, raw: MIB / cli, unit: 'MiB/s', ratio: cli / arca.seconds, goal: '≥ 1.00×', rssMiB: arca.maxRssMiB });
  console.log(
    `${label.padEnd(27)} | ${fmt(MIB / cli, 0).padStart(9)} | ${fmt(MIB / arca.seconds, 0).padStart(10)} | ${fmt(cli / arca.seconds).padStart(5)} | ${fmt(arca.maxRssMiB, 1).padStart(17)} | ${outs}`,
  );
}
const f = (n) => path.join(work, n);
await row('gzip -6 compress', `gzip -6 -c ${input} > ${f('cli.gz')}`, f('cli.gz'), 'encode', { codec: 'gzip', level: 6 }, input, f('arca.gz'));
await row('gzip decompress', `gzip -dc ${f('cli.gz')} > /dev/null`, '', 'decode', { codec: 'gzip' }, f('cli.gz'), '-');
for (const level of [1, 3, 9]) {
  await row(`zstd -${level} compress (napi)`, `zstd -q -T1 -${level} -c ${input} > ${f(`cli.${level}.zst`)}`, f(`cli.${level}.zst`), 'encode', { codec: 'zstd', level, implementation: 'native' }, input, f(`arca.${level}.zst`));
}
// `zstd -T1` is the CLI's default: one compression thread beside its I/O thread. The same for the binding is threads: 1.
await row('zstd -3 compress (napi -T1)', `zstd -q -T1 -3 -c ${input} > ${f('cli.3.zst')}`, f('cli.3.zst'), 'encode', { codec: 'zstd', level: 3, implementation: 'native', threads: 1 }, input, f('arca-t1.3.zst'));
for (const level of [1, 3]) {
  await row(`zstd -${level} compress (CLI impl)`, `zstd -q -T1 -${level} -c ${input} > ${f(`cli.${level}.zst`)}`, f(`cli.${level}.zst`), 'encode', { codec: 'zstd', level, implementation: 'cli' }, input, f(`arca-cli.${level}.zst`));
}
await row('zstd decompress (napi)', `zstd -q -dc ${f('cli.3.zst')} > /dev/null`, '', 'decode', { codec: 'zstd', implementation: 'native' }, f('cli.3.zst'), '-');
await row('zstd decompress (CLI impl)', `zstd -q -dc ${f('cli.3.zst')} > /dev/null`, '', 'decode', { codec: 'zstd', implementation: 'cli' }, f('cli.3.zst'), '-');
await row('age encrypt', `age -r ${recipient} -o ${f('cli.age')} ${input}`, f('cli.age'), 'encode', { codec: 'age', recipient }, input, f('arca.age'));
await row('age decrypt', `age -d -i ${key} ${f('cli.age')} > /dev/null`, '', 'decode', { codec: 'age', identityFile: key }, f('cli.age'), '-');
console.log(`load average at the end: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
await fs.rm(work, { recursive: true, force: true });
