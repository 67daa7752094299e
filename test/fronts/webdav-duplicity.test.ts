/**
 * duplicity (Debian's 0.8) with its webdav:// backend on /dav/: a full backup in 1 MiB
 * volumes, an incremental, `verify`, `collection-status`, restore compared byte for byte, a
 * wrong password refused.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/in-process-server.js';
import { ensureCommand } from '../helpers/local-trees.js';
import { collect, type Run } from '../helpers/sftp.js';
import { addUser } from '../helpers/users.js';

let t: TestServer;
let dir: string;
const MiB = 1024 * 1024;

beforeAll(async () => {
  expect(ensureCommand('duplicity'), 'duplicity (Debian package) is needed').toBe(true);
  t = await startTestServer();
  await addUser(t, 'dora', { password: 'dora-password-1' });
  expect((await t.api('/api/v1/mkdir/users/dora/backups', { method: 'POST' })).status).toBe(201);
  dir = await mkdtemp(join(tmpdir(), 'ferry-duplicity-dav-'));
});
afterAll(async () => {
  await t?.close();
  await rm(dir, { recursive: true, force: true });
});

/** duplicity on dora's /dav/backups/set (FTP_PASSWORD is how duplicity takes a password). */
function duplicity(args: string[], password = 'dora-password-1'): Promise<Run> {
  const child = spawn('duplicity', [...args, '--no-encryption', '--num-retries', '1', '--archive-dir', join(dir, 'archive')], {
    cwd: dir,
    env: { ...process.env, HOME: dir, FTP_PASSWORD: password },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  return collect(child);
}

/** Resolves once the clock has moved into the next whole second. */
const nextSecond = () => new Promise<void>((resolve) => setTimeout(resolve, 1000 - (Date.now() % 1000) + 20));

describe("duplicity's webdav:// backend", () => {
  it('backs up in volumes, adds an incremental, verifies, restores byte for byte', { timeout: 60_000 }, async () => {
    const target = `webdav://dora@${new URL(t.url).host}/dav/backups/set`;
    const files: Record<string, Buffer> = { 'a.txt': Buffer.from('alpha'), "naïve it's #1.txt": Buffer.from('nasty'), 'sub/big.bin': randomBytes(6 * MiB), 'sub/empty.txt': Buffer.alloc(0) };
    const src = join(dir, 'data');
    for (const [rel, data] of Object.entries(files)) {
      await mkdir(join(src, rel, '..'), { recursive: true });
      await writeFile(join(src, rel), data);
    }
    const full = await duplicity(['full', '--volsize', '1', 'data', target]);
    expect(full.code, full.stderr).toBe(0);
    // duplicity names each backup by the second it started: an incremental started in the
    // full's second is taken for the full (verify then compares against the full: a.txt differs).
    await nextSecond();
    await writeFile(join(src, 'a.txt'), 'alpha, changed');
    files['a.txt'] = Buffer.from('alpha, changed');
    const incremental = await duplicity(['incremental', 'data', target]);
    expect(incremental.code, incremental.stderr).toBe(0);
    const verify = await duplicity(['verify', '--compare-data', target, 'data']);
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
    expect(verify.stdout).toMatch(/0 differences found/);
    const status = await duplicity(['collection-status', target]);
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toMatch(/Full[\s\S]*Incremental/);

    const out = join(dir, 'restored');
    const restore = await duplicity(['restore', target, out]);
    expect(restore.code, restore.stderr).toBe(0);
    for (const [rel, data] of Object.entries(files)) expect((await readFile(join(out, rel))).equals(data), rel).toBe(true);

    const wrong = await duplicity(['collection-status', target], 'not-the-password');
    expect(wrong.code).not.toBe(0);
    expect(wrong.stdout + wrong.stderr).toMatch(/401|Unauthorized/);
  });
});
