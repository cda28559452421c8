/**
 * The example configs of the README and docs/guide/cli.md load with the real binary
 * (`arca config` builds every adapter and resolves the jobs, contacting nothing), with their
 * secrets coming from the environment and files and never printed.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { arca, buildCli, PKG_DIR, tempProject } from './cli-harness.js';

const GUIDE = path.join(PKG_DIR, '..', '..', 'docs', 'guide', 'cli.md');
const README = path.join(PKG_DIR, 'README.md');
const projects: string[] = [];

beforeAll(() => buildCli('docs'));
afterAll(async () => {
  for (const p of projects) await fs.rm(p, { recursive: true, force: true });
});

/** The first ```jsonc block containing `marker`. */
async function jsoncBlock(file: string, marker: string): Promise<string> {
  const text = await fs.readFile(file, 'utf8');
  const blocks = [...text.matchAll(/```jsonc\n([\s\S]*?)```/g)].map((m) => m[1]!);
  const block = blocks.find((b) => b.includes(marker));
  if (!block) throw new Error(`no jsonc block with ${marker} in ${file}`);
  return block;
}

/** Put a doc's config in a temp project, with its absolute paths moved inside it. */
async function projectWith(config: string, moves: Record<string, string>): Promise<string> {
  const dir = await tempProject('docs');
  projects.push(dir);
  let text = config;
  for (const [from, to] of Object.entries(moves)) text = text.split(from).join(path.join(dir, to));
  await fs.writeFile(path.join(dir, 'arca.config.json'), text);
  return dir;
}

describe('documented configs', () => {
  it("the guide's PostgreSQL shop config loads: postgres + directories → local + SFTP, e-mail", async () => {
    const dir = await projectWith(await jsoncBlock(GUIDE, '/srv/app/arca.config.json'), {
      '/var/backups/arca': 'backups',
      '/etc/arca/gmail-app-password': 'gmail-app-password',
    });
    const appPassword = 'abcd efgh ijkl mnop';
    await fs.writeFile(path.join(dir, 'gmail-app-password'), `${appPassword}\n`, { mode: 0o600 });
    const env = { NAS_PASSWORD: 'nas-Pw-31f9c', PGPASSWORD: 'pg-Pw-77ab2' };
    const r = await arca(['config', '--json'], { cwd: dir, env });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const job = r.json().result.jobs[0];
    expect(job.name).toBe('nightly');
    expect(job.sources.map((s: { name: string; kind: string }) => `${s.name}:${s.kind}`)).toEqual(['db:postgres', 'config:directory', 'volume:directory']);
    expect(job.destinations.map((d: { name: string; kind: string }) => `${d.name}:${d.kind}`)).toEqual(['local:local', 'nas:sftp']);
    expect(job.codecs).toEqual(['zstd']);
    expect(job.retention).toMatch(/7/);
    expect(r.json().result.defaults).toEqual(['lock: .arca/locks']);
    const human = await arca(['config'], { cwd: dir, env });
    for (const out of [r.stdout + r.stderr, human.stdout + human.stderr]) {
      for (const secret of [env.NAS_PASSWORD, env.PGPASSWORD, appPassword]) expect(out).not.toContain(secret);
    }
    // Without the variables: exit 2 naming both, and nothing else.
    const unset = await arca(['config', '--json'], { cwd: dir, env: { NAS_PASSWORD: undefined, PGPASSWORD: undefined } });
    expect(unset.code).toBe(2);
    expect(unset.json().error!.problems).toEqual([
      expect.stringMatching(/^destinations\.nas\.password: environment variable NAS_PASSWORD is not set/),
      expect.stringMatching(/^jobs\.nightly\.sources\.db\.password: environment variable PGPASSWORD is not set/),
    ]);
  });

  it("the README's JSON config loads", async () => {
    const dir = await projectWith(await jsoncBlock(README, '"nightly"'), { '/var/backups/arca': 'backups', '/etc/arca/pg-password': 'pg-password' });
    await fs.writeFile(path.join(dir, 'pg-password'), 'pg-secret-from-file\n', { mode: 0o600 });
    const r = await arca(['config', '--json'], { cwd: dir, env: { NAS_PASSWORD: 'nas-secret-123' } });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.json().result.jobs[0].destinations.map((d: { kind: string }) => d.kind)).toEqual(['local', 'sftp']);
    expect(r.json().result.defaults).toEqual(['runLog: .arca/runs.jsonl', 'lock: .arca/locks']);
    expect(r.stdout).not.toContain('pg-secret-from-file');
  });

  it('the TypeScript configs of the README and the guide load (defineConfig from @arca/cli, adapters from their packages)', async () => {
    for (const file of [README, GUIDE]) {
      const text = await fs.readFile(file, 'utf8');
      const block = [...text.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!).find((b) => b.includes('defineConfig('));
      expect(block, file).toBeDefined();
      const dir = await tempProject('docs-ts');
      projects.push(dir);
      await fs.writeFile(path.join(dir, 'arca.config.ts'), block!);
      const r = await arca(['config', '--json'], { cwd: dir });
      expect(r.code, `${file}\n${r.stdout}${r.stderr}`).toBe(0);
      const job = r.json().result.jobs[0];
      expect(job.name).toBe('daily');
      expect(job.sources[0]).toMatchObject({ name: 'db', kind: 'sqlite' });
    }
  });
});
