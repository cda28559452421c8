/**
 * The runnable process: the backup schedule (every 4 h), the weekly restore drill (Sunday
 * 04:00), the RPO watch (every 15 min) and the dashboard on node:http. Run it with
 * `node --import jiti/register server.ts` (see README.md); settings come from the
 * environment, secrets from files, never from the command line.
 */
import { readFileSync } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import { Cron } from 'croner';
import { toNodeHandler } from '@arca/http';
import { partesaAdmin, type User } from './partesa-admin.js';
import { JOB, partesaBackups, restoreDrill, type PartesaBackups, type PartesaSettings } from './partesa-backups.js';

export interface RunningPartesa {
  backups: PartesaBackups;
  /** `http://host:port` of the dashboard (under `/admin/backups`). */
  url: string;
  /** Stop the schedules (waiting for a running backup), the drill timer and the server. */
  close(): Promise<void>;
}

export async function startPartesa(settings: PartesaSettings, users: Record<string, User>, o: { host?: string; port?: number; schedules?: boolean } = {}): Promise<RunningPartesa> {
  const backups = partesaBackups(settings);
  const { arca } = backups;
  arca.on('run:done', (r) => console.log(`${JOB} ${r.backupId} ${r.status}${r.error ? `: ${r.error.message}` : ''}`));
  arca.on('error', (e) => console.error(`arca: ${e.error.message}`));
  const handler = partesaAdmin(backups, users);
  const admin = toNodeHandler(handler);
  const server = http.createServer((req, res) => admin(req, res, () => res.writeHead(302, { location: handler.basePath + '/' }).end()));
  await new Promise<void>((resolve) => server.listen(o.port ?? 8080, o.host ?? '127.0.0.1', resolve));
  const { address, port } = server.address() as AddressInfo;

  let drill: Cron | undefined;
  let stopHealth = () => {};
  if (o.schedules !== false) {
    await arca.start();
    stopHealth = arca.watchHealth({ every: '15m' }); // mails and posts on Slack when the newest backup is older than 4 h
    drill = new Cron('0 4 * * 0', { timezone: settings.timezone ?? 'Europe/Rome', protect: true }, async () => {
      try {
        const r = await restoreDrill(backups);
        console.log(`restore drill ok: ${r.tables} tables, ${r.rows} rows, RTO ${r.durationMs} ms`);
      } catch (e) {
        console.error(`restore drill FAILED: ${(e as Error).message}`); // also in the audit log (restore, ok: false)
      }
    });
  }
  return {
    backups,
    url: `http://${address}:${port}`,
    async close() {
      drill?.stop();
      stopHealth();
      handler.dispose();
      await arca.stop({ timeoutMs: 60_000 });
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

/** Settings from the environment (see README.md for every variable). */
export function settingsFromEnv(env = process.env): { settings: PartesaSettings; users: Record<string, User> } {
  const need = (k: string) => env[k] || (() => { throw new Error(`Set ${k} (see examples/partesa-mysql/README.md).`); })();
  const secret = (k: string) => readFileSync(need(k), 'utf8').trim();
  return {
    settings: {
      database: { host: env.PARTESA_DB_HOST ?? '127.0.0.1', user: need('PARTESA_DB_USER'), ...(env.PARTESA_DB_PASSWORD_FILE ? { password: secret('PARTESA_DB_PASSWORD_FILE') } : {}), database: env.PARTESA_DB_NAME ?? 'gestionelogistica' },
      backupDir: env.PARTESA_BACKUP_DIR ?? '/var/backups/mysql',
      remote: {
        host: need('PARTESA_SFTP_HOST'),
        port: Number(env.PARTESA_SFTP_PORT ?? 22),
        username: need('PARTESA_SFTP_USER'),
        privateKey: secret('PARTESA_SFTP_KEY_FILE'),
        hostKey: { sha256: need('PARTESA_SFTP_HOST_KEY') },
        root: env.PARTESA_SFTP_ROOT ?? 'partesa',
      },
      smtp: { host: need('PARTESA_SMTP_HOST'), port: Number(env.PARTESA_SMTP_PORT ?? 587), ...(env.PARTESA_SMTP_USER ? { auth: { user: env.PARTESA_SMTP_USER, pass: secret('PARTESA_SMTP_PASSWORD_FILE') } } : {}) },
      mailFrom: need('PARTESA_MAIL_FROM'),
      mailTo: need('PARTESA_MAIL_TO').split(',').map((a) => a.trim()),
      slackWebhookUrl: secret('PARTESA_SLACK_WEBHOOK_FILE'),
    },
    users: JSON.parse(readFileSync(need('PARTESA_USERS_FILE'), 'utf8')) as Record<string, User>,
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  let env: ReturnType<typeof settingsFromEnv>;
  try {
    env = settingsFromEnv();
  } catch (e) {
    console.error((e as Error).message);
    process.exit(2);
  }
  const { settings, users } = env;
  const running = await startPartesa(settings, users, { port: Number(process.env.PORT ?? 8080) });
  console.log(`Partesa backups: ${running.url}/admin/backups/ (next backup ${running.backups.arca.nextRuns(JOB, 1)[0]?.toISOString()})`);
  const stop = () => void running.close().then(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}
