// `npm start`: both adapters in a real Arca instance. Creates demo-data/tickets.db (when
// missing), backs the table up into demo-data/usb/<YYYY-MM-DD>/…, verifies the copy and
// restores it into demo-data/restored.db.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { createArca } from '@arca/core';
import { datedFolders } from './dated-folders.js';
import { tableJsonl } from './table-jsonl.js';

const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'demo-data');
const dbFile = path.join(dir, 'tickets.db');
fs.mkdirSync(dir, { recursive: true });
if (!fs.existsSync(dbFile)) {
  const db = new Database(dbFile);
  db.exec("CREATE TABLE tickets (id INTEGER PRIMARY KEY, title TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'open')");
  const ins = db.prepare('INSERT INTO tickets (title) VALUES (?)');
  for (const t of ['Printer jams on duplex', 'VPN drops after 10 minutes', 'Projector shows no signal']) ins.run(t);
  db.close();
}

const arca = createArca({
  destinations: { usb: datedFolders({ path: path.join(dir, 'usb') }) },
  jobs: { tickets: { sources: { tickets: tableJsonl({ path: dbFile, table: 'tickets' }) }, destinations: ['usb'] } },
});

const check = await arca.check('tickets');
console.log(`check: ${check.ok ? 'ok' : 'problems'}`);
const run = await arca.run('tickets', { actor: 'demo' });
console.log(`backup ${run.backupId}: ${run.status}`);
for (const b of await arca.list('tickets')) console.log(`  ${b.id} ${b.startedAt}`);
const verify = await arca.verify('tickets', run.backupId, { level: 'checksum' });
console.log(`verify: ${verify.ok ? 'ok' : 'FAILED'}`);
const restored = path.join(dir, 'restored.db');
await arca.restore('tickets', run.backupId, { into: tableJsonl({ path: restored, table: 'tickets' }), overwrite: true });
console.log(`restored into ${restored}; files under ${path.join(dir, 'usb')}:`);
const walk = (d: string, pre = ''): string[] => fs.readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(path.join(d, e.name), `${pre}${e.name}/`) : [`${pre}${e.name}`]));
for (const f of walk(path.join(dir, 'usb'))) console.log(`  ${f}`);
