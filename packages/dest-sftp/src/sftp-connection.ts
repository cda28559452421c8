import { createHash } from 'node:crypto';
import { connect as netConnect, type Socket } from 'node:net';
import type { ConnectConfig, SFTPWrapper } from 'ssh2';
import SftpClient from 'ssh2-sftp-client';
import { ArcaError, ErrorCodes, abortError, throwIfAborted } from '@arca/core';

/** What the connector needs; validated by the factory. Secrets stay in this object only. */
export interface ConnectionSettings {
  host: string;
  port: number;
  username: string;
  password?: string;
  privateKey?: string;
  passphrase?: string;
  agent?: string;
  /** Accepted `SHA256:...` fingerprints, normalized; empty only with `insecureSkipHostKeyCheck`. */
  fingerprints: string[];
  insecureSkipHostKeyCheck: boolean;
  readyTimeoutMs: number;
  idleTimeoutMs: number;
  /** For error messages: `sftp://user@host:port`. */
  label: string;
}

/** `SHA256:abc...` as `ssh-keygen -l` prints it (unpadded base64 of the sha256 of the key blob). */
export function fingerprintOf(keyBlob: Buffer): string {
  return `SHA256:${createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '')}`;
}

/** Accept `SHA256:xxx`, `xxx`, with or without `=` padding. */
export function normalizeFingerprint(fp: string): string {
  return `SHA256:${fp.trim().replace(/^SHA256:/i, '').replace(/=+$/, '')}`;
}

interface Session {
  client: SftpClient;
  sftp: SFTPWrapper;
  sock: Socket;
  closed: boolean;
  busy: number;
  idleTimer?: NodeJS.Timeout;
  /** Rejects once the connection is gone (ssh2 may never answer requests sent after that). */
  gone: Promise<never>;
}

export interface Lease {
  sftp: SFTPWrapper;
  /** True once the connection under this lease dropped. */
  readonly lost: boolean;
  /** Mark the connection as broken (the next operation reconnects). */
  invalidate(): void;
  /** `p`, or a rejection as soon as the connection is gone. */
  guard<T>(p: Promise<T>): Promise<T>;
  release(): void;
}

/** Error text of a dropped connection (ssh2 fails every pending request with these). */
const LOST_RE = /no response from server|not connected|ECONNRESET|EPIPE|socket|channel|closed|unexpected (end|close)/i;

/**
 * One SSH connection per destination, opened lazily, shared by concurrent operations (SFTP
 * multiplexes requests), reopened when it dropped. The socket is unref'd while idle, so an
 * open connection never keeps the process alive, and closed after `idleTimeoutMs`.
 */
export function sftpConnector(s: ConnectionSettings) {
  let current: Promise<Session> | undefined;

  async function open(): Promise<Session> {
    let seenFingerprint: string | undefined;
    let mismatch = false;
    const client = new SftpClient('arca', {
      // The library's default listeners print to the console; a dropped connection is
      // handled through `closed` instead.
      error: () => {},
      end: () => {},
      close: () => {},
    });
    // Our own socket: Nagle off (otherwise uploads crawl at ~1.7 MB/s) and ref/unref control.
    const sock = netConnect({ host: s.host, port: s.port });
    sock.setNoDelay(true);
    const config: ConnectConfig = {
      sock,
      username: s.username,
      readyTimeout: s.readyTimeoutMs,
      keepaliveInterval: 15_000,
      keepaliveCountMax: 4,
      hostVerifier: (key: Buffer) => {
        seenFingerprint = fingerprintOf(key);
        if (s.insecureSkipHostKeyCheck) return true;
        mismatch = !s.fingerprints.includes(seenFingerprint);
        return !mismatch;
      },
    };
    if (s.password !== undefined) config.password = s.password;
    if (s.privateKey !== undefined) config.privateKey = s.privateKey;
    if (s.passphrase !== undefined) config.passphrase = s.passphrase;
    if (s.agent !== undefined) config.agent = s.agent;
    try {
      const sftp = (await client.connect(config)) as unknown as SFTPWrapper;
      let fail!: (e: Error) => void;
      const gone = new Promise<never>((_, reject) => (fail = reject));
      gone.catch(() => {});
      const session: Session = { client, sftp, sock, closed: false, busy: 0, gone };
      const markClosed = () => {
        session.closed = true;
        fail(new Error('Not connected: the SSH connection closed'));
        if (session.idleTimer) clearTimeout(session.idleTimer);
      };
      sock.on('close', markClosed);
      sock.on('end', markClosed);
      sftp.on('close', markClosed);
      sftp.on('end', markClosed);
      if (sock.destroyed) markClosed();
      return session;
    } catch (e) {
      sock.destroy();
      if (mismatch) {
        throw new ArcaError(
          ErrorCodes.DEST_HOST_KEY_MISMATCH,
          `${s.label}: the server's host key ${seenFingerprint} does not match the expected fingerprint ${s.fingerprints.join(' or ')}. ` +
            'If the server was reinstalled or its key rotated on purpose, check the new fingerprint on the server (`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub`) and update hostKey.sha256; otherwise someone may be intercepting the connection.',
          { cause: e, details: { host: s.host, port: s.port, expected: s.fingerprints, actual: seenFingerprint } },
        );
      }
      throw connectError(e, s);
    }
  }

  function setIdle(session: Session): void {
    if (session.busy > 0 || session.closed) return;
    session.sock.unref();
    if (session.idleTimer) clearTimeout(session.idleTimer);
    session.idleTimer = setTimeout(() => {
      if (session.busy === 0 && !session.closed) {
        session.closed = true;
        void session.client.end().catch(() => {});
      }
    }, s.idleTimeoutMs);
    session.idleTimer.unref();
  }

  async function session(signal?: AbortSignal): Promise<Session> {
    throwIfAborted(signal);
    for (let attempt = 0; ; attempt++) {
      if (!current) {
        const p = open();
        current = p;
        p.catch(() => {
          if (current === p) current = undefined;
        });
      }
      const p = current;
      const ses = await raceAbort(p, signal);
      if (!ses.closed) return ses;
      if (current === p) current = undefined; // dropped since last use: reconnect
      if (attempt > 0) throw new ArcaError(ErrorCodes.DEST_UNREACHABLE, `${s.label}: the connection closed right after it was opened. Check the server's logs and limits (MaxSessions, MaxStartups).`);
    }
  }

  return {
    /** Take the connection for an operation; `release()` when done (streams hold it while they run). */
    async acquire(signal?: AbortSignal): Promise<Lease> {
      const ses = await session(signal);
      ses.busy++;
      if (ses.idleTimer) clearTimeout(ses.idleTimer);
      ses.sock.ref();
      let released = false;
      return {
        sftp: ses.sftp,
        get lost() {
          return ses.closed;
        },
        invalidate() {
          ses.closed = true;
          ses.sock.destroy();
        },
        guard: <T>(p: Promise<T>) => (ses.closed ? Promise.reject(new Error('Not connected: the SSH connection closed')) : Promise.race([p, ses.gone])),
        release() {
          if (released) return;
          released = true;
          ses.busy--;
          setIdle(ses);
        },
      };
    },

    /**
     * Run an operation that is safe to repeat; if the connection had dropped (server restart,
     * idle NAT timeout) it reconnects and retries once.
     */
    async use<T>(signal: AbortSignal | undefined, fn: (sftp: SFTPWrapper) => Promise<T>): Promise<T> {
      for (let attempt = 0; ; attempt++) {
        const lease = await this.acquire(signal);
        try {
          return await raceAbort(lease.guard(fn(lease.sftp)), signal);
        } catch (e) {
          const lost = !(e instanceof ArcaError) && (lease.lost || isConnectionLost(e));
          if (lost) lease.invalidate();
          if (lost && attempt === 0) continue;
          throw e;
        } finally {
          lease.release();
        }
      }
    },

    /** Close the connection (hosts call this at shutdown; later operations reconnect). */
    async close(): Promise<void> {
      const p = current;
      current = undefined;
      if (!p) return;
      const ses = await p.catch(() => undefined);
      if (ses && !ses.closed) {
        ses.closed = true;
        if (ses.idleTimer) clearTimeout(ses.idleTimer);
        await ses.client.end().catch(() => {});
        ses.sock.destroy();
      }
    },
  };
}

export type SftpConnector = ReturnType<typeof sftpConnector>;

export function isConnectionLost(e: unknown): boolean {
  const err = e as { code?: unknown; message?: string } | undefined;
  if (!err) return false;
  if (typeof err.code === 'number') return false; // an SFTP status: the server answered
  return LOST_RE.test(String(err.message ?? '')) || ['ECONNRESET', 'EPIPE', 'ERR_NOT_CONNECTED', 'ECONNREFUSED'].includes(String(err.code));
}

/** Reject with ABORTED as soon as the signal fires (the operation itself is left to finish or fail). */
export function raceAbort<T>(p: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) return Promise.reject(abortError(signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortError(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

function connectError(e: unknown, s: ConnectionSettings): ArcaError {
  if (e instanceof ArcaError) return e;
  const msg = String((e as Error)?.message ?? e);
  const code = String((e as { code?: unknown })?.code ?? '');
  const details = { host: s.host, port: s.port, username: s.username };
  if (/authentication methods failed|auth/i.test(msg) && !/timed out/i.test(msg)) {
    return new ArcaError(
      ErrorCodes.DEST_AUTH,
      `${s.label}: the server refused the credentials for user "${s.username}". Check the password or that the public key is in the user's authorized_keys.`,
      { cause: e, details },
    );
  }
  if (/timed out/i.test(msg) || code === 'ETIMEDOUT') {
    return new ArcaError(ErrorCodes.DEST_UNREACHABLE, `${s.label}: no SSH handshake within the timeout. Check host, port and firewall.`, { cause: e, details });
  }
  if (code === 'ECONNREFUSED' || /refused/i.test(msg)) {
    return new ArcaError(ErrorCodes.DEST_UNREACHABLE, `${s.label}: connection refused. Check that the SSH server runs and listens on port ${s.port}.`, { cause: e, details });
  }
  if (code === 'ENOTFOUND' || /lookup/i.test(msg)) {
    return new ArcaError(ErrorCodes.DEST_UNREACHABLE, `${s.label}: host "${s.host}" not found. Check the host name.`, { cause: e, details });
  }
  return new ArcaError(ErrorCodes.DEST_UNREACHABLE, `${s.label}: could not connect: ${msg}`, { cause: e, details });
}
