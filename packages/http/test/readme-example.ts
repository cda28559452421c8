// The README's example, typechecked and run by readme-example.test.ts.
import * as http from 'node:http';
import express from 'express';
import { createArca, directory, localDir, type Arca } from '@arca/core';
import { arcaExpress, createArcaHandler, toNodeHandler, type ArcaAction } from '@arca/http';

// Your roles, mapped onto Arca's actions.
const ROLES: Record<string, ArcaAction[]> = {
  developer: ['read'],
  sysadmin: ['read', 'run', 'verify', 'download', 'prune'],
  dba: ['read', 'run', 'verify', 'download', 'delete', 'prune', 'restore', 'config'],
};

// Stand-in for your app's session lookup (cookie → user); replace with your own.
type User = { name: string; role: string };
const sessions = new Map<string, User>();
function currentUser(request: Request): User | undefined {
  const sid = /(?:^|;\s*)sid=([\w-]+)/.exec(request.headers.get('cookie') ?? '')?.[1];
  return sid ? sessions.get(sid) : undefined;
}

export function backupRoutes(arca: Arca) {
  return createArcaHandler(arca, {
    basePath: '/admin/backups',
    // Required; anything but true or { actor } is a 403.
    authorize(request, action) {
      const user = currentUser(request);
      return user && ROLES[user.role]?.includes(action) ? { actor: user.name } : false;
    },
    allowRestore: true, // off by default
  });
}

// node:http: the handler answers under /admin/backups, the rest is your app.
export function nodeServer(arca: Arca): http.Server {
  const admin = toNodeHandler(backupRoutes(arca));
  return http.createServer((req, res) => admin(req, res, () => res.writeHead(404).end()));
}

// Express 5: mount it behind your own login middleware.
export function expressApp(arca: Arca): express.Express {
  const app = express();
  const requireLogin: express.RequestHandler = (req, res, next) => (req.headers.cookie?.includes('sid=') ? next() : res.redirect('/login'));
  app.use('/admin/backups', requireLogin, arcaExpress(backupRoutes(arca)));
  return app;
}

export function fixitArca(root: string): Arca {
  return createArca({
    destinations: { local: localDir({ path: `${root}/backups` }) },
    jobs: { daily: { sources: { uploads: directory({ path: `${root}/static/uploads` }) }, destinations: ['local'], schedule: 'daily@02:00' } },
  });
}

export { sessions };
