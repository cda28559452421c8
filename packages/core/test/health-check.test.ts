import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createArca, localDir, type ArcaEvents, type Destination, type Notifier } from '@arca/core';
import { flaky, syntheticSource } from './fixtures.js';
import { tempDir } from './helpers.js';

const HOUR = 3_600_000;

describe('arca.health()', () => {
  it('RPO: unhealthy without a recent backup, once per change; recovered after a run; stale again later', async () => {
    const dir = await tempDir();
    const seen: string[] = [];
    const notified: string[] = [];
    const spy: Notifier = { name: 'spy', notify: async (e) => void notified.push(e.type) };
    const arca = createArca({
      destinations: { local: localDir({ path: path.join(dir, 'a') }) },
      jobs: { db: { sources: { data: syntheticSource(1000) }, destinations: ['local'], health: { maxAge: '26h' } }, other: { sources: { data: syntheticSource(10) }, destinations: ['local'] } },
      notifiers: [spy],
    });
    arca.on('health:unhealthy', (h) => seen.push(`unhealthy ${h.job}`));
    arca.on('health:recovered', (h) => seen.push(`recovered ${h.job}`));

    const first = await arca.health();
    expect(first.healthy).toBe(false);
    const db = first.jobs.find((j) => j.job === 'db')!;
    expect(db).toMatchObject({ healthy: false, maxAgeMs: 26 * HOUR, failedDestinations: [], storage: [{ destination: 'local', bytes: 0, backups: 0 }] });
    expect(db.problems).toEqual(['Job db has no completed backup yet (health.maxAge 26h): run it and check that its schedule is active.']);
    expect(first.jobs.find((j) => j.job === 'other')!.healthy).toBe(true);
    await arca.health();
    expect(seen).toEqual(['unhealthy db']);
    expect(notified).toEqual(['health:unhealthy']); // the default notifier filter includes health changes

    const run = await arca.run('db');
    const ok = await arca.health({ jobs: ['db'] });
    expect(ok.healthy).toBe(true);
    expect(ok.jobs[0]).toMatchObject({ newest: { id: run.backupId }, lastRun: { runId: run.runId, status: 'completed' } });
    expect(ok.jobs[0]!.storage[0]!.bytes).toBeGreaterThan(0);
    await arca.health({ jobs: ['db'] });
    expect(seen).toEqual(['unhealthy db', 'recovered db']);

    const later = await arca.health({ jobs: ['db'], now: new Date(Date.now() + 30 * HOUR) });
    expect(later.jobs[0]!.problems[0]).toMatch(new RegExp(`^The newest completed backup of db \\(${run.backupId}\\) is 1d [56]h old, older than health.maxAge 26h`));
    expect(seen).toEqual(['unhealthy db', 'recovered db', 'unhealthy db']);
    expect(notified).toEqual(['health:unhealthy', 'health:recovered', 'health:unhealthy']);
  });

  it('storage over maxStorageBytes, a destination that failed in the last run, a failed verify, an unlistable destination', async () => {
    const dir = await tempDir();
    const state = { failPuts: false };
    const listState = { fail: false };
    const nasInner = flaky(localDir({ path: path.join(dir, 'nas') }), state);
    const nas: Destination = {
      ...nasInner,
      name: 'nas',
      kind: 'local',
      list(prefix, o) {
        if (listState.fail) return (async function* () { throw new Error('connect ECONNREFUSED 127.0.0.1:2222'); })();
        return nasInner.list(prefix, o);
      },
    };
    const arca = createArca({
      destinations: { local: localDir({ path: path.join(dir, 'a') }), nas },
      jobs: { db: { sources: { data: syntheticSource(50_000) }, destinations: ['local', 'nas'], compress: 'none', health: { maxStorageBytes: 60_000 } } },
    });
    await arca.run('db');
    expect((await arca.health()).healthy).toBe(true);
    const second = await arca.run('db');
    let h = (await arca.health()).jobs[0]!;
    expect(h.problems).toHaveLength(2);
    expect(h.problems[0]).toMatch(/^Job db stores 9\d\.\d KiB on local, more than health.maxStorageBytes 58\.6 KiB: prune/);

    state.failPuts = true;
    const partial = await arca.run('db');
    expect(partial.status).toBe('partial');
    h = (await arca.health()).jobs[0]!;
    expect(h.failedDestinations).toEqual(['nas']);
    expect(h.problems.some((p) => p.startsWith(`Destination nas failed in the last run of db (injected: connection reset by peer): fix it, then run retryFailed for ${partial.backupId}.`))).toBe(true);

    // corrupt one stored artifact, verify: the failed verify is a health problem
    const file = path.join(dir, 'a', 'db', second.backupId, second.artifacts[0]!.file);
    await fs.writeFile(file, Buffer.alloc(50_000, 1));
    expect((await arca.verify('db', second.backupId)).ok).toBe(false);
    h = (await arca.health()).jobs[0]!;
    expect(h.lastVerify).toMatchObject({ backupId: second.backupId, ok: false });
    expect(h.problems.some((p) => p.startsWith(`The last verify of db (backup ${second.backupId}`))).toBe(true);

    listState.fail = true;
    h = (await arca.health()).jobs[0]!;
    expect(h.storage.find((s) => s.destination === 'nas')).toMatchObject({ error: { message: 'connect ECONNREFUSED 127.0.0.1:2222' } });
    expect(h.problems).toContain('Destination nas cannot be listed (connect ECONNREFUSED 127.0.0.1:2222). Check it with `arca check db`.');
  });

  it('watchHealth() checks periodically and emits only on changes; stop() ends it', async () => {
    const dir = await tempDir();
    const arca = createArca({
      destinations: { local: localDir({ path: path.join(dir, 'a') }) },
      jobs: { db: { sources: { data: syntheticSource(100) }, destinations: ['local'], health: { maxAge: '1h' } } },
    });
    const events: Array<ArcaEvents['health:unhealthy']> = [];
    const next = (name: 'health:unhealthy' | 'health:recovered') => new Promise<ArcaEvents['health:unhealthy']>((r) => { const off = arca.on(name, (h) => { off(); r(h); }); });
    arca.on('health:unhealthy', (h) => events.push(h));
    const firstUnhealthy = next('health:unhealthy');
    const stop = arca.watchHealth({ every: 20 });
    expect((await firstUnhealthy).job).toBe('db');
    const recovered = next('health:recovered');
    await arca.run('db');
    expect((await recovered).healthy).toBe(true);
    stop();
    expect(events).toHaveLength(1);
    expect(() => arca.watchHealth({ every: 'often' })).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
  });
});
