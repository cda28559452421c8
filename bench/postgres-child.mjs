// One Arca PostgreSQL backup (or restore) with the built packages; prints one JSON line with
// the run result and this process's peak RSS.
//   node bench/postgres-child.mjs backup  <db> <destDir> <pgDumpCompression 0-9> <none|gzip1|gzip6|gzip6t1|zstd3> [nocounts]
//   node bench/postgres-child.mjs restore <db> <destDir> <pgDumpCompression> <codec> <backupId> <targetDb> <jobs>
import { createArca, gzip, localDir, zstd } from '../packages/core/dist/index.js';
import { postgres } from '../packages/source-postgres/dist/index.js';

const [mode, db, dest, compression, codec, backupId, targetDb, jobs] = process.argv.slice(2);
const rowCounts = !process.argv.includes('nocounts');
const compress = { none: 'none', gzip1: gzip({ level: 1 }), gzip6: gzip({ level: 6 }), gzip6t1: gzip({ level: 6, threads: 1 }), zstd3: () => zstd({ level: 3 }) }[codec];
const conn = { host: '127.0.0.1', port: 5432, user: 'postgres' };
const arca = createArca({
  destinations: { local: localDir({ path: dest }) },
  jobs: { bench: { sources: { db: postgres({ ...conn, database: db, compression: Number(compression), rowCounts }) }, destinations: ['local'], compress: typeof compress === 'function' ? compress() : compress } },
});
let out;
if (mode === 'backup') {
  const run = await arca.run('bench');
  const a = run.artifacts[0];
  out = { status: run.status, error: run.error, backupId: run.backupId, bytes: run.bytes, contentBytes: a?.contentBytes, tables: a ? Object.keys(a.meta.tables ?? {}).length : 0 };
} else {
  const t0 = Date.now();
  await arca.restore('bench', backupId, { into: postgres({ ...conn, database: targetDb, restore: { createDatabase: true, jobs: Number(jobs) } }) });
  out = { status: 'completed', ms: Date.now() - t0 };
}
console.log(JSON.stringify({ ...out, maxRssBytes: process.resourceUsage().maxRSS * 1024 }));
