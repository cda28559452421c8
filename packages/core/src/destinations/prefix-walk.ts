import type { ObjectInfo } from '../contracts.js';
import { throwIfAborted } from '../errors.js';

/** One entry of a folder, as a destination's backend reports it. */
export interface WalkEntry {
  name: string;
  kind: 'dir' | 'file' | 'other';
  /** Size and mtime when the folder listing carries them (SFTP, FTP); otherwise `stat` is asked. */
  size?: number;
  modifiedAt?: Date;
}

export interface PrefixWalkOptions {
  /** The entries of folder `rel` (`''`: the root); `[]` when it does not exist. Rejects with an ArcaError otherwise. */
  readDir(rel: string): Promise<WalkEntry[]>;
  /** Size and mtime of the file at `key`, for backends whose folder listings lack them; `undefined` when it is gone. */
  stat?(key: string): Promise<Omit<ObjectInfo, 'key'> | undefined>;
  /** Folders never entered (NAS recycle bins). */
  skipDir?(name: string): boolean;
  /** Files never listed (temp files of unfinished puts). */
  skipFile?(name: string): boolean;
  /** Folders read (and files stat'ed) at once; 1 for backends with one connection. Default 1. */
  parallel?: number;
  signal?: AbortSignal;
}

/**
 * Every file whose key starts with `prefix`, for destinations that store keys as paths in a
 * folder tree (local disk, SFTP, FTP): walks only the folders the prefix can reach, each key
 * once, in no particular order. Shared so the prefix rules (`p/` never lists `p2/`) live in
 * one place; the caller has validated `prefix`.
 */
export async function* walkPrefix(prefix: string, o: PrefixWalkOptions): AsyncGenerator<ObjectInfo> {
  const parallel = o.parallel ?? 1;
  const slash = prefix.lastIndexOf('/');
  const stack: string[] = [slash >= 0 ? prefix.slice(0, slash) : ''];
  while (stack.length) {
    throwIfAborted(o.signal);
    const dirs = stack.splice(-parallel);
    const listed = await Promise.all(dirs.map(async (rel) => ({ rel, entries: await o.readDir(rel) })));
    const files: Array<{ key: string; entry: WalkEntry }> = [];
    for (const { rel, entries } of listed) {
      for (const entry of entries) {
        if (entry.name === '.' || entry.name === '..') continue;
        const key = rel ? `${rel}/${entry.name}` : entry.name;
        if (entry.kind === 'dir') {
          if (!o.skipDir?.(entry.name) && (key.startsWith(prefix) || prefix.startsWith(key + '/'))) stack.push(key);
        } else if (entry.kind === 'file' && !o.skipFile?.(entry.name) && key.startsWith(prefix)) {
          files.push({ key, entry });
        }
      }
    }
    const stat = o.stat;
    if (!stat) {
      for (const { key, entry } of files) yield { key, size: entry.size ?? 0, ...(entry.modifiedAt && { modifiedAt: entry.modifiedAt }) };
      continue;
    }
    for (let i = 0; i < files.length; i += parallel) {
      throwIfAborted(o.signal);
      const infos = await Promise.all(files.slice(i, i + parallel).map(async ({ key }) => ({ key, info: await stat(key) })));
      for (const { key, info } of infos) if (info) yield { key, ...info };
    }
  }
}
