import { createGunzip, createGzip } from 'node:zlib';
import { ArcaError, ErrorCodes } from '../errors.js';
import type { Codec } from '../contracts.js';
import { throughDuplex } from '../streams.js';

export interface GzipOptions {
  /** 1 (fastest) to 9 (smallest); default 6, like `gzip`. Level 1 is ~4× faster on text-like data. */
  level?: number;
}

/** Standard gzip (RFC 1952) through node:zlib: artifacts open with `gunzip`. */
export function gzip(options: GzipOptions = {}): Codec {
  const level = options.level ?? 6;
  if (!Number.isInteger(level) || level < 1 || level > 9) {
    throw new ArcaError(ErrorCodes.CONFIG_INVALID, `gzip level must be an integer from 1 to 9, got ${String(level)}.`);
  }
  return {
    name: 'gzip',
    extension: '.gz',
    describe: () => ({ level }),
    encode: (input, o) => throughDuplex(input, createGzip({ level, chunkSize: 1 << 16 }), o?.signal),
    decode: (input, o) =>
      throughDuplex(
        input,
        createGunzip({ chunkSize: 1 << 16 }),
        o?.signal,
        (e) =>
          e instanceof ArcaError
            ? e
            : new ArcaError(ErrorCodes.CORRUPT_ARTIFACT, `The gzip data is corrupt or truncated (${(e as Error).message}). Restore from another destination or backup.`, { cause: e }),
      ),
  };
}
