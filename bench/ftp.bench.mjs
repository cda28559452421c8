#!/usr/bin/env node
// Upload throughput of the Arca FTP destination against rclone and curl to the same local
// pure-ftpd, same run (plain FTP, then explicit TLS for Arca and rclone). Prints MiB/s and
// the ratio (Arca time / tool time; <= 1.0 means Arca is as fast, the goal of issue #7).
//
//   npm run build -w @arca/dest-ftp && node bench/ftp.bench.mjs     # 1024 MiB, best of 3
//   ARCA_BENCH_MB=256 ARCA_BENCH_REPEAT=5 node bench/ftp.bench.mjs
//
// What each time includes (both sides pay for connecting, logging in and reading the file):
//  - arca: ftp(options) + put(key, readFileBytes(file)) + close(): TCP connect, login,
//    PWD, MKD/CWD of the folder, EPSV + STOR to a temp name, RNFR/RNTO, QUIT. The Node
//    process itself is already running (its start-up is not counted). readFileBytes is
//    Arca's file reader (what localDir's get returns, so `arca copy` from a local disk to
//    FTP reads this way): 1 MiB chunks, recycled once the data socket has sent them.
//  - rclone copyto / curl -T: the whole command: process start, connect, login, upload,
//    rclone's own checks after the upload, QUIT.
//  - "arca, data in memory": the same put, fed the 1 MiB block the file is made of (the same
//    bytes) instead of reading the file: the cost of the destination without the file reader.
// Rounds are interleaved (arca, rclone, curl, ..., then the next round) and the best of
// ARCA_BENCH_REPEAT rounds counts, so a burst of load from elsewhere hits one round, not one side.
// The input file and the server's folder are on tmpfs (/dev/shm) when there is room: the input
// is in memory for every contender and no disk writeback of the uploads competes with the next
// run. Otherwise they are on disk and the input is read once before every timed run.
//
// Needs root (system user, chroot) and Debian's pure-ftpd; rclone and curl when installed.
import { execFile, spawn } from 'node:child_process';
import { existsSync, statfsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import { readFileBytes } from '@arca/core';
import { ftp } from '@arca/dest-ftp';
import { benchSize, report } from './lib.mjs';

const run = promisify(execFile);
const MB = benchSize('ARCA_BENCH_MB', 1024, 32);
const REPEAT = Math.max(1, Number(process.env.ARCA_BENCH_REPEAT ?? 3));
const USER = 'arca-ftp-bench';
const shmFree = existsSync('/dev/shm') ? (() => { const st = statfsSync('/dev/shm'); return st.bavail * st.bsize; })() : 0;
const onShm = shmFree > (2 * MB + 512) * 2 ** 20; // the input + one upload at a time, with room to spare
const BASE = onShm ? '/dev/shm' : tmpdir();
const HOME = onShm ? '/dev/shm/arca-ftp-bench-home' : '/var/tmp/arca-ftp-bench-home';

if (process.getuid?.() !== 0 || !existsSync('/usr/sbin/pure-ftpd')) {
  console.error('ftp bench: needs root and /usr/sbin/pure-ftpd (apt-get install pure-ftpd)');
  process.exit(2);
}
const freePort = () =>
  new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

const dir = await fs.mkdtemp(path.join(BASE, 'arca-ftp-bench-'));
let server;
try {
  const password = `pw-${randomBytes(8).toString('hex')}`;
  await run('id', ['-u', USER]).catch(() => run('useradd', ['--system', '--no-create-home', '--home-dir', HOME, '--shell', '/bin/sh', USER]));
  const chp = spawn('chpasswd', [], { stdio: ['pipe', 'ignore', 'inherit'] });
  chp.stdin.end(`${USER}:${password}\n`);
  await new Promise((r) => chp.on('close', r));
  await fs.mkdir(HOME, { recursive: true });
  await run('chown', [`${USER}:`, HOME]);
  await run('usermod', ['-d', HOME, USER]); // pure-ftpd chroots into the home it reads from /etc/passwd
  const key = path.join(dir, 'key.pem');
  const cert = path.join(dir, 'cert.pem');
  await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1']);
  const certPem = await fs.readFile(cert, 'utf8');
  await fs.writeFile(path.join(dir, 'all.pem'), (await fs.readFile(key, 'utf8')) + certPem);
  const port = await freePort();
  server = spawn('/usr/sbin/pure-ftpd', ['-S', `127.0.0.1,${port}`, '-p', '39000:39099', '-P', '127.0.0.1', '-l', 'unix', '-A', '-E', '-H', '-Y', '1', '-2', path.join(dir, 'all.pem'), '-4'], { stdio: 'ignore' });
  for (let i = 0; ; i++) {
    const up = await new Promise((r) => {
      const s = connect({ host: '127.0.0.1', port }, () => (s.destroy(), r(true)));
      s.once('error', () => r(false));
    });
    if (up) break;
    if (i > 200) throw new Error('pure-ftpd did not start');
    await new Promise((r) => setTimeout(r, 50));
  }

  const input = path.join(dir, 'input.bin');
  const fh = await fs.open(input, 'w');
  const block = randomBytes(1 << 20);
  for (let i = 0; i < MB; i++) await fh.write(block);
  await fh.sync(); // on disk before timing: else its writeback competes with the first contender (Arca)
  await fh.close();
  const bytes = MB << 20;
  const sub = `b-${randomBytes(3).toString('hex')}`;
  await fs.mkdir(path.join(HOME, sub));
  await run('chown', [`${USER}:`, path.join(HOME, sub)]);
  const time = async (fn) => {
    if (!onShm) await run('sh', ['-c', 'cat "$1" > /dev/null', 'sh', input]); // in the page cache for every contender
    const t = process.hrtime.bigint();
    await fn();
    return Number(process.hrtime.bigint() - t) / 1e9;
  };
  const check = async (name) => {
    const st = await fs.stat(path.join(HOME, sub, name));
    if (st.size !== bytes) throw new Error(`${name}: ${st.size} bytes on the server, expected ${bytes}`);
    await fs.rm(path.join(HOME, sub, name));
  };
  const base = { host: '127.0.0.1', port, user: USER, password, root: `/${sub}` };
  // 1 MiB chunks: what the backup pipeline hands every destination (core's coalesce, COALESCE_BYTES).
  const fromFile = () => readFileBytes(input);
  const fromMemory = async function* () {
    for (let i = 0; i < MB; i++) yield block; // the very bytes of the file: same upload, no reads
  };
  const arca = async (opts, name, data) => {
    const s = await time(async () => {
      const d = ftp(opts);
      await d.put(name, data());
      await d.close();
    });
    await check(name);
    return s;
  };
  const obscured = (await run('rclone', ['obscure', password]).catch(() => ({ stdout: '' }))).stdout.trim();
  const rclone = async (tls) => {
    const env = { ...process.env, RCLONE_CONFIG_F_TYPE: 'ftp', RCLONE_CONFIG_F_HOST: '127.0.0.1', RCLONE_CONFIG_F_PORT: String(port), RCLONE_CONFIG_F_USER: USER, RCLONE_CONFIG_F_PASS: obscured, RCLONE_CONFIG_F_EXPLICIT_TLS: String(tls), RCLONE_CONFIG_F_NO_CHECK_CERTIFICATE: 'true' };
    const s = await time(() => run('rclone', ['copyto', input, `f:/${sub}/rclone.bin`], { env }));
    await check('rclone.bin'); // removed: rclone would skip the next round's copy of an identical file
    return s;
  };
  const curl = async () => {
    const s = await time(() => run('curl', ['-sS', '-T', input, '--user', `${USER}:${password}`, `ftp://127.0.0.1:${port}/${sub}/curl.bin`]));
    await check('curl.bin');
    return s;
  };
  const tls = { ...base, secure: true, tlsOptions: { ca: certPem } };
  const contenders = [
    ['arca ftp()', 'plain', () => arca(base, 'arca.bin', fromFile)],
    ...(existsSync('/usr/bin/rclone') ? [['rclone', 'plain', () => rclone(false)]] : []),
    ...(existsSync('/usr/bin/curl') ? [['curl -T', 'plain', curl]] : []),
    ['arca, data in memory', 'plain', () => arca(base, 'arca-mem.bin', fromMemory)],
    ['arca ftp()', 'tls', () => arca(tls, 'arca-tls.bin', fromFile)],
    ...(existsSync('/usr/bin/rclone') ? [['rclone', 'tls', () => rclone(true)]] : []),
  ];
  const best = contenders.map(() => Infinity);
  for (let r = 0; r < REPEAT; r++) {
    for (const [i, [, , fn]] of contenders.entries()) best[i] = Math.min(best[i], await fn());
  }
  const results = contenders.map(([name, mode], i) => [name, best[i], mode]);
  const arcaTime = (mode) => results.find(([n, , m]) => n === 'arca ftp()' && m === mode)[1];
  await fs.rm(path.join(HOME, sub), { recursive: true, force: true });

  console.log(`FTP upload of ${MB} MiB to a local pure-ftpd (${onShm ? 'tmpfs' : 'disk'}), best of ${REPEAT} interleaved rounds; load ${(await fs.readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).join(' ')}`);
  for (const [name, s, mode] of results) {
    const arca = arcaTime(mode);
    const rc = results.find(([n, , m]) => n === 'rclone' && m === mode)?.[1];
    const ratio = !name.startsWith('arca') ? `   arca/${name} = ${(arca / s).toFixed(2)}x` : name.includes('memory') && rc ? `   (vs rclone ${(s / rc).toFixed(2)}x)` : '';
    console.log(`  ${`${name} (${mode})`.padEnd(28)} ${s.toFixed(2).padStart(7)} s  ${(MB / s).toFixed(1).padStart(7)} MiB/s${ratio}`);
    if (!name.startsWith('arca')) report({ metric: `FTP upload ${MB} MiB (pure-ftpd, ${mode}) vs ${name}`, arca, raw: s, unit: 's', goal: '≤ 1.0×' });
    else if (name.includes('memory') && rc) report({ metric: `FTP upload ${MB} MiB (pure-ftpd, ${mode}), Arca fed from memory (no file reads) vs rclone`, arca: s, raw: rc, unit: 's' });
  }
} finally {
  server?.kill();
  await fs.rm(dir, { recursive: true, force: true });
}
