import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { afterAll } from 'vitest';

const here = path.dirname(fileURLToPath(import.meta.url));

/**
 * Bundle test/fixtures/lock-child.ts (and the core sources it imports) into one .mjs in
 * `outDir`, so real child processes run the current sources without a build of the package.
 */
export async function bundleChild(outDir: string): Promise<string> {
  const outfile = path.join(outDir, 'lock-child.mjs');
  await build({
    entryPoints: [path.join(here, 'fixtures', 'lock-child.ts')],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    external: ['zstd-napi'],
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
    logLevel: 'error',
  });
  return outfile;
}

export interface Child {
  proc: ChildProcess;
  pid: number;
  /** The next JSON line the child prints (rejects if it exits first). */
  next(): Promise<Record<string, unknown>>;
  send(line: string): void;
  exited: Promise<number | null>;
}

const children = new Set<ChildProcess>();
afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

export function startChild(script: string, args: string[]): Child {
  const proc = spawn(process.execPath, [script, ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
  children.add(proc);
  const lines: Array<Record<string, unknown>> = [];
  const waiters: Array<{ resolve: (v: Record<string, unknown>) => void; reject: (e: Error) => void }> = [];
  readline.createInterface({ input: proc.stdout! }).on('line', (l) => {
    const msg = JSON.parse(l) as Record<string, unknown>;
    const w = waiters.shift();
    if (w) w.resolve(msg);
    else lines.push(msg);
  });
  const exited = new Promise<number | null>((resolve) =>
    proc.on('exit', (code) => {
      children.delete(proc);
      // give readline a turn to deliver the last lines before failing waiters
      setImmediate(() => {
        for (const w of waiters.splice(0)) w.reject(new Error(`child ${proc.pid} exited (${code}) before printing`));
      });
      resolve(code);
    }),
  );
  return {
    proc,
    pid: proc.pid!,
    exited,
    next: () => {
      const l = lines.shift();
      if (l) return Promise.resolve(l);
      if (proc.exitCode !== null || proc.signalCode !== null) return Promise.reject(new Error(`child ${proc.pid} has exited`));
      return new Promise((resolve, reject) => waiters.push({ resolve, reject }));
    },
    send: (line) => proc.stdin!.write(line + '\n'),
  };
}
