/**
 * Partesa's backup plan for the MySQL/MariaDB database `gestionelogistica`, as a module the
 * host app imports (user story 001): dumps every 4 hours (RPO < 4 h), gzip, GFS rotation
 * 7 daily / 4 weekly / 12 monthly with 7 days on the local disk and 30 days on the remote
 * (SFTP) copy, e-mail + Slack alerts, a weekly restore drill into a scratch database, and
 * a JSONL run log that is also the audit trail shown by the dashboard.
 */
import { allOf, anyOf, ArcaError, createArca, ErrorCodes, gfs, gzip, jsonlRunLog, localDir, maxAge, slack, type Arca, type Notifier } from '@arca/core';
import { sftp, type SftpOptions } from '@arca/dest-sftp';
import { email, type SmtpOptions } from '@arca/notify-email';
import { mysql, type DrillAssertion, type DrillReport, type MySqlOptions, type MySqlSource } from '@arca/source-mysql';

/** The job name (also the folder on each destination and the name typed to confirm a restore). */
export const JOB = 'gestionelogistica';

export interface PartesaSettings {
  /** The production database, read by a backup user (see packages/source-mysql/README.md#privileges). */
  database: Omit<MySqlOptions, 'databases' | 'allDatabases'> & { database: string };
  /** Local disk folder (`/var/backups/mysql`, mode 0700); the run log lives here too. */
  backupDir: string;
  /** The remote copy: a second server or NAS over SFTP, host key pinned. */
  remote: SftpOptions;
  smtp: SmtpOptions;
  mailFrom: string;
  mailTo: string[];
  /** Slack incoming-webhook URL (a secret: never shown in errors or logs). */
  slackWebhookUrl: string;
  /** IANA time zone of the schedules (default `Europe/Rome`). */
  timezone?: string;
}

export interface PartesaBackups {
  arca: Arca;
  /** The production database as a Source (dump, restore target, drills). */
  db: MySqlSource;
  /** A copy database `<database>_copy` (created on request): the dashboard's "restore into a copy" target. */
  copy: MySqlSource;
}

/** Checks the drill runs inside the restored scratch database besides table list and row counts. */
export const DRILL_ASSERTIONS: DrillAssertion[] = [
  { name: 'no delivery without its trip', sql: 'SELECT COUNT(*) FROM delivery d LEFT JOIN viaggi v ON v.id = d.viaggio_id WHERE v.id IS NULL', expect: 0 },
  { name: 'users present', sql: 'SELECT COUNT(*) > 0 FROM users' },
];

export function partesaBackups(s: PartesaSettings): PartesaBackups {
  const timezone = s.timezone ?? 'Europe/Rome';
  const db = mysql({ singleTransaction: true, routines: true, triggers: true, ...s.database });
  const copy = mysql({ ...s.database, database: `${s.database.database}_copy`, createDatabase: true });
  // GFS is the rotation; each destination adds its own time window on top of it:
  // the local disk keeps only the last 7 days of it, the remote keeps every backup of the
  // last 30 days plus the GFS weekly and monthly points (a year of monthly restore points).
  const rotation = gfs({ daily: 7, weekly: 4, monthly: 12 });
  const notifiers: Notifier[] = [
    email({ smtp: s.smtp, from: s.mailFrom, to: s.mailTo, subjectPrefix: '[partesa backup]' }),
    slack({ webhookUrl: s.slackWebhookUrl }),
  ];
  const arca = createArca({
    destinations: { local: localDir({ path: `${s.backupDir}/data` }), remote: sftp(s.remote) },
    jobs: {
      [JOB]: {
        sources: { db },
        destinations: [
          { name: 'local', priority: 0, retention: allOf(rotation, maxAge({ days: 7 })) },
          { name: 'remote', priority: 1, retention: anyOf(maxAge({ days: 30 }), rotation) },
        ],
        schedule: '0 */4 * * *', // every 4 hours: RPO < 4 h
        timezone,
        compress: gzip({ level: 6 }),
        retention: rotation,
        health: { maxAge: '4h' },
      },
    },
    notifiers,
    runLog: jsonlRunLog(`${s.backupDir}/runs.jsonl`),
  });
  return { arca, db, copy };
}

/**
 * The weekly restore drill: the newest backup, read from the remote copy (what a disaster
 * recovery would use), sha256-checked and gunzipped by core, loaded into a uniquely named
 * scratch database, compared with the tables, row counts, views, routines and triggers
 * recorded at dump time, checked with {@link DRILL_ASSERTIONS}, dropped. The restore is
 * audit-logged with `actor`. Rejects with `NOT_FOUND` when there is no backup yet and with
 * `RESTORE_FAILED` (carrying the report) when a check fails.
 */
export async function restoreDrill(b: PartesaBackups, o: { actor?: string; from?: string; signal?: AbortSignal } = {}): Promise<DrillReport> {
  const [latest] = await b.arca.list(JOB, { signal: o.signal });
  if (!latest) throw new ArcaError(ErrorCodes.NOT_FOUND, `No backup of ${JOB} yet: run one first (arca.run('${JOB}')).`);
  const artifact = latest.artifacts.find((a) => a.source === 'db');
  const target = b.db.drillTarget({ expected: artifact?.meta, assertions: DRILL_ASSERTIONS });
  await b.arca.restore(JOB, latest.id, { artifact: 'db', into: target, from: o.from ?? 'remote', actor: o.actor ?? 'weekly-drill', signal: o.signal });
  return target.report!;
}
