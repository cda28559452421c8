import * as os from 'node:os';
import * as path from 'node:path';
import { formatBytes, type Arca } from '@arca/core';
import { UsageError } from './cli-errors.js';
import { findConfigFile, loadConfig, type LoadedConfig } from './config-load.js';
import type { ExitCode } from './exit-codes.js';
import type { Output } from './output-writer.js';

/** What every command gets. */
export interface CommandContext {
  out: Output;
  /** Aborted by the first Ctrl-C / SIGTERM. */
  signal: AbortSignal;
  interrupted(): boolean;
  /** The folder arca was started in (CLI path arguments are relative to it, config paths to the config's folder). */
  cwd: string;
  /** `--config`, resolved against `cwd`. */
  configFile?: string;
  /** Recorded in manifests and the run log (`--actor`, default: the OS user). */
  actor: string;
  /** Find and load the config (once). */
  load(): Promise<LoadedConfig>;
}

/** What a command hands back: its exit code, its `--json` result, and how to print it for people. */
export interface Outcome {
  exitCode: ExitCode;
  result?: unknown;
  render?(out: Output): void;
  /** The command wrote its own output (`runs --csv`, `schedule --json` lines): no final document. */
  streamed?: boolean;
}

export function makeContext(o: { out: Output; signal: AbortSignal; interrupted(): boolean; cwd: string; config?: string; actor?: string }): CommandContext {
  let loaded: Promise<LoadedConfig> | undefined;
  const configFile = o.config ? path.resolve(o.cwd, o.config) : undefined;
  return {
    out: o.out,
    signal: o.signal,
    interrupted: o.interrupted,
    cwd: o.cwd,
    configFile,
    actor: o.actor ?? defaultActor(),
    load: () => (loaded ??= loadConfig(configFile ?? findConfigFile(o.cwd))),
  };
}

function defaultActor(): string {
  try {
    return `cli:${os.userInfo().username}`;
  } catch {
    return 'cli';
  }
}

/** Check job names against the config; no names → every job. */
export function pickJobs(arca: Arca, names: string[] | undefined): string[] {
  const all = arca.jobs();
  if (!names?.length) return all;
  const unknown = names.filter((n) => !all.includes(n));
  if (unknown.length) throw new UsageError(`Unknown job ${unknown.map((n) => JSON.stringify(n)).join(', ')}; the config has: ${all.join(', ') || 'no jobs'}.`);
  return names;
}

/** A backup id argument: an id, or `latest` for the newest restorable backup of the job. */
export async function pickBackupId(arca: Arca, job: string, id: string, signal: AbortSignal): Promise<string> {
  pickJobs(arca, [job]);
  if (id !== 'latest') return id;
  const [newest] = await arca.list(job, { signal });
  if (!newest) throw Object.assign(new Error(`Job ${job} has no restorable backup yet: run \`arca backup ${job}\` first.`), { code: 'NOT_FOUND' });
  return newest.id;
}

export const bytes = (n: number | undefined) => (n === undefined ? '-' : formatBytes(n));

export function duration(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)}s`;
  const m = Math.floor(s / 60);
  return `${m}m${String(Math.round(s % 60)).padStart(2, '0')}s`;
}

/** A compact local date-time for tables (`2026-11-22 02:00:04`); JSON output keeps ISO strings. */
export function when(iso: string | undefined): string {
  if (!iso) return '-';
  const d = new Date(iso);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** Left-aligned columns (no colours inside cells, so widths are right). */
export function table(rows: string[][]): string[] {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd());
}

/** Whether the Arca instance has an optional method (core grows: feature-detect rather than assume). */
export function has<K extends string>(arca: object, method: K): arca is Record<K, (...a: never[]) => unknown> {
  return typeof (arca as Record<string, unknown>)[method] === 'function';
}

export function notSupported(what: string): never {
  throw Object.assign(new Error(`This version of @arca/core has no ${what}: update @arca/core.`), { code: 'NOT_SUPPORTED' });
}
