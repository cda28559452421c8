import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createArca, directory, localDir, memoryRunLog } from '@arca/core';
import { collect, describeWithService, generatedStream } from '@arca/core/test-kit';
import { s3, type S3Destination } from '@arca/dest-s3';
import { AWS_CLI, CREDS, awsCli, fakeClient, probeS3rver, sha256, startFaultProxy, startS3rver, type FaultProxy, type S3rverHandle } from './s3-harness.js';

const MiB = 1 << 20;
const BUCKET = 'arca-interop';

async function probe(): Promise<string | undefined> {
  if (!existsSync(AWS_CLI)) return `${AWS_CLI} is missing: apt-get install awscli (listed in .ci/apt-packages.txt)`;
  return probeS3rver();
}

await describeWithService('s3 destination: interop with the aws CLI and fan-out with a local destination', probe, () => {
  let server: S3rverHandle;
  let proxy: FaultProxy;
  let work: string;
  const open: S3Destination[] = [];

  beforeAll(async () => {
    server = await startS3rver([BUCKET]);
    proxy = await startFaultProxy(server.endpoint);
    work = await fs.mkdtemp(path.join(tmpdir(), 'arca-s3-interop-'));
  });
  afterAll(async () => {
    for (const d of open) d.close();
    await proxy?.close();
    await server?.stop();
    if (work) await fs.rm(work, { recursive: true, force: true });
  });

  it('objects Arca writes are listed and downloaded byte-identical by `aws s3`, and the reverse', async () => {
    const d = s3({ bucket: BUCKET, prefix: 'cli', endpoint: server.endpoint, forcePathStyle: true, credentials: CREDS, partSize: 5 * MiB });
    open.push(d);
    const big = generatedStream(12 * MiB + 123, { seed: 11 });
    await d.put('job/20261122T020000Z-abcd/db.sqlite.gz', big); // multipart: 3 parts
    await d.put('job/20261122T020000Z-abcd/manifest.json', (async function* () {
      yield Buffer.from('{"small":true}');
    })());

    const ls = awsCli(server.endpoint, ['s3', 'ls', '--recursive', `s3://${BUCKET}/cli/`]);
    expect(ls.status, ls.stderr).toBe(0);
    expect(ls.stdout).toMatch(new RegExp(`\\s${12 * MiB + 123} cli/job/20261122T020000Z-abcd/db\\.sqlite\\.gz`));
    expect(ls.stdout).toMatch(/\s14 cli\/job\/20261122T020000Z-abcd\/manifest\.json/);

    const out = path.join(work, 'db.sqlite.gz');
    const cp = awsCli(server.endpoint, ['s3', 'cp', '--only-show-errors', `s3://${BUCKET}/cli/job/20261122T020000Z-abcd/db.sqlite.gz`, out]);
    expect(cp.status, cp.stderr).toBe(0);
    expect(sha256(await fs.readFile(out))).toBe(big.sha256());

    // The other way round: a file uploaded by the CLI (its own multipart) is read by Arca.
    const src = path.join(work, 'from-cli.bin');
    const content = randomBytes(9 * MiB);
    await fs.writeFile(src, content);
    const up = awsCli(server.endpoint, ['s3', 'cp', '--only-show-errors', src, `s3://${BUCKET}/cli/from-cli.bin`]);
    expect(up.status, up.stderr).toBe(0);
    expect((await d.stat('from-cli.bin'))?.size).toBe(content.byteLength);
    expect(createHash('sha256').update(await collect(await d.get('from-cli.bin'))).digest('hex')).toBe(sha256(content));
  });

  it('a destination that keeps failing is detached in a fan-out; the local copy completes, run is partial, retryFailed copies it', async () => {
    const srcDir = path.join(work, 'project');
    await fs.mkdir(path.join(srcDir, 'static'), { recursive: true });
    await fs.writeFile(path.join(srcDir, 'tickets.db'), randomBytes(300_000));
    await fs.writeFile(path.join(srcDir, 'static', 'logo.png'), randomBytes(50_000));

    const cloud = s3({ bucket: BUCKET, prefix: 'fixit', client: fakeClient(proxy.endpoint, { maxAttempts: 2 }) });
    open.push(cloud);
    const arca = createArca({
      destinations: { local: localDir({ path: path.join(work, 'backups'), fsync: false }), cloud },
      jobs: { weekly: { sources: { project: directory({ path: srcDir }) }, destinations: ['local', 'cloud'] } },
      runLog: memoryRunLog(),
    });

    proxy.decide = (r) => (r.method === 'PUT' ? { status: 500, code: 'InternalError' } : { forward: true });
    let run;
    try {
      run = await arca.run('weekly', { actor: 'test' });
    } finally {
      proxy.decide = () => ({ forward: true });
    }
    expect(run.status).toBe('partial');
    const byName = Object.fromEntries(run.destinations.map((x) => [x.name, x]));
    expect(byName.local!.status).toBe('completed');
    expect(byName.cloud!.status).toBe('failed');
    expect(byName.cloud!.error?.code).toBe('DEST_UNREACHABLE');
    const nothing = [];
    for await (const o of cloud.list('')) nothing.push(o.key);
    expect(nothing).toEqual([]);

    const retry = await arca.retryFailed('weekly', run.backupId);
    expect(retry.copied).toEqual(['cloud']);
    expect(retry.failed).toEqual([]);
    const list = await arca.list('weekly');
    expect(list[0]!.destinations.sort()).toEqual(['cloud', 'local']);
    const v = await arca.verify('weekly', run.backupId, { level: 'checksum' });
    expect(v.ok).toBe(true);

    // The copy on S3 is what the manifest says, read by an independent client.
    const artifact = run.artifacts[0]!;
    const out = path.join(work, 'artifact');
    const cp = awsCli(server.endpoint, ['s3', 'cp', '--only-show-errors', `s3://${BUCKET}/fixit/weekly/${run.backupId}/${artifact.file}`, out]);
    expect(cp.status, cp.stderr).toBe(0);
    expect(sha256(await fs.readFile(out))).toBe(artifact.sha256);
  });
});
