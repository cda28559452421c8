/**
 * `@arca/cli`: the `arca` command (see its README), plus what a typed config file needs.
 *
 * ```ts
 * // arca.config.ts: loaded by `arca` without a build step
 * import { defineConfig } from '@arca/cli';
 * import { localDir, directory } from '@arca/core';
 * export default defineConfig({ destinations: { local: localDir({ path: './backups' }) }, jobs: { ... } });
 * ```
 */
import type { ArcaConfig } from '@arca/core';

/** Type helper for `arca.config.ts`: returns the config unchanged. A function (sync or async) returning the config works too. */
export function defineConfig<T extends ArcaConfig | (() => ArcaConfig | Promise<ArcaConfig>)>(config: T): T {
  return config;
}

export { ExitCodes, exitCodeForError, exitCodeForRuns } from './exit-codes.js';
export type { ExitCode } from './exit-codes.js';
export { CONFIG_NAMES, STATE_DIR, findConfigFile, loadConfig } from './config-load.js';
export type { LoadedConfig } from './config-load.js';
export { ConfigErrors, substituteSecrets } from './json-config.js';
export { CORE_FACTORIES, KNOWN_PACKAGES } from './adapter-resolve.js';
export { JSON_SCHEMA } from './output-writer.js';
export type { JsonDocument } from './output-writer.js';
