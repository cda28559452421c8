/**
 * A small streaming HTTP proxy in front of s3rver for failures the fake cannot produce:
 * answering 5xx, dropping connections, or holding a request forever. Hand-written (and not
 * the dest-s3 harness's proxy) because that one buffers bodies and cannot drop a socket
 * mid-request. The caller closes it.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

export type Fault = 'forward' | 'hold' | 'drop' | { status: number; code: string };

export interface SeenRequest {
  method: string;
  path: string;
  fault: Fault;
}

export interface FaultProxy {
  endpoint: string;
  seen: SeenRequest[];
  /** Decides each request's fate; swap it at any time. */
  decide: (method: string, path: string) => Fault;
  close(): Promise<void>;
}

export async function startFaultProxy(target: string): Promise<FaultProxy> {
  const t = new URL(target);
  const held = new Set<http.ServerResponse>();
  const proxy: FaultProxy = { endpoint: '', seen: [], decide: () => 'forward', close: async () => {} };
  const server = http.createServer((req, res) => {
    const fault = proxy.decide(req.method!, req.url!);
    proxy.seen.push({ method: req.method!, path: req.url!, fault });
    if (fault === 'hold') {
      held.add(res);
      req.resume();
      return;
    }
    if (fault === 'drop') {
      req.socket.destroy();
      return;
    }
    if (fault !== 'forward') {
      req.resume();
      const xml = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${fault.code}</Code><Message>${fault.code}</Message></Error>`;
      res.writeHead(fault.status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(xml), connection: 'close' });
      res.end(req.method === 'HEAD' ? undefined : xml);
      return;
    }
    const up = http.request({ host: t.hostname, port: t.port, method: req.method, path: req.url, headers: { ...req.headers, host: t.host } }, (ur) => {
      res.writeHead(ur.statusCode ?? 502, ur.headers);
      ur.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.on('error', () => up.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  proxy.endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  proxy.close = () =>
    new Promise<void>((r) => {
      for (const res of held) res.destroy();
      server.closeAllConnections();
      server.close(() => r());
    });
  return proxy;
}
