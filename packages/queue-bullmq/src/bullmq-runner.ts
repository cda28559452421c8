import { randomUUID } from 'node:crypto';
import { Job, Queue, QueueEvents, Worker, type JobsOptions, type RedisOptions, type RepeatStrategy } from 'bullmq';
import {
  ArcaError,
  ErrorCodes,
  missedRun,
  nextRuns,
  serializeError,
  type BoundRunner,
  type RunOptions,
  type RunResult,
  type Runner,
  type RunnerHost,
  type RunnerStatus,
  type Trigger,
} from '@arca/core';
import { createJobMutex, type MutexRedis } from './job-mutex.js';
import { resolveRunnerOptions, type BullmqRunnerOptions, type ResolvedRunnerOptions } from './runner-options.js';
import {
  abandonedResult,
  arcaErrorFromReason,
  createProcessor,
  type ForwardedEvent,
  type RunJobData,
  type RunJobResult,
} from './run-processor.js';

/** Scheduler ids are `job-<arca job>`; other schedulers in the queue are left alone. */
const SCHEDULER_PREFIX = 'job-';
/** How often a caller waiting for a queued run re-reads its state, in case an event was missed (reconnects). */
const POLL_MS = 5_000;
/** `status()` gives up on Redis after this long. */
const STATUS_TIMEOUT_MS = 5_000;

/**
 * Schedules use Arca's own schedule semantics (croner: presets, `L`, DST rules of core), not
 * BullMQ's cron parser, so a job fires at the same times as with the in-process scheduler.
 */
const repeatStrategy: RepeatStrategy = (millis, opts) => {
  if (!opts.pattern) return undefined;
  return nextRuns(opts.pattern, 1, { ...(opts.tz ? { timezone: opts.tz } : {}), from: new Date(millis) })[0]?.getTime();
};

/**
 * Cluster-wide runs on Redis with BullMQ, for `createArca({ runner: bullmqRunner({ connection }) })`.
 *
 * - `arca.start()` turns every job's `schedule` into a BullMQ job scheduler (the same id on
 *   every instance, so each due time makes exactly one queue job) and starts this instance's
 *   worker. Whichever instance's worker takes the queue job runs the backup; the others do
 *   nothing.
 * - `arca.run()` / `arca.enqueue()` put a manual run in the queue: `enqueue` resolves with its
 *   run id at once; `run` resolves with its result when some instance finished it.
 * - Events of a run (`run:start`, `progress`, `destination:done`, `run:done`) travel through
 *   the queue: every instance's listeners (the admin UI) see runs executing anywhere.
 * - One run of an Arca job at a time across the cluster: a run that finds its job running
 *   elsewhere is skipped with `LOCKED` (recorded; a manual one rejects).
 * - A worker that dies mid-run: another worker records that run as failed with
 *   `RUN_ABANDONED` (its manifest was never written, so nothing half-made is listed).
 *
 * Every run ends as exactly one run-log entry, written by the instance that ran (or
 * recorded) it: give all instances the same run log (a shared `jsonlRunLog` file, or a
 * database-backed `RunLog`) to see the whole cluster's history from any of them.
 */
export function bullmqRunner(options: BullmqRunnerOptions): Runner {
  const o = resolveRunnerOptions(options);
  return { kind: 'bullmq', bind: (host) => bindRunner(host, o) };
}

interface Waiter {
  resolve(r: RunResult): void;
  reject(e: unknown): void;
}

function bindRunner(host: RunnerHost, o: ResolvedRunnerOptions): BoundRunner {
  const instance = randomUUID();
  /**
   * One connection generation per start/stop cycle. ioredis retries a refused connection
   * forever and BullMQ's close() waits for a connection that never came, so on stop the retry
   * strategy says "give up", which ends those clients and lets close() return.
   */
  const generation = () => {
    const g = { closing: false, base: { prefix: o.prefix, connection: {} as RedisOptions } };
    const own = o.redis.retryStrategy;
    g.base.connection = { ...o.redis, retryStrategy: (times: number) => (g.closing ? null : own ? own(times) : Math.min(times * 200, 5_000)) };
    return g;
  };
  let gen = generation();
  const jobOpts: JobsOptions = {
    attempts: o.attempts,
    backoff: { type: o.backoff.type, delay: o.backoff.delayMs },
    removeOnComplete: { count: o.keep.completed ?? 100 },
    removeOnFail: { count: o.keep.failed ?? 500 },
  };
  let queue: Queue<RunJobData, RunJobResult> | undefined;
  let events: QueueEvents | undefined;
  let clients: Promise<Queue<RunJobData, RunJobResult>> | undefined;
  let worker: Worker<RunJobData, RunJobResult> | undefined;
  let session = new AbortController();
  let starting: Promise<void> | undefined;
  let stopping: Promise<void> | undefined;
  const waiters = new Map<string, Waiter>();
  const lastReported = new Map<string, number>();

  /** Connection errors repeat while Redis is down: report each distinct one at most every 30 s. */
  const report = (e: unknown, context: string) => {
    const err = serializeError(e);
    const k = `${context}|${err.message}`;
    const t = lastReported.get(k);
    if (t !== undefined && Date.now() - t < 30_000) return;
    lastReported.set(k, Date.now());
    host.emit('error', { error: err, context });
  };

  const settle = (jobId: string, fn: (w: Waiter) => void) => {
    const w = waiters.get(jobId);
    if (!w) return;
    waiters.delete(jobId);
    fn(w);
  };

  const ensureClients = () => {
    clients ??= (async () => {
      if (gen.closing) gen = generation();
      const { base } = gen;
      const q = new Queue<RunJobData, RunJobResult>(o.queueName, { ...base, settings: { repeatStrategy } });
      q.on('error', (e) => report(e, `bullmq queue ${o.queueName}`));
      queue = q;
      // Read events from the stream's current end, not from whenever the first blocking read
      // happens ('$'), so no event of a run that starts right after this is missed.
      const client = (await q.client) as unknown as { xrevrange(key: string, end: string, start: string, count: 'COUNT', n: number): Promise<Array<[string, string[]]>> };
      const last = await client.xrevrange(q.keys.events!, '+', '-', 'COUNT', 1);
      const ev = new QueueEvents(o.queueName, { ...base, lastEventId: last[0]?.[0] ?? '0-0' });
      ev.on('error', (e) => report(e, `bullmq events ${o.queueName}`));
      ev.on('progress', ({ data }) => {
        const f = data as unknown as ForwardedEvent;
        if (f && typeof f === 'object' && f.o !== instance && typeof f.e === 'string') host.emit(f.e, f.d as never);
      });
      ev.on('completed', ({ jobId, returnvalue }) => settle(jobId, (w) => w.resolve((returnvalue as unknown as RunJobResult).result as RunResult)));
      ev.on('failed', ({ jobId, failedReason }) => settle(jobId, (w) => w.reject(arcaErrorFromReason(failedReason))));
      events = ev;
      await Promise.all([q.waitUntilReady(), ev.waitUntilReady()]);
      return q;
    })();
    const mine = clients;
    // A failed setup is not cached: the next call tries again (stop() closes what was made).
    mine.catch(() => {
      if (clients !== mine) return;
      clients = undefined;
      void queue?.close().catch(() => {});
      void events?.close().catch(() => {});
      queue = undefined;
      events = undefined;
    });
    return mine;
  };

  const mutex = createJobMutex(async () => (await (await ensureClients()).client) as unknown as MutexRedis, `${o.prefix}:${o.queueName}:arca:`, o.lockDurationMs);

  const sleep = (ms: number) =>
    new Promise<boolean>((resolve) => {
      const signal = session.signal;
      if (signal.aborted) return resolve(false);
      const t = setTimeout(() => (signal.removeEventListener('abort', onAbort), resolve(true)), ms);
      const onAbort = () => (clearTimeout(t), resolve(false));
      signal.addEventListener('abort', onAbort, { once: true });
    });

  const processor = createProcessor({ host, mutex, instance, rerunAbandoned: o.rerunAbandoned, sleep });

  /** Read a queued run's state directly (an event may have been missed during a reconnect). */
  const poll = async (jobId: string) => {
    const q = await ensureClients();
    const job = await Job.fromId<RunJobData, RunJobResult>(q, jobId);
    if (!job) return settle(jobId, (w) => w.reject(new ArcaError(ErrorCodes.NOT_FOUND, `Queued run ${jobId} is no longer in queue ${o.queueName}; look for it in history().`)));
    const state = await job.getState();
    if (state === 'completed') settle(jobId, (w) => w.resolve(job.returnvalue.result as RunResult));
    else if (state === 'failed') settle(jobId, (w) => w.reject(arcaErrorFromReason(job.failedReason)));
  };

  async function add(jobName: string, ro: RunOptions, waiter?: Waiter): Promise<{ runId: string; jobId: string }> {
    if (!host.jobs.includes(jobName)) {
      throw new ArcaError(ErrorCodes.NOT_FOUND, `Unknown job ${JSON.stringify(String(jobName).slice(0, 100))}. Configured jobs: ${host.jobs.join(', ') || 'none'}.`);
    }
    if (stopping) throw new ArcaError(ErrorCodes.ABORTED, `Arca is stopping, so the run of ${jobName} was not queued. Call arca.start() or queue it again after stop() resolved.`);
    const q = await ensureClients();
    const runId = ro.runId ?? randomUUID();
    const jobId = `run-${runId}`;
    const trigger: Trigger = typeof ro.trigger === 'object' ? { ...ro.trigger } : { type: ro.trigger ?? 'manual' };
    if (ro.actor) trigger.actor = ro.actor;
    if (waiter) waiters.set(jobId, waiter);
    try {
      await q.add('manual', { job: jobName, kind: 'manual', runId, trigger, ...(ro.tags ? { tags: ro.tags } : {}) }, { ...jobOpts, jobId });
    } catch (e) {
      waiters.delete(jobId);
      throw e;
    }
    return { runId, jobId };
  }

  /**
   * `catchUp: 'once'`: the latest due time with no run in the run log is queued once for the
   * whole cluster (the queue job id is derived from the due time, so instances starting together
   * add it once), unless the scheduler's own job for that time is still in the queue.
   */
  async function catchUp(q: Queue<RunJobData, RunJobResult>, job: string, cron: string, timezone: string | undefined): Promise<void> {
    const due = missedRun(cron, timezone, await host.runLog.read({ job, type: 'run', limit: 50 }), new Date());
    if (!due) return;
    if (await q.getJob(`repeat:${SCHEDULER_PREFIX}${job}:${due.getTime()}`)) return;
    await q.add('schedule', { job, kind: 'schedule', scheduledFor: due.toISOString() }, { ...jobOpts, jobId: `catchup-${job}-${due.getTime()}` });
  }

  async function start(): Promise<void> {
    if (stopping) await stopping;
    session = new AbortController();
    try {
      const q = await ensureClients();
      const wanted = new Set<string>();
      for (const s of host.scheduledJobs) {
        const id = SCHEDULER_PREFIX + s.job;
        wanted.add(id);
        await q.upsertJobScheduler(id, { pattern: s.cron, ...(s.timezone ? { tz: s.timezone } : {}) }, { name: 'schedule', data: { job: s.job, kind: 'schedule' }, opts: jobOpts });
      }
      // A job whose schedule was removed from the config stops firing.
      for (const sch of await q.getJobSchedulers(0, -1, true)) {
        if (sch.key.startsWith(SCHEDULER_PREFIX) && !wanted.has(sch.key)) await q.removeJobScheduler(sch.key);
      }
      for (const s of host.scheduledJobs) {
        if (s.catchUp === 'once') await catchUp(q, s.job, s.cron, s.timezone).catch((e) => report(e, `bullmq catch-up of ${s.job}`));
      }
      if (o.worker && !worker) {
        const w = new Worker<RunJobData, RunJobResult>(o.queueName, (job, token) => processor(job, token), {
          ...gen.base,
          concurrency: o.concurrency,
          lockDuration: o.lockDurationMs,
          stalledInterval: o.stalledIntervalMs,
          maxStalledCount: 1,
          settings: { repeatStrategy },
        });
        w.on('error', (e) => report(e, `bullmq worker ${o.queueName}`));
        // A queued manual run stalled more than once: BullMQ fails it without calling the
        // processor; record the abandoned attempt here.
        w.on('failed', (job, err) => {
          if (!job?.data.current || !/stalled/.test(err.message)) return;
          const result = abandonedResult(job, job.data.current);
          const forwarded: ForwardedEvent = { o: instance, e: 'run:done', d: result };
          void host
            .recordRun(result)
            .then(() => job.updateProgress(forwarded as unknown as object))
            .catch((e) => report(e, 'bullmq abandoned run'));
        });
        worker = w;
        await w.waitUntilReady();
      }
    } catch (e) {
      report(e, `bullmq start ${o.queueName}`);
    }
  }

  async function stop(): Promise<void> {
    session.abort(); // runs waiting for their jitter go back to the queue
    const stoppingGen = gen;
    const cut = () => void (stoppingGen.closing = true);
    // A start() still waiting for an unreachable Redis gives up once its connections do.
    if (!worker) cut();
    await starting?.catch(() => {});
    const w = worker;
    worker = undefined;
    // Waits for the runs this worker is executing; core's scheduler.stop({ timeoutMs }) aborts them when asked.
    await w?.close().catch((e) => report(e, `bullmq worker close ${o.queueName}`));
    cut();
    const c = clients;
    clients = undefined;
    const q = queue;
    const ev = events;
    queue = undefined;
    events = undefined;
    for (const jobId of [...waiters.keys()]) {
      settle(jobId, (x) => x.reject(new ArcaError(ErrorCodes.ABORTED, `Arca stopped while waiting for queued run ${jobId}; the run itself goes on on whichever instance takes it. Follow it in history().`)));
    }
    await c?.catch(() => {});
    await Promise.allSettled([ev?.close(), q?.close()]);
  }

  return {
    start() {
      starting ??= start();
      return starting;
    },
    stop() {
      stopping ??= stop().finally(() => {
        stopping = undefined;
        starting = undefined;
      });
      return stopping;
    },
    async enqueue(job, ro = {}) {
      const { runId } = await add(job, ro);
      return { runId };
    },
    run(job, ro = {}) {
      return new Promise<RunResult>((resolve, reject) => {
        let timer: NodeJS.Timeout | undefined;
        const done = () => {
          clearInterval(timer);
          ro.signal?.removeEventListener('abort', onAbort);
        };
        let jobId = '';
        const onAbort = () => settle(jobId, (w) => w.reject(new ArcaError(ErrorCodes.ABORTED, `Stopped waiting for queued run ${jobId}; if a worker already started it, it goes on. Follow it in history().`)));
        const waiter: Waiter = {
          resolve: (r) => (done(), resolve(r)),
          reject: (e) => (done(), reject(e)),
        };
        add(job, ro, waiter).then(
          (r) => {
            jobId = r.jobId;
            if (ro.signal?.aborted) return onAbort();
            ro.signal?.addEventListener('abort', onAbort, { once: true });
            timer = setInterval(() => void poll(r.jobId).catch((e) => report(e, `bullmq poll ${r.jobId}`)), POLL_MS);
            timer.unref();
          },
          (e: unknown) => waiter.reject(e),
        );
      });
    },
    async status(): Promise<RunnerStatus> {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new ArcaError(ErrorCodes.INTERNAL, `Redis did not answer within ${STATUS_TIMEOUT_MS} ms: is it running, and is the connection of bullmqRunner right?`)), STATUS_TIMEOUT_MS);
      });
      try {
        return await Promise.race([readStatus(), timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
  };

  async function readStatus(): Promise<RunnerStatus> {
    const q = await ensureClients();
    const counts = await q.getJobCounts('waiting', 'prioritized', 'active', 'delayed', 'failed', 'completed', 'paused');
    const schedulers = await q.getJobSchedulers(0, -1, true);
    const workers = await q.getWorkersCount().catch(() => undefined); // CLIENT LIST may be disabled on managed Redis
    const running = [];
    for (const job of host.jobs) {
      const h = await mutex.holder(job);
      if (h) running.push({ job, ...h });
    }
    const problems: string[] = [];
    if (workers === 0) problems.push(`No worker is connected to queue ${o.queueName}: runs wait until an instance with worker: true calls arca.start().`);
    const schedules = schedulers
      .filter((s) => s.key.startsWith(SCHEDULER_PREFIX))
      .map((s) => ({ job: s.key.slice(SCHEDULER_PREFIX.length), pattern: s.pattern, timezone: s.tz, next: s.next ? new Date(s.next).toISOString() : undefined }));
    const missing = host.scheduledJobs.filter((s) => !schedules.some((x) => x.job === s.job)).map((s) => s.job);
    if (missing.length) problems.push(`No job scheduler in Redis for ${missing.join(', ')}: call arca.start() on at least one instance.`);
    return { kind: 'bullmq', ok: problems.length === 0, problems, queue: o.queueName, prefix: o.prefix, instance, worker: worker !== undefined, workers, counts, schedules, running };
  }
}
