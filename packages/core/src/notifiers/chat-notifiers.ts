import { z } from 'zod';
import type { ArcaEvent, Notifier } from '../contracts.js';
import { ArcaError, ErrorCodes, registerSecret } from '../errors.js';
import { parseOptions } from '../options.js';
import { BaseNotifierSchema, type EventSummary, HttpUrl, type NotifyOn, clip, postBody, summarizeEvent, wantsFor } from './notifier-support.js';

/** Options every chat notifier shares. */
export interface ChatNotifierOptions {
  /** Which events to send (default: failure, partial, unhealthy, recovered). */
  on?: NotifyOn[];
  /** Give up after this long (default 10 000 ms). */
  timeoutMs?: number;
  /** Name in error events (default: the service name). */
  name?: string;
}

const COLORS = { ok: 0x2eb67d, warning: 0xecb22e, critical: 0xe01e5a } as const;

function chatNotifier(name: string, o: ChatNotifierOptions, send: (s: EventSummary, event: ArcaEvent, signal?: AbortSignal) => Promise<void>): Notifier {
  return {
    name: o.name ?? name,
    wants: wantsFor(o.on),
    notify: (event, n = {}) => send(summarizeEvent(event), event, n.signal),
  };
}

const post = (what: string, url: string, payload: unknown, o: ChatNotifierOptions, signal?: AbortSignal) =>
  postBody(what, url, JSON.stringify(payload), { timeoutMs: o.timeoutMs ?? 10_000, ...(signal ? { signal } : {}) });

// ---------------------------------------------------------------- Slack

export interface SlackOptions extends ChatNotifierOptions {
  /** An incoming-webhook URL (`https://hooks.slack.com/services/…`). A secret: never shown in errors. */
  webhookUrl: string;
}

/** Slack escapes: `&`, `<`, `>` are markup in mrkdwn (`<!channel>` would ping everyone). */
const slackEscape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** The Slack incoming-webhook payload for a summary: Block Kit header, text and fields, plus a `text` fallback for notifications. */
export function slackPayload(s: EventSummary): Record<string, unknown> {
  const blocks: unknown[] = [{ type: 'header', text: { type: 'plain_text', text: clip(s.title, 150), emoji: true } }];
  if (s.text) blocks.push({ type: 'section', text: { type: 'mrkdwn', text: clip(slackEscape(s.text), 3000) } });
  for (let i = 0; i < s.fields.length && i < 40; i += 10) {
    blocks.push({ type: 'section', fields: s.fields.slice(i, i + 10).map((f) => ({ type: 'mrkdwn', text: clip(`*${slackEscape(f.label)}*\n${slackEscape(f.value)}`, 2000) })) });
  }
  return { text: clip(`${s.title}${s.text ? ` — ${s.text.split('\n')[0]}` : ''}`, 3000), blocks };
}

/** Post to a Slack channel through an incoming webhook. Rejects with `NOTIFIER_FAILED`; never fails a backup. */
export function slack(options: SlackOptions): Notifier {
  const o = parseOptions(z.object({ webhookUrl: HttpUrl, ...BaseNotifierSchema }).strict(), options, 'slack()');
  registerSecret(o.webhookUrl);
  return chatNotifier('slack', o, async (s, _e, signal) => {
    await post(`Slack notifier ${o.name ?? 'slack'}`, o.webhookUrl, slackPayload(s), o, signal);
  });
}

// ---------------------------------------------------------------- Discord

export interface DiscordOptions extends ChatNotifierOptions {
  /** A channel webhook URL (`https://discord.com/api/webhooks/<id>/<token>`). A secret. */
  webhookUrl: string;
  /** Override the webhook's display name. */
  username?: string;
}

/** The Discord execute-webhook payload: one embed (title ≤ 256, description ≤ 4096, ≤ 25 fields of ≤ 1024), mentions disabled. */
export function discordPayload(s: EventSummary, username?: string): Record<string, unknown> {
  return {
    ...(username ? { username } : {}),
    allowed_mentions: { parse: [] },
    embeds: [
      {
        title: clip(s.title, 256),
        ...(s.text ? { description: clip(s.text, 4000) } : {}),
        color: COLORS[s.severity],
        fields: s.fields.slice(0, 25).map((f) => ({ name: clip(f.label, 256), value: clip(f.value || '-', 1024), inline: f.value.length <= 40 })),
        timestamp: new Date().toISOString(),
      },
    ],
  };
}

/** Post to a Discord channel through a webhook. Rejects with `NOTIFIER_FAILED`; never fails a backup. */
export function discord(options: DiscordOptions): Notifier {
  const o = parseOptions(z.object({ webhookUrl: HttpUrl, username: z.string().min(1).max(80).optional(), ...BaseNotifierSchema }).strict(), options, 'discord()');
  registerSecret(o.webhookUrl);
  return chatNotifier('discord', o, async (s, _e, signal) => {
    await post(`Discord notifier ${o.name ?? 'discord'}`, o.webhookUrl, discordPayload(s, o.username), o, signal);
  });
}

// ---------------------------------------------------------------- Microsoft Teams

export interface TeamsOptions extends ChatNotifierOptions {
  /** A Teams Workflows ("Post to a channel when a webhook request is received") URL. A secret. */
  webhookUrl: string;
}

/** The Teams message: an Adaptive Card 1.4 (title, text, FactSet) in a `message` attachment, what Workflows webhooks accept. */
export function teamsPayload(s: EventSummary): Record<string, unknown> {
  const color = s.severity === 'ok' ? 'Good' : s.severity === 'warning' ? 'Warning' : 'Attention';
  const body: unknown[] = [{ type: 'TextBlock', text: s.title, weight: 'Bolder', size: 'Medium', color, wrap: true }];
  if (s.text) body.push({ type: 'TextBlock', text: s.text, wrap: true });
  if (s.fields.length) body.push({ type: 'FactSet', facts: s.fields.map((f) => ({ title: f.label, value: f.value })) });
  return {
    type: 'message',
    attachments: [
      {
        contentType: 'application/vnd.microsoft.card.adaptive',
        contentUrl: null,
        content: { $schema: 'http://adaptivecards.io/schemas/adaptive-card.json', type: 'AdaptiveCard', version: '1.4', body },
      },
    ],
  };
}

/** Post an Adaptive Card to a Teams channel through a Workflows webhook. Rejects with `NOTIFIER_FAILED`; never fails a backup. */
export function teams(options: TeamsOptions): Notifier {
  const o = parseOptions(z.object({ webhookUrl: HttpUrl, ...BaseNotifierSchema }).strict(), options, 'teams()');
  registerSecret(o.webhookUrl);
  return chatNotifier('teams', o, async (s, _e, signal) => {
    await post(`Teams notifier ${o.name ?? 'teams'}`, o.webhookUrl, teamsPayload(s), o, signal);
  });
}

// ---------------------------------------------------------------- Telegram

export interface TelegramOptions extends ChatNotifierOptions {
  /** The bot token from @BotFather (`123456:ABC…`). A secret: never shown in errors or events. */
  botToken: string;
  /** Chat id (`-1001234567890`) or channel username (`@ops_alerts`). */
  chatId: string | number;
  /** Bot API base URL (default `https://api.telegram.org`; for a local Bot API server or tests). */
  apiUrl?: string;
}

const htmlEscape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** The `sendMessage` body: HTML parse mode (only `<b>` is used, everything else escaped), ≤ 4096 characters, no link previews. */
export function telegramPayload(s: EventSummary, chatId: string | number): Record<string, unknown> {
  const lines = [`<b>${htmlEscape(s.title)}</b>`];
  if (s.text) lines.push(htmlEscape(s.text));
  for (const f of s.fields) lines.push(`<b>${htmlEscape(f.label)}:</b> ${htmlEscape(f.value)}`);
  let text = lines.join('\n');
  if (text.length > 4096) text = `${text.slice(0, 4000).replace(/<[^>]*$/, '').replace(/&[a-z]*$/, '')}\n…`;
  return { chat_id: chatId, text, parse_mode: 'HTML', link_preview_options: { is_disabled: true } };
}

/** Send a message through a Telegram bot. Rejects with `NOTIFIER_FAILED` (bad token, unknown chat, unreachable); never fails a backup. */
export function telegram(options: TelegramOptions): Notifier {
  const o = parseOptions(
    z.object({ botToken: z.string().regex(/^\d+:[\w-]{20,}$/, 'must be a bot token like 123456:ABC-DEF… (from @BotFather)'), chatId: z.union([z.string().min(1), z.number().int()]), apiUrl: HttpUrl.optional(), ...BaseNotifierSchema }).strict(),
    options,
    'telegram()',
  );
  registerSecret(o.botToken);
  const base = (o.apiUrl ?? 'https://api.telegram.org').replace(/\/+$/, '');
  const what = `Telegram notifier ${o.name ?? 'telegram'}`;
  return chatNotifier('telegram', o, async (s, _e, signal) => {
    const res = await post(what, `${base}/bot${o.botToken}/sendMessage`, telegramPayload(s, o.chatId), o, signal);
    const answer = (await res.json().catch(() => ({}))) as { ok?: boolean; description?: string };
    if (answer.ok !== true) throw new ArcaError(ErrorCodes.NOTIFIER_FAILED, `${what}: the Bot API refused the message (${answer.description ?? 'no description'}).`);
  });
}
