import { z } from 'zod';
import {
  ArcaError,
  ErrorCodes,
  abortError,
  isArcaError,
  parseOptions,
  serializeError,
  throwIfAborted,
  type Arca,
  type Bytes,
  type SerializedError,
  type Source,
} from '@arca/core';
import { connect, ident, resolveConnection, withDatabase, type PgConnection } from './postgres-connection.js';
import { createDatabase, dropDatabase, runRestoreTool, scratchName, spoolInput, validateSpool, type RestoreContext, type Spool } from './postgres-restore.js';
import { listRelations } from './postgres-stats.js';
import { connectionShape } from './postgres-options.js';

const DrillOptions = z
  .object({
    /** Server where the scratch database is created (`postgres://user:pw@host/anydb`); the user needs CREATEDB. */
    ...connectionShape,
    /** Database to connect to for CREATE/DROP DATABASE (default `postgres`). */
    maintenanceDatabase: z.string().min(1).optional(),
    pgRestorePath: z.string().min(1).optional(),
    psqlPath: z.string().min(1).optional(),
    /** Artifact format (default: from the manifest, else `custom`). */
    format: z.enum(['custom', 'plain', 'tar']).optional(),
    /**
     * `pg_restore --jobs` (default 1). Archives streamed by pg_dump to a pipe (as Arca's are)
     * carry no data offsets, so parallel workers must scan the file for their table: on
     * PostgreSQL 15 that measured slower than one job (see docs/sources/postgres.md).
     */
    jobs: z.number().int().min(1).max(64).optional(),
    noOwner: z.boolean().optional(),
    role: z.string().min(1).optional(),
    spoolDir: z.string().min(1).optional(),
    /**
     * Your own assertions, run in the restored database: each query MUST return one row whose
     * first column is `true` (`SELECT count(*) > 0 FROM orders WHERE created_at > now() - interval '2 days'`).
     */
    checks: z.array(z.object({ name: z.string().min(1), sql: z.string().min(1) })).optional(),
    /** Name prefix of the scratch database (default `arca_drill`). */
    databasePrefix: z.string().min(1).max(40).optional(),
  })
  .strict();

export type DrillOptions = z.input<typeof DrillOptions>;

export interface DrillExpectations {
  /** `schema.table` → rows at dump time (from the artifact's meta). */
  tables?: Record<string, number>;
  /** `schema.sequence` → last_value at dump time (null: never called). */
  sequences?: Record<string, number | null>;
}

/** What a drill compares with, from an artifact's `meta` (recorded by `dump.meta()`), and the archive format it says. */
export function drillExpectations(meta: Record<string, unknown> | undefined): { expected: DrillExpectations; format?: 'custom' | 'plain' | 'tar' } {
  const m = (meta ?? {}) as { tables?: Record<string, number>; sequences?: Record<string, number | null>; format?: 'custom' | 'plain' | 'tar' };
  return { expected: { ...(m.tables ? { tables: m.tables } : {}), ...(m.sequences ? { sequences: m.sequences } : {}) }, ...(m.format ? { format: m.format } : {}) };
}

export interface DrillReport {
  /** True when the restore succeeded and every check passed. */
  ok: boolean;
  /** The scratch database (already dropped). */
  database: string;
  /** Artifact bytes restored. */
  bytes: number;
  /** From the first byte received to pg_restore done: spool + validate + restore. This is the measured RTO. */
  restoreMs: number;
  checkMs: number;
  /** Including creating and dropping the scratch database. */
  totalMs: number;
  /** Tables and rows found in the restored database. */
  tables: number;
  rows: number;
  /** Tables and sequences whose restored value differs from the one recorded at dump time. */
  mismatches: Array<{ relation: string; expected: number | null; actual: number | null | 'missing' }>;
  checks: Array<{ name: string; ok: boolean; error?: string }>;
  /** Every reason `ok` is false, phrased for a person. */
  problems: string[];
  /** The restore error, when pg_restore failed. */
  error?: SerializedError;
}

async function runChecks(conn: PgConnection, database: string, expected: DrillExpectations, checks: Array<{ name: string; sql: string }>, report: DrillReport, signal?: AbortSignal): Promise<void> {
  const client = await connect(withDatabase(conn, database), signal);
  try {
    const actualTables: Record<string, number> = {};
    const actualSeqs: Record<string, number | null> = {};
    for (const r of await listRelations(client)) {
      throwIfAborted(signal, 'The restore drill');
      const q = `${ident(r.schema)}.${ident(r.name)}`;
      const key = `${r.schema}.${r.name}`;
      if (r.kind === 'table') {
        actualTables[key] = Number((await client.query<{ n: string }>(`SELECT count(*)::text AS n FROM ONLY ${q}`)).rows[0]!.n);
      } else {
        const s = (await client.query<{ v: string; c: boolean }>(`SELECT last_value::text AS v, is_called AS c FROM ${q}`)).rows[0]!;
        actualSeqs[key] = s.c ? Number(s.v) : null;
      }
    }
    report.tables = Object.keys(actualTables).length;
    report.rows = Object.values(actualTables).reduce((a, b) => a + b, 0);
    if (report.tables === 0 && !expected.tables) report.problems.push('The restored database has no tables.');
    for (const [rel, n] of Object.entries(expected.tables ?? {})) {
      const actual = actualTables[rel];
      if (actual === undefined) report.mismatches.push({ relation: rel, expected: n, actual: 'missing' });
      else if (actual !== n) report.mismatches.push({ relation: rel, expected: n, actual });
    }
    for (const [rel, v] of Object.entries(expected.sequences ?? {})) {
      const actual = actualSeqs[rel];
      if (actual === undefined) report.mismatches.push({ relation: rel, expected: v, actual: 'missing' });
      else if (actual !== v) report.mismatches.push({ relation: rel, expected: v, actual });
    }
    for (const m of report.mismatches.slice(0, 20)) {
      report.problems.push(`${m.relation}: expected ${String(m.expected)}, restored ${String(m.actual)}.`);
    }
    if (report.mismatches.length > 20) report.problems.push(`…and ${report.mismatches.length - 20} more mismatches.`);
    for (const c of checks) {
      try {
        const r = await client.query(c.sql);
        const first = r.rows[0] ? Object.values(r.rows[0] as Record<string, unknown>)[0] : undefined;
        if (first === true) report.checks.push({ name: c.name, ok: true });
        else {
          report.checks.push({ name: c.name, ok: false, error: `returned ${JSON.stringify(first ?? null)} instead of true` });
          report.problems.push(`Check "${c.name}" returned ${JSON.stringify(first ?? null)} instead of true.`);
        }
      } catch (e) {
        if (signal?.aborted) throw abortError(signal, 'The restore drill');
        report.checks.push({ name: c.name, ok: false, error: (e as Error).message });
        report.problems.push(`Check "${c.name}" failed: ${(e as Error).message}`);
      }
    }
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * A restore drill: restore an artifact into a new scratch database, compare every table's
 * row count and every sequence with the values recorded at dump time, run the user's SQL
 * checks, and drop the scratch database — also when anything fails. The returned
 * `restoreMs` is the real recovery time of this backup on this server.
 *
 * Throws only when the drill could not be run at all: `ABORTED`, errors from `input`
 * (`CHECKSUM_MISMATCH`, `CORRUPT_ARTIFACT`), an unreadable archive, or no access to the
 * server. A failed pg_restore or a failed check is a report with `ok: false`.
 */
export async function restoreDrill(options: DrillOptions, input: AsyncIterable<Bytes>, expected: DrillExpectations = {}, o: { signal?: AbortSignal } = {}): Promise<DrillReport> {
  const opts = parseOptions(DrillOptions, options, 'restoreDrill');
  const signal = o.signal;
  throwIfAborted(signal, 'The restore drill');
  const t0 = Date.now();
  const maintenance = opts.maintenanceDatabase ?? 'postgres';
  const conn = resolveConnection({ ...opts, database: maintenance, applicationName: 'arca-drill' });
  const database = scratchName(opts.databasePrefix ?? 'arca_drill', 'd');
  const ctx: RestoreContext = {
    conn: withDatabase(conn, database),
    maintenanceDatabase: maintenance,
    pgRestore: opts.pgRestorePath ?? 'pg_restore',
    psql: opts.psqlPath ?? 'psql',
    format: opts.format ?? 'custom',
    passwordVia: 'env',
    noOwner: opts.noOwner,
    restore: { ...(opts.role ? { role: opts.role } : {}) },
  };
  const report: DrillReport = { ok: false, database, bytes: 0, restoreMs: 0, checkMs: 0, totalMs: 0, tables: 0, rows: 0, mismatches: [], checks: [], problems: [] };
  const admin = await connect(conn, signal);
  let spool: Spool | undefined;
  let created = false;
  try {
    spool = await spoolInput(input, opts.spoolDir, signal, ctx.format);
    report.bytes = spool.bytes;
    await validateSpool(ctx, spool, signal);
    await createDatabase(admin, database);
    created = true;
    try {
      const jobs = opts.jobs ?? 1;
      await runRestoreTool(ctx, spool, database, { clean: false, singleTransaction: jobs === 1, jobs, signal });
    } catch (e) {
      if (isArcaError(e, 'ABORTED') || signal?.aborted) throw abortError(signal, 'The restore drill');
      report.error = serializeError(e);
      report.problems.push(report.error.message);
    }
    report.restoreMs = Date.now() - t0;
    if (!report.error) {
      const t1 = Date.now();
      await runChecks(conn, database, expected, opts.checks ?? [], report, signal);
      report.checkMs = Date.now() - t1;
    }
    report.ok = report.problems.length === 0;
  } catch (e) {
    if (signal?.aborted) throw abortError(signal, 'The restore drill');
    throw e;
  } finally {
    if (created) await dropDatabase(admin, database).catch(() => {});
    await spool?.remove().catch(() => {});
    await admin.end().catch(() => {});
    report.totalMs = Date.now() - t0;
  }
  return report;
}

/**
 * Run a restore drill on a stored backup through the public Arca API: the artifact is read
 * from the first healthy destination, checksum-verified and decoded by `arca.restore` (which
 * also records an audit entry), then handed to {@link restoreDrill} with the row counts the
 * manifest recorded at dump time. `totalMs` covers download + decode + restore + checks.
 */
export async function drillBackup(
  arca: Pick<Arca, 'get' | 'restore'>,
  job: string,
  backupId: string,
  options: DrillOptions & { artifact?: string; signal?: AbortSignal; actor?: string },
): Promise<DrillReport & { artifact: string; from?: string }> {
  const { artifact: wanted, signal, actor, ...drillOpts } = options;
  const details = await arca.get(job, backupId, signal ? { signal } : {});
  const candidates = details.manifest.artifacts.filter((a) => (wanted ? a.source === wanted : a.kind === 'postgres'));
  if (candidates.length !== 1) {
    throw new ArcaError(
      ErrorCodes.NOT_FOUND,
      wanted
        ? `Backup ${backupId} has no artifact "${wanted}"; it has: ${details.manifest.artifacts.map((a) => a.source).join(', ')}.`
        : `Backup ${backupId} has ${candidates.length} postgres artifacts: pass { artifact } to pick one.`,
    );
  }
  const art = candidates[0]!;
  const { expected, format } = drillExpectations(art.meta);
  let report: DrillReport | undefined;
  const t0 = Date.now();
  const target: Source = {
    kind: 'postgres-drill',
    describe: () => ({ kind: 'postgres-drill' }),
    dump: () => Promise.reject(new ArcaError(ErrorCodes.NOT_SUPPORTED, 'A drill target cannot be dumped.')),
    restore: async (input, o = {}) => {
      report = await restoreDrill({ ...(format ? { format } : {}), ...drillOpts }, input, expected, o.signal ? { signal: o.signal } : {});
    },
  };
  const r = await arca.restore(job, backupId, { artifact: art.source, into: target, ...(signal ? { signal } : {}), ...(actor ? { actor } : {}) });
  return { ...report!, totalMs: Date.now() - t0, artifact: art.source, ...(r.artifacts[0] ? { from: r.artifacts[0].from } : {}) };
}
