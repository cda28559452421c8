/**
 * The backup dashboard and JSON API (@arca/http) with Partesa's three roles mapped onto
 * Arca's actions, behind HTTP Basic authentication (so a browser can open it as it is;
 * replace `authenticate` with your app's session lookup when you mount it in your app).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { ACTIONS, createArcaHandler, type ArcaAction, type ArcaHandler } from '@arca/http';
import type { PartesaBackups } from './partesa-backups.js';
import { JOB } from './partesa-backups.js';

export type Role = 'dba' | 'sysadmin' | 'developer';

/**
 * Database Administrator: everything, restore included. System Administrator: monitoring
 * and maintenance (run now, verify, retention). Developer: read only (dashboard, backups
 * list, run log / audit trail, health).
 */
export const ROLES: Record<Role, readonly ArcaAction[]> = {
  dba: ACTIONS,
  sysadmin: ['read', 'run', 'verify', 'prune'],
  developer: ['read'],
};

export interface User {
  role: Role;
  /** The password, or `sha256:<hex>` of it. */
  password: string;
}

const sha256 = (s: string) => createHash('sha256').update(s).digest();

/** The user named in an `Authorization: Basic` header whose password matches, or undefined. */
export function authenticate(request: Request, users: Record<string, User>): { name: string; user: User } | undefined {
  const m = /^Basic ([A-Za-z0-9+/=]+)$/.exec(request.headers.get('authorization') ?? '');
  if (!m) return undefined;
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 1) return undefined;
  const name = decoded.slice(0, colon);
  const user = Object.hasOwn(users, name) ? users[name] : undefined;
  if (!user) return undefined;
  const want = user.password.startsWith('sha256:') ? Buffer.from(user.password.slice(7), 'hex') : sha256(user.password);
  const got = sha256(decoded.slice(colon + 1));
  return want.length === got.length && timingSafeEqual(want, got) ? { name, user } : undefined;
}

/**
 * The Web-standard handler under `basePath`. Every request is authorized per action: an
 * anonymous request gets a 401 asking for credentials, a role without the action a 403.
 * The actor (user name) goes into manifests and the audit log (restores, deletes, verifies,
 * prunes), which the dashboard's Run log page shows and exports as CSV.
 */
export function partesaAdmin(b: PartesaBackups, users: Record<string, User>, basePath = '/admin/backups'): ArcaHandler {
  return createArcaHandler(b.arca, {
    basePath,
    title: 'Partesa backups',
    authorize(request, action) {
      const who = authenticate(request, users);
      if (!who) return new Response('Login required', { status: 401, headers: { 'www-authenticate': 'Basic realm="Partesa backups", charset="UTF-8"' } });
      return ROLES[who.user.role].includes(action) ? { actor: who.name } : false;
    },
    allowRestore: true,
    restoreTargets: {
      copy: { label: `Copy database ${JOB}_copy (the live database is not touched)`, into: { db: b.copy }, jobs: [JOB] },
    },
  });
}
