import * as fs from 'node:fs/promises';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ArcaError } from '@arca/core';
import { collect, describeWithService, generatedStream, testDestination } from '@arca/core/test-kit';
import { ftp, type FtpDestination, type FtpOptions } from '@arca/dest-ftp';
import { pureFtpdProbe, startPureFtpd, type PureFtpd } from './pure-ftpd-harness.js';

await describeWithService('FTP destination on a real pure-ftpd', pureFtpdProbe, () => {
  let server: PureFtpd;
  beforeAll(async () => {
    server = await startPureFtpd();
  });
  afterAll(async () => {
    await server?.stop();
  });

  const dest = (extra: Partial<FtpOptions> = {}): FtpDestination =>
    ftp({ host: server.host, port: server.port, user: server.user, password: server.password, root: `${server.root}/own`, ...extra } as FtpOptions);

  testDestination('ftp (plain)', async () => {
    const d = dest({ name: 'hosting', root: `${server.root}/kit` });
    return { destination: d, cleanup: () => d.close() };
  }, { recycles: true });

  testDestination(
    'ftps (explicit TLS, self-signed certificate trusted through tlsOptions.ca)',
    async () => {
      const d = dest({ name: 'nas-ftps', root: `${server.root}/kit-tls`, secure: true, tlsOptions: { ca: server.certPem } });
      return { destination: d, cleanup: () => d.close() };
    },
    { listCount: 200, largeBytes: 32 << 20, recycles: true },
  );

  it('FTPS with a pinned certificate fingerprint works; a wrong pin is DEST_HOST_KEY_MISMATCH before login', async () => {
    const ok = dest({ secure: true, tlsOptions: { certFingerprint256: server.certFingerprint256.toLowerCase() } });
    try {
      await ok.put('pinned.txt', generatedStream(10));
      expect(await fs.readFile(server.pathOf('own/pinned.txt'))).toHaveLength(10);
    } finally {
      await ok.close();
    }
    const bad = dest({ secure: true, tlsOptions: { certFingerprint256: 'AB:'.repeat(31) + 'AB' } });
    const e = await bad.stat('pinned.txt').catch((x: unknown) => x);
    expect((e as ArcaError).code).toBe('DEST_HOST_KEY_MISMATCH');
    expect((e as ArcaError).message).toContain(server.certFingerprint256);
  });

  it('FTPS verifies certificates by default: a self-signed one is refused with advice', async () => {
    const d = dest({ secure: true });
    const e = await d.stat('x').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ArcaError);
    expect((e as ArcaError).code).toBe('DEST_UNREACHABLE');
    expect((e as ArcaError).message).toMatch(/not trusted.*tlsOptions\.ca/s);
  });

  it('rejects a wrong password with DEST_AUTH and never shows the password', async () => {
    const secret = `bad-${server.password}-x`;
    const d = dest({ password: secret });
    const e = await d.put('a', generatedStream(5)).catch((x: unknown) => x);
    expect((e as ArcaError).code).toBe('DEST_AUTH');
    const shown = JSON.stringify([(e as ArcaError).toJSON(), (e as Error).message, d.describe(), await d.check!()]);
    expect(shown).not.toContain(secret);
    expect(shown).not.toContain(server.password);
  });

  it('chroots the user: the files land under its home, nothing outside is reachable', async () => {
    const d = dest({ root: '/' });
    try {
      await d.put('x/../../etc-escape', generatedStream(1)).catch(() => {});
      expect(await d.stat('etc/passwd')).toBeUndefined();
    } finally {
      await d.close();
    }
  });

  it('check() reports a writable root and MLSD support, and leaves no probe file', async () => {
    const d = dest({ root: `${server.root}/check` });
    try {
      const r = await d.check!();
      expect(r.problems).toEqual([]);
      expect(r.facts).toMatchObject({ connected: true, exists: true, writable: true, mlsd: true });
      expect(await fs.readdir(server.pathOf('check'))).toEqual([]);
    } finally {
      await d.close();
    }
  });

  it('does not list NAS recycle-bin folders (#recycle, @eaDir) or temp files', async () => {
    const d = dest({ root: `${server.root}/nas` });
    try {
      await d.put('job/id/manifest.json', generatedStream(10));
      await d.put('#recycle/job/old/manifest.json', generatedStream(10));
      await d.put('job/@eaDir/thumb', generatedStream(10));
      await fs.writeFile(server.pathOf('nas/job/id/x.arca-tmp-deadbeef'), 'partial');
      const keys: string[] = [];
      for await (const o of d.list('')) keys.push(o.key);
      expect(keys).toEqual(['job/id/manifest.json']);
    } finally {
      await d.close();
    }
  });

  it('reconnects by itself after the server restarted between operations', async () => {
    const d = dest({ root: `${server.root}/reconnect` });
    try {
      await d.put('a.txt', generatedStream(100));
      await server.kill();
      await server.restart();
      expect((await d.stat('a.txt'))?.size).toBe(100);
      expect((await collect(await d.get('a.txt'))).length).toBe(100);
    } finally {
      await d.close();
    }
  });

  it('a server killed mid-upload fails that put with DEST_UNREACHABLE; nothing visible after restart', async () => {
    const d = dest({ root: `${server.root}/crash` });
    try {
      await d.put('job/id/db.dump', generatedStream(1000, { seed: 7 }));
      let killed: Promise<void> | undefined;
      // The producer waits for the kill, so the server dies while the upload is in flight.
      const data = generatedStream(256 << 20, {
        onChunk: async (sent) => {
          if (sent >= 8 << 20 && !killed) await (killed = server.kill());
        },
      });
      const e = await d.put('job/id/db.dump', data).catch((x: unknown) => x);
      await killed;
      expect(e).toBeInstanceOf(ArcaError);
      expect((e as ArcaError).code).toBe('DEST_UNREACHABLE');
      await server.restart();
      const keys: string[] = [];
      for await (const o of d.list('job/')) keys.push(o.key);
      expect(keys).toEqual(['job/id/db.dump']);
      expect((await d.stat('job/id/db.dump'))?.size).toBe(1000);
      expect((await d.put('job/id/next', generatedStream(5000))).bytes).toBe(5000);
    } finally {
      await d.close();
    }
  });

  it('a server that stops reading mid-upload fails the put with DEST_UNREACHABLE after timeoutMs', async () => {
    const d = dest({ root: `${server.root}/stall`, timeoutMs: 1500 });
    let thaw: (() => void) | undefined;
    try {
      await d.put('kept', generatedStream(1000, { seed: 3 }));
      let frozen: Promise<() => void> | undefined;
      const data = generatedStream(256 << 20, {
        onChunk: async (sent) => {
          if (sent >= 8 << 20 && !frozen) thaw = await (frozen = server.freeze());
        },
      });
      const t0 = Date.now();
      const e = await d.put('kept', data).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(ArcaError);
      expect((e as ArcaError).code).toBe('DEST_UNREACHABLE');
      expect((e as Error).message).toMatch(/timeout/i);
      expect(Date.now() - t0).toBeLessThan(15_000); // the data watchdog, not a hang until the test times out
      thaw!();
      thaw = undefined;
      expect((await d.stat('kept'))?.size).toBe(1000); // the previous object is untouched
    } finally {
      thaw?.();
      await d.close();
    }
  }, 30_000);
});
