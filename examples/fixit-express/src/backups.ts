// FIXIT's backup plan (the user story: daily DB + uploads kept locally, weekly whole
// project locally and on S3, 30 days of retention, an alert when a backup fails).
// Shared by the app (src/server.ts: scheduler + admin routes) and the CLI (arca.config.ts).
import * as path from 'node:path';
import { createArca, directory, fileLock, jsonlRunLog, localDir, maxAge, webhook, type Arca, type ArcaConfig, type Destination, type Notifier } from '@arca/core';
import { s3 } from '@arca/dest-s3';
import { sqlite } from '@arca/source-sqlite';

/** Where FIXIT keeps its files; everything else comes from the environment. */
export interface FixitPaths {
  /** The project folder (the weekly archive's root). */
  root: string;
  /** The SQLite database (`<root>/tickets.db`). */
  database: string;
  /** Attachments uploaded with tickets (`<root>/uploads`). */
  uploads: string;
  /** Local backups (`BACKUP_LOCAL_DIR`, default `<root>/backups`). */
  backups: string;
  /** Run history and the lock shared by the app and the CLI (`<root>/.arca`). */
  state: string;
}

export function fixitPaths(root: string, env: NodeJS.ProcessEnv = process.env): FixitPaths {
  const r = path.resolve(root);
  return {
    root: r,
    database: path.join(r, 'tickets.db'),
    uploads: path.join(r, 'uploads'),
    backups: path.resolve(r, env.BACKUP_LOCAL_DIR ?? 'backups'),
    state: path.join(r, '.arca'),
  };
}

/** Never in the weekly archive: the story's list, plus what is backed up otherwise or rebuilt. */
export const WEEKLY_EXCLUDE = ['.git', 'node_modules', '__pycache__', 'venv', 'instance', 'backups', 'restore-scratch', '.arca', 'tickets.db', 'tickets.db-*', '.env'];

/**
 * The S3 destination from the environment, or undefined when `AWS_S3_BUCKET` is not set.
 * `AWS_S3_ENDPOINT` selects an S3-compatible server (MinIO, R2, a test s3rver) with
 * path-style URLs; without `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY` the AWS SDK's default
 * chain (~/.aws, SSO, instance role) provides the credentials.
 */
function s3FromEnv(env: NodeJS.ProcessEnv): Destination | undefined {
  const bucket = env.AWS_S3_BUCKET;
  if (!bucket) return undefined;
  const { AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey, AWS_S3_ENDPOINT: endpoint } = env;
  return s3({
    bucket,
    prefix: env.AWS_S3_PREFIX ?? 'fixit',
    region: env.AWS_S3_REGION ?? 'eu-west-1',
    ...(endpoint ? { endpoint, forcePathStyle: true } : {}),
    ...(accessKeyId && secretAccessKey ? { credentials: { accessKeyId, secretAccessKey } } : {}),
  });
}

/** The Arca config for FIXIT; `warnings` says what the environment left out. */
export function fixitBackupConfig(root: string, env: NodeJS.ProcessEnv = process.env): { config: ArcaConfig; paths: FixitPaths; warnings: string[] } {
  const paths = fixitPaths(root, env);
  const warnings: string[] = [];
  const days = Number(env.BACKUP_RETENTION_DAYS ?? 30);
  const retention = maxAge({ days }); // throws CONFIG_INVALID for a non-positive or non-numeric value

  const destinations: Record<string, Destination> = { local: localDir({ path: paths.backups }) };
  const cloud = s3FromEnv(env);
  if (cloud) destinations.s3 = cloud;
  else warnings.push('AWS_S3_BUCKET is not set: the weekly backup goes to the local folder only.');

  const notifiers: Notifier[] = [];
  if (env.FIXIT_ALERT_WEBHOOK_URL) {
    // Default events: failure, partial, unhealthy, recovered.
    notifiers.push(webhook({ url: env.FIXIT_ALERT_WEBHOOK_URL, ...(env.FIXIT_ALERT_WEBHOOK_SECRET ? { secret: env.FIXIT_ALERT_WEBHOOK_SECRET } : {}) }));
  } else warnings.push('FIXIT_ALERT_WEBHOOK_URL is not set: nobody is alerted when a backup fails.');

  const timezone = env.FIXIT_TIMEZONE; // default: the host's zone
  const config: ArcaConfig = {
    destinations,
    jobs: {
      daily: {
        sources: {
          db: sqlite({ path: paths.database }),
          uploads: directory({ path: paths.uploads, exclude: ['*.part', 'tmp'] }),
        },
        destinations: ['local'],
        schedule: 'daily@02:00',
        ...(timezone ? { timezone } : {}),
        catchUp: 'once',
        retention,
        health: { maxAge: '26h' },
      },
      weekly: {
        sources: {
          project: directory({ path: paths.root, exclude: WEEKLY_EXCLUDE }),
          // The database is copied through SQLite's backup API, never as a live file in the tar.
          db: sqlite({ path: paths.database }),
        },
        destinations: cloud ? ['local', 's3'] : ['local'],
        compress: 'zstd', // project.tar.zst, db.sqlite.zst
        schedule: 'weekly@sun 03:00',
        ...(timezone ? { timezone } : {}),
        catchUp: 'once',
        retention,
        health: { maxAge: '8d' },
      },
    },
    notifiers,
    runLog: jsonlRunLog(path.join(paths.state, 'runs.jsonl')),
    // The app's scheduler and a CLI run (`npm run arca -- backup daily`) never overlap.
    lock: fileLock({ dir: path.join(paths.state, 'locks') }),
  };
  return { config, paths, warnings };
}

export function createFixitBackups(root: string, env: NodeJS.ProcessEnv = process.env): { arca: Arca; paths: FixitPaths; warnings: string[] } {
  const { config, paths, warnings } = fixitBackupConfig(root, env);
  return { arca: createArca(config), paths, warnings };
}

/** Apply retention after every completed run of a job (the story's "cleanup after each daily"). */
export function pruneAfterRuns(arca: Arca, log: (line: string) => void = console.log): () => void {
  return arca.on('run:done', (run) => {
    if (run.status !== 'completed') return;
    arca.prune(run.job).then(
      (r) => log(`prune ${run.job}: ${r.decisions.filter((d) => d.action === 'delete').length} backup(s) older than the retention removed`),
      (e: unknown) => log(`prune ${run.job} failed: ${(e as Error).message}`),
    );
  });
}
