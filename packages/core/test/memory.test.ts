import { execFile } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { once } from 'node:events';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { tempDir } from './helpers.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const dist = path.join(here, '..', 'dist', 'index.js');

/** Text-like data (CSV rows) so gzip does real work: a 4 MiB block of rows, written repeatedly. */
async function writeCsv(file: string, bytes: number, seed: number): Promise<void> {
  const lines: string[] = [];
  let len = 0;
  for (let row = seed * 1e7; len < 4 << 20; row++) {
    const l = `${row},ticket-${row % 9973},${(row * 2654435761) % 1000003},"customer ${row % 7919}",${row % 3 ? 'open' : 'closed'}\n`;
    lines.push(l);
    len += l.length;
  }
  const block = Buffer.from(lines.join(''));
  const out = createWriteStream(file);
  for (let written = 0; written < bytes; written += block.length) {
    if (!out.write(block)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
}

describe('memory stays flat', () => {
  it('backs up ~1 GiB to two destinations with peak RSS under 150 MB (child process, built package)', { timeout: 300_000 }, async () => {
    expect(existsSync(dist), `${dist} is missing: run \`npm run build\` first (npm test does)`).toBe(true);
    const dir = await tempDir('arca-mem');
    const src = path.join(dir, 'src');
    await fs.mkdir(src);
    for (let i = 0; i < 4; i++) await writeCsv(path.join(src, `part-${i}.csv`), 256 << 20, i);
    const { stdout } = await promisify(execFile)(process.execPath, [path.join(here, 'fixtures', 'big-backup.mjs'), src, path.join(dir, 'a'), path.join(dir, 'b')], {
      maxBuffer: 1 << 20,
    });
    const r = JSON.parse(stdout);
    expect(r.status).toBe('completed');
    expect(r.verified).toBe(true);
    expect(r.contentBytes).toBeGreaterThan(1 << 30);
    console.log(`1 GiB backup: stored ${(r.storedBytes / 2 ** 20).toFixed(0)} MiB per destination, peak RSS ${(r.maxRssBytes / 2 ** 20).toFixed(1)} MiB`);
    expect(r.maxRssBytes).toBeLessThan(150 * 1000 * 1000);
  });
});
