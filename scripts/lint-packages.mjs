// Lint every package's published shape after a build: publint (exports map, files, types)
// and @arethetypeswrong/cli (types resolve for ESM consumers; CJS is not offered).
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';

for (const d of readdirSync('packages').sort()) {
  if (!existsSync(`packages/${d}/package.json`)) continue;
  execFileSync('npx', ['publint', '--strict', `packages/${d}`], { stdio: 'inherit' });
  execFileSync('npx', ['attw', '--pack', `packages/${d}`, '--profile', 'esm-only', '--format', 'table-flipped'], { stdio: ['ignore', 'ignore', 'inherit'] });
  console.log(`attw ${d}: ok`);
}
