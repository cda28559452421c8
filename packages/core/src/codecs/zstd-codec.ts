import { spawn } from 'node:child_process';
import { constants as fsConstants } from 'node:fs';
import { access } from 'node:fs/promises';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { z } from 'zod';
import { ArcaError, ErrorCodes, abortError } from '../errors.js';
import type { Bytes, Codec } from '../contracts.js';
import { parseOptions } from '../options.js';

const ZstdOptionsSchema = z
  .object({
    /** 1 (fastest) to 19 (smallest); default 3, like the `zstd` CLI. */
    level: z.number().int().min(1).max(19).optional(),
    /**
     * Compression worker threads (zstd `-T`). 0 (default): the binding compresses on the
     * calling thread; the `zstd` command keeps its own default (`-T1`, one worker beside its I/O).
     */
    threads: z.number().int().min(0).max(64).optional(),
    /**
     * `'auto'` (default): the `zstd` command when it is on PATH (measured faster, see
     * `pick()`), else the `zstd-napi` binding. `'native'` / `'cli'` force one (errors say
     * how to install it).
     */
    implementation: z.enum(['auto', 'native', 'cli']).optional(),
    /** The `zstd` command for the CLI implementation (default `zstd` from PATH). */
    command: z.string().min(1).optional(),
  })
  .strict();

export type ZstdOptions = z.input<typeof ZstdOptionsSchema>;

/** The part of `zstd-napi/binding` (its documented low-level API) used here. */
interface ZstdBinding {
  CCtx: new () => {
    setParameter(param: number, value: number): void;
    compressStream2(dst: Uint8Array, src: Uint8Array, end: number): [number, number, number];
  };
  DCtx: new () => { decompressStream(dst: Uint8Array, src: Uint8Array): [number, number, number] };
  CParameter: { compressionLevel: number; checksumFlag: number; nbWorkers: number };
  EndDirective: { continue: number; end: number };
}

let nativeLoad: Promise<ZstdBinding | undefined> | undefined;
/** Load the optional `zstd-napi` binding once; `undefined` when it is not installed or does not load. */
export function loadZstdNative(): Promise<ZstdBinding | undefined> {
  nativeLoad ??= import('zstd-napi/binding.js').then(
    (m) => {
      const mod = ((m as { default?: unknown }).default ?? m) as ZstdBinding;
      return typeof mod.CCtx === 'function' && typeof mod.DCtx === 'function' ? mod : undefined;
    },
    () => undefined,
  );
  return nativeLoad;
}

/** Output is yielded in Buffers of this size (the last one shorter). */
const OUT = 1 << 20;

/**
 * Output buffering shared by compression and decompression: `step(dst, src)` writes into
 * `dst` and returns [ret, produced, consumed]; full 1 MiB Buffers are handed to `emit`.
 * Driving the native context directly from the async generator (instead of its Transform
 * stream behind a PassThrough) saves two stream hops and a 128 KiB Buffer per call.
 */
function outputBuffer() {
  let out = Buffer.allocUnsafe(OUT);
  let pos = 0;
  const ready: Buffer[] = [];
  return {
    /** Feed `src` until it is consumed, then on while `more(ret, outputWasFull)` (output still pending). */
    run(step: (dst: Uint8Array, src: Uint8Array) => [number, number, number], src: Uint8Array, more: (ret: number, full: boolean) => boolean): number {
      let ret = 0;
      for (;;) {
        const r = step(out.subarray(pos), src);
        ret = r[0];
        pos += r[1];
        src = src.subarray(r[2]);
        const full = pos === out.length;
        if (full) {
          ready.push(out); // fresh per yield: the consumer may keep it
          out = Buffer.allocUnsafe(OUT);
          pos = 0;
        }
        if (src.length === 0 && !more(ret, full)) return ret;
      }
    },
    take: () => ready.splice(0),
    rest: () => (pos ? out.subarray(0, pos) : undefined),
  };
}

async function* nativeCompress(z: ZstdBinding, input: AsyncIterable<Bytes>, level: number, threads: number, signal: AbortSignal | undefined): AsyncGenerator<Bytes> {
  const failed = (e: unknown) => new ArcaError(ErrorCodes.CODEC_FAILED, `zstd compression failed: ${(e as Error)?.message ?? String(e)}`, { cause: e });
  const cctx = new z.CCtx();
  try {
    cctx.setParameter(z.CParameter.compressionLevel, level);
    cctx.setParameter(z.CParameter.checksumFlag, 1);
    if (threads) cctx.setParameter(z.CParameter.nbWorkers, threads);
  } catch (e) {
    throw failed(e);
  }
  const o = outputBuffer();
  const guard =
    (end: number) =>
    (dst: Uint8Array, src: Uint8Array): [number, number, number] => {
      try {
        return cctx.compressStream2(dst, src, end);
      } catch (e) {
        throw failed(e);
      }
    };
  const cont = guard(z.EndDirective.continue);
  for await (const chunk of input) {
    if (signal?.aborted) throw abortError(signal);
    o.run(cont, chunk, (_ret, full) => full);
    yield* o.take();
  }
  if (signal?.aborted) throw abortError(signal);
  o.run(guard(z.EndDirective.end), new Uint8Array(0), (ret) => ret !== 0);
  yield* o.take();
  const rest = o.rest();
  if (rest) yield rest;
}

async function* nativeDecompress(z: ZstdBinding, input: AsyncIterable<Bytes>, signal: AbortSignal | undefined): AsyncGenerator<Bytes> {
  const dctx = new z.DCtx();
  const o = outputBuffer();
  const step = (dst: Uint8Array, src: Uint8Array) => dctx.decompressStream(dst, src);
  let inFrame = false;
  for await (const chunk of input) {
    if (signal?.aborted) throw abortError(signal);
    let ret: number;
    try {
      // Keep going while the output filled up (more may be pending inside zstd), unless
      // the frame just ended: another call would start reading the next frame.
      ret = o.run(step, chunk, (r, full) => full && r !== 0);
    } catch (e) {
      throw corrupt((e as Error).message, e);
    }
    inFrame = ret !== 0;
    yield* o.take();
  }
  if (inFrame) throw corrupt('the stream ended in the middle of a frame');
  const rest = o.rest();
  if (rest) yield rest;
}

const found = new Map<string, Promise<boolean>>();
/** Whether `command` is an executable file (a path, or a name looked up on PATH); cached per command. */
export function commandAvailable(command: string): Promise<boolean> {
  let p = found.get(command);
  if (!p) {
    const exts = process.platform === 'win32' ? ['', ...(process.env.PATHEXT ?? '.EXE').split(';')] : [''];
    const dirs = command.includes('/') || command.includes(path.sep) ? [''] : (process.env.PATH ?? '').split(path.delimiter).filter(Boolean);
    const candidates = dirs.flatMap((d) => exts.map((e) => (d ? path.join(d, command + e) : command + e)));
    p = (async () => {
      for (const c of candidates) if (await access(c, fsConstants.X_OK).then(() => true, () => false)) return true;
      return false;
    })();
    found.set(command, p);
  }
  return p;
}

const HOW_TO_FIX =
  'Install the optional dependency `zstd-napi@0.0.13` (npm install zstd-napi@0.0.13; it compiles with node-gyp when no prebuilt binary downloads) or the `zstd` command (Debian/Ubuntu: apt-get install zstd; macOS: brew install zstd), or use compress: "gzip".';

const corrupt = (detail: string, cause?: unknown) =>
  new ArcaError(ErrorCodes.CORRUPT_ARTIFACT, `The zstd data is corrupt or truncated (${detail}). Restore from another destination or backup.`, cause === undefined ? {} : { cause });

/**
 * Run `input` through a filter command (stdin → stdout) with backpressure. Throws the
 * input's own error if it failed, `mapExit(...)` if the command exited non-zero, and
 * kills the command when aborted or when the consumer stops early.
 */
async function* commandFilter(
  command: string,
  args: string[],
  input: AsyncIterable<Bytes>,
  signal: AbortSignal | undefined,
  mapExit: (code: number | null, stderr: string) => Error,
): AsyncGenerator<Bytes> {
  if (signal?.aborted) throw abortError(signal);
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-2000);
  });
  const exited = new Promise<{ code: number | null; error?: Error }>((resolve) => {
    child.once('error', (error) => resolve({ code: null, error }));
    child.once('close', (code) => resolve({ code }));
  });
  const onAbort = () => child.kill('SIGKILL');
  signal?.addEventListener('abort', onAbort, { once: true });
  // EPIPE on stdin when the command dies early is reported through its exit code instead.
  const pump = pipeline(Readable.from(input, { objectMode: false }), child.stdin).then(
    () => undefined,
    (e: NodeJS.ErrnoException) => (e?.code === 'EPIPE' || e?.code === 'ERR_STREAM_PREMATURE_CLOSE' ? undefined : e),
  );
  let done = false;
  try {
    try {
      for await (const c of child.stdout) yield c as Buffer;
    } catch (e) {
      const r = await exited;
      if (r.error) throw r.error;
      throw e;
    }
    const inputError = await pump;
    const r = await exited;
    if (signal?.aborted) throw abortError(signal);
    if (inputError) throw inputError;
    if (r.error) throw r.error;
    if (r.code !== 0) throw mapExit(r.code, stderr.trim());
    done = true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException)?.code === 'ENOENT' && (e as NodeJS.ErrnoException).syscall?.startsWith('spawn')) {
      throw new ArcaError(ErrorCodes.CODEC_FAILED, `zstd is not available: the "${command}" command was not found. ${HOW_TO_FIX}`, { cause: e });
    }
    throw e;
  } finally {
    signal?.removeEventListener('abort', onAbort);
    if (!done && child.exitCode === null) child.kill('SIGKILL');
  }
}

/**
 * Standard Zstandard (`.zst`, RFC 8878) with a content checksum: artifacts open with
 * `zstd -d`. Node 20 has no zstd in node:zlib, so this uses the optional `zstd-napi`
 * binding (loaded lazily; core works without it) or, when it is missing, the `zstd`
 * command as a child process. If neither is available, encode/decode throw
 * `CODEC_FAILED` saying how to install one. Corrupt or truncated input throws
 * `CORRUPT_ARTIFACT`.
 */
export function zstd(options: ZstdOptions = {}): Codec {
  const o = parseOptions(ZstdOptionsSchema, options, 'zstd()');
  const level = o.level ?? 3;
  const threads = o.threads ?? 0;
  const implementation = o.implementation ?? 'auto';
  const command = o.command ?? 'zstd';

  /**
   * The binding, or `undefined` for the `zstd` command. 'auto' prefers the command, by
   * measurement: `ARCA_BENCH_MIB=512 ARCA_BENCH_REPEAT=2 node bench/codecs.bench.mjs`, 2 cores
   * shared with other work (load average 9-11), ratio = Arca ÷ `zstd -T1` (its default)
   * in the same run, two runs: compress -3 through the command 0.71 / 1.02, through the
   * binding 0.64 / 0.50 (0.62 / 0.50 with threads: 1); -1: command 0.83 / 0.95, binding
   * 0.78 / 0.90; decompress: command 0.42 / 0.48, binding 0.38 / 0.48. The Debian `zstd`
   * compresses with less CPU than zstd-napi's node-gyp build of the same library (256 MiB
   * at -3: 1.30-1.47 s vs 1.48 s in-process), and in another process, beside Node's reads
   * and writes. The binding stays the fallback where no `zstd` command is installed.
   */
  async function pick(): Promise<ZstdBinding | undefined> {
    if (implementation === 'cli') return undefined;
    if (implementation === 'auto' && (await commandAvailable(command))) return undefined;
    const native = await loadZstdNative();
    if (!native && implementation === 'native') {
      throw new ArcaError(ErrorCodes.CODEC_FAILED, `zstd: the zstd-napi binding is not installed or does not load on this platform. ${HOW_TO_FIX}`);
    }
    return native;
  }

  return {
    name: 'zstd',
    extension: '.zst',
    describe: () => ({ level, ...(threads ? { threads } : {}) }),
    encode: (input, opts) =>
      (async function* () {
        const native = await pick();
        if (native) {
          yield* nativeCompress(native, input, level, threads, opts?.signal);
        } else {
          yield* commandFilter(command, ['-q', '-c', `-${level}`, ...(threads ? [`-T${threads}`] : []), '-'], input, opts?.signal, (code, err) =>
            new ArcaError(ErrorCodes.CODEC_FAILED, `zstd compression failed (exit ${code}): ${err || 'no message'}`),
          );
        }
      })(),
    decode: (input, opts) =>
      (async function* () {
        const native = await pick();
        if (native) {
          yield* nativeDecompress(native, input, opts?.signal);
        } else {
          yield* commandFilter(command, ['-d', '-q', '-c', '-'], input, opts?.signal, (code, err) => corrupt(`zstd -d exited ${code}: ${err || 'no message'}`));
        }
      })(),
  };
}
