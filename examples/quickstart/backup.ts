// The README's host-app example, typechecked and run by CI (examples/quickstart/backup.test.ts).
import { createArca, directory, jsonlRunLog, localDir } from '@arca/core';
import { sqlite } from '@arca/source-sqlite';

export function createBackups(appDir: string, backupDir: string) {
  return createArca({
    destinations: { local: localDir({ path: backupDir }) },
    jobs: {
      daily: {
        sources: {
          db: sqlite({ path: `${appDir}/tickets.db` }),
          uploads: directory({ path: `${appDir}/static/uploads`, exclude: ['tmp', '*.part'] }),
        },
        destinations: ['local'],
        schedule: 'daily@02:00',
      },
    },
    runLog: jsonlRunLog(`${backupDir}/runs.jsonl`),
  });
}

// const arca = createBackups('.', './backups');
// const run = await arca.run('daily', { trigger: 'manual', actor: 'alice' });
// const [latest] = await arca.list('daily');
// await arca.verify('daily', latest.id, { level: 'checksum' });
// await arca.restore('daily', latest.id, { artifact: 'db', into: sqlite({ path: 'restored.db' }) });
