import { createHmac } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createArca, localDir, redact, signWebhook, verifyWebhookSignature, webhook, type ArcaEvents, type WebhookPayload } from '@arca/core';
import { syntheticSource } from './fixtures.js';
import { tempDir } from './helpers.js';
import { deadPort, startReceiver } from './notifier-receiver.js';

const SECRET = 'whsec-test-0123456789abcdef';

describe('webhook() notifier against a real local HTTP receiver', () => {
  it('POSTs failed runs as signed JSON the receiver verifies (independent HMAC), not successes by default', async () => {
    const rx = await startReceiver();
    const dir = await tempDir();
    const arca = createArca({
      destinations: { local: localDir({ path: path.join(dir, 'a') }) },
      jobs: {
        good: { sources: { data: syntheticSource(100) }, destinations: ['local'] },
        bad: { sources: { data: syntheticSource(10_000, { failAt: 10, error: new Error('pg_dump: server closed the connection') }) }, destinations: ['local'] },
      },
      notifiers: [webhook({ url: rx.url('/arca/hook'), secret: SECRET })],
    });
    await arca.run('good');
    const run = await arca.run('bad', { actor: 'alice' });
    const [req] = await rx.waitFor(1);
    expect(rx.received).toHaveLength(1);
    expect(req!.method).toBe('POST');
    expect(req!.url).toBe('/arca/hook');
    expect(req!.headers['content-type']).toBe('application/json');
    expect(req!.headers['x-arca-event']).toBe('run:done');
    const ts = req!.headers['x-arca-timestamp'] as string;
    expect(Math.abs(Number(ts) - Date.now() / 1000)).toBeLessThan(120);
    // verify the way a receiver in any language would: HMAC-SHA256 over "<timestamp>.<raw body>"
    const expected = 'sha256=' + createHmac('sha256', SECRET).update(`${ts}.${req!.body}`).digest('hex');
    expect(req!.headers['x-arca-signature']).toBe(expected);
    expect(verifyWebhookSignature({ secret: SECRET, body: req!.body, timestamp: ts, signature: req!.headers['x-arca-signature'] as string })).toBe(true);
    expect(verifyWebhookSignature({ secret: SECRET, body: req!.body.replace('bad', 'bat'), timestamp: ts, signature: expected })).toBe(false);
    expect(verifyWebhookSignature({ secret: 'another-secret-123', body: req!.body, timestamp: ts, signature: expected })).toBe(false);
    expect(verifyWebhookSignature({ secret: SECRET, body: req!.body, timestamp: ts, signature: expected, now: new Date(Number(ts) * 1000 + 600_000) })).toBe(false);
    const payload = req!.json as WebhookPayload;
    expect(payload).toMatchObject({ version: 1, event: 'run:done', kind: 'failure', job: 'bad', title: 'Backup failed: bad', data: { runId: run.runId, status: 'failed', trigger: { actor: 'alice' } } });
    expect(payload.text).toContain('SOURCE_FAILED');
  });

  it('a failed verification (a copy that no longer matches its manifest) is sent as verify-failed; a passing one is not', async () => {
    const rx = await startReceiver();
    const dir = await tempDir();
    const arca = createArca({
      destinations: { local: localDir({ path: path.join(dir, 'a') }) },
      jobs: { good: { sources: { data: syntheticSource(4096) }, destinations: ['local'] } },
      notifiers: [webhook({ url: rx.url('/v') })],
    });
    const run = await arca.run('good');
    expect((await arca.verify('good', run.backupId)).ok).toBe(true);
    const file = path.join(dir, 'a', 'good', run.backupId, run.artifacts[0]!.file);
    const bytes = await fs.readFile(file);
    bytes[100] = bytes[100]! ^ 0xff;
    await fs.writeFile(file, bytes);
    expect((await arca.verify('good', run.backupId, { actor: 'cron' })).ok).toBe(false);
    const [req] = await rx.waitFor(1);
    expect(rx.received).toHaveLength(1);
    const payload = req!.json as WebhookPayload;
    expect(payload).toMatchObject({ event: 'audit', kind: 'verify-failed', job: 'good', title: 'Backup verification failed: good', data: { action: 'verify', ok: false, actor: 'cron', backupId: run.backupId } });
    expect(payload.text).toMatch(/corrupt/);
  });

  it('on: ["success"] sends successes only; no secret means no signature headers', async () => {
    const rx = await startReceiver();
    const dir = await tempDir();
    const arca = createArca({
      destinations: { local: localDir({ path: path.join(dir, 'a') }) },
      jobs: { good: { sources: { data: syntheticSource(100) }, destinations: ['local'] } },
      notifiers: [webhook({ url: rx.url('/s'), on: ['success'] })],
    });
    await arca.run('good');
    const [req] = await rx.waitFor(1);
    expect((req!.json as WebhookPayload).kind).toBe('success');
    expect(req!.headers['x-arca-signature']).toBeUndefined();
  });

  it('a dead, failing or hanging endpoint never fails the run; the error event names the origin, never the URL token', async () => {
    const token = 'T0KEN-in-the-path-5f1e9a';
    const failing = await startReceiver(() => ({ status: 500, body: 'internal error' }));
    const hanging = await startReceiver(() => 'hang');
    const port = await deadPort();
    const dir = await tempDir();
    const arca = createArca({
      destinations: { local: localDir({ path: path.join(dir, 'a') }) },
      jobs: { good: { sources: { data: syntheticSource(100) }, destinations: ['local'] } },
      notifiers: [
        webhook({ name: 'dead', url: `http://127.0.0.1:${port}/hook/${token}`, on: ['success'] }),
        webhook({ name: 'failing', url: failing.url(`/hook/${token}`), on: ['success'] }),
        webhook({ name: 'hanging', url: hanging.url(`/hook/${token}`), on: ['success'], timeoutMs: 300 }),
      ],
    });
    const errors: Array<ArcaEvents['error']> = [];
    arca.on('error', (e) => errors.push(e));
    const run = await arca.run('good');
    expect(run.status).toBe('completed');
    const byContext = Object.fromEntries(errors.map((e) => [e.context, e.error]));
    expect(byContext['notifier dead']).toMatchObject({ code: 'NOTIFIER_FAILED', message: `Webhook notifier dead: cannot reach http://127.0.0.1:${port} (ECONNREFUSED). Check the URL and the network.` });
    expect(byContext['notifier failing']).toMatchObject({ code: 'NOTIFIER_FAILED', message: expect.stringContaining('answered HTTP 500 (internal error)') });
    expect(byContext['notifier hanging']).toMatchObject({ code: 'NOTIFIER_FAILED', message: expect.stringContaining('did not answer within 300 ms') });
    expect(JSON.stringify(errors)).not.toContain(token);
    expect(JSON.stringify(await arca.history())).not.toContain(token);
  });

  it('options are validated; secrets given to it are redacted everywhere', () => {
    expect(() => webhook({ url: 'ftp://example.com/x' })).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
    expect(() => webhook({ url: 'http://127.0.0.1/x', secret: 'short' })).toThrow(/at least 8 characters/);
    expect(() => webhook({ url: 'http://127.0.0.1/x', on: ['sometimes' as never] })).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
    webhook({ url: 'http://127.0.0.1/x', headers: { authorization: 'Bearer sms-gateway-key-777' } });
    expect(signWebhook('k'.repeat(8), 1, 'body')).toMatch(/^sha256=[0-9a-f]{64}$/);
    expect(redact('gateway said: key sms-gateway-key-777 rejected')).toBe('gateway said: key *** rejected');
    expect(redact(`posting to ${'http://127.0.0.1/x'} failed`)).not.toContain('127.0.0.1/x');
  });
});
