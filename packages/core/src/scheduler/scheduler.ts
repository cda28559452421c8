import { randomUUID } from 'node:crypto';
import { Cron } from 'croner';
import type { RunLogEntry, RunResult, SkippedRun } from '../contracts.js';
import { ArcaError, ErrorCodes, isArcaError, serializeError } from '../errors.js';
import { compileSchedule, toCron } from '../schedule.js';
import { type ArcaContext, notify, record, reportError } from '../pipeline/context.js';
import { runBackup, type RunOptions } from '../pipeline/run-backup.js';

export interface StopOptions {
  /**
   * How long to let running backups finish before aborting them through their AbortSignal
   * (they then end `failed` with `ABORTED`, leaving nothing half-written). Default: wait as
   * long as they take. `0` aborts at once.
   */
  timeoutMs?: number;
}

export interface SchedulerOptions {
  /** Scheduled runs allowed at once across all jobs; further due runs wait their turn (default: no limit). */
  concurrency?: number;
}

/**
 * The most recent due time of `schedule` that no run in `entries` covers, or `undefined`.
 * A run covers a due time when it started (or was scheduled for) at or after it. With no run
 * at all in `entries` nothing is known to be missed, so nothing is returned: catch-up needs a
 * run log that survives restarts (`jsonlRunLog`).
 */
export function missedRun(schedule: string, timezone: string | undefined, entries: RunLogEntry[], now: Date): Date | undefined {
  const cron = compileSchedule(schedule, timezone);
  const due = cron.previousRuns(1, now)[0];
  cron.stop();
  if (!due) return undefined;
  let last = -Infinity;
  for (const e of entries) {
    if (e.type !== 'run') continue;
    const planned = e.trigger.scheduledFor ? Date.parse(e.trigger.scheduledFor) : NaN;
    last = Math.max(last, Date.parse(e.startedAt), Number.isNaN(planned) ? -Infinity : planned);
  }
  return last !== -Infinity && last < due.getTime() ? due : undefined;
}

type Wait = { resolve: (ok: boolean) => void };

/**
 * The in-process scheduler and the run tracker behind `arca.run()`, `arca.start()` and
 * `arca.stop()`. Every backup started through it gets an AbortSignal that `stop()` fires
 * after its timeout; scheduled runs never overlap (a due run of a job that is still running,
 * here or, through the configured `Lock`, in another process, is skipped and recorded with
 * `LOCKED`).
 */
export function createScheduler(ctx: ArcaContext, options: SchedulerOptions = {}) {
  const active = new Map<Promise<RunResult>, AbortController>();
  const tasks = new Set<Promise<void>>();
  /** Jobs with a scheduled run waiting (jitter, concurrency) or running. */
  const pending = new Set<string>();
  /** Per job, the latest due time already fired: a wall clock stepped back (NTP) must not fire it again. */
  const lastDue = new Map<string, number>();
  const queue: Wait[] = [];
  const limit = options.concurrency ?? Infinity;
  let slots = 0;
  let crons: Cron[] = [];
  let session: AbortController | undefined;
  let starting: Promise<void> | undefined;
  let stopping: Promise<void> | undefined;

  function run(job: string, o: RunOptions = {}): Promise<RunResult> {
    if (stopping) {
      return Promise.reject(new ArcaError(ErrorCodes.ABORTED, `Arca is stopping, so the run of ${job} was refused. Call arca.start() or run it again after stop() resolved.`));
    }
    const ac = new AbortController();
    const signal = o.signal ? AbortSignal.any([o.signal, ac.signal]) : ac.signal;
    const p = runBackup(ctx, job, { ...o, signal });
    active.set(p, ac);
    p.then(
      () => active.delete(p),
      () => active.delete(p),
    );
    return p;
  }

  const track = (p: Promise<void>) => {
    tasks.add(p);
    void p.finally(() => tasks.delete(p));
  };

  const sleep = (ms: number, signal: AbortSignal) =>
    new Promise<boolean>((resolve) => {
      if (signal.aborted) return resolve(false);
      const t = setTimeout(() => {
        signal.removeEventListener('abort', onAbort);
        resolve(true);
      }, ms);
      const onAbort = () => {
        clearTimeout(t);
        resolve(false);
      };
      signal.addEventListener('abort', onAbort, { once: true });
    });

  const takeSlot = (signal: AbortSignal) =>
    new Promise<boolean>((resolve) => {
      if (signal.aborted) return resolve(false);
      if (slots < limit) {
        slots++;
        return resolve(true);
      }
      const w: Wait = { resolve };
      queue.push(w);
      signal.addEventListener('abort', () => {
        const i = queue.indexOf(w);
        if (i >= 0) queue.splice(i, 1);
        resolve(false);
      }, { once: true });
    });

  const releaseSlot = () => {
    const next = queue.shift();
    if (next) next.resolve(true); // the slot passes on
    else slots--;
  };

  /** The record of a scheduled run that never started: nothing was dumped or written. */
  function emptyRun<S extends 'skipped' | 'failed'>(job: string, scheduledFor: string, status: S, error: unknown) {
    const at = new Date().toISOString();
    return {
      runId: randomUUID(),
      job,
      backupId: '',
      status,
      trigger: { type: 'schedule' as const, scheduledFor },
      startedAt: at,
      finishedAt: at,
      durationMs: 0,
      bytes: 0,
      artifacts: [],
      destinations: [],
      error: serializeError(error),
    };
  }

  async function recordSkip(job: string, scheduledFor: string, error: unknown): Promise<void> {
    const entry: SkippedRun = emptyRun(job, scheduledFor, 'skipped', error);
    await record(ctx, { type: 'run', ...entry });
    ctx.emitter.emit('run:skipped', entry);
    await notify(ctx, { type: 'run:skipped', data: entry });
  }

  /** A scheduled run that could not even start (the lock backend failed): recorded as failed so it is seen and alerted on. */
  async function recordFailure(job: string, scheduledFor: string, error: unknown): Promise<void> {
    const result: RunResult = emptyRun(job, scheduledFor, 'failed', error);
    await record(ctx, { type: 'run', ...result });
    ctx.emitter.emit('run:done', result);
    await notify(ctx, { type: 'run:done', data: result });
  }

  function fire(job: string, due: Date, signal: AbortSignal): void {
    if (signal.aborted) return;
    if (due.getTime() <= (lastDue.get(job) ?? -Infinity)) return; // this due time already had its run (or its skip)
    lastDue.set(job, due.getTime());
    const scheduledFor = due.toISOString();
    if (pending.has(job)) {
      const e = new ArcaError(ErrorCodes.LOCKED, `Job ${job} was still running (or waiting for its turn) when its run due at ${scheduledFor} came; that run was skipped.`);
      track(recordSkip(job, scheduledFor, e));
      return;
    }
    pending.add(job);
    const jitterMs = ctx.jobs.get(job)?.config.jitterMs ?? 0;
    track(
      (async () => {
        try {
          if (jitterMs > 0 && !(await sleep(Math.floor(Math.random() * jitterMs), signal))) return;
          if (!(await takeSlot(signal))) return;
          try {
            await run(job, { trigger: { type: 'schedule', scheduledFor } });
          } finally {
            releaseSlot();
          }
        } catch (e) {
          if (isArcaError(e, ErrorCodes.LOCKED)) await recordSkip(job, scheduledFor, e);
          else if (!signal.aborted || !isArcaError(e, ErrorCodes.ABORTED)) await recordFailure(job, scheduledFor, e);
        } finally {
          pending.delete(job);
        }
      })(),
    );
  }

  async function runCatchUp(job: string, schedule: string, timezone: string | undefined, signal: AbortSignal): Promise<void> {
    try {
      const entries = await ctx.runLog.read({ job, type: 'run', limit: 50 });
      const due = missedRun(schedule, timezone, entries, new Date());
      if (due && !signal.aborted) fire(job, due, signal);
    } catch (e) {
      reportError(ctx, e, 'scheduler catch-up', { job });
    }
  }

  function start(): Promise<void> {
    if (starting) return starting;
    const begin = async () => {
      if (stopping) await stopping;
      const s = (session = new AbortController());
      const catchUps: Array<Promise<void>> = [];
      for (const job of ctx.jobs.values()) {
        const { schedule, timezone, catchUp } = job.config;
        if (!schedule) continue;
        const cron = new Cron(toCron(schedule), { timezone }, () => {
          // croner passes the actual time; record the time the run was due.
          const due = cron.previousRuns(1, new Date(Date.now() + 1))[0] ?? new Date();
          fire(job.name, due, s.signal);
        });
        crons.push(cron);
        if (catchUp === 'once') catchUps.push(runCatchUp(job.name, schedule, timezone, s.signal));
      }
      await Promise.all(catchUps);
    };
    starting = begin();
    return starting;
  }

  function stop(o: StopOptions = {}): Promise<void> {
    if (stopping) return stopping;
    stopping = (async () => {
      await starting?.catch(() => {});
      for (const c of crons) c.stop();
      crons = [];
      session?.abort(); // drops runs waiting for jitter or a concurrency slot
      let timer: NodeJS.Timeout | undefined;
      if (o.timeoutMs !== undefined) {
        timer = setTimeout(() => {
          for (const ac of active.values()) {
            ac.abort(new ArcaError(ErrorCodes.ABORTED, `Arca was stopped: the run was cancelled after stop({ timeoutMs: ${o.timeoutMs} }).`));
          }
        }, o.timeoutMs);
      }
      try {
        while (active.size || tasks.size) await Promise.allSettled([...active.keys(), ...tasks]);
      } finally {
        clearTimeout(timer);
      }
    })().finally(() => {
      stopping = undefined;
      starting = undefined;
      session = undefined;
    });
    return stopping;
  }

  return {
    run,
    start,
    stop,
    /** Whether schedules are armed. */
    get started(): boolean {
      return session !== undefined && !session.signal.aborted;
    },
  };
}

export type Scheduler = ReturnType<typeof createScheduler>;
