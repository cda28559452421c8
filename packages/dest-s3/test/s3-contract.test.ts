import { describeWithService, testDestination } from '@arca/core/test-kit';
import { s3 } from '@arca/dest-s3';
import { probeS3rver, startS3rver, CREDS } from './s3-harness.js';

// The shared Destination contract against s3rver 3.7.1 (a child process on a free loopback
// port), through the options a user would write for MinIO-like servers, with a key prefix.
await describeWithService('s3 destination on s3rver', probeS3rver, () => {
  testDestination('s3 (s3rver, prefix "tenant-a/backups")', async () => {
    const server = await startS3rver(['arca-kit']);
    const destination = s3({ bucket: 'arca-kit', prefix: '/tenant-a/backups/', endpoint: server.endpoint, forcePathStyle: true, credentials: CREDS });
    return {
      destination,
      cleanup: async () => {
        destination.close();
        await server.stop();
      },
    };
  }, {
    // More than the kit's 96 MiB RSS bound goes through, so buffering the object would fail.
    largeBytes: 128 << 20,
  });
});
