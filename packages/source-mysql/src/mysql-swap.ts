/**
 * Moving a restored scratch database into its target.
 *
 * Why RENAME TABLE and not "drop the target, then load the dump again": MySQL/MariaDB have no
 * RENAME DATABASE, but `RENAME TABLE a.t TO b.t, ...` moves tables between databases as a
 * metadata-only operation, all tables in one atomic statement, whatever their size; foreign
 * keys follow. So the expensive, failure-prone part (loading the SQL) happens in the scratch
 * database while the target is untouched, and the swap takes seconds even for 100 GB. Loading
 * twice would double the restore time (RTO) and need a temporary copy of the whole dump.
 *
 * What RENAME cannot move: tables that have triggers (ER_TRG_IN_WRONG_SCHEMA), views (only
 * within one database), routines and events (they belong to a database). Those are read from
 * the scratch database with SHOW CREATE (exactly as the server stored them from the dump),
 * dropped there, and created again in the target after the tables moved. The old content of
 * the target is not dropped but renamed aside into a third database and only dropped once the
 * new content is in place; if anything fails during the swap, the old tables are renamed back
 * and the old triggers/views/routines/events are created again.
 */
import { randomBytes } from 'node:crypto';
import { ArcaError, ErrorCodes } from '@arca/core';
import { qi } from './mysql-options.js';
import { rows, type Conn } from './mysql-server.js';

export interface ObjectDef {
  kind: 'VIEW' | 'TRIGGER' | 'PROCEDURE' | 'FUNCTION' | 'EVENT';
  name: string;
  create: string;
  sqlMode?: string;
  timeZone?: string;
}

/** A database name `<base>_<tag>_<hex>` that fits the 64-character limit. */
export function scratchName(base: string, tag: string): string {
  const suffix = `_${tag}_${randomBytes(4).toString('hex')}`;
  return base.slice(0, 64 - suffix.length) + suffix;
}

/** Base tables and sequences (what RENAME TABLE can move). */
export async function baseTables(conn: Conn, db: string): Promise<string[]> {
  const r = await rows<{ n: string }>(conn, "SELECT TABLE_NAME AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE <> 'VIEW' ORDER BY TABLE_NAME", [db]);
  return r.map((x) => x.n);
}

/** Read every non-table object of `db` as the server would re-create it. Order: routines, views, triggers, events. */
export async function captureObjects(conn: Conn, db: string): Promise<ObjectDef[]> {
  await conn.query(`USE ${qi(db)}`);
  const out: ObjectDef[] = [];
  const routines = await rows<{ n: string; t: 'PROCEDURE' | 'FUNCTION' }>(conn, 'SELECT ROUTINE_NAME AS n, ROUTINE_TYPE AS t FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ? ORDER BY ROUTINE_TYPE, ROUTINE_NAME', [db]);
  for (const r of routines) {
    const [s] = await rows<Record<string, string | null>>(conn, `SHOW CREATE ${r.t} ${qi(r.n)}`);
    const create = s?.[r.t === 'PROCEDURE' ? 'Create Procedure' : 'Create Function'];
    if (!create) throw new ArcaError(ErrorCodes.RESTORE_FAILED, `Cannot read the definition of ${r.t} ${r.n}: the restoring user needs privileges to see routine bodies.`);
    out.push({ kind: r.t, name: r.n, create, sqlMode: s!.sql_mode ?? undefined });
  }
  const views = await rows<{ n: string }>(conn, 'SELECT TABLE_NAME AS n FROM information_schema.VIEWS WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME', [db]);
  for (const v of views) {
    const [s] = await rows<Record<string, string>>(conn, `SHOW CREATE VIEW ${qi(v.n)}`);
    out.push({ kind: 'VIEW', name: v.n, create: s!['Create View']! });
  }
  const triggers = await rows<{ n: string }>(
    conn,
    'SELECT TRIGGER_NAME AS n FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ? ORDER BY EVENT_OBJECT_TABLE, ACTION_TIMING, EVENT_MANIPULATION, ACTION_ORDER',
    [db],
  );
  for (const t of triggers) {
    const [s] = await rows<Record<string, string>>(conn, `SHOW CREATE TRIGGER ${qi(t.n)}`);
    out.push({ kind: 'TRIGGER', name: t.n, create: s!['SQL Original Statement']!, sqlMode: s!.sql_mode });
  }
  const events = await rows<{ n: string }>(conn, 'SELECT EVENT_NAME AS n FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ? ORDER BY EVENT_NAME', [db]);
  for (const ev of events) {
    const [s] = await rows<Record<string, string>>(conn, `SHOW CREATE EVENT ${qi(ev.n)}`);
    out.push({ kind: 'EVENT', name: ev.n, create: s!['Create Event']!, sqlMode: s!.sql_mode, timeZone: s!.time_zone });
  }
  return out;
}

/** Drop `defs` (in reverse order); each one dropped is pushed to `done`. */
export async function dropObjects(conn: Conn, db: string, defs: ObjectDef[], done: ObjectDef[] = []): Promise<void> {
  for (const d of [...defs].reverse()) {
    await conn.query(`DROP ${d.kind} IF EXISTS ${qi(db)}.${qi(d.name)}`);
    done.push(d);
  }
}

/** Create `defs` in `db`; views are retried until their dependencies (other views) exist. Each one created is pushed to `done`. */
export async function createObjects(conn: Conn, db: string, defs: ObjectDef[], done: ObjectDef[] = []): Promise<void> {
  await conn.query(`USE ${qi(db)}`);
  const [saved] = await rows<{ m: string; z: string }>(conn, 'SELECT @@SESSION.sql_mode AS m, @@SESSION.time_zone AS z');
  try {
    const run = async (d: ObjectDef) => {
      if (d.sqlMode !== undefined) await conn.query('SET SESSION sql_mode = ?', [d.sqlMode]);
      if (d.timeZone !== undefined) await conn.query('SET SESSION time_zone = ?', [d.timeZone]);
      await conn.query(d.create);
      done.push(d);
      if (d.sqlMode !== undefined) await conn.query('SET SESSION sql_mode = ?', [saved!.m]);
      if (d.timeZone !== undefined) await conn.query('SET SESSION time_zone = ?', [saved!.z]);
    };
    for (const d of defs.filter((x) => x.kind === 'PROCEDURE' || x.kind === 'FUNCTION')) await run(d);
    let views = defs.filter((x) => x.kind === 'VIEW');
    while (views.length) {
      const failed: ObjectDef[] = [];
      let lastError: unknown;
      for (const v of views) {
        try {
          await run(v);
        } catch (e) {
          failed.push(v);
          lastError = e;
        }
      }
      if (failed.length === views.length) throw lastError;
      views = failed;
    }
    for (const d of defs.filter((x) => x.kind === 'TRIGGER' || x.kind === 'EVENT')) await run(d);
  } finally {
    await conn.query('SET SESSION sql_mode = ?, SESSION time_zone = ?', [saved!.m, saved!.z]).catch(() => undefined);
  }
}

async function renameAll(conn: Conn, moves: Array<[string, string, string]>): Promise<void> {
  if (!moves.length) return;
  const sql = moves.map(([from, to, t]) => `${qi(from)}.${qi(t)} TO ${qi(to)}.${qi(t)}`).join(', ');
  await conn.query(`RENAME TABLE ${sql}`);
}

/**
 * Replace the content of `target` with the content of `scratch` (both exist). On success the
 * scratch database is empty of tables and the old content is gone; on failure the target is
 * put back as it was (best effort) and RESTORE_FAILED is thrown. The scratch database itself is
 * dropped by the caller.
 */
export async function swapInto(conn: Conn, target: string, scratch: string): Promise<void> {
  await conn.query('SET SESSION foreign_key_checks = 0');
  const newDefs = await captureObjects(conn, scratch);
  const newTables = await baseTables(conn, scratch);
  const oldDefs = await captureObjects(conn, target);
  const oldTables = await baseTables(conn, target);
  const aside = scratchName(target, 'arca_old');
  const droppedOld: ObjectDef[] = [];
  const createdNew: ObjectDef[] = [];
  let asideCreated = false;
  let renamed = false;
  try {
    await dropObjects(conn, scratch, newDefs.filter((d) => d.kind === 'TRIGGER' || d.kind === 'VIEW'));
    await conn.query(`CREATE DATABASE ${qi(aside)}`);
    asideCreated = true;
    await dropObjects(conn, target, oldDefs, droppedOld);
    // One statement: old tables aside and new tables in, atomically.
    await renameAll(conn, [...oldTables.map((t) => [target, aside, t] as [string, string, string]), ...newTables.map((t) => [scratch, target, t] as [string, string, string])]);
    renamed = true;
    await createObjects(conn, target, newDefs, createdNew);
  } catch (e) {
    // Undo exactly what was done, in reverse.
    const rollback: string[] = [];
    try {
      await dropObjects(conn, target, createdNew);
      if (renamed) {
        await renameAll(conn, [...newTables.map((t) => [target, scratch, t] as [string, string, string]), ...oldTables.map((t) => [aside, target, t] as [string, string, string])]);
      }
      const toRecreate = oldDefs.filter((d) => droppedOld.includes(d));
      await createObjects(conn, target, toRecreate);
      if (asideCreated) await conn.query(`DROP DATABASE IF EXISTS ${qi(aside)}`);
    } catch (re) {
      rollback.push((re as Error).message);
    }
    throw new ArcaError(
      ErrorCodes.RESTORE_FAILED,
      rollback.length
        ? `Swapping the restored tables into ${target} failed (${(e as Error).message}) and so did putting the old content back (${rollback.join('; ')}).${renamed ? ` The previous tables are in database ${aside}: move them back by hand,` : ''} Check ${target}, or restore the safety backup.`
        : `Swapping the restored tables into ${target} failed (${(e as Error).message}); the previous content was put back. Check the restoring user's privileges on ${target} (DROP, CREATE, ALTER, CREATE VIEW, TRIGGER, EVENT, CREATE ROUTINE).`,
      { cause: e, details: { target, aside } },
    );
  }
  await conn.query(`DROP DATABASE IF EXISTS ${qi(aside)}`);
}
