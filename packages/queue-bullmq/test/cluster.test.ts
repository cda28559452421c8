import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { Queue } from 'bullmq';
import { afterEach, expect, it } from 'vitest';
import { jsonlRunLog, type RunLogEntry, type RunResult } from '@arca/core';
import { describeWithService } from '@arca/core/test-kit';
import { bundleInstance, deleteKeys, redisProbe, startInstance, tempDir, uniquePrefix, type Instance } from './harness.js';

type RunEntry = RunLogEntry & { type: 'run' };
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(name: string) {
  const dir = await tempDir(`arca-bullmq-${name}`);
  const prefix = uniquePrefix();
  cleanups.push(() => fs.rm(dir, { recursive: true, force: true }));
  cleanups.push(() => deleteKeys(prefix));
  const script = await bundleInstance(dir);
  const base = { queueName: 'arca', prefix, backups: path.join(dir, 'backups'), runLog: path.join(dir, 'runs.jsonl') };
  return { dir, prefix, script, base };
}

const runs = async (file: string): Promise<RunEntry[]> => (await jsonlRunLog(file).read()).filter((e): e is RunEntry => e.type === 'run');
const stopAll = async (xs: Instance[]) => {
  for (const x of xs) x.send('stop');
  for (const x of xs) expect(await x.exited).toBe(0);
};

await describeWithService('bullmqRunner: Arca instances in separate processes on a real Redis', redisProbe, () => {
  it('a schedule firing every second runs exactly once per tick across three instances', { timeout: 60_000 }, async () => {
    const { prefix, script, base } = await setup('ticks');
    const cfg = { ...base, schedule: '* * * * * *', chunks: 2 };
    const xs = [startInstance(script, cfg), startInstance(script, cfg), startInstance(script, cfg)];
    for (const x of xs) await x.waitFor((l) => l.started === true, 'start');
    // Let at least 6 ticks happen (every instance sees every run:done, local or forwarded).
    await xs[0]!.waitFor(() => xs[0]!.lines.filter((l) => l.event === 'run:done').length >= 6, 'six runs', 30_000);
    // Every instance hears about every run, wherever it ran (forwarded through the queue).
    const firstSix = xs[0]!.lines.filter((l) => l.event === 'run:done').slice(0, 6).map((l) => l.runId);
    for (const x of xs) {
      for (const id of firstSix) await x.waitFor((l) => l.event === 'run:done' && l.runId === id, `run:done of ${String(id)}`, 10_000);
    }
    await stopAll(xs);

    const q = new Queue('arca', { connection: { host: '127.0.0.1', port: 6379 }, prefix });
    const counts = await q.getJobCounts('completed', 'failed', 'active', 'waiting', 'delayed');
    await q.close();
    const entries = await runs(base.runLog);
    const scheduled = entries.map((e) => e.trigger.scheduledFor!);
    const entries0 = () => entries.map((e) => [e.status, e.trigger.scheduledFor, e.error?.code]);
    const what = JSON.stringify({ counts, entries: entries0() });
    // N ticks (queue jobs run) = N run-log entries, no due time twice, each on a whole second.
    expect(entries.length).toBeGreaterThanOrEqual(6);
    expect(entries.length, what).toBe(counts.completed);
    expect([counts.failed, counts.active], what).toEqual([0, 0]); // (a tick may wait in Redis: the workers stopped)
    expect(new Set(scheduled).size).toBe(entries.length);
    expect(new Set(entries.map((e) => e.runId)).size).toBe(entries.length);
    expect(entries.every((e) => e.trigger.type === 'schedule')).toBe(true);
    // On a loaded machine a run may outlast the second: the next tick is then skipped (LOCKED), never run alongside.
    const completed = entries.filter((e) => e.status === 'completed').sort((x, y) => x.startedAt.localeCompare(y.startedAt));
    expect(entries.filter((e) => e.status !== 'completed').every((e) => e.status === 'skipped' && e.error?.code === 'LOCKED')).toBe(true);
    expect(completed.length).toBeGreaterThanOrEqual(6);
    for (let i = 1; i < completed.length; i++) expect(Date.parse(completed[i]!.startedAt)).toBeGreaterThanOrEqual(Date.parse(completed[i - 1]!.finishedAt));
    expect(scheduled.every((s) => s.endsWith('.000Z'))).toBe(true);
    // Each run happened on one of the three processes (the source records its pid in the manifest).
    const pids = new Set(xs.map((x) => x.pid));
    for (const e of completed) {
      const manifest = JSON.parse(await fs.readFile(path.join(base.backups, 'tick', e.backupId, 'manifest.json'), 'utf8')) as { artifacts: Array<{ meta: { pid: number } }>; runId: string };
      expect(manifest.runId).toBe(e.runId);
      expect(pids.has(manifest.artifacts[0]!.meta.pid)).toBe(true);
    }
    // Dumps happened only where runs were executed: as many "dumping" lines in total as runs.
    expect(xs.reduce((n, x) => n + x.lines.filter((l) => l.dumping).length, 0)).toBe(completed.length);
  });

  it('kill -9 of the worker mid-run: the run is recorded failed RUN_ABANDONED, no manifest, the next scheduled run completes', { timeout: 60_000 }, async () => {
    const { script, base } = await setup('kill');
    const cfg = { ...base, schedule: '*/5 * * * * *', chunks: 20, chunkMs: 150, lockDurationMs: 1500, stalledIntervalMs: 500 };
    const a = startInstance(script, cfg);
    const b = startInstance(script, cfg);
    await a.waitFor((l) => l.started === true, 'start');
    await b.waitFor((l) => l.started === true, 'start');
    // Whichever instance starts dumping first is killed once some bytes went through.
    const victim = await Promise.race([a.waitFor((l) => l.dumping === true, 'a dump').then(() => a), b.waitFor((l) => l.dumping === true, 'a dump').then(() => b)]);
    const survivor = victim === a ? b : a;
    const start = await victim.waitFor((l) => l.event === 'run:start', 'run:start');
    await survivor.waitFor((l) => l.event === 'progress' && l.runId === start.runId && (l.bytes as number) > 0, 'forwarded progress');
    victim.proc.kill('SIGKILL');
    expect(await victim.exited).toBe(null);

    const abandoned = await survivor.waitFor((l) => l.event === 'run:done' && l.runId === start.runId, 'the abandoned run recorded', 20_000);
    expect(abandoned).toMatchObject({ status: 'failed', code: 'RUN_ABANDONED' });
    const next = await survivor.waitFor((l) => l.event === 'run:done' && l.runId !== start.runId && l.status === 'completed', 'the next run', 20_000);
    await stopAll([survivor]);

    const entries = await runs(base.runLog);
    const dead = entries.find((e) => e.runId === start.runId)!;
    expect(dead).toMatchObject({ status: 'failed', backupId: start.backupId, trigger: { type: 'schedule' } });
    expect(dead.status !== 'skipped' && dead.error?.code).toBe('RUN_ABANDONED');
    expect(dead.error!.message).toMatch(new RegExp(`pid ${victim.pid}`));
    expect(entries.filter((e) => e.runId === start.runId)).toHaveLength(1); // recorded once
    // Nothing was committed for it: no manifest (the artifact it was writing may remain, unlisted, until prune).
    await expect(fs.stat(path.join(base.backups, 'tick', String(start.backupId), 'manifest.json'))).rejects.toMatchObject({ code: 'ENOENT' });
    const ok = entries.find((e) => e.runId === next.runId)!;
    expect(ok.status).toBe('completed');
    await fs.stat(path.join(base.backups, 'tick', ok.backupId, 'manifest.json'));
  });

  it('a manual run enqueued on a web-only instance runs on a worker instance while the first one streams its progress', { timeout: 60_000 }, async () => {
    const { script, base } = await setup('manual');
    const web = startInstance(script, { ...base, worker: false, chunks: 8, chunkMs: 150 });
    const worker = startInstance(script, { ...base, worker: true, chunks: 8, chunkMs: 150 });
    await web.waitFor((l) => l.started === true, 'start');
    await worker.waitFor((l) => l.started === true, 'start');

    web.send('enqueue tick');
    const { enqueued: runId } = await web.waitFor((l) => typeof l.enqueued === 'string', 'the run id');
    // The id came back before the run finished anywhere.
    expect(web.lines.some((l) => l.event === 'run:done' && l.runId === runId)).toBe(false);
    const done = await web.waitFor((l) => l.event === 'run:done' && l.runId === runId, 'run:done on the web instance', 20_000);
    expect(done.status).toBe('completed');
    const progress = web.lines.filter((l) => l.event === 'progress' && l.runId === runId).map((l) => l.bytes as number);
    expect(progress.length).toBeGreaterThanOrEqual(2); // live, several updates
    expect(progress).toEqual([...progress].sort((x, y) => x - y));
    expect(web.lines.some((l) => l.event === 'run:start' && l.runId === runId)).toBe(true);
    expect(web.lines.some((l) => l.dumping)).toBe(false); // it did not run here
    expect(worker.lines.filter((l) => l.dumping)).toHaveLength(1);

    // run() waits for the result from the other instance; health() shows the queue.
    web.send('run tick');
    const ran = await web.waitFor((l) => typeof l.ran === 'string', 'run() result', 20_000);
    expect(ran.status).toBe('completed');
    web.send('health');
    const { health } = (await web.waitFor((l) => l.health !== undefined, 'health')) as { health: Record<string, unknown> };
    expect(health).toMatchObject({ kind: 'bullmq', ok: true, worker: false, workers: 1, counts: { completed: 2, failed: 0, active: 0 } });
    await stopAll([web, worker]);

    const entries = await runs(base.runLog);
    expect(entries.map((e) => e.runId)).toEqual([ran.ran, runId]); // newest first
    expect(entries.every((e) => e.status === 'completed' && e.trigger.type === 'manual' && e.trigger.actor === 'tester')).toBe(true);
    const result = entries[1] as RunResult;
    const manifest = JSON.parse(await fs.readFile(path.join(base.backups, 'tick', result.backupId, 'manifest.json'), 'utf8')) as { artifacts: Array<{ meta: { pid: number } }> };
    expect(manifest.artifacts[0]!.meta.pid).toBe(worker.pid);
  });
});
