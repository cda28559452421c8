// docs/guide/getting-started.md, run: its arca.config.ts and backups-runtime.ts blocks are
// written to a temp project (their './' paths moved inside it) and driven the way the page
// says — a backup verified right after it ran, health, the 30-day prune, a restore into a new
// place — against a real SQLite database and folder.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { directory, type Arca } from '@arca/core';
import { sqlite } from '@arca/source-sqlite';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const PAGE = path.join(ROOT, 'docs', 'guide', 'getting-started.md');
const DIR = path.join(ROOT, '.tmp', `getting-started-${process.pid}`);

afterAll(() => fs.rmSync(DIR, { recursive: true, force: true }));

/** The ```ts block right after `<!-- snippet: file <name> -->`. */
function namedBlock(markdown: string, name: string): string {
  const m = new RegExp(`<!-- snippet: file ${name.replace('.', '\\.')} -->\\s*\`\`\`ts\\n([\\s\\S]*?)\`\`\``).exec(markdown);
  if (!m) throw new Error(`no block named ${name} in ${PAGE}`);
  return m[1]!;
}

describe('getting started guide', () => {
  it('backs up, verifies after the run, reports health, plans the prune and restores, as the page says', async () => {
    const page = fs.readFileSync(PAGE, 'utf8');
    fs.mkdirSync(path.join(DIR, 'static', 'uploads'), { recursive: true });
    fs.writeFileSync(path.join(DIR, 'static', 'uploads', 'photo.jpg'), 'jpeg bytes');
    fs.writeFileSync(path.join(DIR, 'static', 'uploads', 'upload.part'), 'half an upload'); // excluded by the config
    const db = new Database(path.join(DIR, 'tickets.db'));
    db.exec("CREATE TABLE tickets (id INTEGER PRIMARY KEY, title TEXT); INSERT INTO tickets (title) VALUES ('printer'), ('wifi'), ('mail');");
    db.close();
    const inside = (code: string) => code.split("'./").join(`'${DIR}/`);
    fs.writeFileSync(path.join(DIR, 'arca.config.ts'), inside(namedBlock(page, 'arca.config.ts')));
    fs.writeFileSync(path.join(DIR, 'backups-runtime.ts'), namedBlock(page, 'backups-runtime.ts'));

    const { arca } = (await import(path.join(DIR, 'arca.config.ts'))) as { arca: Arca };
    const { startBackups } = (await import(path.join(DIR, 'backups-runtime.ts'))) as { startBackups: () => Promise<() => Promise<void>> };
    expect(arca.jobs()).toEqual(['daily']);
    expect(arca.nextRuns('daily', 1)).toHaveLength(1);

    const stop = await startBackups();
    try {
      const run = await arca.run('daily', { trigger: 'manual', actor: 'alice' });
      expect(run.status).toBe('completed');
      // The run:done listener of backups-runtime.ts re-reads every byte; its audit entry lands
      // in the run log once the verify finished.
      let audit: unknown;
      for (let i = 0; i < 100 && !audit; i++) {
        audit = (await arca.history({ job: 'daily', type: 'audit' })).find((e) => e.type === 'audit' && e.action === 'verify');
        if (!audit) await new Promise((r) => setTimeout(r, 50));
      }
      expect(audit).toMatchObject({ type: 'audit', action: 'verify', backupId: run.backupId, ok: true, actor: 'after-backup' });

      const health = await arca.health();
      expect(health.healthy, JSON.stringify(health)).toBe(true);
      const plan = await arca.prune('daily', { dryRun: true });
      expect(plan.decisions.map((d) => d.action)).toEqual(['keep']);

      await arca.restore('daily', run.backupId, { artifact: 'db', into: sqlite({ path: path.join(DIR, 'restored', 'tickets.db') }) });
      const restored = new Database(path.join(DIR, 'restored', 'tickets.db'), { readonly: true });
      expect(restored.prepare('SELECT count(*) AS n FROM tickets').get()).toEqual({ n: 3 });
      restored.close();
      await arca.restore('daily', run.backupId, { artifact: 'uploads', into: directory({ path: path.join(DIR, 'restored', 'uploads') }) });
      expect(fs.readdirSync(path.join(DIR, 'restored', 'uploads'))).toEqual(['photo.jpg']); // '*.part' left out
      const [backup] = await arca.list('daily');
      expect(backup?.id).toBe(run.backupId);
    } finally {
      await stop();
    }
  });
});
