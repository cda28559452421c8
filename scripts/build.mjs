// Build every package with tsup: @arca/core first (the others import its types), then the rest.
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, symlinkSync } from 'node:fs';

const dirs = readdirSync('packages').filter((d) => existsSync(`packages/${d}/package.json`));
const order = ['core', ...dirs.filter((d) => d !== 'core').sort()];
for (const d of order) {
  const pkg = JSON.parse(readFileSync(`packages/${d}/package.json`, 'utf8'));
  if (!pkg.scripts?.build) continue;
  console.log(`build ${pkg.name}`);
  execFileSync('npm', ['run', 'build', '--silent'], { cwd: `packages/${d}`, stdio: ['ignore', 'ignore', 'inherit'] });
}

// `npm ci` links a workspace package's bin only when its target exists, and on a fresh clone
// dist/ does not exist yet: `npx arca` (README, examples) would not find the CLI. Link what
// npm would have linked, now that the targets are built.
for (const d of order) {
  const pkg = JSON.parse(readFileSync(`packages/${d}/package.json`, 'utf8'));
  for (const [name, target] of Object.entries(pkg.bin ?? {})) {
    const link = `node_modules/.bin/${name}`;
    chmodSync(`packages/${d}/${target}`, 0o755);
    if (lstatSync(link, { throwIfNoEntry: false })) continue;
    mkdirSync('node_modules/.bin', { recursive: true });
    symlinkSync(`../${pkg.name}/${target.replace(/^\.\//, '')}`, link);
    console.log(`linked node_modules/.bin/${name}`);
  }
}
