import { randomUUID } from 'node:crypto';
import * as os from 'node:os';
import { DelayedError, UnrecoverableError, type Job } from 'bullmq';
import {
  ArcaError,
  ErrorCodes,
  isArcaError,
  serializeError,
  type ArcaEventName,
  type ArcaEvents,
  type RunResult,
  type RunnerHost,
  type SkippedRun,
  type Trigger,
} from '@arca/core';
import type { JobMutex, MutexHolder } from './job-mutex.js';

/** The attempt in progress, written to the queue job before the backup starts. */
export interface CurrentAttempt {
  runId: string;
  backupId?: string;
  startedAt: string;
  instance: string;
  hostname: string;
  pid: number;
}

/** What a queue job carries. Scheduled jobs get `{ job, kind: 'schedule' }` from their scheduler. */
export interface RunJobData {
  job: string;
  kind: 'schedule' | 'manual';
  /** Catch-up runs: the due time they stand for (scheduler jobs carry it as `prevMillis`). */
  scheduledFor?: string;
  /** Manual runs: the run id returned by `enqueue()`, used by the first attempt. */
  runId?: string;
  trigger?: Trigger;
  tags?: string[];
  /** Run ids of the attempts made so far. */
  runIds?: string[];
  /** Set while an attempt runs; found set by the next worker when the previous one died. */
  current?: CurrentAttempt;
}

/** What a finished queue job returns (and QueueEvents carries to every instance). */
export interface RunJobResult {
  result: RunResult | SkippedRun;
}

/** A run event forwarded through job progress: instance id, event name, payload. */
export interface ForwardedEvent {
  o: string;
  e: ArcaEventName;
  d: unknown;
}

const FORWARDED: ArcaEventName[] = ['run:start', 'progress', 'destination:done', 'run:done', 'run:skipped'];

export interface ProcessorDeps {
  host: RunnerHost;
  mutex: JobMutex;
  instance: string;
  rerunAbandoned: boolean;
  /** Resolves false when the runner stops during the wait. */
  sleep(ms: number): Promise<boolean>;
}

const nowIso = () => new Date().toISOString();

/** The due time of a job created by a job scheduler (BullMQ stores it as `prevMillis`). */
export function scheduledFor(job: Job): string {
  const millis = (job.opts as { prevMillis?: number }).prevMillis ?? job.timestamp + (job.opts.delay ?? 0);
  return new Date(millis).toISOString();
}

function triggerOf(job: Job<RunJobData>): Trigger {
  return job.data.kind === 'schedule' ? { type: 'schedule', scheduledFor: job.data.scheduledFor ?? scheduledFor(job) } : (job.data.trigger ?? { type: 'manual' });
}

/** The run-log entry for an attempt whose worker died: failed, `RUN_ABANDONED`, nothing committed. */
export function abandonedResult(job: Job<RunJobData>, a: CurrentAttempt): RunResult {
  const finishedAt = nowIso();
  const where = `pid ${a.pid} on ${a.hostname}`;
  const leftovers = a.backupId ? ` Files it had uploaded for backup ${a.backupId} have no manifest: they are never listed as restorable, and prune removes them.` : '';
  return {
    runId: a.runId,
    job: job.data.job,
    backupId: a.backupId ?? '',
    status: 'failed',
    trigger: triggerOf(job),
    startedAt: a.startedAt,
    finishedAt,
    durationMs: Math.max(0, Date.parse(finishedAt) - Date.parse(a.startedAt)),
    bytes: 0,
    artifacts: [],
    destinations: [],
    error: serializeError(
      new ArcaError(
        ErrorCodes.RUN_ABANDONED,
        `The process running this backup (${where}) stopped before it finished (killed, out of memory, or it lost Redis); nothing was committed.${leftovers} Look at that process's logs; the next scheduled or manual run starts clean.`,
      ),
    ),
  };
}

function skippedResult(job: Job<RunJobData>, runId: string, error: unknown): SkippedRun {
  const at = nowIso();
  return { runId, job: job.data.job, backupId: '', status: 'skipped', trigger: triggerOf(job), startedAt: at, finishedAt: at, durationMs: 0, bytes: 0, artifacts: [], destinations: [], error: serializeError(error) };
}

/** An error that crosses Redis as `CODE: message` and becomes an ArcaError again on the other side. */
export function queueError(e: ArcaError): UnrecoverableError {
  return new UnrecoverableError(`${e.code}: ${e.message}`);
}

export function arcaErrorFromReason(reason: string | undefined): ArcaError {
  const m = /^([A-Z][A-Z_]+): ([\s\S]*)$/.exec(reason ?? '');
  const code = m && Object.values(ErrorCodes).includes(m[1] as never) ? (m[1] as ArcaError['code']) : ErrorCodes.INTERNAL;
  return new ArcaError(code, m ? m[2]! : `The queued run failed: ${reason ?? 'no reason given'}`);
}

/**
 * The worker's processor: one queue job = one Arca run (or, when the previous worker died,
 * the record of that abandoned attempt). Every outcome it handles lands in the run log
 * exactly once, through `runLocal` or `recordRun`.
 */
export function createProcessor(deps: ProcessorDeps) {
  const { host, mutex, instance } = deps;

  /** Forward one event to the other instances, in order, through the job's progress. */
  const forwarder = (job: Job) => {
    let chain = Promise.resolve();
    const send = (e: ArcaEventName, d: unknown) => {
      const msg: ForwardedEvent = { o: instance, e, d };
      chain = chain.then(() => job.updateProgress(msg as unknown as object).catch(() => {}));
    };
    return { send, flush: () => chain };
  };

  const record = async (fw: ReturnType<typeof forwarder>, entry: RunResult | SkippedRun) => {
    await host.recordRun(entry);
    fw.send(entry.status === 'skipped' ? 'run:skipped' : 'run:done', entry);
  };

  return async function process(job: Job<RunJobData>, token?: string): Promise<RunJobResult> {
    const fw = forwarder(job);
    try {
      return await processJob(job, token, fw);
    } finally {
      await fw.flush();
    }
  };

  async function processJob(job: Job<RunJobData>, token: string | undefined, fw: ReturnType<typeof forwarder>): Promise<RunJobResult> {
    const data: RunJobData = { ...job.data };
    if (data.current) {
      // The worker of the previous attempt died (its lock expired and BullMQ handed the job on).
      const abandoned = abandonedResult(job, data.current);
      await record(fw, abandoned);
      delete data.current;
      await job.updateData(data);
      if (!deps.rerunAbandoned) return { result: abandoned };
    }
    if (data.kind === 'schedule') {
      const jitter = host.scheduledJobs.find((s) => s.job === data.job)?.jitterMs ?? 0;
      if (jitter > 0 && !(await deps.sleep(Math.floor(Math.random() * jitter)))) return handBack(job, token, data);
    }
    const runIds = data.runIds ?? [];
    const runId = data.runId && !runIds.includes(data.runId) ? data.runId : randomUUID();
    const holder: MutexHolder = { runId, instance, hostname: os.hostname(), pid: globalThis.process.pid, since: nowIso() };
    const lock = await mutex.acquire(data.job, holder);
    if (!lock) {
      const other = await mutex.holder(data.job).catch(() => undefined);
      const where = other ? ` (run ${other.runId}, pid ${other.pid} on ${other.hostname})` : '';
      const e = new ArcaError(ErrorCodes.LOCKED, `Job ${data.job} was still running on another instance${where} when this run came; it was skipped.`);
      await record(fw, skippedResult(job, runId, e));
      if (data.kind === 'manual') throw queueError(e);
      return { result: skippedResult(job, runId, e) };
    }
    const offs: Array<() => void> = [];
    try {
      const current: CurrentAttempt = { runId, startedAt: nowIso(), instance, hostname: holder.hostname, pid: holder.pid };
      const started: RunJobData = { ...data, runIds: [...runIds, runId], current };
      await job.updateData(started);
      for (const e of FORWARDED) {
        offs.push(
          host.on(e, (d: ArcaEvents[typeof e]) => {
            if ((d as { runId?: string }).runId !== runId) return;
            if (e === 'run:start') {
              // Remember the backup id, so an abandoned attempt can name its leftovers.
              current.backupId = (d as ArcaEvents['run:start']).backupId;
              void job.updateData(started).catch(() => {});
            }
            fw.send(e, d);
          }),
        );
      }
      let result: RunResult;
      try {
        result = await host.runLocal(data.job, { runId, trigger: triggerOf(job), ...(data.trigger?.actor ? { actor: data.trigger.actor } : {}), ...(data.tags ? { tags: data.tags } : {}) });
      } catch (e) {
        for (const off of offs.splice(0)) off(); // `record` below forwards its own event
        const cleared = { ...started, runIds };
        delete cleared.current;
        await job.updateData(cleared);
        if (isArcaError(e, ErrorCodes.ABORTED)) return handBack(job, token, cleared); // this instance is stopping
        if (isArcaError(e, ErrorCodes.LOCKED)) {
          await record(fw, skippedResult(job, runId, e));
          if (data.kind === 'manual') throw queueError(e);
          return { result: skippedResult(job, runId, e) };
        }
        throw queueError(e instanceof ArcaError ? e : new ArcaError(ErrorCodes.INTERNAL, (e as Error)?.message ?? String(e), { cause: e }));
      }
      const finished = { ...started };
      delete finished.current;
      await job.updateData(finished);
      const attempts = job.opts.attempts ?? 1;
      const aborted = result.error?.code === ErrorCodes.ABORTED;
      if (result.status === 'failed' && !aborted && job.attemptsMade + 1 < attempts) {
        // Thrown so BullMQ schedules the next attempt with its backoff; the run itself is recorded.
        throw new Error(`${result.error?.code ?? 'INTERNAL'}: attempt ${job.attemptsMade + 1} of ${attempts} failed: ${result.error?.message ?? 'unknown error'}`);
      }
      return { result };
    } finally {
      for (const off of offs) off();
      await lock.release();
    }
  }

  /** Give the job back to the queue for another instance (this one is stopping). */
  async function handBack(job: Job<RunJobData>, token: string | undefined, data: RunJobData): Promise<never> {
    await job.updateData(data);
    await job.moveToDelayed(Date.now() + 100, token);
    throw new DelayedError();
  }
}
