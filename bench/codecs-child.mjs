#!/usr/bin/env node
// One codec operation for bench/codecs.bench.mjs, run in a child so its peak RSS is its own:
//   node codecs-child.mjs <encode|decode> '<json codec spec>' <in file> <out file | ->
import { createReadStream, createWriteStream } from 'node:fs';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { age, gzip, zstd } from '../packages/core/dist/index.js';

const [mode, specJson, inFile, outFile] = process.argv.slice(2);
const spec = JSON.parse(specJson);
const codec =
  spec.codec === 'gzip' ? gzip({ level: spec.level })
  : spec.codec === 'zstd' ? zstd({ level: spec.level, implementation: spec.implementation, threads: spec.threads })
  : age(spec.recipient ? { recipients: [spec.recipient] } : { identities: { file: spec.identityFile } });
const t0 = process.hrtime.bigint();
// 1 MiB reads, as localDir.get() reads an artifact for a restore (and as the pipeline hands
// 1 MiB pieces to destinations).
const src = createReadStream(inFile, { highWaterMark: 1 << 20 });
const out = mode === 'encode' ? codec.encode(src) : codec.decode(src);
const sink = outFile === '-' ? new Writable({ write: (_c, _e, cb) => cb() }) : createWriteStream(outFile);
await pipeline(Readable.from(out), sink);
const seconds = Number(process.hrtime.bigint() - t0) / 1e9; // excludes Node start-up and imports
console.log(JSON.stringify({ seconds, maxRssBytes: process.resourceUsage().maxRSS * 1024 }));
