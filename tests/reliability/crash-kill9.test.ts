/**
 * `kill -9` of the process running a backup that fans out to local + SFTP + FTP + S3, at
 * three moments: mid-dump (every put mid-way), mid-upload (the source is done, S3's upload
 * is in flight) and while the manifests are being written. Afterwards: no manifest commits
 * incomplete data on any destination, the next prune leaves nothing but complete backups
 * (no temp files, no leftovers, no pending multipart upload in s3rver's store) and the next
 * run completes everywhere.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createArca, directory } from '@arca/core';
import { describeWithService } from '@arca/core/test-kit';
import { startChild } from '../../packages/core/test/process-harness.js';
import { bundleFixture } from './child-harness.js';
import { startFaultProxy } from './fault-proxy.js';
import { buildDestinations, closeAll, destinationSettings, filesUnder, hostRoots, serversProbe, until, useServers, useWorkDir, type DestinationSettings } from './harness.js';

await describeWithService('kill -9 of a backup fanning out to local + SFTP + FTP + S3', serversProbe, () => {
  const srv = useServers();
  const dir = useWorkDir('arca-rel-kill');
  let child: string;
  let work: string;
  beforeAll(async () => {
    work = dir.path;
    child = await bundleFixture('backup-child');
  });
  afterAll(() => (child ? fs.rm(child, { force: true }) : undefined));

  const setup = async (sub: string, s3Endpoint?: string) => {
    const settings = destinationSettings(srv, work, sub, s3Endpoint);
    const file = path.join(work, `${sub}.json`);
    await fs.writeFile(file, JSON.stringify(settings));
    return { settings, file };
  };

  /** An Arca in the test process over the same four destinations (S3 straight to s3rver). */
  const inspector = (settings: DestinationSettings) => {
    const dests = buildDestinations({ ...settings, s3: { ...settings.s3, endpoint: srv.s3rver.endpoint } });
    const seed = path.join(work, 'seed');
    const arca = createArca({
      destinations: dests,
      jobs: { crash: { sources: { data: directory({ path: seed }) }, destinations: ['local', 'sftp', 'ftp', 's3'], compress: 'none' } },
    });
    return { arca, dests, seed };
  };

  /** Files on every backend, as the servers store them. */
  const snapshot = async (settings: DestinationSettings) => {
    const roots = hostRoots(srv, settings);
    const out: Record<string, string[]> = {};
    for (const [name, root] of Object.entries(roots)) out[name] = await filesUnder(root);
    return out;
  };

  /** Every file left is part of a backup whose manifest lists it; s3rver holds no pending multipart upload. */
  const assertClean = async (settings: DestinationSettings, arca: ReturnType<typeof inspector>['arca']) => {
    const backups = await arca.list('crash');
    const files = await snapshot(settings);
    for (const name of ['local', 'sftp', 'ftp'] as const) {
      const expected = backups
        .filter((b) => b.destinations.includes(name))
        .flatMap((b) => [`crash/${b.id}/manifest.json`, ...b.artifacts.map((a) => `crash/${b.id}/${a.file}`)])
        .sort();
      expect(files[name], `${name} holds only complete backups`).toEqual(expected);
    }
    const s3Keys: string[] = [];
    for await (const o of buildDestinations(settings).s3.list('crash/')) s3Keys.push(o.key);
    const s3Expected = backups.filter((b) => b.destinations.includes('s3')).flatMap((b) => [`crash/${b.id}/manifest.json`, ...b.artifacts.map((a) => `crash/${b.id}/${a.file}`)]);
    expect(s3Keys.sort()).toEqual(s3Expected.sort());
    // s3rver keeps initiated multipart uploads under <bucket>/.../*._S3rver_uploads until completed
    expect((await filesUnder(srv.bucketDir)).filter((f) => f.includes('_S3rver_uploads'))).toEqual([]);
  };

  /** Every listed backup verifies byte for byte on every destination that holds its manifest. */
  const assertCommittedAreComplete = async (arca: ReturnType<typeof inspector>['arca']) => {
    for (const b of await arca.list('crash')) {
      const v = await arca.verify('crash', b.id, { level: 'checksum' });
      for (const d of v.destinations.filter((x) => x.holds)) expect(d, `${b.id} on ${d.name}`).toMatchObject({ ok: true });
    }
  };

  const nextRunSucceeds = async (ins: ReturnType<typeof inspector>) => {
    await fs.mkdir(ins.seed, { recursive: true });
    await fs.writeFile(path.join(ins.seed, 'a.txt'), 'after the crash');
    const r = await ins.arca.run('crash');
    expect(r.status, JSON.stringify(r.error ?? r.destinations.map((d) => d.error))).toBe('completed');
    expect(r.destinations.map((d) => d.status)).toEqual(['completed', 'completed', 'completed', 'completed']);
    const v = await ins.arca.verify('crash', r.backupId, { level: 'checksum' });
    expect(v.ok).toBe(true);
  };

  it('killed mid-dump: no manifest anywhere; prune removes every temp file and leftover; the next run completes', async () => {
    const { settings, file } = await setup('dump');
    const c = startChild(child, [file, 'dump']);
    expect(await c.next()).toEqual({ phase: 'dump' });
    c.proc.kill('SIGKILL');
    expect(await c.exited).toBe(null);

    const ins = inspector(settings);
    try {
      expect(await ins.arca.list('crash')).toEqual([]);
      const before = await snapshot(settings);
      // the kill landed mid-put: temp files on the file-based destinations, nothing committed
      for (const name of ['local', 'sftp', 'ftp'] as const) {
        expect(before[name]!.some((f) => f.includes('.arca-tmp-')), `${name}: ${before[name]}`).toBe(true);
        expect(before[name]!.some((f) => f.endsWith('manifest.json'))).toBe(false);
      }
      const report = await ins.arca.prune('crash', { leftoverGrace: 1 });
      expect(report.ok).toBe(true);
      await assertClean(settings, ins.arca);
      await nextRunSucceeds(ins);
      await assertClean(settings, ins.arca);
    } finally {
      await closeAll(ins.dests);
    }
  });

  it('killed mid-upload (source done, S3 upload in flight): nothing listed; prune removes the uncommitted copies; the next run completes', async () => {
    const proxy = await startFaultProxy(srv.s3rver.endpoint);
    let s3DataPut = false;
    proxy.decide = (method, p) => {
      if (method === 'PUT' && p.includes('data.bin')) {
        s3DataPut = true;
        return 'hold';
      }
      return 'forward';
    };
    const { settings, file } = await setup('upload', proxy.endpoint);
    const ins = inspector(settings);
    const c = startChild(child, [file, 'upload']);
    // the three others committed their artifact (renamed into place), S3's body is in flight
    await until(async () => s3DataPut && (await snapshot(settings)).ftp!.some((f) => f.endsWith('/data.bin')), 'the S3 upload to be in flight');
    c.proc.kill('SIGKILL');
    expect(await c.exited).toBe(null);
    try {
      expect(await ins.arca.list('crash')).toEqual([]);
      const before = await snapshot(settings);
      for (const name of ['local', 'sftp', 'ftp'] as const) expect(before[name]!.filter((f) => f.endsWith('manifest.json'))).toEqual([]);
      expect((await ins.arca.prune('crash', { leftoverGrace: 1 })).ok).toBe(true);
      await assertClean(settings, ins.arca);
      await nextRunSucceeds(ins);
    } finally {
      await closeAll(ins.dests);
      await proxy.close();
    }
  });

  it('killed while writing the manifests: only destinations with every artifact hold one, each verifies; prune and retryFailed restore a clean, complete state', async () => {
    const { settings, file } = await setup('manifest');
    const ins = inspector(settings);
    const c = startChild(child, [file, 'manifest']);
    expect(await c.next()).toEqual({ phase: 'manifest' });
    const localManifest = () => filesUnder(hostRoots(srv, settings).local).then((f) => f.some((x) => x.endsWith('manifest.json')));
    await until(localManifest, 'the local manifest');
    c.proc.kill('SIGKILL');
    expect(await c.exited).toBe(null);
    try {
      const [b, ...more] = await ins.arca.list('crash');
      expect(more).toEqual([]);
      expect(b!.destinations).toContain('local');
      expect(b!.destinations).not.toContain('sftp'); // its manifest put never finished
      await assertCommittedAreComplete(ins.arca);
      // prune keeps the backup (complete elsewhere); retryFailed completes the SFTP copy over its uncommitted files
      expect((await ins.arca.prune('crash', { leftoverGrace: 1 })).ok).toBe(true);
      const retry = await ins.arca.retryFailed('crash', b!.id);
      expect(retry.failed).toEqual([]);
      expect(retry.copied).toContain('sftp');
      expect((await ins.arca.list('crash'))[0]!.destinations.sort()).toEqual(['ftp', 'local', 's3', 'sftp']);
      await assertCommittedAreComplete(ins.arca);
      await assertClean(settings, ins.arca);
      await nextRunSucceeds(ins);
    } finally {
      await closeAll(ins.dests);
    }
  });
});
