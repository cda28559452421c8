import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createArca, localDir, type ArcaEvents, type Source } from '@arca/core';
import { describeWithService } from '@arca/core/test-kit';
import { email } from '@arca/notify-email';

const USER = 'backups@example.com';
const APP_PASSWORD = 'abcd efgh ijkl mnop'; // the shape of a Gmail app password

interface Captured {
  raw: string;
  from: string;
  rcptTo: string[];
  secure: boolean;
  user?: string;
}

/** A real SMTP listener on a free loopback port; AUTH checks USER / APP_PASSWORD. */
async function startSmtp(tls: { key: Buffer; cert: Buffer }, extra: Partial<SMTPServerOptions> = {}) {
  const mails: Captured[] = [];
  const waiters: Array<() => void> = [];
  const server = new SMTPServer({
    ...tls,
    logger: false,
    authMethods: ['PLAIN', 'LOGIN'],
    onAuth(auth, _session, cb) {
      if (auth.username === USER && auth.password === APP_PASSWORD) cb(null, { user: auth.username });
      else cb(Object.assign(new Error('5.7.8 Username and Password not accepted'), { responseCode: 535 }));
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        mails.push({
          raw: Buffer.concat(chunks).toString('utf8'),
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          rcptTo: session.envelope.rcptTo.map((r) => r.address),
          secure: session.secure,
          user: session.user as string | undefined,
        });
        for (const w of waiters.splice(0)) w();
        cb();
      });
    },
    ...extra,
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.server.address() as AddressInfo).port;
  afterAll(() => new Promise<void>((r) => server.close(() => r())));
  return {
    port,
    mails,
    async next(n: number) {
      while (mails.length < n) await new Promise<void>((r) => waiters.push(r));
      return mails[n - 1]!;
    },
  };
}

/** Decode a quoted-printable body part (soft line breaks and =XX escapes). */
const qp = (s: string) => Buffer.from(s.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1').toString('utf8');

function parts(raw: string): { headers: string; text: string; html: string } {
  const [headers] = raw.split(/\r?\n\r?\n/, 1);
  const boundary = /boundary="?([^";\r\n]+)"?/.exec(raw)![1]!;
  const sections = raw.split(`--${boundary}`).slice(1, -1);
  const body = (type: string) => {
    const sec = sections.find((p) => p.includes(`Content-Type: ${type}`))!;
    const content = sec.split(/\r?\n\r?\n/).slice(1).join('\n\n');
    return /quoted-printable/i.test(sec) ? qp(content) : /base64/i.test(sec) ? Buffer.from(content, 'base64').toString('utf8') : content;
  };
  return { headers: headers!, text: body('text/plain'), html: body('text/html') };
}

const failing = (message: string): Source => ({
  kind: 'failing',
  describe: () => ({ kind: 'failing' }),
  async dump() {
    async function* stream(): AsyncGenerator<Uint8Array> {
      yield new Uint8Array(10);
      throw new Error(message);
    }
    return { filename: 'db.bin', stream: stream(), meta: async () => ({}) };
  },
});

let tls: { key: Buffer; cert: Buffer };
let workDir: string;

await describeWithService(
  'email() through a real SMTP listener (smtp-server, STARTTLS and TLS with a generated certificate)',
  async () => {
    try {
      execFileSync('openssl', ['version'], { stdio: 'ignore' });
      return undefined;
    } catch {
      return 'the openssl CLI is needed to make a test certificate (apt-get install openssl)';
    }
  },
  () => {
    beforeAll(async () => {
      workDir = await fs.mkdtemp(path.join(os.tmpdir(), 'arca-mail-'));
      execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-keyout', path.join(workDir, 'key.pem'), '-out', path.join(workDir, 'cert.pem')], { stdio: 'ignore' });
      tls = { key: await fs.readFile(path.join(workDir, 'key.pem')), cert: await fs.readFile(path.join(workDir, 'cert.pem')) };
    });
    afterAll(() => fs.rm(workDir, { recursive: true, force: true }));

    it('STARTTLS + AUTH (Gmail-style 587 setup): several recipients get the run summary in text and HTML; the password never leaks', async () => {
      const smtp = await startSmtp(tls);
      const arca = createArca({
        destinations: { nas: localDir({ path: path.join(workDir, 'nas') }) },
        jobs: { gestionale: { sources: { db: failing('pg_dump: error: connection to server on socket failed') }, destinations: ['nas'] } },
        notifiers: [email({ smtp: { host: '127.0.0.1', port: smtp.port, auth: { user: USER, pass: APP_PASSWORD }, tls: { ca: tls.cert } }, from: 'Arca <backups@example.com>', to: 'ops@example.com, dba@example.com', cc: ['boss@example.com'], subjectPrefix: '[gestionale]' })],
      });
      const events: unknown[] = [];
      arca.on('error', (e) => events.push(e));
      const run = await arca.run('gestionale', { actor: 'cron' });
      expect(run.status).toBe('failed');
      const mail = await smtp.next(1);
      expect(mail.secure).toBe(true); // upgraded with STARTTLS before AUTH
      expect(mail.user).toBe(USER);
      expect(mail.from).toBe('backups@example.com');
      expect(mail.rcptTo).toEqual(['ops@example.com', 'dba@example.com', 'boss@example.com']);
      const { headers, text, html } = parts(mail.raw);
      expect(headers).toMatch(/^Subject: \[gestionale\] Backup failed: gestionale$/m);
      expect(headers).toMatch(/^To: ops@example.com, dba@example.com$/m);
      expect(headers).toMatch(/^X-Arca-Event: run:done$/m);
      expect(text).toContain('Backup failed: gestionale');
      expect(text).toMatch(/^Job\s+gestionale$/m);
      expect(text).toMatch(/^Status\s+failed$/m);
      expect(text).toMatch(/^Duration\s+\d+ ms$/m);
      expect(text).toMatch(/^Destination nas\s+failed/m);
      expect(text).toContain('pg_dump: error: connection to server on socket failed');
      expect(html).toContain('<th align="left" style="padding:2px 12px 2px 0;vertical-align:top">Job</th><td style="padding:2px 0">gestionale</td>');
      expect(events).toEqual([]);
      expect(mail.raw).not.toContain(APP_PASSWORD);
      expect(JSON.stringify(await arca.history())).not.toContain(APP_PASSWORD);
    });

    it('implicit TLS (465-style): secure: true delivers; successes are mailed only when asked for', async () => {
      const smtp = await startSmtp(tls, { secure: true });
      const src: Source = { kind: 'tiny', describe: () => ({}), dump: async () => ({ filename: 'a.bin', stream: (async function* () { yield new Uint8Array(100); })(), meta: async () => ({}) }) };
      const arca = createArca({
        destinations: { nas: localDir({ path: path.join(workDir, 'nas2') }) },
        jobs: { app: { sources: { a: src }, destinations: ['nas'] } },
        notifiers: [
          email({ name: 'all', smtp: { host: '127.0.0.1', port: smtp.port, secure: true, auth: { user: USER, pass: APP_PASSWORD }, tls: { ca: tls.cert } }, from: USER, to: ['ops@example.com'], on: ['success', 'failure'] }),
          email({ name: 'default', smtp: { host: '127.0.0.1', port: smtp.port, secure: true, auth: { user: USER, pass: APP_PASSWORD }, tls: { ca: tls.cert } }, from: USER, to: ['quiet@example.com'] }),
        ],
      });
      expect((await arca.run('app')).status).toBe('completed');
      const mail = await smtp.next(1);
      expect(smtp.mails).toHaveLength(1);
      expect(mail.rcptTo).toEqual(['ops@example.com']);
      expect(parts(mail.raw).headers).toMatch(/^Subject: \[Arca\] Backup completed: app$/m);
      expect(parts(mail.raw).text).toMatch(/^Size\s+\d+ B$/m);
    });

    it('a wrong password or a server without STARTTLS fails the notification, never the run, and never shows the password', async () => {
      const smtp = await startSmtp(tls);
      const plain = await startSmtp(tls, { disabledCommands: ['STARTTLS'], allowInsecureAuth: true });
      const arca = createArca({
        destinations: { nas: localDir({ path: path.join(workDir, 'nas3') }) },
        jobs: { j: { sources: { db: failing('boom') }, destinations: ['nas'] } },
        notifiers: [
          email({ name: 'wrong', smtp: { host: '127.0.0.1', port: smtp.port, auth: { user: USER, pass: 'wrong app password' }, tls: { ca: tls.cert } }, from: USER, to: 'ops@example.com' }),
          email({ name: 'cleartext', smtp: { host: '127.0.0.1', port: plain.port, auth: { user: USER, pass: APP_PASSWORD } }, from: USER, to: 'ops@example.com' }),
          email({ name: 'untrusted', smtp: { host: '127.0.0.1', port: smtp.port, auth: { user: USER, pass: APP_PASSWORD } }, from: USER, to: 'ops@example.com' }),
        ],
      });
      const errors: Array<ArcaEvents['error']> = [];
      arca.on('error', (e) => errors.push(e));
      expect((await arca.run('j')).status).toBe('failed');
      const by = Object.fromEntries(errors.map((e) => [e.context, e.error]));
      expect(by['notifier wrong']).toMatchObject({ code: 'NOTIFIER_FAILED', message: expect.stringMatching(/^E-mail notifier wrong: login refused by 127\.0\.0\.1:\d+ \(server said: 535 .*app password/) });
      expect(by['notifier cleartext']).toMatchObject({ code: 'NOTIFIER_FAILED' });
      expect(by['notifier untrusted']).toMatchObject({ code: 'NOTIFIER_FAILED', message: expect.stringMatching(/certificate/i) });
      expect(smtp.mails).toHaveLength(0);
      expect(plain.mails).toHaveLength(0);
      const dump = JSON.stringify(errors);
      expect(dump).not.toContain(APP_PASSWORD);
      expect(dump).not.toContain('wrong app password');
    });

    it('health alerts are mailed (default filter) with the problems listed', async () => {
      const smtp = await startSmtp(tls);
      const arca = createArca({
        destinations: { nas: localDir({ path: path.join(workDir, 'nas4') }) },
        jobs: { db: { sources: { db: failing('x') }, destinations: ['nas'], health: { maxAge: '26h' } } },
        notifiers: [email({ smtp: { host: '127.0.0.1', port: smtp.port, auth: { user: USER, pass: APP_PASSWORD }, tls: { ca: tls.cert } }, from: USER, to: 'ops@example.com' })],
      });
      expect((await arca.health()).healthy).toBe(false);
      const { headers, text } = parts((await smtp.next(1)).raw);
      expect(headers).toMatch(/^Subject: \[Arca\] Backups unhealthy: db$/m);
      expect(text).toContain('- Job db has no completed backup yet (health.maxAge 26h)');
    });
  },
);

it('bad options are CONFIG_INVALID, without echoing the password', () => {
  const smtp = { host: 'smtp.gmail.com', port: 587, auth: { user: USER, pass: 'secret-app-pass' } };
  expect(() => email({ smtp, from: USER, to: 'not an address' })).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
  expect(() => email({ smtp, from: USER, to: [] })).toThrow(/at least one recipient/);
  expect(() => email({ smtp, from: 'nobody', to: USER })).toThrow(/from/);
  try {
    email({ smtp: { ...smtp, port: 99999 }, from: USER, to: USER });
    expect.unreachable();
  } catch (e) {
    expect((e as Error).message).not.toContain('secret-app-pass');
  }
});
