import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createArca, localDir, type ArcaEvents, type Destination } from '@arca/core';
import { syntheticSource } from './fixtures.js';
import { tempDir } from './helpers.js';

/** A real localDir that counts its get() calls. */
function counting(inner: Destination): Destination & { gets: number } {
  const d = { ...inner, gets: 0, get: (key: string, o?: { signal?: AbortSignal }) => (d.gets++, inner.get(key, o)) };
  return d;
}

describe('arca.list() over a catalog', () => {
  it('reads each committed manifest once, re-reads one whose file changed, and drops one that no longer parses', async () => {
    const dir = await tempDir();
    const dest = counting(localDir({ path: path.join(dir, 'b'), fsync: false }));
    const errors: ArcaEvents['error'][] = [];
    const arca = createArca({ destinations: { local: dest }, jobs: { j: { sources: { data: syntheticSource(64) }, destinations: ['local'] } } });
    arca.on('error', (e) => errors.push(e));
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await arca.run('j')).backupId);
    dest.gets = 0;
    expect((await arca.list('j')).map((b) => b.id)).toEqual([...ids].reverse());
    expect(dest.gets).toBe(5);
    expect((await arca.list('j')).length).toBe(5);
    expect(dest.gets).toBe(5); // unchanged manifests are not read again

    // A manifest replaced on disk (new mtime) is read and validated again: a broken one is left out and reported.
    const file = path.join(dir, 'b', 'j', ids[2]!, 'manifest.json');
    await fs.writeFile(file, '{"not":"a manifest"}');
    await fs.utimes(file, new Date(), new Date(Date.now() + 5000));
    expect((await arca.list('j')).map((b) => b.id)).toEqual([ids[4], ids[3], ids[1], ids[0]]);
    expect(dest.gets).toBe(6);
    expect(errors.map((e) => e.backupId)).toEqual([ids[2]]);

    // A deleted backup disappears; a new one appears.
    await arca.deleteBackup('j', ids[0]!);
    const fresh = (await arca.run('j')).backupId;
    expect((await arca.list('j')).map((b) => b.id)).toEqual([fresh, ids[4], ids[3], ids[1]]);
  });
});
