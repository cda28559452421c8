import { ArcaError, type CheckReport, type SignalOptions } from '@arca/core';
import { configuredDatabases, qi, type MySqlConfig } from './mysql-options.js';
import { connect, driverError, inventory, rows, schemaExists, serverInfo, userSchemas, type Conn, type Inventory } from './mysql-server.js';
import { findTool } from './mysql-tools.js';

interface Grants {
  global: Set<string>;
  /** Database-level grants: pattern (with % and _ wildcards) → privileges. */
  byDb: Array<{ pattern: RegExp; privs: Set<string> }>;
  /** `db.table` → privileges (table-level grants). */
  byTable: Map<string, Set<string>>;
  roles: boolean;
}

function unquote(s: string): string {
  return s.startsWith('`') ? s.slice(1, -1).replace(/``/g, '`') : s;
}

/** A grant's database pattern: `%` and `_` are wildcards, `\_` and `\%` literals. */
function dbPattern(p: string): RegExp {
  let re = '';
  for (let i = 0; i < p.length; i++) {
    const c = p[i]!;
    if (c === '\\' && i + 1 < p.length) re += p[++i]!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    else if (c === '%') re += '.*';
    else if (c === '_') re += '.';
    else re += c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`, 'i');
}

/** Parse SHOW GRANTS for the current user (roles are reported, not expanded). */
export async function currentGrants(conn: Conn): Promise<Grants> {
  const out: Grants = { global: new Set(), byDb: [], byTable: new Map(), roles: false };
  const r = await rows<Record<string, string>>(conn, 'SHOW GRANTS');
  for (const row of r) {
    const line = String(Object.values(row)[0]);
    const m = /^GRANT (.+?) ON (?:(?:TABLE|PROCEDURE|FUNCTION|PACKAGE) )?(\*|`(?:[^`]|``)+`|\w+)\.(\*|`(?:[^`]|``)+`|\w+) TO /i.exec(line);
    if (!m) {
      if (/^GRANT `?[^ ]+`? TO /i.test(line)) out.roles = true;
      continue;
    }
    const privs = new Set(
      m[1]!
        .split(/,(?![^(]*\))/)
        .map((p) => p.trim().toUpperCase())
        .filter((p) => !p.includes('(')),
    );
    if (privs.has('ALL PRIVILEGES') || privs.has('ALL')) privs.add('*');
    const [db, table] = [m[2]!, m[3]!];
    if (db === '*') for (const p of privs) out.global.add(p);
    else if (table === '*') out.byDb.push({ pattern: dbPattern(unquote(db)), privs });
    else out.byTable.set(`${unquote(db)}.${unquote(table)}`, privs);
  }
  return out;
}

/** Privilege held globally, or on `db` (db `''`: global only). */
function has(g: Grants, db: string, priv: string): boolean {
  if (g.global.has('*') || g.global.has(priv)) return true;
  return db !== '' && g.byDb.some((d) => d.pattern.test(db) && (d.privs.has('*') || d.privs.has(priv)));
}

/** Can the user read routine bodies? Tried for real on the first routine (works across versions). */
async function canReadRoutines(conn: Conn, db: string, inv: Inventory): Promise<boolean> {
  const first = inv.routines[0];
  if (!first) return true;
  const [type, ...rest] = first.split(' ');
  try {
    const r = await rows<Record<string, string | null>>(conn, `SHOW CREATE ${type} ${qi(db)}.${qi(rest.join(' '))}`);
    return Boolean(r[0]?.[type === 'PROCEDURE' ? 'Create Procedure' : 'Create Function']);
  } catch {
    return false;
  }
}

/**
 * Pre-flight: tools found, server reachable, databases visible, privileges the chosen options
 * need, size estimate. Never throws: every problem is a sentence telling what to do.
 */
export async function checkSource(cfg: MySqlConfig, o: SignalOptions = {}): Promise<CheckReport> {
  const problems: string[] = [];
  const facts: Record<string, unknown> = {};
  for (const kind of ['dump', 'client'] as const) {
    try {
      const t = await findTool(kind, kind === 'dump' ? cfg.dumpPath : cfg.clientPath);
      facts[kind === 'dump' ? 'dumpTool' : 'client'] = { path: t.path, flavour: t.flavour, version: t.version };
    } catch (e) {
      problems.push((e as Error).message);
    }
  }
  let conn: Conn | undefined;
  try {
    conn = await connect(cfg, 'Connecting', o.signal);
    const server = await serverInfo(conn);
    facts.server = { flavour: server.flavour, version: server.version };
    facts.binlog = server.binlog;
    const dbs = configuredDatabases(cfg) ?? (await userSchemas(conn));
    facts.databases = dbs;
    const grants = await currentGrants(conn);
    if (grants.roles) facts.rolesGranted = true;
    let estimated = 0;
    let tables = 0;
    for (const db of dbs) {
      if (!(await schemaExists(conn, db))) {
        problems.push(`Database ${db} does not exist or user ${cfg.user} cannot see it: create it, fix the name, or GRANT SELECT ON \`${db}\`.* TO the user.`);
        continue;
      }
      const inv = await inventory(conn, db);
      estimated += inv.estimatedBytes;
      tables += Object.keys(inv.tables).length;
      const need: Array<[string, boolean, string]> = [
        ['SELECT', true, 'to read the tables'],
        ['SHOW VIEW', inv.views.length > 0, 'to dump its views'],
        // Without TRIGGER/EVENT the objects are invisible and the dump silently lacks them,
        // so these are needed whenever the option is on, not only when some are visible.
        ['TRIGGER', cfg.triggers, 'to dump triggers (or set triggers: false)'],
        ['EVENT', cfg.events, 'to dump events (or set events: false)'],
        ['LOCK TABLES', !cfg.singleTransaction, 'because singleTransaction is off'],
      ];
      const missing = need.filter(([p, wanted]) => wanted && !has(grants, db, p));
      if (missing.length && !grants.roles) {
        problems.push(`User ${cfg.user} lacks ${missing.map(([p, , why]) => `${p} (${why})`).join(', ')} on ${db}: GRANT ${missing.map(([p]) => p).join(', ')} ON \`${db}\`.* TO the user.`);
      }
      const routineGrant =
        grants.roles ||
        ['SELECT', 'SHOW_ROUTINE', 'SHOW CREATE ROUTINE'].some((p) => has(grants, '', p)) ||
        has(grants, db, 'SHOW CREATE ROUTINE') ||
        has(grants, 'mysql', 'SELECT') ||
        Boolean(grants.byTable.get('mysql.proc')?.has('SELECT'));
      if (cfg.routines && (!routineGrant || !(await canReadRoutines(conn, db, inv)))) {
        problems.push(
          server.flavour === 'mariadb'
            ? `User ${cfg.user} cannot read the bodies of the routines in ${db} (--routines): GRANT SELECT ON mysql.proc (MariaDB < 11.3) or SHOW CREATE ROUTINE (11.3+) to the user, or set routines: false.`
            : `User ${cfg.user} cannot read the bodies of the routines in ${db} (--routines): GRANT SHOW_ROUTINE ON *.* (MySQL 8.0.20+) or SELECT ON mysql.* to the user, or set routines: false.`,
        );
      }
    }
    if (server.binlog && cfg.binlogPosition) {
      const monitor = ['BINLOG MONITOR', 'REPLICATION CLIENT', 'SUPER'].some((p) => has(grants, '', p));
      const reload = has(grants, '', 'RELOAD');
      if ((!monitor || !reload) && !grants.roles) {
        problems.push(`Binary logging is on and binlogPosition is set, which needs RELOAD and ${server.flavour === 'mariadb' ? 'BINLOG MONITOR' : 'REPLICATION CLIENT'} ON *.*: grant them, or set binlogPosition: false (no point-in-time recovery position in the backups).`);
      }
    }
    facts.tables = tables;
    facts.estimatedBytes = estimated;
  } catch (e) {
    problems.push((e instanceof ArcaError ? e : driverError(e, cfg, 'Checking the source')).message);
  } finally {
    await conn?.end().catch(() => conn?.destroy());
  }
  return { ok: problems.length === 0, problems, facts };
}
