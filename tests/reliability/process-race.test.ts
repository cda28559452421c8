/**
 * Two real processes race for the same job at the same instant (a start barrier), sharing
 * the destinations local + SFTP + FTP + S3, with the lock each deployment would use: a file
 * lock (one host) and PostgreSQL advisory locks (several hosts sharing a database). Exactly
 * one runs; the other is refused with LOCKED without touching any destination; exactly one
 * backup exists everywhere, complete and verified, and nothing else is left.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createArca, directory } from '@arca/core';
import { describeWithService } from '@arca/core/test-kit';
import { startChild } from '../../packages/core/test/process-harness.js';
import { PG, probePostgres } from '../../packages/source-postgres/test/pg-helpers.js';
import { bundleFixture } from './child-harness.js';
import { buildDestinations, closeAll, destinationSettings, filesUnder, hostRoots, serversProbe, useServers, useWorkDir } from './harness.js';

await describeWithService('two processes racing for the same job (local + SFTP + FTP + S3)', async () => (await serversProbe()) ?? (await probePostgres()), () => {
  const srv = useServers();
  const dir = useWorkDir('arca-rel-race');
  let child: string;
  let work: string;
  beforeAll(async () => {
    work = dir.path;
    child = await bundleFixture('race-child');
  });
  afterAll(() => (child ? fs.rm(child, { force: true }) : undefined));

  const race = async (sub: string, lockArgs: string[]) => {
    const settings = destinationSettings(srv, work, sub);
    const file = path.join(work, `${sub}.json`);
    await fs.writeFile(file, JSON.stringify(settings));
    const a = startChild(child, [file, ...lockArgs]);
    const b = startChild(child, [file, ...lockArgs]);
    expect(await a.next()).toMatchObject({ ready: true });
    expect(await b.next()).toMatchObject({ ready: true });
    a.send('go');
    b.send('go');
    const results = [await a.next(), await b.next()];
    expect(await a.exited).toBe(0);
    expect(await b.exited).toBe(0);
    const winners = results.filter((r) => r.status === 'completed');
    const losers = results.filter((r) => r.code === 'LOCKED');
    expect(winners, JSON.stringify(results)).toHaveLength(1);
    expect(losers, JSON.stringify(results)).toHaveLength(1);
    expect(String(losers[0]!.error)).toMatch(/already running elsewhere/);

    const dests = buildDestinations(settings);
    try {
      const arca = createArca({ destinations: dests, jobs: { race: { sources: { data: directory({ path: work }) }, destinations: ['local', 'sftp', 'ftp', 's3'] } } });
      const backups = await arca.list('race');
      expect(backups.map((x) => x.id)).toEqual([winners[0]!.backupId]);
      expect(backups[0]!.destinations.sort()).toEqual(['ftp', 'local', 's3', 'sftp']);
      expect((await arca.verify('race', backups[0]!.id, { level: 'checksum' })).ok).toBe(true);
      const roots = hostRoots(srv, settings);
      const expected = [`race/${backups[0]!.id}/data.bin`, `race/${backups[0]!.id}/manifest.json`];
      for (const n of ['local', 'sftp', 'ftp'] as const) expect(await filesUnder(roots[n]), n).toEqual(expected);
    } finally {
      await closeAll(dests);
    }
  };

  it('file lock on one host: one run, one LOCKED, one complete backup everywhere', async () => {
    const locks = path.join(work, 'locks');
    await race('file', ['file', locks]);
    expect(await fs.readdir(locks)).toEqual([]); // released
  });

  it('PostgreSQL advisory lock (several hosts): one run, one LOCKED, one complete backup everywhere', async () => {
    await race('pg', ['pg', JSON.stringify({ ...PG, database: 'postgres', namespace: `rel-${process.pid}` })]);
  });
});
