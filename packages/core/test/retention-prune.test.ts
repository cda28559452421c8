import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createArca, gfs, jsonlRunLog, localDir, maxAge, type Destination, type Source } from '@arca/core';
import { syntheticSource } from './fixtures.js';
import { tempDir } from './helpers.js';

const DAY = 86_400_000;
const stampOf = (t: Date) => t.toISOString().slice(0, 19).replace(/[-:]/g, '') + 'Z';

/**
 * Make real backups in the past: run the job once for real, then copy its folder on the
 * given destination roots to backup ids at `times`, with the manifest's id and dates set
 * accordingly (Arca cannot be told to run "40 days ago").
 */
async function seedBackups(roots: string[], job: string, templateId: string, times: Date[]): Promise<string[]> {
  const ids = times.map((t, i) => `${stampOf(t)}-${(0xa000 + i).toString(16)}`);
  for (const root of roots) {
    const tpl = path.join(root, job, templateId);
    const manifest = JSON.parse(await fs.readFile(path.join(tpl, 'manifest.json'), 'utf8'));
    for (const [i, id] of ids.entries()) {
      const dir = path.join(root, job, id);
      await fs.cp(tpl, dir, { recursive: true });
      const iso = times[i]!.toISOString();
      await fs.writeFile(path.join(dir, 'manifest.json'), JSON.stringify({ ...manifest, backupId: id, startedAt: iso, finishedAt: iso }));
    }
  }
  return ids;
}

async function exists(p: string) {
  return fs.stat(p).then(
    () => true,
    () => false,
  );
}

describe('arca.prune()', () => {
  it('per-destination policies: 7 days on the local disk, 30 days remote; dry run first, then delete, then nothing more', async () => {
    const dir = await tempDir();
    const [a, b] = [path.join(dir, 'local'), path.join(dir, 'remote')];
    const arca = createArca({
      destinations: { local: localDir({ path: a }), remote: localDir({ path: b }) },
      jobs: { db: { sources: { data: syntheticSource(2000) }, destinations: [{ name: 'local', retention: maxAge({ days: 7 }) }, { name: 'remote', retention: maxAge({ days: 30 }) }] } },
      runLog: jsonlRunLog(path.join(dir, 'runs.jsonl')),
    });
    const template = (await arca.run('db')).backupId;
    const newest = Date.UTC(2026, 2, 10, 2);
    const ids = await seedBackups([a, b], 'db', template, Array.from({ length: 40 }, (_, k) => new Date(newest - k * DAY)));
    await arca.deleteBackup('db', template);
    const now = new Date(newest + 3_600_000);

    const dry = await arca.prune('db', { dryRun: true, now, actor: 'alice' });
    expect(dry.dryRun).toBe(true);
    expect(dry.policies).toEqual({ local: 'keep backups younger than 7 days', remote: 'keep backups younger than 30 days' });
    expect(dry.decisions).toHaveLength(40);
    expect(dry.decisions.filter((d) => d.action === 'keep').map((d) => d.id)).toEqual(ids.slice(0, 7));
    expect(dry.decisions.filter((d) => d.action === 'partial').map((d) => d.id)).toEqual(ids.slice(7, 30));
    expect(dry.decisions.filter((d) => d.action === 'delete').map((d) => d.id)).toEqual(ids.slice(30));
    expect(dry.decisions[10]!.destinations).toEqual([
      { destination: 'local', action: 'delete', reasons: ['older than 7 days (10d 1h old)'] },
      { destination: 'remote', action: 'keep', reasons: ['younger than 30 days (10d 1h old)'] },
    ]);
    const perCopy = dry.decisions[0]!.bytes;
    expect(dry.freedBytes).toBe(perCopy * (33 + 10));
    // a dry run deletes nothing and records nothing
    expect((await arca.list('db')).length).toBe(40);
    expect((await arca.history({ job: 'db' })).filter((e) => e.type === 'audit' && e.action === 'prune')).toEqual([]);

    const real = await arca.prune('db', { now, actor: 'alice' });
    expect(real.ok).toBe(true);
    expect(real.decisions.map((d) => d.action)).toEqual(dry.decisions.map((d) => d.action));
    expect(real.decisions[35]!.destinations.every((x) => x.deleted === true)).toBe(true);
    const list = await arca.list('db');
    expect(list.map((x) => x.id)).toEqual(ids.slice(0, 30));
    expect(list.filter((x) => x.destinations.includes('local')).map((x) => x.id)).toEqual(ids.slice(0, 7));
    expect(await exists(path.join(a, 'db', ids[8]!))).toBe(false);
    expect(await exists(path.join(b, 'db', ids[8]!))).toBe(true);
    expect(await exists(path.join(b, 'db', ids[35]!))).toBe(false);

    // the run log has one prune entry per deleted backup (with actor and reasons) and a summary
    const audit = (await arca.history({ job: 'db' })).filter((e) => e.type === 'audit' && e.action === 'prune');
    expect(audit).toHaveLength(34);
    const summary = audit.find((e) => e.type === 'audit' && e.backupId === '')!;
    expect(summary).toMatchObject({ actor: 'alice', ok: true, details: { summary: true, freedBytes: dry.freedBytes } });
    const one = audit.find((e) => e.type === 'audit' && e.backupId === ids[35])!;
    expect(one).toMatchObject({ actor: 'alice', ok: true, details: { deletedFrom: ['local', 'remote'], reasons: { local: ['older than 7 days (35d 1h old)'], remote: ['older than 30 days (35d 1h old)'] } } });

    const again = await arca.prune('db', { now, actor: 'alice' });
    expect(again.decisions.every((d) => d.action === 'keep')).toBe(true);
    expect(again.freedBytes).toBe(0);
  });

  it('the job policy applies to destinations without their own; the newest backup survives however old', async () => {
    const dir = await tempDir();
    const arca = createArca({
      destinations: { local: localDir({ path: path.join(dir, 'l') }) },
      jobs: { db: { sources: { data: syntheticSource(500) }, destinations: ['local'], retention: gfs({ daily: 2 }) } },
    });
    const template = (await arca.run('db')).backupId;
    const old = Date.UTC(2025, 0, 10, 2);
    const ids = await seedBackups([path.join(dir, 'l')], 'db', template, [new Date(old), new Date(old - DAY), new Date(old - 2 * DAY)]);
    await arca.deleteBackup('db', template);
    const r = await arca.prune('db', { now: new Date(Date.UTC(2026, 0, 1)) });
    expect(r.policies).toEqual({ local: 'keep 2 daily backups' });
    expect(r.decisions.map((d) => [d.id, d.action, d.destinations[0]!.reasons[0]])).toEqual([
      [ids[0], 'keep', 'daily snapshot'],
      [ids[1], 'keep', 'daily snapshot'],
      [ids[2], 'delete', 'the 2 daily slots are taken by newer backups'],
    ]);
    const onlyAge = createArca({
      destinations: { local: localDir({ path: path.join(dir, 'l') }) },
      jobs: { db: { sources: { data: syntheticSource(500) }, destinations: ['local'], retention: maxAge({ days: 1 }) } },
    });
    const r2 = await onlyAge.prune('db', { now: new Date(Date.UTC(2026, 0, 1)) });
    expect(r2.decisions.map((d) => d.action)).toEqual(['keep', 'delete']);
    expect(r2.decisions[0]!.destinations[0]!.reasons[0]).toBe('newest backup (always kept)');
    expect((await onlyAge.list('db')).map((b) => b.id)).toEqual([ids[0]]);
  });

  it('leftovers without a manifest are removed only past the grace period and never while a run is in progress', async () => {
    const dir = await tempDir();
    const root = path.join(dir, 'l');
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let started!: () => void;
    const running = new Promise<void>((r) => (started = r));
    const slow: Source = {
      kind: 'slow',
      describe: () => ({ kind: 'slow' }),
      async dump() {
        async function* stream() {
          started();
          await gate;
          yield new Uint8Array(10);
        }
        return { filename: 'x.bin', stream: stream(), meta: async () => ({}) };
      },
    };
    const arca = createArca({ destinations: { local: localDir({ path: root }) }, jobs: { db: { sources: { data: slow }, destinations: ['local'], retention: maxAge({ days: 30 }) } } });
    const now = new Date();
    const oldId = `${stampOf(new Date(now.getTime() - 3 * DAY))}-dead01`;
    const youngId = `${stampOf(new Date(now.getTime() - 3_600_000))}-dead02`;
    for (const id of [oldId, youngId]) {
      await fs.mkdir(path.join(root, 'db', id), { recursive: true });
      await fs.writeFile(path.join(root, 'db', id, 'data.bin.gz'), 'half written');
    }

    const run = arca.run('db');
    await running;
    const during = await arca.prune('db', { now });
    // the running backup's own temp file is listed too (prune sees temp files of killed runs), and kept like the others
    expect(during.leftovers.every((l) => l.action === 'keep' && l.reason === 'a run of this job is in progress in this process')).toBe(true);
    expect(during.leftovers.filter((l) => l.backupId === youngId || l.backupId === oldId).map((l) => [l.backupId, l.action, l.reason])).toEqual([
      [youngId, 'keep', 'a run of this job is in progress in this process'],
      [oldId, 'keep', 'a run of this job is in progress in this process'],
    ]);
    expect(await exists(path.join(root, 'db', oldId))).toBe(true);
    release();
    expect((await run).status).toBe('completed');

    const dry = await arca.prune('db', { now, dryRun: true });
    expect(dry.leftovers).toEqual([
      { destination: 'local', backupId: youngId, objects: 1, bytes: 12, action: 'keep', reason: 'incomplete (no manifest) but younger than the grace period 1d (1h old)' },
      { destination: 'local', backupId: oldId, objects: 1, bytes: 12, action: 'delete', reason: 'incomplete (no manifest) and 3d old, past the grace period 1d' },
    ]);
    expect(dry.freedBytes).toBe(12);
    const real = await arca.prune('db', { now, actor: 'cron' });
    expect(real.leftovers.find((l) => l.backupId === oldId)).toMatchObject({ action: 'delete', deleted: true });
    expect(await exists(path.join(root, 'db', oldId))).toBe(false);
    expect(await exists(path.join(root, 'db', youngId))).toBe(true);
    expect((await arca.list('db')).length).toBe(1);
    // a shorter grace period, given as a duration
    const short = await arca.prune('db', { now, leftoverGrace: '30m' });
    expect(short.leftovers).toMatchObject([{ backupId: youngId, action: 'delete', deleted: true }]);
    await expect(arca.prune('db', { leftoverGrace: 'soon' })).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
    await expect(arca.prune('nope')).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('a destination that refuses deletes: the report says which copies failed, the others are deleted, nothing is thrown', async () => {
    const dir = await tempDir();
    const inner = localDir({ path: path.join(dir, 'b') });
    const stubborn: Destination = {
      ...inner,
      name: inner.name,
      kind: inner.kind,
      async delete() {
        throw Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' });
      },
    };
    const arca = createArca({
      destinations: { a: localDir({ path: path.join(dir, 'a') }), b: stubborn },
      jobs: { db: { sources: { data: syntheticSource(500) }, destinations: ['a', 'b'], retention: gfs({ last: 1 }) } },
    });
    const first = (await arca.run('db')).backupId;
    await arca.run('db');
    const r = await arca.prune('db');
    expect(r.ok).toBe(false);
    const d = r.decisions.find((x) => x.id === first)!;
    expect(d.destinations.find((x) => x.destination === 'a')).toMatchObject({ action: 'delete', deleted: true });
    expect(d.destinations.find((x) => x.destination === 'b')).toMatchObject({ action: 'delete', deleted: false, error: { code: 'DEST_UNREACHABLE' } });
    expect((await arca.list('db')).find((x) => x.id === first)?.destinations).toEqual(['b']);
  });
});
