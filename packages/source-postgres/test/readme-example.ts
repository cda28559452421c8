import { createArca, localDir, maxAge, type Destination } from '@arca/core';
import { s3 } from '@arca/dest-s3';
import { drillBackup, pgAdvisoryLock, postgres } from '@arca/source-postgres';

// The PostgreSQL shop: `pg_dump -Fc` every night to a local folder and to S3, 7-day retention,
// one instance at a time (advisory lock on the app's own database).
export function shopBackups(databaseUrl: string, backupDir: string) {
  const destinations: Record<string, Destination> = { local: localDir({ path: backupDir }) };
  if (process.env.BACKUP_BUCKET) destinations.cloud = s3({ bucket: process.env.BACKUP_BUCKET, prefix: 'shop' });
  return createArca({
    destinations,
    jobs: {
      nightly: {
        // The password inside databaseUrl reaches pg_dump only through PGPASSWORD.
        sources: { db: postgres({ connection: databaseUrl, excludeTableData: ['sessions'] }) },
        destinations: Object.keys(destinations),
        schedule: 'daily@02:00',
        retention: maxAge({ days: 7 }),
      },
    },
    lock: pgAdvisoryLock({ connection: databaseUrl }),
  });
}

// Restore the newest backup into a new database, owned by the restoring user
// (`--no-owner`: what managed databases such as RDS or Cloud SQL need), then drill it.
export async function restoreNewestToScratch(databaseUrl: string, backupDir: string, scratchDatabase: string) {
  const arca = shopBackups(databaseUrl, backupDir);
  const [newest] = await arca.list('nightly');
  if (!newest) throw new Error('no backup yet');
  await arca.restore('nightly', newest.id, {
    into: postgres({ connection: databaseUrl, database: scratchDatabase, restore: { createDatabase: true, noOwner: true } }),
  });
  // A restore drill: scratch database, row counts vs the manifest, your own checks, dropped after.
  const drill = await drillBackup(arca, 'nightly', newest.id, {
    connection: databaseUrl,
    checks: [{ name: 'recent orders', sql: "SELECT count(*) > 0 FROM orders WHERE created_at > now() - interval '2 days'" }],
  });
  if (!drill.ok) throw new Error(`restore drill failed: ${drill.problems.join('; ')}`);
  return { backupId: newest.id, rtoMs: drill.restoreMs };
}
