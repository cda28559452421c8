import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ArcaError, createArca, directory, localDir, type ArcaEvents } from '@arca/core';
import { readTree, tempDir, writeTree } from './helpers.js';

async function setup() {
  const dir = await tempDir();
  const src = path.join(dir, 'src');
  await writeTree(src, { 'a.txt': 'alpha', 'b/c.txt': 'gamma'.repeat(1000) });
  const arca = createArca({
    destinations: { local: localDir({ path: path.join(dir, 'local') }), external: localDir({ path: path.join(dir, 'external') }) },
    jobs: { daily: { sources: { files: directory({ path: src }) }, destinations: ['local', 'external'] } },
  });
  const errors: ArcaEvents['error'][] = [];
  arca.on('error', (e) => errors.push(e));
  const run = await arca.run('daily');
  expect(run.status).toBe('completed');
  const backupDir = (d: string) => path.join(dir, d, 'daily', run.backupId);
  return { dir, src, arca, run, errors, backupDir };
}

function codeOf(e: unknown): string | undefined {
  return e instanceof ArcaError ? e.code : undefined;
}

describe('invalid config is refused with every problem listed', () => {
  const dest = localDir({ path: '/tmp/arca-never-written' });
  const src = directory({ path: '/tmp' });
  const cases: Array<[string, () => unknown, RegExp]> = [
    ['unknown destination', () => createArca({ destinations: { dest }, jobs: { j: { sources: { s: src }, destinations: ['nope'] } } }), /unknown destination "nope"/],
    ['bad job name', () => createArca({ destinations: { dest }, jobs: { '../evil': { sources: { s: src }, destinations: ['dest'] } } }), /invalid job name/],
    ['no sources', () => createArca({ destinations: { dest }, jobs: { j: { sources: {}, destinations: ['dest'] } } }), /at least one source/],
    ['not a source', () => createArca({ destinations: { dest }, jobs: { j: { sources: { s: { path: '/x' } as never }, destinations: ['dest'] } } }), /must be a Source/],
    ['bad schedule', () => createArca({ destinations: { dest }, jobs: { j: { sources: { s: src }, destinations: ['dest'], schedule: 'dialy@02:00' } } }), /Invalid schedule "dialy@02:00"/],
    ['bad schedule time', () => createArca({ destinations: { dest }, jobs: { j: { sources: { s: src }, destinations: ['dest'], schedule: 'daily@25:00' } } }), /not a time/],
    ['unknown key (typo)', () => createArca({ destinations: { dest }, jobs: { j: { sources: { s: src }, destinations: ['dest'], retension: 3 } as never } }), /retension/],
    ['bad compress', () => createArca({ destinations: { dest }, jobs: { j: { sources: { s: src }, destinations: ['dest'], compress: 'rar' as never } } }), /compress/],
  ];
  for (const [label, fn, message] of cases) {
    it(label, () => {
      let e: unknown;
      try {
        fn();
      } catch (x) {
        e = x;
      }
      expect(codeOf(e)).toBe('CONFIG_INVALID');
      expect((e as Error).message).toMatch(message);
    });
  }

  it('lists several problems at once', () => {
    const e = (() => {
      try {
        createArca({ destinations: { dest }, jobs: { a: { sources: { s: src }, destinations: ['x'] }, b: { sources: { s: src }, destinations: ['dest'], schedule: 'nope' } } });
      } catch (x) {
        return x as Error;
      }
    })();
    expect(e?.message).toMatch(/jobs\.a\.destinations.*\n.*jobs\.b\.schedule/s);
  });

  it('accepts presets and cron, and tells the next runs', () => {
    const arca = createArca({ destinations: { dest }, jobs: { j: { sources: { s: src }, destinations: ['dest'], schedule: 'weekly@sun 03:00', timezone: 'Europe/Rome' } } });
    const [next] = arca.nextRuns('j', 1, new Date('2026-11-25T12:00:00Z'));
    expect(next?.toISOString()).toBe('2026-11-29T02:00:00.000Z');
  });
});

describe('bad ids, unknown jobs and missing backups', () => {
  it('unknown job → NOT_FOUND naming the configured jobs', async () => {
    const { arca } = await setup();
    const e = await arca.run('weekly').catch((x: unknown) => x);
    expect(codeOf(e)).toBe('NOT_FOUND');
    expect((e as Error).message).toMatch(/Configured jobs: daily/);
    expect(codeOf(await arca.list('weekly').catch((x: unknown) => x))).toBe('NOT_FOUND');
  });

  it('ids with ../, NUL or garbage → KEY_INVALID for every operation', async () => {
    const { arca, dir } = await setup();
    for (const id of ['../../etc', '20261122T020000Z-7f3a/../../x', '20261122T020000Z-7f3a\0', 'x']) {
      for (const op of [
        () => arca.get('daily', id),
        () => arca.verify('daily', id),
        () => arca.restore('daily', id, { into: directory({ path: path.join(dir, 'r') }) }),
        () => arca.deleteBackup('daily', id),
        () => arca.retryFailed('daily', id),
      ]) {
        expect(codeOf(await op().catch((x: unknown) => x))).toBe('KEY_INVALID');
      }
    }
  });

  it('restore of an id that does not exist → NOT_FOUND, nothing created', async () => {
    const { arca, dir } = await setup();
    const e = await arca.restore('daily', '20200101T000000Z-abcd', { into: directory({ path: path.join(dir, 'r') }) }).catch((x: unknown) => x);
    expect(codeOf(e)).toBe('NOT_FOUND');
    await expect(fs.stat(path.join(dir, 'r'))).rejects.toThrow();
  });
});

describe('corruption', () => {
  it('a corrupted artifact fails verify on that copy, and restore falls back to the good copy', async () => {
    const { arca, run, backupDir, dir, src } = await setup();
    const file = path.join(backupDir('local'), run.artifacts[0]!.file);
    const bytes = await fs.readFile(file);
    bytes[Math.floor(bytes.length / 2)]! ^= 0xff;
    await fs.writeFile(file, bytes);

    const v = await arca.verify('daily', run.backupId);
    expect(v.ok).toBe(false);
    expect(v.destinations.find((d) => d.name === 'local')?.artifacts[0]?.error?.code).toBe('CHECKSUM_MISMATCH');
    expect(v.destinations.find((d) => d.name === 'external')?.ok).toBe(true);
    expect((await arca.verify('daily', run.backupId, { level: 'exists' })).ok).toBe(true);

    const only = path.join(dir, 'from-local');
    const e = await arca.restore('daily', run.backupId, { into: directory({ path: only }), from: 'local' }).catch((x: unknown) => x);
    expect(['CHECKSUM_MISMATCH', 'CORRUPT_ARTIFACT']).toContain(codeOf(e));
    await expect(fs.stat(only)).rejects.toThrow();

    const good = path.join(dir, 'restored');
    const r = await arca.restore('daily', run.backupId, { into: directory({ path: good }) });
    expect(r.artifacts[0]!.from).toBe('external');
    expect(await readTree(good)).toEqual(await readTree(src));
  });

  it('a truncated artifact is caught by size and checksum', async () => {
    const { arca, run, backupDir, dir } = await setup();
    const file = path.join(backupDir('local'), run.artifacts[0]!.file);
    await fs.truncate(file, 20);
    const v = await arca.verify('daily', run.backupId, { level: 'exists', destinations: ['local'] });
    expect(v.ok).toBe(false);
    const e = await arca.restore('daily', run.backupId, { into: directory({ path: path.join(dir, 'r') }), from: 'local' }).catch((x: unknown) => x);
    expect(['CHECKSUM_MISMATCH', 'CORRUPT_ARTIFACT']).toContain(codeOf(e));
    await expect(fs.stat(path.join(dir, 'r'))).rejects.toThrow();
  });

  it('a truncated manifest makes that copy unlisted (with an error event) but keeps the good one', async () => {
    const { arca, run, backupDir, errors } = await setup();
    const m = path.join(backupDir('local'), 'manifest.json');
    await fs.truncate(m, 100);
    const list = await arca.list('daily');
    expect(list.map((b) => [b.id, b.destinations])).toEqual([[run.backupId, ['external']]]);
    expect(errors.some((e) => e.error.code === 'CORRUPT_ARTIFACT' && /manifest\.json is not valid JSON/.test(e.error.message))).toBe(true);
  });

  it('a backup with no manifest anywhere is never listed nor restorable', async () => {
    const { arca, run, backupDir, dir } = await setup();
    await fs.rm(path.join(backupDir('local'), 'manifest.json'));
    await fs.rm(path.join(backupDir('external'), 'manifest.json'));
    expect(await arca.list('daily')).toEqual([]);
    const e = await arca.restore('daily', run.backupId, { into: directory({ path: path.join(dir, 'r') }) }).catch((x: unknown) => x);
    expect(codeOf(e)).toBe('NOT_FOUND');
  });

  it('a manifest that parses but lies about its job is rejected', async () => {
    const { arca, backupDir } = await setup();
    const m = path.join(backupDir('local'), 'manifest.json');
    const json = JSON.parse(await fs.readFile(m, 'utf8'));
    json.job = 'other';
    await fs.writeFile(m, JSON.stringify(json));
    expect((await arca.list('daily'))[0]!.destinations).toEqual(['external']);
  });
});

describe('in-place restore', () => {
  it('takes a safety backup first, refuses a non-empty target without overwrite, then replaces it', async () => {
    const { arca, run, src } = await setup();
    await fs.writeFile(path.join(src, 'a.txt'), 'changed after the backup');
    const refused = await arca.restore('daily', run.backupId).catch((x: unknown) => x);
    expect(codeOf(refused)).toBe('TARGET_NOT_EMPTY');
    expect(await fs.readFile(path.join(src, 'a.txt'), 'utf8')).toBe('changed after the backup');
    const r = await arca.restore('daily', run.backupId, { overwrite: true, actor: 'alice' });
    expect(r.safetyBackupId).toBeDefined();
    expect(await fs.readFile(path.join(src, 'a.txt'), 'utf8')).toBe('alpha');
    const safety = await arca.get('daily', r.safetyBackupId!);
    expect(safety.trigger).toEqual({ type: 'safety', actor: 'alice' });
    expect(safety.tags).toContain('pre-restore');
  });
});
