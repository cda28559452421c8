import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { collect, describeWithService } from '@arca/core/test-kit';
import { postgres } from '@arca/source-postgres';
import { BLK_BLOBS, BLK_DATA, parseToc } from '../src/postgres-archive-offsets.js';
import { uncompressedArchiveRechunker } from '../src/postgres-archive-rechunk.js';
import { PG, RICH_SCHEMA, createDb, dropAll, probePostgres, sql, track, uniqueName } from './pg-helpers.js';

function rechunk(archive: Buffer, step: number) {
  const r = uncompressedArchiveRechunker();
  const out: Buffer[] = [];
  const take = (pieces: Buffer[]) => {
    for (const p of pieces) out.push(Buffer.from(p)); // "written": a copy kept, then handed back for reuse
    for (const p of pieces) r.release(p);
  };
  for (let i = 0; i < archive.byteLength; i += step) take(r.push(archive.subarray(i, Math.min(archive.byteLength, i + step))));
  take(r.end());
  return { bytes: Buffer.concat(out), stats: r.stats };
}

/** What pg_restore gets out of an archive: header + TOC bytes, then per block its kind, id and the sha256 of its data (chunk borders ignored). */
function contentOf(archive: Buffer): { head: string; blocks: string[]; chunks: number; biggest: number } {
  const toc = parseToc(archive);
  let p = toc.end;
  const int = () => {
    const sign = archive[p]!;
    let v = 0;
    for (let k = 0; k < toc.intSize; k++) v += archive[p + 1 + k]! * 2 ** (8 * k);
    p += 1 + toc.intSize;
    return sign ? -v : v;
  };
  const blocks: string[] = [];
  let chunks = 0;
  let biggest = 0;
  const data = (h: ReturnType<typeof createHash>) => {
    for (let n = int(); n !== 0; n = int()) {
      h.update(archive.subarray(p, p + n));
      p += n;
      chunks++;
      biggest = Math.max(biggest, n);
    }
  };
  while (p < archive.byteLength) {
    const kind = archive[p++]!;
    const id = int();
    const h = createHash('sha256');
    if (kind === BLK_DATA) data(h);
    else if (kind === BLK_BLOBS) for (let oid = int(); oid !== 0; oid = int()) h.update(`oid ${oid}:`), data(h);
    else throw new Error(`block kind ${kind}`);
    blocks.push(`${kind}:${id}:${h.digest('hex')}`);
  }
  return { head: createHash('sha256').update(archive.subarray(0, toc.end)).digest('hex'), blocks, chunks, biggest };
}

const pgArgs = ['-h', PG.host, '-p', String(PG.port), '-U', PG.user];
const TABLES = ['public.bulk', 'public.wide', 'app.blobs', 'app.audit', 'public."Mixed Case"'];
async function tableDigests(db: string): Promise<string[]> {
  const out: string[] = [];
  for (const t of TABLES) out.push(JSON.stringify(await sql(db, `SELECT count(*)::int AS n, md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) AS h FROM ${t} x`)));
  return out;
}

await describeWithService('-Z0 custom archives: row chunks merged on the way into pg_restore (PostgreSQL on 127.0.0.1:5432)', probePostgres, () => {
  let db: string;
  let piped: Buffer; // what Arca stores by default: pg_dump -Fc -Z0 to stdout

  beforeAll(async () => {
    db = await createDb('rechunk');
    // bulk: one ~40-byte chunk per row; wide: rows bigger than a merged chunk (they span several).
    await sql(db, RICH_SCHEMA + "CREATE TABLE public.bulk AS SELECT i, md5(i::text) AS h FROM generate_series(1, 20000) i; CREATE TABLE public.wide AS SELECT i, repeat(md5(i::text), 6000) AS big FROM generate_series(1, 5) i;");
    piped = await collect((await postgres({ ...PG, database: db }).dump()).stream);
  }, 120_000);
  afterAll(async () => {
    await dropAll();
  });

  it('keeps header, TOC and every block’s data, in fewer and bigger chunks, however the input is cut; pg_restore restores the same rows', async () => {
    const before = contentOf(piped);
    expect(before.biggest).toBeGreaterThan(1 << 16); // the wide rows
    let merged: Buffer | undefined;
    for (const step of [1, 7, 4096, 1 << 16, piped.byteLength]) {
      const { bytes, stats } = rechunk(piped, step);
      const after = contentOf(bytes);
      expect({ head: after.head, blocks: after.blocks }).toEqual({ head: before.head, blocks: before.blocks });
      expect(after.chunks).toBeLessThan(before.chunks / 50);
      expect(stats.chunksIn).toBeGreaterThan(20000);
      merged ??= bytes;
    }
    const restored = track(uniqueName('rechunked'));
    execFileSync('createdb', [...pgArgs, '-T', 'template0', restored]);
    execFileSync('pg_restore', [...pgArgs, '--exit-on-error', '--single-transaction', '--no-owner', '-d', restored], { input: merged, maxBuffer: 1 << 26 });
    expect(await tableDigests(restored)).toEqual(await tableDigests(db));
    expect(await sql(restored, 'SELECT length(lo_get(lo))::int AS n FROM public.lo_refs')).toEqual([{ n: 13000 }]);
  }, 120_000);

  it('passes compressed archives, garbage, plain SQL and empty input through byte for byte; a cut archive still fails in pg_restore', () => {
    const z6 = execFileSync('sh', ['-c', `pg_dump ${pgArgs.join(' ')} -Fc -Z6 ${db} | cat`], { maxBuffer: 1 << 28 });
    const junk = [z6, Buffer.from('PGDMP but not really, just garbage bytes'), Buffer.from('--\n-- PostgreSQL database dump\n--\n'), Buffer.alloc(0)];
    for (const input of junk) {
      for (const step of [3, 1 << 16]) {
        const { bytes, stats } = rechunk(input, step);
        expect(bytes.equals(input)).toBe(true);
        expect(stats.chunksOut).toBe(0);
      }
    }
    // Cut inside the data (mid-row): merged up to the cut, then pg_restore fails on the short archive as it does on the original.
    const cut = piped.subarray(0, Math.floor(piped.byteLength * 0.6));
    const { bytes } = rechunk(cut, 1 << 16);
    expect(bytes.byteLength).toBeLessThan(cut.byteLength);
    for (const archive of [cut, bytes]) {
      const r = spawnSync('pg_restore', ['--list'], { input: archive });
      expect(r.status).toBe(0); // the TOC is whole
      const full = spawnSync('pg_restore', ['-f', '/dev/null'], { input: archive });
      expect(full.status).not.toBe(0);
    }
  });
});
