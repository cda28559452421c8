import { constants as bufferConstants } from 'node:buffer';
import type { S3Client } from '@aws-sdk/client-s3';
import { z } from 'zod';

const MiB = 1024 * 1024;

/** S3's limits (identical on every S3-compatible service we document). */
export const S3_LIMITS = {
  /** Smallest part except the last one. */
  minPartSize: 5 * MiB,
  /** Largest single part. */
  maxPartSize: 5 * 1024 * MiB,
  /** Most parts in one multipart upload. */
  maxParts: 10_000,
  /** Largest object. */
  maxObjectSize: 5 * 1024 * 1024 * MiB,
  /** Most keys in one DeleteObjects request. */
  maxDeleteBatch: 1000,
} as const;

/**
 * Parts are numbered 1..10 000. The part size doubles every `PARTS_PER_TIER` parts, starting
 * at `partSize` (capped at 4 GiB, the largest Node 20 Buffer): with the default 8 MiB the
 * first 800 parts (6.25 GiB) use 8 MiB, the next 800 use 16 MiB, and so on. 10 000 parts then
 * hold more than S3's 5 TiB object limit for any `partSize` ≥ 5 MiB, while
 * memory grows only for streams that really are that big. See the README for the table.
 */
export const PARTS_PER_TIER = 800;

/** Largest part Arca builds: S3's 5 GiB, or less where a Node Buffer cannot be that big (4 GiB on Node 20). */
export const MAX_BUFFERED_PART = Math.min(5 * 1024 * MiB, bufferConstants.MAX_LENGTH);

const Credentials = z.object({
  accessKeyId: z.string().min(1),
  secretAccessKey: z.string().min(1),
  sessionToken: z.string().min(1).optional(),
});

export const S3Options = z
  .object({
    /** Bucket name (it must exist: Arca never creates buckets). */
    bucket: z.string().min(3).max(255),
    /** Key prefix inside the bucket (`'fixit'` → `fixit/<job>/<backupId>/...`). Leading/trailing `/` are ignored. */
    prefix: z.string().optional(),
    /** Region; default from the SDK chain (AWS_REGION, ~/.aws/config), or `us-east-1` with a custom `endpoint`. */
    region: z.string().min(1).optional(),
    /** Custom endpoint for S3-compatible services (`https://<account>.r2.cloudflarestorage.com`, `http://127.0.0.1:9000`). */
    endpoint: z.string().url().optional(),
    /** Path-style URLs (`endpoint/bucket/key`); needed by MinIO and most self-hosted servers. */
    forcePathStyle: z.boolean().optional(),
    /** Static credentials; default: the AWS SDK chain (env, shared files, SSO, IMDS, ECS). Never logged. */
    credentials: Credentials.optional(),
    /** A ready S3Client (custom retries, proxies, tests). Region/endpoint/credential options are then ignored. */
    client: z
      .custom<S3Client>((v) => typeof (v as S3Client | undefined)?.send === 'function' && typeof (v as S3Client).middlewareStack === 'object', 'expected an S3Client')
      .optional(),
    /** Storage class for new objects (`STANDARD_IA`, `GLACIER_IR`, ...). */
    storageClass: z.string().min(1).optional(),
    /** Server-side encryption: `AES256` (SSE-S3) or `aws:kms` with optional `kmsKeyId`. */
    serverSideEncryption: z.enum(['AES256', 'aws:kms']).optional(),
    kmsKeyId: z.string().min(1).optional(),
    /** First part size in bytes (default 8 MiB, 5 MiB – 1 GiB); it doubles every 800 parts. */
    partSize: z.number().int().min(S3_LIMITS.minPartSize).max(1024 * MiB).optional(),
    /** Parts uploaded in parallel (default 4). Memory ≤ queueSize × part size. */
    queueSize: z.number().int().min(1).max(64).optional(),
    /** Object Lock retention on every new object (bucket must have Object Lock enabled). */
    objectLock: z
      .object({
        mode: z.enum(['GOVERNANCE', 'COMPLIANCE']),
        /** Retention in days from the time of upload. */
        days: z.number().int().min(1).max(36_500),
      })
      .optional(),
    /**
     * The SDK's flexible checksums. Default: SDK default (`WHEN_SUPPORTED`) on AWS, `WHEN_REQUIRED`
     * with a custom `endpoint`, because some S3-compatible servers reject or silently corrupt
     * the SDK's aws-chunked trailing checksums. Only used when Arca creates the client.
     */
    requestChecksumCalculation: z.enum(['WHEN_SUPPORTED', 'WHEN_REQUIRED']).optional(),
    /** Send Content-MD5 on PutObject, UploadPart and DeleteObjects (default true): the server verifies every part. */
    contentMd5: z.boolean().optional(),
    /** Compare each part's ETag with its MD5 when the ETag is a plain MD5 (default true; off with SSE-KMS, where ETags are not MD5s). */
    verifyEtag: z.boolean().optional(),
    /**
     * Delete with DeleteObjects (≤ 1000 keys per request; default true). Set false for servers
     * without it (Google Cloud Storage's XML API): keys are then deleted one by one, 8 at a
     * time. A server answering DeleteObjects with 501 NotImplemented falls back by itself.
     */
    batchDelete: z.boolean().optional(),
    /** SDK attempts per request, retried with backoff on throttling, 5xx and network errors (default 5). */
    maxAttempts: z.number().int().min(1).max(20).optional(),
    /** Name in results and the catalog; defaults to the key in `createArca({ destinations })`. */
    name: z.string().optional(),
  })
  .strict()
  .refine((o) => !o.kmsKeyId || o.serverSideEncryption === 'aws:kms', { message: 'kmsKeyId needs serverSideEncryption: "aws:kms"', path: ['kmsKeyId'] })
  .refine((o) => !(o.client && (o.credentials || o.endpoint || o.region)), {
    message: 'pass either client or region/endpoint/credentials, not both (configure the client you inject)',
    path: ['client'],
  });

export type S3Options = z.input<typeof S3Options>;

/** Normalise `prefix`: no leading/trailing slashes; '' for none. */
export function normalisePrefix(prefix: string | undefined): string {
  return (prefix ?? '').replace(/^\/+|\/+$/g, '');
}

/**
 * Size of part `n` (1-based): `base` doubled every {@link PARTS_PER_TIER} parts, capped at 5 GiB.
 * `base` is raised when the expected size is known so a stream of that size fits in
 * the first tier.
 */
export function partSizeFor(n: number, base: number): number {
  const tier = Math.floor((n - 1) / PARTS_PER_TIER);
  return Math.min(base * 2 ** tier, MAX_BUFFERED_PART);
}

/** The base part size for an upload, given the configured size and an optional expected length. */
export function basePartSize(configured: number, expectedBytes?: number): number {
  if (!expectedBytes || expectedBytes <= configured * PARTS_PER_TIER) return configured;
  // Known size: pick a part size that fits it in one tier (rounded up to a MiB).
  const wanted = Math.ceil(expectedBytes / PARTS_PER_TIER / MiB) * MiB;
  return Math.min(Math.max(configured, wanted), MAX_BUFFERED_PART);
}

/** Total bytes that `parts` parts hold with base size `base` (for docs and tests). */
export function capacity(base: number, parts: number = S3_LIMITS.maxParts): number {
  let total = 0;
  for (let n = 1; n <= parts; n++) total += partSizeFor(n, base);
  return total;
}
