/** A snapshot of a folder tree (path, type, size, mode, mtime) to prove nothing was touched. */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';

export async function snapshotTree(root: string, skip: (rel: string) => boolean = () => false): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (d: string) => {
    for (const e of await fs.readdir(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      const rel = path.relative(root, p);
      if (skip(rel)) continue;
      const st = await fs.lstat(p);
      out[rel] = `${e.isDirectory() ? 'd' : e.isSymbolicLink() ? 'l' : 'f'} ${st.size} ${(st.mode & 0o7777).toString(8)} ${e.isDirectory() ? '' : st.mtimeMs}`;
      if (e.isDirectory()) await walk(p);
    }
  };
  await walk(root);
  return out;
}
