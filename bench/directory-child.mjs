// One Arca directory backup with the built package; prints JSON with peak RSS.
import { createArca, directory, gzip, localDir } from '../packages/core/dist/index.js';

const [src, dest, level] = process.argv.slice(2);
const arca = createArca({
  destinations: { local: localDir({ path: dest }) },
  jobs: { bench: { sources: { files: directory({ path: src }) }, destinations: ['local'], compress: gzip({ level: Number(level) }) } },
});
const run = await arca.run('bench');
console.log(JSON.stringify({ status: run.status, bytes: run.bytes, maxRssBytes: process.resourceUsage().maxRSS * 1024 }));
