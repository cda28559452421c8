import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const here = path.dirname(fileURLToPath(import.meta.url));

describe('README quick start: npm run demo', () => {
  it('backs up the demo app, lists, verifies, restores and proves the data matches', { timeout: 120_000 }, async () => {
    for (const p of ['core', 'source-sqlite']) {
      expect(existsSync(path.join(here, '..', 'packages', p, 'dist', 'index.js')), `build ${p} first (npm test does)`).toBe(true);
    }
    const { stdout } = await promisify(execFile)(process.execPath, [path.join(here, 'demo.mjs')], { cwd: path.join(here, '..') });
    expect(stdout).toMatch(/backup \d{8}T\d{6}(\d{3})?Z-[0-9a-f]+: completed/);
    expect(stdout).toContain('verify (checksum): ok');
    expect(stdout).toContain('database integrity_check: ok');
    expect(stdout).toContain('original 5000 rows identical: true');
    expect(stdout).toContain('uploads: 21/21 files, byte-identical: true');
    expect(stdout).toContain('✓ restored data matches');
  });
});
