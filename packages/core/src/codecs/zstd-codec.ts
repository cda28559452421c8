import { spawn } from 'node:child_process';
import { Readable, type Duplex } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { z } from 'zod';
import { ArcaError, ErrorCodes, abortError } from '../errors.js';
import type { Bytes, Codec } from '../contracts.js';
import { parseOptions } from '../options.js';
import { throughDuplex } from '../streams.js';

const ZstdOptionsSchema = z
  .object({
    /** 1 (fastest) to 19 (smallest); default 3, like the `zstd` CLI. */
    level: z.number().int().min(1).max(19).optional(),
    /** Compression worker threads (zstd `-T`); 0 (default) compresses on the calling thread. */
    threads: z.number().int().min(0).max(64).optional(),
    /**
     * `'auto'` (default): the `zstd-napi` binding when it loads, else the `zstd` command.
     * `'native'` / `'cli'` force one (errors say how to install it).
     */
    implementation: z.enum(['auto', 'native', 'cli']).optional(),
    /** The `zstd` command for the CLI implementation (default `zstd` from PATH). */
    command: z.string().min(1).optional(),
  })
  .strict();

export type ZstdOptions = z.input<typeof ZstdOptionsSchema>;

interface ZstdNapi {
  CompressStream: new (p?: { compressionLevel?: number; checksumFlag?: boolean; nbWorkers?: number }) => Duplex;
  DecompressStream: new () => Duplex;
}

let nativeLoad: Promise<ZstdNapi | undefined> | undefined;
/** Load the optional `zstd-napi` binding once; `undefined` when it is not installed or does not load. */
export function loadZstdNative(): Promise<ZstdNapi | undefined> {
  nativeLoad ??= import('zstd-napi').then(
    (m) => {
      const mod = ((m as { default?: unknown }).default ?? m) as ZstdNapi;
      return typeof mod.CompressStream === 'function' ? mod : undefined;
    },
    () => undefined,
  );
  return nativeLoad;
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

  async function pick(): Promise<ZstdNapi | undefined> {
    if (implementation === 'cli') return undefined;
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
          const stream = new native.CompressStream({ compressionLevel: level, checksumFlag: true, ...(threads ? { nbWorkers: threads } : {}) });
          yield* throughDuplex(input, stream, opts?.signal, (e) =>
            e instanceof ArcaError ? e : new ArcaError(ErrorCodes.CODEC_FAILED, `zstd compression failed: ${(e as Error).message}`, { cause: e }),
          );
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
          yield* throughDuplex(input, new native.DecompressStream(), opts?.signal, (e) => (e instanceof ArcaError ? e : corrupt((e as Error).message, e)));
        } else {
          yield* commandFilter(command, ['-d', '-q', '-c', '-'], input, opts?.signal, (code, err) => corrupt(`zstd -d exited ${code}: ${err || 'no message'}`));
        }
      })(),
  };
}
