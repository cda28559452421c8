import { createHash } from 'node:crypto';
import { DeleteObjectsCommand, S3Client, type DeleteObjectsCommandInput } from '@aws-sdk/client-s3';
import { registerSecret } from '@arca/core';
import type { z } from 'zod';
import type { S3Options } from './s3-options.js';

type Parsed = z.output<typeof S3Options>;

/**
 * The S3Client Arca uses: the injected one, or one built from the options. With a custom
 * endpoint the SDK's flexible checksums default to `WHEN_REQUIRED` (measured with SDK
 * 3.1175: s3rver stores the aws-chunked framing as object bytes, other servers reject it).
 */
export function createClient(opts: Parsed): { client: S3Client; created: boolean } {
  if (opts.credentials) {
    registerSecret(opts.credentials.secretAccessKey);
    registerSecret(opts.credentials.sessionToken);
  }
  if (opts.client) return { client: opts.client, created: false };
  const custom = opts.endpoint !== undefined;
  const checksums = opts.requestChecksumCalculation ?? (custom ? 'WHEN_REQUIRED' : undefined);
  const client = new S3Client({
    ...(opts.region ? { region: opts.region } : custom ? { region: 'us-east-1' } : {}),
    ...(opts.endpoint ? { endpoint: opts.endpoint } : {}),
    ...(opts.forcePathStyle !== undefined ? { forcePathStyle: opts.forcePathStyle } : {}),
    ...(opts.credentials ? { credentials: { ...opts.credentials } } : {}),
    ...(checksums ? { requestChecksumCalculation: checksums, responseChecksumValidation: checksums } : {}),
    maxAttempts: opts.maxAttempts ?? 5,
    // Fail fast on a dead endpoint; a stalled transfer is detected by the pipeline's stall timeout.
    requestHandler: { connectionTimeout: 15_000 },
  });
  return { client, created: true };
}

/**
 * A DeleteObjects command that also carries Content-MD5 of its XML body: S3 requires an
 * integrity header on DeleteObjects, and some S3-compatible servers (Scality, older Ceph)
 * accept only Content-MD5, not the SDK's x-amz-checksum-* headers. The middleware is added
 * to this command only, never to a client the host injected.
 */
export function deleteObjectsCommand(input: DeleteObjectsCommandInput, contentMd5: boolean): DeleteObjectsCommand {
  const cmd = new DeleteObjectsCommand(input);
  if (contentMd5) {
    cmd.middlewareStack.add(
      (next) => async (args) => {
        const req = args.request as { headers?: Record<string, string>; body?: unknown };
        if (req.headers && (typeof req.body === 'string' || req.body instanceof Uint8Array)) {
          req.headers['content-md5'] = createHash('md5').update(req.body).digest('base64');
        }
        return next(args);
      },
      { step: 'build', name: 'arcaDeleteContentMd5', override: true },
    );
  }
  return cmd;
}
