import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const bench = path.join(root, 'bench');

// The benches are not run in CI (minutes of CPU, noisy): these checks keep them from rotting.
describe('npm run bench', () => {
  it('every bench script parses (node --check)', async () => {
    const files = readdirSync(bench).filter((f) => f.endsWith('.mjs'));
    expect(files).toContain('run.mjs');
    expect(files.filter((f) => f.endsWith('.bench.mjs')).length).toBeGreaterThanOrEqual(10);
    await Promise.all(files.map((f) => run(process.execPath, ['--check', path.join(bench, f)])));
  });

  it('run.mjs runs a bench, prints one table with ratio and goal, and writes the results file with the machine', { timeout: 60_000 }, async () => {
    expect(existsSync(path.join(root, 'packages/core/dist/index.js')), 'build core first (npm test does)').toBe(true);
    const dir = await fs.mkdtemp(path.join(tmpdir(), 'arca-bench-test-'));
    try {
      const results = path.join(dir, 'RESULTS.md');
      const { stdout } = await run(process.execPath, [path.join(bench, 'run.mjs'), 'listing'], {
        cwd: root,
        env: { ...process.env, ARCA_BENCH_QUICK: '1', ARCA_BENCH_LIST_N: '300', ARCA_BENCH_LIST_ROUNDS: '2', ARCA_BENCH_RESULTS: results },
      });
      expect(stdout).toMatch(/arca\.list over 300 backups: first \d+ ms/);
      const row = stdout.split('\n').find((l) => l.startsWith('| listing 300 backups (arca.list, localDir; first call)'));
      expect(row, stdout).toBeDefined();
      const cells = row!.split('|').map((c) => c.trim());
      expect(cells[2]).toMatch(/^[\d.]+ ms$/); // Arca
      expect(cells[3]).toMatch(/^[\d.]+ ms$/); // raw find + cat, same run
      expect(cells[4]).toMatch(/^[\d.]+×$/);
      expect(cells[5]).toBe('< 200 ms');
      expect(['met', 'MISSED']).toContain(cells[6]);
      const md = await fs.readFile(results, 'utf8');
      expect(md).toContain('Quick mode');
      expect(md).toMatch(/- cpus: \d+ \(nproc\) × /);
      expect(md).toMatch(/- load average \(1\/5\/15 min\): [\d.]+ [\d.]+ [\d.]+ at start, [\d.]+ [\d.]+ [\d.]+ at end/);
      expect(md).toMatch(/- pg_dump: /);
      expect(md).toContain(row!);
      expect(md).toMatch(/listing\.bench\.mjs: ok/);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
