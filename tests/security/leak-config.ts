/**
 * One description of the leak scanner's jobs, written both as `arca.config.json` specs
 * (`{ "use": ..., options }`, secrets as `${ENV}` references) for the CLI and as options for
 * the factories the in-process HTTP app calls. Jobs:
 * - `main`: PostgreSQL (password through a passfile) + MariaDB + a folder → local, S3, SFTP; gzip + age.
 * - `plain`: PostgreSQL (PGPASSWORD) + MariaDB, uncompressed and unencrypted to local (dumps are scanned as text).
 * - `broken`: MariaDB with a wrong password + PostgreSQL on a port nobody listens on → failed.
 * - `partial`: a folder → local, an unreachable SFTP host, SFTP with a wrong password, S3 with wrong keys (s3rver checks the key id only: it has no SigV4 check), an unreachable S3 endpoint → partial.
 * Notifiers: e-mail through SMTP AUTH, and a second one with a wrong SMTP password (its failure is reported, never fatal).
 */
import type { World } from './leak-world.js';

/** Environment of the CLI: the secrets, referenced from the config as `${NAME}`. */
export function secretEnv(w: World): Record<string, string> {
  return {
    SEC_PG_PW: w.pg.password,
    SEC_MY_PW: w.mysql.password,
    SEC_S3_KEY: w.s3.accessKeyId,
    SEC_S3_SECRET: w.s3.secretAccessKey,
    SEC_SFTP_PW: w.sftp.password,
    SEC_SMTP_PW: w.smtp.pass,
    SEC_WRONG_MY_PW: w.wrong.mysqlPassword,
    SEC_WRONG_PG_PW: w.wrong.pgPassword,
    SEC_WRONG_SFTP_PW: w.wrong.sftpPassword,
    SEC_WRONG_SMTP_PW: w.wrong.smtpPassword,
    SEC_WRONG_S3_SECRET: w.wrong.s3Secret,
  };
}

type Spec = { use: string } & Record<string, unknown>;

/**
 * The adapter specs. `secret(name)` turns an env name into what the consumer wants: the
 * `${NAME}` reference for the JSON config, the value itself in-process.
 */
export function specs(w: World, secret: (envName: keyof ReturnType<typeof secretEnv>) => string, dataDir: string, localRoot: string) {
  const pg = (extra: Record<string, unknown> = {}): Spec => ({ use: '@arca/source-postgres', host: w.pg.host, port: w.pg.port, user: w.pg.user, password: secret('SEC_PG_PW'), database: w.pg.database, ...extra });
  const my = (extra: Record<string, unknown> = {}): Spec => ({ use: '@arca/source-mysql', host: w.mysql.host, port: w.mysql.port, user: w.mysql.user, password: secret('SEC_MY_PW'), database: w.mysql.database, ...extra });
  const destinations: Record<string, Spec> = {
    local: { use: 'localDir', path: localRoot },
    cloud: { use: '@arca/dest-s3', bucket: w.s3.bucket, endpoint: w.s3.endpoint, region: 'us-east-1', forcePathStyle: true, requestChecksumCalculation: 'WHEN_REQUIRED', credentials: { accessKeyId: secret('SEC_S3_KEY'), secretAccessKey: secret('SEC_S3_SECRET') }, maxAttempts: 1 },
    nas: { use: '@arca/dest-sftp', host: w.sftp.host, port: w.sftp.port, username: w.sftp.username, password: secret('SEC_SFTP_PW'), root: w.sftp.root, hostKey: { sha256: w.sftp.fingerprint } },
    deadNas: { use: '@arca/dest-sftp', host: '127.0.0.1', port: w.deadPort, username: 'backup', password: secret('SEC_WRONG_SFTP_PW'), insecureSkipHostKeyCheck: true, readyTimeoutMs: 3000 },
    wrongNas: { use: '@arca/dest-sftp', host: w.sftp.host, port: w.sftp.port, username: w.sftp.username, password: secret('SEC_WRONG_SFTP_PW'), root: w.sftp.root, hostKey: { sha256: w.sftp.fingerprint }, readyTimeoutMs: 5000 },
    wrongCloud: { use: '@arca/dest-s3', bucket: w.s3.bucket, endpoint: w.s3.endpoint, region: 'us-east-1', forcePathStyle: true, requestChecksumCalculation: 'WHEN_REQUIRED', credentials: { accessKeyId: 'AKIAWRONGKEYARCA0000', secretAccessKey: secret('SEC_WRONG_S3_SECRET') }, maxAttempts: 1 },
    deadCloud: { use: '@arca/dest-s3', bucket: w.s3.bucket, endpoint: `http://127.0.0.1:${w.deadPort}`, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: secret('SEC_S3_KEY'), secretAccessKey: secret('SEC_S3_SECRET') }, maxAttempts: 1 },
  };
  const jobs = {
    main: {
      sources: { pg: pg({ passwordVia: 'passfile' }), my: my(), files: { use: 'directory', path: dataDir } },
      destinations: ['local', 'cloud', 'nas'],
      compress: 'gzip',
      encrypt: { use: 'age', recipients: [w.age.recipient] },
    },
    plain: { sources: { pg: pg(), my: my() }, destinations: ['local'], compress: 'none' },
    broken: {
      sources: { my: my({ password: secret('SEC_WRONG_MY_PW') }), pg: pg({ port: w.deadPort, password: secret('SEC_WRONG_PG_PW'), connectTimeoutMs: 3000 }) },
      destinations: ['local'],
    },
    partial: { sources: { files: { use: 'directory', path: dataDir } }, destinations: ['local', 'deadNas', 'wrongNas', 'wrongCloud', 'deadCloud'] },
  };
  const notifiers: Spec[] = [
    { use: '@arca/notify-email', smtp: { host: w.smtp.host, port: w.smtp.port, secure: false, requireTLS: false, auth: { user: w.smtp.user, pass: secret('SEC_SMTP_PW') } }, from: 'Arca <arca@example.com>', to: ['ops@example.com'], on: ['failure', 'partial', 'success'], timeoutMs: 10_000 },
    { use: '@arca/notify-email', name: 'wrong-mail', smtp: { host: w.smtp.host, port: w.smtp.port, secure: false, requireTLS: false, auth: { user: w.smtp.user, pass: secret('SEC_WRONG_SMTP_PW') } }, from: 'Arca <arca@example.com>', to: ['dba@example.com'], on: ['failure'], timeoutMs: 10_000 },
  ];
  /** A PostgreSQL restore target (a scratch database the role may create). */
  const pgScratch = (database: string) => pg({ database, passwordVia: 'passfile', restore: { createDatabase: true } });
  return { destinations, jobs, notifiers, pgScratch };
}
