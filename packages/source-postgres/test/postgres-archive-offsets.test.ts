import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ArcaError, verifyingStream } from '@arca/core';
import { collect, describeWithService } from '@arca/core/test-kit';
import { postgres } from '@arca/source-postgres';
import { createHash } from 'node:crypto';
import { customArchiveScanner } from '../src/postgres-archive-offsets.js';
import { spoolInput } from '../src/postgres-restore.js';
import { PG, RICH_SCHEMA, childPids, createDb, databasesLike, dropAll, probePostgres, rmrf, sql, tempDir, track, uniqueName } from './pg-helpers.js';

async function* bytes(buf: Uint8Array, step = 1 << 16): AsyncIterable<Uint8Array> {
  for (let i = 0; i < buf.byteLength; i += step) yield buf.subarray(i, Math.min(buf.byteLength, i + step));
}

// Bytes 13..~60 of the header hold pg_dump's creation date; everything after must match.
const HEADER = 64;

await describeWithService('pg_dump custom archives from a pipe: data offsets, streamed swap restore (PostgreSQL on 127.0.0.1:5432)', probePostgres, () => {
  let db: string;
  let dir: string;
  let piped: Buffer; // what Arca stores: pg_dump -Fc to stdout
  const fromFile: Record<number, Buffer> = {}; // pg_dump -Fc -f file, per -Z level

  beforeAll(async () => {
    dir = await tempDir();
    db = await createDb('offsets');
    await sql(db, RICH_SCHEMA + 'CREATE TABLE public.bulk AS SELECT i, md5(i::text) AS h FROM generate_series(1, 20000) i;');
    piped = await collect((await postgres({ ...PG, database: db }).dump()).stream);
    for (const z of [0, 6]) {
      const f = path.join(dir, `file-z${z}.dump`);
      execFileSync('pg_dump', ['-h', PG.host, '-p', String(PG.port), '-U', PG.user, '-Fc', `-Z${z}`, '--no-owner', '-f', f, db]);
      fromFile[z] = await fs.readFile(f);
    }
  }, 120_000);
  afterAll(async () => {
    await dropAll();
    await rmrf(dir);
  });

  it('the spool of a piped archive becomes byte-identical to `pg_dump -Fc -f` (offsets patched into the TOC), however it is chunked', async () => {
    expect(piped.byteLength).toBe(fromFile[0]!.byteLength);
    expect(piped.subarray(HEADER).equals(fromFile[0]!.subarray(HEADER))).toBe(false); // the TOCs differ: no offsets in the piped one
    for (const step of [1, 7, 4096, 1 << 20]) {
      const spool = await spoolInput(bytes(step === 1 ? piped.subarray(0, 200_000) : piped, step), dir, undefined, 'custom');
      try {
        if (step === 1) {
          expect(spool.scanned).toEqual({ complete: false, patched: 0 }); // cut short: left alone
          expect((await fs.readFile(spool.file)).equals(piped.subarray(0, 200_000))).toBe(true);
          continue;
        }
        expect(spool.scanned?.complete).toBe(true);
        expect(spool.scanned?.patched).toBeGreaterThanOrEqual(5); // bulk, blobs, audit, … every table's data block
        const out = await fs.readFile(spool.file);
        expect(out.subarray(HEADER).equals(fromFile[0]!.subarray(HEADER))).toBe(true);
      } finally {
        await spool.remove();
      }
    }
  });

  it('works on compressed (-Z6) archives, and leaves garbage, plain SQL and an archive missing a data block untouched', async () => {
    const z6 = execFileSync('sh', ['-c', `pg_dump -h ${PG.host} -p ${PG.port} -U ${PG.user} -Fc -Z6 --no-owner ${db} | cat`], { maxBuffer: 1 << 28 });
    const s = customArchiveScanner();
    for await (const c of bytes(z6, 999)) s.push(c);
    const f = path.join(dir, 'z6.dump');
    await fs.writeFile(f, z6);
    expect((await s.patchOffsets(f)).complete).toBe(true);
    expect((await fs.readFile(f)).subarray(HEADER).equals(fromFile[6]!.subarray(HEADER))).toBe(true);

    for (const junk of [Buffer.from('PGDMP but not really, just garbage bytes'), Buffer.from('--\n-- PostgreSQL database dump\n--\n'), Buffer.alloc(0)]) {
      const g = customArchiveScanner();
      g.push(junk);
      const jf = path.join(dir, 'junk');
      await fs.writeFile(jf, junk);
      expect(await g.patchOffsets(jf)).toEqual({ complete: false, patched: 0 });
      expect((await fs.readFile(jf)).equals(junk)).toBe(true);
    }
    // Cut where the last data block likely starts (BLK_DATA, then a positive dump id): the TOC wants a block it never got.
    const whole = customArchiveScanner();
    const lastBlock = fromFile[0]!.lastIndexOf(Buffer.from([1, 0]), fromFile[0]!.byteLength - 8);
    expect(lastBlock).toBeGreaterThan(0);
    const cut = piped.subarray(0, lastBlock);
    whole.push(cut);
    const cf = path.join(dir, 'cut');
    await fs.writeFile(cf, cut);
    expect((await whole.patchOffsets(cf)).complete).toBe(false);
  });

  it('a dump() stream read late, after pg_dump exited, still yields every byte (the spawned stdout stays paused until read)', async () => {
    const d = await postgres({ ...PG, database: db }).dump();
    await new Promise((r) => setTimeout(r, 1500));
    const late = await collect(d.stream);
    expect(late.byteLength).toBe(piped.byteLength);
    expect(late.subarray(HEADER).equals(piped.subarray(HEADER))).toBe(true);
  });

  it('a streamed swap restore (jobs 1) whose input fails its checksum at the very end leaves the target and no scratch database, though pg_restore could have succeeded', async () => {
    const target = await createDb('stream_keep');
    await sql(target, "CREATE TABLE keep_me (v text); INSERT INTO keep_me VALUES ('precious')");
    const wrong = verifyingStream(bytes(piped), { sha256: '0'.repeat(64), bytes: piped.byteLength, what: 'streamed input' });
    const e = await postgres({ ...PG, database: target, restore: { strategy: 'swap' } })
      .restore!(wrong, { overwrite: true })
      .then(() => undefined, (err: unknown) => err);
    expect(e).toBeInstanceOf(ArcaError);
    expect((e as ArcaError).code).toBe('CHECKSUM_MISMATCH');
    expect(await sql(target, 'SELECT v FROM keep_me')).toEqual([{ v: 'precious' }]);
    expect(await databasesLike(`${target}_arca_`)).toEqual([]);

    // The same bytes with the right checksum: streamed into a new database, swapped into place.
    const fresh = track(uniqueName('stream_new'));
    const right = verifyingStream(bytes(piped), { sha256: createHash('sha256').update(piped).digest('hex'), bytes: piped.byteLength, what: 'streamed input' });
    await postgres({ ...PG, database: fresh, restore: { createDatabase: true } }).restore!(right);
    expect(await sql(fresh, 'SELECT count(*)::int AS n FROM public.bulk')).toEqual([{ n: 20000 }]);
    expect(await databasesLike(`${fresh}_`)).toEqual([]);
  }, 120_000);

  it('a streamed restore whose pg_restore quits early (unknown --role) while megabytes wait for it rejects RESTORE_FAILED, still reads the input to its end and leaves nothing behind', async () => {
    // The archive, then 12 MiB more: more than the 4 MiB queued for pg_restore's stdin, so the
    // write side is waiting for pg_restore when it exits.
    const padding = Buffer.alloc(12 << 20);
    let read = 0;
    const input = (async function* () {
      for await (const c of bytes(Buffer.concat([piped, padding]))) {
        read += c.byteLength;
        yield c;
      }
    })();
    const fresh = track(uniqueName('stream_role'));
    const e = await postgres({ ...PG, database: fresh, restore: { createDatabase: true, role: 'arca_no_such_role' } })
      .restore!(input)
      .then(() => undefined, (err: unknown) => err);
    expect(e).toBeInstanceOf(ArcaError);
    expect((e as ArcaError).code).toBe('RESTORE_FAILED');
    expect((e as ArcaError).message).toMatch(/arca_no_such_role/);
    expect(read).toBe(piped.byteLength + padding.byteLength);
    expect(await childPids('pg_restore')).toEqual([]);
    expect(await databasesLike(fresh)).toEqual([]);
  }, 60_000);

  it('a streamed restore whose CREATE DATABASE fails (pg_restore already started) rejects with that error, never reads the input and leaves no pg_restore behind', async () => {
    const role = uniqueName('nocreatedb');
    await sql('postgres', `CREATE ROLE "${role}" LOGIN NOCREATEDB`);
    try {
      let read = false;
      const input = (async function* () {
        read = true;
        yield* bytes(piped);
      })();
      const fresh = track(uniqueName('stream_denied'));
      const e = await postgres({ ...PG, user: role, database: fresh, restore: { createDatabase: true } })
        .restore!(input)
        .then(() => undefined, (err: unknown) => err as Error);
      expect(e?.message).toMatch(/permission denied to create database/);
      expect(read).toBe(false);
      expect(await childPids('pg_restore')).toEqual([]);
      expect(await databasesLike(fresh)).toEqual([]);
    } finally {
      await sql('postgres', `DROP ROLE IF EXISTS "${role}"`);
    }
  }, 60_000);
});
