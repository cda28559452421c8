import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { ArcaError, ErrorCodes, redact } from './errors.js';
import type { RunLog, RunLogEntry, RunLogQuery } from './contracts.js';

const time = (v: Date | string | undefined, what: string): number | undefined => {
  if (v === undefined) return undefined;
  const t = v instanceof Date ? v.getTime() : Date.parse(v);
  if (Number.isNaN(t)) throw new ArcaError(ErrorCodes.CONFIG_INVALID, `History query: ${what} ${JSON.stringify(String(v))} is not a date; give a Date or an ISO string like 2026-11-22T02:00:00Z.`);
  return t;
};

/**
 * Apply a history query to entries in append order (oldest first): newest first, filtered,
 * then `offset` and `limit`. For `RunLog` implementations that hold entries in memory or read
 * them from a file.
 */
export function queryRunLog(entries: readonly RunLogEntry[], o: RunLogQuery = {}): RunLogEntry[] {
  const since = time(o.since, 'since');
  const until = time(o.until, 'until');
  const statuses = o.status === undefined ? undefined : new Set(Array.isArray(o.status) ? o.status : [o.status]);
  let skip = o.offset ?? 0;
  const limit = o.limit ?? Infinity;
  const out: RunLogEntry[] = [];
  for (let i = entries.length - 1; i >= 0 && out.length < limit; i--) {
    const e = entries[i]!;
    if (o.job && e.job !== o.job) continue;
    if (o.type && e.type !== o.type) continue;
    if (statuses && (e.type !== 'run' || !statuses.has(e.status))) continue;
    if (since !== undefined || until !== undefined) {
      const t = Date.parse(e.type === 'run' ? e.startedAt : e.at);
      if (since !== undefined && !(t >= since)) continue;
      if (until !== undefined && !(t < until)) continue;
    }
    if (skip > 0) {
      skip--;
      continue;
    }
    out.push(e);
  }
  return out;
}

/** Keeps entries in memory (default when no run log is configured; history is lost on restart). */
export function memoryRunLog(max = 1000): RunLog {
  const entries: RunLogEntry[] = [];
  return {
    async append(entry) {
      entries.push(structuredClone(entry));
      if (entries.length > max) entries.splice(0, entries.length - max);
    },
    async read(o = {}) {
      return queryRunLog(entries, o);
    },
  };
}

/**
 * One JSON object per line, appended (O_APPEND) and fsynced. Lines are redacted once more
 * before writing. A torn last line (crash mid-write) is skipped when reading.
 */
export function jsonlRunLog(file: string): RunLog {
  const full = path.resolve(file);
  return {
    async append(entry) {
      await fs.mkdir(path.dirname(full), { recursive: true });
      const h = await fs.open(full, 'a', 0o600);
      try {
        await h.write(redact(JSON.stringify(entry)) + '\n');
        await h.sync();
      } finally {
        await h.close();
      }
    },
    async read(o = {}) {
      let text: string;
      try {
        text = await fs.readFile(full, 'utf8');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
        throw e;
      }
      const entries: RunLogEntry[] = [];
      for (const line of text.split('\n')) {
        if (!line.trim()) continue;
        try {
          entries.push(JSON.parse(line) as RunLogEntry);
        } catch {
          // torn or foreign line: skip it, keep the rest of the history readable
        }
      }
      return queryRunLog(entries, o);
    },
  };
}
