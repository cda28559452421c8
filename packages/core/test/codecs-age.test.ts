import { execFile, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ArcaError, age, generateAgeIdentity, type Codec } from '@arca/core';
import { collect, describeWithService, generatedStream, peakRss } from '@arca/core/test-kit';
import { chunks, commandsInstalled, rejection, tempDir } from './helpers.js';

const run = promisify(execFile);
const hasAge = commandsInstalled('the `age` CLI (Debian package age)', 'age', 'age-keygen');

const encrypt = (c: Codec, data: Buffer) => collect(c.encode(chunks(data)));
const decrypt = (c: Codec, data: Buffer, size?: number) => collect(c.decode(chunks(data, size)));

/** Buffer equality without vitest's per-byte deep diff (slow on MiB-sized buffers). */
function expectSame(actual: Buffer, expected: Buffer): void {
  const h = (b: Buffer) => `${b.length} bytes sha256 ${createHash('sha256').update(b).digest('hex')}`;
  expect(h(actual)).toBe(h(expected));
}
/** `age -d -i key` on a file, returning stdout (works for empty output too). */
function ageDecrypt(keyFile: string, file: string): Buffer {
  const r = spawnSync('age', ['-d', '-i', keyFile, file], { maxBuffer: 64 << 20 });
  expect(r.status, r.stderr?.toString()).toBe(0);
  return r.stdout;
}

const K = 64 * 1024;
// 16 chunks (1 MiB) are sealed and opened per batch: its edges are boundaries too.
const SIZES = [0, 1, K - 1, K, K + 1, 3 * K, 200_000, 16 * K - 1, 16 * K, 16 * K + 1, 32 * K];
const data = (n: number, seed = n) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff));

describe('age keys', () => {
  it('derives the recipient of the spec test identity', () => {
    // c2sp.org/age, "The X25519 recipient type"
    const c = age({ identities: 'AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX' });
    expect(c.name).toBe('age');
    const pair = generateAgeIdentity();
    expect(pair.identity).toMatch(/^AGE-SECRET-KEY-1[0-9A-Z]{58}$/);
    expect(pair.recipient).toMatch(/^age1[0-9a-z]{58}$/);
    expect(pair.file).toContain(`# public key: ${pair.recipient}\n${pair.identity}\n`);
  });

  it('rejects malformed recipients and identities without echoing secrets', () => {
    const pair = generateAgeIdentity();
    const bad = pair.recipient.slice(0, -1) + (pair.recipient.endsWith('q') ? 'p' : 'q');
    expect(() => age({ recipients: [bad] })).toThrow(/not a valid age X25519 recipient/);
    expect(() => age({ recipients: ['ssh-ed25519 AAAAC3Nz'] })).toThrow(/SSH public keys are not supported/);
    const e = (() => {
      try {
        age({ recipients: [pair.identity] });
      } catch (x) {
        return x as ArcaError;
      }
    })();
    expect(e?.code).toBe('CONFIG_INVALID');
    expect(e?.message).toMatch(/identity \(secret key\) was given where a recipient/);
    expect(e?.message).not.toContain(pair.identity);
    const broken = pair.identity.slice(0, -2) + 'QQ';
    try {
      age({ identities: broken });
      expect.unreachable();
    } catch (x) {
      expect((x as ArcaError).code).toBe('CONFIG_INVALID');
      expect((x as Error).message).not.toContain(broken.slice(20));
    }
    expect(() => age({ recipients: [pair.recipient], passphrase: 'correct horse' })).toThrow(/either recipients or a passphrase/);
    expect(() => age({})).toThrow(/needs recipients/);
  });

  it('describe() (the manifest) holds public keys only', async () => {
    const a = generateAgeIdentity();
    const b = generateAgeIdentity();
    const c = age({ recipients: [a.recipient, b.recipient], identities: [a.identity, b.identity] });
    const json = JSON.stringify(c.describe());
    expect(c.describe()).toEqual({ format: 'age-encryption.org/v1', recipients: [a.recipient, b.recipient] });
    expect(json).not.toMatch(/AGE-SECRET-KEY/i);
    const p = age({ passphrase: 'a long passphrase 123', workFactor: 10 });
    expect(JSON.stringify(p.describe())).not.toContain('a long passphrase 123');
    expect(p.describe()).toEqual({ format: 'age-encryption.org/v1', passphrase: { kdf: 'scrypt', workFactor: 10 } });
  });
});

describe('age format round trips', () => {
  const pair = generateAgeIdentity();
  const other = generateAgeIdentity();
  const codec = age({ recipients: [other.recipient, pair.recipient], identities: pair.file });

  it.each(SIZES)('%i bytes: encrypts and decrypts (chunk boundaries)', async (n) => {
    const plain = data(n);
    const enc = await encrypt(codec, plain);
    // header + 16-byte nonce + one 16-byte tag per 64 KiB chunk (at least one chunk)
    const chunkCount = Math.max(1, Math.ceil(n / K));
    expect(enc.length - n - chunkCount * 16 - 16).toBeGreaterThan(100);
    expect(enc.subarray(0, 22).toString()).toBe('age-encryption.org/v1\n');
    expectSame(await decrypt(codec, enc, 7_777), plain);
  });

  it('uses a fresh file key and nonce per file', async () => {
    const a = await encrypt(codec, data(1000));
    const b = await encrypt(codec, data(1000));
    expect(a.equals(b)).toBe(false);
  });

  it('passphrase (scrypt) recipient round trips; a wrong passphrase is DECRYPT_FAILED', async () => {
    const enc = await encrypt(age({ passphrase: 'correct horse battery', workFactor: 12 }), data(70_000));
    expect(enc.toString('latin1')).toMatch(/\n-> scrypt [A-Za-z0-9+/]{22} 12\n/);
    expectSame(await decrypt(age({ passphrase: () => 'correct horse battery' }), enc), data(70_000));
    const e = await rejection(decrypt(age({ passphrase: 'wrong horse battery' }), enc));
    expect(e.code).toBe('DECRYPT_FAILED');
    expect(e.message).not.toContain('horse');
    const low = await rejection(decrypt(age({ passphrase: 'correct horse battery', maxWorkFactor: 11 }), enc));
    expect(low.message).toMatch(/work factor 12, above the limit of 11/);
  });

  it('reads identities from a file, an env var and a function', async () => {
    const dir = await tempDir('arca-age');
    const keyFile = path.join(dir, 'key.txt');
    await fs.writeFile(keyFile, pair.file, { mode: 0o600 });
    const enc = await encrypt(codec, data(5000));
    process.env.ARCA_TEST_AGE_ID = pair.identity;
    try {
      for (const identities of [{ file: keyFile }, { env: 'ARCA_TEST_AGE_ID' }, async () => pair.identity, [other.identity, pair.identity]]) {
        expectSame(await decrypt(age({ identities }), enc), data(5000));
      }
    } finally {
      delete process.env.ARCA_TEST_AGE_ID;
    }
    const missing = await rejection(decrypt(age({ identities: { file: path.join(dir, 'nope.txt') } }), enc));
    expect(missing.code).toBe('CONFIG_INVALID');
    expect(missing.message).toMatch(/Cannot read the age identity .*nope\.txt \(ENOENT\)/);
    const unset = await rejection(decrypt(age({ identities: { env: 'ARCA_TEST_AGE_UNSET' } }), enc));
    expect(unset.message).toMatch(/ARCA_TEST_AGE_UNSET .* not set/);
  });
});

describe('age integrity: wrong key, truncation, tampering', () => {
  const pair = generateAgeIdentity();
  const codec = age({ recipients: [pair.recipient], identities: pair.identity });
  const plain = data(3 * K + 500);
  const encrypted = encrypt(codec, plain);
  const headerEnd = (b: Buffer) => b.indexOf('\n---') + 1 + 48; // "--- " + 43 base64 + "\n"
  const payload = async () => {
    const b = await encrypted;
    return { b, start: headerEnd(b) + 16 };
  };

  it('no identity → CODEC_FAILED saying how to provide one', async () => {
    const e = await rejection(decrypt(age({ recipients: [pair.recipient] }), await encrypted));
    expect(e.code).toBe('CODEC_FAILED');
    expect(e.message).toMatch(/createArca\(\{ codecs: \[age\(\{ identities/);
  });

  it('a modified recipient stanza → DECRYPT_FAILED (indistinguishable from a stanza for someone else)', async () => {
    const e = await rejection(decrypt(codec, flip(Buffer.from(await encrypted), 30)));
    expect(e.code).toBe('DECRYPT_FAILED');
  });

  it('wrong identity → DECRYPT_FAILED naming the tried public key, never the secret', async () => {
    const wrong = generateAgeIdentity();
    const e = await rejection(decrypt(age({ identities: wrong.identity }), await encrypted));
    expect(e.code).toBe('DECRYPT_FAILED');
    expect(e.message).toContain(wrong.recipient);
    expect(e.message).not.toContain(wrong.identity);
    expect(JSON.stringify(e.toJSON())).not.toMatch(/AGE-SECRET-KEY-1[0-9A-Z]{10}/);
  });

  const cases: Array<[string, (b: Buffer, start: number) => Buffer, RegExp]> = [
    ['a flipped version-line byte', (b) => flip(b, 5), /not an age v1 file/],
    ['a stanza line dropped', (b) => Buffer.concat([b.subarray(0, b.indexOf('\n->') + 1), b.subarray(b.indexOf('\n', b.indexOf('\n->') + 1) + 1)]), /malformed header line|malformed header/],
    ['a flipped MAC byte', (b, s) => flip(b, s - 20), /MAC/],
    ['a flipped payload byte', (b, s) => flip(b, s + 100), /failed authentication at chunk 0/],
    ['a flipped byte in the last chunk', (b) => flip(b, b.length - 3), /failed authentication at chunk 3/],
    ['the last chunk dropped', (b, s) => b.subarray(0, s + 3 * (K + 16)), /not marked final/],
    ['truncation inside a chunk', (b, s) => b.subarray(0, s + K + 100), /failed authentication at chunk 1/],
    ['truncation inside the header', (b) => b.subarray(0, 40), /ends inside its header/],
    ['truncation before the nonce', (b, s) => b.subarray(0, s - 5), /ends before its payload nonce/],
    ['two chunks swapped', (b, s) => Buffer.concat([b.subarray(0, s), b.subarray(s + K + 16, s + 2 * (K + 16)), b.subarray(s, s + K + 16), b.subarray(s + 2 * (K + 16))]), /failed authentication at chunk 0/],
    ['data appended after the final chunk', (b) => Buffer.concat([b, Buffer.from('extra')]), /failed authentication|after its final chunk/],
    ['not an age file', () => Buffer.from('hello world\n--- x\n'), /not an age v1 file/],
  ];
  it.each(cases)('%s → CORRUPT_ARTIFACT', async (_name, mutate, message) => {
    const { b, start } = await payload();
    const e = await rejection(decrypt(codec, mutate(Buffer.from(b), start), 4096));
    expect(e.code).toBe('CORRUPT_ARTIFACT');
    expect(e.message).toMatch(message);
  });

  it('releases no plaintext from an unauthenticated chunk (plaintext leaves in authenticated 16-chunk batches)', async () => {
    // 40 chunks: batches 0-15, 16-31, 32-39(final). Chunk 20 is modified.
    const big = data(40 * K - 7, 9);
    const enc = await encrypt(codec, big);
    const s = headerEnd(enc) + 16;
    const got: Buffer[] = [];
    const e = await rejection(
      (async () => {
        for await (const c of codec.decode(chunks(flip(Buffer.from(enc), s + 20 * (K + 16) + 5), 65_536))) got.push(Buffer.from(c));
      })(),
    );
    expect(e.message).toMatch(/failed authentication at chunk 20/);
    expectSame(Buffer.concat(got), big.subarray(0, 16 * K)); // the first batch only, nothing of chunks 16-19
  });
});

function flip(b: Buffer, at: number): Buffer {
  b[at] = b[at]! ^ 0x01;
  return b;
}

await describeWithService('age CLI interop', hasAge, () => {
  const sizes = [0, K, K + 1, 1_000_003, 16 * K, 16 * K + 1];

  it.each(sizes)('%i bytes: Arca encrypts → `age -d -i key.txt` decrypts', async (n) => {
    const dir = await tempDir('arca-age-cli');
    await run('age-keygen', ['-o', path.join(dir, 'key.txt')]);
    const keyText = await fs.readFile(path.join(dir, 'key.txt'), 'utf8');
    const recipient = /public key: (age1[0-9a-z]+)/.exec(keyText)![1]!;
    const plain = data(n, 3);
    await fs.writeFile(path.join(dir, 'in.age'), await encrypt(age({ recipients: [recipient, generateAgeIdentity().recipient] }), plain));
    expectSame(ageDecrypt(path.join(dir, 'key.txt'), path.join(dir, 'in.age')), plain);
  });

  it.each(sizes)('%i bytes: `age -r` encrypts → Arca decrypts with the age-keygen identity file', async (n) => {
    const dir = await tempDir('arca-age-cli');
    await run('age-keygen', ['-o', path.join(dir, 'key.txt')]);
    const keyText = await fs.readFile(path.join(dir, 'key.txt'), 'utf8');
    const recipient = /public key: (age1[0-9a-z]+)/.exec(keyText)![1]!;
    const plain = data(n, 5);
    await fs.writeFile(path.join(dir, 'in'), plain);
    await run('age', ['-r', recipient, '-o', path.join(dir, 'in.age'), path.join(dir, 'in')]);
    const codec = age({ identities: { file: path.join(dir, 'key.txt') } });
    expectSame(await decrypt(codec, await fs.readFile(path.join(dir, 'in.age')), 65_536), plain);
    // and the public key age-keygen printed is the one Arca derives
    const y = spawnSync('age-keygen', ['-y', path.join(dir, 'key.txt')], { encoding: 'utf8' });
    expect(y.stdout.trim()).toBe(recipient);
    const wrongKey = await rejection(decrypt(age({ identities: generateAgeIdentity().identity }), await fs.readFile(path.join(dir, 'in.age'))));
    expect(wrongKey.code).toBe('DECRYPT_FAILED');
  });

  it('Arca-generated identities work with `age -d` and `age-keygen -y`', async () => {
    const dir = await tempDir('arca-age-cli');
    const pair = generateAgeIdentity();
    await fs.writeFile(path.join(dir, 'key.txt'), pair.file, { mode: 0o600 });
    const y = spawnSync('age-keygen', ['-y', path.join(dir, 'key.txt')], { encoding: 'utf8' });
    expect(y.stdout.trim()).toBe(pair.recipient);
    await fs.writeFile(path.join(dir, 'x'), 'hello');
    await run('age', ['-r', pair.recipient, '-o', path.join(dir, 'x.age'), path.join(dir, 'x')]);
    expect((await decrypt(age({ identities: pair.identity }), await fs.readFile(path.join(dir, 'x.age')))).toString()).toBe('hello');
  });

  it('a 256 MiB stream: Arca encrypt → `age -d` → same sha256, with flat memory', { timeout: 240_000 }, async () => {
    const dir = await tempDir('arca-age-cli');
    const pair = generateAgeIdentity();
    await fs.writeFile(path.join(dir, 'key.txt'), pair.file, { mode: 0o600 });
    const size = 256 * 1024 * 1024;
    const src = generatedStream(size, { chunk: 1 << 20 });
    const child = spawn('age', ['-d', '-i', path.join(dir, 'key.txt')], { stdio: ['pipe', 'pipe', 'inherit'] });
    const digest = createHash('sha256');
    let out = 0;
    child.stdout.on('data', (c: Buffer) => {
      digest.update(c);
      out += c.length;
    });
    const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
    const { peakGrowth } = await peakRss(async () => {
      for await (const c of age({ recipients: [pair.recipient] }).encode(src)) {
        if (!child.stdin.write(c)) await new Promise((r) => child.stdin.once('drain', r));
      }
      child.stdin.end();
      expect(await closed).toBe(0);
    });
    expect(out).toBe(size);
    expect(digest.digest('hex')).toBe(src.sha256());
    // Buffering the stream would grow RSS by ≥ 256 MiB.
    expect(peakGrowth).toBeLessThan(96 * 1024 * 1024);
  });

  it('a 256 MiB `age -r` stream decrypted by Arca with flat memory', { timeout: 240_000 }, async () => {
    const dir = await tempDir('arca-age-cli');
    const pair = generateAgeIdentity();
    const size = 256 * 1024 * 1024;
    const src = generatedStream(size, { chunk: 1 << 20 });
    const child = spawn('age', ['-r', pair.recipient], { stdio: ['pipe', 'pipe', 'inherit'] });
    const feeding = (async () => {
      for await (const c of src) if (!child.stdin.write(c)) await new Promise((r) => child.stdin.once('drain', r));
      child.stdin.end();
    })();
    const digest = createHash('sha256');
    let out = 0;
    const { peakGrowth } = await peakRss(async () => {
      for await (const c of age({ identities: pair.identity }).decode(child.stdout)) {
        digest.update(c);
        out += c.length;
      }
    });
    await feeding;
    expect(out).toBe(size);
    expect(digest.digest('hex')).toBe(src.sha256());
    expect(peakGrowth).toBeLessThan(96 * 1024 * 1024);
    void dir;
  });
});
