import type { Arca, ArcaEvents, DestinationResult, ProgressEvent, RunOptions, RunResult } from '@arca/core';

export type RunUpdate =
  | { type: 'progress'; data: ProgressEvent }
  | { type: 'destination'; data: DestinationResult }
  | { type: 'done'; data: RunResult };

export interface RunState {
  runId: string;
  job: string;
  backupId: string;
  startedAt: string;
  status: 'running' | RunResult['status'];
  trigger: ArcaEvents['run:start']['trigger'];
  progress?: ProgressEvent;
  destinations: DestinationResult[];
  result?: RunResult;
}

const KEEP_FINISHED = 50;

/**
 * Follows every run of an Arca instance (started here, by the scheduler or elsewhere in the
 * process) through its events, so the dashboard can show live progress over SSE. Keeps the
 * running ones and the last 50 finished ones; nothing else.
 */
export function createRunTracker(arca: Arca) {
  const runs = new Map<string, RunState>();
  const subscribers = new Map<string, Set<(u: RunUpdate) => void>>();
  const send = (runId: string, u: RunUpdate) => {
    for (const fn of subscribers.get(runId) ?? []) fn(u);
  };
  const offs = [
    arca.on('run:start', (e) => {
      runs.set(e.runId, { runId: e.runId, job: e.job, backupId: e.backupId, startedAt: e.startedAt, status: 'running', trigger: e.trigger, destinations: [] });
    }),
    arca.on('progress', (e) => {
      const r = runs.get(e.runId);
      if (r) r.progress = e;
      send(e.runId, { type: 'progress', data: e });
    }),
    arca.on('destination:done', (e) => {
      const r = runs.get(e.runId);
      if (r) r.destinations.push(e.destination);
      send(e.runId, { type: 'destination', data: e.destination });
    }),
    arca.on('run:done', (e) => {
      const r = runs.get(e.runId);
      if (r) {
        r.status = e.status;
        r.result = e;
      }
      send(e.runId, { type: 'done', data: e });
      subscribers.delete(e.runId);
      const finished = [...runs.values()].filter((x) => x.status !== 'running');
      for (const x of finished.slice(0, Math.max(0, finished.length - KEEP_FINISHED))) runs.delete(x.runId);
    }),
  ];
  return {
    get: (runId: string) => runs.get(runId),
    /** The run of this job in progress in this process, if any. */
    runningFor: (job: string) => [...runs.values()].find((r) => r.job === job && r.status === 'running'),
    /**
     * Start a backup without waiting for it: resolves with its ids as soon as it started
     * (`run:start`), rejects when `arca.run` refuses it (`LOCKED`, `NOT_FOUND`, `ABORTED`).
     */
    start(job: string, o: RunOptions & { trigger: 'manual' | 'api' }): Promise<{ runId: string; backupId: string }> {
      return new Promise((resolve, reject) => {
        let settled = false;
        // arca.run marks the job running before it emits run:start, and refuses a second run
        // of a running job, so the next run:start of this job with our trigger is ours.
        const off = arca.on('run:start', (e) => {
          if (settled || e.job !== job || e.trigger.type !== o.trigger || e.trigger.actor !== o.actor) return;
          settled = true;
          off();
          resolve({ runId: e.runId, backupId: e.backupId });
        });
        arca.run(job, o).then(
          (r) => {
            off();
            if (!settled) {
              settled = true;
              resolve({ runId: r.runId, backupId: r.backupId });
            }
          },
          (e: unknown) => {
            off();
            if (!settled) {
              settled = true;
              reject(e);
            }
          },
        );
      });
    },
    subscribe(runId: string, fn: (u: RunUpdate) => void): () => void {
      let set = subscribers.get(runId);
      if (!set) subscribers.set(runId, (set = new Set()));
      set.add(fn);
      return () => set!.delete(fn);
    },
    dispose() {
      for (const off of offs) off();
    },
  };
}
export type RunTracker = ReturnType<typeof createRunTracker>;
