/**
 * The world the leak scanner runs in: real services, each given a distinct canary secret.
 * PostgreSQL: a role with a password (the service trusts loopback, but the password still
 * travels through PGPASSWORD or a passfile and must never surface); MariaDB: a user with a
 * password; s3rver (it checks no signatures) reached with canary keys; a real sshd whose
 * test user gets a canary password; smtp-server requiring AUTH with a canary password; an age
 * identity. Wrong and unreachable variants have their own canaries.
 */
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { generateAgeIdentity } from '@arca/core';
import { admin, createUser, probeMariaDb } from '../../packages/source-mysql/test/helpers.js';
import { probePostgres, sql } from '../../packages/source-postgres/test/pg-helpers.js';
import { probeS3rver, startS3rver, type S3rverHandle } from '../../packages/dest-s3/test/s3-harness.js';
import { freePort, sshdProbe, startSshd, type Sshd } from '../../packages/dest-sftp/test/sshd-harness.js';
import { canary, canarySet, type CanarySet } from './canaries.js';

export interface World {
  canaries: CanarySet;
  pg: { host: string; port: number; user: string; password: string; database: string };
  mysql: { host: string; port: number; user: string; password: string; database: string };
  s3: { endpoint: string; bucket: string; accessKeyId: string; secretAccessKey: string; dir: string };
  sftp: { host: string; port: number; username: string; password: string; root: string; fingerprint: string };
  smtp: { host: string; port: number; user: string; pass: string; mails: string[]; authFailures: number };
  age: { identity: string; recipient: string; file: string };
  /** A loopback port nothing listens on (unreachable host). */
  deadPort: number;
  /** Canaries for the failure paths: wrong passwords, passwords sent to nobody. */
  wrong: { mysqlPassword: string; pgPassword: string; sftpPassword: string; smtpPassword: string; s3Secret: string };
  /** Every folder a server keeps what it received in (scanned for canaries too). */
  serverDirs: string[];
  stop(): Promise<void>;
}

/** undefined when every service is there, else the reasons (for describeWithService). */
export async function probeWorld(): Promise<string | undefined> {
  const reasons = (await Promise.all([probePostgres(), probeMariaDb(), probeS3rver(), sshdProbe()])).filter(Boolean);
  return reasons.length ? reasons.join('; ') : undefined;
}

export async function startWorld(): Promise<World> {
  const tag = randomBytes(4).toString('hex');
  const cleanups: Array<() => Promise<unknown>> = [];
  const stop = async () => {
    for (const c of cleanups.reverse()) await c().catch(() => {});
  };
  try {
    const secrets = {
      pgPassword: canary('pg', '@x/+'),
      mysqlPassword: canary('my', '@x/+'),
      s3AccessKeyId: `AKIACNY${randomBytes(6).toString('hex').toUpperCase()}`,
      s3SecretAccessKey: canary('s3secret', '/+x'),
      sftpPassword: '', // the sshd harness's password, below
      smtpPassword: canary('smtp', '@x/+'),
      wrongMysqlPassword: canary('wrongmy', '@x/+'),
      wrongPgPassword: canary('wrongpg', '@x/+'),
      wrongSftpPassword: canary('wrongsftp', '@x+'),
      wrongSmtpPassword: canary('wrongsmtp', '@x/+'),
      wrongS3Secret: canary('wrongs3', '/+x'),
      ageIdentity: '',
    };
    const key = generateAgeIdentity();
    secrets.ageIdentity = key.identity;

    const dbs = await createDatabases(tag, secrets.pgPassword, secrets.mysqlPassword);
    cleanups.push(dbs.drop);
    const { pg, mysql } = dbs;

    // S3 (s3rver, which checks request signatures): the canary key pair is registered with it.
    const bucket = `arca-sec-${tag}`;
    const s3: S3rverHandle = await startS3rver([bucket], { credentials: { accessKeyId: secrets.s3AccessKeyId, secretAccessKey: secrets.s3SecretAccessKey } });
    cleanups.push(() => s3.stop());

    // sshd: every harness instance on the machine shares one password for its system user
    // (parallel test files would lock each other out otherwise): that password is the canary.
    const sshd: Sshd = await startSshd();
    cleanups.push(() => sshd.stop());
    secrets.sftpPassword = sshd.password;

    // SMTP with AUTH (plain text on loopback: the password crosses the wire, and nowhere else).
    const smtpUser = 'backups@example.com';
    const mails: string[] = [];
    let authFailures = 0;
    const smtpServer = new SMTPServer({
      logger: false,
      disabledCommands: ['STARTTLS'],
      allowInsecureAuth: true,
      authMethods: ['PLAIN', 'LOGIN'],
      onAuth(auth, _s, cb) {
        if (auth.username === smtpUser && auth.password === secrets.smtpPassword) return cb(null, { user: smtpUser });
        authFailures++;
        cb(Object.assign(new Error('5.7.8 Username and Password not accepted'), { responseCode: 535 }));
      },
      onData(stream, _s, cb) {
        const parts: Buffer[] = [];
        stream.on('data', (c: Buffer) => parts.push(c));
        stream.on('end', () => {
          mails.push(Buffer.concat(parts).toString('utf8'));
          cb();
        });
      },
    });
    await new Promise<void>((r) => smtpServer.listen(0, '127.0.0.1', () => r()));
    cleanups.push(() => new Promise<void>((r) => smtpServer.close(() => r())));
    const smtp = { host: '127.0.0.1', port: (smtpServer.server.address() as AddressInfo).port, user: smtpUser, pass: secrets.smtpPassword, mails, authFailures: 0 };
    Object.defineProperty(smtp, 'authFailures', { get: () => authFailures });

    return {
      canaries: canarySet(secrets),
      pg,
      mysql,
      s3: { endpoint: s3.endpoint, bucket, accessKeyId: secrets.s3AccessKeyId, secretAccessKey: secrets.s3SecretAccessKey, dir: s3.dir },
      sftp: { host: sshd.host, port: sshd.port, username: sshd.username, password: sshd.password, root: sshd.root, fingerprint: sshd.fingerprint },
      smtp,
      age: { identity: key.identity, recipient: key.recipient, file: key.file },
      deadPort: await freePort(),
      wrong: { mysqlPassword: secrets.wrongMysqlPassword, pgPassword: secrets.wrongPgPassword, sftpPassword: secrets.wrongSftpPassword, smtpPassword: secrets.wrongSmtpPassword, s3Secret: secrets.wrongS3Secret },
      serverDirs: [s3.dir, sshd.root],
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}

export interface DbLogins {
  pg: { host: string; port: number; user: string; password: string; database: string };
  mysql: { host: string; port: number; user: string; password: string; database: string };
  drop(): Promise<void>;
}

/**
 * A PostgreSQL role with a password owning a small database, and a MariaDB user with a password
 * and its own databases (`<db>` and scratch copies `<db>_*`). `drop()` removes all of it.
 */
export async function createDatabases(tag: string, pgPassword: string, mysqlPassword: string): Promise<DbLogins> {
  const cleanups: Array<() => Promise<unknown>> = [];
  const drop = async () => {
    for (const c of cleanups.reverse()) await c().catch(() => {});
  };
  try {
    const secrets = { pgPassword, mysqlPassword };
    // PostgreSQL: a role with a password owning a small database.
    const pgUser = `arca_sec_${tag}`;
    const pgDb = `arca_t_sec_${tag}`;
    await sql('postgres', `CREATE ROLE "${pgUser}" LOGIN CREATEDB PASSWORD '${secrets.pgPassword}'`);
    cleanups.push(async () => {
      for (const r of await sql<{ datname: string }>('postgres', `SELECT datname FROM pg_database WHERE datname LIKE '${pgDb}%'`)) {
        await sql('postgres', `DROP DATABASE IF EXISTS "${r.datname}" WITH (FORCE)`);
      }
      await sql('postgres', `DROP ROLE IF EXISTS "${pgUser}"`);
    });
    await sql('postgres', `CREATE DATABASE "${pgDb}" OWNER "${pgUser}"`);
    await sql(pgDb, `SET ROLE "${pgUser}"; CREATE TABLE tickets (id int PRIMARY KEY, title text); INSERT INTO tickets SELECT g, 'ticket ' || g FROM generate_series(1, 50) g`);

    // MariaDB: a user with a password and its own databases (the database and its scratch copies).
    const my = await admin();
    const myUser = `arcat_sec_${tag}`;
    const myDb = `arcat_sec_${tag}`;
    cleanups.push(() => my.end());
    await my.query(`CREATE DATABASE \`${myDb}\``);
    cleanups.push(async () => {
      const [rows] = await my.query(`SHOW DATABASES LIKE '${myDb}%'`);
      for (const r of rows as Array<Record<string, string>>) await my.query(`DROP DATABASE IF EXISTS \`${Object.values(r)[0]}\``);
    });
    await my.query(`CREATE TABLE \`${myDb}\`.orders (id int PRIMARY KEY, note varchar(50))`);
    await my.query(`INSERT INTO \`${myDb}\`.orders VALUES (1, 'pallet'), (2, 'crate')`);
    const dropUser = await createUser(my, myUser, secrets.mysqlPassword, [`ALL PRIVILEGES ON \`${myDb.replace(/_/g, '\\_')}%\`.*`, 'SELECT ON mysql.proc', 'RELOAD, BINLOG MONITOR, SET USER ON *.*']);
    cleanups.push(dropUser);

    return {
      pg: { host: '127.0.0.1', port: 5432, user: pgUser, password: pgPassword, database: pgDb },
      mysql: { host: '127.0.0.1', port: 3306, user: myUser, password: mysqlPassword, database: myDb },
      drop,
    };
  } catch (e) {
    await drop();
    throw e;
  }
}
