import type { ArcaContext } from './context.js';

const INTERVAL_MS = 250;

/** Throttled `progress` events (at most 4 per second per run) with rate and ETA. */
export function createProgress(ctx: ArcaContext, ids: { runId: string; job: string; backupId: string }) {
  let artifact: string | undefined;
  let expected: number | undefined;
  let started = 0;
  let last = 0;
  let bytes = 0;
  const emit = (phase: 'dump' | 'copy', force = false) => {
    const t = Date.now();
    if (!force && t - last < INTERVAL_MS) return;
    last = t;
    const secs = Math.max((t - started) / 1000, 0.001);
    const rate = Math.round(bytes / secs);
    const eta = expected !== undefined && rate > 0 ? Math.max(0, Math.round((expected - bytes) / rate)) : undefined;
    ctx.emitter.emit('progress', { ...ids, phase, artifact, bytes, rate, ...(eta !== undefined ? { eta, expectedBytes: expected } : {}) });
  };
  return {
    /** Begin an artifact; returns the per-chunk callback (running byte total). */
    start(name: string, expectedBytes?: number) {
      artifact = name;
      expected = expectedBytes;
      started = Date.now();
      bytes = 0;
      return (total: number) => {
        bytes = total;
        emit('dump');
      };
    },
    end() {
      emit('dump', true);
    },
    copy: (name: string, total: number) => {
      if (artifact !== name) {
        artifact = name;
        started = Date.now();
        expected = undefined;
      }
      bytes = total;
      emit('copy');
    },
  };
}
