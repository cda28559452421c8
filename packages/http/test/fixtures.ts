import * as fs from 'node:fs/promises';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll } from 'vitest';
import { createArca, directory, gfs, localDir, memoryRunLog, registerSecret, type Arca, type Source } from '@arca/core';
import { createArcaHandler, toNodeHandler, type ArcaAction, type ArcaHandlerOptions, type AuthorizeResult } from '@arca/http';

/** The password the "crm" source is configured with: it must never reach any HTML or JSON. */
export const SECRET = 'S3cr3t-Pa55word-7781';

export async function tempDir(label = 'arca-http'): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), `${label}-`));
  afterAll(() => fs.rm(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * A source configured with a password, like a database source: its describe() holds the
 * host and user only (the Source contract), the password stays in the closure.
 */
export function passwordSource(dir: string, password: string): Source {
  registerSecret(password);
  const inner = directory({ path: dir });
  return { ...inner, kind: 'crm-export', describe: () => ({ host: 'crm.internal', user: 'backup', folder: dir }), dump: (o) => inner.dump(o), restore: inner.restore!.bind(inner) };
}

export interface Fixture {
  dir: string;
  arca: Arca;
  uploads: string;
}

/** Two jobs on two local destinations; `daily` keeps the newest 2 backups (so prune has work). */
export async function makeFixture(): Promise<Fixture> {
  const dir = await tempDir();
  const uploads = path.join(dir, 'uploads');
  const crm = path.join(dir, 'crm');
  await fs.mkdir(uploads, { recursive: true });
  await fs.mkdir(crm, { recursive: true });
  await fs.writeFile(path.join(uploads, 'ticket-1.txt'), 'printer on fire\n');
  await fs.writeFile(path.join(uploads, 'photo.bin'), Buffer.alloc(150_000, 9));
  await fs.writeFile(path.join(crm, 'customers.csv'), 'id,name\n1,Rossi\n');
  const arca = createArca({
    destinations: { local: localDir({ path: path.join(dir, 'backups') }), nas: localDir({ path: path.join(dir, 'nas') }) },
    jobs: {
      daily: { sources: { uploads: directory({ path: uploads }) }, destinations: ['local', 'nas'], schedule: 'daily@02:00', timezone: 'Europe/Rome', retention: gfs({ last: 2 }), health: { maxAge: '26h' } },
      crm: { sources: { crm: passwordSource(crm, SECRET) }, destinations: ['local'] },
    },
    runLog: memoryRunLog(),
  });
  return { dir, arca, uploads };
}

/** Roles as a host would map them; the user comes from a header set by the host's own login. */
export const ROLES: Record<string, ArcaAction[]> = {
  developer: ['read'],
  sysadmin: ['read', 'run', 'verify', 'download', 'prune'],
  dba: ['read', 'run', 'verify', 'download', 'delete', 'prune', 'restore', 'config'],
};

export function roleAuthorize(request: Request, action: ArcaAction): AuthorizeResult {
  const cookie = request.headers.get('cookie') ?? '';
  const user = request.headers.get('x-user') ?? /(?:^|;\s*)user=([a-z]+)/.exec(cookie)?.[1];
  if (!user) return false;
  return ROLES[user]?.includes(action) ? { actor: user } : false;
}

export function handlerFor(arca: Arca, o: Partial<ArcaHandlerOptions> = {}) {
  const h = createArcaHandler(arca, { basePath: '/admin/backups', authorize: roleAuthorize, ...o });
  afterAll(() => h.dispose());
  return h;
}

/** Listen on 127.0.0.1 with a free port; closed after the file's tests. */
export async function listen(server: http.Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  afterAll(() => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  }));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

export async function nodeServer(arca: Arca, o: Partial<ArcaHandlerOptions> = {}): Promise<string> {
  return listen(http.createServer(toNodeHandler(handlerFor(arca, o))));
}

/** A source whose dump stops after its first chunk until `open()` is called: a run that stays "running" for as long as a test needs. */
export function gateSource() {
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  let started!: () => void;
  const startedP = new Promise<void>((r) => (started = r));
  const source: Source = {
    kind: 'gate',
    describe: () => ({ note: 'test source' }),
    async dump() {
      return {
        filename: 'gate.bin',
        expectedBytes: 2 * 65536,
        stream: (async function* () {
          yield new Uint8Array(65536).fill(1);
          started();
          await gate;
          yield new Uint8Array(65536).fill(2);
        })(),
        meta: async () => ({}),
      };
    },
  };
  return { source, open, started: startedP };
}

/** Parse a text/event-stream body into events until it ends. */
export async function readSse(res: Response): Promise<Array<{ event: string; data: any }>> {
  const text = await res.text();
  return text
    .split('\n\n')
    .filter((b) => b.includes('data:'))
    .map((b) => ({ event: /event: (.*)/.exec(b)![1]!, data: JSON.parse(/data: (.*)/.exec(b)![1]!) }));
}
