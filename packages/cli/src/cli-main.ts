/**
 * The `arca` program: commander wiring, Ctrl-C handling, and turning every outcome or error
 * into output plus a documented exit code (see exit-codes.ts).
 */
import { createRequire } from 'node:module';
import { Command, CommanderError, Option } from 'commander';
import { redact } from '@arca/core';
import { UsageError } from './cli-errors.js';
import { makeContext, type CommandContext, type Outcome } from './command-support.js';
import { backupCommand, checkCommand, scheduleCommand } from './commands-run.js';
import { listCommand, pruneCommand, restoreCommand, retryCommand, showCommand, verifyCommand } from './commands-catalog.js';
import { configCommand, healthCommand, initCommand, keygenCommand, runsCommand } from './commands-admin.js';
import { ConfigErrors } from './json-config.js';
import { serveCommand } from './commands-serve.js';
import { ExitCodes, exitCodeForError, type ExitCode } from './exit-codes.js';
import { Output } from './output-writer.js';

const VERSION: string = (() => {
  try {
    return (createRequire(import.meta.url)('../package.json') as { version: string }).version;
  } catch {
    return '0.0.0';
  }
})();

interface GlobalOptions {
  config?: string;
  json?: boolean;
  color?: boolean;
  actor?: string;
}

const examples = (lines: string[]) => `\nExamples:\n${lines.map((l) => `  $ ${l}`).join('\n')}\n`;

/** Run the CLI; resolves with the exit code (the caller exits with it). */
export async function main(argv: string[]): Promise<ExitCode> {
  const wantsJson = argv.includes('--json');
  const controller = new AbortController();
  let interrupts = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    interrupts++;
    if (interrupts > 1) process.exit(ExitCodes.INTERRUPTED);
    process.stderr.write(`\n${sig === 'SIGINT' ? 'Interrupted' : `Got ${sig}`}: stopping cleanly (press Ctrl-C again to force)...\n`);
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  if (process.platform !== 'win32') process.on('SIGHUP', onSignal);

  let exitCode: ExitCode = ExitCodes.OK;
  let out = new Output({ json: wantsJson });
  const cwd = process.cwd();

  const program = new Command('arca')
    .description('Back up, verify and restore with Arca from a config file (arca.config.{ts,mts,js,mjs,json}).')
    .version(VERSION, '-V, --version')
    .option('-c, --config <file>', 'config file (default: arca.config.* found in this folder or above)')
    .option('--json', 'print one JSON document on stdout (for scripts; schema in docs/guide/cli.md)')
    .option('--no-color', 'no colours (also off when not a terminal or when NO_COLOR is set)')
    .option('--actor <name>', 'who runs this, recorded in manifests and the run log (default: cli:<user>)')
    .showHelpAfterError('(run `arca --help` for usage)')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s), writeOut: (s) => process.stdout.write(s) })
    .addHelpText(
      'after',
      `\nExit codes: 0 ok, 1 failed, 2 usage/config error, 3 partial (some destinations failed),\n4 locked (another run of the job), 5 problems found (check/verify/health/prune), 130 interrupted.\n` +
        examples(['arca init', 'arca check', 'arca backup nightly --json >> /var/log/arca.log', 'arca list nightly', 'arca restore nightly latest --artifact db --into ./restored.db']),
    );

  /** Wrap a command handler: load context, run, print, set the exit code. */
  const action =
    <A extends unknown[]>(name: string, fn: (ctx: CommandContext, ...args: A) => Promise<Outcome>) =>
    async (...args: unknown[]) => {
      const cmd = args[args.length - 1] as Command;
      const g = cmd.optsWithGlobals() as GlobalOptions;
      out = new Output({ json: !!g.json, color: g.color });
      const ctx = makeContext({ out, signal: controller.signal, interrupted: () => controller.signal.aborted, cwd, config: g.config, actor: g.actor });
      const outcome = await fn(ctx, ...(args.slice(0, -1) as A));
      exitCode = outcome.exitCode;
      if (outcome.streamed) return;
      if (out.json) await out.document({ command: name, exitCode: outcome.exitCode, result: outcome.result });
      else outcome.render?.(out);
    };

  program
    .command('init')
    .description('write a commented starter config (arca.config.json) in this folder; asks nothing')
    .option('--format <format>', 'json (default) or ts')
    .option('--force', 'replace an existing config')
    .addHelpText('after', examples(['arca init', 'arca init --format ts']))
    .action(action('init', (ctx, o: { format?: string; force?: boolean }) => initCommand(ctx, o)));

  program
    .command('config')
    .description('validate the config and show its jobs, contacting nothing; exit 2 with every problem when invalid')
    .addHelpText('after', examples(['arca config', 'arca --config /etc/arca/arca.config.json config --json']))
    .action(action('config', (ctx) => configCommand(ctx)));

  program
    .command('check')
    .argument('[job...]', 'jobs to check (default: all)')
    .description('pre-flight every source and destination: connectivity, tools, free space')
    .addHelpText('after', examples(['arca check', 'arca check nightly --json']))
    .action(action('check', (ctx, jobs: string[]) => checkCommand(ctx, jobs)));

  program
    .command('backup')
    .alias('run')
    .argument('[job...]', 'jobs to run, one after the other (default: all)')
    .description('run backups now; exit 0 completed, 1 failed, 3 partial, 4 locked, 130 interrupted')
    .option('--tag <tag...>', 'extra tags recorded in the manifest')
    .addHelpText('after', examples(['arca backup', 'arca backup nightly --json >> /var/log/arca.log', 'arca run daily weekly --tag before-upgrade']))
    .action(action('backup', (ctx, jobs: string[], o: { tag?: string[] }) => backupCommand(ctx, jobs, o)));

  program
    .command('list')
    .argument('[job]', 'only this job')
    .description('restorable backups (valid manifest), newest first')
    .addHelpText('after', examples(['arca list', 'arca list nightly --json']))
    .action(action('list', (ctx, job: string | undefined) => listCommand(ctx, job)));

  program
    .command('show')
    .argument('<job>')
    .argument('<id>', 'backup id, or "latest"')
    .description('one backup: artifacts, sizes, checksums, destinations, trigger')
    .addHelpText('after', examples(['arca show nightly latest', 'arca show nightly 20261122T020000Z-7f3a --json']))
    .action(action('show', (ctx, job: string, id: string) => showCommand(ctx, job, id)));

  program
    .command('verify')
    .argument('<job>')
    .argument('<id>', 'backup id, or "latest"')
    .description('check every copy of a backup; exit 5 when a copy is missing or corrupt')
    .option('--level <level>', 'exists (size only), checksum (re-read and sha256, default) or restore (checksum + restore drill into a scratch database)')
    .option('--destination <name...>', 'only these destinations')
    .addHelpText('after', examples(['arca verify nightly latest', 'arca verify nightly latest --level exists']))
    .action(action('verify', (ctx, job: string, id: string, o: { level?: string; destination?: string[] }) => verifyCommand(ctx, job, id, o)));

  program
    .command('restore')
    .argument('<job>')
    .argument('<id>', 'backup id, or "latest"')
    .description('restore a backup in place (safety backup first) or --into another target; asks first, or needs --yes')
    .option('--artifact <source>', 'restore only this artifact (source name, e.g. db)')
    .option('--into <target>', 'restore into a path (directory/sqlite artifacts) or a JSON target {"use": ..., ...}')
    .option('--from <destination>', 'read from this destination only')
    .option('--overwrite', 'replace a target that is not empty')
    .option('--no-safety-backup', 'skip the backup of the current state before an in-place restore')
    .option('-y, --yes', 'do not ask for confirmation (required without a terminal)')
    .addHelpText(
      'after',
      examples([
        'arca restore daily latest --artifact db --into ./restored.db',
        'arca restore daily 20261122T020000Z-7f3a --yes --overwrite',
        `arca restore nightly latest --artifact db --into '{"use":"@arca/source-postgres","database":"scratch"}' --yes`,
      ]),
    )
    .action(action('restore', (ctx, job: string, id: string, o: { artifact?: string; into?: string; from?: string; overwrite?: boolean; safetyBackup?: boolean; yes?: boolean }) => restoreCommand(ctx, job, id, o)));

  program
    .command('retry')
    .argument('<job>')
    .argument('<id>', 'backup id, or "latest"')
    .description('copy a backup to the destinations that missed it (after a partial run); exit 3 if some still fail')
    .addHelpText('after', examples(['arca retry nightly latest']))
    .action(action('retry', (ctx, job: string, id: string) => retryCommand(ctx, job, id)));

  program
    .command('prune')
    .argument('[job]', 'only this job (default: all)')
    .description("apply the retention policies; --dry-run shows every decision and its reason")
    .option('--dry-run', 'decide and show, delete nothing')
    .option('--leftover-grace <duration>', 'keep incomplete backups younger than this (default 24h)')
    .addHelpText('after', examples(['arca prune --dry-run', 'arca prune nightly --json']))
    .action(action('prune', (ctx, job: string | undefined, o: { dryRun?: boolean; leftoverGrace?: string }) => pruneCommand(ctx, job, o)));

  program
    .command('health')
    .argument('[job...]', 'jobs to check (default: all)')
    .description('RPO (newest backup age), storage, last run and verify; exit 5 when unhealthy')
    .addHelpText('after', examples(['arca health', 'arca health --json || notify-ops']))
    .action(action('health', (ctx, jobs: string[]) => healthCommand(ctx, jobs)));

  program
    .command('runs')
    .argument('[job]', 'only this job')
    .description('run history and audit entries, newest first')
    .option('--limit <n>', 'at most n entries (default 50, 0 for all)')
    .option('--status <status...>', 'completed, partial, failed, skipped')
    .option('--type <type>', 'run or audit')
    .option('--since <date>', 'entries at or after this date/time')
    .option('--csv', 'write CSV (RFC 4180) on stdout')
    .addHelpText('after', examples(['arca runs nightly --limit 10', 'arca runs --csv --limit 0 > runs.csv', 'arca runs --status failed partial --json']))
    .action(action('runs', (ctx, job: string | undefined, o: { limit?: string; status?: string[]; since?: string; type?: string; csv?: boolean }) => runsCommand(ctx, job, o)));

  program
    .command('keygen')
    .description('create an age identity: secret key to a 0600 file, public key on stdout')
    .option('-o, --out <file>', 'where to write the secret key (default ./arca-identity.txt)')
    .option('--force', 'replace an existing key file (its key is lost)')
    .addHelpText('after', examples(['arca keygen --out /etc/arca/age-key.txt']))
    .action(action('keygen', (ctx, o: { out?: string; force?: boolean }) => keygenCommand(ctx, o)));

  program
    .command('schedule')
    .description('foreground daemon: run every scheduled job on time until SIGINT/SIGTERM (for systemd, Docker, pm2)')
    .addOption(new Option('--stop-timeout <ms>', 'on SIGTERM, let running backups finish this long, then abort them').default('600000'))
    .addHelpText('after', examples(['arca schedule', 'arca schedule --json >> /var/log/arca.jsonl']))
    .action(action('schedule', (ctx, o: { stopTimeout: string }) => scheduleCommand(ctx, { stopTimeout: Number(o.stopTimeout) })));

  program
    .command('serve')
    .description('admin UI and JSON API of @arca/http on 127.0.0.1; token from ARCA_SERVE_TOKEN or --token-file (required)')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port (0: any free port)', '8080')
    .option('--token-file <file>', 'file holding the token (instead of ARCA_SERVE_TOKEN)')
    .option('--allow-restore', 'offer restore in the UI and API (off by default)')
    .option('--schedule', 'also run the jobs\' schedules in this process')
    .addHelpText('after', examples(['ARCA_SERVE_TOKEN=$(openssl rand -hex 24) arca serve --port 8080', 'curl -H "Authorization: Bearer $ARCA_SERVE_TOKEN" http://127.0.0.1:8080/api/jobs']))
    .action(action('serve', (ctx, o: { host: string; port: string; tokenFile?: string; allowRestore?: boolean; schedule?: boolean }) => serveCommand(ctx, o)));

  try {
    await program.parseAsync(argv);
  } catch (e) {
    exitCode = await report(e, out, program);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('SIGHUP', onSignal);
  }
  if (controller.signal.aborted && exitCode === ExitCodes.OK && !['schedule', 'serve'].includes(program.args[0] ?? '')) exitCode = ExitCodes.INTERRUPTED;
  return exitCode;
}

/** Print an error (stderr, or the JSON document) and choose its exit code. */
async function report(e: unknown, out: Output, program: Command): Promise<ExitCode> {
  if (e instanceof CommanderError) {
    if (e.exitCode === 0) return ExitCodes.OK; // --help, --version
    if (out.json) await out.document({ command: program.args[0] ?? '', exitCode: ExitCodes.USAGE, error: { code: 'USAGE', message: e.message } });
    return ExitCodes.USAGE;
  }
  const command = program.args[0] ?? '';
  if (e instanceof ConfigErrors) {
    if (out.json) await out.document({ command, exitCode: ExitCodes.USAGE, error: { code: 'CONFIG_INVALID', message: `Invalid config ${e.file}`, problems: e.problems } });
    else out.noteVerbatim(`${out.err.red('Invalid config')} ${redact(e.file)}:\n${e.problems.map((p) => `  - ${p}`).join('\n')}`);
    return ExitCodes.USAGE;
  }
  const err = e as { code?: string; message?: string };
  const code = e instanceof UsageError ? 'USAGE' : (err?.code ?? 'INTERNAL');
  const exitCode = exitCodeForError(code);
  const message = err?.message ?? String(e);
  if (out.json) await out.document({ command, exitCode, error: { code, message } });
  else out.note(`${out.err.red('error')}${code !== 'USAGE' ? ` ${code}` : ''}: ${message}`);
  return exitCode;
}
