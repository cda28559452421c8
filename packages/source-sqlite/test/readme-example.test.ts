import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { backupThenRestore } from './readme-example.js';
import { integrity, tempDir } from './fixtures.js';

const here = path.dirname(fileURLToPath(import.meta.url));

describe('README example', () => {
  it('is the code shown in the README', async () => {
    const readme = await fs.readFile(path.join(here, '..', 'README.md'), 'utf8');
    const code = await fs.readFile(path.join(here, 'readme-example.ts'), 'utf8');
    expect(readme).toContain(code.slice(code.indexOf('import {')).trim());
  });

  it('backs up FIXIT (tickets.db + static/uploads) and restores both into a new place', async () => {
    const dir = await tempDir();
    const app = path.join(dir, 'fixit');
    await fs.mkdir(path.join(app, 'static', 'uploads'), { recursive: true });
    await fs.writeFile(path.join(app, 'static', 'uploads', 'screenshot.png'), Buffer.alloc(10_000, 3));
    await fs.writeFile(path.join(app, 'static', 'uploads', 'upload.part'), 'half an upload');
    const db = new Database(path.join(app, 'tickets.db'));
    db.pragma('journal_mode = WAL');
    db.exec("CREATE TABLE tickets (id INTEGER PRIMARY KEY, title TEXT); INSERT INTO tickets (title) VALUES ('printer jammed'), ('wifi down');");
    try {
      const run = await backupThenRestore(app, path.join(dir, 'backups'), path.join(dir, 'restored'));
      expect(run.artifacts.map((a) => a.file)).toEqual(['db.sqlite.gz', 'uploads.tar.gz']);
    } finally {
      db.close();
    }
    const restored = path.join(dir, 'restored', 'tickets.db');
    expect(integrity(restored)).toBe('ok');
    const r = new Database(restored, { readonly: true });
    expect(r.prepare('SELECT title FROM tickets ORDER BY id').all()).toEqual([{ title: 'printer jammed' }, { title: 'wifi down' }]);
    r.close();
    expect(await fs.readdir(path.join(dir, 'restored', 'uploads'))).toEqual(['screenshot.png']);
  });
});
