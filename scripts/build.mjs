// Build every package with tsup: @arca/core first (the others import its types), then the rest.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';

const dirs = readdirSync('packages').filter((d) => existsSync(`packages/${d}/package.json`));
const order = ['core', ...dirs.filter((d) => d !== 'core').sort()];
for (const d of order) {
  const pkg = JSON.parse(readFileSync(`packages/${d}/package.json`, 'utf8'));
  if (!pkg.scripts?.build) continue;
  console.log(`build ${pkg.name}`);
  execFileSync('npm', ['run', 'build', '--silent'], { cwd: `packages/${d}`, stdio: ['ignore', 'ignore', 'inherit'] });
}
