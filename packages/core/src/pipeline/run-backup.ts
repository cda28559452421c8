import { createHash, randomUUID } from 'node:crypto';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ArtifactRecord, Bytes, DestinationResult, RunResult, Trigger, TriggerType } from '../contracts.js';
import type { ResolvedDestination, ResolvedJob } from '../config.js';
import { ArcaError, ErrorCodes, abortError, serializeError } from '../errors.js';
import { MANIFEST_FILE, backupPrefix, newBackupId } from '../keys.js';
import { MANIFEST_SCHEMA, serializeManifest, type Manifest } from '../catalog/manifest.js';
import { coalesce, fromBuffer, meter } from '../streams.js';
import { type ArcaContext, getJob, notify, record } from './context.js';
import { fanOut } from './fan-out.js';
import { copyBackup } from './copy-backup.js';
import { createProgress } from './progress.js';

export interface RunOptions {
  /** Why this run happens (default `'manual'`). */
  trigger?: TriggerType | Trigger;
  /** Who asked for it; recorded in the manifest and run log. */
  actor?: string;
  /** Extra tags for this backup (added to the job's). */
  tags?: string[];
  /** Cancels the run: uploads are aborted, nothing is committed, the run ends `failed` with `ABORTED`. */
  signal?: AbortSignal;
  /** The run's id, when the caller assigned it beforehand (a runner that queues runs); default: a new UUID. */
  runId?: string;
}

interface DestState {
  ref: ResolvedDestination;
  result: DestinationResult;
  written: string[];
  started: number;
}

function now(): string {
  return new Date().toISOString();
}

function finishDest(d: DestState, status: 'completed' | 'failed', error?: unknown): void {
  d.result.status = status;
  d.result.finishedAt = now();
  d.result.durationMs = Date.now() - d.started;
  if (error !== undefined) d.result.error = serializeError(error);
}

/** Best effort: remove what a failed destination wrote for this backup, so no half backup lingers. */
async function cleanup(d: DestState): Promise<void> {
  if (!d.written.length) return;
  await d.ref.destination.delete(d.written).catch(() => {});
  d.written = [];
}

/**
 * Run one backup of a job: dump every source through the codecs into every destination,
 * then commit a manifest on each destination that received every artifact.
 * Never throws for a failed backup: the result says `failed`/`partial` and why.
 * Throws only for `NOT_FOUND` (unknown job) and `LOCKED` (the job is already running).
 */
export async function runBackup(ctx: ArcaContext, jobName: string, o: RunOptions = {}): Promise<RunResult> {
  const job = getJob(ctx, jobName);
  if (ctx.running.has(job.name)) {
    throw new ArcaError(ErrorCodes.LOCKED, `Job ${job.name} is already running in this process; wait for it to finish.`);
  }
  ctx.running.add(job.name);
  let lock: Awaited<ReturnType<NonNullable<ArcaContext['lock']>['acquire']>>;
  try {
    lock = ctx.lock ? await ctx.lock.acquire(`arca:job:${job.name}`, { signal: o.signal }) : undefined;
    if (ctx.lock && !lock) {
      throw new ArcaError(ErrorCodes.LOCKED, `Job ${job.name} is already running elsewhere (lock held); this run was skipped.`);
    }
  } catch (e) {
    ctx.running.delete(job.name);
    throw e;
  }
  try {
    // A lock lost mid-run (taken over as stale, session gone) aborts the run: another holder may be running it now.
    const signal = lock?.lost && o.signal ? AbortSignal.any([o.signal, lock.lost]) : (lock?.lost ?? o.signal);
    return await runLocked(ctx, job, signal ? { ...o, signal } : o);
  } finally {
    ctx.running.delete(job.name);
    await lock?.release().catch(() => {});
  }
}

async function runLocked(ctx: ArcaContext, job: ResolvedJob, o: RunOptions): Promise<RunResult> {
  const trigger: Trigger = typeof o.trigger === 'object' ? { ...o.trigger } : { type: o.trigger ?? 'manual' };
  if (o.actor) trigger.actor = o.actor;
  const startedAt = now();
  const t0 = Date.now();
  const runId = o.runId ?? randomUUID();
  const backupId = newBackupId(new Date(t0));
  const prefix = backupPrefix(job.name, backupId);
  const dests: DestState[] = job.destinations.map((ref) => ({
    ref,
    written: [],
    started: 0,
    result: { name: ref.name, kind: ref.destination.kind, status: 'pending', priority: ref.priority, bytes: 0 },
  }));
  ctx.emitter.emit('run:start', { runId, job: job.name, backupId, trigger, startedAt });

  const artifacts: ArtifactRecord[] = [];
  let runError: unknown;
  const progress = createProgress(ctx, { runId, job: job.name, backupId });

  /** Stream every source into `targets`; returns false when no target survived. */
  const dumpInto = async (targets: DestState[]): Promise<boolean> => {
    artifacts.length = 0;
    for (const t of targets) {
      t.result.status = 'uploading';
      t.started = Date.now();
      t.result.startedAt = now();
    }
    for (const { name, source } of job.sources) {
      if (o.signal?.aborted) throw abortError(o.signal, `Run of ${job.name}`);
      const live = targets.filter((t) => t.result.status === 'uploading');
      if (!live.length) return false;
      let dump;
      try {
        dump = await source.dump({ signal: o.signal });
      } catch (e) {
        throw e instanceof ArcaError ? e : new ArcaError(ErrorCodes.SOURCE_FAILED, `Source ${name} (${source.kind}) failed to start: ${(e as Error).message}`, { cause: e });
      }
      const file = `${name}${path.extname(dump.filename)}${job.codecs.map((c) => c.extension).join('')}`;
      const key = prefix + file;
      const tick = progress.start(name, dump.expectedBytes);
      // One iterator, released in `finally` even if nothing ever read it, so a source's temp
      // files and child processes never outlive the run.
      const iterator = dump.stream[Symbol.asyncIterator]();
      const content = meter({ [Symbol.asyncIterator]: () => iterator }, tick);
      let encoded: AsyncIterable<Bytes> = content.stream;
      for (const codec of job.codecs) encoded = codec.encode(encoded, { signal: o.signal });
      // One batching stage for all destinations: ≥ 1 MiB chunks from here on.
      const stored = meter(coalesce(encoded));
      let fanned: Awaited<ReturnType<typeof fanOut<{ bytes: number }>>>;
      try {
        fanned = await fanOut(
          stored.stream,
          live.map((t) => ({
            name: t.ref.name,
            consume: (data, signal) =>
              t.ref.destination.put(key, data, { signal: o.signal ? AbortSignal.any([o.signal, signal]) : signal }),
          })),
          { signal: o.signal, stallTimeoutMs: job.config.stallTimeoutMs },
        );
      } finally {
        await iterator.return?.().catch(() => {});
      }
      const { results, inputError } = fanned;
      const aborted = o.signal?.aborted;
      for (const t of live) {
        const r = results.get(t.ref.name)!;
        if (r.ok) {
          t.written.push(key);
          t.result.bytes += r.value.bytes;
        } else if (inputError === undefined && !aborted) {
          finishDest(t, 'failed', r.error);
          await cleanup(t);
          ctx.emitter.emit('destination:done', { runId, job: job.name, backupId, destination: { ...t.result } });
        }
      }
      if (aborted) throw abortError(o.signal, `Run of ${job.name}`);
      if (inputError !== undefined) {
        throw inputError instanceof ArcaError
          ? inputError
          : new ArcaError(ErrorCodes.SOURCE_FAILED, `Source ${name} (${source.kind}) failed during the dump: ${(inputError as Error)?.message ?? String(inputError)}`, { cause: inputError });
      }
      progress.end();
      artifacts.push({
        source: name,
        kind: source.kind,
        file,
        bytes: stored.meter.bytes,
        sha256: stored.meter.digest(),
        contentBytes: content.meter.bytes,
        contentSha256: content.meter.digest(),
        encoding: job.codecs.map((c) => c.name),
        describe: source.describe(),
        meta: await dump.meta(),
      });
    }
    // Commit: the manifest goes last, on every destination that has every artifact.
    const manifest: Manifest = {
      schema: MANIFEST_SCHEMA,
      job: job.name,
      backupId,
      runId,
      startedAt,
      finishedAt: now(),
      arca: { version: ctx.version },
      host: { hostname: os.hostname(), platform: process.platform, node: process.version },
      trigger,
      tags: [...(job.config.tags ?? []), ...(o.tags ?? [])],
      codecs: job.codecs.map((c) => ({ name: c.name, describe: c.describe() })),
      artifacts: [...artifacts],
    };
    const bytes = serializeManifest(manifest);
    await Promise.all(
      targets
        .filter((t) => t.result.status === 'uploading')
        .map(async (t) => {
          try {
            if (o.signal?.aborted) throw abortError(o.signal, `Run of ${job.name}`);
            const r = await t.ref.destination.put(prefix + MANIFEST_FILE, fromBuffer(bytes), { signal: o.signal, contentType: 'application/json' });
            t.written.push(prefix + MANIFEST_FILE);
            t.result.bytes += r.bytes;
            t.result.sha256 = sha256Hex(bytes);
            finishDest(t, 'completed');
          } catch (e) {
            finishDest(t, 'failed', e);
            await cleanup(t);
          }
          ctx.emitter.emit('destination:done', { runId, job: job.name, backupId, destination: { ...t.result } });
        }),
    );
    return targets.some((t) => t.result.status === 'completed');
  };

  try {
    const groups = job.fanOut === 'sequential' ? groupByPriority(dests) : [dests];
    for (const group of groups) {
      const from = dests.find((d) => d.result.status === 'completed');
      if (!from) {
        await dumpInto(group);
        continue;
      }
      for (const t of group) {
        t.result.status = 'uploading';
        t.started = Date.now();
        t.result.startedAt = now();
        try {
          const r = await copyBackup(ctx, job, backupId, from.ref, t.ref, { signal: o.signal, onProgress: progress.copy });
          t.written.push(...r.keys);
          t.result.bytes = r.bytes;
          t.result.sha256 = r.manifestSha256;
          finishDest(t, 'completed');
        } catch (e) {
          finishDest(t, 'failed', e);
          await cleanup(t);
        }
        ctx.emitter.emit('destination:done', { runId, job: job.name, backupId, destination: { ...t.result } });
      }
    }
  } catch (e) {
    runError = e;
    for (const d of dests) {
      if (d.result.status === 'uploading' || d.result.status === 'pending') {
        // A source failure or abort invalidates the whole backup: nothing is committed anywhere.
        finishDest(d, 'failed', e);
        await cleanup(d);
      }
    }
  }

  const completed = dests.filter((d) => d.result.status === 'completed').length;
  if (!runError && completed === 0) {
    runError = new ArcaError(ErrorCodes.DEST_UNREACHABLE, `No destination of job ${job.name} accepted the backup: see each destination's error.`);
  }
  const status = runError || completed === 0 ? 'failed' : completed === dests.length ? 'completed' : 'partial';
  const result: RunResult = {
    runId,
    job: job.name,
    backupId,
    status,
    trigger,
    startedAt,
    finishedAt: now(),
    durationMs: Date.now() - t0,
    bytes: artifacts.reduce((s, a) => s + a.bytes, 0),
    artifacts: status === 'failed' ? [] : artifacts,
    destinations: dests.map((d) => d.result),
    ...(runError ? { error: serializeError(runError) } : {}),
  };
  await record(ctx, { type: 'run', ...result });
  ctx.emitter.emit('run:done', result);
  await notify(ctx, { type: 'run:done', data: result });
  return result;
}

function groupByPriority(dests: DestState[]): DestState[][] {
  const groups = new Map<number, DestState[]>();
  for (const d of dests) {
    const g = groups.get(d.ref.priority) ?? [];
    g.push(d);
    groups.set(d.ref.priority, g);
  }
  return [...groups.keys()].sort((a, b) => a - b).map((k) => groups.get(k)!);
}

function sha256Hex(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}
