/**
 * The contracts every adapter implements. They are the spec: an adapter that follows the
 * MUSTs below passes the contract test kit (`@arca/core/test-kit`) and works with the
 * pipeline, verify, restore, the CLI and the admin routes.
 *
 * Optional methods are capabilities: the runner, UI and CLI hide what an adapter cannot do.
 * Every async operation takes an `AbortSignal`; on abort it MUST stop its work (child
 * processes, sockets, uploads), leave nothing half-visible, and reject with an
 * `ArcaError` whose code is `ABORTED`.
 */
import type { SerializedError } from './errors.js';

export type Bytes = Uint8Array;

/**
 * Optional capability of a byte stream whose producer can reuse its buffers (`readFileBytes`,
 * a local destination's `get`, the backup pipeline's 1 MiB chunks). A consumer that is
 * completely done with a chunk it received (written to the kernel or disk, hashed, copied)
 * MAY hand that exact object back with `recycle(chunk)`; the producer may then overwrite it.
 *
 * A consumer MUST NOT recycle a chunk that it, or anything it passed the chunk to (a socket
 * still sending it, a queue, a part buffer), may still read; nor recycle a chunk twice.
 * Recycling is only ever an optimisation: a consumer that never calls it is correct, and
 * producers ignore chunks that are not theirs. Pass-through wrappers forward it
 * (`forwardRecycle`); the destination contract suite checks that a destination's `put`
 * never recycles too early.
 */
export interface Recyclable {
  recycle(chunk: Bytes): void;
}

export interface SignalOptions {
  signal?: AbortSignal;
}

/** The result of a pre-flight check. `ok: false` MUST come with a human-readable `problems` entry. */
export interface CheckReport {
  ok: boolean;
  /** What is wrong, each phrased as what to do ("Create /backups or fix its permissions"). */
  problems: string[];
  /** Non-secret facts: versions, free bytes, size estimates. */
  facts: Record<string, unknown>;
}

// ---------------------------------------------------------------- sources

export interface DumpOptions extends SignalOptions {}

/** One artifact produced by a source. */
export interface Dump {
  /**
   * A file name suggestion with the natural extension (`db.sqlite`, `uploads.tar`,
   * `db.pgdump`). The artifact is stored as `<source name><extension><codec extensions>`.
   */
  filename: string;
  /**
   * The dump bytes. MUST throw (never end normally) when the dump failed or was cut short,
   * so a truncated dump is never committed. MUST release every resource (temp files, child
   * processes, connections) when iteration ends, throws, or is stopped early.
   */
  stream: AsyncIterable<Bytes>;
  /** Expected size in bytes if known beforehand (progress ETA only; never trusted for integrity). */
  expectedBytes?: number;
  /** Facts known after the stream ended (server version, binlog position, counts). No secrets. */
  meta(): Promise<Record<string, unknown>>;
}

export interface RestoreOptions extends SignalOptions {
  /** Replace a target that already has data. Without it a non-empty target MUST be refused with `TARGET_NOT_EMPTY`. */
  overwrite?: boolean;
}

export interface Source {
  /** Short adapter kind, e.g. `'postgres'`, `'directory'`. */
  readonly kind: string;
  /** Safe to log and show: MUST NOT contain passwords, tokens or keys. */
  describe(): Record<string, unknown>;
  /** Pre-flight: can the source be dumped now (file exists, server reachable, tools found)? MUST NOT throw for an unhealthy source: report it. */
  check?(o?: SignalOptions): Promise<CheckReport>;
  /**
   * Start a dump. MUST reject with `SOURCE_FAILED` (or `NOT_FOUND`) when the source cannot be
   * read at all; failures after the first byte surface by the stream throwing.
   */
  dump(o?: DumpOptions): Promise<Dump>;
  /**
   * Restore an artifact (already decoded: decompressed and decrypted) into this source's
   * target. MUST consume `input` to its end and MUST NOT change the existing target before
   * the input ended without error (write to a temporary place, check it, then swap), so a
   * corrupt or truncated artifact leaves the target as it was. Rejects with `RESTORE_FAILED`,
   * `TARGET_NOT_EMPTY`, `CHECKSUM_MISMATCH` (passed through from the input) or `ABORTED`.
   */
  restore?(input: AsyncIterable<Bytes>, o?: RestoreOptions): Promise<void>;
  /**
   * Capability: a restore drill, run by `verify({ level: 'restore' })`. Load the artifact
   * (already decoded and checksum-verified while it streams) into a scratch place (a new,
   * uniquely named database), check it against `expected` (the artifact's `meta` recorded
   * at dump time: tables, row counts...), then remove the scratch place. MUST NOT touch this
   * source's own data, MUST remove the scratch place also on failure or abort, and MUST
   * consume `input` to its end. A failed restore or check resolves `ok: false` with
   * `problems`; reject only when the drill could not run at all (`ABORTED`, an error from
   * `input`, no access to the server).
   */
  drill?(input: AsyncIterable<Bytes>, o: DrillRunOptions): Promise<DrillOutcome>;
}

export interface DrillRunOptions extends SignalOptions {
  /** The artifact's `meta` from the manifest (what `dump.meta()` recorded at backup time). */
  expected?: Record<string, unknown>;
}

/** What a drill found. Adapters add their own details (tables, rows, timings). */
export interface DrillOutcome {
  ok: boolean;
  /** Why `ok` is false, one sentence each, for a person (empty when ok). */
  problems: string[];
}

// ---------------------------------------------------------------- destinations

export interface ObjectInfo {
  /** Key relative to the destination's root, `/`-separated. */
  key: string;
  /** Size in bytes. */
  size: number;
  modifiedAt?: Date;
}

export interface ListOptions extends SignalOptions {
  /**
   * Also list this destination's own temporary files (an interrupted put's temp file, left
   * behind when the process was killed), so `prune` and `deleteBackup` can remove them.
   * Only Arca's core passes it; destinations without temp files ignore it.
   */
  includeTemp?: boolean;
}

export interface PutOptions extends SignalOptions {
  /** Size if known beforehand (lets S3 choose a part size); the stream is still the truth. */
  expectedBytes?: number;
  contentType?: string;
}

export interface PutResult {
  key: string;
  /** Bytes stored, counted by the destination. */
  bytes: number;
}

export interface Destination {
  /** Name given in the config (`local`, `nas`); set by the factory from its options. */
  readonly name: string;
  readonly kind: string;
  /** Safe to log and show: MUST NOT contain credentials. */
  describe(): Record<string, unknown>;
  /**
   * Store `data` under `key`, atomically: until `put` resolves, readers MUST see either the
   * previous object or nothing. If `data` throws, the signal aborts or the write fails, the
   * partial object MUST be removed and `put` MUST reject (`ABORTED`, `DEST_FULL`,
   * `DEST_PERMISSION`, `DEST_UNREACHABLE`, or the error `data` threw). Keys MUST be validated
   * with `assertValidKey` (rejecting with `KEY_INVALID`). An existing object is replaced.
   * When `data` is {@link Recyclable}, `put` MAY give back each chunk once it is done with it.
   */
  put(key: string, data: AsyncIterable<Bytes>, o?: PutOptions): Promise<PutResult>;
  /** Stream an object. MUST reject with `NOT_FOUND` if it does not exist. */
  get(key: string, o?: SignalOptions): Promise<AsyncIterable<Bytes>>;
  /**
   * Every object whose key starts with `prefix` (`''` for all), paginating internally.
   * Order is not specified. MUST NOT list in-progress temporary objects, unless asked with
   * `includeTemp`.
   */
  list(prefix: string, o?: ListOptions): AsyncIterable<ObjectInfo>;
  /** Size and time of one object, or `undefined` when it does not exist. */
  stat(key: string, o?: SignalOptions): Promise<ObjectInfo | undefined>;
  /** Delete objects; keys that do not exist are ignored. MUST reject if any existing key could not be deleted. */
  delete(keys: string[], o?: SignalOptions): Promise<void>;
  /** Pre-flight: reachable, root exists, writable, free space. MUST NOT throw for an unhealthy destination: report it. */
  check?(o?: SignalOptions): Promise<CheckReport>;
}

// ---------------------------------------------------------------- codecs

/**
 * A reversible stream transform: compression or encryption. Codecs are applied in the
 * order configured (compress, then encrypt) and undone in reverse. The manifest records
 * `name`s, so a codec MUST keep its name stable and its output readable by standard tools.
 */
export interface Codec {
  /** Stable identifier written to manifests: `'gzip'`, `'zstd'`, `'age'`. */
  readonly name: string;
  /** Appended to artifact file names: `'.gz'`, `'.zst'`, `'.age'`. */
  readonly extension: string;
  /** Non-secret facts for the manifest (level, recipients' public keys). */
  describe(): Record<string, unknown>;
  /** A transform from plain to encoded bytes. MUST throw on failure, never emit truncated output silently. */
  encode(input: AsyncIterable<Bytes>, o?: SignalOptions): AsyncIterable<Bytes>;
  /** The inverse transform. MUST throw `CORRUPT_ARTIFACT` (or `CODEC_FAILED`) on malformed or truncated input. */
  decode(input: AsyncIterable<Bytes>, o?: SignalOptions): AsyncIterable<Bytes>;
}

// ---------------------------------------------------------------- runs, catalog, events

export type TriggerType = 'manual' | 'schedule' | 'api' | 'cli' | 'safety' | 'retry';

export interface Trigger {
  type: TriggerType;
  /** Who asked for it (user name, API client); free text, shown in history. */
  actor?: string;
  /** For `schedule` triggers: the ISO time the run was due (before jitter, a concurrency wait or a catch-up). */
  scheduledFor?: string;
}

export type RunStatus = 'running' | 'completed' | 'partial' | 'failed';
export type DestinationStatus = 'pending' | 'uploading' | 'completed' | 'failed';

export interface ArtifactRecord {
  /** Source name in the job (`db`, `uploads`). */
  source: string;
  /** Source kind (`sqlite`, `directory`). */
  kind: string;
  /** Stored file name, relative to the backup folder: `db.sqlite.gz`. */
  file: string;
  /** Stored bytes (after codecs). */
  bytes: number;
  /** sha256 (hex) of the stored bytes. */
  sha256: string;
  /** Bytes and sha256 before codecs: what the source produced. */
  contentBytes: number;
  contentSha256: string;
  /** Codec names in the order they were applied. */
  encoding: string[];
  /** `source.describe()`: no secrets. */
  describe: Record<string, unknown>;
  /** `dump.meta()`: no secrets. */
  meta: Record<string, unknown>;
}

export interface DestinationResult {
  name: string;
  kind: string;
  status: DestinationStatus;
  /** Priority from the job (lower first). */
  priority: number;
  /** Stored bytes written to this destination (all artifacts plus manifest). */
  bytes: number;
  /** sha256 of the manifest.json written here; it commits every artifact's sha256. */
  sha256?: string;
  startedAt?: string;
  finishedAt?: string;
  durationMs?: number;
  error?: SerializedError;
}

export interface RunResult {
  runId: string;
  job: string;
  backupId: string;
  status: Exclude<RunStatus, 'running'>;
  trigger: Trigger;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  /** Stored bytes of all artifacts (one copy). */
  bytes: number;
  artifacts: ArtifactRecord[];
  destinations: DestinationResult[];
  error?: SerializedError;
}

/** A backup as the catalog sees it: rebuilt from the manifests on the destinations. */
export interface BackupSummary {
  job: string;
  id: string;
  startedAt: string;
  finishedAt: string;
  /** Stored bytes of all artifacts (one copy). */
  bytes: number;
  trigger: Trigger;
  tags: string[];
  artifacts: ArtifactRecord[];
  /** Destinations holding a valid manifest for this backup, in job priority order. */
  destinations: string[];
}

/** Progress of a run, emitted at most a few times per second. */
export interface ProgressEvent {
  runId: string;
  job: string;
  backupId: string;
  phase: 'dump' | 'manifest' | 'copy';
  /** Source name of the artifact being processed. */
  artifact?: string;
  /** Bytes read from the source so far for this artifact. */
  bytes: number;
  /** Bytes per second since the artifact started. */
  rate: number;
  /** Seconds left, when the source gave an expected size. */
  eta?: number;
  expectedBytes?: number;
}

export interface ArcaEvents {
  'run:start': { runId: string; job: string; backupId: string; trigger: Trigger; startedAt: string };
  progress: ProgressEvent;
  'destination:done': { runId: string; job: string; backupId: string; destination: DestinationResult };
  'run:done': RunResult;
  /** A scheduled run did not happen because the job was still running (here, or elsewhere through the `Lock`). */
  'run:skipped': SkippedRun;
  /** Something failed outside a run's own result (a notifier, an invalid manifest in the catalog). */
  error: { error: SerializedError; context: string; job?: string; backupId?: string };
  /** Audit trail: restore, delete, verify, retry, prune. */
  audit: AuditEntry;
  /** A job became unhealthy (emitted once per change by `health()` / `watchHealth()`, not on every check). */
  'health:unhealthy': JobHealth;
  /** A job that was unhealthy is healthy again (once per change). */
  'health:recovered': JobHealth;
}

export type ArcaEventName = keyof ArcaEvents;
export type ArcaEvent = { [K in ArcaEventName]: { type: K; data: ArcaEvents[K] } }[ArcaEventName];

export interface AuditEntry {
  /** `prune`: one entry per backup or leftover deleted by `prune()`, plus a summary entry (empty `backupId`) per prune run. */
  action: 'restore' | 'delete' | 'verify' | 'retry' | 'prune';
  job: string;
  backupId: string;
  at: string;
  actor?: string;
  ok: boolean;
  details?: Record<string, unknown>;
  error?: SerializedError;
}

// ---------------------------------------------------------------- notifiers, run log, locks, retention

export interface Notifier {
  readonly name: string;
  /** Which events this notifier wants; default: failed/partial runs and errors. */
  wants?(event: ArcaEvent): boolean;
  /** Deliver one event. A rejection is reported as an `error` event and never fails a backup. */
  notify(event: ArcaEvent, o?: SignalOptions): Promise<void>;
}

/**
 * A scheduled run that was skipped: no backup was made (`backupId` is `''`, no artifacts or
 * destinations). `error.code` says why: `LOCKED` when the previous run of the job was still
 * going, in this process or (through the `Lock`) in another one.
 */
export interface SkippedRun extends Omit<RunResult, 'status' | 'error'> {
  status: 'skipped';
  error: SerializedError;
}

export type RunLogEntry = ({ type: 'run' } & RunResult) | ({ type: 'run' } & SkippedRun) | ({ type: 'audit' } & AuditEntry);

/** Status of a run entry in the history: a finished run's status, or `'skipped'`. */
export type RunEntryStatus = RunResult['status'] | SkippedRun['status'];

/** History filters. Every filter narrows; entries come newest first. */
export interface RunLogQuery extends SignalOptions {
  job?: string;
  /** `'run'` entries (finished and skipped runs) or `'audit'` entries only. */
  type?: RunLogEntry['type'];
  /** Only runs with this status (or one of these); audit entries never match. */
  status?: RunEntryStatus | RunEntryStatus[];
  /** Entries at or after this time (a run's `startedAt`, an audit entry's `at`). */
  since?: Date | string;
  /** Entries strictly before this time. */
  until?: Date | string;
  /** Skip this many matching entries first (paging). */
  offset?: number;
  /** At most this many entries. */
  limit?: number;
}

export interface RunLog {
  /** Append one entry durably. A failure is reported as an `error` event, never fails the run. */
  append(entry: RunLogEntry, o?: SignalOptions): Promise<void>;
  /**
   * Matching entries, newest first. MUST apply every filter of the query (`queryRunLog` in
   * core does it for an array of entries), including `offset` before `limit`.
   */
  read(o?: RunLogQuery): Promise<RunLogEntry[]>;
}

export interface LockHandle {
  /**
   * Give the lock back. MUST be idempotent and MUST NOT reject for a lock that was already
   * lost (connection gone, taken over as stale): there is nothing left to give back.
   */
  release(): Promise<void>;
  /**
   * Capability: aborts (with a `LOCKED` reason) when the lock is lost while held (its file
   * removed or taken over as stale, the database session holding it gone). Core aborts the
   * run with it, so a run never goes on unprotected next to another holder's run.
   */
  readonly lost?: AbortSignal;
}

/**
 * Mutual exclusion between runs of the same job across processes (and hosts, if the backend
 * is shared). Core calls `acquire('arca:job:<job>')` before a run and `release()` after it,
 * in a `finally`; a run that finds the lock held is refused with `LOCKED` (a scheduled one is
 * recorded as skipped).
 */
export interface Lock {
  /**
   * Take the lock for `key` (an opaque string: escape or hash it for the backend). MUST NOT
   * wait for a holder: resolve `undefined` at once when a live holder has it, including
   * another acquisition in this same process. MUST reject (never resolve `undefined`) when
   * the backend fails (unreachable database, unwritable folder), so a run fails visibly
   * instead of running unprotected or being skipped silently; MUST reject with `ABORTED`
   * when `signal` aborts. A holder that dies (crash, `kill -9`, lost connection) MUST NOT
   * block the key forever: the backend frees it by itself (session end) or treats it as
   * stale after a bounded time.
   */
  acquire(key: string, o?: SignalOptions): Promise<LockHandle | undefined>;
}

export interface RetentionDecision {
  id: string;
  action: 'keep' | 'delete';
  reasons: string[];
}

export interface RetentionPolicy {
  /**
   * Decide for every backup given (newest first), one decision per backup, each with at
   * least one human-readable reason (shown by `prune --dry-run`). MUST keep the newest one.
   * Pure: no I/O, deterministic for the same input and `now`, so pruning twice deletes
   * nothing more. Prune also enforces the newest-is-kept rule itself.
   */
  plan(backups: BackupSummary[], now: Date): RetentionDecision[];
  /** One line saying what the policy keeps ("keep 7 daily, 4 weekly backups"), for dry-runs and the UI. */
  describe?(): string;
}

// ---------------------------------------------------------------- health

/** The health of one job, as `arca.health()` reports it and `health:*` events carry it. */
export interface JobHealth {
  job: string;
  /** True when `problems` is empty. */
  healthy: boolean;
  checkedAt: string;
  /** What is wrong, each phrased with what to do. */
  problems: string[];
  /** The newest completed backup (valid manifest), if any. */
  newest?: { id: string; startedAt: string; ageMs: number };
  /** `health.maxAge` of the job in milliseconds (the RPO), if set. */
  maxAgeMs?: number;
  /** Bytes under the job's folder on each destination (backups and leftovers); missing when it could not be listed. */
  storage: Array<{ destination: string; bytes?: number; backups?: number; error?: SerializedError }>;
  maxStorageBytes?: number;
  /** The newest verify of this job found in the run log. */
  lastVerify?: { backupId: string; at: string; ok: boolean };
  /** The newest finished (not skipped) run of this job found in the run log. */
  lastRun?: { runId: string; backupId: string; status: RunResult['status']; finishedAt: string };
  /** Destinations that failed in the last run or cannot be listed now. */
  failedDestinations: string[];
}
