/**
 * The leak scanner's own tools catch what they claim to: a canary in any of its encodings
 * (including base64 at any offset, as in SMTP AUTH PLAIN), in a file tree, and in the argv of
 * a short-lived child process; and the sampler records file modes under a watched folder.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { canary, canarySet, leaksIn, leaksInTrees } from './canaries.js';
import { startSampler } from './proc-sampler.js';

const set = canarySet({ pw: canary('self', '@x/+') });
const pw = set.secrets.pw!;
let dir: string | undefined;
afterAll(() => (dir ? fs.rm(dir, { recursive: true, force: true }) : undefined));

describe('leak scanner self-test', () => {
  it('finds the canary raw, base64 (any offset), base64url, URL-encoded, hex and JSON-escaped; nothing in clean text', () => {
    const encodings = [
      pw,
      Buffer.from(pw).toString('base64'),
      Buffer.from(`\0user@example.com\0${pw}`).toString('base64'), // SMTP AUTH PLAIN
      Buffer.from(`x${pw}`).toString('base64'),
      Buffer.from(`xy${pw}`).toString('base64'),
      Buffer.from(pw).toString('base64url'),
      `postgres://u:${encodeURIComponent(pw)}@h/db`,
      Buffer.from(pw).toString('hex'),
      JSON.stringify({ p: pw }),
    ];
    for (const text of encodings) expect(leaksIn(set, 'x', `before ${text} after`).length, text).toBeGreaterThan(0);
    expect(leaksIn(set, 'x', 'password=*** user=backup')).toEqual([]);
  });

  it('finds the canary in files of a tree, and in a child process argv that lives 300 ms', async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'arca-scanner-self-'));
    await fs.mkdir(path.join(dir, 'a', 'b'), { recursive: true });
    await fs.writeFile(path.join(dir, 'a', 'b', 'manifest.json'), JSON.stringify({ describe: { password: pw } }), { mode: 0o640 });
    await fs.writeFile(path.join(dir, 'clean.txt'), 'nothing');
    const tree = await leaksInTrees(set, [dir]);
    expect(tree.files).toHaveLength(2);
    expect(tree.leaks.map((l) => path.basename(l.where))).toContain('manifest.json');

    const sampler = await startSampler({ canaries: set, watchDirs: [dir] });
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 300)', '--', `--password=${pw}`], { stdio: 'ignore' });
    expect(await new Promise((r) => child.on('exit', r))).toBe(0); // it ran its 300 ms
    const report = await sampler.stop();
    expect(report.leaks.some((l) => l.pid === child.pid && l.what.startsWith('pw (raw)'))).toBe(true);
    expect(report.modes[`f ${path.join(dir, 'a', 'b', 'manifest.json')}`]).toEqual(['0640']);
    expect(report.modes[`d ${path.join(dir, 'a')}`]).toBeDefined();
  });
});
