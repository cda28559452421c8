/** `backup` (alias `run`), `check` and `schedule`: the commands that run jobs or probe their parts. */
import type { Arca, JobCheck, RunResult } from '@arca/core';
import { bytes, duration, has, notSupported, pickJobs, type CommandContext, type Outcome } from './command-support.js';
import { ExitCodes, exitCodeForRuns } from './exit-codes.js';
import { attachProgress } from './progress-bar.js';
import type { Output } from './output-writer.js';

export function runLine(r: RunResult, out: Output): string {
  const st = r.status === 'completed' ? out.out.green(r.status) : r.status === 'partial' ? out.out.yellow(r.status) : out.out.red(r.status);
  const dests = r.destinations.map((d) => `${d.name} ${d.status === 'completed' ? 'ok' : `${d.status}${d.error ? ` (${d.error.code})` : ''}`}`).join(', ');
  return `${r.job} ${r.backupId || '-'} ${st} ${bytes(r.bytes)} in ${duration(r.durationMs)}${dests ? ` → ${dests}` : ''}${r.error ? `\n  ${out.out.red(r.error.code)}: ${r.error.message}` : ''}`;
}

/**
 * Run each job once, one after the other (a failed job does not stop the next). Exit code:
 * the worst run (1 failed, 4 locked, 3 partial, 0 completed); 130 when interrupted, which
 * aborts the running backup (uploads aborted, temp files removed, no manifest written) and
 * starts no further job.
 */
export async function backupCommand(ctx: CommandContext, jobNames: string[], o: { tag?: string[] }): Promise<Outcome> {
  const { arca } = await ctx.load();
  const jobs = pickJobs(arca, jobNames);
  const detach = attachProgress(arca, ctx.out);
  const runs: RunResult[] = [];
  try {
    for (const job of jobs) {
      if (ctx.interrupted()) break;
      let r: RunResult;
      try {
        r = await arca.run(job, { trigger: { type: 'cli', actor: ctx.actor }, actor: ctx.actor, tags: o.tag, signal: ctx.signal });
      } catch (e) {
        // run() rejects only for LOCKED (another run holds the job) or an unknown job.
        const err = e as { code?: string; message?: string };
        const now = new Date().toISOString();
        r = {
          runId: '',
          job,
          backupId: '',
          status: 'failed',
          trigger: { type: 'cli', actor: ctx.actor },
          startedAt: now,
          finishedAt: now,
          durationMs: 0,
          bytes: 0,
          artifacts: [],
          destinations: [],
          error: { name: 'ArcaError', code: (err.code ?? 'INTERNAL') as 'INTERNAL', message: err.message ?? String(e) },
        };
      }
      runs.push(r);
      if (!ctx.out.json) ctx.out.print(runLine(r, ctx.out));
    }
  } finally {
    detach();
  }
  return { exitCode: exitCodeForRuns(runs, ctx.interrupted()), result: { runs } };
}

function checkLines(c: JobCheck, out: Output): string[] {
  const lines = [`${c.job}: ${c.ok ? out.out.green('ok') : out.out.red('problems')}`];
  for (const [what, list] of [['source', c.sources], ['destination', c.destinations]] as const) {
    for (const x of list) {
      lines.push(`  ${x.report.ok ? out.out.green('✓') : out.out.red('✗')} ${what} ${x.name} (${x.kind})${factsText(x.report.facts)}`);
      for (const p of x.report.problems) lines.push(`      ${out.out.red('-')} ${p}`);
    }
  }
  return lines;
}

function factsText(facts: Record<string, unknown>): string {
  const parts = Object.entries(facts)
    .filter(([, v]) => v !== undefined && v !== null && typeof v !== 'object')
    .slice(0, 4)
    .map(([k, v]) => `${k}=${/bytes/i.test(k) && typeof v === 'number' ? bytes(v) : String(v)}`);
  return parts.length ? ` ${parts.join(' ')}` : '';
}

/** Pre-flight of every source and destination of the jobs. Exit 5 when any reports a problem. */
export async function checkCommand(ctx: CommandContext, jobNames: string[]): Promise<Outcome> {
  const { arca } = await ctx.load();
  const jobs = pickJobs(arca, jobNames);
  const checks: JobCheck[] = [];
  for (const job of jobs) checks.push(await arca.check(job, { signal: ctx.signal }));
  return {
    exitCode: checks.every((c) => c.ok) ? ExitCodes.OK : ExitCodes.PROBLEMS,
    result: { ok: checks.every((c) => c.ok), jobs: checks },
    render: (out) => checks.flatMap((c) => checkLines(c, out)).forEach((l) => out.print(l)),
  };
}

/**
 * Foreground daemon: arm every job's schedule with core's in-process scheduler and run until
 * SIGINT/SIGTERM, then stop gracefully (running backups get `--stop-timeout` to finish, then are
 * aborted). With `--json`, one JSON line per event (run:start, run:done, run:skipped, error)
 * on stdout instead of a single document. Exit 0 after a graceful stop.
 */
export async function scheduleCommand(ctx: CommandContext, o: { stopTimeout: number }): Promise<Outcome> {
  const { arca } = await ctx.load();
  if (!has(arca, 'start') || !has(arca, 'stop')) notSupported('scheduler (arca.start/stop)');
  const scheduled = arca.jobs().filter((j) => arca.nextRuns(j, 1).length > 0);
  if (!scheduled.length) {
    return { exitCode: ExitCodes.USAGE, result: { scheduled: [] }, render: (out) => out.note('No job has a schedule: add "schedule": "daily@02:00" to a job.') };
  }
  const out = ctx.out;
  const emit = (event: string, data: unknown) => out.jsonLine({ schema: 'arca.cli/1', event, at: new Date().toISOString(), data });
  for (const j of scheduled) {
    const next = arca.nextRuns(j, 1)[0]!.toISOString();
    if (out.json) emit('scheduled', { job: j, nextRun: next });
    else out.print(`${j}: next run ${next}`);
  }
  const offs = [
    arca.on('run:start', (e) => (out.json ? emit('run:start', e) : out.print(`${e.job} started ${e.backupId}`))),
    arca.on('run:done', (r) => (out.json ? emit('run:done', r) : out.print(runLine(r, out)))),
    arca.on('run:skipped', (r) => (out.json ? emit('run:skipped', r) : out.print(`${r.job} skipped: ${r.error.message}`))),
    arca.on('error', (e) => (out.json ? emit('error', e) : out.note(`error (${e.context}): ${e.error.code}: ${e.error.message}`))),
  ];
  await arca.start();
  if (!out.json) out.note(`Scheduler running for ${scheduled.join(', ')}; Ctrl-C or SIGTERM stops it.`);
  await new Promise<void>((resolve) => {
    if (ctx.signal.aborted) resolve();
    else ctx.signal.addEventListener('abort', () => resolve(), { once: true });
  });
  if (!out.json) out.note(`Stopping: waiting up to ${o.stopTimeout} ms for running backups...`);
  await arca.stop({ timeoutMs: o.stopTimeout });
  for (const off of offs) off();
  if (out.json) emit('stopped', {});
  return { exitCode: ExitCodes.OK, streamed: out.json };
}

export type { Arca };
