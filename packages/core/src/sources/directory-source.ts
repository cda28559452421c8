import { createReadStream, type Dirent, type Stats } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import picomatch from 'picomatch';
import * as tar from 'tar-stream';
import { z } from 'zod';
import { ArcaError, ErrorCodes, abortError, throwIfAborted } from '../errors.js';
import type { CheckReport, Dump, Source } from '../contracts.js';
import { parseOptions } from '../options.js';
import { restoreTarInto } from './directory-restore.js';

const DirectoryOptions = z.object({
  /** Folder to back up (and, for an in-place restore, to restore into). */
  path: z.string().min(1),
  /**
   * Globs of files to include (default: everything). A pattern without `/` matches a name at
   * any depth (`*.jpg`); with `/` it matches the path from the root (`static/uploads/**`).
   */
  include: z.array(z.string().min(1)).optional(),
  /**
   * Globs to leave out, same rules: `['.git', 'node_modules', '__pycache__', 'venv', 'instance']`
   * leaves those folders out wherever they are. An excluded folder is not descended.
   */
  exclude: z.array(z.string().min(1)).optional(),
});
export type DirectoryOptions = z.input<typeof DirectoryOptions>;

type Matcher = (rel: string) => boolean;

/** gitignore-like: patterns without a slash match the base name at any depth. */
function compile(patterns: string[] | undefined): Matcher | undefined {
  if (!patterns?.length) return undefined;
  const byName = patterns.filter((p) => !p.replace(/\/$/, '').includes('/')).map((p) => p.replace(/\/$/, ''));
  const byPath = patterns.filter((p) => p.replace(/\/$/, '').includes('/')).map((p) => p.replace(/^\//, '').replace(/\/$/, ''));
  const nameM = byName.length ? picomatch(byName, { dot: true }) : undefined;
  const pathM = byPath.length ? picomatch(byPath, { dot: true }) : undefined;
  return (rel) => Boolean(nameM?.(path.posix.basename(rel)) || pathM?.(rel));
}

interface WalkEntry {
  rel: string;
  full: string;
  stat: Stats;
  kind: 'file' | 'directory' | 'symlink';
}

/** Sorted depth-first walk; never follows symlinks. Yields skipped special files through `onSkip`. */
async function* walk(
  root: string,
  exclude: Matcher | undefined,
  include: Matcher | undefined,
  onSkip: (rel: string, why: string) => void,
  signal?: AbortSignal,
): AsyncGenerator<WalkEntry> {
  const stack: string[] = [''];
  while (stack.length) {
    if (signal?.aborted) throw abortError(signal, 'Reading the folder');
    const rel = stack.pop()!;
    const dirFull = rel ? path.join(root, rel) : root;
    let entries: Dirent[];
    try {
      entries = await fs.readdir(dirFull, { withFileTypes: true });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (rel && (code === 'ENOENT' || code === 'ENOTDIR')) {
        onSkip(rel, 'removed while reading');
        continue;
      }
      throw new ArcaError(ErrorCodes.SOURCE_FAILED, `Cannot read folder ${dirFull} (${code ?? (e as Error).message}): check it exists and is readable by the Arca user.`, { cause: e });
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const subdirs: string[] = [];
    for (const ent of entries) {
      const childRel = rel ? `${rel}/${ent.name}` : ent.name;
      if (exclude?.(childRel)) continue;
      const full = path.join(dirFull, ent.name);
      let st: Stats;
      try {
        st = await fs.lstat(full);
      } catch {
        onSkip(childRel, 'removed while reading');
        continue;
      }
      if (st.isDirectory()) {
        subdirs.push(childRel);
        if (!include) yield { rel: childRel, full, stat: st, kind: 'directory' };
      } else if (st.isFile() || st.isSymbolicLink()) {
        if (include && !include(childRel)) continue;
        yield { rel: childRel, full, stat: st, kind: st.isFile() ? 'file' : 'symlink' };
      } else {
        onSkip(childRel, 'not a regular file, folder or symlink');
      }
    }
    for (let i = subdirs.length - 1; i >= 0; i--) stack.push(subdirs[i]!);
  }
}

/** Write a stream into a tar entry, honouring backpressure; pads with zeros if the file shrank. */
async function writeEntryBody(entry: NodeJS.WritableStream & { write(c: Uint8Array): boolean }, full: string, size: number, signal?: AbortSignal): Promise<number> {
  let written = 0;
  if (size > 0) {
    try {
      const rs = createReadStream(full, { start: 0, end: size - 1, highWaterMark: 1 << 16, signal });
      for await (const chunk of rs as AsyncIterable<Buffer>) {
        written += chunk.byteLength;
        if (!entry.write(chunk)) await new Promise<void>((r) => entry.once('drain', () => r()));
      }
    } catch (e) {
      // A file deleted while we read it is padded like one that shrank (GNU tar does the same);
      // anything else (permissions, I/O errors) fails the dump.
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }
  let missing = size - written;
  while (missing > 0) {
    const pad = Buffer.alloc(Math.min(missing, 1 << 16));
    missing -= pad.byteLength;
    if (!entry.write(pad)) await new Promise<void>((r) => entry.once('drain', () => r()));
  }
  await new Promise<void>((resolve, reject) => {
    entry.once('error', reject);
    entry.end(() => resolve());
  });
  return written;
}

/**
 * A folder as a tar archive (POSIX ustar with pax extensions for long names, readable by
 * `tar -x`). Files are streamed one at a time; symlinks are stored as links and never
 * followed; sockets and devices are skipped and listed in the artifact's meta.
 */
export function directory(options: DirectoryOptions): Source {
  const opts = parseOptions(DirectoryOptions, options, 'directory');
  const root = path.resolve(opts.path);
  const exclude = compile(opts.exclude);
  const include = compile(opts.include);

  const missing = (e: unknown) =>
    new ArcaError(ErrorCodes.NOT_FOUND, `Source folder ${root} does not exist or is not a folder: create it or fix the path in the job.`, { cause: e });

  return {
    kind: 'directory',
    describe: () => ({ kind: 'directory', path: root, include: opts.include ?? [], exclude: opts.exclude ?? [] }),

    async check(o = {}): Promise<CheckReport> {
      const facts: Record<string, unknown> = { path: root };
      try {
        const st = await fs.stat(root);
        if (!st.isDirectory()) return { ok: false, problems: [`${root} is not a folder.`], facts };
        let files = 0;
        let bytes = 0;
        for await (const e of walk(root, exclude, include, () => {}, o.signal)) {
          if (e.kind === 'file') {
            files++;
            bytes += e.stat.size;
          }
        }
        Object.assign(facts, { files, estimatedBytes: bytes });
        return { ok: true, problems: [], facts };
      } catch (e) {
        return { ok: false, problems: [e instanceof ArcaError ? e.message : missing(e).message], facts };
      }
    },

    async dump(o = {}): Promise<Dump> {
      throwIfAborted(o.signal, 'The folder backup');
      try {
        if (!(await fs.stat(root)).isDirectory()) throw new Error('not a directory');
      } catch (e) {
        throw missing(e);
      }
      const signal = o.signal;
      const stats = { files: 0, directories: 0, symlinks: 0, bytes: 0, changedWhileReading: [] as string[], skipped: [] as Array<{ path: string; why: string }> };
      const pack = tar.pack();
      const onAbort = () => pack.destroy(abortError(signal, 'The folder backup'));
      signal?.addEventListener('abort', onAbort, { once: true });

      const produce = async () => {
        for await (const e of walk(root, exclude, include, (p, why) => stats.skipped.length < 1000 && stats.skipped.push({ path: p, why }), signal)) {
          const base = { mode: e.stat.mode & 0o7777, mtime: e.stat.mtime, uid: e.stat.uid, gid: e.stat.gid };
          if (e.kind === 'directory') {
            stats.directories++;
            pack.entry({ ...base, name: e.rel + '/', type: 'directory' });
          } else if (e.kind === 'symlink') {
            stats.symlinks++;
            const linkname = await fs.readlink(e.full);
            pack.entry({ ...base, name: e.rel, type: 'symlink', linkname });
          } else {
            stats.files++;
            const size = e.stat.size;
            const entry = pack.entry({ ...base, name: e.rel, type: 'file', size });
            const got = await writeEntryBody(entry as never, e.full, size, signal);
            if (got !== size && stats.changedWhileReading.length < 1000) stats.changedWhileReading.push(e.rel);
            stats.bytes += size;
          }
        }
        pack.finalize();
      };
      produce().catch((err) => {
        pack.destroy(
          err instanceof ArcaError ? err : new ArcaError(ErrorCodes.SOURCE_FAILED, `Reading ${root} failed: ${(err as Error).message}`, { cause: err }),
        );
      });

      async function* stream() {
        try {
          for await (const chunk of pack as AsyncIterable<Uint8Array>) yield chunk;
        } finally {
          signal?.removeEventListener('abort', onAbort);
          if (!pack.destroyed) pack.destroy();
        }
      }
      return {
        filename: 'files.tar',
        stream: stream(),
        meta: async () => ({ ...stats }),
      };
    },

    restore: (input, o = {}) => restoreTarInto(root, input, o),
  };
}
