import type { JobHealth, RunLogEntry, RunResult, SignalOptions } from '../contracts.js';
import type { ResolvedJob } from '../config.js';
import { isArcaError, serializeError } from '../errors.js';
import { MANIFEST_FILE, isValidBackupId } from '../keys.js';
import { listBackups } from '../catalog/catalog.js';
import { type ArcaContext, getJob, notify, reportError } from '../pipeline/context.js';
import { formatAge, formatBytes, parseDurationMs } from '../retention/duration-parse.js';
import type { RunnerStatus } from '../runner.js';

export interface HealthOptions extends SignalOptions {
  /** Only these jobs (default: all). */
  jobs?: string[];
  /** The time ages are measured against (default: now). */
  now?: Date;
}

export interface HealthReport {
  /** True when every job checked is healthy. */
  healthy: boolean;
  checkedAt: string;
  jobs: JobHealth[];
  /** The runner's state when `createArca({ runner })` was given one (queue counts, next scheduled times). Its problems do not change `healthy`. */
  runner?: RunnerStatus;
}

/** Last known health per job, per Arca instance: events fire only when it changes. */
const lastState = new WeakMap<ArcaContext, Map<string, boolean>>();

/**
 * Check every job (or `o.jobs`): the newest completed backup is younger than `health.maxAge`
 * (RPO), the bytes under the job on each destination stay under `health.maxStorageBytes`, the
 * last run did not fail, no destination failed in it or cannot be listed now, and the last
 * verify passed. Never throws for an unhealthy job or an unreachable destination: that is
 * the report. Throws only `NOT_FOUND` (unknown job in `o.jobs`) or `ABORTED`.
 *
 * When a job's health changes (healthy → unhealthy, or back), emits `health:unhealthy` /
 * `health:recovered` once and hands the same event to the notifiers; a job found unhealthy
 * on its first check also emits `health:unhealthy`.
 */
export async function checkHealth(ctx: ArcaContext, o: HealthOptions = {}): Promise<HealthReport> {
  const jobs = (o.jobs ?? [...ctx.jobs.keys()]).map((j) => getJob(ctx, j));
  const now = o.now ?? new Date();
  const results = await Promise.all(jobs.map((j) => checkJob(ctx, j, now, o)));
  let state = lastState.get(ctx);
  if (!state) lastState.set(ctx, (state = new Map()));
  for (const h of results) {
    const before = state.get(h.job);
    state.set(h.job, h.healthy);
    if (!h.healthy && before !== false) {
      ctx.emitter.emit('health:unhealthy', h);
      await notify(ctx, { type: 'health:unhealthy', data: h });
    } else if (h.healthy && before === false) {
      ctx.emitter.emit('health:recovered', h);
      await notify(ctx, { type: 'health:recovered', data: h });
    }
  }
  return { healthy: results.every((h) => h.healthy), checkedAt: now.toISOString(), jobs: results };
}

async function checkJob(ctx: ArcaContext, job: ResolvedJob, now: Date, o: SignalOptions): Promise<JobHealth> {
  const problems: string[] = [];
  const failed = new Set<string>();
  const cfg = job.config.health ?? {};
  const maxAgeMs = cfg.maxAge !== undefined ? parseDurationMs(cfg.maxAge, 'health.maxAge') : undefined;

  const storage = await Promise.all(
    job.destinations.map(async (d): Promise<JobHealth['storage'][number]> => {
      try {
        let bytes = 0;
        const ids = new Set<string>();
        for await (const obj of d.destination.list(`${job.name}/`, o)) {
          bytes += obj.size;
          const parts = obj.key.split('/');
          if (parts.length === 3 && parts[2] === MANIFEST_FILE && isValidBackupId(parts[1])) ids.add(parts[1]!);
        }
        return { destination: d.name, bytes, backups: ids.size };
      } catch (e) {
        if (isArcaError(e, 'ABORTED')) throw e;
        return { destination: d.name, error: serializeError(e) };
      }
    }),
  );
  for (const s of storage) {
    if (s.error) {
      failed.add(s.destination);
      problems.push(`Destination ${s.destination} cannot be listed (${s.error.message}). Check it with \`arca check ${job.name}\`.`);
    } else if (cfg.maxStorageBytes !== undefined && s.bytes! > cfg.maxStorageBytes) {
      problems.push(`Job ${job.name} stores ${formatBytes(s.bytes!)} on ${s.destination}, more than health.maxStorageBytes ${formatBytes(cfg.maxStorageBytes)}: prune, tighten the retention or raise the limit.`);
    }
  }

  const backups = await listBackups(ctx, job.name, o);
  const newestBackup = backups[0];
  const newest = newestBackup ? { id: newestBackup.id, startedAt: newestBackup.startedAt, ageMs: now.getTime() - Date.parse(newestBackup.startedAt) } : undefined;
  if (maxAgeMs !== undefined) {
    if (!newest) problems.push(`Job ${job.name} has no completed backup yet (health.maxAge ${cfg.maxAge}): run it and check that its schedule is active.`);
    else if (newest.ageMs > maxAgeMs) {
      problems.push(`The newest completed backup of ${job.name} (${newest.id}) is ${formatAge(newest.ageMs)} old, older than health.maxAge ${cfg.maxAge}: backups have stopped or keep failing. Check the schedule and the last runs.`);
    }
  }

  let entries: RunLogEntry[] = [];
  try {
    entries = await ctx.runLog.read({ job: job.name, limit: 1000, ...(o.signal ? { signal: o.signal } : {}) });
  } catch (e) {
    if (isArcaError(e, 'ABORTED')) throw e;
    reportError(ctx, e, 'health: runLog.read', { job: job.name });
  }
  const run = entries.find((e): e is { type: 'run' } & RunResult => e.type === 'run' && e.status !== 'skipped');
  const verify = entries.find((e): e is Extract<RunLogEntry, { type: 'audit' }> => e.type === 'audit' && e.action === 'verify');
  const lastRun = run ? { runId: run.runId, backupId: run.backupId, status: run.status, finishedAt: run.finishedAt } : undefined;
  if (run?.status === 'failed') problems.push(`The last run of ${job.name} (${run.finishedAt}) failed: ${run.error?.message ?? 'unknown error'}`);
  if (run?.status === 'partial') {
    for (const d of run.destinations.filter((x) => x.status === 'failed')) {
      failed.add(d.name);
      problems.push(`Destination ${d.name} failed in the last run of ${job.name} (${d.error?.message ?? 'unknown error'}): fix it, then run retryFailed for ${run.backupId}.`);
    }
  }
  const lastVerify = verify ? { backupId: verify.backupId, at: verify.at, ok: verify.ok } : undefined;
  if (lastVerify && !lastVerify.ok) problems.push(`The last verify of ${job.name} (backup ${lastVerify.backupId}, ${lastVerify.at}) failed: look at the verify report and run a new backup.`);

  return {
    job: job.name,
    healthy: problems.length === 0,
    checkedAt: now.toISOString(),
    problems,
    ...(newest ? { newest } : {}),
    ...(maxAgeMs !== undefined ? { maxAgeMs } : {}),
    storage,
    ...(cfg.maxStorageBytes !== undefined ? { maxStorageBytes: cfg.maxStorageBytes } : {}),
    ...(lastVerify ? { lastVerify } : {}),
    ...(lastRun ? { lastRun } : {}),
    failedDestinations: [...failed],
  };
}

export interface WatchHealthOptions {
  /** How often to check: `'15m'` (default), `'1h'`, or milliseconds. */
  every?: string | number;
  /** Stops the watch when aborted. */
  signal?: AbortSignal;
}

/**
 * Check health now and then periodically (never two checks at once); `health:*` events and
 * notifications fire only on changes. Returns a function that stops the watch. A failing
 * check is reported as an `error` event. The timer does not keep the process alive.
 */
export function watchHealth(ctx: ArcaContext, o: WatchHealthOptions = {}): () => void {
  const interval = parseDurationMs(o.every ?? '15m', 'watchHealth every');
  let busy = false;
  let stopped = false;
  const tick = async () => {
    if (busy || stopped) return;
    busy = true;
    try {
      await checkHealth(ctx);
    } catch (e) {
      reportError(ctx, e, 'health check');
    } finally {
      busy = false;
    }
  };
  const timer = setInterval(() => void tick(), interval);
  timer.unref?.();
  void tick();
  const stop = () => {
    stopped = true;
    clearInterval(timer);
  };
  o.signal?.addEventListener('abort', stop, { once: true });
  return stop;
}
