/**
 * One error class for everything Arca throws. `code` is stable and documented: hosts,
 * the CLI (exit codes) and the HTTP layer (status codes) switch on it. The message tells
 * the user what to do next and never contains secrets (see {@link redact}).
 */
export const ErrorCodes = {
  /** The configuration is invalid; the message lists every problem with its path. */
  CONFIG_INVALID: 'CONFIG_INVALID',
  /** A job, backup, artifact or object does not exist. */
  NOT_FOUND: 'NOT_FOUND',
  /** A key, id or path is malformed or tries to escape its root (`..`, absolute, NUL, `\`). */
  KEY_INVALID: 'KEY_INVALID',
  /** The operation was cancelled through its AbortSignal. */
  ABORTED: 'ABORTED',
  /** The source could not produce its dump (missing file, tool failure, connection lost). */
  SOURCE_FAILED: 'SOURCE_FAILED',
  /** A destination cannot be reached or answered with an unexpected error. */
  DEST_UNREACHABLE: 'DEST_UNREACHABLE',
  /** A destination refused the write for lack of permission (EACCES, EROFS, 403). */
  DEST_PERMISSION: 'DEST_PERMISSION',
  /** A destination ran out of space (ENOSPC, EDQUOT, quota exceeded). */
  DEST_FULL: 'DEST_FULL',
  /** A destination stopped accepting data for longer than the stall timeout. */
  DEST_STALLED: 'DEST_STALLED',
  /** A destination server's identity (SSH host key, TLS certificate fingerprint) is not the one configured. */
  DEST_HOST_KEY_MISMATCH: 'DEST_HOST_KEY_MISMATCH',
  /** A destination rejected the credentials (wrong user, password or key). */
  DEST_AUTH: 'DEST_AUTH',
  /** Stored bytes do not match the sha256 recorded in the manifest. */
  CHECKSUM_MISMATCH: 'CHECKSUM_MISMATCH',
  /** A manifest or artifact is malformed, truncated or cannot be decoded. */
  CORRUPT_ARTIFACT: 'CORRUPT_ARTIFACT',
  /** The backup exists but no destination holding it is healthy enough to read it. */
  NO_HEALTHY_DESTINATION: 'NO_HEALTHY_DESTINATION',
  /** Restoring failed; the target was left as it was before the restore. */
  RESTORE_FAILED: 'RESTORE_FAILED',
  /** The restore target is not empty and overwriting was not asked for. */
  TARGET_NOT_EMPTY: 'TARGET_NOT_EMPTY',
  /** The adapter lacks the optional capability the operation needs (e.g. `restore`). */
  NOT_SUPPORTED: 'NOT_SUPPORTED',
  /** Another run of the same job holds the lock. */
  LOCKED: 'LOCKED',
  /** The process running the backup died (kill -9, out of memory, host lost) before it finished; nothing was committed. */
  RUN_ABANDONED: 'RUN_ABANDONED',
  /** A codec (compression, encryption) failed or is not available. */
  CODEC_FAILED: 'CODEC_FAILED',
  /** Encrypted data cannot be opened with the given identity or passphrase (wrong key). */
  DECRYPT_FAILED: 'DECRYPT_FAILED',
  /** An external tool is missing or its version does not fit the server. */
  TOOL_NOT_FOUND: 'TOOL_NOT_FOUND',
  TOOL_VERSION_MISMATCH: 'TOOL_VERSION_MISMATCH',
  /** A notifier could not deliver (endpoint unreachable, refused, timed out). Never fails a backup. */
  NOTIFIER_FAILED: 'NOTIFIER_FAILED',
  /** A bug or an unexpected condition; the message says where to report it. */
  INTERNAL: 'INTERNAL',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

export interface ArcaErrorOptions {
  cause?: unknown;
  /** Extra, non-secret facts for logs and the run log (destination name, key, ...). */
  details?: Record<string, unknown>;
}

export class ArcaError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options: ArcaErrorOptions = {}) {
    super(redact(message), options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ArcaError';
    this.code = code;
    this.details = options.details ?? {};
  }

  /** A plain, JSON-safe and redacted view for run logs, events and HTTP answers. */
  toJSON(): SerializedError {
    return { name: this.name, code: this.code, message: this.message, details: this.details };
  }
}

export interface SerializedError {
  name: string;
  code: ErrorCode;
  message: string;
  details?: Record<string, unknown>;
}

export function isArcaError(e: unknown, code?: ErrorCode): e is ArcaError {
  return e instanceof ArcaError && (code === undefined || e.code === code);
}

const SECRET_PATTERNS: Array<[RegExp, string]> = [
  // HTTP auth first, so "Authorization: Bearer <token>" loses the token, not just the scheme word
  [/(authorization["']?\s*[:=]\s*["']?[A-Za-z]+\s+)[^\s"',;]+/gi, '$1***'],
  [/(\bbearer\s+)[A-Za-z0-9._~+/=-]{8,}/gi, '$1***'],
  // user:password@host in URLs and connection strings
  [/([a-z][a-z0-9+.-]*:\/\/[^:/?#\s@]*):([^@/\s]+)@/gi, '$1:***@'],
  // key=value and "key": "value" forms for secret-looking keys (values of 4+ characters, so
  // prose such as "secret: a secret of at least 8 characters" is left readable)
  [
    /((?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|secret[_-]?key|passphrase|authorization)["']?\s*[:=]\s*["']?)([^"'\s&;,]{4,})/gi,
    '$1***',
  ],
  // age secret keys
  [/AGE-SECRET-KEY-1[0-9A-Z]+/g, 'AGE-SECRET-KEY-1***'],
];

const registeredSecrets = new Set<string>();

/**
 * Register a literal secret (a password from config, a token) so that {@link redact}
 * removes it from every message, event and log line. Adapters call this for the secrets
 * they are given; it is idempotent. Values shorter than 4 characters are ignored (they
 * would shred ordinary text).
 */
export function registerSecret(value: string | undefined | null): void {
  if (value && value.length >= 4) registeredSecrets.add(value);
}

/** Remove known secrets and secret-looking patterns from a string. */
export function redact(text: string): string {
  let out = text;
  for (const s of registeredSecrets) if (out.includes(s)) out = out.split(s).join('***');
  for (const [re, rep] of SECRET_PATTERNS) out = out.replace(re, rep);
  return out;
}

/** Turn anything thrown into a redacted, serializable error. */
export function serializeError(e: unknown): SerializedError {
  if (e instanceof ArcaError) return e.toJSON();
  if (e instanceof Error) return { name: e.name, code: 'INTERNAL', message: redact(e.message) };
  return { name: 'Error', code: 'INTERNAL', message: redact(String(e)) };
}

/** The error an aborted operation MUST reject with. */
export function abortError(signal?: AbortSignal, what = 'The operation'): ArcaError {
  const reason = signal?.reason;
  if (reason instanceof ArcaError) return reason;
  return new ArcaError(ErrorCodes.ABORTED, `${what} was cancelled.`, { cause: reason });
}

export function throwIfAborted(signal: AbortSignal | undefined, what?: string): void {
  if (signal?.aborted) throw abortError(signal, what);
}

/** Map a Node.js fs error from a destination to an ArcaError with a helpful message. */
export function fsErrorToArca(e: unknown, where: string, details: Record<string, unknown> = {}): ArcaError {
  if (e instanceof ArcaError) return e;
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ENOSPC':
    case 'EDQUOT':
      return new ArcaError(ErrorCodes.DEST_FULL, `${where}: no space left on the device. Free space or prune old backups, then run again.`, { cause: e, details });
    case 'EACCES':
    case 'EPERM':
    case 'EROFS':
      return new ArcaError(ErrorCodes.DEST_PERMISSION, `${where}: permission denied (${code}). Make the folder writable by the user running Arca.`, { cause: e, details });
    case 'ENOENT':
      return new ArcaError(ErrorCodes.NOT_FOUND, `${where}: not found.`, { cause: e, details });
    case 'ABORT_ERR':
      return new ArcaError(ErrorCodes.ABORTED, `${where}: cancelled.`, { cause: e, details });
    default:
      return new ArcaError(ErrorCodes.DEST_UNREACHABLE, `${where}: ${(e as Error)?.message ?? String(e)}`, { cause: e, details });
  }
}
