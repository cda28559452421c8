// The README's example, typechecked and run by readme-example.test.ts.
import { createArca, directory, localDir } from '@arca/core';
import { sqlite } from '@arca/source-sqlite';

// FIXIT: tickets.db (SQLite) + static/uploads, backed up every night to a local folder.
export function fixitBackups(appDir: string, backupDir: string) {
  return createArca({
    destinations: { local: localDir({ path: backupDir }) },
    jobs: {
      daily: {
        sources: {
          // A consistent snapshot, taken while FIXIT keeps writing tickets.
          db: sqlite({ path: `${appDir}/tickets.db` }),
          uploads: directory({ path: `${appDir}/static/uploads`, exclude: ['*.part'] }),
        },
        destinations: ['local'],
        schedule: 'daily@02:00',
      },
    },
  });
}

export async function backupThenRestore(appDir: string, backupDir: string, restoreDir: string) {
  const arca = fixitBackups(appDir, backupDir);
  const run = await arca.run('daily', { trigger: 'manual', actor: 'admin' });
  if (run.status !== 'completed') throw new Error(`backup ${run.status}: ${run.error?.message}`);
  await arca.verify('daily', run.backupId, { level: 'checksum' });
  // Into new places: the live database and folder are not touched.
  await arca.restore('daily', run.backupId, {
    into: {
      db: sqlite({ path: `${restoreDir}/tickets.db` }),
      uploads: directory({ path: `${restoreDir}/uploads` }),
    },
  });
  return run;
}
