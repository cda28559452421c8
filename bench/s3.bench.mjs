// Benchmark: upload of one large file to the same local S3 server (s3rver 3.7.1 in a child
// process) through the Arca S3 destination vs `aws s3 cp` (Debian awscli) and rclone when
// installed, in the same run. Prints seconds, MiB/s, peak RSS and the ratio Arca / tool
// (goal ≤ 1.0×). Not a test: numbers depend on the machine and on s3rver, which is the
// bottleneck here (it writes every byte through Koa + fs streams).
//
//   npm run build && node bench/s3.bench.mjs            # 1024 MiB, 2 rounds
//   ARCA_BENCH_S3_MIB=256 ARCA_BENCH_ROUNDS=1 node bench/s3.bench.mjs
//
// Arca reads the file with fs.createReadStream and puts it with its defaults (8 MiB parts,
// 4 in flight); aws s3 cp uses its defaults (8 MiB parts, 10 requests in flight); rclone
// its defaults (5 MiB chunks, 4 in flight). Each tool's peak RSS is its own process's
// (/usr/bin/time -f %M); Arca's is this process's peak RSS growth during the put.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, readFileSync } from 'node:fs';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { report } from './lib.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const distEntry = path.join(root, 'packages/dest-s3/dist/index.js');
if (!existsSync(distEntry)) {
  console.error('Build first: npm run build');
  process.exit(1);
}
const { s3 } = await import(distEntry);
const { S3Client, HeadObjectCommand, DeleteObjectCommand } = await import('@aws-sdk/client-s3');

const MiB = 1 << 20;
const size = Number(process.env.ARCA_BENCH_S3_MIB ?? 1024) * MiB;
const rounds = Number(process.env.ARCA_BENCH_ROUNDS ?? 2);
const bucket = 'arca-bench';
const creds = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };
// The aws CLI: Debian's, or whatever `aws` is on PATH (a pyenv shim is resolved to the real
// script so the timing does not include pyenv's bash start-up).
const AWS = existsSync('/usr/bin/aws')
  ? '/usr/bin/aws'
  : (spawnSync('sh', ['-c', 'pyenv which aws 2>/dev/null || command -v aws'], { encoding: 'utf8' }).stdout.trim().split('\n')[0] || '/usr/bin/aws');
const RCLONE = ['/usr/bin/rclone', '/usr/local/bin/rclone'].find((p) => existsSync(p));
const TIME = existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined;

const work = await mkdtemp(path.join(tmpdir(), 'arca-s3-bench-'));
const dataDir = path.join(work, 's3rver');
const file = path.join(work, 'payload.bin');

// Incompressible payload written once (random 1 MiB block repeated with a counter).
await new Promise((resolve, reject) => {
  const out = createWriteStream(file);
  const block = randomBytes(MiB);
  let written = 0;
  const write = () => {
    while (written < size) {
      block.writeUInt32LE(written / MiB, 0);
      written += MiB;
      if (!out.write(Buffer.from(block))) return out.once('drain', write);
    }
    out.end();
  };
  out.on('finish', resolve).on('error', reject);
  write();
});
// Flush it to disk now: otherwise the kernel writes the 1 GiB back during the first
// contender's run (always Arca), competing with s3rver's own writes.
{
  const fh = await open(file, 'r+');
  await fh.sync();
  await fh.close();
}

const child = spawn(process.execPath, ['--openssl-legacy-provider', path.join(root, 'packages/dest-s3/test/fixtures/s3rver-child.cjs'), dataDir, bucket], {
  stdio: ['pipe', 'pipe', 'inherit'],
  cwd: path.join(root, 'packages/dest-s3'),
});
const port = await new Promise((resolve, reject) => {
  createInterface({ input: child.stdout }).once('line', (l) => resolve(JSON.parse(l).port));
  child.once('exit', (c) => reject(new Error(`s3rver exited with ${c}`)));
});
const endpoint = `http://127.0.0.1:${port}`;
const client = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: creds, requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' });

/** CPU seconds (user + system) the s3rver child used so far, from /proc (NaN elsewhere). */
function serverCpu() {
  try {
    const f = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
  } catch {
    return NaN;
  }
}

async function storedSize(key) {
  const h = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
  await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key })); // keep the temp dir small
  return h.ContentLength;
}

function runTool(name, argv, env) {
  const cmd = TIME ? TIME : argv[0];
  const args = TIME ? ['-f', '%M', ...argv] : argv.slice(1);
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { env: { PATH: process.env.PATH, HOME: work, ...env }, encoding: 'utf8', maxBuffer: 1 << 26 });
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`${name} failed (${r.status}): ${r.stderr.slice(-2000)}`);
  const rssKiB = TIME ? Number(r.stderr.trim().split('\n').pop()) : NaN;
  return { secs, peakRssMiB: rssKiB / 1024 };
}

const awsEnv = {
  AWS_ACCESS_KEY_ID: creds.accessKeyId,
  AWS_SECRET_ACCESS_KEY: creds.secretAccessKey,
  AWS_DEFAULT_REGION: 'us-east-1',
  AWS_CONFIG_FILE: '/dev/null',
  AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
};
const rcloneEnv = {
  RCLONE_CONFIG_BENCH_TYPE: 's3',
  RCLONE_CONFIG_BENCH_PROVIDER: 'Other',
  RCLONE_CONFIG_BENCH_ENDPOINT: endpoint,
  RCLONE_CONFIG_BENCH_ACCESS_KEY_ID: creds.accessKeyId,
  RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY: creds.secretAccessKey,
  RCLONE_CONFIG_BENCH_REGION: 'us-east-1',
  RCLONE_CONFIG_BENCH_FORCE_PATH_STYLE: 'true',
  RCLONE_CONFIG: '/dev/null',
};

const contenders = {
  arca: async (key) => {
    const d = s3({ bucket, endpoint, forcePathStyle: true, credentials: creds });
    const start = process.memoryUsage().rss;
    let peak = start;
    const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
    const t0 = process.hrtime.bigint();
    try {
      const r = await d.put(key, createReadStream(file, { highWaterMark: 1 << 16 }));
      if (r.bytes !== size) throw new Error(`arca put ${r.bytes} bytes`);
    } finally {
      clearInterval(timer);
      d.close();
    }
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    return { secs, peakRssMiB: peak / MiB, growthMiB: (peak - start) / MiB };
  },
  'aws s3 cp': async (key) => runTool('aws', [AWS, '--endpoint-url', endpoint, 's3', 'cp', '--only-show-errors', file, `s3://${bucket}/${key}`], awsEnv),
  ...(RCLONE ? { rclone: async (key) => runTool('rclone', [RCLONE, 'copyto', '--s3-no-check-bucket', file, `bench:${bucket}/${key}`], rcloneEnv) } : {}),
};
if (!existsSync(AWS)) delete contenders['aws s3 cp'];

const results = Object.fromEntries(Object.keys(contenders).map((k) => [k, []]));
try {
  for (let round = 1; round <= rounds; round++) {
    for (const [name, fn] of Object.entries(contenders)) {
      const key = `bench/${name.replace(/\W+/g, '-')}-${round}`;
      const cpu0 = serverCpu();
      const r = await fn(key);
      r.serverCpu = serverCpu() - cpu0;
      const stored = await storedSize(key);
      if (stored !== size) throw new Error(`${name}: stored ${stored} bytes, expected ${size}`);
      results[name].push(r);
      console.log(`round ${round} ${name.padEnd(10)} ${r.secs.toFixed(2)} s  ${(size / MiB / r.secs).toFixed(1)} MiB/s  peak RSS ${r.peakRssMiB.toFixed(0)} MiB${r.growthMiB !== undefined ? ` (+${r.growthMiB.toFixed(0)} MiB during put)` : ''}  s3rver CPU ${r.serverCpu.toFixed(1)} s`);
    }
  }
  const best = (name) => Math.min(...results[name].map((r) => r.secs));
  console.log(`\nS3 upload of ${size / MiB} MiB to s3rver on 127.0.0.1, best of ${rounds} (load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}):`);
  for (const name of Object.keys(contenders)) {
    const ratio = name === 'arca' ? '' : `   arca/${name} = ${(best('arca') / best(name)).toFixed(2)}×`;
    console.log(`  ${name.padEnd(10)} ${best(name).toFixed(2)} s  ${(size / MiB / best(name)).toFixed(1)} MiB/s  peak RSS ${Math.max(...results[name].map((r) => r.peakRssMiB)).toFixed(0)} MiB${ratio}`);
    if (name !== 'arca') report({ metric: `S3 upload ${size / MiB} MiB (s3rver) vs ${name}`, arca: best('arca'), raw: best(name), unit: 's', goal: '≤ 1.05×', rssMiB: Math.max(...results.arca.map((r) => r.peakRssMiB)) });
  }
} finally {
  client.destroy();
  child.kill('SIGTERM');
  await new Promise((r) => (child.exitCode !== null ? r() : child.once('exit', r)));
  await rm(work, { recursive: true, force: true });
}
