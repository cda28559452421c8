import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import pg from 'pg';

/** The PostgreSQL service of the test machine (trust auth). Override with ARCA_TEST_PG_* env vars. */
export const PG = {
  host: process.env.ARCA_TEST_PG_HOST ?? '127.0.0.1',
  port: Number(process.env.ARCA_TEST_PG_PORT ?? 5432),
  user: process.env.ARCA_TEST_PG_USER ?? 'postgres',
};

export function adminClient(database = 'postgres'): pg.Client {
  const c = new pg.Client({ ...PG, database, connectionTimeoutMillis: 5000 });
  c.on('error', () => {});
  return c;
}

/** Run SQL in a database with a short-lived client. */
export async function sql<T extends pg.QueryResultRow = Record<string, unknown>>(database: string, text: string, params: unknown[] = []): Promise<T[]> {
  const c = adminClient(database);
  await c.connect();
  try {
    return (await c.query<T>(text, params)).rows;
  } finally {
    await c.end();
  }
}

/** undefined when PostgreSQL answers, else the reason (for describeWithService). */
export async function probePostgres(): Promise<string | undefined> {
  try {
    await sql('postgres', 'SELECT 1');
    return undefined;
  } catch (e) {
    return `PostgreSQL at ${PG.host}:${PG.port} not reachable (${(e as Error).message})`;
  }
}

export function uniqueName(tag: string): string {
  return `arca_t_${tag}_${randomBytes(4).toString('hex')}`;
}

const created = new Set<string>();

export async function createDb(tag: string): Promise<string> {
  const name = uniqueName(tag);
  await sql('postgres', `CREATE DATABASE "${name}"`);
  created.add(name);
  return name;
}

/** Remember a database a test expects to be created by the code under test. */
export function track(name: string): string {
  created.add(name);
  return name;
}

export async function dropDb(name: string): Promise<void> {
  await sql('postgres', `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  created.delete(name);
}

export async function dropAll(): Promise<void> {
  for (const n of [...created]) await dropDb(n).catch(() => {});
}

export async function dbExists(name: string): Promise<boolean> {
  return (await sql('postgres', 'SELECT 1 FROM pg_database WHERE datname = $1', [name])).length === 1;
}

/** Every database whose name starts with `prefix` (to prove scratch databases were dropped). */
export async function databasesLike(prefix: string): Promise<string[]> {
  return (await sql<{ datname: string }>('postgres', 'SELECT datname FROM pg_database WHERE datname LIKE $1', [`${prefix}%`])).map((r) => r.datname);
}

/**
 * A database with the awkward types a dump must carry: bytea, jsonb, arrays, large objects,
 * sequences, identity columns, views, functions and triggers.
 */
export const RICH_SCHEMA = `
  CREATE SCHEMA app;
  CREATE TABLE app.blobs (id serial PRIMARY KEY, data bytea NOT NULL, doc jsonb, tags text[], nums int[], created timestamptz DEFAULT now());
  INSERT INTO app.blobs (data, doc, tags, nums)
    SELECT decode(md5(i::text) || md5((i * 7)::text), 'hex') || '\\x00ff00'::bytea, jsonb_build_object('i', i, 'name', 'n' || i, 'nested', jsonb_build_object('a', ARRAY[i, i + 1])),
           ARRAY['a' || i, 'b''quote', 'c"dq', NULL], ARRAY[i, -i]
    FROM generate_series(1, 500) i;
  CREATE TABLE app.audit (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, blob_id int, at timestamptz DEFAULT now());
  CREATE FUNCTION app.log_blob() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO app.audit (blob_id) VALUES (NEW.id); RETURN NEW; END $$;
  CREATE TRIGGER blob_audit AFTER INSERT ON app.blobs FOR EACH ROW EXECUTE FUNCTION app.log_blob();
  INSERT INTO app.blobs (data) VALUES ('\\xdeadbeef'), ('\\x');
  CREATE SEQUENCE app.invoice_no START 1000 INCREMENT 5;
  SELECT nextval('app.invoice_no') FROM generate_series(1, 7);
  CREATE SEQUENCE app.unused_seq;
  CREATE VIEW app.blob_sizes AS SELECT id, length(data) AS len FROM app.blobs;
  CREATE TABLE public."Mixed Case" ("Key" text PRIMARY KEY, v numeric(20, 6));
  INSERT INTO public."Mixed Case" VALUES ('π', 3.141593), ('e', 2.718282);
  CREATE TABLE public.lo_refs (id int PRIMARY KEY, lo oid);
  INSERT INTO public.lo_refs VALUES (1, lo_from_bytea(0, convert_to(repeat('large object ', 1000), 'UTF8')));
`;

export async function tempDir(): Promise<string> {
  return mkdtemp(path.join(tmpdir(), 'arca-pg-test-'));
}

export async function rmrf(p: string): Promise<void> {
  await fs.rm(p, { recursive: true, force: true });
}

/** Direct children of this process whose command name is `comm` (e.g. `pg_dump`). */
export async function childPids(comm: string): Promise<number[]> {
  const out: number[] = [];
  for (const d of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = await fs.readFile(`/proc/${d}/stat`, 'utf8');
      const m = /^\d+ \((.*)\) \S+ (\d+)/.exec(stat);
      if (m && m[1] === comm && Number(m[2]) === process.pid) out.push(Number(d));
    } catch {
      // gone
    }
  }
  return out;
}

export async function cmdline(pid: number): Promise<string> {
  return (await fs.readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').join(' ');
}

export async function environ(pid: number): Promise<string[]> {
  return (await fs.readFile(`/proc/${pid}/environ`, 'utf8')).split('\0');
}
