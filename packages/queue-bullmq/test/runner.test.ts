import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { Queue, type Job } from 'bullmq';
import { afterEach, describe, expect, it } from 'vitest';
import { createArca, isArcaError, localDir, memoryRunLog, type Arca, type ArcaConfig, type Destination, type RunLog, type RunLogEntry, type RunResult, type Source } from '@arca/core';

type RunEntry = RunLogEntry & { type: 'run' };
import { describeWithService } from '@arca/core/test-kit';
import { bullmqRunner, type BullmqRunnerOptions, type RunJobData } from '@arca/queue-bullmq';
import { REDIS_URL, deleteKeys, redisProbe, tempDir, uniquePrefix } from './harness.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
});

/** A source whose stream waits for `open()` (no sleeps: the test decides when the dump goes on). */
function gatedSource(o: { fail?: boolean } = {}) {
  let open!: () => void;
  let gate = new Promise<void>((r) => (open = r));
  const source: Source = {
    kind: 'gated',
    describe: () => ({}),
    async dump(d) {
      return {
        filename: 'data.bin',
        stream: (async function* () {
          yield new Uint8Array(1024).fill(1);
          await new Promise<void>((resolve, reject) => {
            void gate.then(resolve);
            d?.signal?.addEventListener('abort', () => reject(d.signal!.reason), { once: true });
          });
          if (o.fail) throw new Error('the source failed on purpose');
          yield new Uint8Array(1024).fill(2);
        })(),
        meta: async () => ({}),
      };
    },
  };
  return {
    source,
    open: () => open(),
    reset: () => void (gate = new Promise<void>((r) => (open = r))),
  };
}

const instant: Source = {
  kind: 'instant',
  describe: () => ({}),
  async dump() {
    return { filename: 'x.bin', stream: (async function* () { yield new Uint8Array(16); })(), meta: async () => ({}) };
  },
};

describe('bullmqRunner options', () => {
  it('rejects bad options with CONFIG_INVALID, listing each problem, without echoing the password', () => {
    let err: unknown;
    try {
      bullmqRunner({ connection: 'redis://:Sup3rSecretPw@127.0.0.1:6379/x', queueName: 'bad name!', concurrency: 0 } as BullmqRunnerOptions);
    } catch (e) {
      err = e;
    }
    expect(isArcaError(err, 'CONFIG_INVALID')).toBe(true);
    expect((err as Error).message).toMatch(/queueName/);
    expect((err as Error).message).toMatch(/concurrency/);
    expect((err as Error).message).not.toMatch(/Sup3rSecretPw/);
    expect(() => bullmqRunner({ connection: 'http://127.0.0.1:6379' })).toThrow(/redis:\/\//);
    expect(() => bullmqRunner({ connection: 'redis://127.0.0.1:6379/zero' })).toThrow(/database number/);
  });

  it('createArca refuses a runner that is not one', () => {
    const config = { destinations: { d: localDir({ path: '/tmp/x' }) }, jobs: { j: { sources: { s: instant }, destinations: ['d'] } }, runner: { kind: 'x' } } as unknown as ArcaConfig;
    expect(() => createArca(config)).toThrow(/runner: must be a Runner/);
  });
});

describe('core: arca.enqueue without a runner (the in-process default)', () => {
  it('resolves with the run id once the run started, before it finished; LOCKED and NOT_FOUND reject', async () => {
    const dir = await tempDir('arca-enqueue');
    cleanups.push(() => fs.rm(dir, { recursive: true, force: true }));
    const g = gatedSource();
    const runLog = memoryRunLog();
    const arca = createArca({ destinations: { local: localDir({ path: dir }) }, jobs: { j: { sources: { s: g.source }, destinations: ['local'] } }, runLog });
    const done = new Promise<RunResult>((resolve) => arca.on('run:done', resolve));
    const { runId } = await arca.enqueue('j', { actor: 'bob' });
    expect(await runLog.read()).toEqual([]); // still running
    await expect(arca.enqueue('j')).rejects.toMatchObject({ code: 'LOCKED' });
    await expect(arca.enqueue('nope')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    g.open();
    expect(await done).toMatchObject({ runId, status: 'completed', trigger: { type: 'manual', actor: 'bob' } });
    expect(((await runLog.read()) as RunEntry[]).map((e) => e.runId)).toEqual([runId]);
  });
});

await describeWithService('bullmqRunner in one process (several Arca instances on a real Redis)', redisProbe, () => {
  async function cluster(n: number, opts: { jobs?: ArcaConfig['jobs']; runner?: Partial<BullmqRunnerOptions>; runLog?: RunLog; destinations?: ArcaConfig['destinations'] } = {}) {
    const dir = await tempDir('arca-bullmq-unit');
    const prefix = uniquePrefix();
    cleanups.push(() => fs.rm(dir, { recursive: true, force: true }));
    cleanups.push(() => deleteKeys(prefix));
    const runLog = opts.runLog ?? memoryRunLog();
    const arcas: Arca[] = [];
    for (let i = 0; i < n; i++) {
      const arca = createArca({
        destinations: opts.destinations ?? { local: localDir({ path: path.join(dir, 'backups') }) },
        jobs: opts.jobs ?? { j: { sources: { s: instant }, destinations: ['local'], compress: 'none' } },
        runLog,
        runner: bullmqRunner({ connection: REDIS_URL, prefix, ...opts.runner }),
      });
      cleanups.push(() => arca.stop({ timeoutMs: 0 }));
      arcas.push(arca);
    }
    return { arcas, runLog, prefix, dir };
  }

  it('retries a failed run with backoff, each attempt a run of its own; the first attempt keeps the given run id', async () => {
    const g = gatedSource({ fail: true });
    g.open();
    const { arcas, runLog } = await cluster(1, {
      jobs: { j: { sources: { s: g.source }, destinations: ['local'], compress: 'none' } },
      runner: { attempts: 3, backoff: { type: 'fixed', delayMs: 20 } },
    });
    await arcas[0]!.start();
    const r = await arcas[0]!.run('j', { runId: '11111111-1111-4111-8111-111111111111', actor: 'alice' });
    expect(r.status).toBe('failed');
    const entries = (await runLog.read({ type: 'run' })) as RunEntry[];
    expect(entries).toHaveLength(3);
    expect(entries.every((e) => e.status === 'failed' && e.trigger.actor === 'alice')).toBe(true);
    expect(entries[2]!.runId).toBe('11111111-1111-4111-8111-111111111111');
    expect(entries[0]!.runId).toBe(r.runId);
    expect(new Set(entries.map((e) => e.runId)).size).toBe(3);
  });

  it('never retries a partial run (retryFailed is the tool for it)', async () => {
    const broken: Destination = {
      ...localDir({ path: '/nonexistent-root-dir/x' }),
      name: 'broken',
      put: async () => {
        throw new Error('this destination refuses writes');
      },
    };
    const dir = await tempDir('arca-bullmq-partial');
    cleanups.push(() => fs.rm(dir, { recursive: true, force: true }));
    const { arcas, runLog } = await cluster(1, {
      destinations: { local: localDir({ path: dir }), broken },
      jobs: { j: { sources: { s: instant }, destinations: ['local', 'broken'], compress: 'none' } },
      runner: { attempts: 3, backoff: { type: 'fixed', delayMs: 20 } },
    });
    await arcas[0]!.start();
    const r = await arcas[0]!.run('j');
    expect(r.status).toBe('partial');
    expect(await runLog.read({ type: 'run' })).toHaveLength(1);
  });

  it('one run of a job at a time across instances: a second manual run is refused LOCKED and recorded as skipped', async () => {
    const g = gatedSource();
    const { arcas, runLog } = await cluster(2, { jobs: { j: { sources: { s: g.source }, destinations: ['local'], compress: 'none' } } });
    await Promise.all(arcas.map((a) => a.start()));
    const started = new Promise<string>((resolve) => arcas[0]!.on('run:start', (e) => resolve(e.runId)));
    const first = arcas[0]!.run('j');
    const firstId = await started; // one worker holds the job now; the other takes the next queue job
    await expect(arcas[1]!.run('j')).rejects.toMatchObject({ code: 'LOCKED' });
    g.open();
    expect((await first).status).toBe('completed');
    const entries = (await runLog.read({ type: 'run' })) as RunEntry[];
    const skipped = entries.find((e) => e.status === 'skipped')!;
    expect(skipped.error!.code).toBe('LOCKED');
    expect(skipped.error!.message).toContain(firstId);
    expect(entries.filter((e) => e.status === 'completed').map((e) => e.runId)).toEqual([firstId]);
  });

  it('stop({ timeoutMs: 0 }) aborts the running backup: recorded failed ABORTED, nothing committed', async () => {
    const g = gatedSource();
    const { arcas, runLog, dir } = await cluster(1, { jobs: { j: { sources: { s: g.source }, destinations: ['local'], compress: 'none' } } });
    await arcas[0]!.start();
    const started = new Promise<{ runId: string; backupId: string }>((resolve) => arcas[0]!.on('run:start', resolve));
    const { runId } = await arcas[0]!.enqueue('j');
    const s = await started;
    expect(s.runId).toBe(runId);
    await arcas[0]!.stop({ timeoutMs: 0 });
    const [e] = await runLog.read({ type: 'run' });
    expect(e).toMatchObject({ runId, status: 'failed', error: { code: 'ABORTED' } });
    await expect(fs.stat(path.join(dir, 'backups', 'j', s.backupId, 'manifest.json'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('stop() gives a run that was taken but not started (waiting for its jitter) back to the queue, unrecorded', async () => {
    const { arcas, runLog, prefix } = await cluster(1, { jobs: { j: { sources: { s: instant }, destinations: ['local'], schedule: '* * * * * *', jitterMs: 600_000 } } });
    const q = new Queue<RunJobData>('arca', { connection: { host: '127.0.0.1', port: 6379 }, prefix });
    cleanups.push(() => q.close());
    await arcas[0]!.start();
    // The worker takes the first due run and waits for its jitter (up to 10 minutes).
    let active: Job<RunJobData>[] = [];
    while (!active.length) active = await q.getJobs(['active'], 0, -1, true);
    const taken = active[0]!;
    await arcas[0]!.stop();
    const back = (await q.getJob(taken.id!))!;
    expect(['delayed', 'waiting', 'wait']).toContain(await back.getState());
    expect(back.data.current).toBeUndefined();
    expect(await runLog.read()).toEqual([]);
  });

  it('health() shows the queue: counts, next times by Arca schedule semantics, a missing worker', async () => {
    const { arcas } = await cluster(1, {
      jobs: { daily: { sources: { s: instant }, destinations: ['local'], schedule: 'daily@02:30', timezone: 'Europe/Rome' }, adhoc: { sources: { s: instant }, destinations: ['local'] } },
      runner: { worker: false },
    });
    await expect(arcas[0]!.enqueue('nope')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await arcas[0]!.start();
    await arcas[0]!.enqueue('adhoc');
    const h = await arcas[0]!.health();
    const runner = h.runner as unknown as { ok: boolean; problems: string[]; counts: Record<string, number>; schedules: Array<{ job: string; next: string }>; workers: number };
    expect(runner.ok).toBe(false);
    expect(runner.workers).toBe(0);
    expect(runner.problems.join('\n')).toMatch(/No worker is connected/);
    expect(runner.counts.waiting).toBe(1);
    expect(runner.schedules).toEqual([{ job: 'daily', pattern: '30 2 * * *', timezone: 'Europe/Rome', next: arcas[0]!.nextRuns('daily', 1)[0]!.toISOString() }]);
  });

  it("catchUp: 'once' queues a missed due time once for the whole cluster", async () => {
    const runLog = memoryRunLog();
    const old = new Date(Date.now() - 3 * 86_400_000).toISOString();
    await runLog.append({ type: 'run', runId: 'old', job: 'daily', backupId: '', status: 'completed', trigger: { type: 'schedule' }, startedAt: old, finishedAt: old, durationMs: 0, bytes: 0, artifacts: [], destinations: [] });
    const { arcas } = await cluster(3, { runLog, jobs: { daily: { sources: { s: instant }, destinations: ['local'], compress: 'none', schedule: 'daily@02:00', timezone: 'UTC', catchUp: 'once' } } });
    const done = new Promise<RunResult>((resolve) => arcas[0]!.on('run:done', resolve));
    await Promise.all(arcas.map((a) => a.start()));
    const r = await done;
    const due = new Date();
    due.setUTCHours(2, 0, 0, 0);
    if (due.getTime() > Date.now()) due.setUTCDate(due.getUTCDate() - 1);
    expect(r).toMatchObject({ status: 'completed', trigger: { type: 'schedule', scheduledFor: due.toISOString() } });
    await Promise.all(arcas.map((a) => a.stop()));
    expect(((await runLog.read({ type: 'run' })) as RunEntry[]).map((e) => e.runId)).toEqual([r.runId, 'old']);
  });

  it('removes the job scheduler of a job that no longer has a schedule', async () => {
    const first = await cluster(1, { jobs: { a: { sources: { s: instant }, destinations: ['local'], schedule: 'hourly' }, b: { sources: { s: instant }, destinations: ['local'], schedule: 'hourly' } }, runner: { worker: false } });
    await first.arcas[0]!.start();
    const arca = createArca({
      destinations: { local: localDir({ path: path.join(first.dir, 'b2') }) },
      jobs: { a: { sources: { s: instant }, destinations: ['local'], schedule: 'hourly' }, b: { sources: { s: instant }, destinations: ['local'] } },
      runner: bullmqRunner({ connection: REDIS_URL, prefix: first.prefix, worker: false }),
    });
    cleanups.push(() => arca.stop());
    await arca.start();
    const runner = (await arca.health()).runner as unknown as { schedules: Array<{ job: string }> };
    expect(runner.schedules.map((s) => s.job)).toEqual(['a']);
  });

  it('an unreachable Redis shows in health() within seconds, and stop() still returns', async () => {
    const arca = createArca({
      destinations: { local: localDir({ path: '/tmp/arca-unused' }) },
      jobs: { j: { sources: { s: instant }, destinations: ['local'] } },
      runner: bullmqRunner({ connection: 'redis://:NotShownPw@127.0.0.1:1', worker: false }),
    });
    const errors: string[] = [];
    arca.on('error', (e) => errors.push(e.error.message));
    const starting = arca.start(); // keeps retrying in the background
    const h = await arca.health();
    expect(h.runner).toMatchObject({ kind: 'bullmq', ok: false });
    expect(h.runner!.problems[0]).toMatch(/Redis did not answer|ECONNREFUSED/);
    await arca.stop();
    await starting; // start() gave up when stop() cut the connections; it never rejects
    expect(errors.join('\n')).toMatch(/ECONNREFUSED/);
    expect(errors.join('\n')).not.toMatch(/NotShownPw/);
  });
});
