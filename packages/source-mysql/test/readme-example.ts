// The README example, kept here so `tsc` typechecks it (not a test file: no vitest run).
import { createArca, gfs, gzip, localDir } from '@arca/core';
import { mysql } from '@arca/source-mysql';

// Partesa: the logistics database, dumped every 4 hours (RPO < 4 h) with a consistent
// snapshot, routines and triggers, gzip, GFS rotation 7 daily / 4 weekly / 12 monthly.
const db = mysql({
  host: '127.0.0.1',
  port: 3306,
  user: 'arca_backup',
  password: process.env.PARTESA_DB_PASSWORD,
  database: 'gestionelogistica',
  singleTransaction: true,
  routines: true,
  triggers: true,
  excludeTables: ['session_cache'],
});

export const arca = createArca({
  destinations: { local: localDir({ path: '/var/backups/partesa' }) },
  jobs: {
    partesa: {
      sources: { db },
      destinations: ['local'],
      schedule: '0 */4 * * *',
      timezone: 'Europe/Rome',
      compress: gzip({ level: 6 }),
      retention: gfs({ daily: 7, weekly: 4, monthly: 12 }),
      health: { maxAge: '4h' },
    },
  },
});

export async function nightlyDrill(): Promise<void> {
  const [latest] = await arca.list('partesa');
  if (!latest) throw new Error('no backup yet');
  const meta = latest.artifacts.find((a) => a.source === 'db')!.meta;
  const target = db.drillTarget({
    expected: meta, // tables, row counts, views, routines, triggers, events at dump time
    assertions: [{ name: 'no orphan shipments', sql: 'SELECT COUNT(*) FROM spedizioni s LEFT JOIN ordini o ON o.id = s.ordine_id WHERE o.id IS NULL', expect: 0 }],
  });
  // Core streams the artifact, checks its sha256, gunzips it; the drill restores it into a
  // scratch database, compares, drops the scratch database and measures the time (RTO).
  await arca.restore('partesa', latest.id, { artifact: 'db', into: target });
  console.log(`drill ok in ${target.report!.durationMs} ms (RTO target: 30 min)`);
}

export async function restoreIntoCopy(backupId: string): Promise<void> {
  // Into another database, created on request; the live database is not touched.
  await arca.restore('partesa', backupId, {
    artifact: 'db',
    into: mysql({ host: '127.0.0.1', user: 'arca_restore', password: process.env.PARTESA_RESTORE_PASSWORD, database: 'gestionelogistica_copy', createDatabase: true }),
  });
  // In place (no `into`): core takes a safety backup first, then restores with overwrite.
  await arca.restore('partesa', backupId, { artifact: 'db', overwrite: true });
}
