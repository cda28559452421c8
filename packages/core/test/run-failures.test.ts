import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createArca, directory, jsonlRunLog, localDir, registerSecret, type ArcaEvents, type Notifier } from '@arca/core';
import { flaky, syntheticSource } from './fixtures.js';
import { readTree, tempDir, writeTree } from './helpers.js';

async function filesUnder(dir: string): Promise<string[]> {
  try {
    return Object.keys(await readTree(dir));
  } catch {
    return [];
  }
}

describe('runs that go wrong', () => {
  it('a failing destination is detached: the run is partial, the other completes, retryFailed completes the copy', async () => {
    const dir = await tempDir();
    const state = { failPuts: true };
    const seen: ArcaEvents['run:done'][] = [];
    const notifier: Notifier = { name: 'spy', notify: async (e) => void (e.type === 'run:done' && seen.push(e.data)) };
    const arca = createArca({
      destinations: { local: localDir({ path: path.join(dir, 'a') }), nas: flaky(localDir({ path: path.join(dir, 'b') }), state) },
      jobs: { j: { sources: { data: syntheticSource(3 << 20) }, destinations: ['local', 'nas'] } },
      notifiers: [notifier],
    });
    const run = await arca.run('j');
    expect(run.status).toBe('partial');
    const [a, b] = run.destinations;
    expect(a).toMatchObject({ name: 'local', status: 'completed' });
    expect(b).toMatchObject({ name: 'nas', status: 'failed', error: { code: 'DEST_UNREACHABLE' } });
    expect(await filesUnder(path.join(dir, 'b'))).toEqual([]);
    expect(seen.map((r) => r.status)).toEqual(['partial']);
    expect((await arca.list('j'))[0]!.destinations).toEqual(['local']);

    state.failPuts = false;
    const retry = await arca.retryFailed('j', run.backupId);
    expect(retry).toMatchObject({ alreadyHeld: ['local'], copied: ['nas'], failed: [] });
    expect((await arca.list('j'))[0]!.destinations).toEqual(['local', 'nas']);
    expect((await arca.verify('j', run.backupId)).ok).toBe(true);
  });

  it('a stalled destination is detached after stallTimeoutMs and the others complete', async () => {
    const dir = await tempDir();
    const arca = createArca({
      destinations: { local: localDir({ path: path.join(dir, 'a') }), slow: flaky(localDir({ path: path.join(dir, 'b') }), { stall: true }) },
      jobs: { j: { sources: { data: syntheticSource(2 << 20) }, destinations: ['local', 'slow'], stallTimeoutMs: 300 } },
    });
    const run = await arca.run('j');
    expect(run.status).toBe('partial');
    expect(run.destinations[1]).toMatchObject({ status: 'failed', error: { code: 'DEST_STALLED' } });
  });

  it('a source that fails mid-dump fails the run: no manifest, no files anywhere, secrets redacted', async () => {
    const dir = await tempDir();
    registerSecret('s3cr3t-pass');
    const events: string[] = [];
    const arca = createArca({
      destinations: { a: localDir({ path: path.join(dir, 'a') }), b: localDir({ path: path.join(dir, 'b') }) },
      jobs: {
        j: {
          sources: {
            ok: syntheticSource(1 << 20),
            db: syntheticSource(4 << 20, { failAt: 1 << 20, error: new Error('pg_dump: connection to postgres://app:s3cr3t-pass@db/x lost') }),
          },
          destinations: ['a', 'b'],
        },
      },
      runLog: jsonlRunLog(path.join(dir, 'runs.jsonl')),
    });
    arca.on('run:done', (r) => events.push(JSON.stringify(r)));
    arca.on('destination:done', (r) => events.push(JSON.stringify(r)));
    const run = await arca.run('j');
    expect(run.status).toBe('failed');
    expect(run.error?.code).toBe('SOURCE_FAILED');
    expect(run.error?.message).toContain('connection to postgres://app:***@db/x lost');
    expect(run.destinations.every((d) => d.status === 'failed')).toBe(true);
    expect(await filesUnder(path.join(dir, 'a'))).toEqual([]);
    expect(await filesUnder(path.join(dir, 'b'))).toEqual([]);
    expect(await arca.list('j')).toEqual([]);
    const log = await fs.readFile(path.join(dir, 'runs.jsonl'), 'utf8');
    expect(log).toContain('"status":"failed"');
    for (const text of [log, ...events, JSON.stringify(run)]) expect(text).not.toContain('s3cr3t-pass');
  });

  it('aborting mid-stream fails the run with ABORTED and leaves no manifest and no visible file', async () => {
    const dir = await tempDir();
    const arca = createArca({
      destinations: { a: localDir({ path: path.join(dir, 'a') }) },
      jobs: { j: { sources: { data: syntheticSource(256 << 20) }, destinations: ['a'], compress: 'none' } },
    });
    const ac = new AbortController();
    arca.on('progress', (p) => {
      if (p.bytes > 8 << 20) ac.abort();
    });
    const run = await arca.run('j', { signal: ac.signal });
    expect(run.status).toBe('failed');
    expect(run.error?.code).toBe('ABORTED');
    expect(await arca.list('j')).toEqual([]);
    // Not even a temp file: the aborted put removed it.
    const all: string[] = [];
    async function walk(d: string) {
      for (const e of await fs.readdir(d, { withFileTypes: true }).catch(() => [])) {
        if (e.isDirectory()) await walk(path.join(d, e.name));
        else all.push(e.name);
      }
    }
    await walk(path.join(dir, 'a'));
    expect(all).toEqual([]);
  });

  it('sequential fan-out writes the lowest priority first, then copies to the next', async () => {
    const dir = await tempDir();
    const arca = createArca({
      destinations: { local: localDir({ path: path.join(dir, 'a') }), remote: localDir({ path: path.join(dir, 'b') }) },
      jobs: { j: { sources: { data: syntheticSource(1 << 20) }, destinations: [{ name: 'remote', priority: 2 }, { name: 'local', priority: 1 }], fanOut: 'sequential' } },
    });
    const order: string[] = [];
    arca.on('destination:done', (e) => order.push(e.destination.name));
    const run = await arca.run('j');
    expect(run.status).toBe('completed');
    expect(order).toEqual(['local', 'remote']);
    expect(run.destinations.map((d) => d.name)).toEqual(['local', 'remote']);
    expect(run.destinations[0]!.sha256).toBe(run.destinations[1]!.sha256);
    expect((await arca.verify('j', run.backupId)).ok).toBe(true);
  });

  it('a notifier that throws never fails the backup; the failure is an error event', async () => {
    const dir = await tempDir();
    const errors: ArcaEvents['error'][] = [];
    const arca = createArca({
      destinations: { a: localDir({ path: path.join(dir, 'a') }) },
      jobs: { j: { sources: { data: syntheticSource(1000, { failAt: 10 }) }, destinations: ['a'] } },
      notifiers: [{ name: 'broken', notify: async () => Promise.reject(new Error('webhook down token=abcd1234')) }],
    });
    arca.on('error', (e) => errors.push(e));
    const run = await arca.run('j');
    expect(run.status).toBe('failed');
    expect(errors.map((e) => e.context)).toEqual(['notifier broken']);
    expect(errors[0]!.error.message).toBe('webhook down token=***');
  });

  it('a second run of the same job while one runs is refused with LOCKED', async () => {
    const dir = await tempDir();
    const arca = createArca({
      destinations: { a: localDir({ path: path.join(dir, 'a') }) },
      jobs: { j: { sources: { data: syntheticSource(16 << 20) }, destinations: ['a'] } },
    });
    const first = arca.run('j');
    await expect(arca.run('j')).rejects.toMatchObject({ code: 'LOCKED' });
    expect((await first).status).toBe('completed');
  });

  it('deleteBackup removes the manifest first and everything after; a second delete is NOT_FOUND', async () => {
    const dir = await tempDir();
    await writeTree(path.join(dir, 'src'), { 'x.txt': 'x' });
    const arca = createArca({
      destinations: { a: localDir({ path: path.join(dir, 'a') }) },
      jobs: { j: { sources: { files: directory({ path: path.join(dir, 'src') }) }, destinations: ['a'] } },
    });
    const run = await arca.run('j');
    expect(await arca.deleteBackup('j', run.backupId, { actor: 'bob' })).toEqual({ deletedFrom: ['a'] });
    expect(await filesUnder(path.join(dir, 'a'))).toEqual([]);
    await expect(arca.deleteBackup('j', run.backupId)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    const audit = (await arca.history()).filter((h) => h.type === 'audit' && h.action === 'delete').at(-1);
    expect(audit).toMatchObject({ actor: 'bob', ok: true });
  });
});
