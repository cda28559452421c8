/**
 * Canary secrets for the leak scanner: one distinct, recognisable value per kind of secret
 * Arca handles (database passwords, S3 keys, SFTP/SMTP passwords, age identities), plus the
 * encoded forms a careless log line would carry them in (base64, base64url, URL-encoding,
 * hex, JSON-escaped). `findLeaks()` reports every canary found in a text, a buffer or a tree
 * of files, with where it was found.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';

/** A canary: a value no real output would ever contain by chance. */
export function canary(label: string, extra = ''): string {
  // Letters, digits and a few punctuation marks that change under URL-encoding and that
  // libpq's passfile, MySQL option files and chpasswd all accept.
  return `cny-${label}-${randomBytes(6).toString('hex')}${extra}`;
}

export interface CanarySet {
  /** name → secret value */
  readonly secrets: Record<string, string>;
  /** Every needle to look for: the values and their encoded forms, with a label for reports. */
  needles(): Array<{ label: string; needle: string }>;
}

/** Encoded forms of `v` worth grepping for (only those at least 8 characters long). */
export function encodedForms(v: string): Array<[string, string]> {
  const b = Buffer.from(v, 'utf8');
  const forms: Array<[string, string]> = [
    ['raw', v],
    ['base64', b.toString('base64').replace(/=+$/, '')],
    ['base64url', b.toString('base64url')],
    ['url', encodeURIComponent(v)],
    ['url-form', new URLSearchParams({ x: v }).toString().slice(2)],
    ['hex', b.toString('hex')],
    ['json', JSON.stringify(v).slice(1, -1)],
  ];
  // base64 of a value depends on its offset in the encoded string: also look for the value
  // encoded after 1 and 2 leading bytes (e.g. SMTP AUTH PLAIN "\0user\0pass").
  for (const pad of [1, 2]) {
    const len = pad + b.length;
    const enc = Buffer.concat([Buffer.alloc(pad), b]).toString('base64');
    // Keep only the 4-character groups made of secret bytes alone: from byte 3 to the last whole group.
    forms.push([`base64+${pad}`, enc.slice(4, Math.floor(len / 3) * 4)]);
  }
  const seen = new Set<string>();
  return forms.filter(([, n]) => n.length >= 8 && !seen.has(n) && (seen.add(n), true));
}

export function canarySet(secrets: Record<string, string>): CanarySet {
  return {
    secrets,
    needles: () => Object.entries(secrets).flatMap(([name, v]) => encodedForms(v).map(([form, needle]) => ({ label: `${name} (${form})`, needle }))),
  };
}

export interface Leak {
  /** Where it was seen: "stdout of `arca backup`", a file path, "cmdline of pid 123 (pg_dump)". */
  where: string;
  /** Which canary, in which encoding. */
  what: string;
}

/** Every canary (in any encoding) that occurs in `text`. */
export function leaksIn(set: CanarySet, where: string, text: string | Buffer): Leak[] {
  const s = typeof text === 'string' ? text : text.toString('latin1');
  const out: Leak[] = [];
  for (const { label, needle } of set.needles()) {
    if (typeof text === 'string' ? s.includes(needle) : text.includes(Buffer.from(needle, 'utf8'))) out.push({ where, what: label });
  }
  return out;
}

/** Every file under `dir` (absolute paths), following no symlinks. */
export async function walkFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string) => {
    for (const e of await fs.readdir(d, { withFileTypes: true }).catch(() => [])) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile()) out.push(p);
    }
  };
  await walk(dir);
  return out.sort();
}

/** Scan every file under each root (except `skip`, e.g. the secret files themselves). */
export async function leaksInTrees(set: CanarySet, roots: string[], skip: (file: string) => boolean = () => false): Promise<{ leaks: Leak[]; files: string[] }> {
  const leaks: Leak[] = [];
  const files: string[] = [];
  for (const root of roots) {
    for (const f of await walkFiles(root)) {
      if (skip(f)) continue;
      files.push(f);
      leaks.push(...leaksIn(set, f, await fs.readFile(f)));
    }
  }
  return { leaks, files };
}
