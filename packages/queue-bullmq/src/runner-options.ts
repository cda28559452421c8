import { z } from 'zod';
import type { RedisOptions } from 'bullmq';
import { ArcaError, ErrorCodes, parseOptions, registerSecret } from '@arca/core';

export interface BullmqRunnerOptions {
  /**
   * Where Redis is: a `redis://` / `rediss://` URL (`redis://:password@host:6379/0`) or
   * ioredis options (`{ host, port, password, db, tls }`). Every instance of the app MUST use
   * the same Redis, `queueName` and `prefix`. Passwords are registered as secrets (never
   * logged nor shown in errors).
   */
  connection: string | RedisOptions;
  /** BullMQ queue name (default `'arca'`): one per app, shared by all its instances. */
  queueName?: string;
  /** BullMQ key prefix (default `'bull'`); keys are `<prefix>:<queueName>:*`. */
  prefix?: string;
  /** Runs this instance executes at once (default 1). */
  concurrency?: number;
  /**
   * Attempts per run (default 1: no retry). A run that ends `failed` is run again, as a new
   * run with its own run id and backup id, until it completes or the attempts are used up.
   * A `partial` run is never retried here: use `arca.retryFailed()` to copy it to the
   * destinations that failed. A run refused with `LOCKED` is not retried either.
   */
  attempts?: number;
  /** Delay between attempts (default `{ type: 'exponential', delayMs: 30_000 }`: 30 s, 60 s, 120 s...). */
  backoff?: { type: 'fixed' | 'exponential'; delayMs: number };
  /**
   * Whether this instance executes runs (default `true`). `false` for instances that only
   * schedule and enqueue (a web tier), while worker instances run the backups.
   */
  worker?: boolean;
  /**
   * How long a run's Redis locks live without a refresh (default 30 000 ms). A worker that
   * dies (kill -9, out of memory, lost host) is noticed after about this long plus
   * `stalledIntervalMs`, and its run recorded as failed with `RUN_ABANDONED`.
   */
  lockDurationMs?: number;
  /** How often workers look for runs whose worker died (default 30 000 ms). */
  stalledIntervalMs?: number;
  /**
   * What happens to a run whose worker died: `false` (default) records it as failed
   * (`RUN_ABANDONED`) and leaves the next run to the schedule or a person, so a backup that
   * kills its worker (out of memory) does not kill the next one; `true` also starts it again
   * at once on a live worker (a new run with a fresh backup id).
   */
  rerunAbandoned?: boolean;
  /** Finished queue jobs kept in Redis for inspection (default 100 completed, 500 failed). The run log is the history. */
  keep?: { completed?: number; failed?: number };
}

const RedisOptionsSchema = z.looseObject({
  host: z.string().optional(),
  port: z.number().int().min(1).max(65535).optional(),
  username: z.string().optional(),
  password: z.string().optional(),
  db: z.number().int().min(0).optional(),
});

const Schema = z
  .object({
    connection: z.union([z.string().regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL'), RedisOptionsSchema]),
    queueName: z.string().regex(/^[A-Za-z0-9_.-]{1,100}$/, 'use 1–100 letters, digits, "_", "-" or "."').default('arca'),
    prefix: z.string().regex(/^[A-Za-z0-9_.:{}-]{1,100}$/, 'use 1–100 letters, digits, "_", "-", ".", ":", "{" or "}"').default('bull'),
    concurrency: z.number().int().min(1).max(100).default(1),
    attempts: z.number().int().min(1).max(100).default(1),
    backoff: z
      .object({ type: z.enum(['fixed', 'exponential']), delayMs: z.number().int().min(0) })
      .strict()
      .default({ type: 'exponential', delayMs: 30_000 }),
    worker: z.boolean().default(true),
    lockDurationMs: z.number().int().min(500).default(30_000),
    stalledIntervalMs: z.number().int().min(100).default(30_000),
    rerunAbandoned: z.boolean().default(false),
    keep: z.object({ completed: z.number().int().min(0).optional(), failed: z.number().int().min(0).optional() }).strict().default({}),
  })
  .strict();

export type ResolvedRunnerOptions = z.output<typeof Schema> & { redis: RedisOptions };

/** Validate the options (`CONFIG_INVALID` listing every problem) and turn a URL into ioredis options. */
export function resolveRunnerOptions(options: BullmqRunnerOptions): ResolvedRunnerOptions {
  const o = parseOptions(Schema, options, 'bullmqRunner');
  let redis: RedisOptions;
  if (typeof o.connection === 'string') {
    let u: URL;
    try {
      u = new URL(o.connection);
    } catch {
      throw new ArcaError(ErrorCodes.CONFIG_INVALID, 'Invalid options for bullmqRunner:\n  - connection: not a valid URL; use redis://[:password@]host[:port][/db]');
    }
    const db = u.pathname.replace(/^\//, '');
    if (db !== '' && !/^\d+$/.test(db)) {
      throw new ArcaError(ErrorCodes.CONFIG_INVALID, 'Invalid options for bullmqRunner:\n  - connection: the path of a Redis URL is the database number (redis://host:6379/0)');
    }
    redis = {
      host: u.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1',
      port: u.port ? Number(u.port) : 6379,
      ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
      ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
      ...(db ? { db: Number(db) } : {}),
      ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
    };
  } else {
    redis = { ...(o.connection as RedisOptions) };
  }
  if (redis.password) registerSecret(redis.password);
  return { ...o, redis };
}
