// One Arca directory backup to some of three destinations (for bench/fanout.bench.mjs);
// prints one JSON line with the run's status and this process's peak RSS.
//   node bench/fanout-child.mjs <srcDir> '<json {disk, shm, s3Endpoint, bucket}>' <comma-separated names> <gzip level>
import { createArca, directory, gzip, localDir } from '../packages/core/dist/index.js';
import { s3 } from '../packages/dest-s3/dist/index.js';

const [src, where, names, level] = process.argv.slice(2);
const w = JSON.parse(where);
const all = {
  disk: () => localDir({ path: w.disk }),
  shm: () => localDir({ path: w.shm }),
  s3: () => s3({ bucket: w.bucket, endpoint: w.s3Endpoint, forcePathStyle: true, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } }),
};
const wanted = names.split(',');
const arca = createArca({
  destinations: Object.fromEntries(wanted.map((n) => [n, all[n]()])),
  jobs: { bench: { sources: { files: directory({ path: src }) }, destinations: wanted, compress: gzip({ level: Number(level) }) } },
});
const t0 = process.hrtime.bigint();
const run = await arca.run('bench');
const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
console.log(JSON.stringify({ status: run.status, error: run.error, bytes: run.bytes, seconds, maxRssBytes: process.resourceUsage().maxRSS * 1024 }));
process.exit(0); // the S3 client's keep-alive sockets would hold the process a little
