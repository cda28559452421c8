import { defineConfig } from 'tsup';

export default defineConfig({
  // index: defineConfig() and the config loader (the package's exports);
  // cli: the `arca` binary (package.json "bin"), made executable by the shebang banner
  // (harmless in index.js: Node accepts a hashbang line in any ES module).
  entry: { index: 'src/index.ts', cli: 'src/cli.ts' },
  format: ['esm'],
  dts: { entry: { index: 'src/index.ts' } },
  clean: true,
  sourcemap: true,
  target: 'node20',
  banner: { js: '#!/usr/bin/env node' },
});
