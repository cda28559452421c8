// publint every package (exports map, files, types) after a build.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';

for (const d of readdirSync('packages')) {
  if (!existsSync(`packages/${d}/package.json`)) continue;
  execFileSync('npx', ['publint', '--strict', `packages/${d}`], { stdio: 'inherit' });
}
