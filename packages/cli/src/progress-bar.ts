/**
 * The live progress line of `arca backup` on a terminal: artifact, bar (when the source
 * knows its size), bytes, rate and ETA, redrawn on each core `progress` event (at most 4 a
 * second) on stderr. Written by hand rather than with cli-progress: core already computes
 * rate and ETA, the size is often unknown (a pg_dump stream), and one redrawn line is all
 * that is needed; when stderr is not a terminal nothing is drawn and logs stay clean.
 */
import { formatBytes, type Arca, type ProgressEvent } from '@arca/core';
import type { Output } from './output-writer.js';

const WIDTH = 24;
const SPIN = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

export function formatEta(seconds: number): string {
  if (seconds < 60) return `${seconds}s`;
  const m = Math.floor(seconds / 60);
  if (m < 60) return `${m}m${String(seconds % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

/** One progress line for an event (exported for tests and reuse). */
export function progressLine(e: Pick<ProgressEvent, 'job' | 'artifact' | 'phase' | 'bytes' | 'rate' | 'eta' | 'expectedBytes'>, tick = 0): string {
  const what = `${e.job}${e.artifact ? ` ${e.artifact}` : ''}${e.phase === 'dump' ? '' : ` (${e.phase})`}`;
  const rate = `${formatBytes(e.rate)}/s`;
  if (e.expectedBytes && e.expectedBytes > 0) {
    const ratio = Math.min(1, e.bytes / e.expectedBytes);
    const full = Math.round(ratio * WIDTH);
    const bar = `${'█'.repeat(full)}${'░'.repeat(WIDTH - full)}`;
    return `${what} ${bar} ${String(Math.floor(ratio * 100)).padStart(3)}% ${formatBytes(e.bytes)}/${formatBytes(e.expectedBytes)} ${rate}${e.eta !== undefined ? ` ETA ${formatEta(e.eta)}` : ''}`;
  }
  return `${what} ${SPIN[tick % SPIN.length]} ${formatBytes(e.bytes)} ${rate}`;
}

/** Draw progress for the runs of `arca` until the returned function is called. No-op when stderr is not a TTY. */
export function attachProgress(arca: Arca, out: Output): () => void {
  if (!out.progress) return () => {};
  let tick = 0;
  const offs = [
    arca.on('run:start', (e) => out.status(`${e.job} starting ${out.err.dim(e.backupId)}`)),
    arca.on('progress', (e) => out.status(progressLine(e, tick++))),
    arca.on('destination:done', (e) => {
      const d = e.destination;
      out.clearStatus();
      out.note(`  ${d.status === 'completed' ? out.err.green('✓') : out.err.red('✗')} ${d.name} ${formatBytes(d.bytes)}${d.error ? ` ${out.err.red(d.error.code)}: ${d.error.message}` : ''}`);
    }),
    arca.on('run:done', () => out.clearStatus()),
  ];
  return () => {
    for (const off of offs) off();
    out.clearStatus();
  };
}
