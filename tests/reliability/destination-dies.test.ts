/**
 * A destination dies mid-upload while one job fans out to local + SFTP + FTP + S3: sshd
 * killed (SIGKILL, sessions dropped), pure-ftpd killed, the S3 endpoint (a proxy in front of
 * s3rver) answering 500s and then dropping connections. Each time the other destinations
 * complete, the run is `partial`, a webhook notification names the dead destination, nothing
 * half-written is visible there, and once it is back `retryFailed` completes the copy.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createArca, webhook, type Destination, type RunResult, type WebhookPayload } from '@arca/core';
import { describeWithService } from '@arca/core/test-kit';
import { startReceiver } from '../../packages/core/test/notifier-receiver.js';
import { startFaultProxy, type FaultProxy } from './fault-proxy.js';
import { MiB, buildDestinations, closeAll, destinationSettings, filesUnder, hostRoots, patternBytes, serversProbe, throttledSource, useServers, useWorkDir } from './harness.js';

type Name = 'local' | 'sftp' | 'ftp' | 's3';

await describeWithService('a destination dies mid-upload (fan-out to local + SFTP + FTP + S3)', serversProbe, () => {
  const srv = useServers();
  const dir = useWorkDir('arca-rel-dies');
  let proxy: FaultProxy;
  let work: string;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  beforeAll(async () => {
    work = dir.path;
    proxy = await startFaultProxy(srv.s3rver.endpoint);
    receiver = await startReceiver();
  });
  afterAll(() => proxy?.close());

  /**
   * Run one 3 MiB backup (~1.5 s of throttled dump); once 1 MiB has gone through, the dump
   * waits for `kill` to complete (so the rest certainly meets a dead server), then check the partial run, the notification, the dead destination's state,
   * and `retryFailed` after `revive`.
   */
  const scenario = async (sub: string, dead: Name, kill: () => Promise<void>, revive: () => Promise<void>) => {
    const settings = destinationSettings(srv, work, sub, proxy.endpoint);
    const dests: Record<Name, Destination> = buildDestinations(settings, { s3MaxAttempts: 3 });
    const data = patternBytes(3 * MiB, sub);
    const seen = receiver.received.length;
    let killed: Promise<void> | undefined;
    const onBytes = (n: number) => (!killed && n >= MiB ? (killed = kill()) : undefined);
    const arca = createArca({
      destinations: dests,
      jobs: { j: { sources: { data: throttledSource({ data, delayMs: 30, onBytes }) }, destinations: ['local', 'sftp', 'ftp', 's3'], compress: 'none', stallTimeoutMs: 15_000 } },
      notifiers: [webhook({ url: receiver.url('/hook') })],
    });
    let revived = false;
    try {
      const r: RunResult = await arca.run('j');
      await killed;
      expect(killed, 'the kill happened mid-dump').toBeDefined();
      expect(r.status, JSON.stringify(r.destinations)).toBe('partial');
      const byName = Object.fromEntries(r.destinations.map((d) => [d.name, d]));
      for (const n of ['local', 'sftp', 'ftp', 's3'] as const) {
        if (n === dead) expect(byName[n], n).toMatchObject({ status: 'failed', error: { code: expect.stringMatching(/^DEST_/) } });
        else expect(byName[n], n).toMatchObject({ status: 'completed' });
      }
      // the notification: partial, naming the dead destination and why
      const [hook] = (await receiver.waitFor(seen + 1)).slice(seen);
      const payload = hook!.json as WebhookPayload;
      expect(payload).toMatchObject({ event: 'run:done', kind: 'partial', job: 'j' });
      expect(payload.text).toMatch(/retryFailed/);
      const failed = (payload.data as RunResult).destinations.filter((d) => d.status === 'failed');
      expect(failed.map((d) => d.name)).toEqual([dead]);
      expect(failed[0]!.error!.message.length).toBeGreaterThan(10);
      // the catalog: restorable from the three survivors only
      const [b] = await arca.list('j');
      expect(b!.id).toBe(r.backupId);
      expect(b!.destinations.sort()).toEqual((['ftp', 'local', 's3', 'sftp'] as const).filter((n) => n !== dead));

      await revive();
      revived = true;
      // nothing of the failed put is visible on the dead destination once it is back
      const left: string[] = [];
      for await (const o of dests[dead].list('j/')) left.push(o.key);
      expect(left).toEqual([]);
      if (dead !== 's3') {
        const onDisk = await filesUnder(hostRoots(srv, settings)[dead]);
        // the server died mid-put: at most its temp file, which prune (after the grace period) removes
        expect(onDisk.every((f) => f.includes('.arca-tmp-')), onDisk.join()).toBe(true);
      }

      const retry = await arca.retryFailed('j', r.backupId);
      expect(retry).toMatchObject({ copied: [dead], failed: [] });
      const v = await arca.verify('j', r.backupId, { level: 'checksum' });
      expect(v.ok).toBe(true);
      expect(v.destinations.map((d) => [d.name, d.holds, d.ok])).toEqual((['local', 'sftp', 'ftp', 's3'] as const).map((n) => [n, true, true]));
      // prune leaves the complete backup and removes any temp file the dead server kept
      await arca.prune('j', { leftoverGrace: 1 });
      const after = await arca.list('j');
      expect(after.map((x) => x.destinations.length)).toEqual([4]);
      if (dead !== 's3') expect((await filesUnder(hostRoots(srv, settings)[dead])).filter((f) => f.includes('.arca-tmp-'))).toEqual([]);
    } finally {
      if (killed && !revived) await revive(); // leave the servers up for the next scenario
      await closeAll(dests);
    }
  };

  it('sshd killed mid-upload: SFTP fails, the others complete, partial + notification, retryFailed completes after restart', async () => {
    await scenario(
      'sshd',
      'sftp',
      () => srv.sshd.kill(),
      () => srv.sshd.restart(),
    );
  });

  it('pure-ftpd killed mid-upload: FTP fails, the others complete, partial + notification, retryFailed completes after restart', async () => {
    await scenario(
      'ftpd',
      'ftp',
      () => srv.ftpd.kill(),
      () => srv.ftpd.restart(),
    );
  });

  it('S3 answers 500s, then drops connections: S3 fails, the others complete, partial + notification, retryFailed completes once it heals', async () => {
    let fivehundreds = 0;
    const faults: string[] = [];
    await scenario(
      's3',
      's3',
      async () => {
        proxy.decide = (method) => {
          if (method !== 'PUT') return 'forward';
          const f = fivehundreds++ < 2 ? { status: 500, code: 'InternalError' } : 'drop';
          faults.push(typeof f === 'string' ? f : String(f.status));
          return f;
        };
      },
      async () => {
        proxy.decide = () => 'forward';
      },
    );
    // the SDK retried: first the 500s, then the dropped connection
    expect(faults).toEqual(['500', '500', 'drop']);
  });
});
