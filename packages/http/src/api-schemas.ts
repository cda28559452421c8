import { BACKUP_ID_RE, NAME_RE } from '@arca/core';
import { z } from 'zod';
/** A stored file name from a manifest: no `/`, no `..`, no control characters. */
export const FILE_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$/;

// The patterns are core's own, so the API can never disagree with it (and OpenAPI shows them).
const name = (what: string) => z.string().regex(NAME_RE, `a ${what} name: 1–64 letters, digits, "_", "-" or ".", starting with a letter or digit`);
export const JobName = name('job');
export const BackupId = z.string().regex(BACKUP_ID_RE, 'a backup id like 20261122T020000123Z-7f3a9c');
export const FileName = z.string().regex(FILE_RE, 'a stored file name from the manifest, like db.sqlite.gz');
export const RunId = z.string().uuid();

const csv = (item: z.ZodString) =>
  z
    .string()
    .transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean))
    .pipe(z.array(item).max(64));

export const JobParams = z.object({ job: JobName });
export const BackupParams = z.object({ job: JobName, id: BackupId });
export const FileParams = z.object({ job: JobName, id: BackupId, file: FileName });
export const RunParams = z.object({ runId: RunId });

export const RunBody = z.object({ tags: z.array(name('tag')).max(16).optional() }).strict();
export const VerifyBody = z
  .object({
    level: z.enum(['exists', 'checksum', 'restore']).default('checksum').describe('exists: stat and size; checksum: re-read and sha256 every byte; restore: checksum, then a restore drill of each artifact whose source supports it'),
    destinations: z.array(name('destination')).max(64).optional(),
  })
  .strict();
export const DeleteQuery = z.object({ destinations: csv(name('destination')).optional().describe('comma-separated; default: every destination') }).strict();
export const RetryBody = z.object({}).strict();
export const DownloadQuery = z.object({ from: name('destination').optional().describe('read from this destination (default: the first holder)') }).strict();
export const PruneBody = z.object({ leftoverGrace: z.string().max(32).optional().describe("incomplete leftovers younger than this are kept: '24h' (default), '2d'") }).strict();
export const HistoryQuery = z
  .object({
    job: JobName.optional(),
    type: z.enum(['run', 'audit']).optional(),
    status: z.enum(['completed', 'partial', 'failed', 'skipped']).optional(),
    since: z.union([z.iso.datetime({ offset: true }), z.iso.date()]).optional().describe('entries at or after this time (a date means 00:00 UTC)'),
    until: z.union([z.iso.datetime({ offset: true }), z.iso.date()]).optional().describe('entries strictly before this time'),
    offset: z.coerce.number().int().min(0).max(1_000_000).default(0),
    limit: z.coerce.number().int().min(1).max(1000).default(50),
  })
  .strict();
export const HistoryCsvQuery = HistoryQuery.extend({ limit: z.coerce.number().int().min(1).max(100_000).default(10_000) });
export const RestoreBody = z
  .object({
    confirm: z.string().max(100).describe('the job name, typed by the user to confirm'),
    artifact: name('source').optional().describe("restore only this source's artifact"),
    from: name('destination').optional(),
    target: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/).default('in-place').describe("'in-place' (the job's own sources, safety backup first) or a key of restoreTargets"),
    overwrite: z.boolean().default(true).describe('replace a non-empty target'),
  })
  .strict();
export const Empty = z.object({}).strict();

/** Format zod issues into one user-facing sentence. */
export function formatIssues(error: z.ZodError, where: string): string {
  return `Invalid ${where}: ${error.issues.map((i) => `${i.path.join('.') || '(value)'}: ${i.message}`).join('; ')}.`;
}
