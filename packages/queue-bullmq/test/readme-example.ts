// The README's example, typechecked and run by readme-example.test.ts.
import { createArca, directory, jsonlRunLog, localDir } from '@arca/core';
import { bullmqRunner } from '@arca/queue-bullmq';

// backups.ts: the same module in every instance of the app (replicas, PM2 cluster workers).
export function createBackups(env: { REDIS_URL: string; BACKUP_DIR: string; UPLOADS_DIR: string; ARCA_WORKER?: string; ARCA_PREFIX?: string }) {
  return createArca({
    // A folder every instance reaches (a shared volume, NFS), or S3/SFTP.
    destinations: { shared: localDir({ path: `${env.BACKUP_DIR}/data` }) },
    jobs: {
      uploads: {
        sources: { uploads: directory({ path: env.UPLOADS_DIR }) },
        destinations: ['shared'],
        schedule: 'daily@02:00',
        timezone: 'Europe/Rome',
        catchUp: 'once',
      },
    },
    // One history for the whole cluster: every instance appends to the same file.
    runLog: jsonlRunLog(`${env.BACKUP_DIR}/runs.jsonl`),
    runner: bullmqRunner({
      connection: env.REDIS_URL, // redis://:password@redis:6379/0
      prefix: env.ARCA_PREFIX ?? 'bull',
      worker: env.ARCA_WORKER !== '0', // ARCA_WORKER=0: this instance only schedules and enqueues
      attempts: 2, // a failed run is tried once more...
      backoff: { type: 'fixed', delayMs: 60_000 }, // ...a minute later
    }),
  });
}
