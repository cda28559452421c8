import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll } from 'vitest';

// Closed after the file's tests by one hook registered at import (vitest 4 never runs an
// afterAll registered from inside a test, where receivers are started).
const servers: http.Server[] = [];
afterAll(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
});

export interface Received {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  /** The raw body, as signed. */
  body: string;
  json: unknown;
}

/**
 * A real HTTP server on 127.0.0.1 (free port) recording every request. `respond` decides the
 * answer (default 200 `ok`); returning `'hang'` never answers. Closed after the file's tests.
 */
export async function startReceiver(respond: (r: Received) => { status: number; body?: string } | 'hang' = () => ({ status: 200, body: 'ok' })) {
  const received: Received[] = [];
  const waiters: Array<() => void> = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let json: unknown;
      try {
        json = JSON.parse(body);
      } catch {
        json = undefined;
      }
      const r: Received = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body, json };
      received.push(r);
      for (const w of waiters.splice(0)) w();
      const answer = respond(r);
      if (answer === 'hang') return;
      res.writeHead(answer.status, { 'content-type': answer.body?.startsWith('{') ? 'application/json' : 'text/plain' });
      res.end(answer.body ?? '');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  servers.push(server);
  return {
    url: (p = '/') => `http://127.0.0.1:${port}${p}`,
    received,
    /** Resolves once `n` requests have arrived. */
    async waitFor(n: number) {
      while (received.length < n) await new Promise<void>((r) => waiters.push(r));
      return received.slice(0, n);
    },
  };
}

/** A loopback port with nothing listening (bound then closed). */
export async function deadPort(): Promise<number> {
  const s = http.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}
