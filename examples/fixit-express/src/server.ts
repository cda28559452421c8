// Start FIXIT: open (and seed) the database, build the backups, serve the app, run the
// schedules in-process. `npm start` from this folder (see README.md).
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createSessions } from './auth.js';
import { createFixitBackups, pruneAfterRuns } from './backups.js';
import { createFixitApp } from './app.js';
import { openDatabase } from './db.js';

const root = path.resolve(process.env.FIXIT_ROOT ?? path.join(path.dirname(fileURLToPath(import.meta.url)), '..'));
const { arca, paths, warnings } = createFixitBackups(root, process.env);
for (const w of warnings) console.warn(`warning: ${w}`);

// First start: the admin's password comes from FIXIT_ADMIN_PASSWORD or is generated and shown once.
const firstStart = !fs.existsSync(paths.database);
const adminPassword = process.env.FIXIT_ADMIN_PASSWORD ?? randomBytes(9).toString('base64url');
const db = openDatabase(paths.database, [
  { username: 'admin', password: adminPassword, superuser: true },
  { username: 'tech', password: process.env.FIXIT_TECH_PASSWORD ?? randomBytes(9).toString('base64url'), superuser: false },
]);
if (firstStart && !process.env.FIXIT_ADMIN_PASSWORD) console.log(`created ${paths.database}; log in as admin / ${adminPassword}`);
fs.mkdirSync(paths.uploads, { recursive: true });
if (fs.readdirSync(paths.uploads).length === 0) fs.writeFileSync(path.join(paths.uploads, 'welcome.txt'), 'Attachments of FIXIT tickets land here.\n');

const sessions = createSessions(db);
const { app, admin } = createFixitApp({ db, sessions, arca, paths, secureCookies: process.env.NODE_ENV === 'production' });

arca.on('run:done', (r) => console.log(`backup ${r.job} ${r.backupId}: ${r.status}`));
arca.on('error', (e) => console.error(`arca: ${e.context ?? ''} ${e.error.message}`));
pruneAfterRuns(arca);
await arca.start(); // daily@02:00 and weekly@sun 03:00, in this process

const server = app.listen(Number(process.env.PORT ?? 3000), process.env.HOST ?? '127.0.0.1', () => {
  const { address, port } = server.address() as AddressInfo;
  console.log(`FIXIT on http://${address}:${port}/ · backups at http://${address}:${port}/admin/backups`);
  console.log(`next daily: ${arca.nextRuns('daily', 1)[0]?.toISOString()} · next weekly: ${arca.nextRuns('weekly', 1)[0]?.toISOString()}`);
});

async function shutdown(signal: string) {
  console.log(`${signal}: waiting for running backups, then exiting`);
  server.close();
  admin.dispose();
  await arca.stop({ timeoutMs: 60_000 });
  db.close();
  process.exit(0);
}
process.once('SIGINT', () => void shutdown('SIGINT'));
process.once('SIGTERM', () => void shutdown('SIGTERM'));
