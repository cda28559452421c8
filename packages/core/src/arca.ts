import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import type { ArcaEventName, BackupSummary, Codec, RunLogEntry, RunLogQuery, RunResult, SignalOptions, CheckReport } from './contracts.js';
import { resolveConfig, type ArcaConfig } from './config.js';
import { createEmitter, type Listener } from './events.js';
import { serializeError } from './errors.js';
import { memoryRunLog } from './run-log.js';
import { nextRuns, toCron } from './schedule.js';
import { recordRunOutcome, type BoundRunner, type RunnerHost } from './runner.js';
import { gzip } from './codecs/gzip-codec.js';
import { zstd } from './codecs/zstd-codec.js';
import { type ArcaContext, getJob } from './pipeline/context.js';
import type { RunOptions } from './pipeline/run-backup.js';
import { createScheduler, type StopOptions } from './scheduler/scheduler.js';
import { getBackup, listBackups, type BackupDetails } from './catalog/catalog.js';
import { verifyBackup, type VerifyOptions, type VerifyReport } from './operations/verify-backup.js';
import { restoreBackup, type RestoreBackupOptions, type RestoreReport } from './operations/restore-backup.js';
import { deleteBackup, retryFailed, type DeleteOptions, type RetryReport } from './operations/manage-backups.js';
import { pruneBackups, type PruneOptions, type PruneReport } from './retention/prune-backups.js';
import { checkHealth, watchHealth, type HealthOptions, type HealthReport, type WatchHealthOptions } from './operations/health-check.js';
import { openArtifact, type OpenArtifactOptions, type OpenedArtifact } from './operations/open-artifact.js';
import { describeJob, type JobInfo } from './operations/describe-job.js';

const VERSION: string = (() => {
  try {
    return (createRequire(import.meta.url)('../package.json') as { version: string }).version;
  } catch {
    return '0.0.0';
  }
})();

export interface JobCheck {
  job: string;
  ok: boolean;
  sources: Array<{ name: string; kind: string; report: CheckReport }>;
  destinations: Array<{ name: string; kind: string; report: CheckReport }>;
}

export interface Arca {
  /** Run one backup now. Resolves with the result also when the backup failed; rejects only for an unknown job or `LOCKED`. */
  run(job: string, o?: RunOptions): Promise<RunResult>;
  /**
   * Start one backup without waiting for it: resolves with its run id as soon as it started
   * (in-process) or was accepted by the runner's queue; follow it through events or
   * `history()`. Rejects like `run()` for an unknown job and, in-process, `LOCKED`.
   */
  enqueue(job: string, o?: RunOptions): Promise<{ runId: string }>;
  /** Restorable backups (those with a valid manifest), newest first, merged across destinations. */
  list(job: string, o?: SignalOptions): Promise<BackupSummary[]>;
  /** One backup with its manifest; `NOT_FOUND` if no destination has it. */
  get(job: string, backupId: string, o?: SignalOptions): Promise<BackupDetails>;
  verify(job: string, backupId: string, o?: VerifyOptions): Promise<VerifyReport>;
  restore(job: string, backupId: string, o?: RestoreBackupOptions): Promise<RestoreReport>;
  deleteBackup(job: string, backupId: string, o?: DeleteOptions): Promise<{ deletedFrom: string[] }>;
  retryFailed(job: string, backupId: string, o?: SignalOptions & { actor?: string }): Promise<RetryReport>;
  /** Pre-flight of every source and destination of a job (no data is written but a probe file). */
  check(job: string, o?: SignalOptions): Promise<JobCheck>;
  /** Run history and audit entries, newest first, filtered by job, type, status, time range, with offset/limit paging. */
  history(o?: RunLogQuery): Promise<RunLogEntry[]>;
  /**
   * Arm the schedules of every job that has one (idempotent). Scheduled runs never overlap:
   * a due run of a job still running (here, or elsewhere through `lock`) is skipped and
   * recorded with `LOCKED`. Jobs with `catchUp: 'once'` whose latest due time has no run in
   * the run log run once now. Resolves when the timers are armed and catch-up runs launched;
   * never rejects (problems become `error` events).
   */
  start(): Promise<void>;
  /**
   * Disarm the schedules and wait for every backup started by the scheduler or `run()` to
   * finish; after `timeoutMs` the remaining ones are aborted (they end `failed`/`ABORTED`,
   * nothing half-written stays). Resolves when nothing runs. `run()` is refused with
   * `ABORTED` while stopping. Wiring it to SIGTERM is the host's choice.
   */
  stop(o?: StopOptions): Promise<void>;
  /** The next run times of a scheduled job (empty when it has no schedule). */
  nextRuns(job: string, n?: number, from?: Date): Date[];
  /** Job names in config order. */
  jobs(): string[];
  /**
   * Apply the job's retention (each destination's own policy, else the job's) and remove
   * incomplete leftovers older than `leftoverGrace` (default 24 h). Returns every decision
   * with its reasons; with `dryRun: true` nothing is deleted (what the UI/CLI show first).
   * The newest completed backup is never deleted. Deletion failures are in the report
   * (`ok: false`), not thrown; rejects only for an unknown job, a bad option or `ABORTED`.
   * Deletions are recorded in the run log as `prune` audit entries with `actor`.
   */
  prune(job: string, o?: PruneOptions): Promise<PruneReport>;
  /**
   * Check the health of every job (RPO `health.maxAge`, `health.maxStorageBytes`, last run,
   * failed destinations, last verify). Never rejects for an unhealthy job. Emits
   * `health:unhealthy` / `health:recovered` (and notifies) only when a job's health changes.
   */
  health(o?: HealthOptions): Promise<HealthReport>;
  /** Run `health()` now and every `every` (default 15 min) until the returned function is called. */
  watchHealth(o?: WatchHealthOptions): () => void;
  /**
   * Open one stored file of a backup (an artifact from its manifest, or `manifest.json`) for
   * streaming as stored (a download), checked against the manifest's sha256 while it streams.
   * Rejects `KEY_INVALID`, `NOT_FOUND`, or the destination's error.
   */
  openArtifact(job: string, backupId: string, file: string, o?: OpenArtifactOptions): Promise<OpenedArtifact>;
  /** A job's schedule, sources, destinations and policies as `describe()` shows them (no secrets); `NOT_FOUND` for an unknown job. */
  describeJob(job: string): JobInfo;
  /** Subscribe to an event; returns an unsubscribe function. */
  on<K extends ArcaEventName>(event: K, listener: Listener<K>): () => void;
  readonly version: string;
}

/**
 * Build an Arca instance from a config (validated with zod: every problem is listed in one
 * `CONFIG_INVALID` error). Nothing is contacted until an operation runs.
 */
export function createArca(config: ArcaConfig): Arca {
  const jobs = resolveConfig(config);
  const emitter = createEmitter((e, event) => emitter.emit('error', { error: serializeError(e), context: `listener of ${event}` }));
  const codecs = new Map<string, Codec>();
  const builtin = gzip();
  codecs.set(builtin.name, builtin);
  codecs.set('zstd', zstd()); // loads its binding lazily, only when a zstd artifact is read
  for (const j of jobs.values()) for (const c of j.codecs) codecs.set(c.name, c);
  for (const c of config.codecs ?? []) codecs.set(c.name, c);
  const ctx: ArcaContext = {
    jobs,
    emitter,
    runLog: config.runLog ?? memoryRunLog(),
    notifiers: config.notifiers ?? [],
    codecs,
    lock: config.lock,
    running: new Set(),
    version: VERSION,
  };
  const scheduler = createScheduler(ctx, config.scheduler);
  const host: RunnerHost = {
    scheduledJobs: [...jobs.values()].flatMap((j) =>
      j.config.schedule
        ? [{ job: j.name, cron: toCron(j.config.schedule), timezone: j.config.timezone, catchUp: j.config.catchUp ?? 'none', jitterMs: j.config.jitterMs ?? 0 }]
        : [],
    ),
    jobs: [...jobs.keys()],
    runLocal: (job, o) => scheduler.run(job, o),
    recordRun: (entry) => recordRunOutcome(ctx, entry),
    emit: (event, data) => emitter.emit(event, data),
    on: (event, listener) => emitter.on(event, listener),
    runLog: ctx.runLog,
  };
  const runner: BoundRunner | undefined = config.runner?.bind(host);
  const enqueueLocal = (job: string, o: RunOptions = {}): Promise<{ runId: string }> => {
    getJob(ctx, job);
    const runId = o.runId ?? randomUUID();
    return new Promise((resolve, reject) => {
      const off = emitter.on('run:start', (e) => {
        if (e.runId !== runId) return;
        off();
        resolve({ runId });
      });
      scheduler.run(job, { ...o, runId }).then(
        () => (off(), resolve({ runId })),
        (e: unknown) => (off(), reject(e)),
      );
    });
  };
  const checkAll = async <T extends { kind: string; check?(o?: SignalOptions): Promise<CheckReport> }>(name: string, x: T, o: SignalOptions) => {
    let report: CheckReport;
    try {
      report = x.check ? await x.check(o) : { ok: true, problems: [], facts: { note: 'this adapter has no check()' } };
    } catch (e) {
      report = { ok: false, problems: [serializeError(e).message], facts: {} };
    }
    return { name, kind: x.kind, report };
  };
  return {
    version: VERSION,
    run: (job, o) => (runner ? runner.run(job, o) : scheduler.run(job, o)),
    enqueue: async (job, o) => (runner ? runner.enqueue(job, o) : enqueueLocal(job, o)),
    start: () => (runner ? runner.start() : scheduler.start()),
    stop: async (o) => {
      if (runner) await Promise.all([runner.stop(o), scheduler.stop(o)]);
      else await scheduler.stop(o);
    },
    list: (job, o) => listBackups(ctx, job, o),
    get: (job, id, o) => getBackup(ctx, job, id, o),
    verify: (job, id, o) => verifyBackup(ctx, job, id, o),
    restore: (job, id, o) => restoreBackup(ctx, job, id, o),
    deleteBackup: (job, id, o) => deleteBackup(ctx, job, id, o),
    retryFailed: (job, id, o) => retryFailed(ctx, job, id, o),
    async check(jobName, o = {}) {
      const job = getJob(ctx, jobName);
      const sources = await Promise.all(job.sources.map((s) => checkAll(s.name, s.source, o)));
      const destinations = await Promise.all(job.destinations.map((d) => checkAll(d.name, d.destination, o)));
      return { job: job.name, ok: [...sources, ...destinations].every((x) => x.report.ok), sources, destinations };
    },
    history: (o) => ctx.runLog.read(o),
    nextRuns(jobName, n = 5, from) {
      const job = getJob(ctx, jobName);
      return job.config.schedule ? nextRuns(job.config.schedule, n, { timezone: job.config.timezone, from }) : [];
    },
    jobs: () => [...jobs.keys()],
    prune: (job, o) => pruneBackups(ctx, job, o),
    async health(o) {
      const report = await checkHealth(ctx, o);
      if (runner?.status) {
        try {
          report.runner = await runner.status();
        } catch (e) {
          report.runner = { kind: config.runner!.kind, ok: false, problems: [serializeError(e).message] };
        }
      }
      return report;
    },
    watchHealth: (o) => watchHealth(ctx, o),
    openArtifact: (job, id, file, o) => openArtifact(ctx, job, id, file, o),
    describeJob: (job) => describeJob(ctx, job),
    on: (event, listener) => emitter.on(event, listener),
  };
}
