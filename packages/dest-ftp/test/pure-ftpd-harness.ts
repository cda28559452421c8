/**
 * Test harness: a real pure-ftpd in the foreground on a free loopback port, Unix logins
 * (`-l unix`), everyone chrooted to their home (`-A`), no anonymous logins (`-E`), TLS
 * optional (`-Y 1`) with a freshly generated self-signed certificate. Started as a child
 * process, stopped (and restartable on the same ports) by the tests.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const PURE_FTPD = '/usr/sbin/pure-ftpd';
export const TEST_USER = 'arca-ftp-test';
/** The test user's home, which pure-ftpd chroots into; each harness instance uses a sub-folder. */
const TEST_HOME = '/var/tmp/arca-ftp-test-home';

export interface PureFtpd {
  host: string;
  port: number;
  user: string;
  password: string;
  /** PEM of the self-signed certificate (trust it with tlsOptions.ca). */
  certPem: string;
  /** `AA:BB:...` SHA-256 fingerprint of the certificate. */
  certFingerprint256: string;
  /** Root for the destination, as the FTP user sees it (inside the chroot). */
  root: string;
  /** Host path of a key under `root` (tests look at the real files). */
  pathOf(key: string): string;
  stop(): Promise<void>;
  kill(): Promise<void>;
  restart(): Promise<void>;
  /** SIGSTOP the server and its session processes (a hung server); resolves to a function that resumes them. */
  freeze(): Promise<() => void>;
}

export async function pureFtpdProbe(): Promise<string | undefined> {
  if (process.platform !== 'linux') return 'the pure-ftpd harness runs on Linux only';
  if (!existsSync(PURE_FTPD)) return `${PURE_FTPD} not found: install the Debian package pure-ftpd`;
  if (process.getuid?.() !== 0) return 'pure-ftpd (chroot, Unix logins) and the test user need root';
  if (!existsSync('/usr/bin/openssl')) return 'openssl not found (generates the test certificate)';
  return undefined;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

async function ensureUser(password: string): Promise<{ uid: number; gid: number }> {
  try {
    await run('id', ['-u', TEST_USER]);
  } catch {
    await run('useradd', ['--system', '--no-create-home', '--home-dir', TEST_HOME, '--shell', '/bin/sh', TEST_USER]).catch(async (e) => {
      await run('id', ['-u', TEST_USER]).catch(() => Promise.reject(e));
    });
  }
  const p = spawn('chpasswd', [], { stdio: ['pipe', 'ignore', 'pipe'] });
  let err = '';
  p.stderr.on('data', (d: Buffer) => (err += d.toString()));
  p.stdin.end(`${TEST_USER}:${password}\n`);
  const code = await new Promise<number | null>((r) => p.on('close', r));
  if (code !== 0) throw new Error(`chpasswd failed: ${err}`);
  const uid = Number((await run('id', ['-u', TEST_USER])).stdout.trim());
  const gid = Number((await run('id', ['-g', TEST_USER])).stdout.trim());
  await fs.mkdir(TEST_HOME, { recursive: true, mode: 0o755 });
  await fs.chown(TEST_HOME, uid, gid);
  return { uid, gid };
}

/** Resolve once something accepts TCP connections on the port (pure-ftpd prints nothing when ready). */
async function waitForPort(port: number, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`pure-ftpd exited (${child.exitCode}): ${log()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ host: '127.0.0.1', port }, () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`pure-ftpd did not listen on ${port}: ${log()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * The test user's password, shared by every harness instance on the machine: test files run
 * in parallel worker processes, and each setting a password of its own (chpasswd) would lock
 * the others' new connections out. The first one publishes it atomically (write + link).
 */
async function sharedPassword(file: string): Promise<string> {
  try {
    return (await fs.readFile(file, 'utf8')).trim();
  } catch {
    const tmp = `${file}.${process.pid}-${randomBytes(4).toString('hex')}`;
    await fs.writeFile(tmp, `pw-${randomBytes(12).toString('hex')}`, { mode: 0o600 });
    await fs.link(tmp, file).catch(() => {}); // EEXIST: another process won
    await fs.rm(tmp, { force: true });
    return (await fs.readFile(file, 'utf8')).trim();
  }
}

export async function startPureFtpd(): Promise<PureFtpd> {
  const dir = await fs.mkdtemp(path.join(tmpdir(), 'arca-pureftpd-'));
  const password = await sharedPassword(`${TEST_HOME}.password`);
  const { uid, gid } = await ensureUser(password);

  const key = path.join(dir, 'key.pem');
  const cert = path.join(dir, 'cert.pem');
  await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1']);
  const certPem = await fs.readFile(cert, 'utf8');
  const pem = path.join(dir, 'pure-ftpd.pem'); // pure-ftpd wants key and certificate in one file
  await fs.writeFile(pem, (await fs.readFile(key, 'utf8')) + certPem, { mode: 0o600 });
  const certFingerprint256 = new X509Certificate(certPem).fingerprint256;

  const sub = `t-${randomBytes(4).toString('hex')}`;
  const hostRoot = path.join(TEST_HOME, sub);
  await fs.mkdir(hostRoot, { mode: 0o755 });
  await fs.chown(hostRoot, uid, gid);

  const port = await freePort();
  // Passive range per instance, so parallel test files do not compete for data ports.
  const pasv = 30000 + Math.floor(Math.random() * 300) * 100;
  const args = ['-S', `127.0.0.1,${port}`, '-p', `${pasv}:${pasv + 99}`, '-P', '127.0.0.1', '-l', 'unix', '-A', '-E', '-H', '-Y', '1', '-2', pem, '-4'];
  let child: ChildProcess | undefined;
  let log = '';
  const launch = async () => {
    log = '';
    const c = spawn(PURE_FTPD, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child = c;
    c.stdout!.on('data', (d: Buffer) => (log += d.toString()));
    c.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    await waitForPort(port, c, () => log);
  };
  const descendants = async (pid: number): Promise<number[]> => {
    const children = new Map<number, number[]>();
    for (const ent of await fs.readdir('/proc')) {
      if (!/^\d+$/.test(ent)) continue;
      const stat = await fs.readFile(`/proc/${ent}/stat`, 'utf8').catch(() => '');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid) children.set(ppid, [...(children.get(ppid) ?? []), Number(ent)]);
    }
    const out: number[] = [];
    const walk = (p: number) => {
      for (const x of children.get(p) ?? []) {
        out.push(x);
        walk(x);
      }
    };
    walk(pid);
    return out;
  };
  const stopChild = async (sig: NodeJS.Signals) => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    // pure-ftpd forks one process per session: take them down too, like a crash would. SIGSTOP
    // first: a client reconnecting during the scan would otherwise get a fresh session that
    // survives (and keeps the port accepting).
    if (sig === 'SIGKILL') process.kill(c.pid!, 'SIGSTOP');
    for (const pid of await descendants(c.pid!)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    const done = new Promise((r) => c.once('exit', r));
    c.kill(sig);
    await done;
  };
  await launch();

  return {
    host: '127.0.0.1',
    port,
    user: TEST_USER,
    password,
    certPem,
    certFingerprint256,
    root: `/${sub}`,
    pathOf: (k) => path.join(hostRoot, ...k.split('/')),
    async stop() {
      await stopChild('SIGTERM');
      await fs.rm(dir, { recursive: true, force: true });
      await fs.rm(hostRoot, { recursive: true, force: true });
    },
    kill: () => stopChild('SIGKILL'),
    restart: launch,
    async freeze() {
      const pid = child?.pid;
      if (pid === undefined) throw new Error('pure-ftpd is not running');
      const pids = [pid, ...(await descendants(pid))];
      for (const p of pids) process.kill(p, 'SIGSTOP');
      return () => {
        for (const p of pids) {
          try {
            process.kill(p, 'SIGCONT');
          } catch {
            /* gone */
          }
        }
      };
    },
  };
}
