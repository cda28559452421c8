/** `list`, `show`, `verify`, `restore`, `retry`, `prune`: commands on stored backups. */
import * as path from 'node:path';
import { createInterface } from 'node:readline/promises';
import type { BackupSummary, PruneReport, RestoreBackupOptions, Source, VerifyReport } from '@arca/core';
import { buildAdapter, ConfigErrors, substituteSecrets, parseJsonText } from './json-config.js';
import { ConfigProblem } from './adapter-resolve.js';
import { UsageError } from './cli-errors.js';
import { bytes, duration, has, notSupported, pickBackupId, pickJobs, table, when, type CommandContext, type Outcome } from './command-support.js';
import { ExitCodes } from './exit-codes.js';
import type { LoadedConfig } from './config-load.js';

export async function listCommand(ctx: CommandContext, job: string | undefined): Promise<Outcome> {
  const { arca } = await ctx.load();
  const jobs = pickJobs(arca, job !== undefined ? [job] : []); // "" (an unset $JOB) is an unknown job, not every job
  const backups: BackupSummary[] = [];
  for (const j of jobs) backups.push(...(await arca.list(j, { signal: ctx.signal })));
  return {
    exitCode: ExitCodes.OK,
    result: { backups },
    render: (out) => {
      if (!backups.length) return out.print(`No backups yet${job ? ` for ${job}` : ''}: run \`arca backup${job ? ` ${job}` : ''}\`.`);
      const rows = [['JOB', 'ID', 'STARTED', 'SIZE', 'TRIGGER', 'DESTINATIONS']];
      for (const b of backups) rows.push([b.job, b.id, when(b.startedAt), bytes(b.bytes), b.trigger.type, b.destinations.join(',')]);
      table(rows).forEach((l, i) => out.print(i === 0 ? out.out.dim(l) : l));
    },
  };
}

export async function showCommand(ctx: CommandContext, job: string, idArg: string): Promise<Outcome> {
  const { arca } = await ctx.load();
  const id = await pickBackupId(arca, job, idArg, ctx.signal);
  const b = await arca.get(job, id, { signal: ctx.signal });
  return {
    exitCode: ExitCodes.OK,
    result: { backup: b },
    render: (out) => {
      out.print(`${out.out.bold(`${b.job} ${b.id}`)}`);
      out.print(`  started   ${b.startedAt}  (${duration(Date.parse(b.finishedAt) - Date.parse(b.startedAt))})`);
      out.print(`  trigger   ${b.trigger.type}${b.trigger.actor ? ` by ${b.trigger.actor}` : ''}`);
      out.print(`  size      ${bytes(b.bytes)}${b.tags.length ? `  tags ${b.tags.join(', ')}` : ''}`);
      out.print(`  stored on ${b.destinations.join(', ')}`);
      out.print('  artifacts');
      table(b.artifacts.map((a) => ['   ', a.source, a.file, bytes(a.bytes), a.encoding.join('+') || 'raw', `sha256 ${a.sha256.slice(0, 16)}…`])).forEach((l) => out.print(l));
    },
  };
}

export async function verifyCommand(ctx: CommandContext, job: string, idArg: string, o: { level?: string; destination?: string[] }): Promise<Outcome> {
  const { arca } = await ctx.load();
  if (o.level !== undefined && o.level !== 'exists' && o.level !== 'checksum' && o.level !== 'restore') throw new UsageError(`--level must be "exists", "checksum" or "restore" (got ${JSON.stringify(o.level)}).`);
  const id = await pickBackupId(arca, job, idArg, ctx.signal);
  const report: VerifyReport = await arca.verify(job, id, { level: o.level as VerifyReport['level'] | undefined, destinations: o.destination, actor: ctx.actor, signal: ctx.signal });
  return {
    exitCode: report.ok ? ExitCodes.OK : ExitCodes.PROBLEMS,
    result: report,
    render: (out) => {
      out.print(`${job} ${id} (${report.level}): ${report.ok ? out.out.green('ok') : out.out.red('FAILED')}`);
      for (const d of report.destinations) {
        out.print(`  ${d.ok ? out.out.green('✓') : out.out.red('✗')} ${d.name}${d.holds ? '' : ' (does not hold it)'} ${duration(d.durationMs)}`);
        for (const a of d.artifacts.filter((x) => !x.ok)) out.print(`      ${a.file}: ${a.error?.code ?? 'mismatch'} ${a.error?.message ?? ''}`);
      }
      if (report.drills && !report.drills.length) out.print('  no source of this job supports restore drills: only checksums were verified');
      for (const d of report.drills ?? []) {
        out.print(`  ${d.ok ? out.out.green('✓') : out.out.red('✗')} drill ${d.source} from ${d.from ?? '-'} ${duration(d.durationMs)} (restore + checks: the measured RTO)`);
        for (const p of d.problems) out.print(`      ${p}`);
      }
    },
  };
}

/** Build the `--into` target: a `{ "use": ... }` JSON spec, or a path for path-based kinds (directory, sqlite). */
async function intoTarget(loaded: LoadedConfig, ctx: CommandContext, into: string, kind: string): Promise<Source> {
  const trimmed = into.trim();
  if (trimmed.startsWith('{')) {
    const problems: string[] = [];
    const raw = parseJsonText(trimmed, '--into', problems);
    const spec = substituteSecrets(raw, ctx.cwd, problems) as { use?: unknown };
    if (!problems.length && (typeof spec !== 'object' || !spec || typeof spec.use !== 'string')) problems.push('--into: a JSON target needs "use", e.g. {"use":"@arca/source-postgres","database":"scratch"}');
    if (problems.length) throw new ConfigErrors('--into', problems);
    try {
      return (await buildAdapter(spec as { use: string }, '--into', loaded.adapters)) as Source;
    } catch (e) {
      if (e instanceof ConfigProblem) throw new ConfigErrors('--into', [e.message]);
      throw e;
    }
  }
  const target = path.resolve(ctx.cwd, into);
  if (kind === 'directory') return (await buildAdapter({ use: 'directory', path: target }, '--into', loaded.adapters)) as Source;
  if (kind === 'sqlite') return (await buildAdapter({ use: '@arca/source-sqlite', path: target }, '--into', loaded.adapters)) as Source;
  throw new UsageError(`--into <path> works for directory and sqlite artifacts; for a ${kind} artifact describe the target as JSON, e.g. --into '{"use":"@arca/source-${kind}","database":"scratch"}'.`);
}

async function confirm(ctx: CommandContext, question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  const onAbort = () => rl.close();
  ctx.signal.addEventListener('abort', onAbort, { once: true });
  try {
    const answer = await rl.question(`${question} Type "yes" to go on: `);
    return answer.trim().toLowerCase() === 'yes';
  } catch {
    return false;
  } finally {
    ctx.signal.removeEventListener('abort', onAbort);
    rl.close();
  }
}

/**
 * Restore a backup: in place (a safety backup of the current state is taken first, unless
 * `--no-safety-backup`) or `--into` another target. Asks for confirmation on a terminal;
 * without a terminal it needs `--yes` (exit 2 otherwise), so a script never restores by accident.
 */
export async function restoreCommand(
  ctx: CommandContext,
  job: string,
  idArg: string,
  o: { artifact?: string; into?: string; from?: string; overwrite?: boolean; safetyBackup?: boolean; yes?: boolean },
): Promise<Outcome> {
  const loaded = await ctx.load();
  const { arca } = loaded;
  const id = await pickBackupId(arca, job, idArg, ctx.signal);
  const backup = await arca.get(job, id, { signal: ctx.signal });
  const artifacts = backup.artifacts.filter((a) => o.artifact === undefined || a.source === o.artifact);
  if (!artifacts.length) throw new UsageError(`Backup ${id} has no artifact ${JSON.stringify(o.artifact)}; it has: ${backup.artifacts.map((a) => a.source).join(', ')}.`);
  const opts: RestoreBackupOptions = { artifact: o.artifact, from: o.from, overwrite: o.overwrite, safetyBackup: o.safetyBackup, actor: ctx.actor, signal: ctx.signal };
  let targetText: string;
  if (o.into !== undefined) {
    if (artifacts.length > 1) throw new UsageError(`Backup ${id} has ${artifacts.length} artifacts (${artifacts.map((a) => a.source).join(', ')}): choose one with --artifact to restore --into a single target.`);
    opts.into = await intoTarget(loaded, ctx, o.into, artifacts[0]!.kind);
    targetText = `into ${JSON.stringify(opts.into.describe())}`;
  } else {
    const info = has(arca, 'describeJob') ? arca.describeJob(job) : undefined;
    const srcs = artifacts.map((a) => {
      const s = info?.sources.find((x) => x.name === a.source);
      return `${a.source} (${s ? JSON.stringify(s.describe) : a.kind})`;
    });
    targetText = `IN PLACE, replacing ${srcs.join(', ')}${o.safetyBackup === false ? ' WITHOUT a safety backup' : ' (a safety backup is taken first)'}`;
  }
  if (!o.yes) {
    if (!process.stdin.isTTY) {
      throw new UsageError(`Refusing to restore ${job} ${id} ${targetText} without confirmation: no terminal to ask on. Pass --yes to confirm in scripts.`);
    }
    if (!(await confirm(ctx, `Restore ${job} ${id} (${when(backup.startedAt)}) ${targetText}?`))) {
      if (ctx.interrupted()) throw Object.assign(new Error('Restore cancelled (interrupted): nothing was changed.'), { code: 'ABORTED' });
      throw new UsageError('Restore cancelled: nothing was changed.');
    }
  }
  const report = await arca.restore(job, id, opts);
  return {
    exitCode: ExitCodes.OK,
    result: report,
    render: (out) => {
      out.print(`Restored ${job} ${id}${report.safetyBackupId ? ` (safety backup ${report.safetyBackupId})` : ''}`);
      for (const a of report.artifacts) out.print(`  ${out.out.green('✓')} ${a.source} ${bytes(a.bytes)} from ${a.from} in ${duration(a.durationMs)}`);
    },
  };
}

/** Copy a backup to the job's destinations that lack it. Exit 3 when some copy still failed. */
export async function retryCommand(ctx: CommandContext, job: string, idArg: string): Promise<Outcome> {
  const { arca } = await ctx.load();
  const id = await pickBackupId(arca, job, idArg, ctx.signal);
  const report = await arca.retryFailed(job, id, { actor: ctx.actor, signal: ctx.signal });
  return {
    exitCode: report.failed.length ? ExitCodes.PARTIAL : ExitCodes.OK,
    result: report,
    render: (out) => {
      out.print(`${job} ${id}: copied to ${report.copied.join(', ') || 'none'}; already on ${report.alreadyHeld.join(', ') || 'none'}`);
      for (const f of report.failed) out.print(`  ${out.out.red('✗')} ${f.name}: ${f.error.code}: ${f.error.message}`);
    },
  };
}

/** Apply retention (`--dry-run`: only show the decisions and their reasons). Exit 5 when a deletion failed. */
export async function pruneCommand(ctx: CommandContext, job: string | undefined, o: { dryRun?: boolean; leftoverGrace?: string }): Promise<Outcome> {
  const { arca } = await ctx.load();
  if (!has(arca, 'prune')) notSupported('prune');
  const jobs = pickJobs(arca, job !== undefined ? [job] : []); // "" (an unset $JOB) is an unknown job, not every job
  const reports: PruneReport[] = [];
  for (const j of jobs) reports.push(await arca.prune(j, { dryRun: !!o.dryRun, leftoverGrace: o.leftoverGrace, actor: ctx.actor, signal: ctx.signal }));
  const ok = reports.every((r) => r.ok);
  return {
    exitCode: ok ? ExitCodes.OK : ExitCodes.PROBLEMS,
    result: { dryRun: !!o.dryRun, ok, jobs: reports },
    render: (out) => {
      for (const r of reports) {
        out.print(`${out.out.bold(r.job)}${r.dryRun ? ' (dry run: nothing deleted)' : ''}: ${r.dryRun ? 'would free' : 'freed'} ${bytes(r.freedBytes)}`);
        for (const [d, p] of Object.entries(r.policies)) out.print(`  policy on ${d}: ${p ?? 'none (keeps everything)'}`);
        for (const dec of r.decisions) {
          const mark = dec.action === 'keep' ? out.out.green('keep  ') : dec.action === 'delete' ? out.out.red('delete') : out.out.yellow('partly');
          const reasons = dec.destinations.map((d) => `${d.destination}: ${d.action} (${d.reasons.join('; ')})${d.error ? ` FAILED ${d.error.code}` : ''}`).join(' | ');
          out.print(`  ${mark} ${dec.id} ${bytes(dec.bytes)}  ${reasons}`);
        }
        for (const l of r.leftovers) out.print(`  ${l.action === 'delete' ? out.out.red('delete') : 'keep  '} leftover ${l.backupId} on ${l.destination} (${l.objects} objects, ${bytes(l.bytes)}): ${l.reason}`);
      }
    },
  };
}
