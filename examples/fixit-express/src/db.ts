// FIXIT's own data: a SQLite database with tickets and users, created and seeded on first start.
import { randomBytes, scryptSync, timingSafeEqual } from 'node:crypto';
import Database from 'better-sqlite3';

export interface Ticket {
  id: number;
  title: string;
  status: 'open' | 'in_progress' | 'closed';
  reporter: string;
  created_at: string;
}

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS tickets (
    id INTEGER PRIMARY KEY,
    title TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'in_progress', 'closed')),
    reporter TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
  );
  CREATE TABLE IF NOT EXISTS users (
    username TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    is_superuser INTEGER NOT NULL DEFAULT 0
  );
`;

const SEED_TICKETS: Array<[string, Ticket['status'], string]> = [
  ['Printer on floor 2 jams on every duplex job', 'open', 'giulia'],
  ['VPN drops after 10 minutes on the Windows laptops', 'in_progress', 'marco'],
  ['New hire needs an account for the ticketing app', 'closed', 'anna'],
  ['Projector in meeting room B shows no signal', 'open', 'luca'],
];

/** scrypt with a random salt, stored as `salt:hash` (hex). */
export function hashPassword(password: string): string {
  const salt = randomBytes(16);
  return `${salt.toString('hex')}:${scryptSync(password, salt, 32).toString('hex')}`;
}

export function checkPassword(password: string, stored: string): boolean {
  const [salt, hash] = stored.split(':');
  if (!salt || !hash) return false;
  const want = Buffer.from(hash, 'hex');
  const got = scryptSync(password, Buffer.from(salt, 'hex'), want.length);
  return timingSafeEqual(want, got);
}

export interface SeedUser {
  username: string;
  password: string;
  superuser: boolean;
}

/**
 * Open (and create when missing) the app's database in WAL mode, the usual setting for a
 * web app (readers never block the writer; Arca's sqlite source snapshots it online).
 * Seeds the tickets and the given users when the tables are empty.
 */
export function openDatabase(file: string, users: SeedUser[]): Database.Database {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('busy_timeout = 5000');
  db.exec(SCHEMA);
  if ((db.prepare('SELECT count(*) AS n FROM tickets').get() as { n: number }).n === 0) {
    const insert = db.prepare('INSERT INTO tickets (title, status, reporter) VALUES (?, ?, ?)');
    db.transaction(() => SEED_TICKETS.forEach((t) => insert.run(...t)))();
  }
  const addUser = db.prepare('INSERT OR IGNORE INTO users (username, password_hash, is_superuser) VALUES (?, ?, ?)');
  for (const u of users) addUser.run(u.username, hashPassword(u.password), u.superuser ? 1 : 0);
  return db;
}
