import * as fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { ArcaError, ErrorCodes, redact } from '@arca/core';
import { connectionError, libpqEnv, where, type PgConnection } from './postgres-connection.js';

export interface ToolVersion {
  /** Full version string, e.g. `15.20`. */
  version: string;
  major: number;
}

const versionCache = new Map<string, Promise<ToolVersion>>();

/** `pg_dump --version` → `{ version: '15.20', major: 15 }`; `TOOL_NOT_FOUND` when the binary is missing. */
export function toolVersion(bin: string): Promise<ToolVersion> {
  let p = versionCache.get(bin);
  if (!p) {
    p = (async () => {
      const r = await new Promise<{ stdout: string; stderr: string; error: (Error & { code?: unknown }) | null }>((resolve) =>
        execFile(bin, ['--version'], { timeout: 15_000, encoding: 'utf8' }, (error, stdout, stderr) => resolve({ stdout, stderr, error })),
      );
      if (r.error) {
        // code: 'ENOENT'/'EACCES' when it could not start, else the exit code (127: not found via a shell wrapper).
        const code = r.error.code;
        if (code === 'ENOENT' || code === 'EACCES' || code === 127) {
          throw new ArcaError(ErrorCodes.TOOL_NOT_FOUND, `${bin} was not found (${typeof code === 'string' ? code : 'exit 127'}). Install the PostgreSQL client tools matching your server (Debian/Ubuntu: apt install postgresql-client-<major>) or set the path in the source options.`);
        }
        throw new ArcaError(ErrorCodes.TOOL_NOT_FOUND, `${bin} --version failed: ${redact(String(r.stderr || r.error.message)).slice(0, 300)}. Check the binary path in the source options.`);
      }
      const m = /(\d+)(?:\.(\d+))?/.exec(String(r.stdout));
      if (!m) throw new ArcaError(ErrorCodes.TOOL_NOT_FOUND, `${bin} --version printed no version (${String(r.stdout).slice(0, 100)}): is it really a PostgreSQL tool?`);
      return { version: m[2] === undefined ? m[1]! : `${m[1]}.${m[2]}`, major: Number(m[1]) };
    })();
    versionCache.set(bin, p);
    p.catch(() => versionCache.delete(bin));
  }
  return p;
}

/** Major version from `server_version_num` (150020 → 15; 90624 → 9). */
export function serverMajor(versionNum: number): number {
  return versionNum >= 100000 ? Math.floor(versionNum / 10000) : Math.floor(versionNum / 100) / 10;
}

/** pg_dump refuses servers newer than itself: say which client to install. */
export function dumpVersionProblem(tool: string, bin: string, toolMajor: number, server: { version: string; major: number }): ArcaError | undefined {
  if (toolMajor >= server.major) return undefined;
  return new ArcaError(
    ErrorCodes.TOOL_VERSION_MISMATCH,
    `${tool} ${toolMajor} (${bin}) is older than the PostgreSQL server (${server.version}) and cannot dump it. Install ${tool} ${server.major} or newer (Debian/Ubuntu: apt install postgresql-client-${server.major}) and point the source option at it.`,
    { details: { tool, toolMajor, serverMajor: server.major } },
  );
}

/** A bounded, redacted tail of a child's stderr (the last `max` bytes). */
export class StderrTail {
  private buf = '';
  constructor(private readonly max = 4096) {}
  push(chunk: Buffer | string): void {
    this.buf += chunk.toString();
    if (this.buf.length > this.max * 2) this.buf = this.buf.slice(-this.max);
  }
  toString(): string {
    const s = this.buf.length > this.max ? '…' + this.buf.slice(-this.max) : this.buf;
    return redact(s.trim());
  }
}

/** A temporary 0600 passfile holding only this password (`*:*:*:*:password`, escaped). */
export async function writePassfile(password: string): Promise<{ path: string; remove(): Promise<void> }> {
  const dir = await fs.mkdtemp(path.join(tmpdir(), 'arca-pg-'));
  const file = path.join(dir, 'pgpass');
  const escaped = password.replace(/\\/g, '\\\\').replace(/:/g, '\\:');
  await fs.writeFile(file, `*:*:*:*:${escaped}\n`, { mode: 0o600 });
  return { path: file, remove: () => fs.rm(dir, { recursive: true, force: true }) };
}

/** How a tool ended: never a rejection (exit codes and spawn errors are reported here). */
export interface ToolResult {
  /** Not started, non-zero exit, or killed. */
  failed: boolean;
  exitCode?: number | undefined;
  signal?: string | undefined;
  /** The spawn error's code (`ENOENT`…) when it could not start. */
  code?: string | undefined;
  /** Killed because `signal` aborted. */
  isCanceled: boolean;
}

export interface SpawnedTool {
  child: ChildProcess;
  /** Settles when the child exited and its stdio closed; never rejects. */
  result: Promise<ToolResult>;
  stderr: StderrTail;
  /** Remove the passfile (if any); call when the child has exited. */
  done(): Promise<void>;
}

/**
 * Start a PostgreSQL client tool with the connection in its environment (never argv).
 * stdout is a paused stream (not buffered, nothing lost until it is read or resumed);
 * stderr keeps a redacted tail for error messages.
 * The child is killed (SIGTERM, then SIGKILL after 5 s) when `signal` aborts.
 *
 * node:child_process rather than execa: importing execa 9 cost 110–190 ms of every backup and
 * restore process here (measured), 2–3 % of a 5 s restore, and we use none of its extras.
 */
export async function spawnTool(
  bin: string,
  args: string[],
  conn: PgConnection,
  o: { signal?: AbortSignal | undefined; passwordVia: 'env' | 'passfile'; stdin?: 'ignore' | 'pipe' },
): Promise<SpawnedTool> {
  const pass = o.passwordVia === 'passfile' && conn.password !== undefined ? await writePassfile(conn.password) : undefined;
  const stderr = new StderrTail();
  let child: ChildProcess;
  try {
    // A Readable stdout stays paused until read: the output waits in the pipe (pg_dump blocks)
    // until the consumer reads it, however late — a dump() stream read after a delay loses nothing.
    child = spawn(bin, args, { env: libpqEnv(conn, pass?.path), stdio: [o.stdin ?? 'ignore', 'pipe', 'pipe'] });
  } catch (e) {
    await pass?.remove();
    throw e;
  }
  let canceled = false;
  let killTimer: NodeJS.Timeout | undefined;
  const onAbort = () => {
    canceled = true;
    child.kill('SIGTERM');
    killTimer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    killTimer.unref();
  };
  if (o.signal?.aborted) onAbort();
  else o.signal?.addEventListener('abort', onAbort, { once: true });
  child.stderr?.on('data', (c: Buffer) => stderr.push(c));
  const result = new Promise<ToolResult>((resolve) => {
    const finish = (r: Omit<ToolResult, 'isCanceled'>) => {
      o.signal?.removeEventListener('abort', onAbort);
      clearTimeout(killTimer);
      resolve({ ...r, isCanceled: canceled });
    };
    // 'error' without a pid: it never started (ENOENT, EACCES); 'close' may not follow.
    child.once('error', (e: NodeJS.ErrnoException) => {
      if (child.pid === undefined) finish({ failed: true, code: e.code });
    });
    child.once('close', (exitCode, sig) => finish({ failed: exitCode !== 0, exitCode: exitCode ?? undefined, signal: sig ?? undefined }));
  });
  return { child, result, stderr, done: async () => void (await pass?.remove()) };
}

/** Why did the tool fail? Turns a ToolResult into a short reason (exit code or signal) without argv. */
export function exitReason(r: { exitCode?: number | undefined; signal?: string | undefined; code?: string | undefined }): string {
  if (r.code === 'ENOENT') return 'binary not found';
  if (r.signal) return `killed by ${r.signal}`;
  return `exit code ${String(r.exitCode)}`;
}

/** Turn a failed pg_dump / pg_restore into an ArcaError carrying the redacted stderr tail. */
export function toolFailure(code: 'SOURCE_FAILED' | 'RESTORE_FAILED', tool: string, conn: PgConnection, r: ToolResult, tail: StderrTail, hint: string): ArcaError {
  const text = tail.toString();
  if (/server version mismatch|aborting because of server version mismatch/i.test(text)) {
    return new ArcaError(ErrorCodes.TOOL_VERSION_MISMATCH, `${tool} refused the server (${text.split('\n').slice(-2).join(' ')}). Install ${tool} of the server's major version or newer and set its path in the source options.`);
  }
  if (/password authentication failed|no password supplied|authentication failed/i.test(text)) {
    return connectionError(conn, new Error(text));
  }
  if (/database ".*" does not exist/i.test(text)) return connectionError(conn, new Error(text));
  if (/timeout expired|could not connect|Connection refused/i.test(text)) return connectionError(conn, new Error(text));
  return new ArcaError(ErrorCodes[code], `${tool} failed on ${where(conn)} (${exitReason(r)}). ${hint}${text ? `\n${tool} said:\n${text}` : ''}`, {
    details: { tool, exitCode: r.exitCode, signal: r.signal, stderrTail: text },
  });
}

