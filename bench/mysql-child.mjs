// One Arca MySQL/MariaDB backup (or restore) with the built packages; prints one JSON line
// with the run result and this process's peak RSS.
//   node bench/mysql-child.mjs backup  <db> <destDir> <none|gzip1|gzip6|zstd3>
//   node bench/mysql-child.mjs restore <db> <destDir> <codec> <backupId> <targetDb>
import { createArca, gzip, localDir, zstd } from '../packages/core/dist/index.js';
import { mysql } from '../packages/source-mysql/dist/index.js';

const [mode, db, dest, codec, backupId, targetDb] = process.argv.slice(2);
const compress = { none: 'none', gzip1: gzip({ level: 1 }), gzip6: gzip({ level: 6 }), zstd3: zstd({ level: 3 }) }[codec];
const conn = { host: '127.0.0.1', port: 3306, user: 'root' };
const arca = createArca({
  destinations: { local: localDir({ path: dest }) },
  jobs: { bench: { sources: { db: mysql({ ...conn, database: db }) }, destinations: ['local'], compress } },
});
let out;
if (mode === 'backup') {
  const run = await arca.run('bench');
  out = { status: run.status, error: run.error, backupId: run.backupId, bytes: run.bytes, contentBytes: run.artifacts[0]?.contentBytes, rows: run.artifacts[0]?.meta?.rows };
} else {
  const t0 = Date.now();
  await arca.restore('bench', backupId, { into: mysql({ ...conn, database: targetDb, createDatabase: true }) });
  out = { status: 'completed', ms: Date.now() - t0 };
}
console.log(JSON.stringify({ ...out, maxRssBytes: process.resourceUsage().maxRSS * 1024 }));
