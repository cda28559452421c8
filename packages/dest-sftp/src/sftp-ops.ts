/**
 * Promise wrappers over ssh2's raw SFTP session. We use the raw session (reached through
 * ssh2-sftp-client's `connect`) rather than the client's helpers because those share
 * per-client event flags that misbehave under concurrent operations (the contract kit runs
 * puts in parallel), their `mkdir -p` races on EEXIST, and they drop the SFTP status codes
 * we map to Arca error codes.
 */
import type { SFTPWrapper, Stats } from 'ssh2';

/** SFTP v3 status codes (draft-ietf-secsh-filexfer-02). */
export const SFTP_EOF = 1;
export const SFTP_NO_SUCH_FILE = 2;
export const SFTP_PERMISSION_DENIED = 3;
export const SFTP_FAILURE = 4;

export function sftpCode(e: unknown): number | undefined {
  const c = (e as { code?: unknown } | undefined)?.code;
  return typeof c === 'number' ? c : undefined;
}

function call<T>(s: SFTPWrapper, fn: (cb: (err: Error | undefined | null, v: T) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    // ssh2 silently drops requests on a closed channel and never calls back: fail fast instead.
    const state = (s as unknown as { outgoing?: { state?: string } }).outgoing?.state;
    if (state !== undefined && state !== 'open') return reject(new Error('Not connected: the SFTP channel is closed'));
    try {
      fn((err, v) => (err ? reject(err) : resolve(v)));
    } catch (e) {
      reject(e); // ssh2 throws synchronously for unsupported extensions
    }
  });
}

export const stat = (s: SFTPWrapper, p: string) => call<Stats>(s, (cb) => s.stat(p, cb));
export const fstat = (s: SFTPWrapper, h: Buffer) => call<Stats>(s, (cb) => s.fstat(h, cb));
export const open = (s: SFTPWrapper, p: string, flags: 'r' | 'w' | 'wx', mode?: number) =>
  call<Buffer>(s, (cb) => (mode === undefined ? s.open(p, flags, cb) : s.open(p, flags, { mode }, cb)));
export const close = (s: SFTPWrapper, h: Buffer) => call<void>(s, (cb) => s.close(h, cb as never));
export const unlink = (s: SFTPWrapper, p: string) => call<void>(s, (cb) => s.unlink(p, cb as never));
export const rmdir = (s: SFTPWrapper, p: string) => call<void>(s, (cb) => s.rmdir(p, cb as never));
export const mkdir = (s: SFTPWrapper, p: string) => call<void>(s, (cb) => s.mkdir(p, cb as never));
export const readdir = (s: SFTPWrapper, p: string) =>
  call<Array<{ filename: string; attrs: Stats }>>(s, (cb) => s.readdir(p, cb as never));
export const write = (s: SFTPWrapper, h: Buffer, buf: Buffer, pos: number) =>
  call<void>(s, (cb) => s.write(h, buf, 0, buf.length, pos, cb as never));
export const read = (s: SFTPWrapper, h: Buffer, buf: Buffer, off: number, len: number, pos: number) =>
  call<number>(s, (cb) => s.read(h, buf, off, len, pos, cb as never));
export const fsync = (s: SFTPWrapper, h: Buffer) => call<void>(s, (cb) => s.ext_openssh_fsync(h, cb as never));
export const statvfs = (s: SFTPWrapper, p: string) =>
  call<{ f_bsize: number; f_frsize: number; f_blocks: number; f_bfree: number; f_bavail: number }>(s, (cb) => s.ext_openssh_statvfs(p, cb as never));

/** Atomic replace when the server has `posix-rename@openssh.com` (OpenSSH does); plain SFTP rename fails over an existing file. */
export async function replace(s: SFTPWrapper, from: string, to: string): Promise<'posix' | 'unlink+rename'> {
  const ext = (s as unknown as { _extensions?: Record<string, string> })._extensions ?? {};
  if (ext['posix-rename@openssh.com'] === '1') {
    await call<void>(s, (cb) => s.ext_openssh_rename(from, to, cb as never));
    return 'posix';
  }
  // Servers without the extension: delete the old object first. Not atomic (a reader may
  // briefly see nothing), which the README states for such servers.
  try {
    await call<void>(s, (cb) => s.rename(from, to, cb as never));
  } catch {
    await unlink(s, to).catch(() => {});
    await call<void>(s, (cb) => s.rename(from, to, cb as never));
  }
  return 'unlink+rename';
}

/** `mkdir -p`, tolerant of concurrent creators. */
export async function mkdirp(s: SFTPWrapper, dir: string): Promise<void> {
  if (dir === '' || dir === '.' || dir === '/') return;
  try {
    await mkdir(s, dir);
    return;
  } catch (e) {
    const code = sftpCode(e);
    if (code === SFTP_NO_SUCH_FILE) {
      const slash = dir.lastIndexOf('/');
      await mkdirp(s, slash > 0 ? dir.slice(0, slash) : '');
      try {
        await mkdir(s, dir);
        return;
      } catch (e2) {
        e = e2;
      }
    }
    // EEXIST arrives as a generic FAILURE from OpenSSH: accept it when a folder is there.
    const st = await stat(s, dir).catch(() => undefined);
    if (st?.isDirectory()) return;
    throw e;
  }
}
