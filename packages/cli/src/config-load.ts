/**
 * Finding and loading `arca.config.{ts,mts,js,mjs,json}`.
 *
 * TypeScript configs are loaded with jiti (in-process, no build step, no child process):
 * Node 20 cannot strip types by itself (`--experimental-strip-types` is Node 22.6+), and
 * jiti is pure JavaScript with no dependencies, where tsx needs esbuild's platform-specific
 * native binary (a second download per OS, a problem on locked-down Windows servers and
 * offline mirrors). ESLint loads `eslint.config.ts` the same way. Packages the config imports
 * (`@arca/core`, adapters) are loaded natively by jiti, so the config and the CLI share one
 * `@arca/core` instance (its secret registry and error classes).
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { createArca, fileLock, jsonlRunLog, redact, type Arca, type ArcaConfig } from '@arca/core';
import { adapterResolver, type AdapterResolver } from './adapter-resolve.js';
import { ConfigErrors, loadJsonConfig } from './json-config.js';
import { UsageError } from './cli-errors.js';

/** Config file names, in the order they are looked for in each folder. */
export const CONFIG_NAMES = ['arca.config.ts', 'arca.config.mts', 'arca.config.js', 'arca.config.mjs', 'arca.config.json'] as const;

/** Where the CLI keeps its run log and locks when the config names none: `<config folder>/.arca/`. */
export const STATE_DIR = '.arca';

/**
 * The config file for `cwd`: the first folder, from `cwd` up to the root, holding one of
 * {@link CONFIG_NAMES}. Throws a usage error when none is found, or when one folder holds
 * several (which one wins would be a guess).
 */
export function findConfigFile(cwd: string): string {
  let dir = path.resolve(cwd);
  for (;;) {
    const found = CONFIG_NAMES.filter((n) => existsSync(path.join(dir, n)));
    if (found.length > 1) throw new UsageError(`${dir} holds ${found.join(' and ')}: keep one, or choose with --config <file>.`);
    if (found.length === 1) return path.join(dir, found[0]!);
    const up = path.dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  throw new UsageError(`No Arca config found in ${path.resolve(cwd)} or any folder above it (${CONFIG_NAMES.join(', ')}). Run \`arca init\` to create one, or pass --config <file>.`);
}

export interface LoadedConfig {
  file: string;
  dir: string;
  format: 'ts' | 'js' | 'json';
  arca: Arca;
  /** Builds `{ "use": ... }` adapters (restore `--into`) the way the JSON config does. */
  adapters: AdapterResolver;
  /** What the CLI filled in because the config did not say (`runLog`, `lock`). */
  defaults: string[];
}

const isArca = (v: unknown): v is Arca => !!v && typeof v === 'object' && ['run', 'list', 'jobs', 'restore'].every((k) => typeof (v as Record<string, unknown>)[k] === 'function');

/** Problems listed in a core `CONFIG_INVALID` message (`  - path: ...` lines), or the message itself. */
export function problemsOf(message: string): string[] {
  const lines = message.split('\n').filter((l) => /^\s+- /.test(l));
  return lines.length ? lines.map((l) => l.replace(/^\s+- /, '')) : [message];
}

async function importModule(file: string): Promise<unknown> {
  if (/\.m?ts$/.test(file)) {
    const { createJiti } = await import('jiti');
    const jiti = createJiti(pathToFileURL(file).href, { interopDefault: true });
    return jiti.import(file);
  }
  return import(pathToFileURL(file).href);
}

/**
 * Load a config file and build the Arca instance. The process moves to the config file's
 * folder first, so relative paths in the config (`./backups`, `tickets.db`) mean the same
 * whatever folder cron or Task Scheduler starts arca in. A config without `runLog` gets
 * `.arca/runs.jsonl` and one without `lock` gets a file lock in `.arca/locks` (a CLI process is
 * short-lived: in-memory history would be lost and cron runs could overlap).
 * Throws `ConfigErrors` (exit 2) listing every problem.
 */
export async function loadConfig(file: string): Promise<LoadedConfig> {
  const full = path.resolve(file);
  if (!existsSync(full)) throw new UsageError(`Config file ${full} does not exist.`);
  const dir = path.dirname(full);
  process.chdir(dir);
  const adapters = adapterResolver(dir);
  const format = full.endsWith('.json') ? 'json' : /\.m?ts$/.test(full) ? 'ts' : 'js';
  let config: unknown;
  if (format === 'json') config = await loadJsonConfig(full, adapters);
  else {
    let mod: unknown;
    try {
      mod = await importModule(full);
    } catch (e) {
      const code = (e as { code?: string })?.code;
      const msg = redact((e as Error)?.message ?? String(e));
      throw new ConfigErrors(full, code === 'CONFIG_INVALID' ? problemsOf(msg) : [`cannot load ${path.basename(full)}: ${msg.split('\n')[0]}`]);
    }
    const m = mod as { default?: unknown };
    config = m && typeof m === 'object' && 'default' in m ? m.default : mod;
    if (typeof config === 'function') config = await (config as () => unknown)();
    if (!config || typeof config !== 'object') throw new ConfigErrors(full, [`${path.basename(full)} must \`export default defineConfig({ destinations, jobs })\` (or an Arca instance)`]);
  }
  const defaults: string[] = [];
  if (isArca(config)) return { file: full, dir, format, arca: config, adapters, defaults };
  const cfg = { ...(config as ArcaConfig) };
  if (cfg.runLog === undefined && cfg.destinations && cfg.jobs) {
    cfg.runLog = jsonlRunLog(path.join(dir, STATE_DIR, 'runs.jsonl'));
    defaults.push(`runLog: ${STATE_DIR}/runs.jsonl`);
  }
  if (cfg.lock === undefined && cfg.destinations && cfg.jobs) {
    cfg.lock = fileLock({ dir: path.join(dir, STATE_DIR, 'locks') }); // created on first use
    defaults.push(`lock: ${STATE_DIR}/locks`);
  }
  try {
    return { file: full, dir, format, arca: createArca(cfg), adapters, defaults };
  } catch (e) {
    if ((e as { code?: string })?.code === 'CONFIG_INVALID') throw new ConfigErrors(full, problemsOf((e as Error).message));
    throw e;
  }
}
