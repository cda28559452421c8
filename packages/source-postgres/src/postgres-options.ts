import { z } from 'zod';

const name = z.string().min(1);

/** Restore behaviour of a postgres() source used as a restore target. */
export const PostgresRestoreOptions = z
  .object({
    /**
     * Create the database when it does not exist (default false: a missing target is
     * `NOT_FOUND`). Created from `template0`; dropped again if the restore fails.
     */
    createDatabase: z.boolean().optional(),
    /** `--no-owner`: objects are owned by the restoring user (managed databases: RDS, Cloud SQL). Default: the source's `noOwner`. */
    noOwner: z.boolean().optional(),
    /** `--no-privileges`: skip GRANT/REVOKE. */
    noPrivileges: z.boolean().optional(),
    /** `--role=<role>`: SET ROLE before restoring. */
    role: name.optional(),
    /**
     * Parallel `pg_restore --jobs` (default 1). With more than one job the restore cannot
     * run in one transaction, so it goes into a scratch database that replaces the target
     * only once it is complete (see README, "How restore protects the target"). Archives
     * that pg_dump streamed to a pipe (Arca's) have no data offsets; the restore patches them
     * into the spooled file so parallel workers seek instead of scanning. With 1 job and a
     * scratch database (swap) the input streams into pg_restore without a spool.
     */
    jobs: z.number().int().min(1).max(64).optional(),
    /**
     * How an existing target is replaced when `overwrite` is set:
     * - `'transaction'` (default with jobs = 1): `pg_restore --clean --if-exists --single-transaction`
     *   into the target; PostgreSQL's transactional DDL rolls everything back on any error.
     *   Keeps the database, its settings, grants and connections; objects the dump does not
     *   contain are left in place.
     * - `'swap'` (default with jobs > 1): restore into a new database, then rename it over
     *   the target (the old one is dropped). Needs CREATEDB and no other sessions on the target.
     */
    strategy: z.enum(['transaction', 'swap']).optional(),
    /** With `strategy: 'swap'`, terminate other sessions on the target before renaming (default false: refuse). */
    terminateConnections: z.boolean().optional(),
    /** Folder for the spooled artifact (default: the OS temp folder). Needs room for one uncompressed dump. */
    spoolDir: z.string().min(1).optional(),
  })
  .strict();

/** The connection fields shared by `postgres()`, `restoreDrill()` and `pgAdvisoryLock()`. */
export const connectionShape = {
  /** `postgres://user:password@host:5432/db?sslmode=require`. Separate fields override its parts. */
  connection: z.string().min(1).optional(),
  host: z.string().min(1).optional(),
  port: z.number().int().optional(),
  user: z.string().min(1).optional(),
  /** Given to the tools only through PGPASSWORD or a 0600 passfile; redacted everywhere. */
  password: z.string().optional(),
  sslmode: z.string().optional(),
  /** Connection timeout in ms (default 10000) for the client and the tools (PGCONNECT_TIMEOUT). */
  connectTimeoutMs: z.number().int().min(1).optional(),
};

export const PostgresOptions = z
  .object({
    ...connectionShape,
    database: name.optional(),
    /** How the password reaches the tools: `'env'` (PGPASSWORD, default) or `'passfile'` (temporary 0600 file, PGPASSFILE). */
    passwordVia: z.enum(['env', 'passfile']).optional(),
    /** Database used for CREATE/DROP/RENAME DATABASE (default `postgres`). */
    maintenanceDatabase: name.optional(),
    pgDumpPath: z.string().min(1).optional(),
    pgRestorePath: z.string().min(1).optional(),
    psqlPath: z.string().min(1).optional(),
    /** `custom` (`-Fc`, default, restorable with pg_restore), `plain` (SQL text, restored with psql) or `tar`. */
    format: z.enum(['custom', 'plain', 'tar']).optional(),
    /**
     * pg_dump's own compression (`-Z`, 0–9) for the custom format. Default 0: Arca's job codec
     * (gzip/zstd) compresses, and compressing twice only burns CPU. Set e.g. 6 for a job with
     * `compress: 'none'` if you want pg_dump's per-table compression instead.
     */
    compression: z.number().int().min(0).max(9).optional(),
    schemaOnly: z.boolean().optional(),
    dataOnly: z.boolean().optional(),
    /** `-t` patterns (psql syntax: `public.orders`, `audit_*`). */
    includeTables: z.array(name).optional(),
    /** `-T` patterns. */
    excludeTables: z.array(name).optional(),
    /** `--exclude-table-data` patterns: schema kept, rows not dumped (logs, sessions, caches). */
    excludeTableData: z.array(name).optional(),
    /** `-n` patterns. */
    includeSchemas: z.array(name).optional(),
    /** `-N` patterns. */
    excludeSchemas: z.array(name).optional(),
    /** `--no-owner` when dumping (and default for restore). */
    noOwner: z.boolean().optional(),
    /** `--no-privileges`. */
    noPrivileges: z.boolean().optional(),
    /** More pg_dump arguments (`--no-comments`, `--lock-wait-timeout=30s`). Output, format and connection flags are refused. */
    extraArgs: z.array(z.string()).optional(),
    /**
     * Record exact row counts per table and sequence positions in the manifest, read in the
     * dump's own snapshot (default true). Restore drills compare against them. Costs one
     * `count(*)` scan per table, run while pg_dump streams.
     */
    rowCounts: z.boolean().optional(),
    /** Behaviour when this source is a restore target. */
    restore: PostgresRestoreOptions.optional(),
    /** Restore drills run by `arca.verify(job, id, { level: 'restore' })` (scratch database on the same server). */
    drill: z
      .object({
        /** Your assertions, run in the restored scratch database: each query MUST return one row whose first column is `true`. */
        checks: z.array(z.object({ name: z.string().min(1), sql: z.string().min(1) })).optional(),
        /** Scratch database name prefix (default `arca_drill`). */
        databasePrefix: z.string().min(1).max(40).optional(),
        /** Folder for the spooled artifact (default: the OS temp folder). */
        spoolDir: z.string().min(1).optional(),
      })
      .strict()
      .optional(),
  })
  .strict()
  .refine((o) => o.connection !== undefined || o.database !== undefined, { message: 'give `connection` (a postgres:// URI) or at least `database`' })
  .refine((o) => !(o.schemaOnly && o.dataOnly), { message: '`schemaOnly` and `dataOnly` exclude each other' });

export type PostgresOptions = z.input<typeof PostgresOptions>;
export type PostgresRestoreOptions = z.input<typeof PostgresRestoreOptions>;
export type ParsedPostgresOptions = z.output<typeof PostgresOptions>;

/** Flags that would break streaming, the chosen format or the secret handling. */
const FORBIDDEN_EXTRA = /^(-f|--file|-F|--format|-d|--dbname|-h|--host|-p|--port|-U|--username|-W|--password|-Z|--compress|-j|--jobs|--snapshot)(=|$)|^-[fFdhpUWZj]./;

export function forbiddenExtraArg(args: string[] | undefined): string | undefined {
  return args?.find((a) => FORBIDDEN_EXTRA.test(a));
}

/** pg_dump arguments for the options (no connection data: that lives in the environment). */
export function pgDumpArgs(o: ParsedPostgresOptions, snapshot?: string): string[] {
  const format = o.format ?? 'custom';
  const args = ['--no-password', `--format=${format[0]!}`];
  if (format === 'custom') args.push(`--compress=${o.compression ?? 0}`);
  if (o.schemaOnly) args.push('--schema-only');
  if (o.dataOnly) args.push('--data-only');
  for (const t of o.includeTables ?? []) args.push(`--table=${t}`);
  for (const t of o.excludeTables ?? []) args.push(`--exclude-table=${t}`);
  for (const t of o.excludeTableData ?? []) args.push(`--exclude-table-data=${t}`);
  for (const s of o.includeSchemas ?? []) args.push(`--schema=${s}`);
  for (const s of o.excludeSchemas ?? []) args.push(`--exclude-schema=${s}`);
  if (o.noOwner) args.push('--no-owner');
  if (o.noPrivileges) args.push('--no-privileges');
  if (snapshot) args.push(`--snapshot=${snapshot}`);
  args.push(...(o.extraArgs ?? []));
  return args;
}

export const FILENAMES = { custom: 'db.pgdump', plain: 'db.sql', tar: 'db.tar' } as const;
