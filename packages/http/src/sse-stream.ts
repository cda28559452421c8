import type { RunState, RunTracker, RunUpdate } from './run-tracker.js';
import { withHeaders } from './http-support.js';

const KEEPALIVE_MS = 15_000;

/**
 * A run's live progress as server-sent events: `state` (where it is now) first, then
 * `progress`, `destination` and finally `done` (the RunResult), after which the stream ends.
 * Ends when the client goes away (request signal). Nothing is buffered beyond the events
 * not yet read by a slow client (progress events are at most a few per second).
 */
export function sseResponse(tracker: RunTracker, run: RunState, signal: AbortSignal): Response {
  const enc = new TextEncoder();
  let cleanup = () => {};
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      const send = (event: string, data: unknown) => controller.enqueue(enc.encode(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`));
      const close = () => {
        cleanup();
        try {
          controller.close();
        } catch {
          /* already closed */
        }
      };
      send('state', run);
      if (run.status !== 'running') return close();
      const off = tracker.subscribe(run.runId, (u: RunUpdate) => {
        send(u.type, u.data);
        if (u.type === 'done') close();
      });
      const timer = setInterval(() => controller.enqueue(enc.encode(': keep-alive\n\n')), KEEPALIVE_MS);
      const onAbort = () => close();
      signal.addEventListener('abort', onAbort, { once: true });
      cleanup = () => {
        off();
        clearInterval(timer);
        signal.removeEventListener('abort', onAbort);
      };
    },
    cancel() {
      cleanup();
    },
  });
  return new Response(body, { headers: withHeaders({ 'content-type': 'text/event-stream; charset=utf-8', 'x-accel-buffering': 'no' }) });
}
