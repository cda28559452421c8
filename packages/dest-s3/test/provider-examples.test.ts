// The per-provider examples of the README and docs/destinations/s3.md, typechecked by
// `tsc` and constructed here (no network: construction only validates options).
import { describe, expect, it } from 'vitest';
import { createArca, directory, localDir } from '@arca/core';
import { s3 } from '@arca/dest-s3';

const env = (name: string) => process.env[name] ?? `example-${name.toLowerCase()}`;

export const providers = {
  // AWS S3: region + the SDK credential chain (env vars, ~/.aws, SSO, instance/task role).
  aws: () => s3({ bucket: 'fixit-backups', prefix: 'fixit', region: 'eu-south-1', storageClass: 'STANDARD_IA', serverSideEncryption: 'AES256' }),

  // AWS with SSE-KMS and Object Lock (bucket created with Object Lock enabled).
  awsLocked: () =>
    s3({
      bucket: 'partesa-backups',
      region: 'eu-central-1',
      serverSideEncryption: 'aws:kms',
      kmsKeyId: 'arn:aws:kms:eu-central-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab',
      objectLock: { mode: 'GOVERNANCE', days: 30 },
    }),

  // MinIO (self-hosted): path-style URLs, any region string.
  minio: () =>
    s3({
      bucket: 'backups',
      endpoint: 'http://minio.internal:9000',
      forcePathStyle: true,
      region: 'us-east-1',
      credentials: { accessKeyId: env('MINIO_ACCESS_KEY'), secretAccessKey: env('MINIO_SECRET_KEY') },
    }),

  // Cloudflare R2: account endpoint, region "auto".
  r2: () =>
    s3({
      bucket: 'backups',
      endpoint: `https://${env('R2_ACCOUNT_ID')}.r2.cloudflarestorage.com`,
      region: 'auto',
      credentials: { accessKeyId: env('R2_ACCESS_KEY_ID'), secretAccessKey: env('R2_SECRET_ACCESS_KEY') },
    }),

  // Backblaze B2: the bucket's S3 endpoint and its region (the part after "s3.").
  b2: () =>
    s3({
      bucket: 'nas-config-backups',
      endpoint: 'https://s3.eu-central-003.backblazeb2.com',
      region: 'eu-central-003',
      credentials: { accessKeyId: env('B2_KEY_ID'), secretAccessKey: env('B2_APPLICATION_KEY') },
    }),

  // DigitalOcean Spaces: the datacenter endpoint; region "us-east-1" as DO documents for SDKs.
  spaces: () =>
    s3({
      bucket: 'logistics-backups',
      endpoint: 'https://fra1.digitaloceanspaces.com',
      region: 'us-east-1',
      credentials: { accessKeyId: env('SPACES_KEY'), secretAccessKey: env('SPACES_SECRET') },
    }),

  // Google Cloud Storage, XML API interoperability with HMAC keys. GCS has no DeleteObjects.
  gcs: () =>
    s3({
      bucket: 'acme-backups',
      endpoint: 'https://storage.googleapis.com',
      region: 'auto',
      batchDelete: false,
      credentials: { accessKeyId: env('GCS_HMAC_ACCESS_ID'), secretAccessKey: env('GCS_HMAC_SECRET') },
    }),
};

// FIXIT's weekly archive of the whole project to S3 and to a local folder.
export function fixitWeekly(projectDir: string, backupDir: string) {
  return createArca({
    destinations: { local: localDir({ path: backupDir }), cloud: providers.aws() },
    jobs: {
      weekly: {
        sources: { project: directory({ path: projectDir, exclude: ['.git', 'node_modules', '__pycache__', 'venv', 'instance'] }) },
        destinations: ['local', 'cloud'],
        schedule: 'weekly@sun 03:00',
      },
    },
  });
}

describe('provider examples', () => {
  it.each(Object.entries(providers))('%s builds a destination whose describe() has no secret', (_, make) => {
    const d = make();
    const text = JSON.stringify(d.describe());
    expect(d.kind).toBe('s3');
    expect(text).not.toMatch(/SECRET|APPLICATION_KEY|HMAC_SECRET/i);
    d.close();
  });

  it('custom endpoints get WHEN_REQUIRED checksums, AWS keeps the SDK default', async () => {
    const r2 = providers.r2();
    const aws = providers.aws();
    expect(await r2.client.config.requestChecksumCalculation()).toBe('WHEN_REQUIRED');
    expect(await aws.client.config.requestChecksumCalculation()).toBe('WHEN_SUPPORTED');
    expect(r2.describe()).toMatchObject({ endpoint: `https://${env('R2_ACCOUNT_ID')}.r2.cloudflarestorage.com` });
    r2.close();
    aws.close();
  });

  it('the FIXIT weekly job wires S3 next to a local folder', () => {
    const arca = fixitWeekly('/srv/fixit', '/var/backups/fixit');
    expect(arca).toBeTruthy();
  });
});
