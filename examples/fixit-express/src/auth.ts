// FIXIT's login: username + password against the users table, a random session id in an
// HttpOnly cookie, sessions in memory (a real deployment would use a session store).
import { randomBytes } from 'node:crypto';
import type Database from 'better-sqlite3';
import { checkPassword } from './db.js';

export interface User {
  username: string;
  isSuperuser: boolean;
}

export const SESSION_COOKIE = 'fixit_sid';

export function createSessions(db: Database.Database) {
  const sessions = new Map<string, User>();
  const findUser = db.prepare<[string], { username: string; password_hash: string; is_superuser: number }>('SELECT username, password_hash, is_superuser FROM users WHERE username = ?');
  return {
    /** A new session id for valid credentials, else undefined. */
    login(username: string, password: string): string | undefined {
      const row = findUser.get(username);
      if (!row || !checkPassword(password, row.password_hash)) return undefined;
      const sid = randomBytes(24).toString('base64url');
      sessions.set(sid, { username: row.username, isSuperuser: row.is_superuser === 1 });
      return sid;
    },
    logout(sid: string | undefined): void {
      if (sid) sessions.delete(sid);
    },
    /** The user of a `Cookie` header (Express's `req.headers.cookie` or a Web Request's). */
    fromCookieHeader(header: string | null | undefined): User | undefined {
      const sid = new RegExp(`(?:^|;\\s*)${SESSION_COOKIE}=([\\w-]+)`).exec(header ?? '')?.[1];
      return sid ? sessions.get(sid) : undefined;
    },
    sessionId(header: string | null | undefined): string | undefined {
      return new RegExp(`(?:^|;\\s*)${SESSION_COOKIE}=([\\w-]+)`).exec(header ?? '')?.[1];
    },
  };
}

export type Sessions = ReturnType<typeof createSessions>;
