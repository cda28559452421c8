import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { ArcaError, ErrorCodes, registerSecret } from '../errors.js';
import type { Bytes, Codec } from '../contracts.js';
import { parseOptions } from '../options.js';
import { decryptAge, encryptAge, scryptUnwrapper, scryptWrapper, x25519Unwrapper, x25519Wrapper, type Unwrapper } from './age-format.js';
import { parseIdentityFile, parseRecipient } from './age-keys.js';

/**
 * Where a secret comes from. A literal string works but puts the secret in your code or
 * config; prefer `{ file }` (mode 0600, offline when possible), `{ env }` or a function
 * (a vault lookup). Secrets are read when needed and never logged.
 */
export type AgeSecret = string | { file: string } | { env: string } | (() => string | Promise<string>);

const Secret = z.union([
  z.string().min(1),
  z.object({ file: z.string().min(1) }).strict(),
  z.object({ env: z.string().min(1) }).strict(),
  z.custom<() => string | Promise<string>>((v) => typeof v === 'function', { message: 'must be a string, { file }, { env } or a function' }),
]);

const AgeOptionsSchema = z
  .object({
    /**
     * Public keys to encrypt to (`age1...`, as printed by `age-keygen`). Any one of the
     * matching identities decrypts. Recorded in the manifest.
     */
    recipients: z.array(z.string()).optional(),
    /** Encrypt with a passphrase (age's scrypt recipient) instead of recipients; decrypts too. */
    passphrase: Secret.optional(),
    /**
     * Identities for decrypting (restore, verify --restore): the text of an age identity
     * file (one or more `AGE-SECRET-KEY-1...` lines; `#` comments allowed), from a file, an
     * env var or a function. Not needed to back up.
     */
    identities: z.union([Secret, z.array(Secret).min(1)]).optional(),
    /** scrypt work factor (log2 N) when encrypting with a passphrase; default 18 like `age`. */
    workFactor: z.number().int().min(10).max(22).optional(),
    /** Highest scrypt work factor accepted when decrypting (memory is 2^N KiB); default 20. */
    maxWorkFactor: z.number().int().min(10).max(22).optional(),
  })
  .strict();

export type AgeOptions = z.input<typeof AgeOptionsSchema>;

async function readSecret(s: AgeSecret, what: string): Promise<string> {
  let value: string;
  if (typeof s === 'string') value = s;
  else if (typeof s === 'function') {
    try {
      value = await s();
    } catch (e) {
      throw new ArcaError(ErrorCodes.CONFIG_INVALID, `The function giving ${what} failed: ${(e as Error)?.message ?? String(e)}`, { cause: e });
    }
    if (typeof value !== 'string' || !value) throw new ArcaError(ErrorCodes.CONFIG_INVALID, `The function giving ${what} returned nothing.`);
  } else if ('env' in s) {
    const v = process.env[s.env];
    if (!v) throw new ArcaError(ErrorCodes.CONFIG_INVALID, `The environment variable ${s.env} (${what}) is not set or empty.`);
    value = v;
  } else {
    try {
      value = await readFile(s.file, 'utf8');
    } catch (e) {
      throw new ArcaError(ErrorCodes.CONFIG_INVALID, `Cannot read ${what} from ${s.file} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}): check the path and that the file is readable by the user running Arca.`, { cause: e });
    }
  }
  registerSecret(value.trim());
  return value;
}

const describeSource = (s: AgeSecret) => (typeof s === 'string' ? 'the identity given in the config' : typeof s === 'function' ? 'the identity function' : 'env' in s ? `$${s.env}` : s.file);

/**
 * age encryption (https://age-encryption.org/v1): artifacts open with the `age` CLI
 * (`age -d -i key.txt file.age`) without Arca.
 *
 * ```ts
 * encrypt: age({ recipients: ['age1...'] })                          // back up: public keys only
 * codecs: [age({ identities: { file: '/secure/arca-key.txt' } })]     // restore: the secret key
 * ```
 *
 * Construction throws `CONFIG_INVALID` for a malformed recipient, literal identity or
 * mixed recipients + passphrase. `encode` MUST have recipients or a passphrase. `decode`
 * without identity/passphrase throws `CODEC_FAILED` saying how to provide one; a wrong
 * key throws `DECRYPT_FAILED`; a truncated or modified file throws `CORRUPT_ARTIFACT`
 * (a chunk is released only after it authenticated, so restores commit nothing bad).
 * `describe()` (the manifest) holds the recipients' public keys only.
 */
export function age(options: AgeOptions): Codec {
  const o = parseOptions(AgeOptionsSchema, options, 'age()');
  const recipients = (o.recipients ?? []).map(parseRecipient);
  if (recipients.length && o.passphrase !== undefined) {
    throw new ArcaError(ErrorCodes.CONFIG_INVALID, 'age(): use either recipients or a passphrase, not both (the age format forbids mixing a passphrase with other recipients).');
  }
  if (!recipients.length && o.passphrase === undefined && o.identities === undefined) {
    throw new ArcaError(ErrorCodes.CONFIG_INVALID, 'age() needs recipients (age1... public keys) to encrypt, identities to decrypt, or a passphrase.');
  }
  const workFactor = o.workFactor ?? 18;
  const maxWorkFactor = o.maxWorkFactor ?? Math.max(20, workFactor);
  const identitySources: AgeSecret[] = o.identities === undefined ? [] : Array.isArray(o.identities) ? o.identities : [o.identities];
  // Literal identities are checked now, so a typo fails at startup rather than at restore.
  for (const s of identitySources) if (typeof s === 'string') parseIdentityFile(s, describeSource(s));
  if (typeof o.passphrase === 'string') registerSecret(o.passphrase);
  const passphrase = o.passphrase === undefined ? undefined : () => readSecret(o.passphrase!, 'the age passphrase').then((p) => p.replace(/\r?\n$/, ''));

  const facts: Record<string, unknown> = { format: 'age-encryption.org/v1' };
  if (recipients.length) facts.recipients = recipients.map((r) => r.recipient);
  if (passphrase) facts.passphrase = { kdf: 'scrypt', workFactor };

  async function unwrappers(): Promise<Unwrapper[]> {
    const out: Unwrapper[] = [];
    for (const s of identitySources) {
      const what = describeSource(s);
      for (const id of parseIdentityFile(await readSecret(s, `the age identity (${what})`), what)) out.push(x25519Unwrapper(id));
    }
    if (passphrase) out.push(scryptUnwrapper(passphrase, maxWorkFactor));
    return out;
  }

  return {
    name: 'age',
    extension: '.age',
    describe: () => structuredClone(facts),
    encode(input, opts) {
      if (!recipients.length && !passphrase) {
        return failing(
          new ArcaError(ErrorCodes.CONFIG_INVALID, 'This age codec has only identities, so it can decrypt but not encrypt: give it recipients (the age1... public keys) for backups.'),
        );
      }
      const wrappers = passphrase ? [scryptWrapper(passphrase, workFactor)] : recipients.map(x25519Wrapper);
      return encryptAge(input, wrappers, opts?.signal);
    },
    decode(input, opts) {
      if (!identitySources.length && !passphrase) {
        return failing(
          new ArcaError(
            ErrorCodes.CODEC_FAILED,
            'This artifact is age-encrypted and no identity was given to decrypt it: pass createArca({ codecs: [age({ identities: { file: "/path/to/key.txt" } })] }) (or { env: "ARCA_AGE_IDENTITY" }), or decrypt by hand with `age -d -i key.txt`.',
          ),
        );
      }
      return (async function* () {
        yield* decryptAge(input, await unwrappers(), opts?.signal);
      })();
    },
  };
}

async function* failing(e: Error): AsyncGenerator<Bytes> {
  yield* [];
  throw e;
}
