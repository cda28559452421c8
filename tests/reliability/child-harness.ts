/**
 * Bundle a fixture script (and the workspace sources it imports as `@arca/<name>`) into one
 * .mjs under tests/reliability/.tmp/, so a real child process runs the current sources
 * without a build. Third-party packages stay external and resolve from the repository's
 * node_modules (native ones such as zstd-napi and ssh2's bindings cannot be bundled).
 */
import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Plugin } from 'esbuild';

const here = path.dirname(fileURLToPath(import.meta.url));
const packages = path.resolve(here, '../../packages');

const workspaceSources: Plugin = {
  name: 'arca-workspace-sources',
  setup(b) {
    b.onResolve({ filter: /^@arca\/[^/]+$/ }, (a) => {
      const entry = path.join(packages, a.path.slice('@arca/'.length), 'src', 'index.ts');
      return existsSync(entry) ? { path: entry } : undefined;
    });
    // every other bare specifier (npm packages, node: builtins) stays an import
    b.onResolve({ filter: /^[^./]/ }, (a) => (a.path.startsWith('@arca/') ? undefined : { path: a.path, external: true }));
  },
};

export async function bundleFixture(name: string): Promise<string> {
  const outDir = path.join(here, '.tmp');
  await fs.mkdir(outDir, { recursive: true });
  const outfile = path.join(outDir, `${name}-${process.pid}.mjs`);
  await build({
    entryPoints: [path.join(here, 'fixtures', `${name}.ts`)],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    plugins: [workspaceSources],
    logLevel: 'error',
  });
  return outfile;
}
