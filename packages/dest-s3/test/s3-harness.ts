/**
 * Test harness: s3rver 3.7.1 in a child process (node --openssl-legacy-provider, which its
 * pagination tokens need on Node 20) on a free loopback port in a temp dir, and a small
 * failure-injecting HTTP proxy to put in front of it for what the fake cannot produce
 * (5xx on some parts, quota and permission errors, corrupted bodies).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { S3Client } from '@aws-sdk/client-s3';

const CHILD = fileURLToPath(new URL('./fixtures/s3rver-child.cjs', import.meta.url));
export const AWS_CLI = '/usr/bin/aws';
export const CREDS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

export interface S3rverHandle {
  endpoint: string;
  port: number;
  dir: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

/** Resolves `undefined` when s3rver can run here, else the reason (for describeWithService). */
export async function probeS3rver(): Promise<string | undefined> {
  try {
    await import('s3rver' as string);
  } catch {
    return 's3rver is not installed (npm ci installs it as a devDependency)';
  }
  return undefined;
}

/** `credentials`: a key pair accepted besides S3RVER/S3RVER (handed over in the environment, not argv). */
export async function startS3rver(buckets: string[], o: { credentials?: { accessKeyId: string; secretAccessKey: string } } = {}): Promise<S3rverHandle> {
  const dir = await mkdtemp(path.join(tmpdir(), 'arca-s3rver-'));
  const child = spawn(process.execPath, ['--openssl-legacy-provider', CHILD, dir, ...buckets], {
    stdio: ['pipe', 'pipe', 'pipe'],
    cwd: path.dirname(CHILD),
    ...(o.credentials ? { env: { ...process.env, ARCA_S3RVER_KEY_ID: o.credentials.accessKeyId, ARCA_S3RVER_SECRET: o.credentials.secretAccessKey } } : {}),
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => void (stderr = (stderr + d.toString()).slice(-4000)));
  const port = await new Promise<number>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout! });
    rl.once('line', (line) => {
      try {
        resolve((JSON.parse(line) as { port: number }).port);
      } catch {
        reject(new Error(`s3rver said: ${line}`));
      }
    });
    child.once('exit', (code) => reject(new Error(`s3rver exited with ${code}: ${stderr}`)));
  });
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    dir,
    child,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** An S3Client for the fake, with the settings DESIGN.md §11 requires. */
export function fakeClient(endpoint: string, extra: Partial<ConstructorParameters<typeof S3Client>[0]> = {}): S3Client {
  return new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: CREDS,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    ...extra,
  });
}

/** Record the name of every command a client sends (for asserting AbortMultipartUpload etc.). */
export function recordCommands(client: S3Client): string[] {
  const seen: string[] = [];
  client.middlewareStack.add(
    (next, context) => async (args) => {
      seen.push(String((context as { commandName?: string }).commandName));
      return next(args);
    },
    { step: 'initialize', name: 'arcaTestRecorder' },
  );
  return seen;
}

export interface ProxyRequest {
  method: string;
  url: URL;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  /** Status answered (by the proxy itself or by the server). */
  status?: number;
}

/** What the proxy does with a request: forward it (optionally with a changed body), or answer itself. */
export type ProxyDecision = { forward: true; body?: Buffer } | { status: number; code?: string; xml?: string };

export interface FaultProxy {
  endpoint: string;
  /** Every request seen, in order. */
  requests: ProxyRequest[];
  decide: (r: ProxyRequest) => ProxyDecision;
  close(): Promise<void>;
}

export const errorXml = (code: string, message = code) =>
  `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message><RequestId>arca-test</RequestId></Error>`;

/**
 * A failure-injecting proxy in front of s3rver (request bodies are buffered: tests send
 * small parts). `decide` is consulted for every request and can be swapped at any time.
 */
export async function startFaultProxy(target: string): Promise<FaultProxy> {
  const t = new URL(target);
  const proxy: FaultProxy = {
    endpoint: '',
    requests: [],
    decide: () => ({ forward: true }),
    close: async () => {},
  };
  const server = http.createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      const r: ProxyRequest = { method: req.method!, url: new URL(req.url!, 'http://proxy'), headers: req.headers, body: Buffer.concat(parts) };
      proxy.requests.push(r);
      const d = proxy.decide(r);
      if (!('forward' in d)) {
        const xml = d.xml ?? (d.code ? errorXml(d.code) : '');
        r.status = d.status;
        res.writeHead(d.status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(xml) });
        res.end(req.method === 'HEAD' ? undefined : xml);
        return;
      }
      const body = d.body ?? r.body;
      const headers = { ...req.headers, host: t.host, 'content-length': String(body.byteLength) };
      delete headers['transfer-encoding'];
      const up = http.request({ host: t.hostname, port: t.port, method: req.method, path: req.url, headers }, (ur) => {
        r.status = ur.statusCode;
        res.writeHead(ur.statusCode ?? 502, ur.headers);
        ur.pipe(res);
      });
      up.on('error', () => res.destroy());
      up.end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  proxy.endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  proxy.close = () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return proxy;
}

/** Is this request an UploadPart (PUT with partNumber)? */
export const isUploadPart = (r: ProxyRequest) => r.method === 'PUT' && r.url.searchParams.has('partNumber');

export function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

/** Run Debian's aws CLI (not whatever `aws` is first on PATH) against the fake. */
export function awsCli(endpoint: string, args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(AWS_CLI, ['--endpoint-url', endpoint, '--no-cli-pager', ...args], {
    encoding: 'utf8',
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: tmpdir(),
      AWS_ACCESS_KEY_ID: CREDS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: CREDS.secretAccessKey,
      AWS_DEFAULT_REGION: 'us-east-1',
      AWS_CONFIG_FILE: '/dev/null',
      AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
    },
    timeout: 120_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
