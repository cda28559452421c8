import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { redact } from './errors.js';
import type { RunLog, RunLogEntry } from './contracts.js';

function select(entries: RunLogEntry[], o: { job?: string; limit?: number }): RunLogEntry[] {
  const out: RunLogEntry[] = [];
  for (let i = entries.length - 1; i >= 0 && out.length < (o.limit ?? Infinity); i--) {
    const e = entries[i]!;
    if (!o.job || e.job === o.job) out.push(e);
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
      return select(entries, o);
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
      return select(entries, o);
    },
  };
}
