/**
 * Shared parts of the cross-package fault-injection suite: the real servers (sshd, pure-ftpd,
 * s3rver, reused from the adapter packages' harnesses), destination factories pointing at
 * them, a throttled deterministic source, and helpers that look at what really landed on
 * each backend (the servers' own folders), not at what Arca says about it.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll } from 'vitest';
import { localDir, type Destination, type Source } from '@arca/core';
import { ftp } from '@arca/dest-ftp';
import { s3 } from '@arca/dest-s3';
import { sftp } from '@arca/dest-sftp';
import { pureFtpdProbe, startPureFtpd, type PureFtpd } from '../../packages/dest-ftp/test/pure-ftpd-harness.js';
import { CREDS, fakeClient, probeS3rver, startS3rver, type S3rverHandle } from '../../packages/dest-s3/test/s3-harness.js';
import { sshdProbe, startSshd, type Sshd } from '../../packages/dest-sftp/test/sshd-harness.js';

export const MiB = 1 << 20;
export const BUCKET = 'arca-reliability';

/** Why the four-destination fan-out cannot run here (undefined when it can). */
export async function serversProbe(): Promise<string | undefined> {
  return (await sshdProbe()) ?? (await pureFtpdProbe()) ?? (await probeS3rver());
}

export interface Servers {
  sshd: Sshd;
  ftpd: PureFtpd;
  s3rver: S3rverHandle;
  /** Host folder of the bucket in s3rver's store. */
  bucketDir: string;
}

/**
 * sshd, pure-ftpd and s3rver (each a real child process) for the enclosing describe block:
 * started in its beforeAll, stopped in its afterAll. Call it in the describe body (hooks
 * registered inside a test or another hook never run in vitest: servers would outlive the
 * worker). The returned object is filled in before the first test.
 */
export function useServers(): Servers {
  const box = {} as Servers;
  beforeAll(async () => {
    const [sshd, ftpd, s3rver] = await Promise.all([startSshd(), startPureFtpd(), startS3rver([BUCKET])]);
    Object.assign(box, { sshd, ftpd, s3rver, bucketDir: path.join(s3rver.dir, BUCKET) });
  });
  afterAll(async () => {
    await Promise.all([box.sshd?.stop(), box.ftpd?.stop(), box.s3rver?.stop()]);
  });
  return box;
}

/** A temp folder for the enclosing describe block (created in beforeAll, removed in afterAll). */
export function useWorkDir(label: string): { path: string } {
  const box = { path: '' };
  beforeAll(async () => {
    box.path = await fs.mkdtemp(path.join(tmpdir(), `${label}-`));
  });
  afterAll(() => (box.path ? fs.rm(box.path, { recursive: true, force: true }) : undefined));
  return box;
}

/** Plain settings for the four destinations; `sub` keeps each test's data apart. */
export function destinationSettings(srv: Servers, localRoot: string, sub: string, s3Endpoint = srv.s3rver.endpoint) {
  return {
    local: { path: path.join(localRoot, sub) },
    sftp: { host: srv.sshd.host, port: srv.sshd.port, username: srv.sshd.username, password: srv.sshd.password, hostKey: { sha256: srv.sshd.fingerprint }, root: `${srv.sshd.root}/${sub}` },
    ftp: { host: srv.ftpd.host, port: srv.ftpd.port, user: srv.ftpd.user, password: srv.ftpd.password, root: `${srv.ftpd.root}/${sub}` },
    s3: { bucket: BUCKET, prefix: sub, endpoint: s3Endpoint },
  };
}
export type DestinationSettings = ReturnType<typeof destinationSettings>;

/** Destinations built from the settings (the S3 client gets DESIGN §11's settings for s3rver). */
export function buildDestinations(s: DestinationSettings, o: { s3MaxAttempts?: number } = {}): Record<'local' | 'sftp' | 'ftp' | 's3', Destination> {
  return {
    local: localDir({ path: s.local.path, fsync: false }),
    sftp: sftp(s.sftp),
    ftp: ftp(s.ftp),
    s3: s3({ bucket: s.s3.bucket, prefix: s.s3.prefix, client: fakeClient(s.s3.endpoint, { maxAttempts: o.s3MaxAttempts ?? 3, credentials: CREDS }) }),
  };
}

/** Close the network destinations' pooled connections (sftp/ftp/s3 have `close()`). */
export async function closeAll(dests: Record<string, Destination>): Promise<void> {
  await Promise.all(Object.values(dests).map((d) => Promise.resolve((d as { close?: () => Promise<void> }).close?.()).catch(() => {})));
}

/** Host folders where each destination's files really are (for looking at leftovers). */
export function hostRoots(srv: Servers, s: DestinationSettings): Record<'local' | 'sftp' | 'ftp' | 's3', string> {
  const sub = path.basename(s.local.path);
  return { local: s.local.path, sftp: srv.sshd.pathOf(sub), ftp: srv.ftpd.pathOf(sub), s3: path.join(srv.bucketDir, sub) };
}

/** Every file under a host folder, relative, sorted (missing folder: empty). */
export async function filesUnder(root: string): Promise<string[]> {
  const out: string[] = [];
  async function walk(rel: string) {
    let ents;
    try {
      ents = await fs.readdir(path.join(root, rel), { withFileTypes: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw e;
    }
    for (const ent of ents) {
      const r = rel ? `${rel}/${ent.name}` : ent.name;
      if (ent.isDirectory()) await walk(r);
      else out.push(r);
    }
  }
  await walk('');
  return out.sort();
}

/** Deterministic incompressible bytes (sha256 counter mode), so tests can compare without keeping copies. */
export function patternBytes(size: number, seed: string): Buffer {
  const out = Buffer.alloc(size);
  for (let off = 0, i = 0; off < size; i++) {
    const block = createHash('sha256').update(`${seed}:${i}`).digest();
    off += block.copy(out, off);
  }
  return out;
}

export const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

export interface ThrottledOptions {
  /** The bytes the dump streams. */
  data: Buffer;
  chunk?: number;
  /** Pause between chunks (ms). */
  delayMs?: number;
  filename?: string;
  /** Called after each chunk with the bytes emitted so far; the dump waits for a returned promise (to inject a fault at an exact point). */
  onBytes?(n: number): void | Promise<void>;
  /** Throw this after emitting `failAfter` bytes (a source that dies mid-dump). */
  failAfter?: number;
}

/** A source streaming `data` in chunks with a pause between them (to catch a moment mid-upload). */
export function throttledSource(o: ThrottledOptions): Source {
  const chunk = o.chunk ?? 64 * 1024;
  return {
    kind: 'throttled',
    describe: () => ({ kind: 'throttled', bytes: o.data.length }),
    async dump(d = {}) {
      async function* stream() {
        for (let off = 0; off < o.data.length; off += chunk) {
          if (o.failAfter !== undefined && off >= o.failAfter) throw new Error('the throttled source failed on purpose');
          if (o.delayMs) await sleep(o.delayMs, undefined, { signal: d.signal });
          yield o.data.subarray(off, Math.min(off + chunk, o.data.length));
          await o.onBytes?.(Math.min(off + chunk, o.data.length));
        }
      }
      return { filename: o.filename ?? 'data.bin', stream: stream(), meta: async () => ({}) };
    },
  };
}

/** Poll `cond` every 20 ms until it holds (or fail after `ms` with `what`). */
export async function until(cond: () => boolean | Promise<boolean>, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}
