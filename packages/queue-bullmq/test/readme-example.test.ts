import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, expect, it } from 'vitest';
import type { RunResult } from '@arca/core';
import { describeWithService } from '@arca/core/test-kit';
import { createBackups } from './readme-example.js';
import { REDIS_URL, deleteKeys, redisProbe, tempDir, uniquePrefix } from './harness.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
});

it('the README shows this example', async () => {
  const readme = await fs.readFile(path.join(here, '..', 'README.md'), 'utf8');
  const code = await fs.readFile(path.join(here, 'readme-example.ts'), 'utf8');
  expect(readme).toContain(code.slice(code.indexOf('import {')).trim());
});

await describeWithService('README example on a real Redis', redisProbe, () => {
  it('two instances: "back up now" on the web-only one runs on the worker one; both see it finish; one history', async () => {
    const dir = await tempDir('arca-bullmq-readme');
    const prefix = uniquePrefix();
    cleanups.push(() => fs.rm(dir, { recursive: true, force: true }));
    cleanups.push(() => deleteKeys(prefix));
    await fs.mkdir(path.join(dir, 'uploads'));
    await fs.writeFile(path.join(dir, 'uploads', 'a.png'), Buffer.alloc(5000, 7));
    const env = { REDIS_URL, BACKUP_DIR: path.join(dir, 'backups'), UPLOADS_DIR: path.join(dir, 'uploads'), ARCA_PREFIX: prefix };
    const web = createBackups({ ...env, ARCA_WORKER: '0' });
    const worker = createBackups(env);
    cleanups.push(() => web.stop(), () => worker.stop());
    await web.start();
    await worker.start();

    const doneOnWeb = new Promise<RunResult>((resolve) => web.on('run:done', resolve));
    const { runId } = await web.enqueue('uploads', { actor: 'alice' });
    const r = await doneOnWeb;
    expect(r).toMatchObject({ runId, status: 'completed', trigger: { type: 'manual', actor: 'alice' } });
    expect((await web.list('uploads')).map((b) => b.id)).toEqual([r.backupId]);
    expect((await worker.history({ job: 'uploads' })).map((e) => e.type === 'run' && e.runId)).toEqual([runId]);
    const health = await web.health();
    expect(health.runner).toMatchObject({ ok: true, schedules: [{ job: 'uploads', next: web.nextRuns('uploads', 1)[0]!.toISOString() }] });
  });
});
