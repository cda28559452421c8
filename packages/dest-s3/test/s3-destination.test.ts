import { createHash } from 'node:crypto';
import { ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ArcaError } from '@arca/core';
import { collect, describeWithService, generatedStream } from '@arca/core/test-kit';
import { s3, type S3Destination } from '@arca/dest-s3';
import { CREDS, fakeClient, isUploadPart, probeS3rver, recordCommands, startFaultProxy, startS3rver, type FaultProxy, type S3rverHandle } from './s3-harness.js';

const MiB = 1 << 20;
const BUCKET = 'arca-dest';

async function* bytes(...parts: string[]): AsyncIterable<Uint8Array> {
  for (const p of parts) yield Buffer.from(p);
}

async function* failingAfter(n: number, error: Error): AsyncIterable<Uint8Array> {
  for (let i = 0; i < n; i++) yield Buffer.alloc(MiB, i);
  throw error;
}

async function rejection(p: Promise<unknown>): Promise<ArcaError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(ArcaError);
  return e as ArcaError;
}

async function keys(d: S3Destination, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for await (const o of d.list(prefix)) out.push(o.key);
  return out.sort();
}

await describeWithService('s3 destination behaviour on s3rver', probeS3rver, () => {
  let server: S3rverHandle;
  let proxy: FaultProxy;
  const open: S3Destination[] = [];
  const dest = (o: Partial<Parameters<typeof s3>[0]> = {}) => {
    const d = s3({ bucket: BUCKET, endpoint: server.endpoint, forcePathStyle: true, credentials: CREDS, ...o });
    open.push(d);
    return d;
  };
  /** A destination whose client goes through the fault proxy and records its commands. */
  const proxied = (o: { maxAttempts?: number; prefix?: string; partSize?: number; queueSize?: number; contentMd5?: boolean } = {}) => {
    const client = fakeClient(proxy.endpoint, { maxAttempts: o.maxAttempts ?? 3 });
    const commands = recordCommands(client);
    const d = s3({ bucket: BUCKET, client, prefix: o.prefix ?? 'proxied', partSize: o.partSize ?? 5 * MiB, queueSize: o.queueSize ?? 2, ...(o.contentMd5 !== undefined && { contentMd5: o.contentMd5 }) });
    open.push(d);
    return { d, commands, client };
  };

  beforeAll(async () => {
    server = await startS3rver([BUCKET]);
    proxy = await startFaultProxy(server.endpoint);
  });
  afterAll(async () => {
    for (const d of open) d.close();
    await proxy?.close();
    await server?.stop();
  });

  it('keeps every key under its prefix and lists keys relative to it ("pre" never sees "pre2")', async () => {
    const a = dest({ prefix: 'pre' });
    const b = dest({ prefix: 'pre2/' });
    await a.put('job/x.bin', bytes('a'));
    await b.put('job/y.bin', bytes('b'));
    expect(await keys(a)).toEqual(['job/x.bin']);
    expect(await keys(b)).toEqual(['job/y.bin']);
    const raw = await a.client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'pre' }));
    expect(raw.Contents!.map((c) => c.Key).sort()).toEqual(['pre/job/x.bin', 'pre2/job/y.bin']);
    expect(a.describe()).toMatchObject({ kind: 's3', bucket: BUCKET, prefix: 'pre' });
    expect(await a.stat('job/y.bin')).toBeUndefined();
  });

  it('uploads a 21 MiB stream as 5 parts (5 MiB each) and reads it back intact', async () => {
    const { d, commands } = proxied({ prefix: 'mp' });
    const data = generatedStream(21 * MiB, { seed: 7 });
    const r = await d.put('big.bin', data);
    expect(r.bytes).toBe(21 * MiB);
    expect(commands.filter((c) => c === 'UploadPartCommand')).toHaveLength(5);
    expect(commands).toContain('CompleteMultipartUploadCommand');
    expect(commands).not.toContain('AbortMultipartUploadCommand');
    const parts = proxy.requests.filter(isUploadPart).slice(-5);
    // Every part carries a Content-MD5 the server can verify.
    for (const p of parts) expect(p.headers['content-md5']).toBe(createHash('md5').update(p.body).digest('base64'));
    // ...so the SDK does not also SHA-256 every part for the signature (CPU on the event loop).
    for (const p of parts) expect(p.headers['x-amz-content-sha256']).toBe('UNSIGNED-PAYLOAD');
    const h = createHash('sha256');
    for await (const c of await d.get('big.bin')) h.update(c);
    expect(h.digest('hex')).toBe(data.sha256());
  });

  it('signs the payload hash when neither Content-MD5 nor TLS protects the body', async () => {
    const { d } = proxied({ prefix: 'signed', contentMd5: false });
    await d.put('s.bin', bytes('signed ', 'payload'));
    const put = proxy.requests.filter((r) => r.method === 'PUT' && r.url.pathname.endsWith('/signed/s.bin')).pop()!;
    expect(put.headers['content-md5']).toBeUndefined();
    expect(put.headers['x-amz-content-sha256']).toBe(createHash('sha256').update('signed payload').digest('hex'));
  });

  it('aborts the multipart upload when the data fails mid-way: same error, nothing visible', async () => {
    const { d, commands } = proxied({ prefix: 'fail-data' });
    const boom = new Error('dump exploded');
    await expect(d.put('x.bin', failingAfter(12, boom))).rejects.toBe(boom);
    expect(commands.filter((c) => c === 'UploadPartCommand').length).toBeGreaterThanOrEqual(2);
    expect(commands).toContain('AbortMultipartUploadCommand');
    expect(commands).not.toContain('CompleteMultipartUploadCommand');
    expect(await d.stat('x.bin')).toBeUndefined();
  });

  it('aborts the multipart upload on an AbortSignal mid-way: ABORTED, nothing visible', async () => {
    const { d, commands } = proxied({ prefix: 'fail-abort' });
    const ac = new AbortController();
    const data = generatedStream(64 * MiB, { onChunk: (sent) => void (sent >= 13 * MiB && ac.abort()) });
    const e = await rejection(d.put('x.bin', data, { signal: ac.signal }));
    expect(e.code).toBe('ABORTED');
    expect(commands).toContain('UploadPartCommand');
    expect(commands).toContain('AbortMultipartUploadCommand');
    expect(e.details.abortedUploadId).toBeTruthy();
    expect(await d.stat('x.bin')).toBeUndefined();
  });

  it('retries parts the server fails with 500 and completes', async () => {
    const { d } = proxied({ prefix: 'retry', maxAttempts: 3 });
    const failedOnce = new Set<string>();
    let injected = 0;
    proxy.decide = (r) => {
      const id = `${r.url.searchParams.get('uploadId')}#${r.url.searchParams.get('partNumber')}`;
      if (isUploadPart(r) && !failedOnce.has(id)) {
        failedOnce.add(id);
        injected++;
        return { status: 500, code: 'InternalError' };
      }
      return { forward: true };
    };
    try {
      const data = generatedStream(11 * MiB, { seed: 3 });
      expect((await d.put('r.bin', data)).bytes).toBe(11 * MiB);
      expect(injected).toBe(3);
      const h = createHash('sha256');
      for await (const c of await d.get('r.bin')) h.update(c);
      expect(h.digest('hex')).toBe(data.sha256());
    } finally {
      proxy.decide = () => ({ forward: true });
    }
  });

  it('gives up on a part that keeps failing: DEST_UNREACHABLE, AbortMultipartUpload sent, nothing visible', async () => {
    const { d, commands } = proxied({ prefix: 'perm', maxAttempts: 2 });
    proxy.decide = (r) => (isUploadPart(r) && r.url.searchParams.get('partNumber') === '2' ? { status: 503, code: 'ServiceUnavailable' } : { forward: true });
    try {
      const e = await rejection(d.put('p.bin', generatedStream(16 * MiB)));
      expect(e.code).toBe('DEST_UNREACHABLE');
      expect(e.message).toMatch(/503/);
      expect(commands).toContain('AbortMultipartUploadCommand');
    } finally {
      proxy.decide = () => ({ forward: true });
    }
    expect(await d.stat('p.bin')).toBeUndefined();
  });

  it('detects a part the server stored with other bytes (ETag ≠ MD5): CHECKSUM_MISMATCH, upload aborted', async () => {
    const { d, commands } = proxied({ prefix: 'corrupt' });
    proxy.decide = (r) => {
      if (!isUploadPart(r) || r.url.searchParams.get('partNumber') !== '1') return { forward: true };
      const body = Buffer.from(r.body);
      body[100] = body[100]! ^ 0xff;
      return { forward: true, body };
    };
    try {
      // contentMd5 is on, but s3rver does not check Content-MD5: the ETag comparison catches it.
      const e = await rejection(d.put('c.bin', generatedStream(11 * MiB)));
      expect(e.code).toBe('CHECKSUM_MISMATCH');
      expect(commands).toContain('AbortMultipartUploadCommand');
    } finally {
      proxy.decide = () => ({ forward: true });
    }
    expect(await d.stat('c.bin')).toBeUndefined();
  });

  it('removes a small object the server stored longer than sent (the chunked-checksum quirk): CHECKSUM_MISMATCH', async () => {
    const { d } = proxied({ prefix: 'quirk' });
    proxy.decide = (r) => (r.method === 'PUT' && !isUploadPart(r) ? { forward: true, body: Buffer.concat([r.body, Buffer.from('\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n')]) } : { forward: true });
    try {
      const e = await rejection(d.put('q.txt', bytes('hello')));
      expect(e.code).toBe('CHECKSUM_MISMATCH');
    } finally {
      proxy.decide = () => ({ forward: true });
    }
    expect(await d.stat('q.txt')).toBeUndefined();
  });

  it('maps server answers to stable codes', async () => {
    const { d } = proxied({ prefix: 'codes', maxAttempts: 1 });
    const cases: Array<[number, string, string]> = [
      [403, 'AccessDenied', 'DEST_PERMISSION'],
      [403, 'SignatureDoesNotMatch', 'DEST_PERMISSION'],
      [507, 'XMinioStorageFull', 'DEST_FULL'],
      [403, 'QuotaExceeded', 'DEST_FULL'],
      [500, 'InternalError', 'DEST_UNREACHABLE'],
    ];
    try {
      for (const [status, code, expected] of cases) {
        proxy.decide = (r) => (r.method === 'PUT' ? { status, code } : { forward: true });
        const e = await rejection(d.put('m.txt', bytes('x')));
        expect([code, e.code]).toEqual([code, expected]);
        expect(e.details.s3Error).toBe(code);
      }
      proxy.decide = (r) => (r.method === 'GET' ? { status: 403, code: 'AccessDenied' } : { forward: true });
      expect((await rejection(d.get('m.txt'))).code).toBe('DEST_PERMISSION');
    } finally {
      proxy.decide = () => ({ forward: true });
    }
    expect((await rejection(d.get('never-written'))).code).toBe('NOT_FOUND');
  });

  it('reports a missing bucket as DEST_UNREACHABLE telling to create it, and wrong keys as DEST_PERMISSION without leaking the secret', async () => {
    const missing = dest({ bucket: 'no-such-bucket-here' });
    const e1 = await rejection(missing.put('a', bytes('x')));
    expect(e1.code).toBe('DEST_UNREACHABLE');
    expect(e1.message).toMatch(/does not exist.*Create it/);
    const r = await missing.check();
    expect(r.ok).toBe(false);
    expect(r.problems.join('\n')).toMatch(/Create it|not found/);

    const secret = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYSECRETKEY';
    const wrong = dest({ credentials: { accessKeyId: 'AKIAWRONGWRONG', secretAccessKey: secret } });
    const e2 = await rejection(wrong.put('a', bytes('x')));
    expect(e2.code).toBe('DEST_PERMISSION');
    expect(e2.details.s3Error).toBe('InvalidAccessKeyId');
    const everything = JSON.stringify([e2, e2.message, wrong.describe(), await wrong.check()]);
    expect(everything).not.toContain(secret);
    expect(JSON.stringify(wrong.describe())).toContain('static (redacted)');
  });

  it('reports an unreachable endpoint as DEST_UNREACHABLE', async () => {
    const dead = s3({ bucket: BUCKET, endpoint: 'http://127.0.0.1:9', forcePathStyle: true, credentials: CREDS, maxAttempts: 1 });
    open.push(dead);
    const e = await rejection(dead.put('a', bytes('x')));
    expect(e.code).toBe('DEST_UNREACHABLE');
    expect(e.message).toMatch(/cannot reach/);
    const r = await dead.check();
    expect(r.ok).toBe(false);
    expect(r.facts.reachable).toBe(false);
  });

  it('deletes in batches of at most 1000 keys, with Content-MD5, and reports keys it could not delete', async () => {
    const { d, commands } = proxied({ prefix: 'batch' });
    const ks = Array.from({ length: 1003 }, (_, i) => `k/${String(i).padStart(4, '0')}`);
    const raw = fakeClient(server.endpoint); // fill with plain PutObjects, without the proxy: faster
    for (let i = 0; i < ks.length; i += 25) await Promise.all(ks.slice(i, i + 25).map((k) => raw.send(new PutObjectCommand({ Bucket: BUCKET, Key: `batch/${k}`, Body: '.' }))));
    raw.destroy();
    const before = proxy.requests.length;
    await d.delete([...ks, 'k/not-there']);
    // s3rver sometimes answers a batch with 500 (its DeleteObjects races on shared prefixes);
    // the SDK retries it, so count the batches that succeeded.
    const deletes = proxy.requests.slice(before).filter((r) => r.method === 'POST' && r.url.searchParams.has('delete') && r.status === 200);
    expect(deletes.map((r) => r.body.toString().split('<Key>').length - 1)).toEqual([1000, 4]);
    for (const r of deletes) expect(r.headers['content-md5']).toBe(createHash('md5').update(r.body).digest('base64'));
    expect(commands.filter((c) => c === 'DeleteObjectsCommand')).toHaveLength(2); // retries are not new commands
    expect(await keys(d)).toEqual([]);

    // One key refused (e.g. under Object Lock): the others go, the refusal is reported per key.
    await d.put('locked', bytes('l'));
    await d.put('free', bytes('f'));
    proxy.decide = (r) => {
      if (r.method === 'POST' && r.url.searchParams.has('delete')) {
        return { status: 200, xml: '<?xml version="1.0" encoding="UTF-8"?><DeleteResult><Error><Key>batch/locked</Key><Code>AccessDenied</Code><Message>Access Denied</Message></Error></DeleteResult>' };
      }
      if (r.method === 'DELETE' && r.url.pathname.endsWith('/batch/locked')) return { status: 403, code: 'AccessDenied' };
      return { forward: true };
    };
    try {
      const e = await rejection(d.delete(['locked']));
      expect(e.code).toBe('DEST_PERMISSION');
      expect(e.details.failed).toEqual([{ key: 'locked', code: 'AccessDenied', message: 'Access Denied' }]);
    } finally {
      proxy.decide = () => ({ forward: true });
    }
    expect(await keys(d)).toEqual(['free', 'locked']);
  });

  it('falls back to one DeleteObject per key when the server has no DeleteObjects (501), e.g. GCS', async () => {
    const { d, commands } = proxied({ prefix: 'nobatch' });
    const ks = ['a', 'b/c', 'd'];
    for (const k of ks) await d.put(k, bytes(k));
    proxy.decide = (r) => (r.method === 'POST' && r.url.searchParams.has('delete') ? { status: 501, code: 'NotImplemented' } : { forward: true });
    try {
      await d.delete([...ks, 'missing']);
      expect(await keys(d)).toEqual([]);
      expect(commands.filter((c) => c === 'DeleteObjectCommand')).toHaveLength(4);
      // Remembered: the next delete goes straight to single deletes.
      await d.put('e', bytes('e'));
      const before = commands.length;
      await d.delete(['e']);
      expect(commands.slice(before)).toEqual(['DeleteObjectCommand']);
    } finally {
      proxy.decide = () => ({ forward: true });
    }
    const configured = s3({ bucket: BUCKET, endpoint: server.endpoint, forcePathStyle: true, credentials: CREDS, prefix: 'nobatch', batchDelete: false });
    open.push(configured);
    await configured.put('f', bytes('f'));
    await configured.delete(['f']);
    expect(await configured.stat('f')).toBeUndefined();
  });

  it('check() probes write and delete, leaves no probe object and reports versioning/object-lock facts', async () => {
    const d = dest({ prefix: 'checked' });
    const r = await d.check();
    expect(r.problems).toEqual([]);
    expect(r.facts).toMatchObject({ bucket: BUCKET, reachable: true, writable: true, deletable: true, listable: true });
    expect(r.facts).toHaveProperty('versioning');
    expect(r.facts).toHaveProperty('objectLock');
    const raw = await d.client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'checked/' }));
    expect(raw.KeyCount ?? 0).toBe(0);
    // Asking for Object Lock on a bucket without it is reported, not thrown.
    const locked = dest({ prefix: 'checked', objectLock: { mode: 'GOVERNANCE', days: 7 } });
    const r2 = await locked.check();
    if (r2.facts.objectLock === 'Disabled') expect(r2.problems.join()).toMatch(/Object Lock is not enabled/);
    else expect(r2.facts.objectLock).toBe('unknown');
  });

  it('get() streams, stops early without leaking, and honours its signal', async () => {
    const d = dest({ prefix: 'get' });
    await d.put('g.bin', generatedStream(3 * MiB));
    let n = 0;
    for await (const c of await d.get('g.bin')) {
      n += c.byteLength;
      break;
    }
    expect(n).toBeGreaterThan(0);
    const ac = new AbortController();
    const it = await d.get('g.bin', { signal: ac.signal });
    ac.abort();
    const e = await rejection(collect(it));
    expect(e.code).toBe('ABORTED');
  });
});
