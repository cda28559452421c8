/**
 * Turns `{ "use": "...", ...options }` entries of a JSON config into adapter objects by calling
 * the factory they name. Adapter packages are resolved from the config file's folder (where
 * the operator ran `npm install @arca/source-postgres`), then from the CLI's own location, with
 * Node's ESM resolution (`import-meta-resolve`: exports maps, conditions and symlinks exactly
 * as `import` would do them; Node 20 has no `import.meta.resolve(specifier, parent)`).
 */
import { pathToFileURL } from 'node:url';
import * as path from 'node:path';
import { resolve as resolveImport } from 'import-meta-resolve';
import * as core from '@arca/core';

/** Factories exported by `@arca/core`, usable by their bare name (`"use": "localDir"`). */
export const CORE_FACTORIES = [
  'localDir',
  'directory',
  'gzip',
  'zstd',
  'age',
  'gfs',
  'maxAge',
  'maxTotalBytes',
  'allOf',
  'anyOf',
  'webhook',
  'slack',
  'discord',
  'teams',
  'telegram',
  'fileLock',
  'jsonlRunLog',
] as const;

/** The adapter packages of the Arca project: their main factory, and the short name for it. */
export const KNOWN_PACKAGES: Record<string, { factory: string; short: string }> = {
  '@arca/source-sqlite': { factory: 'sqlite', short: 'sqlite' },
  '@arca/source-postgres': { factory: 'postgres', short: 'postgres' },
  '@arca/source-mysql': { factory: 'mysql', short: 'mysql' },
  '@arca/dest-s3': { factory: 's3', short: 's3' },
  '@arca/dest-sftp': { factory: 'sftp', short: 'sftp' },
  '@arca/dest-ftp': { factory: 'ftp', short: 'ftp' },
  '@arca/notify-email': { factory: 'email', short: 'email' },
};
const SHORT_NAMES: Record<string, string> = Object.fromEntries(Object.entries(KNOWN_PACKAGES).map(([pkg, k]) => [k.short, `${pkg}#${k.factory}`]));
SHORT_NAMES.pgAdvisoryLock = '@arca/source-postgres#pgAdvisoryLock';

/** A problem found while building adapters: where (config path) and what to do. */
export class ConfigProblem extends Error {
  constructor(
    readonly where: string,
    message: string,
    /** The message is already one `path: problem` per line. */
    readonly prefixed = false,
  ) {
    super(message);
  }

  /** `path: problem` lines, values never included. */
  lines(): string[] {
    return this.prefixed ? this.message.split('\n') : [`${this.where}: ${this.message}`];
  }
}

type Factory = (...args: unknown[]) => unknown;

export interface AdapterResolver {
  /** The factory a `use` value names; rejects with a `ConfigProblem` telling what to install or fix. */
  factory(use: string, where: string): Promise<Factory>;
  /** The folder packages are resolved from (the config file's). */
  readonly baseDir: string;
  /** The file URL of a package's entry, resolved like adapters; rejects with a `ConfigProblem` when it is not installed. */
  url(pkg: string): Promise<string>;
}

export function adapterResolver(baseDir: string): AdapterResolver {
  const modules = new Map<string, Promise<Record<string, unknown>>>();
  const parents = [pathToFileURL(path.join(baseDir, 'arca.config.json')).href, import.meta.url];

  const resolveUrl = (pkg: string): string | undefined => {
    for (const parent of parents) {
      try {
        return resolveImport(pkg, parent);
      } catch {
        // not resolvable from this folder: try the next one
      }
    }
    return undefined;
  };
  const load = (pkg: string, where: string): Promise<Record<string, unknown>> => {
    let p = modules.get(pkg);
    if (!p) {
      p = (async () => {
        const url = resolveUrl(pkg);
        if (!url) {
          const hint = pkg.startsWith('@') || pkg.includes('-') ? '' : ` If you meant a factory of @arca/core, use one of: ${CORE_FACTORIES.join(', ')}.`;
          throw new ConfigProblem(where, `package ${pkg} is not installed: run \`npm install ${pkg}\` in ${baseDir} (next to the config file).${hint}`);
        }
        return (await import(url)) as Record<string, unknown>;
      })();
      modules.set(pkg, p);
    }
    return p;
  };

  return {
    baseDir,
    async url(pkg) {
      const url = resolveUrl(pkg);
      if (!url) throw new ConfigProblem(pkg, `package ${pkg} is not installed: run \`npm install ${pkg}\` in ${baseDir}`);
      return url;
    },
    async factory(use, where) {
      if ((CORE_FACTORIES as readonly string[]).includes(use)) return (core as unknown as Record<string, Factory>)[use]!;
      const spec = SHORT_NAMES[use] ?? use;
      const hash = spec.lastIndexOf('#');
      const pkg = hash > 0 ? spec.slice(0, hash) : spec;
      if (!/^(@[\w.-]+\/)?[\w.-]+$/.test(pkg)) {
        throw new ConfigProblem(
          where,
          `"use": ${JSON.stringify(use)} is not a factory name nor a package name; use one of ${[...CORE_FACTORIES, ...Object.keys(SHORT_NAMES)].join(', ')}, a package name ("@arca/dest-sftp") or "package#exportName"`,
        );
      }
      const mod = await load(pkg, where);
      const name = hash > 0 ? spec.slice(hash + 1) : (KNOWN_PACKAGES[pkg]?.factory ?? 'default');
      const f = mod[name];
      if (typeof f !== 'function') {
        const fns = Object.keys(mod).filter((k) => typeof mod[k] === 'function');
        throw new ConfigProblem(where, `package ${pkg} has no factory "${name}"; name one with "use": "${pkg}#<export>" (its functions: ${fns.join(', ') || 'none'})`);
      }
      return f as Factory;
    },
  };
}
