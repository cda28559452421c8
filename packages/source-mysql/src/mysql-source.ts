import type { Bytes, CheckReport, Dump, DumpOptions, RestoreOptions, SignalOptions, Source } from '@arca/core';
import { describeConfig, parseMySqlOptions, type MySqlOptions } from './mysql-options.js';
import { checkSource } from './mysql-check.js';
import { drillDatabase, drillFailed, type DrillOptions, type DrillReport } from './mysql-drill.js';
import { startDump } from './mysql-dump.js';
import { restoreDatabase } from './mysql-restore.js';

/** A Source whose restore() runs a drill instead of a real restore; `report` holds the last result. */
export interface MySqlDrillTarget extends Source {
  readonly report: DrillReport | undefined;
}

export interface MySqlSource extends Source {
  readonly kind: 'mysql';
  check(o?: SignalOptions): Promise<CheckReport>;
  dump(o?: DumpOptions): Promise<Dump>;
  /**
   * Restore a single-database dump into this source's `database` through a scratch database
   * (see the README: the target is changed only after the whole input loaded without error).
   * Rejects with TARGET_NOT_EMPTY, NOT_FOUND (target missing and createDatabase off),
   * RESTORE_FAILED (with the client's redacted stderr tail), the input's own error
   * (CHECKSUM_MISMATCH, CORRUPT_ARTIFACT) or ABORTED.
   */
  restore(input: AsyncIterable<Bytes>, o?: RestoreOptions): Promise<void>;
  /**
   * Restore drill: load the artifact into a new scratch database, compare tables, row counts,
   * views, routines, triggers and events with `expected` (the artifact's meta), run the
   * assertions, drop the scratch database (always) and report the measured duration (RTO).
   */
  drill(input: AsyncIterable<Bytes>, o?: DrillOptions): Promise<DrillReport>;
  /**
   * The drill as a restore target, for `arca.restore(job, id, { artifact, into: db.drillTarget({ expected }) })`:
   * core then streams and verifies the artifact, and restore() rejects with RESTORE_FAILED when a check fails.
   */
  drillTarget(o?: Omit<DrillOptions, 'signal'>): MySqlDrillTarget;
}

/**
 * A MySQL or MariaDB database dumped with `mariadb-dump`/`mysqldump` (plain SQL, streamed),
 * restored with the `mariadb`/`mysql` client. The password is handed to the tools only through
 * a temporary 0600 `--defaults-extra-file`, never on a command line.
 *
 * ```ts
 * mysql({ host: '127.0.0.1', user: 'backup', password: process.env.DB_PASSWORD, database: 'gestionelogistica' })
 * ```
 */
export function mysql(options: MySqlOptions): MySqlSource {
  const cfg = parseMySqlOptions(options);
  const src: MySqlSource = {
    kind: 'mysql',
    describe: () => describeConfig(cfg),
    check: (o) => checkSource(cfg, o),
    dump: (o) => startDump(cfg, o),
    restore: (input, o) => restoreDatabase(cfg, input, o),
    drill: (input, o) => drillDatabase(cfg, input, o),
    drillTarget(o = {}) {
      let report: DrillReport | undefined;
      return {
        kind: 'mysql-drill',
        describe: () => ({ ...describeConfig(cfg), drill: true }),
        dump: () => src.dump(),
        get report() {
          return report;
        },
        async restore(input, ro = {}) {
          report = await drillDatabase(cfg, input, { ...o, signal: ro.signal });
          if (!report.ok) throw drillFailed(report);
        },
      };
    },
  };
  return src;
}
