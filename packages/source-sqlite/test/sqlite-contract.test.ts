import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { expect } from 'vitest';
import { testSource } from '@arca/core/test-kit';
import { sqlite } from '@arca/source-sqlite';
import { createDb, integrity, readContent, tempDir } from './fixtures.js';

// The shared Source contract, against a real WAL-mode database of ~2 MiB (many 64 KiB chunks,
// so the abort test really stops mid-stream). Snapshots go to a private tempDir here.
testSource('sqlite', async () => {
  const dir = await tempDir();
  const file = path.join(dir, 'tickets.db');
  createDb(file, { wal: true, fillerRows: 2000 });
  const expected = readContent(file);
  let n = 0;
  return {
    source: sqlite({ path: file, tempDir: path.join(dir, 'tmp') }),
    restoreTarget: async () => sqlite({ path: path.join(dir, `restored-${++n}`, 'tickets.db') }),
    assertRestored: async (target) => {
      const restored = String(target.describe().path);
      expect(integrity(restored)).toBe('ok');
      expect(readContent(restored)).toEqual(expected);
    },
    snapshot: async (target) => {
      const restored = String(target.describe().path);
      const bytes = await fs.readFile(restored);
      // The folder listing proves no temp file was left beside the target.
      return { sha: createHash('sha256').update(bytes).digest('hex'), files: (await fs.readdir(path.dirname(restored))).sort() };
    },
  };
});
