import { existsSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

// Tests import sibling packages from source (packages/<name>/src/index.ts for @arca/<name>),
// so `vitest` needs no build first. The test kit is a sub-path export of core.
const alias: Record<string, string> = { '@arca/core/test-kit': here('./packages/core/src/test-kit/index.ts') };
for (const dir of readdirSync(here('./packages'))) {
  const entry = here(`./packages/${dir}/src/index.ts`);
  if (existsSync(entry)) alias[`@arca/${dir}`] = entry;
}

export default defineConfig({
  resolve: { alias },
  test: {
    projects: [
      {
        resolve: { alias },
        test: { name: 'packages', include: ['packages/*/test/**/*.test.ts'], testTimeout: 60_000, hookTimeout: 120_000 },
      },
      {
        resolve: { alias },
        test: { name: 'examples', include: ['examples/**/*.test.ts', 'scripts/**/*.test.ts'], exclude: ['**/node_modules/**'], testTimeout: 180_000, hookTimeout: 120_000 },
      },
      {
        resolve: { alias },
        // Cross-package suites: fault injection (tests/reliability), leak scanning and fuzzing (tests/security).
        test: { name: 'suites', include: ['tests/**/*.test.ts'], testTimeout: 180_000, hookTimeout: 120_000 },
      },
    ],
  },
});
