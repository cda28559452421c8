/**
 * Config loading through the real binary: init in an empty folder, a JSON config with
 * `${ENV}` and `{ "file" }` secrets naming adapters by package (SQLite + directory, age
 * encryption), a TypeScript config found from a subfolder, invalid configs listing every
 * problem (exit 2), and secrets never printed.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RUN_LOG_CSV_COLUMNS } from '@arca/core';
import { arca, buildCli, listFiles, tempProject, type CliResult } from './cli-harness.js';

const projects: string[] = [];
const project = async (name: string) => {
  const dir = await tempProject(name);
  projects.push(dir);
  return dir;
};

beforeAll(() => buildCli('config'));
afterAll(async () => {
  if (process.env.ARCA_KEEP_TMP) return; // keep the projects to look at a failure
  for (const p of projects) await fs.rm(p, { recursive: true, force: true });
});

const both = (r: CliResult) => r.stdout + r.stderr;

describe('arca init', () => {
  it('writes a starter config in an empty folder that then backs up, lists and verifies', async () => {
    const dir = await project('init');
    await fs.writeFile(path.join(dir, 'notes.txt'), 'hello arca\n');
    const init = await arca(['init'], { cwd: dir });
    expect(init.code, init.stderr).toBe(0);
    const text = await fs.readFile(path.join(dir, 'arca.config.json'), 'utf8');
    expect(text).toMatch(/^\/\/ /m); // commented
    expect((await arca(['init'], { cwd: dir })).code).toBe(2); // never overwrites without --force

    const check = await arca(['check', '--json'], { cwd: dir });
    expect(check.code, check.stderr).toBe(0);
    expect(check.json().result.jobs[0]).toMatchObject({ job: 'daily', ok: true });

    const backup = await arca(['backup', '--json'], { cwd: dir });
    expect(backup.code, backup.stderr).toBe(0);
    const doc = backup.json();
    expect(doc).toMatchObject({ schema: 'arca.cli/1', command: 'backup', ok: true, exitCode: 0 });
    expect(doc.result.runs).toHaveLength(1);
    expect(doc.result.runs[0]).toMatchObject({ job: 'daily', status: 'completed', trigger: { type: 'cli' } });
    const id = doc.result.runs[0].backupId as string;
    expect(await listFiles(path.join(dir, 'backups', 'daily', id))).toEqual(['files.tar.gz', 'manifest.json']);

    const list = await arca(['list', 'daily', '--json'], { cwd: dir });
    expect(list.json().result.backups.map((b: { id: string }) => b.id)).toEqual([id]);
    const human = await arca(['list'], { cwd: dir });
    expect(human.stdout).toContain(id);
    const verify = await arca(['verify', 'daily', 'latest', '--json'], { cwd: dir });
    expect(verify.code).toBe(0);
    expect(verify.json().result).toMatchObject({ backupId: id, level: 'checksum', ok: true });
  });

  it('--format ts writes a TypeScript config', async () => {
    const dir = await project('init-ts');
    expect((await arca(['init', '--format', 'ts'], { cwd: dir })).code).toBe(0);
    expect(await fs.readFile(path.join(dir, 'arca.config.ts'), 'utf8')).toContain('defineConfig(');
    const both2 = await arca(['init'], { cwd: dir });
    expect(both2.code).toBe(2); // a second config next to it would be ambiguous
  });
});

describe('JSON config with adapters by package and secrets from env and files', () => {
  let dir: string;
  const env = { UPLOAD_DIR: 'uploads-Zq8sEcretT0ken', HOOK_SECRET: 'hmac-S3cret-9f2b77', ARCA_CLI_TEST: undefined };
  let recipient: string;
  const outputs: CliResult[] = [];
  const run = async (args: string[]) => {
    const r = await arca(args, { cwd: dir, env });
    outputs.push(r);
    return r;
  };

  beforeAll(async () => {
    dir = await project('json');
    const db = new Database(path.join(dir, 'app.db'));
    db.exec('CREATE TABLE tickets (id INTEGER PRIMARY KEY, title TEXT)');
    const ins = db.prepare('INSERT INTO tickets (title) VALUES (?)');
    for (let i = 0; i < 200; i++) ins.run(`ticket ${i}`);
    db.close();
    await fs.mkdir(path.join(dir, env.UPLOAD_DIR));
    await fs.writeFile(path.join(dir, env.UPLOAD_DIR, 'a.png'), 'not really a png');
    const key = await run(['keygen', '--out', 'age-key.txt', '--json']);
    expect(key.code, key.stderr).toBe(0);
    recipient = key.json().result.recipient;
    expect(recipient).toMatch(/^age1[0-9a-z]+$/);
    const config = {
      destinations: { local: { use: 'localDir', path: './backups' } },
      jobs: {
        app: {
          sources: { db: { use: '@arca/source-sqlite', path: './app.db' }, uploads: { use: 'directory', path: './${UPLOAD_DIR}' } },
          destinations: ['local'],
          compress: 'gzip',
          encrypt: { use: 'age', recipients: [recipient] },
          retention: { use: 'allOf', policies: [{ use: 'gfs', daily: 7 }, { use: 'maxAge', days: 30 }] },
        },
      },
      codecs: [{ use: 'age', identities: { file: './age-key.txt' } }],
      notifiers: [{ use: 'webhook', url: 'http://127.0.0.1:9/hook', secret: '${HOOK_SECRET}' }],
      runLog: './backups/runs.jsonl',
    };
    await fs.writeFile(path.join(dir, 'arca.config.json'), `// test project\n${JSON.stringify(config, null, 2)}\n`);
  });

  it('keygen writes the identity with mode 0600 and prints only the public key', async () => {
    const st = await fs.stat(path.join(dir, 'age-key.txt'));
    expect(st.mode & 0o777).toBe(0o600);
    expect(await fs.readFile(path.join(dir, 'age-key.txt'), 'utf8')).toMatch(/^AGE-SECRET-KEY-1[0-9A-Z]+$/m);
    const again = await run(['keygen', '--out', 'age-key.txt']);
    expect(again.code).toBe(2); // never replaces a key
  });

  it('backs up SQLite + a folder, encrypted, and restores the database --into a new file with --yes', async () => {
    const backup = await run(['backup', 'app', '--json']);
    expect(backup.code, backup.stderr).toBe(0);
    const r = backup.json().result.runs[0];
    expect(r.status).toBe('completed');
    const files = r.artifacts.map((a: { file: string; encoding: string[] }) => [a.file, a.encoding.join('+')]).sort();
    expect(files).toEqual([
      ['db.sqlite.gz.age', 'gzip+age'],
      ['uploads.tar.gz.age', 'gzip+age'],
    ]);
    const refused = await run(['restore', 'app', 'latest', '--artifact', 'db', '--into', 'restored.db']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/--yes/);
    await expect(fs.stat(path.join(dir, 'restored.db'))).rejects.toThrow();

    const restored = await run(['restore', 'app', 'latest', '--artifact', 'db', '--into', 'restored.db', '--yes', '--json']);
    expect(restored.code, restored.stderr).toBe(0);
    expect(restored.json().result.artifacts).toMatchObject([{ source: 'db' }]);
    const db = new Database(path.join(dir, 'restored.db'), { readonly: true });
    expect(db.prepare('SELECT count(*) AS n FROM tickets').get()).toEqual({ n: 200 });
    db.close();
  });

  it('prints the history as CSV and JSON', async () => {
    const csv = await run(['runs', 'app', '--csv']);
    expect(csv.code).toBe(0);
    const lines = csv.stdout.trim().split(/\r?\n/);
    expect(lines[0]).toBe(RUN_LOG_CSV_COLUMNS.join(','));
    expect(lines.some((l) => l.startsWith('run,app,completed,'))).toBe(true);
    expect(lines.some((l) => l.startsWith('audit,app,restore,'))).toBe(true);
    const json = await run(['runs', '--json', '--type', 'run']);
    expect(json.json().result.entries.every((e: { type: string }) => e.type === 'run')).toBe(true);
  });

  it('never prints a secret: env values, the age identity, the webhook secret', async () => {
    const show = await run(['show', 'app', 'latest', '--json']);
    expect(show.code).toBe(0);
    const uploads = show.json().result.backup.artifacts.find((a: { source: string }) => a.source === 'uploads');
    expect(JSON.stringify(uploads.describe)).toContain('***'); // the path held an env secret: redacted
    await run(['check', 'app']);
    await run(['show', 'app', 'latest']);
    await run(['prune', '--dry-run']);
    const identity = (await fs.readFile(path.join(dir, 'age-key.txt'), 'utf8')).match(/AGE-SECRET-KEY-1[0-9A-Z]+/)![0];
    expect(outputs.length).toBeGreaterThan(8);
    for (const o of outputs) {
      const text = both(o);
      for (const secret of [env.UPLOAD_DIR, env.HOOK_SECRET, identity, 'AGE-SECRET-KEY-1']) expect(text).not.toContain(secret);
    }
  });
});

describe('TypeScript config', () => {
  it('is found from a subfolder, loaded without a build step, and its relative paths follow the config file', async () => {
    const dir = await project('ts');
    await fs.mkdir(path.join(dir, 'data'));
    await fs.writeFile(path.join(dir, 'data', 'x.txt'), 'x');
    await fs.mkdir(path.join(dir, 'sub', 'deeper'), { recursive: true });
    await fs.writeFile(
      path.join(dir, 'arca.config.ts'),
      `import { directory, localDir, type ArcaConfig } from '@arca/core';
interface Knobs { level: number }
const knobs: Knobs = { level: 1 };
enum Where { Local = './backups' }
const config: ArcaConfig = {
  destinations: { local: localDir({ path: Where.Local }) },
  jobs: { files: { sources: { data: directory({ path: './data' }) }, destinations: ['local'], tags: ['level-' + knobs.level] } },
};
export default config;
`,
    );
    const r = await arca(['backup', '--json'], { cwd: path.join(dir, 'sub', 'deeper') });
    expect(r.code, r.stderr).toBe(0);
    const run = r.json().result.runs[0];
    expect(run).toMatchObject({ job: 'files', status: 'completed' });
    expect(await listFiles(path.join(dir, 'backups', 'files', run.backupId))).toEqual(['data.tar.gz', 'manifest.json']);
    // No runLog in the config: the CLI keeps one next to it.
    const runs = await arca(['runs', '--json'], { cwd: path.join(dir, 'sub') });
    expect(runs.json().result.entries.map((e: { backupId: string }) => e.backupId)).toEqual([run.backupId]);
    await expect(fs.stat(path.join(dir, '.arca', 'runs.jsonl'))).resolves.toBeTruthy();
  });

  it('a factory rejecting its options is a config error (exit 2)', async () => {
    const dir = await project('ts-bad');
    await fs.writeFile(path.join(dir, 'arca.config.mts'), `import { localDir } from '@arca/core';\nexport default { destinations: { local: localDir({ path: 42 as unknown as string }) }, jobs: {} };\n`);
    const r = await arca(['list', '--json'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.json().error).toMatchObject({ code: 'CONFIG_INVALID' });
    expect(r.json().error!.problems!.join('\n')).toMatch(/path/);
  });
});

describe('invalid configs', () => {
  it('lists every shape problem with its path, and exits 2', async () => {
    const dir = await project('bad-shape');
    await fs.writeFile(
      path.join(dir, 'arca.config.json'),
      JSON.stringify({
        destinations: { local: { use: 'localDir', path: './b' }, 'bad name!': { use: 'localDir', path: './c' } },
        jobs: { j: { sources: {}, destinations: ['local'], colour: 'blue' } },
        runLog: '${ARCA_TEST_UNSET_VARIABLE}',
      }),
    );
    const human = await arca(['backup'], { cwd: dir, env: { ARCA_TEST_UNSET_VARIABLE: undefined } });
    expect(human.code).toBe(2);
    expect(human.stdout).toBe('');
    expect(human.stderr).toContain('runLog: environment variable ARCA_TEST_UNSET_VARIABLE is not set');
    expect(human.stderr).toMatch(/destinations\.bad name!.*letters/);
    expect(human.stderr).toMatch(/jobs\.j\.sources: a job needs at least one source/);
    expect(human.stderr).toMatch(/jobs\.j: .*colour/);
    const json = await arca(['backup', '--json'], { cwd: dir, env: { ARCA_TEST_UNSET_VARIABLE: undefined } });
    expect(json.code).toBe(2);
    expect(json.json()).toMatchObject({ ok: false, exitCode: 2, error: { code: 'CONFIG_INVALID' } });
    expect(json.json().error!.problems).toHaveLength(4);
  });

  it('lists every adapter problem (unknown factory, missing package, bad options), then core problems', async () => {
    const dir = await project('bad-adapters');
    await fs.writeFile(
      path.join(dir, 'arca.config.json'),
      JSON.stringify({
        destinations: { local: { use: 'localDir' }, far: { use: '@arca/dest-nowhere', host: 'x' } },
        jobs: { j: { sources: { s: { use: 'nosuchfactory' }, db: { use: '@arca/source-sqlite', path: './x.db', pagesPerStep: 0 } }, destinations: ['local'] } },
      }),
    );
    const r = await arca(['list', '--json'], { cwd: dir });
    expect(r.code).toBe(2);
    const problems = r.json().error!.problems!;
    expect(problems).toHaveLength(4);
    expect(problems.find((p) => p.startsWith('destinations.local'))).toMatch(/^destinations\.local\.path: .*expected string/);
    expect(problems.find((p) => p.startsWith('destinations.far:'))).toMatch(/npm install @arca\/dest-nowhere/);
    expect(problems.find((p) => p.startsWith('jobs.j.sources.s:'))).toMatch(/If you meant a factory of @arca\/core, use one of: localDir, directory/);
    expect(problems.find((p) => p.startsWith('jobs.j.sources.db'))).toMatch(/^jobs\.j\.sources\.db\.pagesPerStep: .*>=1/);

    await fs.writeFile(path.join(dir, 'arca.config.json'), JSON.stringify({ destinations: { local: { use: 'localDir', path: './b' } }, jobs: { j: { sources: { s: { use: 'directory', path: '.' } }, destinations: ['nas'], schedule: 'every blue moon' } } }));
    const core = await arca(['list', '--json'], { cwd: dir });
    expect(core.code).toBe(2);
    expect(core.json().error!.problems!.join('\n')).toMatch(/unknown destination "nas"[\s\S]*schedule/);
  });

  it('a JSON syntax error gives the line and column; no config at all is exit 2 with a hint', async () => {
    const dir = await project('syntax');
    await fs.writeFile(path.join(dir, 'arca.config.json'), '{\n  "destinations": {,\n}\n');
    const r = await arca(['list'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/arca\.config\.json:2:\d+: JSON syntax error/);
    const empty = await project('none');
    const none = await arca(['list', '--config', 'nope.json'], { cwd: empty });
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/does not exist/);
  });
});
