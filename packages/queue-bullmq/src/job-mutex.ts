import { randomUUID } from 'node:crypto';

/**
 * The commands used here. BullMQ's `queue.client` is an ioredis connection at run time (we give
 * BullMQ ioredis options) but is typed as its adapter interface, so the runner casts it to this.
 */
export interface MutexRedis {
  get(key: string): Promise<string | null>;
  set(key: string, value: string, px: 'PX', ttlMs: number, nx: 'NX'): Promise<string | null>;
  eval(script: string, numKeys: number, ...args: string[]): Promise<unknown>;
}
type Client = MutexRedis;

// Token-checked refresh and delete: a holder whose key expired (frozen process) never
// extends or deletes the next holder's key. Written by hand because it is three commands;
// BullMQ's own job locks are per queue job, not per Arca job.
const REFRESH = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end`;
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;

export interface MutexHolder {
  runId: string;
  instance: string;
  hostname: string;
  pid: number;
  since: string;
}

export interface MutexHandle {
  release(): Promise<void>;
}

/**
 * One run of an Arca job at a time across the cluster: `SET key value NX PX ttl`, refreshed
 * every ttl/3 while the run lasts, deleted (token-checked) when it ends. A holder that dies
 * stops refreshing, so its key expires after `ttlMs` and never blocks the job for longer.
 */
export function createJobMutex(client: () => Promise<Client>, keyPrefix: string, ttlMs: number) {
  const key = (job: string) => `${keyPrefix}running:${job}`;
  return {
    /** The holder record, or `undefined` when free. Stored as `<token> <json>`. */
    async holder(job: string): Promise<MutexHolder | undefined> {
      const v = await (await client()).get(key(job));
      if (!v) return undefined;
      try {
        return JSON.parse(v.slice(v.indexOf(' ') + 1)) as MutexHolder;
      } catch {
        return undefined;
      }
    },
    /** Take the job's key; `undefined` (at once) when another run holds it. Rejects when Redis fails. */
    async acquire(job: string, holder: MutexHolder): Promise<MutexHandle | undefined> {
      const c = await client();
      const token = `${randomUUID()} ${JSON.stringify(holder)}`;
      const ok = await c.set(key(job), token, 'PX', ttlMs, 'NX');
      if (ok !== 'OK') return undefined;
      const timer = setInterval(() => {
        void c.eval(REFRESH, 1, key(job), token, String(ttlMs)).catch(() => {});
      }, Math.max(50, Math.floor(ttlMs / 3)));
      timer.unref();
      let released = false;
      return {
        async release() {
          if (released) return;
          released = true;
          clearInterval(timer);
          await c.eval(RELEASE, 1, key(job), token).catch(() => {});
        },
      };
    },
  };
}
export type JobMutex = ReturnType<typeof createJobMutex>;
