/** Starter configs written by `arca init`: a working job (this folder's files to ./backups) with every knob commented. */

export const JSON_TEMPLATE = `// Arca config: run \`arca check\`, then \`arca backup\`. Comments are allowed (JSON with comments, like tsconfig.json).
// Relative paths are relative to this file's folder. Secrets never go here: write "\${ENV_VAR}"
// or { "file": "/etc/arca/secret" } and they are read when arca starts (and never printed).
{
  "destinations": {
    // Atomic writes (temp file + fsync + rename). Add more and list them in a job to fan out:
    // "nas":   { "use": "@arca/dest-sftp", "host": "nas.lan", "username": "backup", "password": "\${NAS_PASSWORD}", "path": "/volume1/arca" },
    // "cloud": { "use": "@arca/dest-s3", "bucket": "my-backups", "prefix": "app", "region": "eu-south-1" },
    "local": { "use": "localDir", "path": "./backups" }
  },
  "jobs": {
    "daily": {
      "sources": {
        // A folder as a tar artifact. Databases: { "use": "@arca/source-sqlite", "path": "app.db" },
        // { "use": "@arca/source-postgres", "database": "app" }, { "use": "@arca/source-mysql", "database": "app" }
        // (npm install the package next to this file first).
        "files": { "use": "directory", "path": ".", "exclude": ["backups", ".arca", "node_modules", ".git"] }
      },
      "destinations": ["local"],
      "compress": "gzip",
      // Encrypt with age: create a key with \`arca keygen --out key.txt\` and paste its public key here.
      // "encrypt": { "use": "age", "recipients": ["age1..."] },
      // Used by \`arca schedule\` (in-process scheduler); with cron, run \`arca backup daily\` instead.
      "schedule": "daily@02:00",
      // \`arca prune\` keeps these (see \`arca prune --dry-run\`).
      "retention": { "use": "gfs", "daily": 7, "weekly": 4, "monthly": 12 },
      // \`arca health\` fails (exit 5) when the newest backup is older than this.
      "health": { "maxAge": "26h" }
    }
  },
  // Run history for \`arca runs\`, \`arca health\` and \`arca retry\`.
  "runLog": "./backups/runs.jsonl"
  // "notifiers": [{ "use": "@arca/notify-email", "smtp": { "host": "smtp.gmail.com", "port": 587, "user": "me@example.com", "password": "\${SMTP_PASSWORD}" }, "from": "me@example.com", "to": ["ops@example.com"] }]
}
`;

export const TS_TEMPLATE = `// Arca config, loaded by \`arca\` without a build step. Relative paths are relative to this file.
// Run \`arca check\`, then \`arca backup\`. Keep secrets in the environment (process.env.X).
import { defineConfig } from '@arca/cli';
import { directory, gfs, jsonlRunLog, localDir } from '@arca/core';

export default defineConfig({
  destinations: {
    local: localDir({ path: './backups' }),
  },
  jobs: {
    daily: {
      sources: {
        files: directory({ path: '.', exclude: ['backups', '.arca', 'node_modules', '.git'] }),
      },
      destinations: ['local'],
      compress: 'gzip',
      schedule: 'daily@02:00', // for \`arca schedule\`; with cron run \`arca backup daily\`
      retention: gfs({ daily: 7, weekly: 4, monthly: 12 }),
      health: { maxAge: '26h' },
    },
  },
  runLog: jsonlRunLog('./backups/runs.jsonl'),
});
`;
