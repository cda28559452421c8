// Every relative link in docs/ and the READMEs points to a file that exists, and every
// `#anchor` to a heading of that file (GitHub's slugs), so moving a page cannot silently
// break the others.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
// @ts-expect-error plain ESM script without type declarations
import { docFiles } from './docs-snippets.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** GitHub's heading anchor: lower case, punctuation dropped, spaces to dashes. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}_\- ]/gu, '')
    .replace(/ /g, '-');
}

function anchorsOf(file: string): Set<string> {
  const text = fs.readFileSync(file, 'utf8').replace(/```[\s\S]*?```/g, '');
  return new Set([...text.matchAll(/^#{1,6} (.*)$/gm)].map((m) => slug(m[1]!)));
}

describe('documentation links', () => {
  it('every relative link and anchor resolves', () => {
    const broken: string[] = [];
    let checked = 0;
    for (const rel of docFiles() as string[]) {
      const file = path.join(ROOT, rel);
      const text = fs.readFileSync(file, 'utf8').replace(/```[\s\S]*?```/g, '');
      for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = m[1]!;
        if (/^[a-z]+:/i.test(target)) continue; // http:, https:, mailto:
        checked++;
        const [p, anchor] = target.split('#') as [string, string | undefined];
        const full = p ? path.resolve(path.dirname(file), decodeURIComponent(p)) : file;
        if (!fs.existsSync(full)) {
          broken.push(`${rel}: ${target} (no such file)`);
          continue;
        }
        if (anchor && full.endsWith('.md') && !anchorsOf(full).has(anchor)) broken.push(`${rel}: ${target} (no such heading)`);
      }
    }
    expect(broken, broken.join('\n')).toEqual([]);
    expect(checked).toBeGreaterThan(100);
  });

  it('computes GitHub heading anchors', () => {
    expect(slug('4. `#recycle` and other NAS folders')).toBe('4-recycle-and-other-nas-folders');
    expect(slug('Restoring by hand, step by step (no Arca)')).toBe('restoring-by-hand-step-by-step-no-arca');
    expect(slug('Drills through `arca.verify`')).toBe('drills-through-arcaverify');
  });
});
