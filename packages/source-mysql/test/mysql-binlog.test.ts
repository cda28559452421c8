import { spawn, type ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithService } from '@arca/core/test-kit';
import { mysql } from '@arca/source-mysql';
import { createConnection, type Connection } from 'mysql2/promise';
import { q } from './helpers.js';

const MARIADBD = '/usr/sbin/mariadbd';
const INSTALL = '/usr/bin/mariadb-install-db';

async function probe(): Promise<string | undefined> {
  for (const f of [MARIADBD, INSTALL, '/usr/bin/mariadb-binlog']) {
    try {
      await fs.access(f);
    } catch {
      return `${f} is missing (apt-get install mariadb-server-core mariadb-client)`;
    }
  }
  return undefined;
}

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

await describeWithService('binary logging on: a private mariadbd with --log-bin', probe, () => {
  let dir: string;
  let port: number;
  let server: ChildProcess;
  let c: Connection;

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'arca-mysql-binlog-'));
    port = await freePort();
    execFileSync(INSTALL, ['--no-defaults', `--datadir=${dir}/data`, '--user=root', '--auth-root-authentication-method=normal', '--skip-test-db'], { stdio: 'ignore' });
    server = spawn(
      MARIADBD,
      ['--no-defaults', `--datadir=${dir}/data`, '--user=root', `--port=${port}`, '--bind-address=127.0.0.1', `--socket=${dir}/sock`, `--log-bin=${dir}/data/binlog`, '--server-id=7', '--innodb-buffer-pool-size=32M', `--pid-file=${dir}/pid`],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    // Ready when the server says so on stderr (no polling, no sleeps).
    await new Promise<void>((resolve, reject) => {
      let log = '';
      server.stderr!.on('data', (d: Buffer) => {
        log += d.toString();
        if (log.includes('ready for connections')) resolve();
      });
      server.once('exit', (code) => reject(new Error(`mariadbd exited with ${code}: ${log.slice(-2000)}`)));
    });
    c = await createConnection({ host: '127.0.0.1', port, user: 'root', password: '', multipleStatements: true });
    await c.query('CREATE DATABASE pitr; CREATE TABLE pitr.moves (id INT PRIMARY KEY AUTO_INCREMENT, what VARCHAR(40)); INSERT INTO pitr.moves (what) VALUES (\'before 1\'), (\'before 2\')');
  }, 180_000);

  afterAll(async () => {
    await c?.end().catch(() => undefined);
    if (server && server.exitCode === null) {
      const gone = new Promise((r) => server.once('exit', r));
      server.kill('SIGTERM');
      await gone;
    }
    await fs.rm(dir, { recursive: true, force: true });
  }, 60_000);

  it('records the binlog file, position and GTID of the snapshot, and they replay to a later point', { timeout: 120_000 }, async () => {
    const [status] = await q<{ File: string; Position: number }>(c, 'SHOW MASTER STATUS');
    const [gtid] = await q<{ g: string }>(c, 'SELECT @@gtid_binlog_pos AS g');
    const source = mysql({ host: '127.0.0.1', port, user: 'root', database: 'pitr' });
    const dump = await source.dump();
    const parts: Buffer[] = [];
    for await (const chunk of dump.stream) parts.push(Buffer.from(chunk));
    const meta = (await dump.meta()) as any;
    expect(meta.binlog).toEqual({ enabled: true, recorded: true, file: status!.File, position: Number(status!.Position), gtid: gtid!.g });
    expect((await source.check()).facts.binlog).toBe(true);

    // Later writes, then "the accident": restore the dump and replay the binlog from the
    // recorded position up to just before the accident.
    await c.query("INSERT INTO pitr.moves (what) VALUES ('after 1'), ('after 2')");
    const [stop] = await q<{ Position: number }>(c, 'SHOW MASTER STATUS');
    await c.query('DELETE FROM pitr.moves');
    await source.restore(
      (async function* () {
        yield* parts;
      })(),
      { overwrite: true },
    );
    expect((await q<{ what: string }>(c, 'SELECT what FROM pitr.moves ORDER BY id')).map((r) => r.what)).toEqual(['before 1', 'before 2']);
    const replay = execFileSync('/usr/bin/mariadb-binlog', [`--start-position=${meta.binlog.position}`, `--stop-position=${stop!.Position}`, path.join(dir, 'data', meta.binlog.file)]);
    execFileSync('/usr/bin/mariadb', ['-uroot', '-h127.0.0.1', `-P${port}`], { input: replay });
    expect((await q<{ what: string }>(c, 'SELECT what FROM pitr.moves ORDER BY id')).map((r) => r.what)).toEqual(['before 1', 'before 2', 'after 1', 'after 2']);
  });

  it('binlogPosition: false says why nothing was recorded', { timeout: 60_000 }, async () => {
    const dump = await mysql({ host: '127.0.0.1', port, user: 'root', database: 'pitr', binlogPosition: false }).dump();
    for await (const _ of dump.stream);
    expect(((await dump.meta()) as any).binlog).toEqual({ enabled: true, recorded: false, reason: 'binlogPosition: false in the source options' });
  });
});
