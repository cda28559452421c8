import type pg from 'pg';
import { ArcaError, ErrorCodes, abortError, parseOptions, redact, throwIfAborted, type CheckReport, type Dump, type Source } from '@arca/core';
import { connect, connectionError, describeConnection, resolveConnection } from './postgres-connection.js';
import { FILENAMES, PostgresOptions, forbiddenExtraArg, pgDumpArgs, type ParsedPostgresOptions } from './postgres-options.js';
import { drillExpectations, restoreDrill } from './postgres-drill.js';
import { restoreDatabase } from './postgres-restore.js';
import { collectStats, dumpsDataOf, type DataStats } from './postgres-stats.js';
import { dumpVersionProblem, serverMajor, spawnTool, toolFailure, toolVersion } from './postgres-tools.js';

export interface ServerInfo {
  version: string;
  versionNum: number;
  major: number;
  databaseBytes: number;
  /** Heap + TOAST bytes of user tables: a rough size of an uncompressed dump (progress ETA only). */
  tableBytes: number;
  inRecovery: boolean;
}

export async function serverInfo(client: pg.Client): Promise<ServerInfo> {
  const r = await client.query<{ v: string; n: number; db: string; tb: string | null; rec: boolean }>(`
    SELECT current_setting('server_version') AS v, current_setting('server_version_num')::int AS n,
           pg_database_size(current_database())::text AS db,
           (SELECT sum(pg_table_size(c.oid)) FROM pg_class c JOIN pg_namespace ns ON ns.oid = c.relnamespace
             WHERE c.relkind IN ('r', 'm') AND ns.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast'))::text AS tb,
           pg_is_in_recovery() AS rec`);
  const row = r.rows[0]!;
  const version = row.v.split(' ')[0]!;
  return { version, versionNum: row.n, major: serverMajor(row.n), databaseBytes: Number(row.db), tableBytes: Number(row.tb ?? 0), inRecovery: row.rec };
}

/**
 * A PostgreSQL database dumped with `pg_dump` (custom format by default, streamed from its
 * stdout) and restored with `pg_restore`.
 *
 * - The connection travels to the tools only through their environment (`PGHOST`, ...,
 *   `PGPASSWORD` or a 0600 passfile): argv holds no host, user or password.
 * - `dump()` exports a snapshot and passes it to pg_dump (`--snapshot`), so the exact row
 *   counts and sequence positions recorded in `meta()` describe exactly what was dumped.
 * - The stream throws `SOURCE_FAILED` (with pg_dump's redacted stderr tail) when pg_dump
 *   exits non-zero or is killed, and `ABORTED` on abort (the child is killed).
 * - `restore()` spools and validates the artifact before touching the target, see
 *   {@link restoreDatabase}.
 */
export function postgres(options: PostgresOptions): Source {
  const opts: ParsedPostgresOptions = parseOptions(PostgresOptions, options, 'postgres');
  const bad = forbiddenExtraArg(opts.extraArgs);
  if (bad) {
    throw new ArcaError(ErrorCodes.CONFIG_INVALID, `postgres: extraArgs may not contain ${JSON.stringify(redact(bad))}: output, format, compression and connection are set by the source's own options.`);
  }
  const conn = resolveConnection({ ...opts, connection: opts.connection });
  const pgDump = opts.pgDumpPath ?? 'pg_dump';
  const pgRestore = opts.pgRestorePath ?? 'pg_restore';
  const psql = opts.psqlPath ?? 'psql';
  const format = opts.format ?? 'custom';
  const passwordVia = opts.passwordVia ?? 'env';
  const keepStats = dumpsDataOf(opts);

  const describe = () => ({
    kind: 'postgres',
    ...describeConnection(conn),
    format,
    ...(format === 'custom' ? { compression: opts.compression ?? 0 } : {}),
    ...(opts.schemaOnly ? { schemaOnly: true } : {}),
    ...(opts.dataOnly ? { dataOnly: true } : {}),
    ...(opts.includeTables ? { includeTables: opts.includeTables } : {}),
    ...(opts.excludeTables ? { excludeTables: opts.excludeTables } : {}),
    ...(opts.excludeTableData ? { excludeTableData: opts.excludeTableData } : {}),
    ...(opts.includeSchemas ? { includeSchemas: opts.includeSchemas } : {}),
    ...(opts.excludeSchemas ? { excludeSchemas: opts.excludeSchemas } : {}),
    ...(opts.noOwner ? { noOwner: true } : {}),
    ...(opts.extraArgs?.length ? { extraArgs: opts.extraArgs.map(redact) } : {}),
  });

  return {
    kind: 'postgres',
    describe,

    async check(o = {}): Promise<CheckReport> {
      const facts: Record<string, unknown> = { ...describeConnection(conn) };
      const problems: string[] = [];
      const [dumpV, restoreV] = await Promise.allSettled([toolVersion(pgDump), toolVersion(pgRestore)]);
      if (dumpV.status === 'fulfilled') facts.pgDumpVersion = dumpV.value.version;
      else problems.push((dumpV.reason as Error).message);
      if (restoreV.status === 'fulfilled') facts.pgRestoreVersion = restoreV.value.version;
      else problems.push((restoreV.reason as Error).message);
      try {
        const client = await connect(conn, o.signal);
        try {
          const info = await serverInfo(client);
          Object.assign(facts, { serverVersion: info.version, databaseBytes: info.databaseBytes, estimatedDumpBytes: info.tableBytes, inRecovery: info.inRecovery });
          if (dumpV.status === 'fulfilled') {
            const p = dumpVersionProblem('pg_dump', pgDump, dumpV.value.major, info);
            if (p) problems.push(p.message);
          }
          if (restoreV.status === 'fulfilled') {
            const p = dumpVersionProblem('pg_restore', pgRestore, restoreV.value.major, info);
            if (p) problems.push(p.message);
          }
        } finally {
          await client.end().catch(() => {});
        }
      } catch (e) {
        if (o.signal?.aborted) throw abortError(o.signal, 'The PostgreSQL check');
        problems.push((e as Error).message);
      }
      if (dumpV.status === 'fulfilled' && restoreV.status === 'fulfilled' && restoreV.value.major < dumpV.value.major) {
        problems.push(`pg_restore ${restoreV.value.version} is older than pg_dump ${dumpV.value.version} and cannot read its archives: install matching client tools.`);
      }
      return { ok: problems.length === 0, problems, facts };
    },

    async dump(o = {}): Promise<Dump> {
      const signal = o.signal;
      throwIfAborted(signal, 'The PostgreSQL dump');
      const tool = await toolVersion(pgDump);
      const client = await connect(conn, signal);
      let handedOver = false;
      try {
        const info = await serverInfo(client).catch((e: unknown) => {
          throw connectionError(conn, e, 'reading the server version');
        });
        const mismatch = dumpVersionProblem('pg_dump', pgDump, tool.major, info);
        if (mismatch) throw mismatch;
        // One snapshot for pg_dump and our counts. Standbys and old servers may refuse to
        // export one: then the dump runs on its own snapshot and the counts are skipped.
        let snapshot: string | undefined;
        try {
          await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
          snapshot = (await client.query<{ s: string }>('SELECT pg_export_snapshot() AS s')).rows[0]!.s;
        } catch {
          await client.query('ROLLBACK').catch(() => {});
        }
        throwIfAborted(signal, 'The PostgreSQL dump');
        const spawned = await spawnTool(pgDump, pgDumpArgs(opts, snapshot), conn, { signal, passwordVia });
        const { child, stderr, result } = spawned;
        let stats: (DataStats & { truncated: boolean }) | undefined;
        let statsError: string | undefined;
        // The counts scan every table once more while pg_dump runs: without parallel workers, so a
        // backup takes one backend of the production server, not the pool its queries share.
        const statsP =
          snapshot && opts.rowCounts !== false && !opts.schemaOnly
            ? client
                .query('SET LOCAL max_parallel_workers_per_gather = 0')
                .then(() => collectStats(client, keepStats))
                .then(
                  (s) => void (stats = s),
                  (e: unknown) => void (statsError = redact((e as Error).message)),
                )
            : Promise.resolve();
        let finished = false;
        const startedAt = Date.now();
        let durationMs = 0;

        async function* stream(): AsyncGenerator<Uint8Array> {
          let ok = false;
          try {
            try {
              for await (const chunk of child.stdout as AsyncIterable<Uint8Array>) yield chunk;
            } catch (e) {
              if (signal?.aborted) throw abortError(signal, 'The PostgreSQL dump');
              throw new ArcaError(ErrorCodes.SOURCE_FAILED, `Reading pg_dump's output failed: ${(e as Error).message}`, { cause: e });
            }
            const r = await result;
            if (signal?.aborted || r.isCanceled) throw abortError(signal, 'The PostgreSQL dump');
            if (r.failed) {
              throw toolFailure('SOURCE_FAILED', 'pg_dump', conn, r, stderr, 'The dump is incomplete and was not stored.');
            }
            await statsP;
            durationMs = Date.now() - startedAt;
            ok = true;
            finished = true;
          } finally {
            if (!ok) {
              child.kill('SIGKILL');
              await result;
            }
            await statsP.catch(() => {});
            await client.query(ok ? 'COMMIT' : 'ROLLBACK').catch(() => {});
            await client.end().catch(() => {});
            await spawned.done();
          }
        }
        handedOver = true;
        const uncompressed = format !== 'custom' || (opts.compression ?? 0) === 0;
        return {
          filename: FILENAMES[format],
          stream: stream(),
          ...(uncompressed && info.tableBytes > 0 ? { expectedBytes: info.tableBytes } : {}),
          meta: async () => ({
            database: conn.database,
            serverVersion: info.version,
            pgDumpVersion: tool.version,
            databaseBytes: info.databaseBytes,
            format,
            ...(format === 'custom' ? { compression: opts.compression ?? 0 } : {}),
            snapshot: snapshot ? 'exported' : 'pg_dump',
            dumpMs: finished ? durationMs : undefined,
            ...(stats ? { tables: stats.tables, sequences: stats.sequences, statsTruncated: stats.truncated } : {}),
            ...(statsError ? { statsError } : {}),
          }),
        };
      } catch (e) {
        if (signal?.aborted) throw abortError(signal, 'The PostgreSQL dump');
        throw e instanceof ArcaError ? e : connectionError(conn, e, 'starting the dump');
      } finally {
        if (!handedOver) await client.end().catch(() => {});
      }
    },

    restore: (input, o = {}) =>
      restoreDatabase(
        { conn, maintenanceDatabase: opts.maintenanceDatabase ?? 'postgres', pgRestore, psql, format, passwordVia, noOwner: opts.noOwner, restore: opts.restore ?? {} },
        input,
        o,
      ),

    drill(input, o) {
      const recorded = drillExpectations(o.expected);
      const { connection, host, port, user, password, sslmode, connectTimeoutMs } = opts;
      return restoreDrill(
        {
          ...definedOnly({ connection, host, port, user, password, sslmode, connectTimeoutMs, pgRestorePath: opts.pgRestorePath, psqlPath: opts.psqlPath, noOwner: opts.noOwner }),
          ...(opts.maintenanceDatabase ? { maintenanceDatabase: opts.maintenanceDatabase } : {}),
          format: recorded.format ?? format,
          ...opts.drill,
        },
        input,
        recorded.expected,
        o.signal ? { signal: o.signal } : {},
      );
    },
  };
}

/** The entries whose value is not undefined (the drill's options are strict about absent keys). */
function definedOnly<T extends Record<string, unknown>>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
