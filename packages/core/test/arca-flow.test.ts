import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createArca, directory, localDir, jsonlRunLog, type ArcaEvents } from '@arca/core';
import { readTree, tempDir, writeTree } from './helpers.js';

describe('createArca: run, list, get, verify, restore', () => {
  it('backs a folder up to two destinations and restores it byte-identical', async () => {
    const dir = await tempDir();
    const src = path.join(dir, 'uploads');
    await writeTree(src, { 'a.txt': 'alpha', 'img/b.bin': Buffer.alloc(300_000, 7), 'node_modules/x.js': 'skip me', 'deep/.git/HEAD': 'ref' });
    await fs.symlink('a.txt', path.join(src, 'link-to-a'));
    const arca = createArca({
      destinations: { local: localDir({ path: path.join(dir, 'b1') }), external: localDir({ path: path.join(dir, 'b2') }) },
      jobs: { daily: { sources: { uploads: directory({ path: src, exclude: ['node_modules', '.git'] }) }, destinations: ['local', 'external'] } },
      runLog: jsonlRunLog(path.join(dir, 'runs.jsonl')),
    });
    const events: Array<keyof ArcaEvents> = [];
    arca.on('run:start', () => events.push('run:start'));
    arca.on('destination:done', () => events.push('destination:done'));
    arca.on('run:done', () => events.push('run:done'));

    const run = await arca.run('daily', { actor: 'alice' });
    expect(run.status).toBe('completed');
    expect(run.error).toBeUndefined();
    expect(run.destinations.map((d) => [d.name, d.status])).toEqual([['local', 'completed'], ['external', 'completed']]);
    expect(run.artifacts[0]!.file).toBe('uploads.tar.gz');
    expect(run.artifacts[0]!.encoding).toEqual(['gzip']);
    expect(events).toEqual(['run:start', 'destination:done', 'destination:done', 'run:done']);
    for (const d of run.destinations) {
      expect(d.durationMs).toBeGreaterThanOrEqual(0);
      expect(d.sha256).toMatch(/^[0-9a-f]{64}$/);
    }

    const list = await arca.list('daily');
    expect(list.map((b) => b.id)).toEqual([run.backupId]);
    expect(list[0]!.destinations).toEqual(['local', 'external']);
    expect(list[0]!.trigger).toEqual({ type: 'manual', actor: 'alice' });

    const got = await arca.get('daily', run.backupId);
    expect(got.manifest.artifacts[0]!.meta).toMatchObject({ files: 2, symlinks: 1 });

    const v = await arca.verify('daily', run.backupId, { level: 'checksum' });
    expect(v.ok).toBe(true);
    expect(v.destinations.every((d) => d.holds && d.ok)).toBe(true);

    const target = path.join(dir, 'restored');
    const r = await arca.restore('daily', run.backupId, { into: directory({ path: target }) });
    expect(r.artifacts[0]!.from).toBe('local');
    const expected = await readTree(src);
    delete expected['node_modules/x.js'];
    delete expected['deep/.git/HEAD'];
    expect(await readTree(target)).toEqual(expected);

    const history = await arca.history({ job: 'daily' });
    expect(history.map((h) => (h.type === 'run' ? 'run' : h.action))).toEqual(['restore', 'verify', 'run']);
  });
});
