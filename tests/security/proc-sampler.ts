/**
 * Starts fixtures/proc-sampler.mjs: a separate process that samples `/proc/<pid>/cmdline` of
 * every process (looking for the canaries) and the modes of files under watched folders while
 * a test runs. Separate, so that a test blocking its own event loop cannot hide a short-lived
 * child (pg_dump, mariadb-dump, a passfile that lives for 100 ms).
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { CanarySet } from './canaries.js';

const SCRIPT = fileURLToPath(new URL('./fixtures/proc-sampler.mjs', import.meta.url));

export interface SamplerReport {
  /** How many times it looked. */
  ticks: number;
  /** argv[0] basename → number of samples it appeared in (proves the children were seen). */
  commands: Record<string, number>;
  /** Canaries found in a command line. */
  leaks: Array<{ pid: number; command: string; what: string }>;
  /** `"f <path>"` / `"d <path>"` → every mode (octal, 4 digits) the entry was seen with. */
  modes: Record<string, string[]>;
}

export interface Sampler {
  stop(): Promise<SamplerReport>;
}

export async function startSampler(o: { canaries?: CanarySet; watchDirs?: string[]; intervalMs?: number }): Promise<Sampler> {
  // Canaries go through stdin: the sampler's own argv must stay clean (it is sampled too).
  const child = spawn(process.execPath, [SCRIPT], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8');
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: string) => {
      out += d;
      if (out.startsWith('ready\n')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`the /proc sampler exited early (${code})`)));
  });
  child.stdin.write(JSON.stringify({ needles: o.canaries?.needles() ?? [], watchDirs: o.watchDirs ?? [], intervalMs: o.intervalMs ?? 8 }) + '\n');
  await ready;
  return {
    async stop() {
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      child.stdin.end();
      await exited;
      return JSON.parse(out.slice('ready\n'.length)) as SamplerReport;
    },
  };
}
