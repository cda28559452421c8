/**
 * The local destination runs out of space mid-backup: it is a real 2 MiB tmpfs mounted for
 * the test (`mount -t tmpfs -o size=2m`, root on Linux: the same on the CI machine kind),
 * the backup is 4 MiB and fans out to local + SFTP + S3. Local fails with DEST_FULL, its
 * temp file is gone (the tmpfs is empty again), the others complete, the run is `partial`
 * and the error says what to do.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createArca, localDir } from '@arca/core';
import { describeWithService } from '@arca/core/test-kit';
import { MiB, buildDestinations, closeAll, destinationSettings, filesUnder, patternBytes, serversProbe, throttledSource, useServers, useWorkDir } from './harness.js';

/** Can this process mount a tmpfs? (root on Linux; tried for real on a scratch folder) */
async function tmpfsProbe(): Promise<string | undefined> {
  if (process.platform !== 'linux') return 'tmpfs mounts need Linux';
  if (process.getuid?.() !== 0) return 'mounting a tmpfs needs root';
  const dir = await fs.mkdtemp('/tmp/arca-tmpfs-probe-');
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', dir], { stdio: 'pipe' });
    execFileSync('umount', [dir]);
    return undefined;
  } catch (e) {
    return `mount -t tmpfs failed here (${String((e as { stderr?: Buffer }).stderr ?? e).trim()})`;
  } finally {
    await fs.rmdir(dir).catch(() => {});
  }
}

await describeWithService('local destination out of space (2 MiB tmpfs) in a local + SFTP + S3 fan-out', async () => (await tmpfsProbe()) ?? (await serversProbe()), () => {
  const srv = useServers();
  const dir = useWorkDir('arca-rel-full');
  let mnt = '';
  beforeAll(async () => {
    mnt = path.join(dir.path, 'small-disk');
    await fs.mkdir(mnt);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mnt]);
  });
  afterAll(() => {
    if (mnt) execFileSync('umount', ['-l', mnt]); // before useWorkDir removes the folder (afterAll hooks run in reverse)
  });

  it('DEST_FULL on local with its temp file removed; SFTP and S3 complete; partial; retryFailed reports DEST_FULL again', async () => {
    const settings = destinationSettings(srv, mnt, 'full');
    const { sftp, s3 } = buildDestinations(settings);
    const local = localDir({ path: mnt, fsync: false });
    const data = patternBytes(4 * MiB, 'full');
    const arca = createArca({
      destinations: { local, sftp, s3 },
      jobs: { j: { sources: { data: throttledSource({ data, delayMs: 5 }) }, destinations: ['local', 'sftp', 's3'], compress: 'none' } },
    });
    const st0 = await fs.statfs(mnt);
    expect(st0.blocks * st0.bsize).toBeLessThanOrEqual(2 * MiB); // really the small tmpfs
    try {
      const r = await arca.run('j');
      expect(r.status).toBe('partial');
      const [l, ...others] = r.destinations;
      expect(l).toMatchObject({ name: 'local', status: 'failed', error: { code: 'DEST_FULL' } });
      expect(l!.error!.message).toMatch(/no space left/i);
      expect(l!.error!.message).toMatch(/Free space or prune old backups, then run again/); // says what to do
      expect(others.map((d) => [d.name, d.status])).toEqual([
        ['sftp', 'completed'],
        ['s3', 'completed'],
      ]);
      // the temp file is gone: nothing on the small disk but (at most) empty folders
      expect(await filesUnder(mnt)).toEqual([]);
      const st = await fs.statfs(mnt);
      expect(st.bfree).toBe(st.blocks);
      // the backup is restorable from the two others, byte for byte
      const v = await arca.verify('j', r.backupId, { level: 'checksum' });
      expect(v.destinations.filter((d) => d.holds).map((d) => [d.name, d.ok])).toEqual([
        ['sftp', true],
        ['s3', true],
      ]);
      // a retry on the same full disk fails the same clear way and leaves nothing either
      const retry = await arca.retryFailed('j', r.backupId);
      expect(retry.failed.map((f) => [f.name, f.error.code])).toEqual([['local', 'DEST_FULL']]);
      expect(await filesUnder(mnt)).toEqual([]);
    } finally {
      await closeAll({ sftp, s3 });
    }
  });
});
