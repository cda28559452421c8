import { z } from 'zod';
import { ArcaError, ErrorCodes } from './errors.js';
import type { Codec, Destination, Lock, Notifier, RetentionPolicy, RunLog, Source } from './contracts.js';
import { isValidName } from './keys.js';
import { formatIssues } from './options.js';
import { compileSchedule, isValidTimezone } from './schedule.js';
import { gzip } from './codecs/gzip-codec.js';
import { zstd } from './codecs/zstd-codec.js';
import { parseDurationMs } from './retention/duration-parse.js';
import type { Runner } from './runner.js';

export interface JobDestinationRef {
  /** A key of `createArca({ destinations })`. */
  name: string;
  /** Lower runs first when `fanOut: 'sequential'`; also the order restore tries destinations. Default 0. */
  priority?: number;
  /**
   * Retention on this destination only (keep 7 days locally, 30 days remote). It REPLACES
   * the job's `retention` on this destination; combine them with `allOf(...)` to apply both.
   */
  retention?: RetentionPolicy;
}

export interface JobConfig {
  /** Named sources; each becomes one artifact of every backup (`db`, `uploads`). */
  sources: Record<string, Source>;
  /** Where to store it; several names fan out in parallel. */
  destinations: Array<string | JobDestinationRef>;
  /** `'gzip'` (default, level 6), `'zstd'` (level 3), `'none'`, or a codec such as `gzip({ level: 1 })` / `zstd({ level: 9 })`. */
  compress?: 'gzip' | 'zstd' | 'none' | Codec;
  /** An encryption codec applied after compression. */
  encrypt?: Codec;
  /**
   * `'parallel'` (default): every destination receives the stream at once.
   * `'sequential'`: destinations of the lowest priority receive the stream; the others are
   * then copied from a completed one, in priority order (useful for slow uplinks).
   */
  fanOut?: 'parallel' | 'sequential';
  /** A preset (`'daily@02:00'`, `'weekly@sun 03:00'`, `'every 4h'`) or a cron expression. */
  schedule?: string;
  /** IANA zone for the schedule (default: the host's). */
  timezone?: string;
  /**
   * Runs missed while the app was down (needs a run log that survives restarts, e.g.
   * `jsonlRunLog`): `'once'` runs the job once at `arca.start()` when its latest due time has
   * no run in the log; `'none'` (default) waits for the next due time.
   */
  catchUp?: 'none' | 'once';
  /** Delay each scheduled run by a random 0…jitterMs, to spread jobs due at the same time. */
  jitterMs?: number;
  /** What `prune()` keeps, e.g. `gfs({ daily: 7, weekly: 4, monthly: 12 })` or `maxAge({ days: 30 })`; destinations may override it. */
  retention?: RetentionPolicy;
  /**
   * Health rules checked by `health()`: `maxAge` is the RPO (the newest completed backup
   * must be younger: `'26h'`, `'90m'`, `'2d'`), `maxStorageBytes` caps the bytes stored
   * under the job on each destination.
   */
  health?: { maxAge?: string; maxStorageBytes?: number };
  tags?: string[];
  /** Detach a destination that accepts no data for this long (default 120 000 ms). */
  stallTimeoutMs?: number;
}

export interface ArcaConfig {
  destinations: Record<string, Destination>;
  jobs: Record<string, JobConfig>;
  /** Receive run results and errors; failures are reported, never fail a backup. */
  notifiers?: Notifier[];
  /** Where run history and audit entries go (default: in memory). */
  runLog?: RunLog;
  /** Extra codecs for reading backups (e.g. an age decoder with identities). */
  codecs?: Codec[];
  /** Overlap protection across processes (default: in-process only). */
  lock?: Lock;
  /** In-process scheduler settings (`arca.start()`). */
  scheduler?: {
    /** Scheduled runs allowed at once across all jobs; further due runs wait their turn (default: no limit). */
    concurrency?: number;
  };
  /**
   * How scheduled and manual runs are dispatched (default: the in-process scheduler). A
   * queue runner such as `bullmqRunner()` from `@arca/queue-bullmq` runs each due run once
   * across a cluster of app instances.
   */
  runner?: Runner;
}

const fn = (v: unknown, ...names: string[]) =>
  typeof v === 'object' && v !== null && names.every((n) => typeof (v as Record<string, unknown>)[n] === 'function');

const SourceSchema = z.custom<Source>((v) => fn(v, 'dump', 'describe') && typeof (v as Source).kind === 'string', {
  message: 'must be a Source (an object with kind, describe() and dump(), e.g. directory({ path }))',
});
const DestSchema = z.custom<Destination>((v) => fn(v, 'put', 'get', 'list', 'stat', 'delete', 'describe'), {
  message: 'must be a Destination (an object with put, get, list, stat, delete and describe, e.g. localDir({ path }))',
});
const CodecSchema = z.custom<Codec>((v) => fn(v, 'encode', 'decode', 'describe') && typeof (v as Codec).name === 'string', {
  message: 'must be a Codec (an object with name, extension, encode() and decode())',
});
const RetentionSchema = z.custom<RetentionPolicy>((v) => fn(v, 'plan'), {
  message: 'must be a RetentionPolicy (an object with plan(), e.g. gfs({ daily: 7 }) or maxAge({ days: 30 }))',
});
const nameKey = (what: string) => z.string().refine(isValidName, `invalid ${what} name: use 1–64 letters, digits, "_", "-" or "."`);

const JobSchema = z
  .object({
    sources: z.record(nameKey('source'), SourceSchema).refine((r) => Object.keys(r).length > 0, 'a job needs at least one source'),
    destinations: z
      .array(z.union([z.string(), z.object({ name: z.string(), priority: z.number().int().optional(), retention: RetentionSchema.optional() })]))
      .min(1, 'a job needs at least one destination'),
    compress: z.union([z.enum(['gzip', 'zstd', 'none']), CodecSchema]).optional(),
    encrypt: CodecSchema.optional(),
    fanOut: z.enum(['parallel', 'sequential']).optional(),
    schedule: z.string().optional(),
    timezone: z.string().optional(),
    catchUp: z.enum(['none', 'once']).optional(),
    jitterMs: z.number().int().nonnegative().optional(),
    retention: RetentionSchema.optional(),
    health: z.object({ maxAge: z.string().optional(), maxStorageBytes: z.number().positive().optional() }).optional(),
    tags: z.array(z.string()).optional(),
    stallTimeoutMs: z.number().int().nonnegative().optional(),
  })
  .strict();

const ConfigSchema = z
  .object({
    destinations: z.record(nameKey('destination'), DestSchema),
    jobs: z.record(nameKey('job'), JobSchema),
    notifiers: z.array(z.custom<Notifier>((v) => fn(v, 'notify'), { message: 'must be a Notifier (an object with notify())' })).optional(),
    runLog: z.custom<RunLog>((v) => fn(v, 'append', 'read'), { message: 'must be a RunLog (append() and read())' }).optional(),
    codecs: z.array(CodecSchema).optional(),
    lock: z.custom<Lock>((v) => fn(v, 'acquire'), { message: 'must be a Lock (an object with acquire())' }).optional(),
    scheduler: z.object({ concurrency: z.number().int().min(1).optional() }).strict().optional(),
    runner: z.custom<Runner>((v) => fn(v, 'bind') && typeof (v as Runner).kind === 'string', { message: 'must be a Runner (an object with kind and bind(), e.g. bullmqRunner({ connection }))' }).optional(),
  })
  .strict();

export interface ResolvedDestination {
  name: string;
  priority: number;
  destination: Destination;
  /** This destination's own policy (replaces the job's), if any. */
  retention?: RetentionPolicy;
}

export interface ResolvedJob {
  name: string;
  sources: Array<{ name: string; source: Source }>;
  /** Sorted by priority (stable). */
  destinations: ResolvedDestination[];
  codecs: Codec[];
  fanOut: 'parallel' | 'sequential';
  config: JobConfig;
}

/** Validate the whole config; throws `CONFIG_INVALID` listing every problem by path. */
export function resolveConfig(config: ArcaConfig): Map<string, ResolvedJob> {
  const r = ConfigSchema.safeParse(config);
  if (!r.success) throw new ArcaError(ErrorCodes.CONFIG_INVALID, `Invalid Arca config:\n${formatIssues(r.error)}`);
  const problems: string[] = [];
  const jobs = new Map<string, ResolvedJob>();
  for (const [name, job] of Object.entries(config.jobs)) {
    const dests: ResolvedDestination[] = [];
    for (const ref of job.destinations) {
      const dn = typeof ref === 'string' ? ref : ref.name;
      const destination = config.destinations[dn];
      if (!destination) problems.push(`jobs.${name}.destinations: unknown destination "${dn}" (known: ${Object.keys(config.destinations).join(', ') || 'none'})`);
      else if (dests.some((d) => d.name === dn)) problems.push(`jobs.${name}.destinations: "${dn}" is listed twice`);
      else dests.push({ name: dn, priority: typeof ref === 'string' ? 0 : (ref.priority ?? 0), destination, ...(typeof ref !== 'string' && ref.retention ? { retention: ref.retention } : {}) });
    }
    dests.sort((a, b) => a.priority - b.priority);
    const tzOk = job.timezone === undefined || isValidTimezone(job.timezone);
    if (!tzOk) problems.push(`jobs.${name}.timezone: unknown time zone ${JSON.stringify(job.timezone)}; use an IANA name such as "Europe/Rome" or "UTC"`);
    if (job.schedule !== undefined) {
      try {
        compileSchedule(job.schedule, tzOk ? job.timezone : undefined).stop();
      } catch (e) {
        problems.push(`jobs.${name}.schedule: ${(e as Error).message}`);
      }
    } else if (job.catchUp === 'once' || job.jitterMs) {
      problems.push(`jobs.${name}: catchUp and jitterMs need a schedule (add schedule: 'daily@02:00' or remove them)`);
    }
    if (job.health?.maxAge !== undefined) {
      try {
        parseDurationMs(job.health.maxAge, 'health.maxAge');
      } catch (e) {
        problems.push(`jobs.${name}.health.maxAge: ${(e as Error).message}`);
      }
    }
    const codecs: Codec[] = [];
    const compress = job.compress ?? 'gzip';
    if (compress === 'gzip') codecs.push(gzip());
    else if (compress === 'zstd') codecs.push(zstd());
    else if (compress !== 'none') codecs.push(compress);
    if (job.encrypt) codecs.push(job.encrypt);
    jobs.set(name, {
      name,
      sources: Object.entries(job.sources).map(([n, source]) => ({ name: n, source })),
      destinations: dests,
      codecs,
      fanOut: job.fanOut ?? 'parallel',
      config: job,
    });
  }
  if (problems.length) throw new ArcaError(ErrorCodes.CONFIG_INVALID, `Invalid Arca config:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  return jobs;
}
