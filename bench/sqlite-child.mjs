// One Arca SQLite backup with the built packages (no compression: the snapshot itself is
// what is measured); prints JSON with peak RSS and the snapshot meta.
import { createArca, localDir } from '../packages/core/dist/index.js';
import { sqlite } from '../packages/source-sqlite/dist/index.js';

const [db, dest, tmp] = process.argv.slice(2);
const arca = createArca({
  destinations: { local: localDir({ path: dest }) },
  jobs: { bench: { sources: { db: sqlite({ path: db, tempDir: tmp }) }, destinations: ['local'], compress: 'none' } },
});
const run = await arca.run('bench');
console.log(JSON.stringify({ status: run.status, error: run.error, bytes: run.bytes, meta: run.artifacts[0]?.meta, maxRssBytes: process.resourceUsage().maxRSS * 1024 }));
