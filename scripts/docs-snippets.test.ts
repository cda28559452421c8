// Every ```ts block of docs/**/*.md and the READMEs typechecks (scripts/docs-snippets.mjs).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
// @ts-expect-error plain ESM script without type declarations
import { checkSnippets, docFiles, extractBlocks } from './docs-snippets.mjs';

interface Problem {
  file: string;
  line: number;
  message: string;
}
interface Result {
  blocks: number;
  skipped: Array<{ file: string; line: number; reason: string }>;
  problems: Problem[];
  outside: string[];
}

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SCRATCH = path.join(ROOT, '.tmp', 'docs-snippets-selftest');

afterAll(() => fs.rmSync(SCRATCH, { recursive: true, force: true }));

describe('documentation code blocks', () => {
  it('every ts block in docs/ and the READMEs typechecks', () => {
    const r = checkSnippets() as Result;
    const listing = r.problems.map((p) => `${p.file}:${p.line}: ${p.message}`).join('\n');
    expect(r.problems, `broken code blocks:\n${listing}`).toEqual([]);
    // The docs hold dozens of blocks; a parser that found none would pass vacuously.
    expect(r.blocks).toBeGreaterThan(40);
    // Skips are for real fragments only: each has a reason, and they stay rare.
    for (const s of r.skipped) expect(s.reason, `${s.file}:${s.line}`).not.toBe('');
    expect(r.skipped.length).toBeLessThanOrEqual(5);
  });

  it('scans docs/ and every README, but not the generated API reference', () => {
    const files = docFiles() as string[];
    expect(files).toContain('README.md');
    expect(files).toContain('docs/guide/getting-started.md');
    expect(files).toContain('packages/core/README.md');
    expect(files.some((f) => f.startsWith('docs/api/'))).toBe(false);
  });

  it('finds blocks with their Markdown line, honours skip markers and named files', () => {
    const md = [
      '# t', // 1
      '```ts', // 2
      'const a = 1;', // 3
      '```', // 4
      '<!-- snippet: skip a proposal -->', // 5
      '```typescript', // 6
      'nope(', // 7
      '```', // 8
      '<!-- snippet: file store.ts -->', // 9
      '',
      '```ts', // 11
      'export const s = 1;', // 12
      '```',
      '```sh',
      'echo not ts',
      '```',
    ].join('\n');
    const blocks = extractBlocks(md) as Array<{ line: number; code: string; skip?: string; name?: string }>;
    expect(blocks.map((b) => [b.line, b.skip, b.name])).toEqual([
      [3, undefined, undefined],
      [7, 'a proposal', undefined],
      [12, undefined, 'store.ts'],
    ]);
  });

  it('reports a broken block as file:line of the Markdown', () => {
    // A tiny project: its own docs/, the root's TypeScript, no packages.
    fs.rmSync(SCRATCH, { recursive: true, force: true });
    fs.mkdirSync(path.join(SCRATCH, 'docs'), { recursive: true });
    fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(SCRATCH, 'node_modules'), 'dir');
    fs.copyFileSync(path.join(ROOT, 'tsconfig.base.json'), path.join(SCRATCH, 'tsconfig.base.json'));
    fs.writeFileSync(path.join(SCRATCH, 'tsconfig.json'), JSON.stringify({ compilerOptions: { paths: {} } }));
    fs.writeFileSync(
      path.join(SCRATCH, 'docs', 'page.md'),
      ['# Page', '', '```ts', 'const ok: number = 1;', 'const bad: number = "one";', '```', '', '<!-- snippet: skip -->', '```ts', 'x', '```', ''].join('\n'),
    );
    const r = checkSnippets({ root: SCRATCH, out: path.join(SCRATCH, 'out') }) as Result;
    expect(r.blocks).toBe(1);
    expect(r.problems).toEqual([
      { file: 'docs/page.md', line: 5, message: expect.stringMatching(/^TS2322: Type 'string' is not assignable to type 'number'/) },
      { file: 'docs/page.md', line: 8, message: '<!-- snippet: skip --> needs a reason' },
    ]);
  });
});
