// The gestionale's backup (user story 003), read by the `arca` CLI — no build step, no code to
// write: cron runs `arca backup gestionale` every night (see README.md).
//
// What: `pg_dump -Fc` of the PostgreSQL database and the server configuration folder (as a tar,
// without the NAS recycle bin `#recycle`). Where: the NAS over SFTP, host key pinned. Kept:
// 7 days. Alerts: e-mail through Gmail (port 587, STARTTLS, app password) to several
// recipients when a backup fails or is partial, or when `arca health` finds no backup younger
// than 26 h. Settings and secrets come from the environment (`/etc/arca/env`, mode 0600),
// never from this file.
import { readFileSync } from 'node:fs';
import { defineConfig } from '@arca/cli';
import { directory, maxAge } from '@arca/core';
import { sftp } from '@arca/dest-sftp';
import { email } from '@arca/notify-email';
import { postgres } from '@arca/source-postgres';

/** A setting from the environment; a missing one stops `arca` with exit code 2 and its name. */
function setting(name: string, fallback?: string): string {
  const value = process.env[name] || fallback;
  if (!value) throw new Error(`${name} is not set: add it to /etc/arca/env (see examples/postgres-nas/README.md)`);
  return value;
}
const optional = (name: string) => process.env[name] || undefined;

export default defineConfig({
  destinations: {
    nas: sftp({
      host: setting('NAS_HOST', 'nas.lan'),
      port: Number(setting('NAS_PORT', '22')),
      username: setting('NAS_USER', 'arca-backup'),
      // A key (NAS_KEY_FILE, recommended) or the NAS user's password (NAS_PASSWORD).
      ...(optional('NAS_KEY_FILE') ? { privateKey: readFileSync(setting('NAS_KEY_FILE'), 'utf8') } : { password: setting('NAS_PASSWORD') }),
      hostKey: { sha256: setting('NAS_HOST_KEY') }, // ssh-keyscan nas.lan | ssh-keygen -lf -
      root: setting('NAS_ROOT', '/backup_gestionale/arca'),
    }),
  },
  jobs: {
    gestionale: {
      sources: {
        db: postgres({
          host: setting('DB_HOST', 'localhost'),
          port: Number(setting('DB_PORT', '5432')),
          user: setting('DB_USER', 'gestionale'),
          password: optional('DB_PASSWORD'), // reaches pg_dump only through PGPASSWORD, never argv
          database: setting('DB_NAME', 'gestionale_db'),
        }),
        config: directory({ path: setting('CONFIG_DIR', '/home/mauri/gestionale-fullstack/docs/server'), exclude: ['#recycle'] }),
      },
      destinations: ['nas'],
      retention: maxAge({ days: 7 }),
      health: { maxAge: '26h' }, // `arca health` exits 5 (and mails) when last night's backup is missing
    },
  },
  notifiers: [
    email({
      smtp: {
        host: setting('SMTP_HOST', 'smtp.gmail.com'),
        port: Number(setting('SMTP_PORT', '587')), // STARTTLS, required
        auth: { user: setting('SMTP_USER'), pass: setting('SMTP_APP_PASSWORD') },
        ...(optional('SMTP_CA_FILE') ? { tls: { ca: readFileSync(setting('SMTP_CA_FILE')) } } : {}), // a private relay's CA
      },
      from: setting('MAIL_FROM', setting('SMTP_USER')),
      to: setting('MAIL_TO'), // comma-separated: "ops@example.com, mauri@example.com"
      subjectPrefix: '[gestionale backup]',
    }),
  ],
});
