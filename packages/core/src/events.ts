import type { ArcaEventName, ArcaEvents } from './contracts.js';

export type Listener<K extends ArcaEventName> = (data: ArcaEvents[K]) => void;

/**
 * A tiny typed emitter. Listener exceptions are caught and reported through `onListenerError`
 * so a broken listener can never fail a backup.
 */
export function createEmitter(onListenerError: (e: unknown, event: ArcaEventName) => void) {
  const listeners = new Map<ArcaEventName, Set<(data: unknown) => void>>();
  return {
    on<K extends ArcaEventName>(event: K, fn: Listener<K>): () => void {
      let set = listeners.get(event);
      if (!set) listeners.set(event, (set = new Set()));
      set.add(fn as (d: unknown) => void);
      return () => set!.delete(fn as (d: unknown) => void);
    },
    emit<K extends ArcaEventName>(event: K, data: ArcaEvents[K]): void {
      for (const fn of listeners.get(event) ?? []) {
        try {
          fn(data);
        } catch (e) {
          if (event !== 'error') onListenerError(e, event);
        }
      }
    },
  };
}
export type Emitter = ReturnType<typeof createEmitter>;
