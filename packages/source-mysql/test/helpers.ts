import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import { createConnection, type Connection, type RowDataPacket } from 'mysql2/promise';

export const HOST = '127.0.0.1';
export const PORT = 3306;

/** A root connection to the machine's MariaDB (no password, as provisioned). */
export async function admin(): Promise<Connection> {
  return createConnection({ host: HOST, port: PORT, user: 'root', password: '', multipleStatements: true, charset: 'utf8mb4_general_ci', connectTimeout: 3000 });
}

/** undefined when MariaDB answers, else the reason (for describeWithService). */
export async function probeMariaDb(): Promise<string | undefined> {
  try {
    const c = await admin();
    await c.end();
  } catch (e) {
    return `MariaDB at ${HOST}:${PORT} (root, empty password) is not reachable: ${(e as Error).message}`;
  }
  try {
    await fs.access('/usr/bin/mariadb-dump');
  } catch {
    return 'mariadb-dump is not installed (apt-get install mariadb-client)';
  }
  return undefined;
}

export function uniqueName(tag: string): string {
  return `arcat_${tag}_${randomBytes(4).toString('hex')}`;
}

export async function q<T = Record<string, unknown>>(c: Connection, sql: string, params: unknown[] = []): Promise<T[]> {
  const [r] = await c.query<RowDataPacket[]>(sql, params);
  return r as unknown as T[];
}

/** A user with a real password and the given grants; returns the drop function. */
export async function createUser(c: Connection, name: string, password: string, grants: string[]): Promise<() => Promise<void>> {
  await c.query(`CREATE USER ?@'%' IDENTIFIED BY ?`, [name, password]);
  await c.query(`CREATE USER ?@'localhost' IDENTIFIED BY ?`, [name, password]);
  for (const g of grants) {
    await c.query(`GRANT ${g} TO ?@'%'`, [name]);
    await c.query(`GRANT ${g} TO ?@'localhost'`, [name]);
  }
  return async () => {
    await c.query(`DROP USER IF EXISTS ?@'%'`, [name]);
    await c.query(`DROP USER IF EXISTS ?@'localhost'`, [name]);
  };
}

/**
 * A small logistics-like schema: customers, orders (FK), shipments (FK), a stored procedure,
 * a function, a trigger, an event, a view, an utf8mb4 table with emoji, a latin1 table and a
 * BLOB table holding every byte value. `bigRows` rows go into `tracking` (generated server-side).
 */
export async function seedLogistics(c: Connection, db: string, bigRows = 1000): Promise<void> {
  await c.query(`CREATE DATABASE \`${db}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
  await c.query(`USE \`${db}\``);
  await c.query(`
    CREATE TABLE customers (id INT PRIMARY KEY, name VARCHAR(100) NOT NULL, note TEXT) ENGINE=InnoDB;
    CREATE TABLE orders (id INT PRIMARY KEY AUTO_INCREMENT, customer_id INT NOT NULL, total DECIMAL(12,2) NOT NULL, created_at DATETIME(3) NOT NULL,
      status ENUM('new','shipped','delivered') NOT NULL DEFAULT 'new', FOREIGN KEY (customer_id) REFERENCES customers(id)) ENGINE=InnoDB;
    CREATE TABLE shipments (id INT PRIMARY KEY AUTO_INCREMENT, order_id INT NOT NULL, carrier VARCHAR(40), shipped_at DATETIME,
      FOREIGN KEY (order_id) REFERENCES orders(id) ON DELETE CASCADE) ENGINE=InnoDB;
    CREATE TABLE audit_log (id INT PRIMARY KEY AUTO_INCREMENT, msg VARCHAR(200)) ENGINE=InnoDB;
    CREATE TABLE tracking (id INT PRIMARY KEY, shipment_id INT NOT NULL, seq INT NOT NULL, place VARCHAR(40) NOT NULL) ENGINE=InnoDB;
    CREATE TABLE texts_utf8 (id INT PRIMARY KEY, t VARCHAR(200)) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
    CREATE TABLE texts_latin1 (id INT PRIMARY KEY, t VARCHAR(200)) CHARACTER SET latin1;
    CREATE TABLE blobs (id INT PRIMARY KEY, b LONGBLOB, vb VARBINARY(300)) ENGINE=InnoDB;
    CREATE TRIGGER orders_audit AFTER INSERT ON orders FOR EACH ROW INSERT INTO audit_log (msg) VALUES (CONCAT('order ', NEW.id));
    CREATE VIEW open_orders AS SELECT o.id, c.name, o.total FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.status <> 'delivered';
    CREATE EVENT purge_audit ON SCHEDULE EVERY 1 DAY DISABLE DO DELETE FROM audit_log WHERE id < 0;
  `);
  await c.query(`CREATE PROCEDURE ship_order(IN oid INT, IN carrier VARCHAR(40))
    BEGIN
      INSERT INTO shipments (order_id, carrier, shipped_at) VALUES (oid, carrier, NOW());
      UPDATE orders SET status = 'shipped' WHERE id = oid;
    END`);
  await c.query(`CREATE FUNCTION order_count(cid INT) RETURNS INT READS SQL DATA RETURN (SELECT COUNT(*) FROM orders WHERE customer_id = cid)`);
  await c.query(`INSERT INTO customers VALUES (1, 'Partesa S.r.l.', 'line1\nline2 \\ back\\slash ''quoted'' (paren) ),( trick'), (2, 'Trasporti Rossi', NULL), (3, 'Ünïcødé 🚚📦', 'emoji 😀')`);
  await c.query(`INSERT INTO orders (customer_id, total, created_at) SELECT 1 + (seq % 3), seq * 1.5, '2026-01-01 10:00:00.123' + INTERVAL seq MINUTE FROM seq_1_to_200`);
  await c.query(`CALL ship_order(1, 'BRT')`);
  await c.query(`CALL ship_order(2, 'GLS (express), ''priority''')`);
  await c.query(`INSERT INTO tracking SELECT seq, 1 + seq % 2, seq, ELT(1 + seq % 4, 'Milano', 'Bologna', 'Roma', 'Napoli') FROM seq_1_to_${bigRows}`);
  await c.query(`INSERT INTO texts_utf8 VALUES (1, 'emoji 🚀🔥 and 𝔘𝔫𝔦𝔠𝔬𝔡𝔢'), (2, 'tab\tquote'' dq" nul-free'), (3, '')`);
  await c.query(`INSERT INTO texts_latin1 VALUES (1, 'àèìòù ç ß ñ €'), (2, 'plain')`);
  const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  await c.query('INSERT INTO blobs VALUES (1, ?, ?), (2, ?, NULL), (3, NULL, ?)', [Buffer.concat([all, Buffer.from(all).reverse(), Buffer.from("'),(\\\n")]), all, Buffer.alloc(100_000, 0), Buffer.from([0, 39, 92, 10, 13, 26])]);
}

/** CHECKSUM TABLE for every base table, sorted by name. */
export async function checksums(c: Connection, db: string): Promise<Record<string, string>> {
  const tables = await q<{ n: string }>(c, "SELECT TABLE_NAME AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME", [db]);
  const out: Record<string, string> = {};
  for (const t of tables) {
    const [r] = await q<{ Checksum: string | number | null }>(c, `CHECKSUM TABLE \`${db}\`.\`${t.n}\``);
    out[t.n] = String(r!.Checksum);
  }
  return out;
}

/** Views, routines, triggers and events of a database (names), for comparisons. */
export async function objects(c: Connection, db: string): Promise<Record<string, string[]>> {
  const one = async (sql: string) => (await q<{ n: string }>(c, sql, [db])).map((r) => r.n).sort();
  return {
    views: await one('SELECT TABLE_NAME AS n FROM information_schema.VIEWS WHERE TABLE_SCHEMA = ?'),
    routines: await one("SELECT CONCAT(ROUTINE_TYPE, ' ', ROUTINE_NAME) AS n FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ?"),
    triggers: await one('SELECT TRIGGER_NAME AS n FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ?'),
    events: await one('SELECT EVENT_NAME AS n FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ?'),
  };
}

export async function dropDb(c: Connection, db: string): Promise<void> {
  await c.query('SET SESSION foreign_key_checks = 0');
  await c.query(`DROP DATABASE IF EXISTS \`${db}\``);
}

/** Databases whose name starts with `prefix` (leftover scratch databases). */
export async function databasesLike(c: Connection, prefix: string): Promise<string[]> {
  return (await q<{ n: string }>(c, 'SELECT SCHEMA_NAME AS n FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE ?', [prefix.replace(/_/g, '\\_') + '%'])).map((r) => r.n);
}

/** Direct child processes of this process whose command name starts with `comm`. */
export async function childPids(comm: string): Promise<number[]> {
  const out: number[] = [];
  for (const d of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = await fs.readFile(`/proc/${d}/stat`, 'utf8');
      const m = /^\d+ \((.*)\) \S+ (\d+)/.exec(stat);
      if (m && Number(m[2]) === process.pid && m[1]!.startsWith(comm)) out.push(Number(d));
    } catch {
      // process went away
    }
  }
  return out;
}

export async function cmdline(pid: number): Promise<string[]> {
  return (await fs.readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').filter(Boolean);
}
