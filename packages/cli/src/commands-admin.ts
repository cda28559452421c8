/** `init`, `keygen`, `health`, `runs`: commands around the config, keys and history. */
import { constants as fsConstants } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { generateAgeIdentity, runLogToCsv, type RunLogEntry, type RunLogQuery, type HealthReport } from '@arca/core';
import { UsageError } from './cli-errors.js';
import { bytes, duration, has, notSupported, pickJobs, table, when, type CommandContext, type Outcome } from './command-support.js';
import { CONFIG_NAMES } from './config-load.js';
import { ExitCodes } from './exit-codes.js';
import { JSON_TEMPLATE, TS_TEMPLATE } from './init-template.js';

async function writeNew(file: string, text: string, mode: number, force: boolean): Promise<void> {
  try {
    await fs.writeFile(file, text, { mode, flag: force ? 'w' : 'wx' });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw new UsageError(`${file} already exists: pass --force to replace it${mode === 0o600 ? ' (the key in it would be lost)' : ''}.`);
    throw e;
  }
}

/** Write a starter config in the current folder. Never asks anything: flags only, so it works in scripts. */
export async function initCommand(ctx: CommandContext, o: { format?: string; force?: boolean }): Promise<Outcome> {
  const format = o.format ?? 'json';
  if (format !== 'json' && format !== 'ts') throw new UsageError(`--format must be "json" or "ts" (got ${JSON.stringify(format)}).`);
  const name = format === 'json' ? 'arca.config.json' : 'arca.config.ts';
  const file = path.join(ctx.cwd, name);
  const others = CONFIG_NAMES.filter((n) => n !== name);
  for (const n of others) {
    if (await fs.stat(path.join(ctx.cwd, n)).then(() => true, () => false)) throw new UsageError(`${n} already exists here; two configs in one folder would be ambiguous. Edit it, or remove it first.`);
  }
  await writeNew(file, format === 'json' ? JSON_TEMPLATE : TS_TEMPLATE, 0o644, !!o.force);
  return {
    exitCode: ExitCodes.OK,
    result: { file },
    render: (out) => {
      out.print(`Wrote ${file}`);
      out.print('Next: `arca check`, then `arca backup`.');
      if (format === 'ts') out.print('It imports @arca/cli and @arca/core: run `npm install @arca/cli @arca/core` here.');
    },
  };
}

/**
 * Create an age identity. The secret key goes only to the file (mode 0600, never replaced
 * without --force); only the public key (recipient) is printed, to paste into `encrypt`.
 */
export async function keygenCommand(ctx: CommandContext, o: { out?: string; force?: boolean }): Promise<Outcome> {
  const file = path.resolve(ctx.cwd, o.out ?? 'arca-identity.txt');
  const key = generateAgeIdentity();
  await writeNew(file, key.file, 0o600, !!o.force);
  await fs.chmod(file, 0o600).catch(() => {}); // an existing file replaced with --force keeps its mode otherwise
  await fs.access(file, fsConstants.R_OK);
  return {
    exitCode: ExitCodes.OK,
    result: { recipient: key.recipient, identityFile: file },
    render: (out) => {
      out.print(key.recipient);
      out.note(`Secret key written to ${file} (mode 0600). Keep a copy offline: without it, encrypted backups cannot be restored.`);
      out.note(`Encrypt with: "encrypt": { "use": "age", "recipients": ["${key.recipient}"] }`);
      out.note(`Restore with: "codecs": [{ "use": "age", "identities": { "file": "${file}" } }]`);
    },
  };
}

/** Health of every job (or the named ones): RPO, storage, last run, last verify. Exit 5 when unhealthy. */
export async function healthCommand(ctx: CommandContext, jobNames: string[]): Promise<Outcome> {
  const { arca } = await ctx.load();
  if (!has(arca, 'health')) notSupported('health');
  const jobs = pickJobs(arca, jobNames);
  const report: HealthReport = await arca.health({ jobs, signal: ctx.signal });
  return {
    exitCode: report.healthy ? ExitCodes.OK : ExitCodes.PROBLEMS,
    result: report,
    render: (out) => {
      for (const j of report.jobs) {
        const newest = j.newest ? `newest ${j.newest.id} (${duration(j.newest.ageMs)} ago)` : 'no backup yet';
        const stored = j.storage.map((s) => `${s.destination} ${s.bytes === undefined ? 'unreachable' : bytes(s.bytes)}`).join(', ');
        out.print(`${j.healthy ? out.out.green('healthy  ') : out.out.red('UNHEALTHY')} ${j.job}: ${newest}; ${stored}`);
        for (const p of j.problems) out.print(`  - ${p}`);
      }
    },
  };
}

/** Run history and audit entries, newest first; `--csv` writes the CSV export (the same as the admin UI's). */
export async function runsCommand(ctx: CommandContext, job: string | undefined, o: { limit?: string; status?: string[]; since?: string; type?: string; csv?: boolean }): Promise<Outcome> {
  const { arca } = await ctx.load();
  if (job !== undefined) pickJobs(arca, [job]); // "" is an unknown job, not every job
  const limit = o.limit === undefined ? 50 : Number(o.limit);
  if (!Number.isInteger(limit) || limit < 0) throw new UsageError(`--limit must be a whole number (got ${JSON.stringify(o.limit)}).`);
  if (o.type !== undefined && o.type !== 'run' && o.type !== 'audit') throw new UsageError('--type must be "run" or "audit".');
  if (o.since !== undefined && Number.isNaN(Date.parse(o.since))) throw new UsageError(`--since must be a date or ISO time (got ${JSON.stringify(o.since)}).`);
  const q: RunLogQuery = { signal: ctx.signal, ...(job ? { job } : {}), ...(limit ? { limit } : {}), ...(o.type ? { type: o.type as 'run' | 'audit' } : {}), ...(o.since ? { since: o.since } : {}) };
  if (o.status?.length) q.status = o.status as RunLogQuery['status'];
  const entries: RunLogEntry[] = await arca.history(q);
  if (o.csv) {
    ctx.out.raw(runLogToCsv(entries));
    return { exitCode: ExitCodes.OK, streamed: true };
  }
  return {
    exitCode: ExitCodes.OK,
    result: { entries },
    render: (out) => {
      if (!entries.length) return out.print('No runs recorded yet.');
      const rows = [['WHEN', 'TYPE', 'JOB', 'STATUS', 'BACKUP', 'SIZE', 'TIME', 'BY']];
      for (const e of entries) {
        if (e.type === 'run') rows.push([when(e.startedAt), e.trigger.type, e.job, e.status, e.backupId || '-', bytes(e.bytes), duration(e.durationMs), e.trigger.actor ?? '']);
        else rows.push([when(e.at), e.action, e.job, e.ok ? 'ok' : 'failed', e.backupId || '-', '', '', e.actor ?? '']);
      }
      table(rows).forEach((l, i) => out.print(i === 0 ? out.out.dim(l) : l));
    },
  };
}

/**
 * Validate the config and show what it resolves to, contacting nothing: file, format, what
 * the CLI filled in, and each job as `describeJob()` shows it (no secrets) with its next runs.
 * Exit 2 (with every problem) when the config is invalid: a quick test for a deploy script.
 */
export async function configCommand(ctx: CommandContext): Promise<Outcome> {
  const loaded = await ctx.load();
  const { arca } = loaded;
  const jobs = arca.jobs().map((name) => ({
    ...(has(arca, 'describeJob') ? arca.describeJob(name) : { name }),
    nextRuns: arca.nextRuns(name, 3).map((d) => d.toISOString()),
  }));
  return {
    exitCode: ExitCodes.OK,
    result: { file: loaded.file, format: loaded.format, defaults: loaded.defaults, jobs },
    render: (out) => {
      out.print(`${loaded.file} (${loaded.format}): valid`);
      for (const d of loaded.defaults) out.print(`  default ${d}`);
      for (const j of jobs) {
        const info = j as typeof j & { sources?: Array<{ name: string; kind: string }>; destinations?: Array<{ name: string; kind: string }>; schedule?: string };
        out.print(`${out.out.bold(j.name)}: ${info.sources?.map((s) => `${s.name} (${s.kind})`).join(', ') ?? ''} → ${info.destinations?.map((d) => `${d.name} (${d.kind})`).join(', ') ?? ''}`);
        if (info.schedule) out.print(`  schedule ${info.schedule}; next ${j.nextRuns[0] ?? '-'}`);
      }
    },
  };
}
