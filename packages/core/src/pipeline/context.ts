import type { Codec, RunLog, RunLogEntry, Notifier, ArcaEvent, Lock } from '../contracts.js';
import type { ResolvedJob } from '../config.js';
import { ArcaError, ErrorCodes, serializeError } from '../errors.js';
import type { Emitter } from '../events.js';
import { DEFAULT_NOTIFY_ON, wantsFor } from '../notifiers/notifier-support.js';

/** What the runner, catalog, verify and restore share: built once by createArca. */
export interface ArcaContext {
  jobs: Map<string, ResolvedJob>;
  emitter: Emitter;
  runLog: RunLog;
  notifiers: Notifier[];
  /** Every codec known by name, for decoding (job codecs, config codecs, built-ins). */
  codecs: Map<string, Codec>;
  lock?: Lock;
  running: Set<string>;
  version: string;
}

export function getJob(ctx: ArcaContext, name: string): ResolvedJob {
  const job = typeof name === 'string' ? ctx.jobs.get(name) : undefined;
  if (!job) {
    throw new ArcaError(ErrorCodes.NOT_FOUND, `Unknown job ${JSON.stringify(String(name).slice(0, 100))}. Configured jobs: ${[...ctx.jobs.keys()].join(', ') || 'none'}.`);
  }
  return job;
}

/**
 * The job's destinations, or only the named ones. An unknown name is `NOT_FOUND`: a typo must
 * not turn "delete from nas" or "verify nas" into a silent no-op that reports success.
 */
export function selectDestinations(job: ResolvedJob, names: string[] | undefined): ResolvedJob['destinations'] {
  if (!names) return job.destinations;
  const unknown = names.filter((n) => !job.destinations.some((d) => d.name === n));
  if (unknown.length) {
    throw new ArcaError(
      ErrorCodes.NOT_FOUND,
      `Unknown destination ${unknown.map((n) => JSON.stringify(String(n).slice(0, 100))).join(', ')} for job ${job.name}. Its destinations: ${job.destinations.map((d) => d.name).join(', ')}.`,
    );
  }
  return job.destinations.filter((d) => names.includes(d.name));
}

export function reportError(ctx: ArcaContext, error: unknown, context: string, extra: { job?: string; backupId?: string } = {}): void {
  ctx.emitter.emit('error', { error: serializeError(error), context, ...extra });
}

/** Append to the run log (failures become `error` events); audit entries are also emitted as `audit` events. */
export async function record(ctx: ArcaContext, entry: RunLogEntry): Promise<void> {
  if (entry.type === 'audit') {
    const { type: _type, ...audit } = entry;
    ctx.emitter.emit('audit', audit);
  }
  try {
    await ctx.runLog.append(entry);
  } catch (e) {
    reportError(ctx, e, 'runLog.append', { job: entry.job, backupId: entry.backupId });
  }
}

/** Notifiers without `wants` get the documented default (DEFAULT_NOTIFY_ON): one definition of it. */
const defaultWants = wantsFor(DEFAULT_NOTIFY_ON);

/** A notifier gets this long per event; one that ignores its signal is given up on (never awaited past it). */
const NOTIFY_TIMEOUT_MS = 30_000;

/** Deliver an event to every notifier that wants it; failures become `error` events (never thrown). */
export async function notify(ctx: ArcaContext, event: ArcaEvent): Promise<void> {
  await Promise.all(
    ctx.notifiers.map(async (n) => {
      try {
        if (!(n.wants ?? defaultWants)(event)) return;
        const signal = AbortSignal.timeout(NOTIFY_TIMEOUT_MS);
        let onAbort: (() => void) | undefined;
        const gaveUp = new Promise<never>((_, reject) => {
          onAbort = () => reject(new ArcaError(ErrorCodes.NOTIFIER_FAILED, `Notifier ${n.name} did not finish within ${NOTIFY_TIMEOUT_MS} ms; it was given up on.`));
          signal.addEventListener('abort', onAbort, { once: true });
        });
        try {
          await Promise.race([n.notify(event, { signal }), gaveUp]);
        } finally {
          signal.removeEventListener('abort', onAbort!);
        }
      } catch (e) {
        if (event.type !== 'error') reportError(ctx, e, `notifier ${n.name}`);
      }
    }),
  );
}
