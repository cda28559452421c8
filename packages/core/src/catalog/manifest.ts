import { z } from 'zod';
import { ArcaError, ErrorCodes } from '../errors.js';
import { isValidBackupId, isValidName } from '../keys.js';
import { formatIssues } from '../options.js';

/** Version 1 of the manifest written as `<job>/<backupId>/manifest.json`, last, as the commit record. */
export const MANIFEST_SCHEMA = 'arca.manifest/v1';

const sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'must be a hex sha256');
const isoDate = z.string().refine((s) => !Number.isNaN(Date.parse(s)), 'must be an ISO date');
const fileName = z
  .string()
  .min(1)
  .max(255)
  .refine((s) => !s.includes('/') && !s.includes('\\') && !s.includes('\0') && s !== '..' && s !== '.' && s !== 'manifest.json', 'must be a plain file name');

export const ArtifactSchema = z.object({
  source: z.string().refine(isValidName, 'invalid source name'),
  kind: z.string().min(1),
  file: fileName,
  bytes: z.number().int().nonnegative(),
  sha256,
  contentBytes: z.number().int().nonnegative(),
  contentSha256: sha256,
  encoding: z.array(z.string().min(1)),
  describe: z.record(z.string(), z.unknown()),
  meta: z.record(z.string(), z.unknown()),
});

export const ManifestSchema = z.object({
  schema: z.literal(MANIFEST_SCHEMA),
  job: z.string().refine(isValidName, 'invalid job name'),
  backupId: z.string().refine(isValidBackupId, 'invalid backup id'),
  runId: z.string().min(1),
  startedAt: isoDate,
  finishedAt: isoDate,
  arca: z.object({ version: z.string() }),
  host: z.object({ hostname: z.string(), platform: z.string(), node: z.string() }),
  trigger: z.object({
    type: z.enum(['manual', 'schedule', 'api', 'cli', 'safety', 'retry']),
    actor: z.string().optional(),
  }),
  tags: z.array(z.string()),
  codecs: z.array(z.object({ name: z.string(), describe: z.record(z.string(), z.unknown()) })),
  artifacts: z.array(ArtifactSchema).min(1),
});

export type Manifest = z.infer<typeof ManifestSchema>;

/** Parse and validate manifest bytes; throws `CORRUPT_ARTIFACT` saying what is wrong. */
export function parseManifest(bytes: Uint8Array, where: string): Manifest {
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (e) {
    throw new ArcaError(ErrorCodes.CORRUPT_ARTIFACT, `${where} is not valid JSON (truncated or corrupted): this backup cannot be trusted from this destination.`, { cause: e });
  }
  const r = ManifestSchema.safeParse(json);
  if (!r.success) {
    throw new ArcaError(ErrorCodes.CORRUPT_ARTIFACT, `${where} is not a valid Arca manifest:\n${formatIssues(r.error)}`);
  }
  const files = new Set<string>();
  for (const a of r.data.artifacts) {
    if (files.has(a.file)) throw new ArcaError(ErrorCodes.CORRUPT_ARTIFACT, `${where} lists ${a.file} twice.`);
    files.add(a.file);
  }
  return r.data;
}

export function serializeManifest(m: Manifest): Uint8Array {
  return Buffer.from(JSON.stringify(m, null, 2) + '\n', 'utf8');
}
