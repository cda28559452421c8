/**
 * The source fails mid-dump while one job fans out to local + SFTP + FTP + S3: the
 * PostgreSQL backend serving pg_dump is terminated (pg_terminate_backend, on a throwaway
 * database of the shared service), or pg_dump itself is killed. The run is `failed`, no
 * destination holds a manifest or any visible object, and the error is SOURCE_FAILED with
 * pg_dump's stderr tail and without the password (result, run log, notification).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createArca, memoryRunLog, webhook, type RunResult, type Source } from '@arca/core';
import { describeWithService } from '@arca/core/test-kit';
import { postgres } from '@arca/source-postgres';
import { startReceiver } from '../../packages/core/test/notifier-receiver.js';
import { PG, childPids, createDb, dropAll, probePostgres, sql } from '../../packages/source-postgres/test/pg-helpers.js';
import { buildDestinations, closeAll, destinationSettings, filesUnder, hostRoots, serversProbe, useServers, useWorkDir } from './harness.js';

const PASSWORD = 'rel-Secret-7f3a9c'; // trust auth ignores it; it must still never show up

/**
 * pg_dump's output read slowly (25 ms per chunk), so pg_dump stays mid-dump, blocked on its
 * pipe; the reading waits for `onChunk`'s promise (the fault is injected while it waits).
 */
function slowly(source: Source, onChunk: (n: number) => void | Promise<void>): Source {
  return {
    ...source,
    async dump(o) {
      const d = await source.dump(o);
      return {
        ...d,
        stream: (async function* () {
          let n = 0;
          for await (const c of d.stream) {
            await onChunk(++n);
            await sleep(25);
            yield c;
          }
        })(),
      };
    },
  };
}

await describeWithService('the source fails mid-dump (PostgreSQL → local + SFTP + FTP + S3)', async () => (await probePostgres()) ?? (await serversProbe()), () => {
  const srv = useServers();
  const dir = useWorkDir('arca-rel-src');
  let work: string;
  let db: string;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  afterAll(() => dropAll());

  const scenario = async (sub: string, fail: () => Promise<void>) => {
    const settings = destinationSettings(srv, work, sub);
    const dests = buildDestinations(settings);
    const runLog = memoryRunLog();
    const seen = receiver.received.length;
    let failing: Promise<void> | undefined;
    const source = slowly(postgres({ ...PG, password: PASSWORD, database: db }), (n) => {
      if (n === 3) return (failing = fail());
    });
    const arca = createArca({
      destinations: dests,
      jobs: { pg: { sources: { db: source }, destinations: ['local', 'sftp', 'ftp', 's3'] } },
      notifiers: [webhook({ url: receiver.url('/hook') })],
      runLog,
    });
    try {
      const r: RunResult = await arca.run('pg');
      await failing;
      expect(failing, 'the failure was injected mid-dump').toBeDefined();
      expect(r.status).toBe('failed');
      expect(r.error?.code).toBe('SOURCE_FAILED');
      expect(r.destinations.map((d) => d.status)).toEqual(['failed', 'failed', 'failed', 'failed']);
      // nothing restorable, nothing visible, no manifest on any backend
      expect(await arca.list('pg')).toEqual([]);
      for (const [name, d] of Object.entries(dests)) {
        const keys: string[] = [];
        for await (const o of d.list('pg/')) keys.push(o.key);
        expect(keys, name).toEqual([]);
      }
      const roots = hostRoots(srv, settings);
      for (const name of ['local', 'sftp', 'ftp'] as const) expect((await filesUnder(roots[name])).filter((f) => f.includes('manifest')), name).toEqual([]);
      // the notification, and the password nowhere
      const [hook] = (await receiver.waitFor(seen + 1)).slice(seen);
      expect(hook!.json).toMatchObject({ kind: 'failure', job: 'pg' });
      const everything = JSON.stringify([r, await runLog.read(), hook!.body]);
      expect(everything).not.toContain(PASSWORD);
      expect(await childPids('pg_dump')).toEqual([]);
      return r;
    } finally {
      await closeAll(dests);
    }
  };

  // a throwaway database with three ~1.5 MB tables (pg_dump still needs its backend after the first)
  beforeAll(async () => {
    work = dir.path;
    [db, receiver] = await Promise.all([createDb('relsrc'), startReceiver()]);
    for (const t of ['a', 'b', 'c']) {
      await sql(db, `CREATE TABLE ${t} AS SELECT i, md5(i::text) || md5((i * 7)::text) AS s FROM generate_series(1, 20000) i`);
    }
  });

  it("pg_dump's backend terminated (pg_terminate_backend): failed, no manifest anywhere, SOURCE_FAILED with pg_dump's stderr tail", async () => {
    const r = await scenario('terminated', async () => {
      let pids: Array<{ pid: number }> = [];
      for (let i = 0; i < 500 && !pids.length; i++) {
        pids = await sql<{ pid: number }>('postgres', "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND query ILIKE 'COPY %'", [db]);
        if (!pids.length) await sleep(20);
      }
      expect(pids.length).toBe(1);
      await sql('postgres', 'SELECT pg_terminate_backend($1)', [pids[0]!.pid]);
    });
    expect(r.error!.message).toMatch(/pg_dump/);
    // pg_dump's own words about the lost connection, from its stderr
    expect(r.error!.message).toMatch(/terminat|server closed the connection|connection to server was lost/i);
  });

  it('pg_dump killed (SIGKILL): failed, no manifest anywhere, SOURCE_FAILED saying pg_dump was killed', async () => {
    const r = await scenario('killed', async () => {
      const [pid] = await childPids('pg_dump');
      expect(pid).toBeGreaterThan(0);
      process.kill(pid!, 'SIGKILL');
    });
    expect(r.error!.message).toMatch(/pg_dump failed .*killed by SIGKILL/s);
  });
});
