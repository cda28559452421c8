import { afterEach, describe, expect, it, vi } from 'vitest';
import { createArca, memoryRunLog, type ArcaConfig, type RunLog, type RunLogEntry, type RunResult, type SkippedRun } from '@arca/core';
import { gatedSource, memoryDestination } from './scheduler-fixtures.js';

// Fake clock: croner arms setTimeout from Date.now(); the in-memory source and destination do
// no I/O, so advancing the clock runs whole backups deterministically.

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

function setup(jobs: Record<string, Partial<ArcaConfig['jobs'][string]>>, extra: Partial<ArcaConfig> = {}) {
  const sources: Record<string, ReturnType<typeof gatedSource>> = {};
  const config: ArcaConfig = { destinations: { mem: memoryDestination() }, jobs: {}, runLog: memoryRunLog(), ...extra };
  for (const [name, j] of Object.entries(jobs)) {
    sources[name] = gatedSource();
    config.jobs[name] = { sources: { data: sources[name]! }, destinations: ['mem'], compress: 'none', ...j };
  }
  const arca = createArca(config);
  const started: string[] = [];
  const done: RunResult[] = [];
  const skipped: SkippedRun[] = [];
  arca.on('run:start', (e) => started.push(`${e.job}@${e.trigger.scheduledFor}`));
  arca.on('run:done', (r) => done.push(r));
  arca.on('run:skipped', (s) => skipped.push(s));
  return { arca, sources, started, done, skipped };
}

describe('scheduler (fake clock)', () => {
  it('fires at the due times in the job time zone and stops firing after stop()', async () => {
    vi.useFakeTimers({ now: new Date('2026-07-01T23:58:30Z') }); // 01:58:30 in Rome
    const { arca, sources, started, done } = setup({ daily: { schedule: 'daily@02:00', timezone: 'Europe/Rome' }, partesa: { schedule: 'every 4h', timezone: 'UTC' } });
    sources.daily!.open();
    sources.partesa!.open();
    await arca.start();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(started).toEqual([]);
    await vi.advanceTimersByTimeAsync(31_000); // 00:00Z: 02:00 Rome and a 4-hour boundary
    expect(started.sort()).toEqual(['daily@2026-07-02T00:00:00.000Z', 'partesa@2026-07-02T00:00:00.000Z']);
    expect(done.map((r) => [r.job, r.status, r.trigger.type])).toEqual(expect.arrayContaining([['daily', 'completed', 'schedule'], ['partesa', 'completed', 'schedule']]));
    await vi.advanceTimersByTimeAsync(4 * 3600_000);
    expect(started.filter((s) => s.startsWith('partesa'))).toHaveLength(2);
    await arca.stop();
    await vi.advanceTimersByTimeAsync(24 * 3600_000);
    expect(started).toHaveLength(3);
    const history = await arca.history({ job: 'daily' });
    expect(history[0]).toMatchObject({ type: 'run', status: 'completed', trigger: { type: 'schedule', scheduledFor: '2026-07-02T00:00:00.000Z' } });
  });

  it('a due run of a job still running is skipped, recorded with LOCKED and emitted; the running one is untouched', async () => {
    vi.useFakeTimers({ now: new Date('2026-07-01T09:59:59Z') });
    const { arca, sources, done, skipped } = setup({ often: { schedule: 'every 1m' } });
    await arca.start();
    await vi.advanceTimersByTimeAsync(1_000); // 10:00 starts a run that waits at the gate
    expect(sources.often!.dumps).toBe(1);
    await vi.advanceTimersByTimeAsync(120_000); // 10:01 and 10:02 come while it runs
    expect(sources.often!.dumps).toBe(1);
    expect(skipped.map((s) => [s.status, s.error.code, s.trigger.scheduledFor])).toEqual([
      ['skipped', 'LOCKED', '2026-07-01T10:01:00.000Z'],
      ['skipped', 'LOCKED', '2026-07-01T10:02:00.000Z'],
    ]);
    sources.often!.open();
    await vi.advanceTimersByTimeAsync(0);
    expect(done.map((r) => r.status)).toEqual(['completed']);
    const skips = await arca.history({ job: 'often', status: 'skipped' });
    expect(skips).toHaveLength(2);
    expect(skips[0]).toMatchObject({ type: 'run', status: 'skipped', backupId: '', error: { code: 'LOCKED' } });
    expect(skips[0]!.type === 'run' && skips[0]!.error?.message).toMatch(/still running/);
    await vi.advanceTimersByTimeAsync(60_000); // 10:03 runs again
    expect(sources.often!.dumps).toBe(2);
    await arca.stop();
  });

  it('a lock held elsewhere skips the due run with LOCKED; a failing lock records a failed run', async () => {
    vi.useFakeTimers({ now: new Date('2026-07-01T09:59:59Z') });
    let mode: 'held' | 'broken' = 'held';
    const lock = {
      acquire: async () => {
        if (mode === 'broken') throw new Error('lock backend unreachable');
        return undefined;
      },
    };
    const { arca, sources, done, skipped } = setup({ j: { schedule: 'every 1m' } }, { lock });
    sources.j!.open();
    await arca.start();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(sources.j!.dumps).toBe(0);
    expect(skipped[0]).toMatchObject({ status: 'skipped', error: { code: 'LOCKED', message: expect.stringMatching(/elsewhere/) } });
    mode = 'broken';
    await vi.advanceTimersByTimeAsync(60_000);
    expect(done[0]).toMatchObject({ status: 'failed', backupId: '', error: { message: expect.stringMatching(/lock backend unreachable/) } });
    expect((await arca.history({ status: 'failed' })).length).toBe(1);
    await arca.stop();
  });

  it('the concurrency limit queues due runs across jobs; jitter delays a run within its window', async () => {
    vi.useFakeTimers({ now: new Date('2026-07-01T01:59:59Z') });
    vi.spyOn(Math, 'random').mockReturnValue(0.5);
    const { arca, sources, started } = setup(
      { a: { schedule: 'daily@02:00', timezone: 'UTC' }, b: { schedule: 'daily@02:00', timezone: 'UTC' }, c: { schedule: 'daily@02:00', timezone: 'UTC', jitterMs: 60_000 } },
      { scheduler: { concurrency: 1 } },
    );
    await arca.start();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(sources.a!.dumps + sources.b!.dumps).toBe(1); // one slot
    const first = sources.a!.dumps ? 'a' : 'b';
    const second = first === 'a' ? 'b' : 'a';
    sources[first]!.open();
    await vi.advanceTimersByTimeAsync(0);
    expect(sources[second]!.dumps).toBe(1); // the slot passed on
    expect(sources.c!.dumps).toBe(0);
    sources[second]!.open();
    await vi.advanceTimersByTimeAsync(29_000); // c's jitter (0.5 × 60 s) is not over yet
    expect(sources.c!.dumps).toBe(0);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(sources.c!.dumps).toBe(1);
    expect(started).toContain('c@2026-07-01T02:00:00.000Z'); // scheduledFor is the due time, not the jittered start
    sources.c!.open();
    await arca.stop();
  });

  it('stop({ timeoutMs }) lets a run finish within the timeout, aborts it after, and refuses new runs meanwhile', async () => {
    vi.useFakeTimers({ now: new Date('2026-07-01T09:59:59Z') });
    const { arca, sources, done } = setup({ slow: { schedule: 'hourly' }, manual: {} });
    await arca.start();
    await vi.advanceTimersByTimeAsync(1_000);
    const manual = arca.run('manual', { actor: 'alice' });
    await vi.advanceTimersByTimeAsync(0);
    expect(sources.slow!.dumps).toBe(1);
    expect(sources.manual!.dumps).toBe(1);
    let stopped = false;
    const stopping = arca.stop({ timeoutMs: 5_000 }).then(() => (stopped = true));
    await expect(arca.run('manual')).rejects.toMatchObject({ code: 'ABORTED', message: expect.stringMatching(/stopping/) });
    sources.manual!.open(); // this one finishes in time
    await vi.advanceTimersByTimeAsync(4_000);
    expect((await manual).status).toBe('completed');
    expect(stopped).toBe(false); // the scheduled one still runs
    await vi.advanceTimersByTimeAsync(1_000);
    await stopping;
    const slow = done.find((r) => r.job === 'slow')!;
    expect(slow).toMatchObject({ status: 'failed', error: { code: 'ABORTED', message: expect.stringMatching(/timeoutMs: 5000/) } });
    // started again later, schedules work again
    sources.slow!.open();
    await arca.start();
    await vi.advanceTimersByTimeAsync(3600_000);
    expect(sources.slow!.dumps).toBe(2);
    await arca.stop();
  });
});

describe('catch-up after downtime (fake clock)', () => {
  const yesterday: RunLogEntry = {
    type: 'run',
    runId: 'r1',
    job: 'daily',
    backupId: '20260309T010000Z-abcd',
    status: 'completed',
    trigger: { type: 'schedule', scheduledFor: '2026-03-09T01:00:00.000Z' },
    startedAt: '2026-03-09T01:00:00.010Z',
    finishedAt: '2026-03-09T01:00:04.000Z',
    durationMs: 3990,
    bytes: 6,
    artifacts: [],
    destinations: [],
  };

  async function seeded(): Promise<RunLog> {
    const log = memoryRunLog();
    await log.append(yesterday);
    return log;
  }

  it("catchUp: 'once' runs once on start when the host was down at 02:00, and not again on the next start", async () => {
    vi.useFakeTimers({ now: new Date('2026-03-10T08:00:00Z') }); // 09:00 in Rome, the 02:00 run was missed
    const runLog = await seeded();
    const { arca, sources, started } = setup({ daily: { schedule: 'daily@02:00', timezone: 'Europe/Rome', catchUp: 'once' } }, { runLog });
    sources.daily!.open();
    await arca.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(started).toEqual(['daily@2026-03-10T01:00:00.000Z']);
    await arca.stop();
    await arca.start(); // a restart an hour later: already caught up
    await vi.advanceTimersByTimeAsync(3600_000);
    expect(started).toHaveLength(1);
    await arca.stop();
    // a second instance over the same log, as after a process restart
    const again = setup({ daily: { schedule: 'daily@02:00', timezone: 'Europe/Rome', catchUp: 'once' } }, { runLog });
    await again.arca.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(again.started).toEqual([]);
    await again.arca.stop();
  });

  it("catchUp: 'none' (the default) waits for the next due time", async () => {
    vi.useFakeTimers({ now: new Date('2026-03-10T08:00:00Z') });
    const { arca, sources, started } = setup({ daily: { schedule: 'daily@02:00', timezone: 'Europe/Rome' } }, { runLog: await seeded() });
    sources.daily!.open();
    await arca.start();
    await vi.advanceTimersByTimeAsync(3600_000);
    expect(started).toEqual([]);
    await vi.advanceTimersByTimeAsync(16 * 3600_000); // next 02:00 Rome
    expect(started).toEqual(['daily@2026-03-11T01:00:00.000Z']);
    await arca.stop();
  });
});
