import * as path from 'node:path';
import { ArcaError, ErrorCodes, abortError, type Dump, type DumpOptions } from '@arca/core';
import { configuredDatabases, type MySqlConfig } from './mysql-options.js';
import { DumpScanner } from './mysql-dump-scanner.js';
import { connect, driverError, inventory, schemaExists, serverInfo, userSchemas, type Inventory, type ServerInfo } from './mysql-server.js';
import { compareVersions, connectionArgs, findTool, startTool, writeDefaultsFile, type ToolInfo } from './mysql-tools.js';

/** What meta() records about the binary log at the dump's snapshot. */
export type BinlogMeta =
  | { enabled: false }
  | { enabled: true; recorded: false; reason: string }
  | { enabled: true; recorded: true; file: string; position: number; gtid?: string };

/** Tables to pass to `--ignore-table`, grouped per database. */
export function excludedTables(cfg: MySqlConfig, dbs: string[]): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>(dbs.map((d) => [d, new Set<string>()]));
  for (const t of cfg.excludeTables ?? []) {
    const dot = t.indexOf('.');
    const [db, name] = dot > 0 ? [t.slice(0, dot), t.slice(dot + 1)] : [cfg.database, t];
    if (db === undefined) {
      throw new ArcaError(ErrorCodes.CONFIG_INVALID, `excludeTables entry "${t}" needs a database (db.table) when dumping several databases.`);
    }
    if (!out.has(db)) out.set(db, new Set());
    out.get(db)!.add(name);
  }
  return out;
}

/** The dump tool's arguments after the connection ones. */
export function dumpArgs(cfg: MySqlConfig, tool: ToolInfo, server: ServerInfo, dbs: string[], exclude: Map<string, Set<string>>, withBinlog: boolean): string[] {
  const a: string[] = [];
  a.push(cfg.singleTransaction ? '--single-transaction' : '--lock-tables');
  a.push('--quick', '--default-character-set=utf8mb4', '--no-tablespaces');
  a.push(cfg.routines ? '--routines' : '--skip-routines');
  a.push(cfg.triggers ? '--triggers' : '--skip-triggers');
  a.push(cfg.events ? '--events' : '--skip-events');
  if (cfg.hexBlob) a.push('--hex-blob');
  // MySQL 8's mysqldump queries COLUMN_STATISTICS, which MariaDB servers do not have.
  if (tool.flavour === 'mysql' && compareVersions(tool.version, '8.0.0') >= 0 && server.flavour === 'mariadb') a.push('--column-statistics=0');
  if (withBinlog) {
    if (tool.flavour === 'mysql' && compareVersions(tool.version, '8.0.26') >= 0) a.push('--source-data=2');
    else a.push('--master-data=2');
  }
  for (const [db, tables] of exclude) for (const t of tables) a.push(`--ignore-table=${db}.${t}`);
  a.push(...(cfg.extraArgs ?? []));
  // A single database is dumped WITHOUT --databases: no CREATE DATABASE/USE lines, so the
  // artifact loads into any database (scratch restores, drills, restore under another name).
  if (cfg.allDatabases) a.push('--all-databases');
  else if (cfg.databases) a.push('--databases', '--', ...dbs);
  else a.push('--', dbs[0]!);
  return a;
}

interface Preflight {
  tool: ToolInfo;
  server: ServerInfo;
  dbs: string[];
  exclude: Map<string, Set<string>>;
  inventories: Record<string, Inventory>;
}

async function preflight(cfg: MySqlConfig, signal?: AbortSignal): Promise<Preflight> {
  const tool = await findTool('dump', cfg.dumpPath);
  const conn = await connect(cfg, 'Connecting for the dump', signal);
  try {
    const server = await serverInfo(conn);
    const dbs = configuredDatabases(cfg) ?? (await userSchemas(conn));
    const exclude = excludedTables(cfg, dbs);
    const inventories: Record<string, Inventory> = {};
    for (const db of dbs) {
      if (!(await schemaExists(conn, db))) {
        throw new ArcaError(ErrorCodes.NOT_FOUND, `Database ${db} does not exist on ${cfg.socket ?? `${cfg.host}:${cfg.port}`} (or user ${cfg.user} cannot see it): fix the name in the job or grant access.`);
      }
      const inv = await inventory(conn, db, exclude.get(db));
      if (!cfg.routines) inv.routines = [];
      if (!cfg.triggers) inv.triggers = [];
      if (!cfg.events) inv.events = [];
      inventories[db] = inv;
    }
    return { tool, server, dbs, exclude, inventories };
  } catch (e) {
    throw driverError(e, cfg, 'Preparing the dump');
  } finally {
    await conn.end().catch(() => conn.destroy());
  }
}

/**
 * Start a dump: checks connection, database and tool first (rejecting with SOURCE_FAILED,
 * NOT_FOUND or TOOL_NOT_FOUND), then streams the dump tool's stdout. The tool and its
 * temporary option file only exist while the stream is iterated.
 */
export async function startDump(cfg: MySqlConfig, o: DumpOptions = {}): Promise<Dump> {
  const signal = o.signal;
  if (signal?.aborted) throw abortError(signal, 'The MySQL dump');
  const pf = await preflight(cfg, signal);
  if (signal?.aborted) throw abortError(signal, 'The MySQL dump');
  const withBinlog = pf.server.binlog && cfg.binlogPosition;
  const toolName = path.basename(pf.tool.path);
  const scanner = new DumpScanner();
  let startedAt: string | undefined;
  let finishedAt: string | undefined;
  let completed = false;

  async function* stream(): AsyncGenerator<Uint8Array> {
    if (signal?.aborted) throw abortError(signal, 'The MySQL dump');
    const defaults = await writeDefaultsFile(cfg);
    let run: ReturnType<typeof startTool> | undefined;
    let ended = false;
    try {
      const args = [...connectionArgs(cfg, defaults.path, 'dump'), ...dumpArgs(cfg, pf.tool, pf.server, pf.dbs, pf.exclude, withBinlog)];
      startedAt = new Date().toISOString();
      run = startTool(pf.tool.path, args, signal, 'ignore');
      for await (const chunk of run.child.stdout! as AsyncIterable<Buffer>) {
        scanner.push(chunk);
        yield chunk;
      }
      const r = await run.child;
      ended = true;
      if (signal?.aborted || r.isCanceled) throw abortError(signal, 'The MySQL dump');
      if (r.exitCode !== 0 || r.failed) {
        const how = r.signal ? `was killed by ${r.signal}` : `exited with code ${String(r.exitCode)}`;
        const tail = run.stderr.text();
        throw new ArcaError(
          ErrorCodes.SOURCE_FAILED,
          `${toolName} ${how}; the dump is incomplete and was rejected.${tail ? ` Its last messages:\n${tail}` : ''}`,
          { details: { exitCode: r.exitCode ?? null, signal: r.signal ?? null } },
        );
      }
      scanner.end();
      finishedAt = new Date().toISOString();
      completed = true;
    } catch (e) {
      if (signal?.aborted) throw abortError(signal, 'The MySQL dump');
      if (e instanceof ArcaError) throw e;
      throw new ArcaError(ErrorCodes.SOURCE_FAILED, `${toolName} failed: ${(e as Error).message}${run ? `\n${run.stderr.text()}` : ''}`, { cause: e });
    } finally {
      if (run && !ended) {
        run.child.kill('SIGKILL');
        await run.child.catch(() => undefined);
      }
      await defaults.remove();
    }
  }

  const expected = Object.values(pf.inventories).reduce((s, i) => s + i.estimatedBytes, 0);
  return {
    filename: `${cfg.database ?? (cfg.databases?.length === 1 ? cfg.databases[0] : 'all-databases')}.sql`.replace(/[^\w.-]/g, '_'),
    stream: stream(),
    ...(expected > 0 ? { expectedBytes: expected } : {}),
    async meta() {
      const databases: Record<string, Inventory & { rows: number }> = {};
      let total = 0;
      for (const db of pf.dbs) {
        const inv = pf.inventories[db]!;
        // Single-database dumps have no USE lines: their rows are under ''.
        const counted = scanner.rowsOf(cfg.database !== undefined ? '' : db);
        const tables = Object.fromEntries(Object.keys(inv.tables).map((t) => [t, counted[t] ?? 0]));
        const rows = Object.values(tables).reduce((s, n) => s + n, 0);
        total += rows;
        const { estimatedBytes: _e, ...rest } = inv;
        databases[db] = { ...rest, tables, rows, estimatedBytes: inv.estimatedBytes };
      }
      let binlog: BinlogMeta;
      if (!pf.server.binlog) binlog = { enabled: false };
      else if (!withBinlog) binlog = { enabled: true, recorded: false, reason: 'binlogPosition: false in the source options' };
      else {
        const c = scanner.binlog();
        binlog =
          c.file && c.position !== undefined
            ? { enabled: true, recorded: true, file: c.file, position: c.position, ...(c.gtid ? { gtid: c.gtid } : {}) }
            : { enabled: true, recorded: false, reason: `${toolName} wrote no binlog coordinates` };
      }
      return {
        format: 'sql',
        complete: completed,
        server: { flavour: pf.server.flavour, version: pf.server.version },
        tool: { name: toolName, flavour: pf.tool.flavour, version: pf.tool.version },
        singleTransaction: cfg.singleTransaction,
        databases,
        rows: total,
        binlog,
        ...(startedAt ? { startedAt } : {}),
        ...(finishedAt ? { finishedAt } : {}),
      };
    },
  };
}
