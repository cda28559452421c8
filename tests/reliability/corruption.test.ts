/**
 * Corrupted copies of one backup (two directory artifacts, `docs` and `media`) on local +
 * SFTP + FTP + S3, damaged on the servers' own storage: a flipped byte (SFTP), a truncated
 * file (FTP), a missing object (S3), a swapped manifest (local: another backup's manifest
 * put in its place). `verify` names exactly the destination and artifact of each; restore
 * refuses while no good copy of an artifact exists, and the target folder stays byte for
 * byte as it was (no half-restored files, no temp folders).
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { beforeAll, expect, it } from 'vitest';
import { createArca, directory, type Arca, type ArcaEvents } from '@arca/core';
import { describeWithService } from '@arca/core/test-kit';
import { readTree, writeTree } from '../../packages/core/test/helpers.js';
import { buildDestinations, closeAll, destinationSettings, hostRoots, patternBytes, serversProbe, useServers, useWorkDir } from './harness.js';

await describeWithService('corrupted artifacts across local + SFTP + FTP + S3', serversProbe, () => {
  const srv = useServers();
  const dir = useWorkDir('arca-rel-corrupt');
  let work: string;
  beforeAll(() => {
    work = dir.path;
  });

  it('verify names each damaged destination and artifact; restore refuses and leaves the target byte-for-byte unchanged', async () => {
    const settings = destinationSettings(srv, work, 'corrupt');
    const dests = buildDestinations(settings);
    const docsDir = path.join(work, 'docs');
    const mediaDir = path.join(work, 'media');
    await writeTree(docsDir, { 'a.txt': 'alpha\n', 'sub/b.txt': 'beta\n' });
    await writeTree(mediaDir, { 'photo.bin': patternBytes(300_000, 'photo') });
    const arca: Arca = createArca({
      destinations: dests,
      jobs: { j: { sources: { docs: directory({ path: docsDir }), media: directory({ path: mediaDir }) }, destinations: ['local', 'sftp', 'ftp', 's3'] } },
    });
    const errors: Array<ArcaEvents['error']> = [];
    arca.on('error', (e) => errors.push(e));
    try {
      const one = await arca.run('j');
      const two = await arca.run('j');
      expect([one.status, two.status]).toEqual(['completed', 'completed']);
      const media = one.artifacts.find((a) => a.source === 'media')!.file;
      const docs = one.artifacts.find((a) => a.source === 'docs')!.file;
      const roots = hostRoots(srv, settings);
      const at = (name: keyof typeof roots, file: string) => path.join(roots[name], 'j', one.backupId, file);

      // the damage, done to the stored bytes on each backend
      const flipped = await fs.readFile(at('sftp', media));
      flipped[Math.floor(flipped.length / 2)]! ^= 0x01;
      await fs.writeFile(at('sftp', media), flipped);
      await fs.truncate(at('ftp', media), Math.floor((await fs.stat(at('ftp', media))).size / 2));
      await dests.s3.delete([`j/${one.backupId}/${media}`]);
      await fs.copyFile(path.join(roots.local, 'j', two.backupId, 'manifest.json'), at('local', 'manifest.json'));

      const v = await arca.verify('j', one.backupId, { level: 'checksum' });
      expect(v.ok).toBe(false);
      const row = (n: string) => v.destinations.find((d) => d.name === n)!;
      const art = (n: string, f: string) => row(n).artifacts.find((a) => a.file === f)!;
      // local: its manifest is another backup's, so it does not hold this one; the catalog says why
      expect(row('local')).toMatchObject({ holds: false, ok: false, error: { code: 'CORRUPT_ARTIFACT' } });
      expect(row('local').error!.message).toBe(`local:j/${one.backupId}/manifest.json describes j/${two.backupId}, not j/${one.backupId}: it was moved or tampered with.`);
      expect(errors.map((e) => e.error.message).join('\n')).toMatch(new RegExp(`local:j/${one.backupId}/manifest.json describes j/${two.backupId}, not j/${one.backupId}`));
      // SFTP: the flipped byte, same size, wrong sha256
      expect(art('sftp', media)).toMatchObject({ ok: false, actualBytes: one.artifacts.find((a) => a.source === 'media')!.bytes, error: { code: 'CHECKSUM_MISMATCH' } });
      expect(art('sftp', media).error!.message).toContain(`sftp:j/${one.backupId}/${media}`);
      // FTP: truncated
      expect(art('ftp', media)).toMatchObject({ ok: false, error: { code: 'CHECKSUM_MISMATCH' } });
      expect(art('ftp', media).actualBytes).toBeLessThan(art('ftp', media).expectedBytes);
      // S3: missing
      expect(art('s3', media)).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
      // and only those: docs is intact on the three holders
      for (const n of ['sftp', 'ftp', 's3']) expect(art(n, docs), `${n} ${docs}`).toMatchObject({ ok: true });

      // the restore target: existing content that must survive every refused restore
      const target = path.join(work, 'restore-here');
      await writeTree(target, { 'keep.txt': 'precious\n', 'photo.bin': 'the old photo' });
      const before = await readTree(target);
      const parentBefore = (await fs.readdir(work)).sort();
      for (const from of [undefined, 'sftp', 'ftp', 's3', 'local']) {
        const e = await arca
          .restore('j', one.backupId, { artifact: 'media', into: directory({ path: target }), overwrite: true, ...(from ? { from } : {}) })
          .then(() => undefined, (x: unknown) => x as { code: string; message: string });
        expect(e, `restore from ${from ?? 'any'}`).toBeDefined();
        expect(['CHECKSUM_MISMATCH', 'NOT_FOUND', 'CORRUPT_ARTIFACT']).toContain(e!.code);
        expect(await readTree(target), `target after restore from ${from ?? 'any'}`).toEqual(before);
        expect((await fs.readdir(work)).sort()).toEqual(parentBefore); // no temp restore folder left beside it
      }
      // the intact artifact still restores (from the first good copy), proving the refusals were about the damage
      const ok = path.join(work, 'docs-restored');
      const rep = await arca.restore('j', one.backupId, { artifact: 'docs', into: directory({ path: ok }) });
      expect(rep.artifacts.map((a) => a.from)).toEqual(['sftp']);
      expect(await readTree(ok)).toEqual(await readTree(docsDir));
    } finally {
      await closeAll(dests);
    }
  });
});
