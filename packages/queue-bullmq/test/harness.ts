import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { Redis } from 'ioredis';
import { afterAll } from 'vitest';

const here = path.dirname(fileURLToPath(import.meta.url));
const pkgs = path.resolve(here, '../..');

export const REDIS_URL = 'redis://127.0.0.1:6379';

/** undefined when Redis answers PING, else why not (for describeWithService). */
export async function redisProbe(): Promise<string | undefined> {
  const r = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 2000 });
  r.on('error', () => {});
  try {
    await r.connect();
    return (await r.ping()) === 'PONG' ? undefined : 'Redis at 127.0.0.1:6379 did not answer PONG';
  } catch (e) {
    return `no Redis at 127.0.0.1:6379 (${(e as Error).message}); start it with redis-server`;
  } finally {
    r.disconnect();
  }
}

/** A unique BullMQ prefix per test, and removal of every key under it afterwards. */
export function uniquePrefix(): string {
  return `arcatest-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
}
export async function deleteKeys(prefix: string): Promise<number> {
  const r = new Redis(REDIS_URL);
  let n = 0;
  try {
    let cursor = '0';
    do {
      const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 500);
      cursor = next;
      if (keys.length) n += await r.del(...keys);
    } while (cursor !== '0');
  } finally {
    r.disconnect();
  }
  return n;
}

export async function tempDir(name: string): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), `${name}-`));
}

/** Bundle test/fixtures/instance.ts (with the core and runner sources) into one .mjs. */
export async function bundleInstance(outDir: string): Promise<string> {
  const outfile = path.join(outDir, 'instance.mjs');
  await build({
    entryPoints: [path.join(here, 'fixtures', 'instance.ts')],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    external: ['zstd-napi'],
    alias: { '@arca/core': path.join(pkgs, 'core/src/index.ts'), '@arca/queue-bullmq': path.join(pkgs, 'queue-bullmq/src/index.ts') },
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
    logLevel: 'error',
  });
  return outfile;
}

export interface Instance {
  proc: ChildProcess;
  pid: number;
  /** Every JSON line printed so far. */
  lines: Array<Record<string, unknown>>;
  /** Resolves with the first line (already printed or to come) matching `pred`. */
  waitFor(pred: (l: Record<string, unknown>) => boolean, what?: string, timeoutMs?: number): Promise<Record<string, unknown>>;
  send(line: string): void;
  exited: Promise<number | null>;
}

const children = new Set<ChildProcess>();
afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

export function startInstance(script: string, cfg: Record<string, unknown>): Instance {
  const proc = spawn(process.execPath, [script, JSON.stringify(cfg)], { stdio: ['pipe', 'pipe', 'inherit'] });
  children.add(proc);
  const lines: Array<Record<string, unknown>> = [];
  const waiters = new Set<{ pred: (l: Record<string, unknown>) => boolean; resolve: (l: Record<string, unknown>) => void }>();
  readline.createInterface({ input: proc.stdout! }).on('line', (l) => {
    const msg = JSON.parse(l) as Record<string, unknown>;
    lines.push(msg);
    for (const w of [...waiters]) if (w.pred(msg)) (waiters.delete(w), w.resolve(msg));
  });
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => (children.delete(proc), resolve(code))));
  return {
    proc,
    pid: proc.pid!,
    lines,
    exited,
    waitFor(pred, what = 'a line', timeoutMs = 30_000) {
      const seen = lines.find(pred);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => (waiters.delete(w), reject(new Error(`instance ${proc.pid}: no ${what} within ${timeoutMs} ms; it printed ${JSON.stringify(lines.slice(-5))}`))), timeoutMs);
        const w = { pred, resolve: (l: Record<string, unknown>) => (clearTimeout(t), resolve(l)) };
        waiters.add(w);
        void exited.then(() => setImmediate(() => waiters.has(w) && (waiters.delete(w), clearTimeout(t), reject(new Error(`instance ${proc.pid} exited before ${what}`)))));
      });
    },
    send: (line) => proc.stdin!.write(line + '\n'),
  };
}
