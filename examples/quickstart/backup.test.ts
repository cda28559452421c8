import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { sqlite } from '@arca/source-sqlite';
import { createBackups } from './backup.js';

const here = path.dirname(fileURLToPath(import.meta.url));

describe('README example', () => {
  it('is the code shown in the README', async () => {
    const readme = await fs.readFile(path.join(here, '..', '..', 'README.md'), 'utf8');
    const code = await fs.readFile(path.join(here, 'backup.ts'), 'utf8');
    const body = code.slice(code.indexOf('import {'), code.indexOf('// const arca'));
    expect(readme).toContain(body.trim());
  });

  it('backs up, lists, verifies and restores the database', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'arca-readme-'));
    try {
      await fs.mkdir(path.join(dir, 'app', 'static', 'uploads'), { recursive: true });
      await fs.writeFile(path.join(dir, 'app', 'static', 'uploads', 'a.png'), 'png');
      const db = new Database(path.join(dir, 'app', 'tickets.db'));
      db.exec('CREATE TABLE t (x); INSERT INTO t VALUES (42);');
      db.close();
      const arca = createBackups(path.join(dir, 'app'), path.join(dir, 'backups'));
      const run = await arca.run('daily', { trigger: 'manual', actor: 'alice' });
      expect(run.status).toBe('completed');
      const [latest] = await arca.list('daily');
      expect((await arca.verify('daily', latest!.id, { level: 'checksum' })).ok).toBe(true);
      await arca.restore('daily', latest!.id, { artifact: 'db', into: sqlite({ path: path.join(dir, 'restored.db') }) });
      const r = new Database(path.join(dir, 'restored.db'), { readonly: true });
      expect(r.prepare('SELECT x FROM t').get()).toEqual({ x: 42 });
      r.close();
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
