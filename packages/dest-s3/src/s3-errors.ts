import { ArcaError, ErrorCodes, abortError } from '@arca/core';

/** The fields of an AWS SDK v3 error (S3ServiceException or a smithy/Node network error) we read. */
interface SdkErrorLike {
  name?: string;
  code?: string;
  Code?: string;
  message?: string;
  $fault?: 'client' | 'server';
  $metadata?: { httpStatusCode?: number; requestId?: string };
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'ECONNABORTED',
  'EPROTO',
  'CERT_HAS_EXPIRED',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

const PERMISSION_NAMES = new Set([
  'AccessDenied',
  'Forbidden',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'InvalidToken',
  'ExpiredToken',
  'TokenRefreshRequired',
  'AllAccessDisabled',
  'AccountProblem',
  'InvalidObjectState',
  'CredentialsProviderError',
]);

const FULL_NAMES = new Set(['QuotaExceeded', 'XMinioStorageFull', 'StorageFull', 'InsufficientStorage', 'StorageCapExceeded', 'ServiceQuotaExceeded']);

/** The error name of an SDK error (`NoSuchKey`, `AccessDenied`, `ECONNREFUSED`, ...). */
export function s3ErrorName(e: unknown): string {
  const x = (e ?? {}) as SdkErrorLike;
  return String(x.Code ?? (x.name && x.name !== 'Error' ? x.name : undefined) ?? x.code ?? 'Error');
}

export function httpStatus(e: unknown): number | undefined {
  return (e as SdkErrorLike | undefined)?.$metadata?.httpStatusCode;
}

/** True for "the object (or bucket) is not there" answers. */
export function isNotFound(e: unknown): boolean {
  const n = s3ErrorName(e);
  return n === 'NoSuchKey' || n === 'NotFound' || n === 'NoSuchBucket' || (httpStatus(e) === 404 && n !== 'NoSuchUpload');
}

function isAbort(e: unknown): boolean {
  const n = s3ErrorName(e);
  return n === 'AbortError' || (e as { code?: string })?.code === 'ABORT_ERR';
}

export interface MapContext {
  /** `S3 s3://bucket/prefix/key` — what was being done, shown first in the message. */
  where: string;
  bucket: string;
  signal?: AbortSignal;
  details?: Record<string, unknown>;
}

/**
 * Map anything the SDK throws to an ArcaError with a stable code and a message that says
 * what to do. Credentials are never part of SDK messages; the secret key is also
 * registered with `registerSecret` by the factory, so `ArcaError` redacts it anyway.
 */
export function s3ErrorToArca(e: unknown, ctx: MapContext): ArcaError {
  if (e instanceof ArcaError) return e;
  if (ctx.signal?.aborted || isAbort(e)) return abortError(ctx.signal, ctx.where);
  const name = s3ErrorName(e);
  const status = httpStatus(e);
  const raw = String((e as SdkErrorLike | undefined)?.message ?? e).slice(0, 300);
  const details = { ...ctx.details, s3Error: name, ...(status ? { httpStatus: status } : {}), ...((e as SdkErrorLike)?.$metadata?.requestId ? { requestId: (e as SdkErrorLike).$metadata!.requestId } : {}) };
  const opts = { cause: e, details };

  if (name === 'NoSuchBucket') {
    return new ArcaError(ErrorCodes.DEST_UNREACHABLE, `${ctx.where}: bucket "${ctx.bucket}" does not exist. Create it (Arca never creates buckets) or fix the bucket name/region/endpoint.`, opts);
  }
  if (name === 'NoSuchKey' || name === 'NotFound' || status === 404) {
    return new ArcaError(ErrorCodes.NOT_FOUND, `${ctx.where}: not found.`, opts);
  }
  if (FULL_NAMES.has(name) || status === 507 || /quota|storage (is )?full|cap exceeded/i.test(raw)) {
    return new ArcaError(ErrorCodes.DEST_FULL, `${ctx.where}: the storage quota is exhausted (${name}). Raise the bucket/account quota or prune old backups, then run again.`, opts);
  }
  if (PERMISSION_NAMES.has(name) || status === 401 || status === 403) {
    const hint =
      name === 'InvalidAccessKeyId' || name === 'SignatureDoesNotMatch' || name === 'InvalidToken' || name === 'ExpiredToken' || name === 'CredentialsProviderError'
        ? 'the credentials are wrong or expired: check the access key id and secret (or the SDK credential chain) and the region'
        : 'the credentials lack permission: allow s3:PutObject, s3:GetObject, s3:ListBucket, s3:DeleteObject and s3:AbortMultipartUpload on the bucket/prefix (see the README), or check Object Lock retention';
    return new ArcaError(ErrorCodes.DEST_PERMISSION, `${ctx.where}: access denied (${name}): ${hint}.`, opts);
  }
  if (name === 'PermanentRedirect' || name === 'AuthorizationHeaderMalformed' || name === 'IllegalLocationConstraintException' || status === 301) {
    return new ArcaError(ErrorCodes.DEST_UNREACHABLE, `${ctx.where}: the bucket lives in another region (${name}). Set \`region\` to the bucket's region.`, opts);
  }
  const code = (e as { code?: string })?.code;
  if ((code && NETWORK_CODES.has(code)) || name === 'TimeoutError' || name === 'RequestTimeout' || /socket hang up|getaddrinfo|connect E/i.test(raw)) {
    return new ArcaError(ErrorCodes.DEST_UNREACHABLE, `${ctx.where}: cannot reach the S3 endpoint (${code ?? name}). Check the endpoint URL, DNS, proxy and network, then run again.`, opts);
  }
  if (/region is missing/i.test(raw)) {
    return new ArcaError(ErrorCodes.CONFIG_INVALID, `${ctx.where}: no region configured. Set \`region\` (or AWS_REGION).`, opts);
  }
  if (/could not load credentials/i.test(raw)) {
    return new ArcaError(ErrorCodes.DEST_PERMISSION, `${ctx.where}: no credentials found. Pass \`credentials\` or configure the AWS SDK chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, ~/.aws, instance role).`, opts);
  }
  const kind = status && status >= 500 ? `the server failed (HTTP ${status}, ${name}) after retries` : `unexpected answer (${status ? `HTTP ${status}, ` : ''}${name})`;
  return new ArcaError(ErrorCodes.DEST_UNREACHABLE, `${ctx.where}: ${kind}: ${raw}. Check the service status and run again (retryFailed copies a partial backup later).`, opts);
}
