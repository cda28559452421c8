import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import {
  DeleteObjectCommand,
  GetBucketVersioningCommand,
  GetObjectCommand,
  GetObjectLockConfigurationCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type ListObjectsV2CommandOutput,
} from '@aws-sdk/client-s3';
import {
  ArcaError,
  ErrorCodes,
  abortError,
  assertValidKey,
  assertValidPrefix,
  parseOptions,
  throwIfAborted,
  type CheckReport,
  type Destination,
  type ObjectInfo,
} from '@arca/core';
import { createClient, deleteObjectsCommand } from './s3-client.js';
import { httpStatus, isNotFound, s3ErrorName, s3ErrorToArca } from './s3-errors.js';
import { basePartSize, normalisePrefix, S3_LIMITS, S3Options } from './s3-options.js';
import { uploadStream, type ObjectParams } from './multipart-upload.js';

const PROBE_MARK = '.arca-probe-';
const DEFAULT_PART_SIZE = 8 * 1024 * 1024;
const DEFAULT_QUEUE_SIZE = 4;

/** An S3 destination with its test hooks (not part of the Destination contract). */
export interface S3Destination extends Destination {
  /** The S3Client in use (the injected one or the one built from the options). */
  readonly client: import('@aws-sdk/client-s3').S3Client;
  /** Release the sockets of a client Arca created (no-op for an injected client). */
  close(): void;
  /** Bucket reachable, credentials valid, write/delete probed, versioning and Object Lock reported. Never throws for an unhealthy bucket. */
  check(o?: { signal?: AbortSignal }): Promise<CheckReport>;
}

/**
 * An S3 (or S3-compatible) bucket: AWS S3, MinIO, Cloudflare R2, Backblaze B2, DigitalOcean
 * Spaces, Google Cloud Storage (XML API with HMAC keys), Wasabi, Ceph RGW.
 *
 * - `put` streams with a multipart upload (part size growing from `partSize`, `queueSize`
 *   parts in flight, Content-MD5 on each part); the object is visible only once complete;
 *   any failure or abort sends AbortMultipartUpload. The stored size is checked after every put.
 * - `list` paginates ListObjectsV2; `delete` uses DeleteObjects in batches of 1000 and
 *   reports every key that could not be deleted; `get` streams; `stat` is HeadObject.
 * - Errors: `NOT_FOUND`, `DEST_PERMISSION` (403, bad or missing credentials),
 *   `DEST_UNREACHABLE` (network, missing bucket, 5xx after retries), `DEST_FULL` (quota),
 *   `CHECKSUM_MISMATCH` (the server stored other bytes), `ABORTED`, `KEY_INVALID`.
 * - The secret key and session token are registered with `registerSecret` and never appear
 *   in `describe()`, messages or events.
 */
export function s3(options: S3Options): S3Destination {
  const opts = parseOptions(S3Options, options, 's3');
  const { client, created } = createClient(opts);
  const bucket = opts.bucket;
  const root = normalisePrefix(opts.prefix);
  if (root) assertValidPrefix(root);
  const rootPrefix = root ? `${root}/` : '';
  const contentMd5 = opts.contentMd5 ?? true;
  const verifyEtag = opts.verifyEtag ?? opts.serverSideEncryption !== 'aws:kms';
  // Bodies are not SHA-256-hashed for the signature when they are protected otherwise: by the
  // signed Content-MD5 header, or by TLS (AWS's default endpoint, or an https:// one).
  const unsignedPayload = contentMd5 || (!opts.client && (opts.endpoint === undefined || opts.endpoint.startsWith('https:')));
  const partSize = opts.partSize ?? DEFAULT_PART_SIZE;
  const queueSize = opts.queueSize ?? DEFAULT_QUEUE_SIZE;
  const name = opts.name ?? 's3';
  let batchDelete = opts.batchDelete ?? true;
  const endpoint = opts.endpoint ? safeEndpoint(opts.endpoint) : undefined;

  const full = (key: string) => rootPrefix + key;
  const where = (key?: string) => `S3 s3://${bucket}/${key === undefined ? rootPrefix : full(key)}`;
  const fail = (e: unknown, key: string | undefined, signal?: AbortSignal) =>
    s3ErrorToArca(e, { where: where(key), bucket, signal, details: { destination: name, ...(key !== undefined ? { key } : {}) } });
  const send = <T>(cmd: object, signal?: AbortSignal): Promise<T> => client.send(cmd as never, signal ? { abortSignal: signal } : {}) as Promise<T>;

  const baseParams = (): ObjectParams => ({
    ...(opts.storageClass ? { StorageClass: opts.storageClass as ObjectParams['StorageClass'] } : {}),
    ...(opts.serverSideEncryption ? { ServerSideEncryption: opts.serverSideEncryption } : {}),
    ...(opts.kmsKeyId ? { SSEKMSKeyId: opts.kmsKeyId } : {}),
  });

  const isHidden = (key: string) => key.endsWith('/') || key.slice(key.lastIndexOf('/') + 1).startsWith(PROBE_MARK);

  return {
    name,
    kind: 's3',
    client,
    close: () => {
      if (created) client.destroy();
    },
    describe: () => ({
      kind: 's3',
      bucket,
      prefix: root,
      ...(opts.region ? { region: opts.region } : {}),
      ...(endpoint ? { endpoint } : {}),
      ...(opts.forcePathStyle !== undefined ? { forcePathStyle: opts.forcePathStyle } : {}),
      ...(opts.storageClass ? { storageClass: opts.storageClass } : {}),
      ...(opts.serverSideEncryption ? { serverSideEncryption: opts.serverSideEncryption } : {}),
      ...(opts.objectLock ? { objectLock: opts.objectLock } : {}),
      partSize,
      queueSize,
      credentials: opts.client ? 'injected client' : opts.credentials ? 'static (redacted)' : 'AWS SDK default chain',
    }),

    async put(key, data, o = {}) {
      assertValidKey(key);
      throwIfAborted(o.signal, `Writing ${key}`);
      const params: ObjectParams = {
        ...baseParams(),
        ...(o.contentType ? { ContentType: o.contentType } : {}),
        ...(opts.objectLock ? { ObjectLockMode: opts.objectLock.mode, ObjectLockRetainUntilDate: new Date(Date.now() + opts.objectLock.days * 86_400_000) } : {}),
      };
      const r = await uploadStream(data, {
        client,
        bucket,
        key: full(key),
        params,
        basePartSize: basePartSize(partSize, o.expectedBytes),
        queueSize,
        contentMd5,
        unsignedPayload,
        verifyEtag,
        signal: o.signal,
        where: where(key),
      });
      return { key, bytes: r.bytes };
    },

    async get(key, o = {}) {
      assertValidKey(key);
      throwIfAborted(o.signal);
      let body: Readable;
      let expected: number | undefined;
      try {
        const r = await send<{ Body?: unknown; ContentLength?: number }>(new GetObjectCommand({ Bucket: bucket, Key: full(key) }), o.signal);
        body = r.Body as Readable;
        expected = r.ContentLength;
      } catch (e) {
        throw fail(e, key, o.signal);
      }
      return (async function* read() {
        let n = 0;
        try {
          for await (const chunk of body as AsyncIterable<Uint8Array>) {
            if (o.signal?.aborted) throw abortError(o.signal, `Reading ${key}`);
            n += chunk.byteLength;
            yield chunk;
          }
        } catch (e) {
          throw fail(e, key, o.signal);
        } finally {
          body.destroy?.();
        }
        if (expected !== undefined && n !== expected) {
          throw new ArcaError(ErrorCodes.DEST_UNREACHABLE, `${where(key)}: the download ended after ${n} of ${expected} bytes. Run again.`, { details: { key } });
        }
      })();
    },

    async stat(key, o = {}) {
      assertValidKey(key);
      throwIfAborted(o.signal);
      try {
        const r = await send<{ ContentLength?: number; LastModified?: Date }>(new HeadObjectCommand({ Bucket: bucket, Key: full(key) }), o.signal);
        return { key, size: r.ContentLength ?? 0, ...(r.LastModified ? { modifiedAt: r.LastModified } : {}) };
      } catch (e) {
        if (isNotFound(e) && !o.signal?.aborted) return undefined;
        throw fail(e, key, o.signal);
      }
    },

    list(prefix, o = {}): AsyncIterable<ObjectInfo> {
      assertValidPrefix(prefix);
      return (async function* listAll(): AsyncGenerator<ObjectInfo> {
        let token: string | undefined;
        do {
          throwIfAborted(o.signal);
          let page: ListObjectsV2CommandOutput;
          try {
            page = await send(new ListObjectsV2Command({ Bucket: bucket, Prefix: rootPrefix + prefix, ...(token ? { ContinuationToken: token } : {}) }), o.signal);
          } catch (e) {
            throw fail(e, prefix || undefined, o.signal);
          }
          for (const obj of page.Contents ?? []) {
            if (!obj.Key || !obj.Key.startsWith(rootPrefix)) continue;
            const key = obj.Key.slice(rootPrefix.length);
            if (!key || isHidden(key)) continue;
            yield { key, size: obj.Size ?? 0, ...(obj.LastModified ? { modifiedAt: obj.LastModified } : {}) };
          }
          token = page.IsTruncated ? page.NextContinuationToken : undefined;
          if (page.IsTruncated && !token) {
            throw new ArcaError(ErrorCodes.DEST_UNREACHABLE, `${where(prefix)}: the server said the listing is truncated but gave no continuation token.`);
          }
        } while (token);
      })();
    },

    async delete(keys, o = {}) {
      for (const key of keys) assertValidKey(key);
      const failed: Array<{ key: string; code: string; message: string }> = [];
      const unique = [...new Set(keys)];
      /** DeleteObject one key (missing keys are fine); what fails is recorded in `failed`. */
      const deleteOne = async (fullKey: string, code?: string, message?: string) => {
        try {
          await send(new DeleteObjectCommand({ Bucket: bucket, Key: fullKey }), o.signal);
        } catch (e) {
          if (isNotFound(e) && s3ErrorName(e) !== 'NoSuchBucket') return;
          if (o.signal?.aborted || s3ErrorName(e) === 'NoSuchBucket') throw fail(e, fullKey.slice(rootPrefix.length), o.signal);
          failed.push({ key: fullKey.slice(rootPrefix.length), code: code ?? s3ErrorName(e), message: (message ?? String((e as Error).message ?? '')).slice(0, 200) });
        }
      };
      if (!batchDelete) {
        // One by one, a few at a time (servers without DeleteObjects).
        const queue = unique.map(full);
        await Promise.all(Array.from({ length: Math.min(8, queue.length) }, async () => {
          for (let k = queue.shift(); k !== undefined; k = queue.shift()) {
            throwIfAborted(o.signal);
            await deleteOne(k);
          }
        }));
      }
      for (let i = 0; batchDelete && i < unique.length; i += S3_LIMITS.maxDeleteBatch) {
        throwIfAborted(o.signal);
        const batch = unique.slice(i, i + S3_LIMITS.maxDeleteBatch);
        let errors: Array<{ Key?: string; Code?: string; Message?: string }>;
        try {
          const r = await send<{ Errors?: Array<{ Key?: string; Code?: string; Message?: string }> }>(
            deleteObjectsCommand({ Bucket: bucket, Delete: { Objects: batch.map((k) => ({ Key: full(k) })), Quiet: true } }, contentMd5),
            o.signal,
          );
          errors = (r.Errors ?? []).filter((x) => x.Code !== 'NoSuchKey');
        } catch (e) {
          if (!o.signal?.aborted && (s3ErrorName(e) === 'NotImplemented' || httpStatus(e) === 501)) {
            batchDelete = false; // remember for this destination: the server has no DeleteObjects
            for (const k of unique.slice(i)) await deleteOne(full(k));
            break;
          }
          throw fail(e, batch[0], o.signal);
        }
        // Retry keys the batch could not delete one by one (servers can fail a key of a
        // batch on a transient conflict); what still fails is reported key by key.
        for (const err of errors) if (err.Key) await deleteOne(err.Key, err.Code, err.Message);
      }
      if (failed.length) {
        const perm = failed.some((f) => /AccessDenied|Forbidden|InvalidObjectState/.test(f.code));
        throw new ArcaError(
          perm ? ErrorCodes.DEST_PERMISSION : ErrorCodes.DEST_UNREACHABLE,
          `${where()}: ${failed.length} of ${unique.length} object(s) could not be deleted (${failed
            .slice(0, 5)
            .map((f) => `${f.key}: ${f.code}`)
            .join('; ')}${failed.length > 5 ? '; …' : ''}). ${perm ? 'Allow s3:DeleteObject for these keys, or wait for their Object Lock retention to end.' : 'Run the delete again.'}`,
          { details: { destination: name, failed } },
        );
      }
    },

    async check(o = {}): Promise<CheckReport> {
      const problems: string[] = [];
      const facts: Record<string, unknown> = { bucket, prefix: root, ...(endpoint ? { endpoint } : {}) };
      const attempt = async <T>(what: string, fn: () => Promise<T>): Promise<T | undefined> => {
        try {
          return await fn();
        } catch (e) {
          if (o.signal?.aborted) throw abortError(o.signal, 'Checking S3');
          problems.push(`${what}: ${fail(e, undefined, o.signal).message}`);
          return undefined;
        }
      };
      facts.reachable = (await attempt('Bucket', () => send(new HeadBucketCommand({ Bucket: bucket }), o.signal))) !== undefined;
      if (!facts.reachable) return { ok: false, problems, facts };

      const probe = `${rootPrefix}${PROBE_MARK}${randomBytes(6).toString('hex')}`;
      facts.writable =
        (await attempt('Write probe', () => send(new PutObjectCommand({ Bucket: bucket, Key: probe, Body: 'arca', ...baseParams() }), o.signal))) !== undefined;
      if (facts.writable) {
        facts.deletable = (await attempt('Delete probe (prune and retention need s3:DeleteObject)', () => send(new DeleteObjectCommand({ Bucket: bucket, Key: probe }), o.signal))) !== undefined;
      }
      facts.listable = (await attempt('List', () => send(new ListObjectsV2Command({ Bucket: bucket, Prefix: rootPrefix, MaxKeys: 1 }), o.signal))) !== undefined;

      try {
        const v = await send<{ Status?: string }>(new GetBucketVersioningCommand({ Bucket: bucket }), o.signal);
        facts.versioning = v.Status ?? 'Disabled';
      } catch {
        facts.versioning = 'unknown';
      }
      try {
        const l = await send<{ ObjectLockConfiguration?: { ObjectLockEnabled?: string; Rule?: unknown } }>(new GetObjectLockConfigurationCommand({ Bucket: bucket }), o.signal);
        facts.objectLock = l.ObjectLockConfiguration?.ObjectLockEnabled ?? 'Disabled';
        if (l.ObjectLockConfiguration?.Rule) facts.objectLockDefaultRule = l.ObjectLockConfiguration.Rule;
      } catch (e) {
        facts.objectLock = s3ErrorName(e) === 'ObjectLockConfigurationNotFoundError' ? 'Disabled' : 'unknown';
      }
      if (opts.objectLock && facts.objectLock === 'Disabled') {
        problems.push(`Object Lock is not enabled on bucket "${bucket}" but the destination asks for ${opts.objectLock.mode} retention: create the bucket with Object Lock enabled, or drop the objectLock option.`);
      }
      return { ok: problems.length === 0, problems, facts };
    },
  };
}

/** The endpoint without user info or query (never show credentials embedded in a URL). */
function safeEndpoint(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname === '/' ? '' : u.pathname}`;
  } catch {
    return '(invalid URL)';
  }
}
