/**
 * Everything the CLI writes goes through here: results on stdout (human text, or exactly one
 * JSON document with `--json`), notes and progress on stderr. Every string is passed through
 * core's `redact()` first, so a secret registered by an adapter or read from `${ENV}` /
 * `{ "file" }` never reaches a terminal or a log file, whatever printed it.
 */
import { redact } from '@arca/core';
import type { ExitCode } from './exit-codes.js';

/** Version of the `--json` envelope; bumped only for incompatible changes. */
export const JSON_SCHEMA = 'arca.cli/1';

/** The one JSON document every command prints with `--json`. */
export interface JsonDocument {
  schema: typeof JSON_SCHEMA;
  command: string;
  /** True when `exitCode` is 0. */
  ok: boolean;
  exitCode: ExitCode;
  /** The command's result (see docs/guide/cli.md for each command's shape). */
  result?: unknown;
  /** Why the command failed: a stable `code` (ArcaError codes, `USAGE`), a message, and every problem for config errors. */
  error?: { code: string; message: string; problems?: string[] };
}

type Stream = NodeJS.WriteStream;

/**
 * Redact every string value before encoding (a secret with quotes or backslashes would not
 * match once JSON-escaped). Arrays in `verbatim` are left alone: config problems, which never
 * hold values and were redacted piece by piece when made (redacting a whole
 * `jobs.x.password: environment variable ... is not set` line would shred it).
 */
const redactStrings = (verbatim: WeakSet<object>) =>
  function (this: unknown, _key: string, v: unknown) {
    return typeof v === 'string' && !(this && verbatim.has(this as object)) ? redact(v) : v;
  };

function colorsFor(stream: Stream, force?: boolean): boolean {
  if (force === false) return false;
  if ('NO_COLOR' in process.env && process.env.NO_COLOR !== '') return false;
  if (process.env.TERM === 'dumb') return false;
  return !!stream.isTTY;
}

export interface Style {
  green(s: string): string;
  red(s: string): string;
  yellow(s: string): string;
  dim(s: string): string;
  bold(s: string): string;
}

const style = (on: boolean): Style => {
  const wrap = (open: number, close: number) => (s: string) => (on ? `\x1b[${open}m${s}\x1b[${close}m` : s);
  return { green: wrap(32, 39), red: wrap(31, 39), yellow: wrap(33, 39), dim: wrap(2, 22), bold: wrap(1, 22) };
};

export interface OutputOptions {
  json: boolean;
  /** `false` from `--no-color`; otherwise colours follow the TTY and `NO_COLOR`. */
  color?: boolean;
  stdout?: Stream;
  stderr?: Stream;
}

export class Output {
  readonly json: boolean;
  /** Styles for stdout and stderr text. */
  readonly out: Style;
  readonly err: Style;
  /** A live progress bar is drawn on stderr (a TTY). */
  readonly progress: boolean;
  readonly stdout: Stream;
  readonly stderr: Stream;

  constructor(o: OutputOptions) {
    this.json = o.json;
    this.stdout = o.stdout ?? process.stdout;
    this.stderr = o.stderr ?? process.stderr;
    this.out = style(colorsFor(this.stdout, o.color));
    this.err = style(colorsFor(this.stderr, o.color));
    this.progress = !!this.stderr.isTTY && process.env.TERM !== 'dumb';
  }

  /** A result line on stdout (human mode only; `--json` prints the document instead). */
  print(text = ''): void {
    if (!this.json) this.stdout.write(`${redact(text)}\n`);
  }

  /** Raw text on stdout in every mode (`runs --csv`). */
  raw(text: string): void {
    this.stdout.write(redact(text));
  }

  /** A note, warning or error on stderr (both modes; scripts read stdout). */
  note(text: string): void {
    this.stderr.write(`${redact(text)}\n`);
  }

  /** Lines on stderr that were redacted piecewise when made (config problems: paths and messages, never values). */
  noteVerbatim(text: string): void {
    this.stderr.write(`${text}\n`);
  }

  /** Draw over the current stderr line (progress). */
  status(text: string): void {
    if (this.progress) this.stderr.write(`\r\x1b[2K${redact(text)}`);
  }

  clearStatus(): void {
    if (this.progress) this.stderr.write('\r\x1b[2K');
  }

  /** Print the `--json` document (one line: safe to append to a log with `>>`), and wait until it is flushed. */
  async document(doc: Omit<JsonDocument, 'schema' | 'ok'>): Promise<void> {
    const full: JsonDocument = { schema: JSON_SCHEMA, command: doc.command, ok: doc.exitCode === 0, exitCode: doc.exitCode, ...(doc.result !== undefined ? { result: doc.result } : {}), ...(doc.error ? { error: doc.error } : {}) };
    const verbatim = new WeakSet<object>();
    if (full.error?.problems) verbatim.add(full.error.problems);
    await this.flush(`${JSON.stringify(full, redactStrings(verbatim))}\n`);
  }

  /** One JSON line on stdout now (the `schedule` daemon's event stream). */
  jsonLine(value: unknown): void {
    this.stdout.write(`${JSON.stringify(value, redactStrings(new WeakSet()))}\n`);
  }

  flush(text = ''): Promise<void> {
    return new Promise((resolve) => this.stdout.write(text, () => resolve()));
  }
}
