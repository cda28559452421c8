import type { ConnectionOptions as TlsOptions, PeerCertificate, TLSSocket } from 'node:tls';
import { Client, FTPError } from 'basic-ftp';
import { ArcaError, ErrorCodes, abortError, throwIfAborted } from '@arca/core';

export interface FtpSettings {
  host: string;
  port: number;
  user: string;
  password: string;
  secure: boolean | 'implicit';
  tls: TlsOptions;
  /** Pinned SHA-256 certificate fingerprints (`AA:BB:...`, upper case), checked before login. */
  certFingerprints: string[];
  timeoutMs: number;
  idleTimeoutMs: number;
  label: string;
}

export function normalizeCertFingerprint(fp: string): string {
  const hex = fp.replace(/^sha256:/i, '').replace(/[^0-9a-f]/gi, '').toUpperCase();
  return hex.match(/../g)?.join(':') ?? '';
}

export interface FtpLease {
  client: Client;
  /** Absolute login folder (`PWD` right after login). */
  home: string;
  release(): void;
}

/**
 * A small pool of FTP control connections per destination. basic-ftp runs one command at a
 * time per connection, so every operation takes a connection exclusively; when all
 * `maxConnections` are busy, operations wait in FIFO order. More than one connection is
 * what lets a `stat` or `list` run while a long upload holds another one (the contract kit
 * does exactly that). Broken connections are dropped and reopened on next use; idle ones are
 * closed after `idleTimeoutMs` and never keep the process alive.
 */
export function ftpConnector(s: FtpSettings & { maxConnections: number }) {
  interface Pooled {
    client: Client;
    home: string;
    idleTimer?: NodeJS.Timeout;
  }
  const idle: Pooled[] = [];
  let total = 0;
  const waiters: Array<(p: Pooled | undefined) => void> = [];

  async function open(): Promise<Pooled> {
    const c = new Client(s.timeoutMs);
    let seen: string | undefined;
    try {
      if (s.secure === 'implicit') {
        await c.connectImplicitTLS(s.host, s.port, tlsFor(s));
      } else {
        await c.connect(s.host, s.port);
        if (s.secure) await c.useTLS({ ...tlsFor(s), host: s.tls.host ?? s.host });
      }
      if (s.secure && s.certFingerprints.length) {
        // Pinned certificate: checked on the TLS control connection before the password is sent.
        const cert: PeerCertificate | undefined = (c.ftp.socket as TLSSocket).getPeerCertificate?.();
        seen = cert?.fingerprint256;
        if (!seen || !s.certFingerprints.includes(seen)) {
          throw new ArcaError(
            ErrorCodes.DEST_HOST_KEY_MISMATCH,
            `${s.label}: the server's TLS certificate (SHA-256 ${seen ?? 'none'}) does not match the pinned fingerprint ${s.certFingerprints.join(' or ')}. If the certificate was renewed on purpose, update tlsOptions.certFingerprint256; otherwise someone may be intercepting the connection.`,
            { details: { host: s.host, port: s.port, expected: s.certFingerprints, actual: seen } },
          );
        }
      }
      await c.sendIgnoringError('OPTS UTF8 ON');
      await c.login(s.user, s.password);
      await c.useDefaultSettings();
      const home = await c.pwd();
      (c.ftp.socket as { setNoDelay?: (b: boolean) => void }).setNoDelay?.(true);
      return { client: c, home };
    } catch (e) {
      c.close();
      throw ftpErrorToArca(e, s, 'connecting');
    }
  }

  function giveBack(p: Pooled | undefined): void {
    if (p && p.client.closed) p = undefined;
    if (!p) total--;
    const next = waiters.shift();
    if (next) {
      if (!p) total++; // the waiter opens its own connection in that slot
      return next(p);
    }
    if (!p) return;
    p.client.ftp.socket.unref();
    p.idleTimer = setTimeout(() => {
      const i = idle.indexOf(p!);
      if (i >= 0) {
        idle.splice(i, 1);
        total--;
        p!.client.close();
      }
    }, s.idleTimeoutMs);
    p.idleTimer.unref();
    idle.push(p);
  }

  async function take(signal?: AbortSignal): Promise<Pooled | undefined> {
    throwIfAborted(signal);
    while (idle.length) {
      const p = idle.pop()!;
      if (p.idleTimer) clearTimeout(p.idleTimer);
      if (!p.client.closed) return p;
      total--;
    }
    if (total < s.maxConnections) {
      total++;
      return undefined; // caller opens a connection in this slot
    }
    return new Promise<Pooled | undefined>((resolve, reject) => {
      const grant = (p: Pooled | undefined) => {
        signal?.removeEventListener('abort', onAbort);
        resolve(p);
      };
      const onAbort = () => {
        const i = waiters.indexOf(grant);
        if (i >= 0) waiters.splice(i, 1);
        reject(abortError(signal));
      };
      waiters.push(grant);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  const conn = {
    /** Exclusive use of one connected client until `release()`. */
    async acquire(signal?: AbortSignal): Promise<FtpLease> {
      let p = await take(signal);
      if (!p) {
        try {
          p = await open();
        } catch (e) {
          giveBack(undefined);
          throw e;
        }
      }
      const pooled = p;
      pooled.client.ftp.socket.ref();
      let released = false;
      return {
        client: pooled.client,
        home: pooled.home,
        release() {
          if (released) return;
          released = true;
          giveBack(pooled);
        },
      };
    },

    /**
     * Run `fn` with a connection. Repeatable operations (`retry`) are tried once more on a
     * fresh connection when the old one had dropped (server restart, idle timeout).
     * On abort the connection is closed, which stops the running command at once.
     * A caller that leaves a connection in an unknown state closes it (`c.close()`).
     */
    async use<T>(signal: AbortSignal | undefined, fn: (c: Client, home: string) => Promise<T>, retry = true): Promise<T> {
      for (let attempt = 0; ; attempt++) {
        const lease = await conn.acquire(signal);
        const onAbort = () => lease.client.close();
        signal?.addEventListener('abort', onAbort, { once: true });
        try {
          return await fn(lease.client, lease.home);
        } catch (e) {
          if (signal?.aborted) {
            lease.client.close();
            throw abortError(signal);
          }
          const lost = lease.client.closed || isConnectionError(e);
          if (lost) lease.client.close();
          if (lost && retry && attempt === 0 && !(e instanceof ArcaError)) continue;
          throw e;
        } finally {
          signal?.removeEventListener('abort', onAbort);
          lease.release();
        }
      }
    },

    /** Close the idle connections (busy ones close when their operation ends). */
    close(): void {
      for (const p of idle.splice(0)) {
        if (p.idleTimer) clearTimeout(p.idleTimer);
        p.client.close();
        total--;
      }
    },
  };
  return conn;
}

export type FtpConnector = ReturnType<typeof ftpConnector>;

function tlsFor(s: FtpSettings): TlsOptions {
  // With a pinned fingerprint the chain is not checked by Node (self-signed NAS certificates):
  // the fingerprint check above replaces it.
  return s.certFingerprints.length ? { ...s.tls, rejectUnauthorized: false } : { ...s.tls };
}

export function isConnectionError(e: unknown): boolean {
  if (e instanceof FTPError) return e.code === 421;
  const code = String((e as { code?: unknown })?.code ?? '');
  const msg = String((e as Error)?.message ?? '');
  return ['ECONNRESET', 'EPIPE', 'ECONNREFUSED', 'ETIMEDOUT', 'ERR_STREAM_PREMATURE_CLOSE'].includes(code) || /closed|FIN packet|timeout|socket|not connected/i.test(msg);
}

/** Map basic-ftp / socket errors to Arca codes (FTP reply codes per RFC 959/3659). */
export function ftpErrorToArca(e: unknown, s: Pick<FtpSettings, 'label' | 'user' | 'host' | 'port'>, what: string, details: Record<string, unknown> = {}): ArcaError {
  if (e instanceof ArcaError) return e;
  const msg = String((e as Error)?.message ?? e);
  const where = `${s.label}: ${what}`;
  const d = { host: s.host, port: s.port, ...details };
  if (e instanceof FTPError) {
    if (e.code === 530) {
      return new ArcaError(ErrorCodes.DEST_AUTH, `${where}: the server refused the login for user "${s.user}". Check the user name and password.`, { cause: e, details: d });
    }
    if (e.code === 452 || e.code === 552 || /quota|no space|disk full|storage/i.test(msg)) {
      return new ArcaError(ErrorCodes.DEST_FULL, `${where}: no space left (${msg}). Free space or prune old backups, then run again.`, { cause: e, details: d });
    }
    if (/permission denied|not allowed|access denied/i.test(msg) || e.code === 553) {
      return new ArcaError(ErrorCodes.DEST_PERMISSION, `${where}: permission denied (${msg}). Give user "${s.user}" write access to the folder.`, { cause: e, details: d });
    }
    return new ArcaError(ErrorCodes.DEST_UNREACHABLE, `${where}: the server answered ${msg}`, { cause: e, details: d });
  }
  const code = String((e as { code?: unknown })?.code ?? '');
  if (/self[- ]signed|certificate|unable to verify|CERT_|ERR_TLS/i.test(msg + code)) {
    return new ArcaError(
      ErrorCodes.DEST_UNREACHABLE,
      `${where}: the server's TLS certificate is not trusted (${msg}). For a self-signed NAS certificate pass its PEM as tlsOptions.ca, or pin it with tlsOptions.certFingerprint256 (openssl s_client -starttls ftp -connect HOST:21 | openssl x509 -noout -fingerprint -sha256).`,
      { cause: e, details: d },
    );
  }
  if (code === 'ECONNREFUSED') {
    return new ArcaError(ErrorCodes.DEST_UNREACHABLE, `${where}: connection refused. Check that the FTP server runs on port ${s.port}.`, { cause: e, details: d });
  }
  return new ArcaError(ErrorCodes.DEST_UNREACHABLE, `${where}: ${msg}. Check the network and the server, then retry.`, { cause: e, details: d });
}
