import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = (p: string) => fileURLToPath(new URL(p, import.meta.url));

// Tests import sibling packages from source, so `vitest` needs no build first.
const alias = {
  '@arca/core/test-kit': src('./packages/core/src/test-kit/index.ts'),
  '@arca/core': src('./packages/core/src/index.ts'),
  '@arca/source-sqlite': src('./packages/source-sqlite/src/index.ts'),
};

export default defineConfig({
  resolve: { alias },
  test: {
    projects: [
      {
        resolve: { alias },
        test: { name: 'packages', include: ['packages/*/test/**/*.test.ts'], testTimeout: 60_000, hookTimeout: 60_000 },
      },
      {
        resolve: { alias },
        test: { name: 'examples', include: ['examples/**/*.test.ts', 'scripts/**/*.test.ts'], testTimeout: 120_000 },
      },
    ],
  },
});
