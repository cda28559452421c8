import type { RunResult } from '@arca/core';

/**
 * Exit codes of the `arca` command. They are part of the public interface (cron wrappers,
 * Task Scheduler conditions and monitoring scripts switch on them) and never change meaning.
 */
export const ExitCodes = {
  /** Everything asked for was done and found in order. */
  OK: 0,
  /** The operation failed (backup failed, restore failed, backup not found, destination unreachable...). */
  FAILED: 1,
  /** Usage or configuration error: unknown command/option/job, invalid or missing config, restore refused without `--yes`. */
  USAGE: 2,
  /** A backup completed on some destinations but failed on others (`arca retry` copies it later). */
  PARTIAL: 3,
  /** Another run of the job holds the lock; nothing was done. */
  LOCKED: 4,
  /** The command ran but what it checked is not in order: `check` problems, `verify` mismatch, `health` unhealthy, `prune` deletions that failed. */
  PROBLEMS: 5,
  /** Interrupted by Ctrl-C / SIGINT / SIGTERM: the run was aborted cleanly, nothing half-written is left. */
  INTERRUPTED: 130,
} as const;

export type ExitCode = (typeof ExitCodes)[keyof typeof ExitCodes];

/** The exit code for an error `code` (an `ArcaError` code, or `USAGE` for the CLI's own usage errors). */
export function exitCodeForError(code: string | undefined, interrupted = false): ExitCode {
  if (interrupted || code === 'ABORTED') return ExitCodes.INTERRUPTED;
  if (code === 'CONFIG_INVALID' || code === 'USAGE') return ExitCodes.USAGE;
  if (code === 'LOCKED') return ExitCodes.LOCKED;
  return ExitCodes.FAILED;
}

/** The exit code of a set of backup runs: the worst of them (failed > locked > partial > ok). */
export function exitCodeForRuns(runs: Array<Pick<RunResult, 'status' | 'error'>>, interrupted = false): ExitCode {
  if (interrupted) return ExitCodes.INTERRUPTED;
  let code: ExitCode = ExitCodes.OK;
  const rank = (c: ExitCode) => [ExitCodes.OK, ExitCodes.PARTIAL, ExitCodes.LOCKED, ExitCodes.FAILED].indexOf(c as 0);
  for (const r of runs) {
    const c: ExitCode =
      r.status === 'completed' ? ExitCodes.OK : r.status === 'partial' ? ExitCodes.PARTIAL : r.error?.code === 'LOCKED' ? ExitCodes.LOCKED : r.error?.code === 'ABORTED' ? ExitCodes.INTERRUPTED : ExitCodes.FAILED;
    if (c === ExitCodes.INTERRUPTED) return c;
    if (rank(c) > rank(code)) code = c;
  }
  return code;
}
