import type { EventSummary } from '@arca/core';

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const COLOR = { ok: '#2eb67d', warning: '#b7791f', critical: '#c53030' } as const;

/** Plain-text and HTML bodies of one notification (every value HTML-escaped). */
export function renderEmail(s: EventSummary): { text: string; html: string } {
  const width = Math.max(0, ...s.fields.map((f) => f.label.length));
  const text = [s.title, '', ...(s.text ? [s.text, ''] : []), ...s.fields.map((f) => `${f.label.padEnd(width)}  ${f.value}`), '', '-- sent by Arca'].join('\n');
  const rows = s.fields.map((f) => `<tr><th align="left" style="padding:2px 12px 2px 0;vertical-align:top">${esc(f.label)}</th><td style="padding:2px 0">${esc(f.value)}</td></tr>`).join('');
  const html = [
    '<!doctype html><html><body style="font-family:sans-serif;font-size:14px">',
    `<h2 style="color:${COLOR[s.severity]};margin:0 0 8px">${esc(s.title)}</h2>`,
    s.text ? `<p style="white-space:pre-wrap">${esc(s.text)}</p>` : '',
    rows ? `<table cellspacing="0">${rows}</table>` : '',
    '<p style="color:#888;font-size:12px">sent by Arca</p>',
    '</body></html>',
  ].join('');
  return { text, html };
}
