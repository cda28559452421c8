import type { ArcaContext } from '../pipeline/context.js';
import { getJob } from '../pipeline/context.js';

/** What a job is made of, safe to show (adapters' `describe()` hold no secrets). */
export interface JobInfo {
  name: string;
  schedule?: string;
  timezone?: string;
  sources: Array<{ name: string; kind: string; describe: Record<string, unknown>; canRestore: boolean; canDrill: boolean }>;
  /** In priority order. `retention` is the policy in force there (`describe()`), `null` when none. */
  destinations: Array<{ name: string; kind: string; priority: number; describe: Record<string, unknown>; retention: string | null; canCheck: boolean }>;
  /** The job's retention policy (`describe()`), `null` when it has none. */
  retention: string | null;
  health?: { maxAge?: string; maxStorageBytes?: number };
  /** Codec names applied to artifacts, in order. */
  codecs: string[];
}

const describeSafe = (x: { describe(): Record<string, unknown> }): Record<string, unknown> => {
  try {
    return x.describe();
  } catch {
    return {};
  }
};

/** Describe a job from its resolved config; `NOT_FOUND` for an unknown job. No I/O. */
export function describeJob(ctx: ArcaContext, jobName: string): JobInfo {
  const job = getJob(ctx, jobName);
  const policy = (p: { describe?(): string } | undefined): string | null => (p ? (p.describe?.() ?? 'custom policy') : null);
  return {
    name: job.name,
    ...(job.config.schedule !== undefined ? { schedule: job.config.schedule } : {}),
    ...(job.config.timezone !== undefined ? { timezone: job.config.timezone } : {}),
    sources: job.sources.map((s) => ({ name: s.name, kind: s.source.kind, describe: describeSafe(s.source), canRestore: typeof s.source.restore === 'function', canDrill: typeof s.source.drill === 'function' })),
    destinations: job.destinations.map((d) => ({
      name: d.name,
      kind: d.destination.kind,
      priority: d.priority,
      describe: describeSafe(d.destination),
      retention: policy(d.retention ?? job.config.retention),
      canCheck: typeof d.destination.check === 'function',
    })),
    retention: policy(job.config.retention),
    ...(job.config.health ? { health: { ...job.config.health } } : {}),
    codecs: job.codecs.map((c) => c.name),
  };
}
