/**
 * Runs the real `arca` binary as a child process. `buildCli()` bundles src/cli.ts with tsup
 * (no type declarations: ~1 s) into packages/cli/.tmp/, so the tests always run the current
 * sources; @arca/core and adapters are the built workspace packages (`npm run build`, as
 * `npm test` does first). Temp projects also live under .tmp/ so that `@arca/*` packages
 * resolve from them exactly as from a project with them installed.
 */
import { spawn } from 'node:child_process';
import { existsSync, watch } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

export const PKG_DIR = fileURLToPath(new URL('..', import.meta.url));
export const TMP_ROOT = path.join(PKG_DIR, '.tmp');
/** The built binary of this test file (each file builds its own: test files run in parallel). */
export let CLI = '';

export async function buildCli(name: string): Promise<void> {
  const outDir = path.join(TMP_ROOT, `cli-build-${name}`);
  const core = path.join(PKG_DIR, '..', 'core', 'dist', 'index.js');
  if (!existsSync(core)) throw new Error(`@arca/core is not built (${core} missing): run \`npm run build\` at the repository root first.`);
  const { build } = await import('tsup');
  await build({
    entry: { cli: path.join(PKG_DIR, 'src', 'cli.ts') },
    format: ['esm'],
    outDir,
    target: 'node20',
    dts: false,
    clean: true,
    silent: true,
    config: false,
    // Every package stays external, as in the published build (tsup reads externals from the cwd's package.json, here the root's).
    external: [/^[^./]/],
    banner: { js: '#!/usr/bin/env node' },
  });
  CLI = path.join(outDir, 'cli.js');
}

export async function tempProject(name: string): Promise<string> {
  await fs.mkdir(TMP_ROOT, { recursive: true });
  return fs.mkdtemp(path.join(TMP_ROOT, `${name}-`));
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** stdout parsed as the one JSON document of `--json`. */
  json(): { schema: string; command: string; ok: boolean; exitCode: number; result?: any; error?: { code: string; message: string; problems?: string[] } };
}

export interface RunOptions {
  cwd: string;
  env?: Record<string, string | undefined>;
  /** Called with the child once spawned (to signal it). */
  onSpawn?(child: import('node:child_process').ChildProcess): void;
}

/** Run `arca <args>` (executed through its shebang, as npx/cron would) with stdin closed (not a TTY). */
export function arca(args: string[], o: RunOptions): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const env: Record<string, string | undefined> = { ...process.env, NO_COLOR: '1', ...o.env };
    for (const k of Object.keys(env)) if (env[k] === undefined) delete env[k];
    delete env.FORCE_COLOR;
    const child = spawn(CLI, args, { cwd: o.cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    o.onSpawn?.(child);
    child.on('close', (code, signal) =>
      resolve({
        code,
        signal,
        stdout,
        stderr,
        json() {
          const lines = stdout.trim().split('\n');
          if (lines.length !== 1) throw new Error(`expected one JSON line on stdout, got ${lines.length}:\n${stdout}\nstderr:\n${stderr}`);
          return JSON.parse(lines[0]!);
        },
      }),
    );
  });
}

/** Every file under `dir` (relative paths), for "nothing half-written left" checks. */
export async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string) => {
    for (const e of await fs.readdir(d, { withFileTypes: true }).catch(() => [])) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else out.push(path.relative(dir, p));
    }
  };
  await walk(dir);
  return out.sort();
}

/** Wait until `file` exists (a watcher on its folder, armed before the first look: no polling sleeps). */
export async function waitForFile(file: string, timeoutMs = 30_000): Promise<void> {
  const dir = path.dirname(file);
  await fs.mkdir(dir, { recursive: true });
  await new Promise<void>((resolve, reject) => {
    const done = (e?: Error) => {
      watcher.close();
      clearTimeout(timer);
      if (e) reject(e);
      else resolve();
    };
    const watcher = watch(dir, () => existsSync(file) && done());
    const timer = setTimeout(() => done(new Error(`${file} did not appear within ${timeoutMs} ms`)), timeoutMs);
    if (existsSync(file)) done();
  });
}
