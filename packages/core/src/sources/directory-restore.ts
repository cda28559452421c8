import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar-stream';
import { ArcaError, ErrorCodes, abortError } from '../errors.js';
import type { Bytes, RestoreOptions } from '../contracts.js';

/** Entry names are untrusted: no absolute paths, no `..`, no NUL or backslash (tar-slip). */
function safeRelative(name: string): string {
  const n = name.replace(/^(\.\/)+/, '').replace(/\/+$/, '');
  const bad = (why: string): never => {
    throw new ArcaError(ErrorCodes.CORRUPT_ARTIFACT, `Refusing archive entry ${JSON.stringify(name.slice(0, 200))}: ${why}. The archive was not made by Arca or was tampered with; nothing was restored.`);
  };
  if (n === '' || n === '.') return '';
  if (n.includes('\0') || n.includes('\\')) bad('it contains NUL or a backslash');
  if (n.startsWith('/') || /^[a-zA-Z]:/.test(n)) bad('it is an absolute path');
  if (n.split('/').some((p) => p === '..')) bad('it escapes the target folder');
  return n;
}

async function isEmptyOrMissing(dir: string): Promise<boolean> {
  try {
    return (await fs.readdir(dir)).length === 0;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return true;
    if ((e as NodeJS.ErrnoException).code === 'ENOTDIR') return false;
    throw e;
  }
}

/** `input` as it is, calling `onError` when it fails; ending it early ends `input` at once. */
function watched<T>(input: AsyncIterable<T>, onError: () => void): AsyncIterable<T> {
  return {
    [Symbol.asyncIterator]() {
      const it = input[Symbol.asyncIterator]();
      return {
        next: () =>
          it.next().catch((e: unknown) => {
            onError();
            throw e;
          }),
        return: async () => (await it.return?.()) ?? { done: true, value: undefined },
      };
    },
  };
}

/** `input`, its error replaced by `map(error)`. */
async function* mapErrors<T>(input: AsyncIterable<T>, map: (e: unknown) => unknown): AsyncGenerator<T> {
  try {
    yield* input;
  } catch (e) {
    throw map(e);
  }
}

/**
 * Extract a tar stream into `target` without ever touching `target` until the whole
 * archive has been read and written: entries go to a sibling temp folder that then
 * replaces the target (old content is moved aside and removed only after the swap).
 * On failure the target MUST be left as it was and the temp folder removed; an input that
 * fails, wherever it fails, rejects with its own error, and an archive that does not parse
 * with CORRUPT_ARTIFACT (so a restore goes on to the next copy).
 */
export async function restoreTarInto(target: string, input: AsyncIterable<Bytes>, o: RestoreOptions = {}): Promise<void> {
  if (!o.overwrite && !(await isEmptyOrMissing(target))) {
    throw new ArcaError(ErrorCodes.TARGET_NOT_EMPTY, `Restore target ${target} is not empty: restore into a new folder, or pass overwrite: true (arca restore --overwrite) to replace its content.`);
  }
  const parent = path.dirname(target);
  await fs.mkdir(parent, { recursive: true });
  const tmp = path.join(parent, `.${path.basename(target)}.arca-restore-${randomBytes(4).toString('hex')}`);
  await fs.mkdir(tmp, { mode: 0o700 });
  const symlinks = new Set<string>();
  const dirTimes: Array<[string, Date, number]> = [];
  const extract = tar.extract();
  let inputFailed = false;
  const src = Readable.from(watched(input, () => (inputFailed = true)));
  /** The input's own error as it is; the extractor's own (no `code`: a tar that does not parse) means a damaged archive. */
  const archiveError = (e: unknown) =>
    inputFailed || e instanceof ArcaError || (e as NodeJS.ErrnoException)?.code !== undefined
      ? e
      : new ArcaError(ErrorCodes.CORRUPT_ARTIFACT, `The archive is damaged (${(e as Error).message}); nothing was restored. Restore from another destination or backup.`, { cause: e });
  const onAbort = () => src.destroy(abortError(o.signal, 'The restore'));
  o.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    if (o.signal?.aborted) throw abortError(o.signal, 'The restore');
    // A failing input destroys the extractor, and the extractor the entry it is feeding.
    const feeding = pipeline(src, extract as unknown as NodeJS.WritableStream).catch((e) => {
      extract.destroy(e);
      throw archiveError(e);
    });
    feeding.catch(() => {}); // awaited below; avoid an unhandled rejection if the loop throws first
    for await (const entry of mapErrors(extract as AsyncIterable<Readable & { header: tar.Header }>, archiveError)) {
      const h = entry.header;
      const rel = safeRelative(h.name);
      const parts = rel.split('/');
      // Never write through a symlink the archive itself created (symlink-then-file attack).
      for (let i = 1; i <= parts.length; i++) {
        if (symlinks.has(parts.slice(0, i).join('/'))) {
          throw new ArcaError(ErrorCodes.CORRUPT_ARTIFACT, `Refusing archive entry ${JSON.stringify(h.name)}: it goes through a symlink stored earlier in the archive. Nothing was restored.`);
        }
      }
      const full = rel ? path.join(tmp, ...parts) : tmp;
      const mode = (h.mode ?? 0o644) & 0o777;
      if (rel) await fs.mkdir(path.dirname(full), { recursive: true });
      switch (h.type) {
        case 'directory':
          await fs.mkdir(full, { recursive: true });
          if (h.mtime) dirTimes.push([full, h.mtime, mode]);
          entry.resume();
          break;
        case 'file':
        case 'contiguous-file':
          // Entries are streamx streams, and node's pipeline() takes one that is already destroyed
          // for one that ended: it never ends the file stream and waits forever. That happens when the
          // input fails (or ends too early) while the folder above is made: the extractor, destroyed,
          // destroys the entry it was feeding.
          // Once attached, a later destroy reaches the pipeline like any node stream's.
          if (entry.destroyed) {
            await feeding; // rejects with the input's error, the one that destroyed the entry
            throw new Error(`the archive entry ${h.name} was destroyed before its data was read`);
          }
          await pipeline(entry, createWriteStream(full, { flags: 'wx', mode: 0o600 }));
          await fs.chmod(full, mode);
          if (h.mtime) await fs.utimes(full, h.mtime, h.mtime);
          break;
        case 'symlink':
          await fs.symlink(h.linkname ?? '', full);
          symlinks.add(rel);
          entry.resume();
          break;
        default:
          throw new ArcaError(ErrorCodes.CORRUPT_ARTIFACT, `Unsupported archive entry type ${String(h.type)} for ${JSON.stringify(h.name)}; nothing was restored.`);
      }
    }
    await feeding;
    if (o.signal?.aborted) throw abortError(o.signal, 'The restore');
    for (const [dir, mtime, mode] of dirTimes.reverse()) {
      await fs.chmod(dir, mode | 0o700);
      await fs.utimes(dir, mtime, mtime);
    }
    // Swap: the target is only touched now that the archive was read completely.
    let old: string | undefined;
    try {
      const st = await fs.lstat(target);
      old = path.join(parent, `.${path.basename(target)}.arca-old-${randomBytes(4).toString('hex')}`);
      if (st.isDirectory() && (await isEmptyOrMissing(target))) {
        await fs.rmdir(target);
        old = undefined;
      } else {
        await fs.rename(target, old);
      }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      old = undefined;
    }
    await fs.rename(tmp, target);
    if (old) await fs.rm(old, { recursive: true, force: true });
  } catch (e) {
    await fs.rm(tmp, { recursive: true, force: true }).catch(() => {});
    if (e instanceof ArcaError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ABORT_ERR') throw abortError(o.signal, 'The restore');
    throw new ArcaError(
      ErrorCodes.RESTORE_FAILED,
      `Restoring into ${target} failed (${(e as Error).message}); the target was left unchanged.`,
      { cause: e },
    );
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
    if (!src.destroyed) src.destroy();
  }
}
