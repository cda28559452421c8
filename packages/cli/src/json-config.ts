/**
 * The JSON config (`arca.config.json`): the same shape as `createArca()`'s config, with every
 * adapter written as `{ "use": "<factory or package>", ...its options }`. Comments (`//`,
 * `/* *\/`) and trailing commas are allowed, as in tsconfig.json. Secrets stay out of the file:
 * `"${ENV_VAR}"` (anywhere in a string, `${VAR:-default}` for a default, `$${` for a literal
 * `${`) and `{ "file": "path" }` (the file's content without its final newline) are replaced
 * before the adapters are built, and every value they bring is registered as a secret so it is
 * redacted from all output.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { parse as parseJsonc, printParseErrorCode, type ParseError } from 'jsonc-parser';
import { z } from 'zod';
import { redact, registerSecret, type ArcaConfig } from '@arca/core';
import { ConfigProblem, type AdapterResolver } from './adapter-resolve.js';

/** Where a problem is, as a dotted path (`jobs.nightly.sources.db.password`). */
const at = (p: Array<string | number>) => (p.length ? p.map(String).join('.') : '(root)');

const ENV_REF = /\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/**
 * Replace `${VAR}` and `{ "file": ... }` references in a parsed JSON tree. Problems (unset
 * variables, unreadable files) are collected, never thrown, so all of them are reported at once.
 */
export function substituteSecrets(value: unknown, baseDir: string, problems: string[], env: NodeJS.ProcessEnv = process.env, where: Array<string | number> = []): unknown {
  if (typeof value === 'string') {
    if (!value.includes('${')) return value;
    return value.replace(ENV_REF, (m, name: string | undefined, fallback: string | undefined) => {
      if (m === '$${') return '${';
      const v = env[name!];
      if (v === undefined || v === '') {
        if (fallback !== undefined) return fallback;
        problems.push(`${at(where)}: environment variable ${name} is not set (export it, or put it in the service's environment / the task's settings)`);
        return m; // left as written, so the adapter's own checks do not report the same problem again
      }
      registerSecret(v);
      return v;
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => substituteSecrets(v, baseDir, problems, env, [...where, i]));
  if (value && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    const keys = Object.keys(o);
    if (keys.length === 1 && keys[0] === 'file' && typeof o.file === 'string') {
      const file = path.resolve(baseDir, substituteSecrets(o.file, baseDir, problems, env, [...where, 'file']) as string);
      try {
        const text = readFileSync(file, 'utf8').replace(/\r?\n$/, '');
        registerSecret(text);
        // Each line too (an age identity file holds the key on one line between comments).
        for (const line of text.split(/\r?\n/)) if (!line.trim().startsWith('#')) registerSecret(line.trim());
        return text;
      } catch (e) {
        problems.push(`${at(where)}: cannot read secret file ${file} (${(e as NodeJS.ErrnoException).code ?? 'error'}); check the path and that the user running arca can read it`);
        return '';
      }
    }
    return Object.fromEntries(keys.map((k) => [k, substituteSecrets(o[k], baseDir, problems, env, [...where, k])]));
  }
  return value;
}

const Adapter = z.looseObject({ use: z.string().min(1, 'name a factory or package, e.g. "localDir" or "@arca/dest-sftp"') });
type AdapterSpec = z.infer<typeof Adapter>;
type PolicySpec = AdapterSpec & { policies?: PolicySpec[] };
const Policy: z.ZodType<PolicySpec> = z.lazy(() => z.looseObject({ use: z.string().min(1), policies: z.array(Policy).optional() }));
const name = z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'use 1–64 letters, digits, "_", "-" or "."');

const JobJson = z
  .object({
    sources: z.record(name, Adapter).refine((r) => Object.keys(r).length > 0, 'a job needs at least one source'),
    destinations: z.array(z.union([z.string(), z.object({ name: z.string(), priority: z.number().int().optional(), retention: Policy.optional() }).strict()])).min(1, 'a job needs at least one destination'),
    compress: z.union([z.enum(['gzip', 'zstd', 'none']), Adapter]).optional(),
    encrypt: Adapter.optional(),
    fanOut: z.enum(['parallel', 'sequential']).optional(),
    schedule: z.string().optional(),
    timezone: z.string().optional(),
    catchUp: z.enum(['none', 'once']).optional(),
    jitterMs: z.number().int().nonnegative().optional(),
    retention: Policy.optional(),
    health: z.object({ maxAge: z.string().optional(), maxStorageBytes: z.number().positive().optional() }).strict().optional(),
    tags: z.array(z.string()).optional(),
    stallTimeoutMs: z.number().int().nonnegative().optional(),
  })
  .strict();

const ConfigJson = z
  .object({
    $schema: z.string().optional(),
    destinations: z.record(name, Adapter),
    jobs: z.record(name, JobJson),
    notifiers: z.array(Adapter).optional(),
    runLog: z.union([z.string().min(1), z.looseObject({ use: z.literal('jsonlRunLog'), path: z.string().min(1) }), Adapter]).optional(),
    codecs: z.array(Adapter).optional(),
    lock: Adapter.optional(),
    scheduler: z.object({ concurrency: z.number().int().min(1).optional() }).strict().optional(),
  })
  .strict();

/** Parse JSON with comments; syntax errors become problems with line and column. */
export function parseJsonText(text: string, file: string, problems: string[]): unknown {
  const errors: ParseError[] = [];
  const value = parseJsonc(text, errors, { allowTrailingComma: true, disallowComments: false });
  for (const e of errors) {
    const before = text.slice(0, e.offset);
    const line = before.split('\n').length;
    const col = e.offset - before.lastIndexOf('\n');
    problems.push(`${path.basename(file)}:${line}:${col}: JSON syntax error (${printParseErrorCode(e.error)})`);
  }
  return value;
}

/** Build one adapter: `factory(options)`; `allOf`/`anyOf` take their `policies`, `jsonlRunLog` its `path`. */
export async function buildAdapter(spec: PolicySpec, where: string, resolver: AdapterResolver): Promise<unknown> {
  const { use, ...options } = spec;
  const factory = await resolver.factory(use, where);
  try {
    if (use === 'allOf' || use === 'anyOf') {
      const { policies = [], ...rest } = options as { policies?: PolicySpec[] };
      if (Object.keys(rest).length) throw new ConfigProblem(where, `${use} takes only "policies"`);
      const built = await Promise.all(policies.map((p, i) => buildAdapter(p, `${where}.policies.${i}`, resolver)));
      return factory(...built);
    }
    if (use === 'jsonlRunLog') {
      const { path: file, ...rest } = options as { path?: string };
      return factory(file, rest);
    }
    return factory(options);
  } catch (e) {
    if (e instanceof ConfigProblem) throw e;
    throw factoryProblem(where, e);
  }
}

/**
 * A factory's rejection as a problem. Factories throw CONFIG_INVALID listing their own
 * problems ("Invalid options for sftp:\n  - port: ..."): each becomes `<where>.port: ...`.
 */
function factoryProblem(where: string, e: unknown): ConfigProblem {
  const msg = redact((e as Error)?.message ?? String(e));
  const lines = msg.split('\n');
  if (/^Invalid options for /.test(lines[0] ?? '') && lines.length > 1) {
    const items = lines.slice(1).map((l) => l.replace(/^\s*-\s*/, ''));
    return new ConfigProblem(where, items.map((i) => (/^[\w.]+: /.test(i) && !i.startsWith('(root)') ? `${where}.${i}` : `${where}: ${i}`)).join('\n'), true);
  }
  return new ConfigProblem(where, msg);
}

/**
 * Load a JSON config: parse, substitute secrets, validate the shape (every problem listed by
 * path), then build every adapter (every factory's problems listed too). Throws
 * `ConfigErrors` with all problems when anything is wrong.
 */
export async function loadJsonConfig(file: string, resolver: AdapterResolver): Promise<ArcaConfig> {
  const problems: string[] = [];
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigErrors(file, [`cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? 'error'})`]);
  }
  const raw = parseJsonText(text, file, problems);
  if (problems.length) throw new ConfigErrors(file, problems);
  const value = substituteSecrets(raw, path.dirname(file), problems);
  const r = ConfigJson.safeParse(value);
  if (!r.success) {
    for (const i of r.error.issues) {
      // zod reports a bad record key as "Invalid key in record": say why the key is bad instead.
      const nested = (i as { issues?: Array<{ message: string }> }).issues;
      problems.push(`${at(i.path as Array<string | number>)}: ${i.code === 'invalid_key' && nested?.length ? nested.map((n) => n.message).join('; ') : i.message}`);
    }
    throw new ConfigErrors(file, problems);
  }
  const cfg = r.data;
  const tasks: Array<Promise<void>> = [];
  const build = <T>(spec: PolicySpec, where: string, set: (v: T) => void) => {
    tasks.push(
      buildAdapter(spec, where, resolver).then(
        (v) => set(v as T),
        (e: unknown) => void problems.push(...(e instanceof ConfigProblem ? e.lines() : factoryProblem(where, e).lines())),
      ),
    );
  };
  // Keys are created up front, in config order: builds finish in any order, and the order of
  // sources (artifacts) and destinations must stay the one written.
  const slots = (r: Record<string, unknown>) => Object.fromEntries(Object.keys(r).map((k) => [k, undefined]));
  const out: Record<string, unknown> = { destinations: slots(cfg.destinations), jobs: {} };
  for (const [n, spec] of Object.entries(cfg.destinations)) build(spec, `destinations.${n}`, (v) => ((out.destinations as Record<string, unknown>)[n] = v));
  for (const [jn, job] of Object.entries(cfg.jobs)) {
    const j: Record<string, unknown> = { ...job, sources: slots(job.sources) };
    (out.jobs as Record<string, unknown>)[jn] = j;
    for (const [sn, spec] of Object.entries(job.sources)) build(spec, `jobs.${jn}.sources.${sn}`, (v) => ((j.sources as Record<string, unknown>)[sn] = v));
    if (job.compress && typeof job.compress === 'object') build(job.compress, `jobs.${jn}.compress`, (v) => (j.compress = v));
    if (job.encrypt) build(job.encrypt, `jobs.${jn}.encrypt`, (v) => (j.encrypt = v));
    if (job.retention) build(job.retention, `jobs.${jn}.retention`, (v) => (j.retention = v));
    j.destinations = job.destinations.map((ref, i) => {
      if (typeof ref === 'string' || !ref.retention) return ref;
      const copy: Record<string, unknown> = { ...ref };
      build(ref.retention, `jobs.${jn}.destinations.${i}.retention`, (v) => (copy.retention = v));
      return copy;
    });
  }
  if (cfg.notifiers) {
    const list: unknown[] = [];
    out.notifiers = list;
    cfg.notifiers.forEach((spec, i) => build(spec, `notifiers.${i}`, (v) => (list[i] = v)));
  }
  if (cfg.codecs) {
    const list: unknown[] = [];
    out.codecs = list;
    cfg.codecs.forEach((spec, i) => build(spec, `codecs.${i}`, (v) => (list[i] = v)));
  }
  if (typeof cfg.runLog === 'string') build({ use: 'jsonlRunLog', path: cfg.runLog }, 'runLog', (v) => (out.runLog = v));
  else if (cfg.runLog) build(cfg.runLog, 'runLog', (v) => (out.runLog = v));
  if (cfg.lock) build(cfg.lock, 'lock', (v) => (out.lock = v));
  if (cfg.scheduler) out.scheduler = cfg.scheduler;
  await Promise.all(tasks);
  if (problems.length) throw new ConfigErrors(file, problems);
  return out as unknown as ArcaConfig;
}

/** An invalid config: every problem, each `path: what is wrong and what to do`. Exit code 2. */
export class ConfigErrors extends Error {
  readonly code = 'CONFIG_INVALID';
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(`Invalid config ${file}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigErrors';
  }
}
