import { createHash, type Hash } from 'node:crypto';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  UploadPartCommand,
  type CompletedPart,
  type PutObjectCommandInput,
  type S3Client,
} from '@aws-sdk/client-s3';
import { ArcaError, ErrorCodes, abortError } from '@arca/core';
import { partSizeFor, S3_LIMITS } from './s3-options.js';
import { s3ErrorToArca } from './s3-errors.js';

/** Headers every new object gets (encryption, storage class, object lock, content type). */
export type ObjectParams = Pick<
  PutObjectCommandInput,
  'StorageClass' | 'ServerSideEncryption' | 'SSEKMSKeyId' | 'ObjectLockMode' | 'ObjectLockRetainUntilDate' | 'ContentType'
>;

export interface UploadParams {
  client: S3Client;
  bucket: string;
  /** Full object key (prefix included). */
  key: string;
  params: ObjectParams;
  /** Size of part 1; it doubles every PARTS_PER_TIER parts (see `partSizeFor`). */
  basePartSize: number;
  queueSize: number;
  contentMd5: boolean;
  /**
   * Send `x-amz-content-sha256: UNSIGNED-PAYLOAD` on PutObject/UploadPart instead of letting
   * the SDK hash every body with SHA-256 for the signature. Only safe when the body is
   * protected otherwise: a signed Content-MD5 (which S3 verifies) or TLS.
   */
  unsignedPayload: boolean;
  verifyEtag: boolean;
  signal?: AbortSignal;
  /** For messages: `S3 s3://bucket/key`. */
  where: string;
  /** Test hook: called with each S3 command name before it is sent. */
  onCommand?: (name: string) => void;
}

export interface UploadResult {
  bytes: number;
  parts: number;
  abortedUploadId?: string;
}

/** Wraps an error thrown by the data being uploaded, so it passes through unchanged. */
class DataError {
  constructor(readonly inner: unknown) {}
}

/** Below this, data is kept as the chunks received (small objects such as manifests). */
const SMALL_LIMIT = 1 << 20;

class AbortedWhileWaiting {}

const md5 = (b: Uint8Array) => createHash('md5').update(b).digest();

/**
 * Mark the payload of `cmd` as unsigned before the signer runs (build step < finalizeRequest).
 * The SDK otherwise SHA-256-hashes every part on the event loop: measured with `--cpu-prof`
 * on a 512 MiB upload, 0.67 s of CPU, a third of Arca's total, for an integrity check that
 * Content-MD5 (signed, verified by S3) or TLS already gives.
 */
function unsigned(cmd: UploadPartCommand | PutObjectCommand): void {
  // One stack type for both commands (the union's overloads are not callable as such).
  (cmd.middlewareStack as PutObjectCommand['middlewareStack']).add(
    (next) => async (args) => {
      const req = args.request as { headers?: Record<string, string> };
      if (req.headers) req.headers['x-amz-content-sha256'] = 'UNSIGNED-PAYLOAD';
      return next(args);
    },
    { step: 'build', name: 'arcaUnsignedPayload', override: true },
  );
}
const unquote = (etag: string | undefined) => (etag ?? '').replace(/^"|"$/g, '').toLowerCase();

/**
 * Stream `data` to S3. Data up to one part goes in a single PutObject; anything larger in
 * a multipart upload with up to `queueSize` parts in flight. The object becomes visible
 * only when PutObject/CompleteMultipartUpload succeeds, so the write is atomic. On any
 * failure, data error or abort, in-flight parts are cancelled and AbortMultipartUpload is
 * sent so no orphan parts are billed (if the server refuses it, a bucket lifecycle rule
 * `AbortIncompleteMultipartUpload` cleans up; see the README).
 *
 * Written by hand instead of @aws-sdk/lib-storage's `Upload` because `Upload` uses one
 * fixed part size: an unknown-length stream of up to 5 TiB would then need ~525 MiB parts,
 * i.e. gigabytes of memory with a queue. Here the part size grows with the upload.
 * Memory: at most `queueSize` part buffers, in flight or being filled, i.e.
 * ≤ queueSize × part size (+ one chunk of the input; + one part while part 1 waits to learn
 * whether more data follows).
 */
export async function uploadStream(data: AsyncIterable<Uint8Array>, p: UploadParams): Promise<UploadResult> {
  const ac = new AbortController();
  const onAbort = () => ac.abort(p.signal?.reason);
  if (p.signal?.aborted) throw abortError(p.signal, p.where);
  p.signal?.addEventListener('abort', onAbort, { once: true });
  // The next chunk, or a rejection as soon as the upload is aborted (the producer may be
  // blocked). A fresh listener per call: racing against one long-lived promise would keep
  // every chunk reachable through its reactions until the upload ends.
  const nextOrAbort = () =>
    new Promise<IteratorResult<Uint8Array>>((resolve, reject) => {
      if (ac.signal.aborted) return reject(new AbortedWhileWaiting());
      const onAbort = () => reject(new AbortedWhileWaiting());
      ac.signal.addEventListener('abort', onAbort, { once: true });
      it.next().then(
        (v) => {
          ac.signal.removeEventListener('abort', onAbort);
          resolve(v);
        },
        (e: unknown) => {
          ac.signal.removeEventListener('abort', onAbort);
          reject(e);
        },
      );
    });
  const send = <T>(cmd: { constructor: { name: string } } & object): Promise<T> => {
    p.onCommand?.(cmd.constructor.name);
    if (p.unsignedPayload && (cmd instanceof UploadPartCommand || cmd instanceof PutObjectCommand)) unsigned(cmd);
    return p.client.send(cmd as never, { abortSignal: ac.signal }) as Promise<T>;
  };

  // Bytes of the part being filled: small data stays in `small` (no 8 MiB buffer for a
  // 2 KiB manifest); past SMALL_LIMIT a buffer of the part's size is allocated once and
  // chunks are copied into it (one copy, no concatenation).
  const small: Uint8Array[] = [];
  let cur: Buffer | undefined;
  let curLen = 0;
  /**
   * MD5 of the part being filled, updated as each chunk is copied in: no 8 MiB hash blocking
   * the event loop when a part is full, and none at all when neither Content-MD5 nor the
   * ETag check needs it.
   */
  const needMd5 = p.contentMd5 || p.verifyEtag;
  let curHash: Hash | undefined;
  /** Part 1 once full, held until we know more data follows (else it is a single PutObject). */
  let firstFull: Buffer | undefined;
  let firstDigest: Buffer | undefined;
  let bytes = 0;
  let partNo = 0;
  let uploadId: string | undefined;
  let failure: unknown;
  let dataDone = false;
  const done: CompletedPart[] = [];
  const inFlight = new Set<Promise<void>>();
  const it = data[Symbol.asyncIterator]();

  // Part buffers are reused once their upload finished: memory stays at queueSize parts
  // without churning 8 MiB allocations through the garbage collector.
  const pool: Buffer[] = [];
  const release = (b: Buffer) => {
    if (b.byteOffset === 0 && b.byteLength === b.buffer.byteLength && pool.length <= p.queueSize) pool.push(b);
  };
  const allocPart = (size: number): Buffer => {
    const i = pool.findIndex((b) => b.byteLength === size);
    if (i >= 0) return pool.splice(i, 1)[0]!;
    pool.length = 0; // the part size grew: never hold on to buffers of the old size
    return Buffer.allocUnsafe(size);
  };

  const ensureUpload = async () => {
    uploadId ??= (await send<{ UploadId?: string }>(new CreateMultipartUploadCommand({ Bucket: p.bucket, Key: p.key, ...p.params }))).UploadId;
    if (!uploadId) throw new ArcaError(ErrorCodes.DEST_UNREACHABLE, `${p.where}: the server returned no UploadId for CreateMultipartUpload.`);
  };

  const checkEtag = (etag: string | undefined, digest: Buffer | undefined, what: string) => {
    const e = unquote(etag);
    if (p.verifyEtag && digest && /^[0-9a-f]{32}$/.test(e) && e !== digest.toString('hex')) {
      throw new ArcaError(ErrorCodes.CHECKSUM_MISMATCH, `${p.where}: the server stored ${what} with MD5 ${e}, but Arca sent ${digest.toString('hex')}: the data was corrupted on the way. Run again; if it repeats on every upload, this server's ETags are not MD5s: set verifyEtag: false.`);
    }
  };

  const startPart = async (n: number, body: Buffer, digest: Buffer | undefined) => {
    while (inFlight.size >= p.queueSize) await Promise.race(inFlight);
    if (failure !== undefined) throw failure;
    const job = send<{ ETag?: string }>(
      new UploadPartCommand({ Bucket: p.bucket, Key: p.key, UploadId: uploadId, PartNumber: n, Body: body, ContentLength: body.byteLength, ...(p.contentMd5 && digest ? { ContentMD5: digest.toString('base64') } : {}) }),
    ).then(
      (r) => {
        checkEtag(r.ETag, digest, `part ${n}`);
        done.push({ PartNumber: n, ETag: r.ETag });
        release(body);
      },
    ).catch((e: unknown) => {
      failure ??= e;
      ac.abort(e); // cancel the other parts at once
    });
    const tracked = job.finally(() => inFlight.delete(tracked));
    inFlight.add(tracked);
  };

  try {
    for (;;) {
      let step: IteratorResult<Uint8Array>;
      try {
        step = await nextOrAbort();
      } catch (e) {
        if (e instanceof AbortedWhileWaiting) throw failure ?? abortError(p.signal, p.where);
        throw new DataError(e);
      }
      if (failure !== undefined) throw failure;
      if (ac.signal.aborted) throw abortError(p.signal, p.where);
      if (step.done) {
        dataDone = true;
        break;
      }
      const chunk = step.value;
      if (!chunk.byteLength) continue;
      bytes += chunk.byteLength;
      if (firstFull) {
        // More data after a full first part: this is a multipart upload.
        await ensureUpload();
        await startPart(++partNo, firstFull, firstDigest);
        firstFull = undefined;
      }
      let off = 0;
      while (off < chunk.byteLength) {
        const size = partSizeFor(partNo + 1, p.basePartSize);
        if (!cur) {
          if (partNo === 0 && curLen + chunk.byteLength - off < Math.min(SMALL_LIMIT, size)) {
            small.push(off ? chunk.subarray(off) : chunk);
            curLen += chunk.byteLength - off;
            break;
          }
          // The part being filled counts against queueSize: wait for a slot before taking
          // another part buffer, so memory is queueSize parts, not queueSize + 1 (measured:
          // -8 MiB peak RSS on a 1 GiB put, no slower, since filling a part from a fast input
          // takes a few ms and from a slow one the uploads are idle anyway).
          while (inFlight.size >= p.queueSize) await Promise.race(inFlight);
          if (failure !== undefined) throw failure;
          cur = allocPart(size);
          curHash = needMd5 ? createHash('md5') : undefined;
          let at = 0;
          for (const c of small) {
            cur.set(c, at);
            curHash?.update(c);
            at += c.byteLength;
          }
          small.length = 0;
        }
        const n = Math.min(size - curLen, chunk.byteLength - off);
        const piece = n === chunk.byteLength ? chunk : chunk.subarray(off, off + n);
        cur.set(piece, curLen);
        curHash?.update(piece);
        curLen += n;
        off += n;
        if (curLen === size) {
          const full = cur;
          const digest = curHash?.digest();
          cur = undefined;
          curHash = undefined;
          curLen = 0;
          if (partNo === 0 && !uploadId && off === chunk.byteLength) {
            firstDigest = digest;
            firstFull = full; // might be the whole object: decide when the next chunk (or the end) comes
          } else {
            if (partNo + 1 > S3_LIMITS.maxParts) {
              throw new ArcaError(ErrorCodes.DEST_FULL, `${p.where}: the stream exceeds S3's 10 000 parts (${bytes} bytes so far); S3 objects are limited to 5 TiB.`);
            }
            await ensureUpload();
            await startPart(++partNo, full, digest);
          }
        }
      }
    }

    /** The part being filled and its MD5 (small data is hashed here, once). */
    const rest = (): [Buffer, Buffer | undefined] => {
      if (cur) return [cur.subarray(0, curLen), curHash?.digest()];
      const body = Buffer.concat(small, curLen);
      return [body, needMd5 ? md5(body) : undefined];
    };
    if (!uploadId) {
      const [body, digest] = firstFull ? [firstFull, firstDigest] : rest();
      const r = await send<{ ETag?: string }>(
        new PutObjectCommand({ Bucket: p.bucket, Key: p.key, Body: body, ContentLength: body.byteLength, ...(p.contentMd5 && digest ? { ContentMD5: digest.toString('base64') } : {}), ...p.params }),
      );
      try {
        checkEtag(r.ETag, digest, 'the object');
      } catch (e) {
        // Visible already: remove the corrupt copy (the previous object is lost either way).
        await p.client.send(new DeleteObjectCommand({ Bucket: p.bucket, Key: p.key })).catch(() => {});
        throw e;
      }
      partNo = 1;
    } else {
      if (curLen > 0) await startPart(++partNo, ...rest());
      while (inFlight.size) await Promise.race(inFlight);
      if (failure !== undefined) throw failure;
      done.sort((a, b) => a.PartNumber! - b.PartNumber!);
      await send(new CompleteMultipartUploadCommand({ Bucket: p.bucket, Key: p.key, UploadId: uploadId, MultipartUpload: { Parts: done } }));
      uploadId = undefined; // committed: nothing to abort any more
    }

    // The object is visible now. Make sure the server kept exactly what was sent (servers that
    // mis-handle chunked checksums store extra bytes): otherwise remove it and fail.
    const head = await send<{ ContentLength?: number }>(new HeadObjectCommand({ Bucket: p.bucket, Key: p.key }));
    if (head.ContentLength !== undefined && head.ContentLength !== bytes) {
      await p.client.send(new DeleteObjectCommand({ Bucket: p.bucket, Key: p.key })).catch(() => {});
      throw new ArcaError(
        ErrorCodes.CHECKSUM_MISMATCH,
        `${p.where}: the server stored ${head.ContentLength} bytes but Arca sent ${bytes}; the object was removed. This S3-compatible server probably mishandles the SDK's checksums: set requestChecksumCalculation: 'WHEN_REQUIRED'.`,
      );
    }
    return { bytes, parts: partNo };
  } catch (e) {
    if (!ac.signal.aborted) ac.abort(e);
    await Promise.allSettled([...inFlight]);
    if (!dataDone && !(e instanceof DataError)) void Promise.resolve(it.return?.()).catch(() => {});
    let abortedUploadId: string | undefined;
    if (uploadId) {
      abortedUploadId = uploadId;
      p.onCommand?.('AbortMultipartUploadCommand');
      // Best effort and without the (aborted) signal: a refusal here leaves parts for the
      // bucket's AbortIncompleteMultipartUpload lifecycle rule.
      await p.client.send(new AbortMultipartUploadCommand({ Bucket: p.bucket, Key: p.key, UploadId: uploadId })).catch(() => {});
    }
    if (e instanceof DataError) throw e.inner;
    const err = e === failure || !(e instanceof ArcaError) ? s3ErrorToArca(p.signal?.aborted ? abortError(p.signal, p.where) : e, { where: p.where, bucket: p.bucket, signal: p.signal, details: { key: p.key } }) : e;
    if (abortedUploadId) err.details.abortedUploadId = abortedUploadId;
    throw err;
  } finally {
    p.signal?.removeEventListener('abort', onAbort);
  }
}
