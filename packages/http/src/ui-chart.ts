import { html, bytes, duration, when, type SafeHtml } from './ui-html.js';

interface Point {
  id: string;
  startedAt: string;
  bytes: number;
  durationMs: number;
}

const W = 760;
const H = 190;
const PAD = { l: 58, r: 58, t: 14, b: 34 };

/**
 * Size (bars, left axis) and duration (line, right axis) of the last backups, oldest first,
 * as inline SVG with presentation attributes only (no script, no inline style: CSP-clean).
 */
export function trendChart(points: Point[]): SafeHtml {
  const pts = points.slice(0, 40).reverse();
  if (pts.length < 2) return html`<p class="muted">The trend chart appears after two backups.</p>`;
  const maxB = Math.max(1, ...pts.map((p) => p.bytes));
  const maxD = Math.max(1, ...pts.map((p) => p.durationMs));
  const iw = W - PAD.l - PAD.r;
  const ih = H - PAD.t - PAD.b;
  const step = iw / pts.length;
  const bw = Math.max(2, Math.min(28, step * 0.6));
  const x = (i: number) => PAD.l + step * i + step / 2;
  const yB = (v: number) => PAD.t + ih - (v / maxB) * ih;
  const yD = (v: number) => PAD.t + ih - (v / maxD) * ih;
  const line = pts.map((p, i) => `${i ? 'L' : 'M'}${x(i).toFixed(1)},${yD(p.durationMs).toFixed(1)}`).join(' ');
  const ticks = [0, 0.5, 1];
  const labelEvery = Math.ceil(pts.length / 6);
  const span = Date.parse(pts[pts.length - 1]!.startedAt) - Date.parse(pts[0]!.startedAt);
  const label = (iso: string) => (span < 2 * 86_400_000 ? iso.slice(11, 16) : iso.slice(5, 10));
  return html`<svg viewBox="0 0 ${W} ${H}" role="img" aria-labelledby="chart-title chart-desc" xmlns="http://www.w3.org/2000/svg">
<title id="chart-title">Backup size and duration, last ${pts.length} backups</title>
<desc id="chart-desc">Bars: stored size (left axis, up to ${bytes(maxB)}). Line: duration (right axis, up to ${duration(maxD)}).</desc>
${ticks.map((t) => html`<line x1="${PAD.l}" x2="${W - PAD.r}" y1="${PAD.t + ih - t * ih}" y2="${PAD.t + ih - t * ih}" stroke="#e5e8ee" stroke-width="1"/><text x="${PAD.l - 6}" y="${PAD.t + ih - t * ih + 4}" text-anchor="end" font-size="10" fill="#5d6778">${bytes(maxB * t)}</text><text x="${W - PAD.r + 6}" y="${PAD.t + ih - t * ih + 4}" font-size="10" fill="#c2410c">${duration(maxD * t)}</text>`)}
${pts.map((p, i) => html`<rect x="${(x(i) - bw / 2).toFixed(1)}" y="${yB(p.bytes).toFixed(1)}" width="${bw.toFixed(1)}" height="${(PAD.t + ih - yB(p.bytes)).toFixed(1)}" fill="#9db7ea" rx="2"><title>${when(p.startedAt)}: ${bytes(p.bytes)}, ${duration(p.durationMs)}</title></rect>`)}
<path d="${line}" fill="none" stroke="#c2410c" stroke-width="2"/>
${pts.map((p, i) => html`<circle cx="${x(i).toFixed(1)}" cy="${yD(p.durationMs).toFixed(1)}" r="2.5" fill="#c2410c"/>`)}
${pts.map((p, i) => (i % labelEvery === 0 ? html`<text x="${x(i).toFixed(1)}" y="${H - 12}" text-anchor="middle" font-size="10" fill="#5d6778">${label(p.startedAt)}</text>` : ''))}
</svg>`;
}
