import { ArcaError, ErrorCodes, abortError, type Bytes, type SignalOptions } from '@arca/core';
import { qi, requireSingleDatabase, type MySqlConfig } from './mysql-options.js';
import { connect, countRows, driverError, inventory, rows, schemaExists, type Inventory } from './mysql-server.js';
import { createScratch, dropDatabase, loadSql } from './mysql-restore.js';

/** A user check run inside the scratch database after the restore. */
export interface DrillAssertion {
  /** Shown in the report (default: the SQL). */
  name?: string;
  /** A query run in the scratch database (it is the current database: unqualified names work). */
  sql: string;
  /**
   * The expected first column of the first row, compared as a string (`'0'`, `'42'`). Without
   * it the value must be truthy: not NULL, not 0, not ''.
   */
  expect?: string | number | boolean | null;
}

export interface DrillOptions extends SignalOptions {
  /**
   * The artifact's `meta` from the manifest (`dump.meta()` at backup time). Table list, row
   * counts, views, routines, triggers and events are compared with it. Without it only the
   * restore and the user assertions are checked.
   */
  expected?: Record<string, unknown>;
  assertions?: DrillAssertion[];
}

export interface DrillCheck {
  name: string;
  ok: boolean;
  /** What differs, when not ok. */
  detail?: string;
}

export interface DrillReport {
  ok: boolean;
  /** The scratch database used (already dropped). */
  database: string;
  /** Wall time from the first byte to the end of the checks: the measured RTO. */
  durationMs: number;
  restoreMs: number;
  checksMs: number;
  tables: number;
  rows: number;
  checks: DrillCheck[];
  /** Failed checks as sentences (empty when ok). */
  problems: string[];
  startedAt: string;
  finishedAt: string;
}

function sameList(name: string, want: string[] | undefined, got: string[]): DrillCheck {
  if (want === undefined) return { name, ok: true, detail: 'not recorded in the backup' };
  const missing = want.filter((x) => !got.includes(x));
  const extra = got.filter((x) => !want.includes(x));
  if (!missing.length && !extra.length) return { name, ok: true };
  return { name, ok: false, detail: [missing.length ? `missing ${missing.join(', ')}` : '', extra.length ? `unexpected ${extra.join(', ')}` : ''].filter(Boolean).join('; ') };
}

/** The recorded inventory of the source database inside a meta object, if present. */
function expectedInventory(meta: Record<string, unknown> | undefined, db: string): (Partial<Inventory> & { tables?: Record<string, number> }) | undefined {
  const dbs = meta?.databases as Record<string, Inventory> | undefined;
  if (!dbs) return undefined;
  return dbs[db] ?? (Object.keys(dbs).length === 1 ? Object.values(dbs)[0] : undefined);
}

/**
 * Restore drill: load the artifact into a new, uniquely named scratch database, compare its
 * structure and row counts with what was recorded at dump time, run the user assertions,
 * and drop the scratch database (also on failure or abort). Rejects when the artifact could
 * not be restored at all (RESTORE_FAILED, CHECKSUM_MISMATCH, ABORTED...); returns a report
 * with `ok: false` when it restored but a check failed.
 */
export async function drillDatabase(cfg: MySqlConfig, input: AsyncIterable<Bytes>, o: DrillOptions = {}): Promise<DrillReport> {
  const source = requireSingleDatabase(cfg, 'A restore drill');
  const signal = o.signal;
  if (signal?.aborted) throw abortError(signal, 'The restore drill');
  const t0 = Date.now();
  const startedAt = new Date(t0).toISOString();
  const conn = await connect(cfg, 'Connecting for the restore drill', signal);
  let scratch: string | undefined;
  try {
    try {
      scratch = await createScratch(conn, source, 'arca_drill', await schemaExists(conn, source));
    } catch (e) {
      throw driverError(e, cfg, 'Creating the drill database', ErrorCodes.RESTORE_FAILED);
    }
    await loadSql(cfg, scratch, input, signal);
    const t1 = Date.now();
    if (signal?.aborted) throw abortError(signal, 'The restore drill');
    const checks: DrillCheck[] = [];
    let counts: Record<string, number> = {};
    try {
      const inv = await inventory(conn, scratch);
      counts = await countRows(conn, scratch, Object.keys(inv.tables));
      const want = expectedInventory(o.expected, source);
      checks.push(sameList('tables', want?.tables ? Object.keys(want.tables) : undefined, Object.keys(counts)));
      if (want?.tables) {
        const diff = Object.entries(want.tables)
          .filter(([t, n]) => t in counts && counts[t] !== Number(n))
          .map(([t, n]) => `${t}: ${counts[t]} rows, ${n} at dump time`);
        checks.push(diff.length ? { name: 'row counts', ok: false, detail: diff.join('; ') } : { name: 'row counts', ok: true });
      }
      checks.push(sameList('views', want?.views, inv.views));
      checks.push(sameList('routines', want?.routines, inv.routines));
      checks.push(sameList('triggers', want?.triggers, inv.triggers));
      checks.push(sameList('events', want?.events, inv.events));
      await conn.query(`USE ${qi(scratch)}`);
      for (const a of o.assertions ?? []) {
        if (signal?.aborted) throw abortError(signal, 'The restore drill');
        const name = a.name ?? a.sql;
        try {
          const r = await rows<Record<string, unknown>>(conn, a.sql);
          const first = r[0] ? Object.values(r[0])[0] : undefined;
          if (a.expect !== undefined) {
            const ok = a.expect === null ? first === null : first !== null && first !== undefined && String(first) === String(a.expect === true ? 1 : a.expect === false ? 0 : a.expect);
            checks.push(ok ? { name, ok } : { name, ok, detail: `got ${JSON.stringify(first)}, expected ${JSON.stringify(a.expect)}` });
          } else {
            const ok = first !== undefined && first !== null && String(first) !== '0' && String(first) !== '';
            checks.push(ok ? { name, ok } : { name, ok, detail: `got ${JSON.stringify(first ?? null)}, expected a truthy value` });
          }
        } catch (e) {
          checks.push({ name, ok: false, detail: `query failed: ${(e as Error).message}` });
        }
      }
    } catch (e) {
      throw driverError(e, cfg, 'Checking the drill database', ErrorCodes.RESTORE_FAILED);
    }
    const t2 = Date.now();
    const failed = checks.filter((c) => !c.ok);
    return {
      ok: failed.length === 0,
      database: scratch,
      durationMs: t2 - t0,
      restoreMs: t1 - t0,
      checksMs: t2 - t1,
      tables: Object.keys(counts).length,
      rows: Object.values(counts).reduce((s, n) => s + n, 0),
      checks,
      problems: failed.map((c) => `${c.name}: ${c.detail ?? 'failed'}`),
      startedAt,
      finishedAt: new Date(t2).toISOString(),
    };
  } finally {
    if (scratch) await dropDatabase(conn, scratch).catch(() => undefined);
    await conn.end().catch(() => conn.destroy());
  }
}

/** The error a drill target's restore() throws when the drill restored but a check failed. */
export function drillFailed(report: DrillReport): ArcaError {
  return new ArcaError(ErrorCodes.RESTORE_FAILED, `The restore drill restored the backup but ${report.problems.length} check(s) failed: ${report.problems.join(' | ')}`, { details: { drill: report } });
}
