#!/usr/bin/env node
// `npm run bench`: run every bench/*.bench.mjs (or those named on the command line) one
// after another. Each prints ratios against the raw tool measured in the same run.
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const wanted = process.argv.slice(2);
const files = readdirSync(here)
  .filter((f) => f.endsWith('.bench.mjs'))
  .filter((f) => !wanted.length || wanted.some((w) => f.includes(w)))
  .sort();
let failed = 0;
for (const f of files) {
  console.log(`\n=== ${f} ===`);
  try {
    execFileSync(process.execPath, [path.join(here, f)], { stdio: 'inherit' });
  } catch {
    failed++;
    console.error(`${f} failed`);
  }
}
process.exit(failed ? 1 : 0);
