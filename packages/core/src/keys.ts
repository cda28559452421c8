import { randomBytes } from 'node:crypto';
import { ArcaError, ErrorCodes } from './errors.js';

/**
 * Validate an object key before any destination touches it. Keys are relative,
 * `/`-separated, and can never address anything outside the destination's root.
 * Every destination MUST call this in put/get/stat/delete (list takes a prefix, which
 * is validated the same way when non-empty).
 */
export function assertValidKey(key: unknown, what = 'key'): asserts key is string {
  const bad = (why: string): never => {
    throw new ArcaError(ErrorCodes.KEY_INVALID, `Invalid ${what} ${JSON.stringify(String(key).slice(0, 200))}: ${why}.`);
  };
  if (typeof key !== 'string' || key.length === 0) bad('it must be a non-empty string');
  const k = key as string;
  if (k.length > 1024) bad('it is longer than 1024 characters');
  if (k.includes('\0')) bad('it contains a NUL character');
  if (k.includes('\\')) bad('it contains a backslash');
  if (k.startsWith('/') || /^[a-zA-Z]:/.test(k)) bad('it is absolute');
  for (const part of k.split('/')) {
    if (part === '' && k.endsWith('/')) continue;
    if (part === '') bad('it has an empty path segment');
    if (part === '..' || part === '.') bad(`it has a "${part}" segment`);
  }
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(k)) bad('it contains control characters');
}

/** A prefix for `list`: `''`, or a valid key that may end with `/`. */
export function assertValidPrefix(prefix: unknown): asserts prefix is string {
  if (prefix === '') return;
  assertValidKey(prefix, 'prefix');
}

/** Job, source and destination names (exported for schemas such as the HTTP API's OpenAPI patterns). */
export const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** Job, source and destination names: letters, digits, `_`, `-`, `.`; 1–64 chars; not starting with a dot. */
export function isValidName(name: string): boolean {
  return NAME_RE.test(name) && name !== '..';
}

export function assertValidName(name: unknown, what: string): asserts name is string {
  if (typeof name !== 'string' || !isValidName(name)) {
    throw new ArcaError(
      ErrorCodes.KEY_INVALID,
      `Invalid ${what} name ${JSON.stringify(String(name).slice(0, 100))}: use 1–64 letters, digits, "_", "-" or ".", starting with a letter or digit.`,
    );
  }
}

/** Backup ids, with or without milliseconds. */
export const BACKUP_ID_RE = /^\d{8}T\d{6}(?:\d{3})?Z-[0-9a-f]{4,16}$/;

/**
 * `20261122T020000123Z-7f3a9c`: UTC down to the millisecond, so ids sort by start time
 * even for runs started in the same second; unique thanks to the random suffix. (Ids
 * without milliseconds, `20261122T020000Z-7f3a`, are accepted too.)
 */
export function newBackupId(now: Date = new Date()): string {
  const iso = now.toISOString(); // 2026-11-22T02:00:00.123Z
  const stamp = iso.slice(0, 23).replace(/[-:.]/g, '') + 'Z';
  return `${stamp}-${randomBytes(3).toString('hex')}`;
}

export function isValidBackupId(id: unknown): id is string {
  return typeof id === 'string' && BACKUP_ID_RE.test(id);
}

export function assertValidBackupId(id: unknown): asserts id is string {
  if (!isValidBackupId(id)) {
    throw new ArcaError(
      ErrorCodes.KEY_INVALID,
      `Invalid backup id ${JSON.stringify(String(id).slice(0, 100))}: expected the form 20261122T020000Z-7f3a (see \`list\`).`,
    );
  }
}

/** Parse the UTC time encoded in a backup id. */
export function backupIdTime(id: string): Date {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(\d{3})?Z/.exec(id);
  if (!m) return new Date(NaN);
  return new Date(Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!, +(m[7] ?? 0)));
}

export const MANIFEST_FILE = 'manifest.json';

export function backupPrefix(job: string, backupId: string): string {
  return `${job}/${backupId}/`;
}
