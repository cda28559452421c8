import { constants as fsc } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { ArcaError, ErrorCodes, redact } from '@arca/core';
import type { MySqlConfig } from './mysql-options.js';

export interface ToolInfo {
  /** Absolute path of the executable. */
  path: string;
  /** `mariadb` or `mysql`, from `--version`. */
  flavour: 'mariadb' | 'mysql';
  /** The tool's own version line, e.g. `mariadb-dump from 11.4.2-MariaDB` or `Ver 8.0.36`. */
  versionLine: string;
  /** Numeric version of the tool (MySQL: 8.0.36; MariaDB: the server distribution version). */
  version: string;
}

async function isExecutable(p: string): Promise<boolean> {
  try {
    const st = await fs.stat(p);
    if (!st.isFile()) return false;
    await fs.access(p, fsc.X_OK);
    return true;
  } catch {
    return false;
  }
}

async function findOnPath(names: string[]): Promise<string | undefined> {
  const dirs = (process.env.PATH ?? '').split(path.delimiter).filter(Boolean);
  for (const name of names) {
    for (const d of dirs) {
      const p = path.join(d, name);
      if (await isExecutable(p)) return p;
    }
  }
  return undefined;
}

const cache = new Map<string, Promise<ToolInfo>>();

/**
 * Find a client tool: the explicit path when given, else the first of `names` on PATH.
 * Rejects with TOOL_NOT_FOUND telling what to install. Results are cached per path.
 */
export async function findTool(kind: 'dump' | 'client', explicit: string | undefined): Promise<ToolInfo> {
  const names = kind === 'dump' ? ['mariadb-dump', 'mysqldump'] : ['mariadb', 'mysql'];
  const option = kind === 'dump' ? 'dumpPath' : 'clientPath';
  const found = explicit ?? (await findOnPath(names));
  if (!found || !(await isExecutable(found))) {
    throw new ArcaError(
      ErrorCodes.TOOL_NOT_FOUND,
      explicit
        ? `The ${kind === 'dump' ? 'dump tool' : 'client'} ${explicit} (option ${option}) does not exist or is not executable: fix the path.`
        : `Neither ${names.join(' nor ')} was found on PATH: install the MariaDB or MySQL client tools (Debian: apt-get install mariadb-client), or set ${option}.`,
    );
  }
  let p = cache.get(found);
  if (!p) {
    p = (async () => {
      const r = await execa(found, ['--version'], { reject: false, timeout: 15_000, stdin: 'ignore' });
      const line = String(r.stdout ?? '').split('\n')[0]?.trim() ?? '';
      if (r.exitCode !== 0 || !line) {
        throw new ArcaError(ErrorCodes.TOOL_NOT_FOUND, `${found} --version failed (exit ${String(r.exitCode)}): is it a MariaDB/MySQL client tool?`);
      }
      const flavour = /mariadb/i.test(line) ? 'mariadb' : 'mysql';
      const m = flavour === 'mariadb' ? /(\d+\.\d+\.\d+)-MariaDB/i.exec(line) ?? /Distrib (\d+\.\d+\.\d+)/.exec(line) : /Ver (\d+\.\d+\.\d+)/.exec(line) ?? /(\d+\.\d+\.\d+)/.exec(line);
      return { path: found, flavour, versionLine: line, version: m?.[1] ?? 'unknown' } satisfies ToolInfo;
    })();
    cache.set(found, p);
    p.catch(() => cache.delete(found));
  }
  return p;
}

/** Compare dotted versions: negative when a < b. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** Escape a value for a MySQL option file: double-quoted, with backslash escapes. */
export function optionFileValue(v: string): string {
  if (/[\n\r\0]/.test(v)) {
    throw new ArcaError(ErrorCodes.CONFIG_INVALID, 'The MySQL password contains a newline or NUL, which the client tools cannot read from an option file: change the password.');
  }
  return '"' + v.replace(/\\/g, '\\\\').replace(/"/g, '\\"') + '"';
}

/** A private temporary folder holding the option file; `remove()` is idempotent. */
export interface DefaultsFile {
  path: string;
  remove(): Promise<void>;
}

/**
 * Write the credentials to `<private tmp dir>/client.cnf` (dir 0700, file 0600), the only
 * place the password ever goes outside this process. The caller MUST call `remove()` in a
 * `finally` (every path we control: success, failure, abort, early stop).
 */
export async function writeDefaultsFile(cfg: MySqlConfig): Promise<DefaultsFile> {
  let dir: string;
  try {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'arca-mysql-'));
  } catch (e) {
    throw new ArcaError(ErrorCodes.SOURCE_FAILED, `Cannot create a private temporary folder in ${os.tmpdir()} for the MySQL option file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}): make it writable or set TMPDIR.`, { cause: e });
  }
  await fs.chmod(dir, 0o700);
  const file = path.join(dir, 'client.cnf');
  const lines = ['[client]', `user=${optionFileValue(cfg.user)}`];
  if (cfg.password !== undefined && cfg.password !== '') lines.push(`password=${optionFileValue(cfg.password)}`);
  let removed = false;
  const remove = async () => {
    if (removed) return;
    removed = true;
    await fs.rm(dir, { recursive: true, force: true });
  };
  try {
    await fs.writeFile(file, lines.join('\n') + '\n', { mode: 0o600, flag: 'wx' });
  } catch (e) {
    await remove();
    throw new ArcaError(ErrorCodes.SOURCE_FAILED, `Cannot write the temporary MySQL option file in ${dir} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}).`, { cause: e });
  }
  return { path: file, remove };
}

/** Connection arguments (no credentials): `--defaults-extra-file` MUST come first. */
export function connectionArgs(cfg: MySqlConfig, defaultsFile: string, kind: 'dump' | 'client'): string[] {
  const args = [`--defaults-extra-file=${defaultsFile}`];
  if (cfg.socket) args.push('--protocol=SOCKET', `--socket=${cfg.socket}`);
  else args.push('--protocol=TCP', `--host=${cfg.host}`, `--port=${cfg.port}`);
  // mariadb-dump/mysqldump have no --connect-timeout; dumps are preceded by a driver
  // connection with the timeout, so an unreachable host fails there first.
  if (kind === 'client') args.push(`--connect-timeout=${Math.max(1, Math.ceil(cfg.connectTimeoutMs / 1000))}`);
  return args;
}

/** Keeps the last `limit` bytes of a stream (stderr), redacted on read. */
export class Tail {
  private chunks: Buffer[] = [];
  private size = 0;
  constructor(private readonly limit = 4096) {}
  push(c: Buffer): void {
    this.chunks.push(c);
    this.size += c.length;
    while (this.size - (this.chunks[0]?.length ?? 0) >= this.limit && this.chunks.length > 1) this.size -= this.chunks.shift()!.length;
  }
  text(): string {
    const all = Buffer.concat(this.chunks);
    const s = all.subarray(Math.max(0, all.length - this.limit)).toString('utf8').trim();
    return redact(s);
  }
}

export interface RunningTool {
  child: ResultPromise<{ buffer: false; reject: false }>;
  stderr: Tail;
}

/** Start a tool with piped stdio; the caller consumes stdout/stdin and awaits `child`. */
export function startTool(file: string, args: string[], signal: AbortSignal | undefined, stdin: 'pipe' | 'ignore'): RunningTool {
  const child = execa(file, args, {
    stdin,
    stdout: 'pipe',
    stderr: 'pipe',
    buffer: false,
    reject: false,
    cancelSignal: signal,
    forceKillAfterDelay: 3000,
    // Never let an inherited MYSQL_PWD or option-file env override what we pass.
    env: { MYSQL_PWD: undefined, MYSQL_HOST: undefined, MYSQL_TCP_PORT: undefined, MYSQL_UNIX_PORT: undefined },
  }) as RunningTool['child'];
  const stderr = new Tail();
  child.stderr?.on('data', (c: Buffer) => stderr.push(c));
  return { child, stderr };
}
