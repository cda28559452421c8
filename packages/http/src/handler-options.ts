import type { Source } from '@arca/core';

/**
 * What a request wants to do. Hosts map their roles onto these (developer = `read`;
 * sysadmin = `read` `run` `verify` `download` `prune`; DBA = everything plus `restore`).
 * - `read`: dashboard pages, job/backup lists, history and CSV export, health, destination checks.
 * - `run`: start a backup now; copy a backup to the destinations that miss it (retryFailed).
 * - `verify`: re-check stored copies. `download`: stream a stored artifact.
 * - `delete`: delete a backup (from all or some destinations). `prune`: retention preview and apply.
 * - `restore`: restore a backup (also needs `allowRestore: true`). `config`: see the jobs' configuration.
 */
export type ArcaAction = 'read' | 'run' | 'verify' | 'download' | 'delete' | 'prune' | 'restore' | 'config';

export const ACTIONS: readonly ArcaAction[] = ['read', 'run', 'verify', 'download', 'delete', 'prune', 'restore', 'config'];

/** What the request addresses, for fine-grained decisions (a role limited to one job, say). */
export interface AuthorizeContext {
  /** The route's operation id (`listBackups`, `runJob`, `page:job`...). */
  operation: string;
  /** True for dashboard pages and form posts, false for the JSON API. */
  ui: boolean;
  job?: string;
  backupId?: string;
  file?: string;
  /**
   * True when the dashboard only asks whether to show a button for `action` (the request is
   * a page view). A `Response` returned then is ignored (the button is hidden).
   */
  probe?: boolean;
}

/**
 * Allowed: `true`, or an object (its `actor` is recorded in the manifest and the audit log).
 * Anything else denies (403): `false`, `undefined`, a thrown error. A `Response` is sent as
 * it is (a 401 with `WWW-Authenticate`, a redirect to the host's login page).
 */
export type AuthorizeResult = boolean | { actor?: string } | Response | undefined | null;

/** A place a backup can be restored into instead of the job's own sources (a scratch database). */
export interface RestoreTarget {
  /** Shown in the restore wizard ("Scratch database on db-test"). */
  label: string;
  /** A Source (one artifact) or a map from the job's source name to a Source. */
  into: Source | Record<string, Source>;
  /** Only offered for these jobs (default: all). */
  jobs?: string[];
}

export interface ArcaHandlerOptions {
  /** Where the routes are mounted, e.g. `'/admin/backups'` (no trailing slash; `''` for the root). */
  basePath: string;
  /**
   * Required. Called for every request with the action it needs; fails closed (see
   * {@link AuthorizeResult}). Runs after the host's own authentication, so it usually reads
   * the host's session from the request (cookie, header).
   */
  authorize(request: Request, action: ArcaAction, context: AuthorizeContext): AuthorizeResult | Promise<AuthorizeResult>;
  /** CSRF settings; protection itself cannot be turned off. */
  csrf?: CsrfOptions;
  /** Offer restore (UI wizard and API). Default false: restore is refused with 403 whatever `authorize` says. */
  allowRestore?: boolean;
  /** Extra restore targets besides "in place" (the job's own sources, with a safety backup first). */
  restoreTargets?: Record<string, RestoreTarget>;
  /** Page title prefix (default `'Backups'`). */
  title?: string;
  /** Called with every unexpected error (500) and its correlation id. Default: `console.error` of the redacted message. */
  onError?(error: unknown, info: { correlationId: string; method: string; path: string }): void;
}

export interface CsrfOptions {
  /**
   * Secret that signs the double-submit token. Default: random per handler (tokens then stop
   * working after a restart, and each instance behind a load balancer needs the same secret).
   */
  secret?: string;
  /** Origins allowed besides the request's own (`https://admin.example.com`). */
  trustedOrigins?: string[];
  /** Cookie name (default `arca_csrf`). */
  cookieName?: string;
  /** Mark the cookie `Secure` (default: when the request URL is https). */
  secure?: boolean;
}
