#!/usr/bin/env node
// Upload throughput of the Arca FTP destination against rclone and curl to the same local
// pure-ftpd, same run (plain FTP, then explicit TLS for Arca and rclone). Prints MiB/s and
// the ratio (Arca time / tool time; <= 1.0 means Arca is as fast).
//
//   npm run build && node bench/ftp.bench.mjs          # 512 MiB
//   ARCA_BENCH_MB=1024 node bench/ftp.bench.mjs
//
// Needs root (system user, chroot) and Debian's pure-ftpd; rclone and curl when installed.
import { execFile, spawn } from 'node:child_process';
import { createReadStream, existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import { ftp } from '@arca/dest-ftp';
import { report } from './lib.mjs';

const run = promisify(execFile);
const MB = Number(process.env.ARCA_BENCH_MB ?? 512);
const USER = 'arca-ftp-bench';
const HOME = '/var/tmp/arca-ftp-bench-home';

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

const dir = await fs.mkdtemp(path.join(tmpdir(), 'arca-ftp-bench-'));
let server;
try {
  const password = `pw-${randomBytes(8).toString('hex')}`;
  await run('id', ['-u', USER]).catch(() => run('useradd', ['--system', '--no-create-home', '--home-dir', HOME, '--shell', '/bin/sh', USER]));
  const chp = spawn('chpasswd', [], { stdio: ['pipe', 'ignore', 'inherit'] });
  chp.stdin.end(`${USER}:${password}\n`);
  await new Promise((r) => chp.on('close', r));
  await fs.mkdir(HOME, { recursive: true });
  await run('chown', [`${USER}:`, HOME]);
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
    const t = process.hrtime.bigint();
    await fn();
    return Number(process.hrtime.bigint() - t) / 1e9;
  };
  const check = async (name) => {
    const st = await fs.stat(path.join(HOME, sub, name));
    if (st.size !== bytes) throw new Error(`${name}: ${st.size} bytes on the server, expected ${bytes}`);
    await fs.rm(path.join(HOME, sub, name));
  };
  const arcaPut = async (d, name) => {
    const ready = await d.check();
    if (!ready.ok) throw new Error(ready.problems.join('; '));
    const s = await time(() => d.put(name, createReadStream(input, { highWaterMark: 1 << 18 })));
    await d.close();
    await check(name);
    return s;
  };
  const base = { host: '127.0.0.1', port, user: USER, password, root: `/${sub}` };
  const results = [];
  const plain = await arcaPut(ftp(base), 'arca.bin');
  results.push(['arca ftp()', plain, 'plain']);
  const obscured = (await run('rclone', ['obscure', password]).catch(() => ({ stdout: '' }))).stdout.trim();
  const rclone = async (tls) => {
    const env = { ...process.env, RCLONE_CONFIG_F_TYPE: 'ftp', RCLONE_CONFIG_F_HOST: '127.0.0.1', RCLONE_CONFIG_F_PORT: String(port), RCLONE_CONFIG_F_USER: USER, RCLONE_CONFIG_F_PASS: obscured, RCLONE_CONFIG_F_EXPLICIT_TLS: String(tls), RCLONE_CONFIG_F_NO_CHECK_CERTIFICATE: 'true' };
    const s = await time(() => run('rclone', ['copyto', input, `f:/${sub}/rclone.bin`], { env }));
    await check('rclone.bin');
    return s;
  };
  if (existsSync('/usr/bin/rclone')) results.push(['rclone', await rclone(false), 'plain']);
  if (existsSync('/usr/bin/curl')) {
    const s = await time(() => run('curl', ['-sS', '-T', input, '--user', `${USER}:${password}`, `ftp://127.0.0.1:${port}/${sub}/curl.bin`]));
    await check('curl.bin');
    results.push(['curl -T', s, 'plain']);
  }
  const tlsArca = await arcaPut(ftp({ ...base, secure: true, tlsOptions: { ca: certPem } }), 'arca-tls.bin');
  results.push(['arca ftp()', tlsArca, 'tls']);
  if (existsSync('/usr/bin/rclone')) results.push(['rclone', await rclone(true), 'tls']);
  await fs.rm(path.join(HOME, sub), { recursive: true, force: true });

  console.log(`FTP upload of ${MB} MiB to a local pure-ftpd, same run`);
  for (const [name, s, mode] of results) {
    const arca = mode === 'tls' ? tlsArca : plain;
    const ratio = name.startsWith('arca') ? '' : `   arca/${name} = ${(arca / s).toFixed(2)}x`;
    console.log(`  ${`${name} (${mode})`.padEnd(20)} ${s.toFixed(2).padStart(7)} s  ${(MB / s).toFixed(1).padStart(7)} MiB/s${ratio}`);
    if (!name.startsWith('arca')) report({ metric: `FTP upload ${MB} MiB (pure-ftpd, ${mode}) vs ${name}`, arca, raw: s, unit: 's', goal: '≤ 1.05×' });
  }
} finally {
  server?.kill();
  await fs.rm(dir, { recursive: true, force: true });
}
