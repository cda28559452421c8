#!/usr/bin/env node
// Upload throughput of the Arca SFTP destination against OpenSSH's own clients (scp,
// `sftp -b`) and rclone, all to the same local sshd in the same run. Prints MB/s, the ratio
// (Arca time / tool time; <= 1.0 means Arca is as fast) and Arca's peak RSS growth.
//
//   npm run build && node bench/sftp.bench.mjs            # 512 MiB, best of 3 interleaved rounds
//   ARCA_BENCH_MB=1024 ARCA_BENCH_REPEAT=5 node bench/sftp.bench.mjs
//
// Needs root (it creates a system user for sshd) and Debian's openssh-server; rclone is
// measured when installed. Traffic stays on 127.0.0.1.
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import { readFileBytes } from '@arca/core';
import { sftp } from '@arca/dest-sftp';
import { report } from './lib.mjs';

const run = promisify(execFile);
const MB = Number(process.env.ARCA_BENCH_MB ?? 512);
const REPEAT = Math.max(1, Number(process.env.ARCA_BENCH_REPEAT ?? 3));
const USER = 'arca-sftp-bench';
const HOME = '/var/tmp/arca-sftp-bench-home';

if (process.getuid?.() !== 0 || !existsSync('/usr/sbin/sshd')) {
  console.error('sftp bench: needs root and /usr/sbin/sshd (apt-get install openssh-server)');
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

const dir = await fs.mkdtemp(path.join(tmpdir(), 'arca-sftp-bench-'));
let sshd;
try {
  // --- sshd with its own host key and a key-authorized user
  await run('id', ['-u', USER]).catch(() => run('useradd', ['--system', '--no-create-home', '--home-dir', HOME, '--shell', '/bin/sh', USER]));
  await run('usermod', ['-p', '*', USER]); // '!' (locked, useradd's default) makes sshd refuse even key logins
  await fs.mkdir(HOME, { recursive: true });
  await run('chown', [`${USER}:`, HOME]);
  await fs.mkdir('/run/sshd', { recursive: true, mode: 0o755 });
  await fs.chmod(dir, 0o755);
  const hostKey = path.join(dir, 'host');
  const userKey = path.join(dir, 'user');
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', hostKey]);
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', userKey]);
  const fingerprint = (await run('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${hostKey}.pub`])).stdout.split(/\s+/)[1];
  const port = await freePort();
  const conf = path.join(dir, 'sshd_config');
  await fs.writeFile(
    conf,
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${hostKey}`,
      `PidFile ${dir}/sshd.pid`,
      'UsePAM no',
      'PasswordAuthentication no',
      `AuthorizedKeysFile ${userKey}.pub`,
      'StrictModes no',
      `AllowUsers ${USER}`,
      'Subsystem sftp internal-sftp',
      '',
    ].join('\n'),
  );
  sshd = spawn('/usr/sbin/sshd', ['-f', conf, '-D', '-e'], { stdio: ['ignore', 'ignore', 'pipe'] });
  await new Promise((resolve, reject) => {
    let log = '';
    sshd.stderr.on('data', (d) => {
      log += d;
      if (log.includes('Server listening on')) resolve();
    });
    sshd.once('exit', (c) => reject(new Error(`sshd exited ${c}: ${log}`)));
  });
  const knownHosts = path.join(dir, 'known_hosts');
  await fs.writeFile(knownHosts, `[127.0.0.1]:${port} ${(await fs.readFile(`${hostKey}.pub`, 'utf8')).split(' ').slice(0, 2).join(' ')}\n`);
  const sshOpts = ['-i', userKey, '-o', `UserKnownHostsFile=${knownHosts}`, '-o', 'StrictHostKeyChecking=yes', '-o', 'BatchMode=yes'];

  // --- input file (incompressible)
  const input = path.join(dir, 'input.bin');
  const fh = await fs.open(input, 'w');
  const block = randomBytes(1 << 20);
  for (let i = 0; i < MB; i++) await fh.write(block);
  await fh.sync(); // on disk before timing: else its writeback competes with the first contender (Arca)
  await fh.close();
  const bytes = MB << 20;
  const remoteDir = path.join(HOME, `b-${randomBytes(3).toString('hex')}`);
  await fs.mkdir(remoteDir);
  await run('chown', [`${USER}:`, remoteDir]);

  const time = async (fn) => {
    const t = process.hrtime.bigint();
    await fn();
    return Number(process.hrtime.bigint() - t) / 1e9;
  };
  const check = async (name) => {
    const st = await fs.stat(path.join(remoteDir, name));
    if (st.size !== bytes) throw new Error(`${name}: ${st.size} bytes on the server, expected ${bytes}`);
    await fs.rm(path.join(remoteDir, name));
  };

  // --- contenders, interleaved rounds (arca, scp, sftp -b, rclone, then the next round); the
  // best of REPEAT counts, so a burst of load from elsewhere hits one round, not one side.
  const dest = sftp({ host: '127.0.0.1', port, username: USER, privateKey: await fs.readFile(userKey, 'utf8'), hostKey: { sha256: fingerprint }, root: remoteDir });
  const ready = await dest.check(); // connect outside the timing (the tools' handshake is a few ms)
  if (!ready.ok) throw new Error(ready.problems.join('; '));
  let rss0 = 0;
  let peakGrowth = 0;
  const arcaPut = async () => {
    rss0 = process.memoryUsage().rss;
    let peak = rss0;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
    // Arca's own file reader (what localDir's get returns): 1 MiB chunks, recycled once sshd acknowledged them.
    const s = await time(() => dest.put('arca.bin', readFileBytes(input)));
    clearInterval(sampler);
    peakGrowth = Math.max(peakGrowth, peak - rss0);
    await check('arca.bin');
    return s;
  };
  const batch = path.join(dir, 'batch');
  await fs.writeFile(batch, `put ${input} ${remoteDir}/sftpb.bin\n`);
  const env = {
    ...process.env,
    RCLONE_CONFIG_B_TYPE: 'sftp',
    RCLONE_CONFIG_B_HOST: '127.0.0.1',
    RCLONE_CONFIG_B_PORT: String(port),
    RCLONE_CONFIG_B_USER: USER,
    RCLONE_CONFIG_B_KEY_FILE: userKey,
    RCLONE_CONFIG_B_KNOWN_HOSTS_FILE: knownHosts,
  };
  const tool = (name, file, cmd, args, o) => [
    name,
    async () => {
      const t = await time(() => run(cmd, args, o));
      await check(file);
      return t;
    },
  ];
  const contenders = [
    ['arca sftp()', arcaPut],
    tool('scp', 'scp.bin', 'scp', [...sshOpts, '-q', '-P', String(port), input, `${USER}@127.0.0.1:${remoteDir}/scp.bin`]),
    tool('sftp -b', 'sftpb.bin', 'sftp', [...sshOpts, '-q', '-P', String(port), '-b', batch, `${USER}@127.0.0.1`]),
    ...(existsSync('/usr/bin/rclone') ? [tool('rclone', 'rclone.bin', 'rclone', ['copyto', input, `b:${remoteDir}/rclone.bin`], { env })] : []),
  ];
  const best = contenders.map(() => Infinity);
  for (let r = 0; r < REPEAT; r++) {
    for (const [i, [, fn]] of contenders.entries()) best[i] = Math.min(best[i], await fn());
  }
  await dest.close();
  const results = contenders.map(([name], i) => [name, best[i]]);
  const arca = best[0];
  await fs.rm(remoteDir, { recursive: true, force: true });

  console.log(`SFTP upload of ${MB} MiB to a local sshd (OpenSSH), best of ${REPEAT} interleaved rounds; load ${(await fs.readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).join(' ')}`);
  for (const [name, s] of results) {
    const ratio = name.startsWith('arca') ? '' : `   arca/${name} = ${(arca / s).toFixed(2)}x`;
    console.log(`  ${name.padEnd(12)} ${s.toFixed(2).padStart(7)} s  ${(MB / s).toFixed(1).padStart(7)} MiB/s${ratio}`);
    if (!name.startsWith('arca')) report({ metric: `SFTP upload ${MB} MiB (OpenSSH sshd) vs ${name}`, arca, raw: s, unit: 's', goal: '≤ 1.0×', rssMiB: peakGrowth / 2 ** 20 });
  }
  console.log(`  arca peak RSS growth during an upload: ${(peakGrowth / 2 ** 20).toFixed(1)} MiB`);
} finally {
  sshd?.kill();
  await fs.rm(dir, { recursive: true, force: true });
}
