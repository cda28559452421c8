/**
 * The CLI half of the leak scanner: a project whose arca.config.json references every secret as
 * `${ENV}` (the age identity as `{ "file" }`), and every command run against it, including the
 * failure paths. Returns every captured output for the scan.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { arca, tempProject, type CliResult } from '../../packages/cli/test/cli-harness.js';
import { secretEnv, specs } from './leak-config.js';
import type { World } from './leak-world.js';

export interface CliRun {
  args: string[];
  result: CliResult;
}

export async function makeCliProject(w: World): Promise<string> {
  const dir = await tempProject('security-leaks');
  await fs.mkdir(path.join(dir, 'data'));
  await fs.writeFile(path.join(dir, 'data', 'notes.txt'), 'nothing secret here\n');
  await fs.writeFile(path.join(dir, 'age-key.txt'), w.age.file, { mode: 0o600 });
  const s = specs(w, (name) => `\${${name}}`, './data', './backups');
  const config = {
    destinations: s.destinations,
    jobs: s.jobs,
    notifiers: s.notifiers,
    codecs: [{ use: 'age', identities: { file: './age-key.txt' } }],
    runLog: './backups/runs.jsonl',
  };
  await fs.writeFile(path.join(dir, 'arca.config.json'), JSON.stringify(config, null, 2));
  return dir;
}

/** Run every command; `expectCode` failures are collected, not thrown, so the scan still runs. */
export async function runEveryCommand(w: World, dir: string): Promise<{ runs: CliRun[]; problems: string[] }> {
  const env = secretEnv(w);
  const runs: CliRun[] = [];
  const problems: string[] = [];
  const run = async (args: string[], expectCode?: number | number[]) => {
    const t0 = Date.now();
    const result = await arca(args, { cwd: dir, env });
    if (process.env.ARCA_SEC_TIMING) console.log(`arca ${args.slice(0, 3).join(' ')}: ${Date.now() - t0} ms`);
    runs.push({ args, result });
    const want = expectCode === undefined ? undefined : ([] as number[]).concat(expectCode);
    if (want && !want.includes(result.code ?? -1)) problems.push(`arca ${args.join(' ')} exited ${result.code}, expected ${want.join('|')}: ${result.stdout.slice(-1500)} ${result.stderr.slice(-600)}`);
    return result;
  };
  const s = specs(w, (name) => `\${${name}}`, './data', './backups');

  // Every command once, alternating human and --json output; independent ones side by side.
  await Promise.all([run(['config', '--json'], 0), run(['check'], 5)]); // broken and partial jobs have unreachable parts
  await Promise.all([run(['backup', 'main', '--json'], 0), run(['backup', 'plain'], 0), run(['backup', 'broken', '--json'], 1), run(['backup', 'partial'], 3)]);
  await Promise.all([run(['list'], 0), run(['show', 'main', 'latest', '--json'], 0), run(['verify', 'main', 'latest'], 0), run(['retry', 'partial', 'latest', '--json'], [1, 3])]);
  await run(['restore', 'main', 'latest', '--artifact', 'pg', '--into', JSON.stringify(s.pgScratch(`${w.pg.database}_cli`)), '--yes', '--json'], 0);
  await run(['restore', 'main', 'latest', '--artifact', 'my', '--yes', '--overwrite'], 0); // in place: a safety backup first
  await Promise.all([run(['runs', '--csv'], 0), run(['health'], [0, 5]), run(['prune', '--dry-run', '--json'], 0)]);
  return { runs, problems };
}
