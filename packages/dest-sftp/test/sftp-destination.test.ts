import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ArcaError } from '@arca/core';
import { collect, describeWithService, generatedStream, testDestination } from '@arca/core/test-kit';
import { sftp, type SftpDestination } from '@arca/dest-sftp';
import { sshdProbe, startSshd, type Sshd } from './sshd-harness.js';

// The shared contract suite against a real OpenSSH sshd, with host key verification on.
await describeWithService('SFTP destination on a real sshd', sshdProbe, () => {
  let server: Sshd;
  beforeAll(async () => {
    server = await startSshd();
  });
  afterAll(async () => {
    await server?.stop();
  });

  testDestination(
    'sftp (password auth, host key checked)',
    async () => {
      const d = sftp({
        name: 'nas',
        host: server.host,
        port: server.port,
        username: server.username,
        password: server.password,
        hostKey: { sha256: server.fingerprint },
        root: `${server.root}/kit`,
      });
      return { destination: d, cleanup: () => d.close() };
    },
    { largeBytes: 64 << 20, recycles: true },
  );

  const dest = (extra: Partial<Parameters<typeof sftp>[0]> = {}): SftpDestination =>
    sftp({
      host: server.host,
      port: server.port,
      username: server.username,
      password: server.password,
      hostKey: { sha256: server.fingerprint },
      root: `${server.root}/own`,
      ...extra,
    });

  it('authenticates with a private key, and the file lands where a plain ssh user sees it', async () => {
    const d = sftp({
      host: server.host,
      port: server.port,
      username: server.username,
      privateKey: server.privateKey,
      hostKey: { sha256: server.fingerprint.replace(/^SHA256:/, '') }, // bare form accepted too
      root: `${server.root}/keyauth`,
    });
    try {
      await d.put('job/id/file.txt', (async function* () {
        yield Buffer.from('via key');
      })());
      expect(await fs.readFile(server.pathOf('keyauth/job/id/file.txt'), 'utf8')).toBe('via key');
      const st = await fs.stat(server.pathOf('keyauth/job/id/file.txt'));
      expect(st.mode & 0o777).toBe(0o600);
      expect(d.describe()).toMatchObject({ auth: 'key', hostKey: [server.fingerprint] });
    } finally {
      await d.close();
    }
  });

  it('refuses a server whose host key does not match, with DEST_HOST_KEY_MISMATCH', async () => {
    const wrong = 'SHA256:' + createHash('sha256').update('not the key').digest('base64').replace(/=+$/, '');
    const d = dest({ hostKey: { sha256: wrong } });
    const e = await d.stat('x').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ArcaError);
    expect((e as ArcaError).code).toBe('DEST_HOST_KEY_MISMATCH');
    expect((e as ArcaError).message).toContain(server.fingerprint);
    expect((e as ArcaError).message).toContain(wrong);
    const r = await d.check!();
    expect(r.ok).toBe(false);
    expect(r.facts.errorCode).toBe('DEST_HOST_KEY_MISMATCH');
  });

  it('requires a host key fingerprint unless insecureSkipHostKeyCheck is set', async () => {
    expect(() => sftp({ host: server.host, username: 'u', password: 'p' })).toThrow(/hostKey.*ssh-keyscan/s);
    const d = dest({ hostKey: undefined, insecureSkipHostKeyCheck: true });
    try {
      expect(await d.stat('nothing')).toBeUndefined();
      expect(JSON.stringify(d.describe())).toMatch(/NOT VERIFIED/);
    } finally {
      await d.close();
    }
  });

  it('rejects a wrong password with DEST_AUTH and never shows the password', async () => {
    const secret = `wrong-${server.password}-pw`;
    const d = dest({ password: secret });
    const e = await d.put('a/b', generatedStream(10)).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ArcaError);
    expect((e as ArcaError).code).toBe('DEST_AUTH');
    expect((e as ArcaError).message).toMatch(/refused the credentials/);
    const shown = JSON.stringify([(e as ArcaError).toJSON(), (e as Error).message, d.describe(), await d.check!()]);
    expect(shown).not.toContain(secret);
    expect(shown).not.toContain(server.password);
  });

  it('describe() and errors never contain the password or private key', async () => {
    const d = dest({ privateKey: server.privateKey });
    const text = JSON.stringify(d.describe());
    expect(text).not.toContain(server.password);
    expect(text).not.toContain('PRIVATE KEY');
    expect(text).not.toContain(server.privateKey.split('\n')[1]!);
  });

  it('check() reports free space (statvfs), atomic replace and a writable root', async () => {
    const d = dest();
    try {
      const r = await d.check!();
      expect(r.problems).toEqual([]);
      expect(r.facts).toMatchObject({ connected: true, exists: true, writable: true, atomicReplace: true });
      expect(r.facts.freeBytes).toBeGreaterThan(0);
      // No probe file left behind.
      expect(await fs.readdir(server.pathOf('own'))).toEqual([]);
    } finally {
      await d.close();
    }
  });

  it('check() reports a root it cannot create, without throwing', async () => {
    const d = dest({ root: '/proc/arca-cannot-exist' });
    try {
      const r = await d.check!();
      expect(r.ok).toBe(false);
      expect(r.problems.join(' ')).toMatch(/cannot be created|not writable/);
    } finally {
      await d.close();
    }
  });

  it('put into a folder without permission is DEST_PERMISSION and leaves nothing', async () => {
    const d = dest({ root: '/etc' });
    try {
      const e = await d.put('arca-test/x', generatedStream(1000)).catch((x: unknown) => x);
      expect((e as ArcaError).code).toBe('DEST_PERMISSION');
      await expect(fs.stat('/etc/arca-test')).rejects.toThrow();
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
      await fs.writeFile(server.pathOf('nas/job/id/.x.arca-tmp-deadbeef'), 'partial');
      const keys: string[] = [];
      for await (const o of d.list('')) keys.push(o.key);
      expect(keys).toEqual(['job/id/manifest.json']);
      // Still reachable by key: only listing skips them.
      expect((await d.stat('#recycle/job/old/manifest.json'))?.size).toBe(10);
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

  it('a server killed mid-upload fails that put promptly with DEST_UNREACHABLE; nothing visible after restart', async () => {
    const d = dest({ root: `${server.root}/crash` });
    try {
      await d.put('job/id/db.dump', generatedStream(1000, { seed: 7 })); // a previous object to keep
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
      // The next put works again on a fresh connection.
      expect((await d.put('job/id/next', generatedStream(5000))).bytes).toBe(5000);
    } finally {
      await d.close();
    }
  });
});
