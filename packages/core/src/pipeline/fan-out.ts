import { ArcaError, ErrorCodes } from '../errors.js';
import type { Bytes } from '../contracts.js';
import { recyclerOf } from '../buffer-recycling.js';

/**
 * Fan one byte stream out to several consumers (destination uploads) with backpressure.
 *
 * Written by hand because no maintained library does what a backup needs here: every
 * consumer gets every chunk, the producer advances only when each live consumer has
 * room (memory stays bounded at ~`highWaterMark` chunks per consumer), and a consumer
 * that fails or stalls is detached — its own upload is aborted — while the others go on.
 */
export interface FanOutSink<T> {
  name: string;
  /** Consume the stream. Must reject if it stops early; it receives an AbortSignal fired on detachment. */
  consume(data: AsyncIterable<Bytes>, signal: AbortSignal): Promise<T>;
}

export type FanOutResult<T> = { ok: true; value: T } | { ok: false; error: unknown };

export interface FanOutOptions {
  /** Chunks buffered per consumer before the producer waits (default 4; the backup pipeline sends 1 MiB chunks, see `coalesce`). */
  highWaterMark?: number;
  /** Detach a consumer that accepts nothing for this long (ms, default 120 000). 0 disables. */
  stallTimeoutMs?: number;
  signal?: AbortSignal;
}

interface Branch<T> {
  sink: FanOutSink<T>;
  queue: Bytes[];
  ended: boolean;
  failed?: unknown;
  dead: boolean;
  /** Why the fan-out detached this consumer (stall, abort): reported instead of the consumer's own error. */
  reason?: unknown;
  controller: AbortController;
  /** When the consumer last took a chunk (ms): the stall timer counts from here. */
  lastTake: number;
  wakeConsumer?: () => void;
  wakeProducer?: () => void;
  result?: Promise<FanOutResult<T>>;
}

export async function fanOut<T>(
  input: AsyncIterable<Bytes>,
  sinks: FanOutSink<T>[],
  o: FanOutOptions = {},
): Promise<{ results: Map<string, FanOutResult<T>>; inputError?: unknown }> {
  const hwm = o.highWaterMark ?? 4;
  const stallMs = o.stallTimeoutMs ?? 120_000;
  const branches: Branch<T>[] = sinks.map((sink) => ({ sink, queue: [], ended: false, dead: false, lastTake: 0, controller: new AbortController() }));
  const onAbort = () => branches.forEach((b) => b.controller.abort(o.signal?.reason));
  o.signal?.addEventListener('abort', onAbort, { once: true });

  const kill = (b: Branch<T>, reason: unknown) => {
    if (b.dead) return;
    b.dead = true;
    b.reason = reason;
    b.queue.length = 0;
    b.controller.abort(reason);
    b.wakeProducer?.();
  };

  // Recycling (see `Recyclable`): a chunk goes back to the producer only once every consumer
  // it was handed to gave it back. A consumer that does not (or is detached) keeps its count
  // above zero: the chunk is then simply not reused. A chunk seen again while still counted
  // (a producer that yields one buffer twice) is never forwarded (NaN).
  const upstream = recyclerOf(input);
  const pending = new WeakMap<Bytes, number>();
  const recycle = (chunk: Bytes) => {
    const n = pending.get(chunk);
    if (n === undefined) return;
    if (n === 1) {
      pending.delete(chunk);
      upstream!(chunk);
    } else pending.set(chunk, n - 1);
  };

  for (const b of branches) {
    async function* feed(): AsyncGenerator<Bytes> {
      for (;;) {
        if (b.queue.length) {
          const chunk = b.queue.shift()!;
          b.lastTake = Date.now();
          b.wakeProducer?.();
          yield chunk;
          continue;
        }
        if (b.failed !== undefined) throw b.failed;
        if (b.ended) return;
        if (b.dead) throw new ArcaError(ErrorCodes.ABORTED, `Upload to ${b.sink.name} was detached.`);
        await new Promise<void>((r) => (b.wakeConsumer = r));
        b.wakeConsumer = undefined;
      }
    }
    b.result = Promise.resolve()
      .then(() => b.sink.consume(upstream ? Object.assign(feed(), { recycle }) : feed(), b.controller.signal))
      .then(
        (value): FanOutResult<T> => {
          if (!b.ended && !b.dead) {
            // The consumer resolved without reading everything: treat as a failure.
            const error = new ArcaError(ErrorCodes.INTERNAL, `Destination ${b.sink.name} finished before the data ended.`);
            kill(b, error);
            return { ok: false, error };
          }
          return { ok: true, value };
        },
        (error): FanOutResult<T> => {
          kill(b, error);
          return { ok: false, error: b.reason ?? error };
        },
      );
  }

  /** Wait until `b` holds fewer than `limit` chunks; detach it if it takes none for `stallMs`. */
  const waitForRoom = async (b: Branch<T>, limit = hwm) => {
    const started = Date.now();
    while (!b.dead && b.queue.length >= limit) {
      const remaining = stallMs > 0 ? stallMs - (Date.now() - Math.max(started, b.lastTake)) : Infinity;
      if (remaining <= 0) {
        kill(b, new ArcaError(ErrorCodes.DEST_STALLED, `Destination ${b.sink.name} accepted no data for ${Math.round(stallMs / 1000)} s and was detached; the other destinations went on. Check its network or disk, then use retryFailed.`));
        return;
      }
      await new Promise<void>((r) => {
        const t = Number.isFinite(remaining) ? setTimeout(r, remaining) : undefined;
        b.wakeProducer = () => {
          if (t) clearTimeout(t);
          r();
        };
      });
      b.wakeProducer = undefined;
    }
  };

  let inputError: unknown;
  try {
    for await (const chunk of input) {
      const live = branches.filter((b) => !b.dead);
      if (live.length === 0) break;
      if (upstream) pending.set(chunk, pending.has(chunk) ? NaN : live.length);
      for (const b of live) {
        b.queue.push(chunk);
        b.wakeConsumer?.();
      }
      await Promise.all(live.map((b) => waitForRoom(b)));
    }
  } catch (e) {
    inputError = e;
  }
  for (const b of branches) {
    if (inputError !== undefined) b.failed = inputError;
    else b.ended = true;
    b.wakeConsumer?.();
  }
  // A consumer that stops taking chunks after the input ended (the queue never filled, e.g.
  // a small artifact in 1 MiB chunks) is detached the same way, instead of waiting forever.
  if (inputError === undefined) await Promise.all(branches.map((b) => waitForRoom(b, 1)));
  o.signal?.removeEventListener('abort', onAbort);
  const results = new Map<string, FanOutResult<T>>();
  for (const b of branches) results.set(b.sink.name, await b.result!);
  return { results, inputError };
}
