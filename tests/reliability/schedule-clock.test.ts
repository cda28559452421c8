/**
 * The live scheduler (arca.start()) under wall-clock jumps and DST changes. The clock is the
 * process's fake clock (vitest fake timers over Date and the timers croner arms): jumping
 * the real system clock would disturb every other process on the machine (and CI), so this
 * is the one scenario that does not run against the real clock. Runs go to an in-memory
 * destination (no I/O, so whole runs complete under the fake clock).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createArca, memoryRunLog, type RunResult } from '@arca/core';
import { gatedSource, memoryDestination } from '../../packages/core/test/scheduler-fixtures.js';

afterEach(() => {
  vi.useRealTimers();
});

function scheduled(schedule: string, timezone = 'Europe/Rome') {
  const source = gatedSource();
  source.open();
  const arca = createArca({
    destinations: { mem: memoryDestination() },
    jobs: { nightly: { sources: { data: source }, destinations: ['mem'], compress: 'none', schedule, timezone } },
    runLog: memoryRunLog(),
  });
  const done: RunResult[] = [];
  arca.on('run:done', (r) => done.push(r));
  return { arca, done, due: () => done.map((r) => r.trigger.scheduledFor) };
}

describe('schedules under clock jumps and DST (live scheduler, fake clock)', () => {
  it('the clock jumps forward over the due time (host suspended, NTP step): the missed 02:00 run happens once, soon after', async () => {
    vi.useFakeTimers({ now: new Date('2026-07-01T23:59:50Z') }); // 01:59:50 in Rome
    const { arca, done, due } = scheduled('daily@02:00');
    await arca.start();
    vi.setSystemTime(new Date('2026-07-02T03:00:00Z')); // 05:00 in Rome: 02:00 passed while "asleep"
    await vi.advanceTimersByTimeAsync(60_000);
    expect(due()).toEqual(['2026-07-02T00:00:00.000Z']);
    expect(done[0]!.status).toBe('completed');
    await vi.advanceTimersByTimeAsync(3 * 3600_000);
    expect(due()).toHaveLength(1); // not repeated
    await arca.stop();
  });

  it('the clock jumps back over a due time that already ran: the 02:00 run does not run twice', async () => {
    vi.useFakeTimers({ now: new Date('2026-07-01T23:59:50Z') });
    const { arca, due } = scheduled('daily@02:00');
    await arca.start();
    await vi.advanceTimersByTimeAsync(15_000); // 02:00:05: the run happened
    expect(due()).toEqual(['2026-07-02T00:00:00.000Z']);
    vi.setSystemTime(new Date('2026-07-01T23:58:00Z')); // NTP steps the clock back to 01:58
    await vi.advanceTimersByTimeAsync(10 * 60_000);
    expect(due()).toEqual(['2026-07-02T00:00:00.000Z']);
    // and the next day runs as usual
    await vi.advanceTimersByTimeAsync(24 * 3600_000);
    expect(due()).toEqual(['2026-07-02T00:00:00.000Z', '2026-07-03T00:00:00.000Z']);
    await arca.stop();
  });

  it('spring forward in Rome: a 02:30 job runs once, at 03:00 CEST, on the day 02:30 does not exist', async () => {
    vi.useFakeTimers({ now: new Date('2026-03-29T00:00:00Z') }); // 01:00 CET, an hour before the change
    const { arca, due } = scheduled('daily@02:30');
    await arca.start();
    await vi.advanceTimersByTimeAsync(26 * 3600_000);
    expect(due()).toEqual(['2026-03-29T01:00:00.000Z', '2026-03-30T00:30:00.000Z']);
    await arca.stop();
  });

  it('fall back in Rome: a 02:30 job runs once although 02:30 happens twice', async () => {
    vi.useFakeTimers({ now: new Date('2026-10-25T00:00:00Z') }); // 02:00 CEST, before the first 02:30
    const { arca, due } = scheduled('daily@02:30');
    await arca.start();
    await vi.advanceTimersByTimeAsync(26 * 3600_000);
    expect(due()).toEqual(['2026-10-25T00:30:00.000Z', '2026-10-26T01:30:00.000Z']);
    await arca.stop();
  });
});
