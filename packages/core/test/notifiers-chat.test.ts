import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createArca, discord, localDir, slack, teams, telegram, type ArcaEvents } from '@arca/core';
import { flaky, syntheticSource } from './fixtures.js';
import { tempDir } from './helpers.js';
import { startReceiver } from './notifier-receiver.js';

/** A partial run whose failing destination's error carries markup and a very long tail. */
async function partialRun(notifiers: Parameters<typeof createArca>[0]['notifiers']) {
  const dir = await tempDir();
  const arca = createArca({
    destinations: {
      local: localDir({ path: path.join(dir, 'a') }),
      nas: flaky(localDir({ path: path.join(dir, 'b') }), { failPuts: true }),
    },
    jobs: { nightly: { sources: { data: syntheticSource(20_000) }, destinations: ['local', 'nas'] } },
    notifiers,
  });
  const errors: Array<ArcaEvents['error']> = [];
  arca.on('error', (e) => errors.push(e));
  const run = await arca.run('nightly', { actor: 'cron' });
  expect(run.status).toBe('partial');
  return { run, errors };
}

describe('chat notifiers post their documented payloads to a real local receiver', () => {
  it('Slack: incoming-webhook JSON with a text fallback and Block Kit header/section/fields within limits', async () => {
    const rx = await startReceiver();
    await partialRun([slack({ webhookUrl: rx.url('/services/T000/B000/XXXXSECRET') })]);
    const [req] = await rx.waitFor(1);
    expect(req!.url).toBe('/services/T000/B000/XXXXSECRET');
    const p = req!.json as { text: string; blocks: Array<Record<string, any>> };
    expect(p.text).toMatch(/^Backup partially failed: nightly — /);
    expect(p.text).toContain('Failed on nas (DEST_UNREACHABLE: injected: connection reset by peer)');
    expect(p.blocks[0]).toEqual({ type: 'header', text: { type: 'plain_text', text: 'Backup partially failed: nightly', emoji: true } });
    expect(p.blocks[1]).toMatchObject({ type: 'section', text: { type: 'mrkdwn' } });
    const fields = p.blocks.filter((b) => b.fields).flatMap((b) => b.fields as Array<{ type: string; text: string }>);
    for (const b of p.blocks.filter((x) => x.fields)) expect(b.fields.length).toBeLessThanOrEqual(10);
    expect(fields.every((f) => f.type === 'mrkdwn' && f.text.length <= 2000)).toBe(true);
    expect(fields.map((f) => f.text)).toEqual(expect.arrayContaining(['*Job*\nnightly', '*Status*\npartial', '*Trigger*\nmanual by cron', '*Destination nas*\nfailed: injected: connection reset by peer']));
  });

  it('Discord: one embed with title, colour, ≤ 25 fields and mentions disabled', async () => {
    const rx = await startReceiver(() => ({ status: 204 }));
    await partialRun([discord({ webhookUrl: rx.url('/api/webhooks/123/tok-en'), username: 'Arca' })]);
    const [req] = await rx.waitFor(1);
    const p = req!.json as { username: string; allowed_mentions: unknown; embeds: Array<Record<string, any>> };
    expect(p.username).toBe('Arca');
    expect(p.allowed_mentions).toEqual({ parse: [] });
    expect(p.embeds).toHaveLength(1);
    const e = p.embeds[0]!;
    expect(e.title).toBe('Backup partially failed: nightly');
    expect(e.color).toBe(0xecb22e);
    expect(e.fields.length).toBeLessThanOrEqual(25);
    expect(e.fields).toEqual(expect.arrayContaining([{ name: 'Destination nas', value: 'failed: injected: connection reset by peer', inline: false }, { name: 'Job', value: 'nightly', inline: true }]));
    expect(Number.isNaN(Date.parse(e.timestamp))).toBe(false);
  });

  it('Teams: a message with an Adaptive Card attachment (TextBlocks and a FactSet), as Workflows webhooks accept', async () => {
    const rx = await startReceiver(() => ({ status: 202 }));
    await partialRun([teams({ webhookUrl: rx.url('/workflows/abc/triggers/manual/paths/invoke?sig=SIGSECRET') })]);
    const [req] = await rx.waitFor(1);
    const p = req!.json as { type: string; attachments: Array<{ contentType: string; contentUrl: null; content: Record<string, any> }> };
    expect(p.type).toBe('message');
    expect(p.attachments).toHaveLength(1);
    const a = p.attachments[0]!;
    expect(a.contentType).toBe('application/vnd.microsoft.card.adaptive');
    expect(a.contentUrl).toBeNull();
    expect(a.content).toMatchObject({ $schema: 'http://adaptivecards.io/schemas/adaptive-card.json', type: 'AdaptiveCard', version: '1.4' });
    expect(a.content.body[0]).toEqual({ type: 'TextBlock', text: 'Backup partially failed: nightly', weight: 'Bolder', size: 'Medium', color: 'Warning', wrap: true });
    const facts = a.content.body.find((b: { type: string }) => b.type === 'FactSet').facts;
    expect(facts).toEqual(expect.arrayContaining([{ title: 'Job', value: 'nightly' }, { title: 'Status', value: 'partial' }]));
  });

  it('Telegram: sendMessage on /bot<token>/ with HTML escaped; a Bot API refusal is a NOTIFIER_FAILED error without the token', async () => {
    const token = '123456789:AAE-telegram-secret-token_xyz';
    const rx = await startReceiver((r) => (r.url.includes('/sendMessage') && (r.json as { chat_id: unknown }).chat_id === '@ops' ? { status: 200, body: '{"ok":true,"result":{"message_id":1}}' } : { status: 400, body: '{"ok":false,"error_code":400,"description":"Bad Request: chat not found"}' }));
    const { errors } = await partialRun([telegram({ botToken: token, chatId: '@ops', apiUrl: rx.url() }), telegram({ name: 'wrong-chat', botToken: token, chatId: -100999, apiUrl: rx.url() })]);
    await rx.waitFor(2);
    const ok = rx.received.find((r) => (r.json as { chat_id: unknown }).chat_id === '@ops')!;
    expect(ok.url).toBe(`/bot${token}/sendMessage`);
    const p = ok.json as { text: string; parse_mode: string; link_preview_options: unknown };
    expect(p.parse_mode).toBe('HTML');
    expect(p.link_preview_options).toEqual({ is_disabled: true });
    expect(p.text.startsWith('<b>Backup partially failed: nightly</b>\n')).toBe(true);
    expect(p.text).toContain('<b>Destination nas:</b> failed: injected: connection reset by peer');
    expect(p.text.length).toBeLessThanOrEqual(4096);
    const err = errors.find((e) => e.context === 'notifier wrong-chat')!;
    expect(err.error).toMatchObject({ code: 'NOTIFIER_FAILED', message: expect.stringContaining('answered HTTP 400 ({"ok":false,"error_code":400,"description":"Bad Request: chat not found"})') });
    expect(JSON.stringify(errors)).not.toContain('telegram-secret-token');
  });

  it('markup in error messages is escaped (no @channel pings, no HTML injection) and long texts are clipped to each service\'s limits', async () => {
    const slackRx = await startReceiver();
    const tgRx = await startReceiver(() => ({ status: 200, body: '{"ok":true}' }));
    const discordRx = await startReceiver(() => ({ status: 204 }));
    const dir = await tempDir();
    const longMsg = `<!channel> <b>boom</b> & ${'x'.repeat(9000)}`;
    const arca = createArca({
      destinations: { local: localDir({ path: path.join(dir, 'a') }) },
      jobs: { j: { sources: { data: syntheticSource(1000, { failAt: 10, error: new Error(longMsg) }) }, destinations: ['local'] } },
      notifiers: [slack({ webhookUrl: slackRx.url('/s') }), telegram({ botToken: '42:ABCDEFGHIJKLMNOPQRSTUVWXYZ', chatId: 1, apiUrl: tgRx.url() }), discord({ webhookUrl: discordRx.url('/d') })],
    });
    expect((await arca.run('j')).status).toBe('failed');
    const [s] = await slackRx.waitFor(1);
    const section = (s!.json as { blocks: Array<{ text?: { text: string } }> }).blocks[1]!.text!.text;
    expect(section).toContain('&lt;!channel&gt; &lt;b&gt;boom&lt;/b&gt; &amp;');
    expect(section.length).toBeLessThanOrEqual(3000);
    const [t] = await tgRx.waitFor(1);
    const text = (t!.json as { text: string }).text;
    expect(text).toContain('&lt;!channel&gt; &lt;b&gt;boom&lt;/b&gt; &amp;');
    expect(text.length).toBeLessThanOrEqual(4096);
    const [d] = await discordRx.waitFor(1);
    expect((d!.json as { embeds: Array<{ description: string }> }).embeds[0]!.description.length).toBeLessThanOrEqual(4096);
  });

  it('bad options are CONFIG_INVALID', () => {
    expect(() => slack({ webhookUrl: 'hooks.slack.com/services/x' })).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
    expect(() => telegram({ botToken: 'not-a-token', chatId: 1 })).toThrow(/bot token like/);
    expect(() => discord({ webhookUrl: 'http://127.0.0.1/x', on: [] })).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
    expect(() => teams({ webhookUrl: 'http://127.0.0.1/x', extra: 1 } as never)).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
  });
});
