/**
 * `@arca/dest-s3`: an Arca destination for AWS S3 and S3-compatible storage (MinIO,
 * Cloudflare R2, Backblaze B2, DigitalOcean Spaces, Google Cloud Storage interop).
 */
export { s3, type S3Destination } from './s3-destination.js';
export { S3_LIMITS, PARTS_PER_TIER, MAX_BUFFERED_PART, partSizeFor, basePartSize, capacity, type S3Options } from './s3-options.js';
export { s3ErrorToArca } from './s3-errors.js';
