/**
 * Wrong and rotated age keys, end to end through local + S3 (s3rver): a backup encrypted to
 * key A, the job rotated to key B, then restores with the wrong, the rotated-away and both
 * identities. A wrong identity is DECRYPT_FAILED naming the public keys the backup's
 * manifest lists and the ones provided (never a secret key), and the target is unchanged;
 * keeping the old identity next to the new one restores every backup.
 */
import * as path from 'node:path';
import { beforeAll, expect, it } from 'vitest';
import { age, createArca, directory, generateAgeIdentity, type Arca } from '@arca/core';
import { describeWithService } from '@arca/core/test-kit';
import { readTree, writeTree } from '../../packages/core/test/helpers.js';
import { buildDestinations, closeAll, destinationSettings, serversProbe, useServers, useWorkDir } from './harness.js';

await describeWithService('wrong and rotated encryption keys (local + S3)', serversProbe, () => {
  const srv = useServers();
  const dir = useWorkDir('arca-rel-keys');
  let work: string;
  beforeAll(() => {
    work = dir.path;
  });

  it('a backup made before a key rotation: wrong key refused with both key lists, target untouched; old + new identities restore both', async () => {
    const settings = destinationSettings(srv, work, 'keys');
    const { local, s3 } = buildDestinations(settings);
    const src = path.join(work, 'src');
    await writeTree(src, { 'secret-plans.txt': 'launch on tuesday\n' });
    const A = generateAgeIdentity();
    const B = generateAgeIdentity();
    const stranger = generateAgeIdentity();
    const make = (recipient: string, identities: string[]): Arca =>
      createArca({
        destinations: { local, s3 },
        jobs: { j: { sources: { files: directory({ path: src }) }, destinations: ['local', 's3'], encrypt: age({ recipients: [recipient] }) } },
        codecs: identities.length ? [age({ identities })] : [],
      });
    try {
      const before = await make(A.recipient, []).run('j');
      expect(before.status).toBe('completed');
      const after = await make(B.recipient, []).run('j'); // rotated: new backups go to B only
      expect(after.status).toBe('completed');
      // the manifests list the public key each backup was encrypted to
      const reader = make(B.recipient, []);
      const m1 = JSON.stringify((await reader.get('j', before.backupId)).manifest.codecs);
      const m2 = JSON.stringify((await reader.get('j', after.backupId)).manifest.codecs);
      expect(m1).toContain(A.recipient);
      expect(m2).toContain(B.recipient);
      expect(m1 + m2).not.toMatch(/AGE-SECRET-KEY/);

      const target = path.join(work, 'target');
      await writeTree(target, { 'keep.txt': 'untouched\n' });
      const untouched = await readTree(target);
      const restore = (arca: Arca, id: string, from?: string) =>
        arca.restore('j', id, { into: directory({ path: target }), overwrite: true, ...(from ? { from } : {}) }).then(
          () => undefined,
          (e: unknown) => e as { code: string; message: string },
        );

      // only the new key B: the old backup cannot be opened, from either destination
      for (const from of ['local', 's3']) {
        const e = await restore(make(B.recipient, [B.identity]), before.backupId, from);
        expect(e?.code, from).toBe('DECRYPT_FAILED');
        expect(e!.message).toContain(A.recipient); // what the manifest lists
        expect(e!.message).toContain(B.recipient); // what was provided
        expect(e!.message).not.toContain(B.identity);
        expect(e!.message).not.toMatch(/AGE-SECRET-KEY/);
        expect(await readTree(target)).toEqual(untouched);
      }
      // a stranger's key opens neither
      const e = await restore(make(B.recipient, [stranger.identity]), after.backupId);
      expect(e?.code).toBe('DECRYPT_FAILED');
      expect(e!.message).toContain(B.recipient);
      expect(e!.message).toContain(stranger.recipient);
      expect(await readTree(target)).toEqual(untouched);

      // keeping the rotated-away identity next to the new one restores both backups
      const both = make(B.recipient, [B.identity, A.identity]);
      for (const id of [before.backupId, after.backupId]) {
        expect(await restore(both, id)).toBeUndefined();
        expect(await readTree(target)).toEqual(await readTree(src));
      }
    } finally {
      await closeAll({ s3 });
    }
  });
});
