/**
 * age keys: Bech32 (BIP 173, without the length limit, as the age spec says) encoding of
 * X25519 recipients (`age1...`) and identities (`AGE-SECRET-KEY-1...`), and the X25519
 * operations on raw 32-byte keys through node:crypto KeyObjects.
 *
 * Written by hand: Bech32 is ~40 lines from the BIP 173 reference, and core should not
 * take a dependency for it; X25519 comes from node:crypto (OpenSSL).
 */
import { createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { ArcaError, ErrorCodes, registerSecret } from '../errors.js';

const CHARSET = 'qpzry9x8gf2tvdw0s3jn54khce6mua7l';
const GEN = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3];

function polymod(values: number[]): number {
  let chk = 1;
  for (const v of values) {
    const top = chk >>> 25;
    chk = ((chk & 0x1ffffff) << 5) ^ v;
    for (let i = 0; i < 5; i++) if ((top >>> i) & 1) chk ^= GEN[i]!;
  }
  return chk >>> 0;
}

function hrpExpand(hrp: string): number[] {
  const out: number[] = [];
  for (let i = 0; i < hrp.length; i++) out.push(hrp.charCodeAt(i) >> 5);
  out.push(0);
  for (let i = 0; i < hrp.length; i++) out.push(hrp.charCodeAt(i) & 31);
  return out;
}

function convertBits(data: Uint8Array | number[], from: number, to: number, pad: boolean): number[] | undefined {
  let acc = 0;
  let bits = 0;
  const out: number[] = [];
  const maxv = (1 << to) - 1;
  for (const value of data) {
    if (value < 0 || value >> from !== 0) return undefined;
    acc = (acc << from) | value;
    bits += from;
    while (bits >= to) {
      bits -= to;
      out.push((acc >> bits) & maxv);
    }
  }
  if (pad) {
    if (bits > 0) out.push((acc << (to - bits)) & maxv);
  } else if (bits >= from || ((acc << (to - bits)) & maxv) !== 0) {
    return undefined;
  }
  return out;
}

/** Bech32-encode `data` under `hrp` (lower case; callers upper-case identities). */
export function bech32Encode(hrp: string, data: Uint8Array): string {
  const words = convertBits(data, 8, 5, true)!;
  const values = [...hrpExpand(hrp), ...words];
  const mod = polymod([...values, 0, 0, 0, 0, 0, 0]) ^ 1;
  const checksum: number[] = [];
  for (let i = 0; i < 6; i++) checksum.push((mod >>> (5 * (5 - i))) & 31);
  return `${hrp}1${[...words, ...checksum].map((w) => CHARSET[w]).join('')}`;
}

/** Decode a Bech32 string; `undefined` when it is malformed (mixed case, bad checksum...). */
export function bech32Decode(s: string): { hrp: string; data: Buffer } | undefined {
  if (s !== s.toLowerCase() && s !== s.toUpperCase()) return undefined;
  const lower = s.toLowerCase();
  const pos = lower.lastIndexOf('1');
  if (pos < 1 || pos + 7 > lower.length) return undefined;
  const hrp = lower.slice(0, pos);
  for (let i = 0; i < hrp.length; i++) {
    const c = hrp.charCodeAt(i);
    if (c < 33 || c > 126) return undefined;
  }
  const words: number[] = [];
  for (const ch of lower.slice(pos + 1)) {
    const w = CHARSET.indexOf(ch);
    if (w < 0) return undefined;
    words.push(w);
  }
  if (polymod([...hrpExpand(hrp), ...words]) !== 1) return undefined;
  const bytes = convertBits(words.slice(0, -6), 5, 8, false);
  if (!bytes) return undefined;
  return { hrp, data: Buffer.from(bytes) };
}

// DER wrappers around a raw X25519 key (RFC 8410): node:crypto imports keys as DER or JWK.
const PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');

export function x25519PrivateKey(raw: Uint8Array): KeyObject {
  return createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, raw]), format: 'der', type: 'pkcs8' });
}

export function x25519PublicKey(raw: Uint8Array): KeyObject {
  return createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: 'der', type: 'spki' });
}

export function rawPublicKey(key: KeyObject): Buffer {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  return (pub.export({ format: 'der', type: 'spki' }) as Buffer).subarray(SPKI_PREFIX.length);
}

/** X25519(privateKey, publicKey); `undefined` for a low-order point (all-zero shared secret). */
export function x25519(privateKey: KeyObject, publicKey: KeyObject): Buffer | undefined {
  let shared: Buffer;
  try {
    shared = diffieHellman({ privateKey, publicKey });
  } catch {
    return undefined; // OpenSSL refuses all-zero results
  }
  return shared.every((b) => b === 0) ? undefined : shared;
}

export interface X25519Recipient {
  /** The `age1...` string. */
  readonly recipient: string;
  readonly publicKey: KeyObject;
  readonly raw: Buffer;
}

export interface X25519Identity {
  readonly privateKey: KeyObject;
  /** The matching `age1...` recipient (public, safe to show). */
  readonly recipient: string;
}

/** Parse an `age1...` recipient; throws `CONFIG_INVALID` saying what is wrong. */
export function parseRecipient(s: string): X25519Recipient {
  const text = s.trim();
  if (/^(ssh-ed25519|ssh-rsa) /.test(text)) {
    throw new ArcaError(ErrorCodes.CONFIG_INVALID, 'SSH public keys are not supported as age recipients by Arca: generate an age key pair with `age-keygen` (or generateAgeIdentity()) and use its age1... recipient.');
  }
  if (/^AGE-SECRET-KEY-/i.test(text)) {
    throw new ArcaError(ErrorCodes.CONFIG_INVALID, 'An age identity (secret key) was given where a recipient (public key, age1...) was expected. Give only the public key to the backup job and keep the secret key offline.');
  }
  const d = bech32Decode(text);
  if (!d || d.hrp !== 'age' || d.data.length !== 32 || text !== text.toLowerCase()) {
    throw new ArcaError(ErrorCodes.CONFIG_INVALID, `"${text.slice(0, 80)}" is not a valid age X25519 recipient: expected "age1" followed by 58 characters (the "public key:" line that age-keygen prints).`);
  }
  return { recipient: text, publicKey: x25519PublicKey(d.data), raw: d.data };
}

/** Parse one `AGE-SECRET-KEY-1...` identity; the error never echoes the key. */
export function parseIdentity(s: string, where = 'the age identity'): X25519Identity {
  const text = s.trim();
  registerSecret(text);
  const d = bech32Decode(text);
  if (!d || d.hrp !== 'age-secret-key-' || d.data.length !== 32 || text !== text.toUpperCase()) {
    throw new ArcaError(ErrorCodes.CONFIG_INVALID, `${where} is not a valid age X25519 identity: expected one line starting with "AGE-SECRET-KEY-1" (as written by age-keygen).`);
  }
  const privateKey = x25519PrivateKey(d.data);
  return { privateKey, recipient: bech32Encode('age', rawPublicKey(privateKey)) };
}

/**
 * Parse the text of an identity file (age-keygen output): one `AGE-SECRET-KEY-1...` per
 * line, `#` comments and blank lines ignored. Errors name the line, never its content.
 */
export function parseIdentityFile(text: string, where = 'the age identity'): X25519Identity[] {
  const out: X25519Identity[] = [];
  const lines = text.split(/\r?\n/);
  lines.forEach((line, i) => {
    const t = line.trim();
    if (!t || t.startsWith('#')) return;
    out.push(parseIdentity(t, lines.length > 1 ? `Line ${i + 1} of ${where}` : where));
  });
  if (!out.length) {
    throw new ArcaError(ErrorCodes.CONFIG_INVALID, `${where} contains no identity: expected a line starting with "AGE-SECRET-KEY-1" (as written by age-keygen).`);
  }
  return out;
}

export interface AgeKeyPair {
  /** The secret key, `AGE-SECRET-KEY-1...`: keep it offline, it is the only way to decrypt. */
  identity: string;
  /** The public key, `age1...`: give it to `age({ recipients })`. */
  recipient: string;
  /** The identity in age-keygen's file format (comment lines + the key), ready to write with mode 0600. */
  file: string;
}

/**
 * Generate a new X25519 age key pair, equivalent to `age-keygen`. The identity is
 * registered as a secret, so it is redacted from Arca's logs and errors.
 */
export function generateAgeIdentity(): AgeKeyPair {
  const { privateKey } = generateKeyPairSync('x25519');
  const raw = (privateKey.export({ format: 'der', type: 'pkcs8' }) as Buffer).subarray(PKCS8_PREFIX.length);
  const identity = bech32Encode('age-secret-key-', raw).toUpperCase();
  registerSecret(identity);
  const recipient = bech32Encode('age', rawPublicKey(privateKey));
  const file = `# created: ${new Date().toISOString().replace(/\.\d+Z$/, 'Z')}\n# public key: ${recipient}\n${identity}\n`;
  return { identity, recipient, file };
}
