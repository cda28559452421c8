import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { expect, it } from 'vitest';
import { ArcaError, age, createArca, directory, generateAgeIdentity, localDir } from '@arca/core';
import { describeWithService } from '@arca/core/test-kit';
import { readTree, tempDir, writeTree } from './helpers.js';

const tools = async () =>
  spawnSync('age', ['--version']).status === 0 && spawnSync('zstd', ['--version']).status === 0 && spawnSync('tar', ['--version']).status === 0
    ? undefined
    : 'the `age`, `zstd` and `tar` commands (Debian packages age, zstd, tar) are needed';

await describeWithService('zstd + age backups open with standard tools and restore through Arca', tools, () => {
  it('run → `age -d -i key | zstd -d | tar` gives the source; restore works; a wrong key changes nothing', { timeout: 120_000 }, async () => {
    const dir = await tempDir('arca-e2e-codecs');
    const src = path.join(dir, 'uploads');
    await writeTree(src, { 'a.txt': 'alpha\n'.repeat(1000), 'img/b.bin': Buffer.alloc(300_000, 7), 'c.csv': 'id,name\n'.repeat(50_000) });
    const pair = generateAgeIdentity();
    const keyFile = path.join(dir, 'key.txt');
    await fs.writeFile(keyFile, pair.file, { mode: 0o600 });
    const backups = path.join(dir, 'backups');
    const job = { sources: { uploads: directory({ path: src }) }, destinations: ['local'], compress: 'zstd' as const, encrypt: age({ recipients: [pair.recipient] }) };

    // The backing-up instance knows only the public key.
    const writer = createArca({ destinations: { local: localDir({ path: backups }) }, jobs: { daily: job } });
    const run = await writer.run('daily');
    expect(run.status).toBe('completed');
    expect(run.artifacts[0]!.file).toBe('uploads.tar.zst.age');
    expect(run.artifacts[0]!.encoding).toEqual(['zstd', 'age']);

    // The manifest records the recipient, never a secret.
    const folder = path.join(backups, 'daily', run.backupId);
    const manifestText = await fs.readFile(path.join(folder, 'manifest.json'), 'utf8');
    expect(manifestText).toContain(pair.recipient);
    expect(manifestText).not.toMatch(/AGE-SECRET-KEY/i);

    // Standard tools, no Arca: age -d -i key.txt file | zstd -d | tar -x
    const out = path.join(dir, 'by-hand');
    await fs.mkdir(out);
    const sh = spawnSync('sh', ['-c', `age -d -i "$1" "$2" | zstd -d | tar -x -C "$3"`, 'sh', keyFile, path.join(folder, 'uploads.tar.zst.age'), out], { encoding: 'utf8' });
    expect(sh.status, sh.stderr).toBe(0);
    expect(await readTree(out)).toEqual(await readTree(src));

    // Without an identity, restoring says how to give one.
    const target = path.join(dir, 'restored');
    await writeTree(target, { 'keep.txt': 'the target before the restore' });
    const before = await readTree(target);
    const noKey = await writer.restore('daily', run.backupId, { into: directory({ path: target }), overwrite: true }).catch((e: unknown) => e);
    expect(noKey).toBeInstanceOf(ArcaError);
    expect((noKey as ArcaError).code).toBe('CODEC_FAILED');
    expect((noKey as ArcaError).message).toMatch(/identities/);
    expect(await readTree(target)).toEqual(before);

    // A wrong key fails clearly and leaves the target unchanged.
    const wrong = createArca({ destinations: { local: localDir({ path: backups }) }, jobs: { daily: job }, codecs: [age({ identities: generateAgeIdentity().identity })] });
    const e = await wrong.restore('daily', run.backupId, { into: directory({ path: target }), overwrite: true }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ArcaError);
    expect((e as ArcaError).code).toBe('DECRYPT_FAILED');
    expect((e as ArcaError).message).not.toMatch(/AGE-SECRET-KEY-1[0-9A-Z]{8}/);
    expect(await readTree(target)).toEqual(before);

    // A tampered stored file fails before the target changes.
    const stored = path.join(folder, 'uploads.tar.zst.age');
    const original = await fs.readFile(stored);
    const tampered = Buffer.from(original);
    tampered[tampered.length - 40]! ^= 1;
    await fs.writeFile(stored, tampered);
    const reader = createArca({ destinations: { local: localDir({ path: backups }) }, jobs: { daily: job }, codecs: [age({ identities: { file: keyFile } })] });
    const t = await reader.restore('daily', run.backupId, { into: directory({ path: target }), overwrite: true }).catch((x: unknown) => x);
    expect(['CORRUPT_ARTIFACT', 'CHECKSUM_MISMATCH']).toContain((t as ArcaError).code);
    expect(await readTree(target)).toEqual(before);
    await fs.writeFile(stored, original);

    // The right identity restores through Arca, and verify reads the whole chain.
    const r = await reader.restore('daily', run.backupId, { into: directory({ path: target }), overwrite: true });
    expect(r.artifacts[0]!.source).toBe('uploads');
    expect(await readTree(target)).toEqual(await readTree(src));
    const v = await reader.verify('daily', run.backupId, { level: 'checksum' });
    expect(v.ok).toBe(true);
  });
});
