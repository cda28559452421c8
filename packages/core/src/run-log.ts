import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { z } from 'zod';
import { ArcaError, ErrorCodes, redact } from './errors.js';
import { parseOptions } from './options.js';
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

const JsonlRunLogOptions = z
  .object({
    /** Rotate when an append would grow the file past this many bytes (default: never rotate). */
    maxBytes: z.number().int().min(1024).optional(),
    /** Rotated files kept besides the current one: `<file>.1` (newest) … `<file>.<keep>`; older ones are deleted (default 5). */
    keep: z.number().int().min(0).max(100).optional(),
  })
  .strict();

export type JsonlRunLogOptions = z.input<typeof JsonlRunLogOptions>;

const ignoreMissing = (e: unknown) => {
  if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
};

/**
 * One JSON object per line, appended (O_APPEND) and fsynced. Lines are redacted once more
 * before writing. A torn last line (crash mid-write) is skipped when reading.
 * With `maxBytes`, the file is rotated (`runs.jsonl` → `runs.jsonl.1` → … → `runs.jsonl.<keep>`,
 * the oldest dropped) before an append would make it larger; `read()` spans every kept file.
 */
export function jsonlRunLog(file: string, options: JsonlRunLogOptions = {}): RunLog {
  const full = path.resolve(file);
  const { maxBytes, keep = 5 } = parseOptions(JsonlRunLogOptions, options, 'jsonlRunLog');
  const rotated = (i: number) => `${full}.${i}`;
  async function rotate(): Promise<void> {
    if (keep === 0) return fs.unlink(full).catch(ignoreMissing);
    // Shift from the oldest: rename replaces an existing target atomically, dropping the oldest file.
    for (let i = keep; i >= 1; i--) await fs.rename(i === 1 ? full : rotated(i - 1), rotated(i)).catch(ignoreMissing);
  }
  return {
    async append(entry) {
      await fs.mkdir(path.dirname(full), { recursive: true });
      const line = redact(JSON.stringify(entry)) + '\n';
      if (maxBytes !== undefined) {
        const size = await fs.stat(full).then((st) => st.size, () => 0);
        if (size > 0 && size + Buffer.byteLength(line) > maxBytes) await rotate();
      }
      const h = await fs.open(full, 'a', 0o600);
      try {
        await h.write(line);
        await h.sync();
      } finally {
        await h.close();
      }
    },
    async read(o = {}) {
      const entries: RunLogEntry[] = [];
      const files = [...Array.from({ length: maxBytes === undefined ? 0 : keep }, (_, i) => rotated(keep - i)), full];
      for (const f of files) {
        let text: string;
        try {
          text = await fs.readFile(f, 'utf8');
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
          throw e;
        }
        for (const line of text.split('\n')) {
          if (!line.trim()) continue;
          try {
            entries.push(JSON.parse(line) as RunLogEntry);
          } catch {
            // torn or foreign line: skip it, keep the rest of the history readable
          }
        }
      }
      return queryRunLog(entries, o);
    },
  };
}
