// The FIXIT web app (Express 5): tickets, attachments, a login, and Arca's admin routes
// under /admin/backups for superusers only.
import { createReadStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createWriteStream } from 'node:fs';
import express from 'express';
import type Database from 'better-sqlite3';
import type { Arca } from '@arca/core';
import { arcaExpress, createArcaHandler, type ArcaHandler } from '@arca/http';
import { sqlite } from '@arca/source-sqlite';
import { SESSION_COOKIE, type Sessions } from './auth.js';
import type { FixitPaths } from './backups.js';
import type { Ticket } from './db.js';

export interface FixitAppOptions {
  db: Database.Database;
  sessions: Sessions;
  arca: Arca;
  paths: FixitPaths;
  /** Send the session cookie with `Secure` (behind HTTPS). Default false for localhost. */
  secureCookies?: boolean;
}

const UPLOAD_NAME = /^[\w][\w.-]{0,120}$/;
const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * Arca's admin routes, behind FIXIT's own rule: only superusers manage backups. Anonymous
 * visitors of the dashboard are sent to the login page; logged-in non-superusers and
 * anonymous API calls get a 403.
 */
export function backupAdmin(arca: Arca, sessions: Sessions, paths: FixitPaths): ArcaHandler {
  return createArcaHandler(arca, {
    basePath: '/admin/backups',
    title: 'FIXIT backups',
    authorize(request, _action, context) {
      const user = sessions.fromCookieHeader(request.headers.get('cookie'));
      if (!user && context.ui && !context.probe) return Response.redirect(new URL('/login?next=/admin/backups', request.url), 303);
      return user?.isSuperuser ? { actor: user.username } : false;
    },
    allowRestore: true,
    restoreTargets: {
      scratch: {
        label: `Scratch copy of the database (${path.join(paths.root, 'restore-scratch', 'tickets.db')})`,
        into: { db: sqlite({ path: path.join(paths.root, 'restore-scratch', 'tickets.db') }) },
      },
    },
  });
}

export function createFixitApp(o: FixitAppOptions): { app: express.Express; admin: ArcaHandler } {
  const { db, sessions, paths } = o;
  const app = express();
  const admin = backupAdmin(o.arca, sessions, paths);

  const requireLogin: express.RequestHandler = (req, res, next) => {
    if (sessions.fromCookieHeader(req.headers.cookie)) next();
    else res.status(401).json({ error: 'Log in first (POST /login).' });
  };

  app.get('/', (req, res) => {
    const user = sessions.fromCookieHeader(req.headers.cookie);
    const tickets = db.prepare('SELECT * FROM tickets ORDER BY id').all() as Ticket[];
    const rows = tickets.map((t) => `<li>#${t.id} [${escapeHtml(t.status)}] ${escapeHtml(t.title)} — ${escapeHtml(t.reporter)}</li>`).join('');
    const nav = user
      ? `${escapeHtml(user.username)} ${user.isSuperuser ? '· <a href="/admin/backups">Backup</a>' : ''} · <form method="post" action="/logout" style="display:inline"><button>Log out</button></form>`
      : '<a href="/login">Log in</a>';
    res.type('html').send(`<!doctype html><title>FIXIT</title><h1>FIXIT</h1><p>${nav}</p><ul>${rows}</ul>`);
  });

  app.get('/login', (req, res) => {
    const next = typeof req.query.next === 'string' && req.query.next.startsWith('/') && !req.query.next.startsWith('//') ? req.query.next : '/';
    res.type('html').send(`<!doctype html><title>FIXIT login</title><form method="post" action="/login">
      <input type="hidden" name="next" value="${escapeHtml(next)}">
      <label>User <input name="username" autocomplete="username"></label>
      <label>Password <input name="password" type="password" autocomplete="current-password"></label>
      <button>Log in</button></form>`);
  });

  const forms = [express.urlencoded({ extended: false, limit: '8kb' }), express.json({ limit: '8kb' })];
  app.post('/login', ...forms, (req, res) => {
    const { username, password, next } = (req.body ?? {}) as Record<string, unknown>;
    const sid = typeof username === 'string' && typeof password === 'string' ? sessions.login(username, password) : undefined;
    if (!sid) {
      res.status(401).json({ error: 'Wrong user name or password.' });
      return;
    }
    res.cookie(SESSION_COOKIE, sid, { httpOnly: true, sameSite: 'lax', secure: o.secureCookies ?? false, path: '/' });
    if (req.is('application/json')) res.json({ ok: true });
    else res.redirect(303, typeof next === 'string' && next.startsWith('/') && !next.startsWith('//') ? next : '/');
  });

  app.post('/logout', (req, res) => {
    sessions.logout(sessions.sessionId(req.headers.cookie));
    res.clearCookie(SESSION_COOKIE, { path: '/' }).redirect(303, '/');
  });

  app.get('/api/tickets', requireLogin, (_req, res) => {
    res.json(db.prepare('SELECT * FROM tickets ORDER BY id').all());
  });

  app.post('/api/tickets', requireLogin, express.json({ limit: '16kb' }), (req, res) => {
    const { title } = (req.body ?? {}) as { title?: unknown };
    if (typeof title !== 'string' || !title.trim()) {
      res.status(400).json({ error: 'Send { "title": "..." }.' });
      return;
    }
    const user = sessions.fromCookieHeader(req.headers.cookie)!;
    const r = db.prepare('INSERT INTO tickets (title, reporter) VALUES (?, ?)').run(title.trim(), user.username);
    res.status(201).json(db.prepare('SELECT * FROM tickets WHERE id = ?').get(r.lastInsertRowid));
  });

  // Attachments: the raw request body streams into uploads/<name> (temp file, then rename).
  app.put('/api/uploads/:name', requireLogin, async (req, res, next) => {
    const name = String(req.params.name);
    if (!UPLOAD_NAME.test(name)) {
      res.status(400).json({ error: 'Use a file name of letters, digits, ".", "_" and "-".' });
      return;
    }
    const final = path.join(paths.uploads, name);
    const temp = `${final}.${process.pid}.part`; // *.part is excluded from backups
    try {
      await fs.mkdir(paths.uploads, { recursive: true });
      await pipeline(req, createWriteStream(temp));
      await fs.rename(temp, final);
      res.status(201).json({ name, bytes: (await fs.stat(final)).size });
    } catch (e) {
      await fs.rm(temp, { force: true });
      next(e);
    }
  });

  app.get('/uploads/:name', requireLogin, (req, res) => {
    const name = String(req.params.name);
    if (!UPLOAD_NAME.test(name)) return void res.status(400).end();
    const s = createReadStream(path.join(paths.uploads, name));
    s.on('error', () => res.status(404).end());
    s.pipe(res);
  });

  // Arca's dashboard and JSON API; authorization is backupAdmin's authorize().
  app.use('/admin/backups', arcaExpress(admin));
  return { app, admin };
}
