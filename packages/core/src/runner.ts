import type { ArcaEventName, ArcaEvents, RunLog, RunResult, SkippedRun } from './contracts.js';
import type { Listener } from './events.js';
import { type ArcaContext, notify, record } from './pipeline/context.js';
import type { RunOptions } from './pipeline/run-backup.js';
import type { StopOptions } from './scheduler/scheduler.js';

/** A scheduled job as a runner sees it (the config's schedule compiled to cron). */
export interface ScheduledJob {
  job: string;
  /** The job's `schedule` as a cron expression (5 fields, or 6 with seconds first). */
  cron: string;
  timezone?: string;
  catchUp: 'none' | 'once';
  jitterMs: number;
}

/** What createArca gives a runner: the local pipeline and the instance's events and run log. */
export interface RunnerHost {
  /** Every job with a schedule. */
  readonly scheduledJobs: ScheduledJob[];
  /** Every job name, in config order. */
  readonly jobs: string[];
  /**
   * Run a backup in this process (the run tracker behind `arca.stop()`: it honours the
   * configured `lock`, rejects `LOCKED` for a job already running here, `ABORTED` while stopping).
   * Resolves with the result also for a failed backup. `o.runId` fixes the run id.
   */
  runLocal(job: string, o?: RunOptions): Promise<RunResult>;
  /**
   * Record an outcome that no local run produced (a skipped run, a run whose process died):
   * appends it to the run log, emits `run:done` / `run:skipped` and notifies, like a run would.
   */
  recordRun(entry: RunResult | SkippedRun): Promise<void>;
  /** Re-emit an event of a run executing elsewhere on this instance's listeners (no run log, no notifiers). */
  emit<K extends ArcaEventName>(event: K, data: ArcaEvents[K]): void;
  /** Listen to this instance's events (to forward those of local runs). */
  on<K extends ArcaEventName>(event: K, listener: Listener<K>): () => void;
  readonly runLog: RunLog;
}

/** What a runner reports in `arca.health()` (e.g. queue counts and next scheduled times). */
export interface RunnerStatus {
  kind: string;
  ok: boolean;
  problems: string[];
  [fact: string]: unknown;
}

/** A runner bound to one Arca instance. */
export interface BoundRunner {
  /** Arm schedules and start executing runs (idempotent); MUST NOT reject (problems become `error` events). */
  start(): Promise<void>;
  /** Stop taking runs; wait for the running ones (aborting them after `timeoutMs`, see `arca.stop()`). */
  stop(o?: StopOptions): Promise<void>;
  /** Dispatch a run and resolve with its result (also for a failed backup). */
  run(job: string, o?: RunOptions): Promise<RunResult>;
  /** Dispatch a run and resolve with its id as soon as it is accepted, without waiting for it. */
  enqueue(job: string, o?: RunOptions): Promise<{ runId: string }>;
  /** Queue and schedule state for `arca.health()`. */
  status?(): Promise<RunnerStatus>;
}

/**
 * Decides how scheduled and manual runs are dispatched (`createArca({ runner })`). Without one,
 * Arca uses its in-process scheduler. A runner MUST end every run it accepted with exactly one
 * run-log entry (through `runLocal` or `recordRun`), on some instance.
 */
export interface Runner {
  readonly kind: string;
  /** Called once by `createArca`. */
  bind(host: RunnerHost): BoundRunner;
}

/** Append an outcome to the run log, emit it and notify (what the scheduler does for its own skips). */
export async function recordRunOutcome(ctx: ArcaContext, entry: RunResult | SkippedRun): Promise<void> {
  await record(ctx, { type: 'run', ...entry });
  if (entry.status === 'skipped') {
    ctx.emitter.emit('run:skipped', entry);
    await notify(ctx, { type: 'run:skipped', data: entry });
  } else {
    ctx.emitter.emit('run:done', entry);
    await notify(ctx, { type: 'run:done', data: entry });
  }
}
