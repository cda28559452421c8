import { S3Client } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { ArcaError, redact } from '@arca/core';
import { basePartSize, capacity, MAX_BUFFERED_PART, PARTS_PER_TIER, partSizeFor, s3, s3ErrorToArca, S3_LIMITS } from '@arca/dest-s3';

const MiB = 1 << 20;
const TiB = 1024 * 1024 * MiB;

function configError(fn: () => unknown): ArcaError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ArcaError);
    return e as ArcaError;
  }
  throw new Error('expected CONFIG_INVALID');
}

describe('part size schedule', () => {
  it('fits S3’s 5 TiB object limit in 10 000 parts from the smallest allowed part size', () => {
    for (const base of [5 * MiB, 8 * MiB, 64 * MiB]) expect(capacity(base)).toBeGreaterThanOrEqual(S3_LIMITS.maxObjectSize);
    expect(capacity(8 * MiB)).toBeGreaterThan(14 * TiB - 0.1 * TiB);
  });

  it('doubles every PARTS_PER_TIER parts and never exceeds the largest buffer or S3’s part limit', () => {
    expect(partSizeFor(1, 8 * MiB)).toBe(8 * MiB);
    expect(partSizeFor(PARTS_PER_TIER, 8 * MiB)).toBe(8 * MiB);
    expect(partSizeFor(PARTS_PER_TIER + 1, 8 * MiB)).toBe(16 * MiB);
    expect(partSizeFor(10_000, 8 * MiB)).toBe(MAX_BUFFERED_PART);
    expect(MAX_BUFFERED_PART).toBeLessThanOrEqual(S3_LIMITS.maxPartSize);
  });

  it('raises the first part size when the expected size is known, so memory stays flat', () => {
    expect(basePartSize(8 * MiB)).toBe(8 * MiB);
    expect(basePartSize(8 * MiB, 1024 * MiB)).toBe(8 * MiB);
    const big = 100 * 1024 * MiB; // 100 GiB: one tier of 128 MiB parts
    expect(basePartSize(8 * MiB, big) * PARTS_PER_TIER).toBeGreaterThanOrEqual(big);
    expect(basePartSize(8 * MiB, big) % MiB).toBe(0);
  });
});

describe('options', () => {
  it('rejects invalid options with CONFIG_INVALID naming the field, never echoing values', () => {
    const e1 = configError(() => s3({ bucket: 'b', kmsKeyId: 'arn:aws:kms:key' }));
    expect(e1.code).toBe('CONFIG_INVALID');
    expect(e1.message).toMatch(/kmsKeyId/);
    const e2 = configError(() => s3({ bucket: 'b', partSize: 1024 }));
    expect(e2.message).toMatch(/partSize/);
    const e3 = configError(() => s3({ bucket: 'b', client: new S3Client({ region: 'us-east-1' }), credentials: { accessKeyId: 'AKIA', secretAccessKey: 'topsecretvalue1' } }));
    expect(e3.message).toMatch(/client/);
    expect(e3.message).not.toContain('topsecretvalue1');
    const e4 = configError(() => s3({ bucket: 'b', bucketName: 'typo' } as never));
    expect(e4.message).toMatch(/bucketName|Unrecognized/);
  });

  it('describe() names the setup without credentials; the secret is registered for redaction', () => {
    const secret = 'Zx9+secret/AccessKeyForArcaTests';
    const d = s3({ bucket: 'backups', prefix: '/fixit/', region: 'eu-south-1', endpoint: 'https://user:pw@minio.example:9000/', forcePathStyle: true, credentials: { accessKeyId: 'AKIAEXAMPLE', secretAccessKey: secret } });
    const text = JSON.stringify(d.describe());
    expect(text).not.toContain(secret);
    expect(text).not.toContain('pw@');
    expect(d.describe()).toMatchObject({ kind: 's3', bucket: 'backups', prefix: 'fixit', endpoint: 'https://minio.example:9000', partSize: 8 * MiB, queueSize: 4 });
    expect(redact(`signing with ${secret}`)).not.toContain(secret);
    d.close();
  });
});

describe('error mapping', () => {
  const ctx = { where: 'S3 s3://b/k', bucket: 'b' };
  const sdkError = (name: string, status?: number) => Object.assign(new Error(`${name} happened`), { name, $metadata: { httpStatusCode: status } });

  it.each([
    [Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' }), 'DEST_UNREACHABLE'],
    [Object.assign(new Error('getaddrinfo ENOTFOUND nope.invalid'), { code: 'ENOTFOUND' }), 'DEST_UNREACHABLE'],
    [sdkError('TimeoutError'), 'DEST_UNREACHABLE'],
    [sdkError('NoSuchKey', 404), 'NOT_FOUND'],
    [sdkError('NotFound', 404), 'NOT_FOUND'],
    [sdkError('NoSuchBucket', 404), 'DEST_UNREACHABLE'],
    [sdkError('AccessDenied', 403), 'DEST_PERMISSION'],
    [sdkError('InvalidAccessKeyId', 403), 'DEST_PERMISSION'],
    [sdkError('SignatureDoesNotMatch', 403), 'DEST_PERMISSION'],
    [sdkError('ExpiredToken', 400), 'DEST_PERMISSION'],
    [sdkError('QuotaExceeded', 403), 'DEST_FULL'],
    [sdkError('XMinioStorageFull', 507), 'DEST_FULL'],
    [sdkError('SlowDown', 503), 'DEST_UNREACHABLE'],
    [sdkError('PermanentRedirect', 301), 'DEST_UNREACHABLE'],
    [sdkError('AbortError'), 'ABORTED'],
    [new Error('Region is missing'), 'CONFIG_INVALID'],
  ])('%s → %s', (err, code) => {
    const e = s3ErrorToArca(err, ctx);
    expect(e.code).toBe(code);
    expect(e.message.startsWith('S3 s3://b/k')).toBe(true);
  });

  it('tells the user to create a missing bucket and to fix the region on a redirect', () => {
    expect(s3ErrorToArca(sdkError('NoSuchBucket', 404), ctx).message).toMatch(/Create it/);
    expect(s3ErrorToArca(sdkError('PermanentRedirect', 301), ctx).message).toMatch(/region/);
  });
});
