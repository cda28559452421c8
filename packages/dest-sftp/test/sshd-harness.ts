/**
 * Test harness: a real OpenSSH `sshd` on a free loopback port, with its own generated host
 * key, a dedicated system user (password and key auth) and `internal-sftp`. Started as a
 * child process, stopped (and restartable on the same port) by the tests.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const SSHD = '/usr/sbin/sshd';
export const TEST_USER = 'arca-sftp-test';
/** The test user's home; each harness instance works in its own sub-folder of it. */
const TEST_HOME = '/var/tmp/arca-sftp-test-home';

export interface Sshd {
  host: string;
  port: number;
  username: string;
  password: string;
  /** OpenSSH private key (ed25519) authorized for the test user. */
  privateKey: string;
  /** `SHA256:...` fingerprint of the server's host key, as `ssh-keygen -lf` prints it. */
  fingerprint: string;
  /** Absolute folder (owned by the test user) to use as the destination root. */
  root: string;
  /** Server-side path of a key under `root` (tests look at the real files). */
  pathOf(key: string): string;
  stop(): Promise<void>;
  /** Kill the server now (SIGKILL, connections drop), as in a crash. */
  kill(): Promise<void>;
  /** Start again on the same port with the same host key. */
  restart(): Promise<void>;
}

/** Why sshd cannot be used here, or undefined when it can. */
export async function sshdProbe(): Promise<string | undefined> {
  if (process.platform !== 'linux') return 'the sshd harness runs on Linux only';
  if (!existsSync(SSHD)) return `${SSHD} not found: install the Debian package openssh-server`;
  if (process.getuid?.() !== 0) return 'the sshd harness creates a system user and must run as root';
  return undefined;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

/** Create (or reuse) the test system user and give it a fresh password. Idempotent. */
async function ensureUser(password: string): Promise<{ uid: number; gid: number }> {
  try {
    await run('id', ['-u', TEST_USER]);
  } catch {
    await run('useradd', ['--system', '--no-create-home', '--home-dir', TEST_HOME, '--shell', '/bin/sh', TEST_USER]).catch(async (e) => {
      // A concurrent harness may have created it in the meantime.
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

/** Every process below `pid` (sshd's per-connection monitor and its unprivileged child). */
async function descendants(pid: number): Promise<number[]> {
  const out: number[] = [];
  const children = new Map<number, number[]>();
  for (const ent of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(ent)) continue;
    const stat = await fs.readFile(`/proc/${ent}/stat`, 'utf8').catch(() => '');
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (ppid) children.set(ppid, [...(children.get(ppid) ?? []), Number(ent)]);
  }
  const walk = (p: number) => {
    for (const c of children.get(p) ?? []) {
      out.push(c);
      walk(c);
    }
  };
  walk(pid);
  return out;
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

export async function startSshd(): Promise<Sshd> {
  const dir = await fs.mkdtemp(path.join(tmpdir(), 'arca-sshd-'));
  // One password for the test user at a time: every harness instance on the machine shares it.
  const password = await sharedPassword(`${TEST_HOME}.password`);
  const { uid, gid } = await ensureUser(password);
  await fs.mkdir('/run/sshd', { recursive: true, mode: 0o755 });

  const hostKey = path.join(dir, 'host_ed25519');
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', hostKey]);
  const userKey = path.join(dir, 'user_ed25519');
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'arca-test', '-f', userKey]);
  const authorized = path.join(dir, 'authorized_keys');
  await fs.copyFile(`${userKey}.pub`, authorized);
  await fs.chmod(authorized, 0o644);
  await fs.chmod(dir, 0o755);
  const fingerprint = (await run('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${hostKey}.pub`])).stdout.split(/\s+/)[1]!;

  const root = path.join(TEST_HOME, `t-${randomBytes(4).toString('hex')}`);
  await fs.mkdir(root, { mode: 0o755 });
  await fs.chown(root, uid, gid);

  const port = await freePort();
  const conf = path.join(dir, 'sshd_config');
  await fs.writeFile(
    conf,
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${hostKey}`,
      `PidFile ${path.join(dir, 'sshd.pid')}`,
      'UsePAM no',
      'PasswordAuthentication yes',
      'KbdInteractiveAuthentication no',
      'PubkeyAuthentication yes',
      `AuthorizedKeysFile ${authorized}`,
      'StrictModes no',
      'PermitRootLogin no',
      `AllowUsers ${TEST_USER}`,
      'Subsystem sftp internal-sftp',
      'MaxStartups 100:30:200',
      'MaxSessions 50',
      'LogLevel INFO',
      '',
    ].join('\n'),
  );

  let child: ChildProcess | undefined;
  const launch = async () => {
    const c = spawn(SSHD, ['-f', conf, '-D', '-e'], { stdio: ['ignore', 'ignore', 'pipe'] });
    child = c;
    let log = '';
    await new Promise<void>((resolve, reject) => {
      const onData = (d: Buffer) => {
        log += d.toString();
        if (log.includes('Server listening on')) {
          c.stderr!.off('data', onData);
          c.stderr!.resume();
          resolve();
        }
      };
      c.stderr!.on('data', onData);
      c.once('exit', (code) => reject(new Error(`sshd exited (${code}): ${log}`)));
      c.once('error', reject);
    });
  };
  const stopChild = async (sig: NodeJS.Signals) => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    // sshd forks a process per connection (and those survive their parent): a crash test
    // wants the connections gone too, so kill this sshd's children first. SIGSTOP first: a
    // client reconnecting during the scan would otherwise get a fresh child that survives.
    if (sig === 'SIGKILL') {
      process.kill(c.pid!, 'SIGSTOP');
      for (const pid of await descendants(c.pid!)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* already gone */
        }
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
    username: TEST_USER,
    password,
    privateKey: await fs.readFile(userKey, 'utf8'),
    fingerprint,
    root,
    pathOf: (key) => path.join(root, ...key.split('/')),
    async stop() {
      await stopChild('SIGTERM');
      await fs.rm(dir, { recursive: true, force: true });
      await fs.rm(root, { recursive: true, force: true });
    },
    kill: () => stopChild('SIGKILL'),
    restart: launch,
  };
}
