import type { RunLogEntry } from './contracts.js';

/** The columns of {@link runLogToCsv}, in order. */
export const RUN_LOG_CSV_COLUMNS = [
  'type',
  'job',
  'status',
  'backupId',
  'trigger',
  'actor',
  'scheduledFor',
  'startedAt',
  'finishedAt',
  'durationMs',
  'bytes',
  'destinations',
  'errorCode',
  'error',
] as const;

function cell(v: unknown): string {
  let s = v === undefined || v === null ? '' : String(v);
  // A cell starting like a formula would run in a spreadsheet (CSV injection): make it text.
  if (/^[=+\-@\t\r]/.test(s) && !/^-?\d+(\.\d+)?$/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/**
 * History entries as CSV (RFC 4180, CRLF line ends, a header row; `RUN_LOG_CSV_COLUMNS`) for
 * the UI's export and spreadsheets. Run entries give their status; audit entries give their
 * action in `status` (`restore`, `delete`, ...) and `ok`/`failed` in `errorCode` when they
 * failed. `destinations` is `name:status` pairs joined by `;`. Cells that a spreadsheet would
 * evaluate as formulas are prefixed with `'`.
 */
export function runLogToCsv(entries: readonly RunLogEntry[]): string {
  const rows: unknown[][] = [[...RUN_LOG_CSV_COLUMNS]];
  for (const e of entries) {
    if (e.type === 'run') {
      rows.push([
        'run',
        e.job,
        e.status,
        e.backupId,
        e.trigger.type,
        e.trigger.actor,
        e.trigger.scheduledFor,
        e.startedAt,
        e.finishedAt,
        e.durationMs,
        e.bytes,
        e.destinations.map((d) => `${d.name}:${d.status}`).join(';'),
        e.error?.code,
        e.error?.message,
      ]);
    } else {
      rows.push(['audit', e.job, e.action, e.backupId, '', e.actor, '', e.at, e.at, '', '', '', e.ok ? '' : (e.error?.code ?? 'FAILED'), e.error?.message]);
    }
  }
  return rows.map((r) => r.map(cell).join(',')).join('\r\n') + '\r\n';
}
