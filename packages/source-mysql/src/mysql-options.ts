import { z } from 'zod';
import { ArcaError, ErrorCodes, parseOptions, registerSecret } from '@arca/core';

/** A MySQL/MariaDB identifier as we accept it in options: 1..64 chars, no NUL. */
const Identifier = z
  .string()
  .min(1)
  .max(64)
  .refine((s) => !s.includes('\0'), 'must not contain NUL');

/** Arguments that would smuggle credentials or option files past us. */
const FORBIDDEN_ARG = /^(-p|--password|--defaults-file|--defaults-extra-file|--no-defaults|--defaults-group-suffix|--login-path)/;

export const MySqlOptionsSchema = z
  .object({
    /** Server host (default `127.0.0.1`). Ignored when `socket` is given. Connections use TCP. */
    host: z.string().min(1).default('127.0.0.1'),
    /** Server port (default 3306). */
    port: z.number().int().min(1).max(65535).default(3306),
    /** Unix socket path; when set, the tools and the driver connect through it instead of TCP. */
    socket: z.string().min(1).optional(),
    /** User name. */
    user: z.string().min(1),
    /** Password. Never put on a command line: it goes to a temporary 0600 `--defaults-extra-file`. */
    password: z.string().optional(),
    /** The one database to dump (restorable, drillable). */
    database: Identifier.optional(),
    /** Several databases in one artifact (`--databases`); dump only, not restorable by Arca. */
    databases: z.array(Identifier).min(1).optional(),
    /** Every database (`--all-databases`); dump only, not restorable by Arca. */
    allDatabases: z.boolean().optional(),
    /** Path of `mariadb-dump`/`mysqldump`; default: the first of them found on PATH. */
    dumpPath: z.string().min(1).optional(),
    /** Path of the `mariadb`/`mysql` client used by restore and drill; default: found on PATH. */
    clientPath: z.string().min(1).optional(),
    /** `--single-transaction`: a consistent InnoDB snapshot without locking tables (default true). */
    singleTransaction: z.boolean().default(true),
    /** Dump stored procedures and functions (`--routines`, default true). */
    routines: z.boolean().default(true),
    /** Dump triggers (`--triggers`, default true). */
    triggers: z.boolean().default(true),
    /** Dump scheduled events (`--events`, default true). */
    events: z.boolean().default(true),
    /** Binary columns as hex literals (`--hex-blob`, default true): byte-exact and ASCII-safe. */
    hexBlob: z.boolean().default(true),
    /**
     * Record the binary log file/position and GTID of the snapshot when binary logging is on
     * (default true). Uses `--master-data=2`/`--source-data=2`, which needs RELOAD and
     * BINLOG MONITOR / REPLICATION CLIENT. When binary logging is off, meta says so.
     */
    binlogPosition: z.boolean().default(true),
    /** Tables to leave out: `name` (in `database`) or `db.name`. */
    excludeTables: z.array(z.string().min(1)).optional(),
    /** Extra dump arguments, appended last. Password and option-file arguments are refused. */
    extraArgs: z.array(z.string()).optional(),
    /** Connect timeout for the driver and the tools, in ms (default 10 000). */
    connectTimeoutMs: z.number().int().min(100).max(600_000).default(10_000),
    /** restore(): create the target database when it does not exist (default false: NOT_FOUND). */
    createDatabase: z.boolean().default(false),
  })
  .strict()
  .superRefine((o, ctx) => {
    const n = Number(o.database !== undefined) + Number(o.databases !== undefined) + Number(o.allDatabases === true);
    if (n !== 1) ctx.addIssue({ code: 'custom', path: ['database'], message: 'give exactly one of database, databases or allDatabases: true' });
    for (const [i, a] of (o.extraArgs ?? []).entries()) {
      if (FORBIDDEN_ARG.test(a)) ctx.addIssue({ code: 'custom', path: ['extraArgs', i], message: 'credentials and option files are set by Arca (use the password option)' });
    }
  });

export type MySqlOptions = z.input<typeof MySqlOptionsSchema>;
export type MySqlConfig = z.output<typeof MySqlOptionsSchema>;

export function parseMySqlOptions(options: MySqlOptions): MySqlConfig {
  const cfg = parseOptions(MySqlOptionsSchema, options, 'mysql');
  registerSecret(cfg.password);
  return cfg;
}

/** The databases a config covers (undefined for allDatabases: resolved from the server). */
export function configuredDatabases(cfg: MySqlConfig): string[] | undefined {
  if (cfg.database !== undefined) return [cfg.database];
  return cfg.databases;
}

/** Safe view of the options for describe(): no password, only whether one is set. */
export function describeConfig(cfg: MySqlConfig): Record<string, unknown> {
  return {
    kind: 'mysql',
    ...(cfg.socket ? { socket: cfg.socket } : { host: cfg.host, port: cfg.port }),
    user: cfg.user,
    passwordSet: cfg.password !== undefined && cfg.password !== '',
    ...(cfg.database !== undefined ? { database: cfg.database } : cfg.databases ? { databases: cfg.databases } : { allDatabases: true }),
    singleTransaction: cfg.singleTransaction,
    routines: cfg.routines,
    triggers: cfg.triggers,
    events: cfg.events,
    hexBlob: cfg.hexBlob,
    binlogPosition: cfg.binlogPosition,
    excludeTables: cfg.excludeTables ?? [],
    ...(cfg.extraArgs?.length ? { extraArgs: cfg.extraArgs } : {}),
    ...(cfg.dumpPath ? { dumpPath: cfg.dumpPath } : {}),
    ...(cfg.clientPath ? { clientPath: cfg.clientPath } : {}),
  };
}

/** Quote an identifier for SQL (backticks doubled). */
export function qi(name: string): string {
  return '`' + name.replace(/`/g, '``') + '`';
}

export function requireSingleDatabase(cfg: MySqlConfig, what: string): string {
  if (cfg.database === undefined) {
    throw new ArcaError(
      ErrorCodes.NOT_SUPPORTED,
      `${what} needs a source configured with one \`database\`: a multi-database dump writes into the databases named inside it and cannot go through a scratch database. Use one mysql() source per database, or load the file by hand with the mariadb client.`,
    );
  }
  return cfg.database;
}
