import type pg from 'pg';
import { ident } from './postgres-connection.js';

/** User tables and sequences, excluding system schemas and extension-owned objects. */
const USER_RELATIONS = `
  SELECT n.nspname AS schema, c.relname AS name, c.relkind AS kind
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'p', 'S')
    AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
    AND n.nspname NOT LIKE 'pg_temp%' AND n.nspname NOT LIKE 'pg_toast_temp%'
    AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
  ORDER BY 1, 2`;

export interface RelationName {
  schema: string;
  name: string;
  kind: 'table' | 'sequence';
}

export async function listRelations(client: pg.Client): Promise<RelationName[]> {
  const r = await client.query<{ schema: string; name: string; kind: string }>(USER_RELATIONS);
  return r.rows.map((x) => ({ schema: x.schema, name: x.name, kind: x.kind === 'S' ? 'sequence' : 'table' }));
}

/**
 * A psql/pg_dump name pattern (`public.orders`, `audit_*`, `"MixedCase"`) as a matcher.
 * Unquoted parts are folded to lower case; `*` and `?` are wildcards; a pattern without a
 * schema matches the name in any schema (pg_dump matches only schemas on the search_path,
 * so this is a superset; it is used only to decide which tables' row counts to record).
 */
export function patternMatcher(pattern: string): (schema: string, name: string) => boolean {
  const parts: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i]!;
    if (ch === '"') {
      if (quoted && pattern[i + 1] === '"') {
        cur += '"';
        i++;
      } else quoted = !quoted;
    } else if (ch === '.' && !quoted) {
      parts.push(cur);
      cur = '';
    } else if (!quoted && (ch === '*' || ch === '?')) cur += ch === '*' ? '\u0000' : '\u0001';
    else cur += quoted ? ch : ch.toLowerCase();
  }
  parts.push(cur);
  const toRe = (p: string) => new RegExp('^' + p.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\u0000/g, '.*').replace(/\u0001/g, '.') + '$');
  const nameRe = toRe(parts[parts.length - 1]!);
  const schemaRe = parts.length >= 2 ? toRe(parts[parts.length - 2]!) : undefined;
  return (schema, name) => nameRe.test(name) && (!schemaRe || schemaRe.test(schema));
}

export interface DataFilter {
  includeTables?: string[] | undefined;
  excludeTables?: string[] | undefined;
  excludeTableData?: string[] | undefined;
  includeSchemas?: string[] | undefined;
  excludeSchemas?: string[] | undefined;
  schemaOnly?: boolean | undefined;
}

/** Would pg_dump with these filters dump this table's rows? */
export function dumpsDataOf(f: DataFilter): (schema: string, name: string) => boolean {
  if (f.schemaOnly) return () => false;
  const any = (ps: string[] | undefined) => (ps?.length ? ps.map(patternMatcher) : undefined);
  const inc = any(f.includeTables);
  const exc = any(f.excludeTables);
  const excData = any(f.excludeTableData);
  const incS = f.includeSchemas?.map((p) => patternMatcher(p));
  const excS = f.excludeSchemas?.map((p) => patternMatcher(p));
  return (schema, name) => {
    if (incS && !incS.some((m) => m('', schema))) return false;
    if (excS?.some((m) => m('', schema))) return false;
    if (inc && !inc.some((m) => m(schema, name))) return false;
    if (exc?.some((m) => m(schema, name))) return false;
    if (excData?.some((m) => m(schema, name))) return false;
    return true;
  };
}

export interface DataStats {
  /** `schema.table` → exact row count. */
  tables: Record<string, number>;
  /** `schema.sequence` → value the next `nextval` builds on (`last_value`, or null if never called). */
  sequences: Record<string, number | null>;
}

const MAX_RELATIONS = 5000;

/**
 * Exact row counts and sequence positions, read in the caller's transaction (the dump's
 * exported snapshot, so they describe exactly what pg_dump wrote). At most 5000 relations
 * are recorded to keep manifests small; `truncated` says so.
 */
export async function collectStats(client: pg.Client, keep: (schema: string, name: string) => boolean): Promise<DataStats & { truncated: boolean }> {
  const rels = (await listRelations(client)).filter((r) => r.kind === 'sequence' || keep(r.schema, r.name));
  const truncated = rels.length > MAX_RELATIONS;
  const out: DataStats & { truncated: boolean } = { tables: {}, sequences: {}, truncated };
  for (const r of rels.slice(0, MAX_RELATIONS)) {
    const q = `${ident(r.schema)}.${ident(r.name)}`;
    if (r.kind === 'table') {
      const res = await client.query<{ n: string }>(`SELECT count(*)::text AS n FROM ONLY ${q}`);
      out.tables[`${r.schema}.${r.name}`] = Number(res.rows[0]!.n);
    } else {
      const res = await client.query<{ v: string; called: boolean }>(`SELECT last_value::text AS v, is_called AS called FROM ${q}`);
      out.sequences[`${r.schema}.${r.name}`] = res.rows[0]!.called ? Number(res.rows[0]!.v) : null;
    }
  }
  return out;
}

/**
 * An order-independent fingerprint of every user table (row count + sum of 64-bit row
 * hashes) and sequence; two databases with equal fingerprints hold the same rows.
 * Used by the tests and by restore drills that want more than counts.
 */
export async function fingerprint(client: pg.Client): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const r of await listRelations(client)) {
    const q = `${ident(r.schema)}.${ident(r.name)}`;
    if (r.kind === 'table') {
      const res = await client.query<{ n: string; h: string | null }>(`SELECT count(*)::text AS n, sum(hashtextextended(t::text, 0)::numeric)::text AS h FROM ONLY ${q} t`);
      out[`${r.schema}.${r.name}`] = `${res.rows[0]!.n}:${res.rows[0]!.h ?? '0'}`;
    } else {
      const res = await client.query<{ v: string; called: boolean }>(`SELECT last_value::text AS v, is_called AS called FROM ${q}`);
      out[`${r.schema}.${r.name}`] = `seq:${res.rows[0]!.v}:${res.rows[0]!.called}`;
    }
  }
  return out;
}

/** Number of user objects (tables, views, sequences, functions, types) — 0 means the database is empty. */
export async function userObjectCount(client: pg.Client): Promise<number> {
  const r = await client.query<{ n: string }>(`
    SELECT (
      (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') AND n.nspname NOT LIKE 'pg_temp%' AND n.nspname NOT LIKE 'pg_toast_temp%')
      + (SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname NOT IN ('pg_catalog', 'information_schema'))
      + (SELECT count(*) FROM pg_namespace WHERE nspname NOT IN ('pg_catalog', 'information_schema', 'public', 'pg_toast') AND nspname NOT LIKE 'pg_temp%' AND nspname NOT LIKE 'pg_toast_temp%')
      + (SELECT count(*) FROM pg_largeobject_metadata)
    )::text AS n`);
  return Number(r.rows[0]!.n);
}
