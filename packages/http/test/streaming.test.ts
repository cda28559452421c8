import { createHash } from 'node:crypto';
import * as http from 'node:http';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createArca, localDir, memoryRunLog, type Source } from '@arca/core';
import { generatedStream, peakRss } from '@arca/core/test-kit';
import { toNodeHandler } from '@arca/http';
import { handlerFor, listen, tempDir } from './fixtures.js';

const SIZE = 128 * 1024 * 1024;

/** A source of SIZE pseudo-random bytes (incompressible, stored as is with compress: 'none'). */
const bigSource: Source = {
  kind: 'generated',
  describe: () => ({ bytes: SIZE }),
  async dump() {
    return { filename: 'big.bin', expectedBytes: SIZE, stream: generatedStream(SIZE), meta: async () => ({}) };
  },
};

describe('downloads stream with flat memory', () => {
  it(`serves a ${SIZE / 2 ** 20} MiB artifact through node:http without buffering it`, async () => {
    const dir = await tempDir();
    const arca = createArca({ destinations: { local: localDir({ path: path.join(dir, 'b') }) }, jobs: { big: { sources: { data: bigSource }, destinations: ['local'], compress: 'none' } }, runLog: memoryRunLog() });
    const run = await arca.run('big');
    expect(run.status).toBe('completed');
    const base = await listen(http.createServer(toNodeHandler(handlerFor(arca, { authorize: () => true }))));
    const a = run.artifacts[0]!;
    const { value, peakGrowth } = await peakRss(async () => {
      const r = await fetch(`${base}/admin/backups/api/jobs/big/backups/${run.backupId}/files/${a.file}`);
      expect(r.headers.get('content-length')).toBe(String(SIZE));
      const hash = createHash('sha256');
      let bytes = 0;
      for await (const chunk of r.body as unknown as AsyncIterable<Uint8Array>) {
        hash.update(chunk);
        bytes += chunk.byteLength;
      }
      return { bytes, sha256: hash.digest('hex') };
    });
    expect(value).toEqual({ bytes: SIZE, sha256: a.sha256 });
    console.log(`download of ${SIZE / 2 ** 20} MiB: peak RSS growth ${(peakGrowth / 2 ** 20).toFixed(1)} MiB`);
    expect(peakGrowth).toBeLessThan(SIZE / 2);
  });
});
