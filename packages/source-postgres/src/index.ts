/**
 * @arca/source-postgres — PostgreSQL for Arca: `postgres()` (pg_dump / pg_restore source and
 * restore target), `restoreDrill()` / `drillBackup()` (restore into a scratch database and
 * check it), and `pgAdvisoryLock()` (a job `Lock` shared by every app instance on a database).
 */
export { postgres } from './postgres-source.js';
export type { PostgresOptions, PostgresRestoreOptions } from './postgres-options.js';
export { restoreDrill, drillBackup, type DrillOptions, type DrillReport, type DrillExpectations } from './postgres-drill.js';
export { pgAdvisoryLock, type PgAdvisoryLockOptions } from './postgres-lock.js';
