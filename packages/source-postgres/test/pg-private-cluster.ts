import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import pg from 'pg';

/**
 * A throwaway PostgreSQL cluster that enforces passwords (scram-sha-256 over TCP), for the
 * tests that must prove a wrong password fails and the right one reaches pg_dump only through
 * its environment. The machine's service uses trust auth, which accepts any password.
 * initdb refuses to run as root, so as root the cluster runs as the `postgres` OS user (setpriv).
 */
export const PG_BIN = process.env.ARCA_TEST_PG_BIN ?? '/usr/lib/postgresql/15/bin';

export interface PrivateCluster {
  port: number;
  superPassword: string;
  stop(): Promise<void>;
}

function asUser(): string[] {
  // setpriv execs in place (no intermediate process), so signals reach postgres itself.
  return process.getuid?.() === 0 ? ['setpriv', '--reuid=postgres', '--regid=postgres', '--clear-groups'] : [];
}

export async function probePrivateCluster(): Promise<string | undefined> {
  if (!existsSync(path.join(PG_BIN, 'initdb'))) return `initdb not found in ${PG_BIN}`;
  if (process.getuid?.() === 0) {
    try {
      execFileSync('id', ['postgres'], { stdio: 'ignore' });
    } catch {
      return 'running as root without a postgres OS user for initdb';
    }
  }
  return undefined;
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

export async function startPrivateCluster(): Promise<PrivateCluster> {
  const dir = await fs.mkdtemp(path.join(tmpdir(), 'arca-pgcluster-'));
  const data = path.join(dir, 'data');
  const superPassword = `super-${Math.random().toString(36).slice(2)}`;
  await fs.writeFile(path.join(dir, 'pw'), superPassword + '\n');
  if (process.getuid?.() === 0) execFileSync('chown', ['-R', 'postgres:postgres', dir]);
  const [cmd, ...pre] = [...asUser(), path.join(PG_BIN, 'initdb')];
  execFileSync(cmd!, [...pre, '-D', data, '-U', 'postgres', `--pwfile=${path.join(dir, 'pw')}`, '--auth-host=scram-sha-256', '--auth-local=scram-sha-256', '-E', 'UTF8', '--no-sync'], { stdio: 'ignore' });
  const port = await freePort();
  const [pcmd, ...ppre] = [...asUser(), path.join(PG_BIN, 'postgres')];
  const child: ChildProcess = spawn(pcmd!, [...ppre, '-D', data, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off', '-c', 'shared_buffers=16MB'], { stdio: 'ignore' });
  let exited = false;
  child.on('exit', () => (exited = true));
  // Wait until it accepts connections (poll the server itself; give up after ~30 s of attempts).
  for (let i = 0; ; i++) {
    const c = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', password: superPassword, database: 'postgres', connectionTimeoutMillis: 1000 });
    c.on('error', () => {});
    try {
      await c.connect();
      await c.end();
      break;
    } catch (e) {
      await c.end().catch(() => {});
      if (exited || i > 300) throw new Error(`private PostgreSQL cluster did not start: ${(e as Error).message}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    port,
    superPassword,
    async stop() {
      if (!exited) {
        const done = new Promise<void>((r) => child.once('exit', () => r()));
        child.kill('SIGINT'); // fast shutdown
        await done;
      }
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}
