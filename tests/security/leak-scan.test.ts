/**
 * Leak scanner (issue #15): distinct canary secrets planted in every service (see
 * leak-world.ts), every CLI command and every HTTP route run against them — success and
 * failure paths — while a separate process samples the argv of every process on the machine.
 * No canary, raw or encoded (base64, base64url, URL, hex, JSON), may appear in a command line,
 * CLI output, HTTP answer, event, console line, e-mail, run log, manifest or any other file
 * written under the backup roots or received by the servers. The environment of children may
 * hold secrets (that is how they are handed over); their argv may not.
 */
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { describeWithService } from '@arca/core/test-kit';
import { buildCli } from '../../packages/cli/test/cli-harness.js';
import { leaksIn, leaksInTrees, walkFiles, type Leak } from './canaries.js';
import { makeCliProject, runEveryCommand, type CliRun } from './leak-cli.js';
import { callEveryRoute, makeHttpApp, type Exchange, type HttpApp } from './leak-http.js';
import { probeWorld, startWorld, type World } from './leak-world.js';
import { startSampler, type Sampler, type SamplerReport } from './proc-sampler.js';

await describeWithService('leak scanner: canary secrets through every command and route', probeWorld, () => {
  let world: World;
  let sampler: Sampler;
  let report: SamplerReport | undefined;
  let cliDir: string;
  let httpDir: string;
  const consoleLines: string[] = [];

  beforeAll(async () => {
    await buildCli('security-leaks');
    world = await startWorld();
    for (const m of ['log', 'info', 'warn', 'error', 'debug'] as const) {
      const orig = console[m].bind(console);
      vi.spyOn(console, m).mockImplementation((...a: unknown[]) => {
        consoleLines.push(a.map((x) => (typeof x === 'string' ? x : x instanceof Error ? `${x.message}\n${x.stack}` : JSON.stringify(x))).join(' '));
        orig(...a);
      });
    }
    sampler = await startSampler({ canaries: world.canaries });
  });
  afterAll(async () => {
    vi.restoreAllMocks();
    if (!report) await sampler?.stop().catch(() => {});
    await world?.stop();
    if (!process.env.ARCA_KEEP_TMP) for (const d of [cliDir, httpDir]) if (d) await fs.rm(d, { recursive: true, force: true });
  });

  let cliRuns: CliRun[] = [];
  it('arca CLI: every command (success and failure paths) prints no secret, and writes none to backups, run log, servers or mail', async () => {
    cliDir = await makeCliProject(world);
    const { runs, problems } = await runEveryCommand(world, cliDir);
    cliRuns = runs;
    expect(problems).toEqual([]);
    // The failure paths really happened (and their messages are the ones being scanned).
    const text = (args: string) => runs.filter((r) => r.args.join(' ').startsWith(args)).map((r) => r.result.stdout + r.result.stderr).join('\n');
    expect(text('backup broken'), text('backup broken')).toMatch(/Access denied|SOURCE_FAILED|connect/i);
    for (const d of ['deadNas', 'wrongNas', 'wrongCloud', 'deadCloud']) expect(text('backup partial'), text('backup partial')).toContain(d);
    expect(text('backup partial'), text('backup partial')).toMatch(/wrongCloud failed \(DEST_PERMISSION\)/); // s3rver refused the wrong keys

    const leaks: Leak[] = runs.flatMap((r) => [...leaksIn(world.canaries, `stdout of arca ${r.args.join(' ')}`, r.result.stdout), ...leaksIn(world.canaries, `stderr of arca ${r.args.join(' ')}`, r.result.stderr)]);
    const scanned = await leaksInTrees(world.canaries, [cliDir, ...world.serverDirs], (f) => f === path.join(cliDir, 'age-key.txt'));
    leaks.push(...scanned.leaks);
    leaks.push(...world.smtp.mails.flatMap((m, i) => leaksIn(world.canaries, `e-mail ${i}`, m)));
    expect(leaks).toEqual([]);
    // The scan looked at real things: manifests on all three destinations of `main`, the run log, the uncompressed dumps, mail.
    const rel = scanned.files.map((f) => path.relative(cliDir, f));
    expect(rel.filter((f) => f.startsWith('backups/main/') && f.endsWith('manifest.json')).length).toBeGreaterThanOrEqual(2); // backup + safety backup
    expect(rel).toContain('backups/runs.jsonl');
    expect(rel.some((f) => /^backups\/plain\/.+\/my\.sql$/.test(f))).toBe(true);
    expect(scanned.files.filter((f) => f.startsWith(world.s3.dir)).length).toBeGreaterThan(0);
    expect(scanned.files.filter((f) => f.startsWith(world.sftp.root) && f.endsWith('manifest.json')).length).toBeGreaterThan(0);
    const notices = `${text('backup')}\n(mails: ${world.smtp.mails.length}, auth failures: ${world.smtp.authFailures})`;
    expect(world.smtp.mails.length, notices).toBeGreaterThan(0);
    expect(JSON.parse(runs.find((r) => r.args.join(' ') === 'backup main --json')!.result.stdout).result.runs[0].status, text('backup main')).toBe('completed');
    expect(world.smtp.authFailures, notices).toBeGreaterThan(0); // the wrong-password notifier did try
  });

  let app: HttpApp;
  let exchanges: Exchange[] = [];
  it('@arca/http: every API route and dashboard page, every event, console line and file written holds no secret', async () => {
    httpDir = await fs.mkdtemp(path.join(os.tmpdir(), 'arca-sec-http-'));
    app = await makeHttpApp(world, httpDir);
    const before = world.smtp.mails.length;
    const r = await callEveryRoute(app);
    exchanges = r.exchanges;
    app.handler.dispose();
    expect(r.problems).toEqual([]);
    expect(app.errors).toEqual([]);
    const leaks: Leak[] = [
      ...exchanges.flatMap((x) => leaksIn(world.canaries, x.what, x.text)),
      ...app.events.flatMap((e, i) => leaksIn(world.canaries, `event ${i}: ${e.slice(0, 40)}`, e)),
      ...consoleLines.flatMap((l, i) => leaksIn(world.canaries, `console line ${i}`, l)),
      ...world.smtp.mails.slice(before).flatMap((m, i) => leaksIn(world.canaries, `e-mail ${before + i}`, m)),
    ];
    const scanned = await leaksInTrees(world.canaries, [httpDir, ...world.serverDirs]);
    leaks.push(...scanned.leaks);
    expect(leaks).toEqual([]);
    // Coverage of the scan: failed and partial runs are visible in answers and events; a restore and a delete happened.
    const all = exchanges.map((x) => x.text).join('\n');
    expect(all).toMatch(/"status":"completed"/);
    expect(all).toMatch(/"status":"failed"/);
    expect(all).toMatch(/"status":"partial"/);
    expect(exchanges.filter((x) => x.what.startsWith('GET /admin/api/')).length).toBeGreaterThan(20);
    expect(exchanges.some((x) => x.what.includes('/restore') && x.what.startsWith('POST') && x.status === 200)).toBe(true);
    expect(app.events.some((e) => e.startsWith('audit '))).toBe(true);
    expect((await walkFiles(path.join(httpDir, 'backups'))).some((f) => f.endsWith('runs.jsonl'))).toBe(true);
  });

  it('no process on the machine had a canary in its command line while all of it ran', async () => {
    report = await sampler.stop();
    expect(report.leaks).toEqual([]);
    // The sampler saw the children it had to see (so "no leak" is not "not looked").
    const seen = Object.keys(report.commands);
    for (const tools of [['pg_dump'], ['pg_restore'], ['mariadb-dump', 'mysqldump'], ['mariadb', 'mysql']]) {
      expect(seen.some((c) => tools.includes(c)), `${tools.join(' or ')} seen in /proc (saw ${seen.join(', ')})`).toBe(true);
    }
    expect(report.ticks).toBeGreaterThan(50);
    expect(cliRuns.length).toBeGreaterThanOrEqual(15);
  });
});
