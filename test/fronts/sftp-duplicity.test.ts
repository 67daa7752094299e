/**
 * duplicity (Debian's 0.8, its sftp:// backend on paramiko) against the SFTP front: a full
 * backup in 1 MiB volumes killed after its first volumes arrived and restarted (duplicity
 * resumes at the volume that failed), an incremental, `verify`, `collection-status`,
 * restore compared byte for byte, `remove-all-but-n-full`.
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/e2e.js';
import { ensureCommand } from '../helpers/local-trees.js';
import { collect, sshUser, startSftpServer, type Run, type SftpServer, type SshUser } from '../helpers/sftp.js';

let s: SftpServer;
let dug: SshUser;
const MiB = 1024 * 1024;

/** duplicity's sftp:// backend needs paramiko (a Recommends of the duplicity package), for Debian's python3 that duplicity runs on. */
function ensureParamiko(): boolean {
  const has = () => {
    try {
      execFileSync('/usr/bin/python3', ['-c', 'import paramiko'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  };
  if (!has() && process.getuid?.() === 0) ensureCommand('python3-paramiko-missing', 'python3-paramiko');
  return has();
}

beforeAll(async () => {
  expect(ensureCommand('duplicity'), 'duplicity (Debian package) is needed').toBe(true);
  expect(ensureParamiko(), 'python3-paramiko (Debian package) is needed').toBe(true);
  s = await startSftpServer();
  dug = await sshUser(s, 'dug');
});
afterAll(async () => s?.close());

function spawnDuplicity(args: string[]) {
  const ssh = `-oIdentityFile=${dug.key} -oUserKnownHostsFile=${s.knownHosts}`;
  return spawn('duplicity', [...args, '--no-encryption', '--num-retries', '1', '--archive-dir', join(s.dir, 'archive'), `--ssh-options=${ssh}`], {
    cwd: s.dir,
    env: { ...process.env, HOME: s.dir },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}
const duplicity = (args: string[]): Promise<Run> => collect(spawnDuplicity(args));

async function volumes(): Promise<number> {
  const res = await s.t.api('/api/v1/list/users/dug/backup');
  if (res.status !== 200) return 0;
  return ((await res.json()) as { entries: { name: string }[] }).entries.filter((e) => /\.vol\d+\.difftar/.test(e.name)).length;
}

/** Resolves once the clock has moved into the next whole second. */
const nextSecond = () => new Promise<void>((resolve) => setTimeout(resolve, 1000 - (Date.now() % 1000) + 20));

describe("duplicity's sftp:// backend", () => {
  it('resumes a killed full backup, adds an incremental, verifies, restores byte for byte', { timeout: 60_000 }, async () => {
    const files: Record<string, Buffer> = { 'a.txt': Buffer.from('alpha'), "naïve it's #1.txt": Buffer.from('nasty'), 'sub/big.bin': randomBytes(12 * MiB), 'sub/empty.txt': Buffer.alloc(0) };
    const src = join(s.dir, 'data');
    for (const [rel, data] of Object.entries(files)) {
      await mkdir(join(src, rel, '..'), { recursive: true });
      await writeFile(join(src, rel), data);
    }
    const target = `sftp://dug@127.0.0.1:${s.port}/backup`;
    // Killed once two of its 1 MiB volumes are stored.
    const killed = spawnDuplicity(['full', '--volsize', '1', 'data', target]);
    const done = collect(killed);
    await waitFor(async () => (await volumes()) >= 2 || killed.exitCode !== null, 30_000);
    killed.kill('SIGKILL');
    expect((await done).code, 'duplicity finished before it was killed').toBe(null);
    const resumed = await duplicity(['full', '--volsize', '1', 'data', target]);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stdout + resumed.stderr).toMatch(/RESTART: /);

    // duplicity names each backup by the second it started: an incremental started in the
    // full's second is taken for the full (verify then compares against the full: a.txt differs).
    await nextSecond();
    await writeFile(join(src, 'a.txt'), 'alpha, changed');
    files['a.txt'] = Buffer.from('alpha, changed');
    const incremental = await duplicity(['incremental', 'data', target]);
    expect(incremental.code, incremental.stderr).toBe(0);
    const verify = await duplicity(['verify', target, 'data']);
    expect(verify.code, verify.stderr).toBe(0);
    expect(verify.stdout).toMatch(/0 differences found/);
    const status = await duplicity(['collection-status', target]);
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toMatch(/Incremental /);
    expect(status.stdout).toMatch(/No orphaned or incomplete backup sets found/);

    const out = join(s.dir, 'restored');
    const restore = await duplicity(['restore', target, out]);
    expect(restore.code, restore.stderr).toBe(0);
    for (const [rel, data] of Object.entries(files)) expect((await readFile(join(out, rel))).equals(data), rel).toBe(true);

    // A change duplicity's verify must see (the comparison can fail).
    await writeFile(join(src, 'sub', 'empty.txt'), 'not empty now');
    const differs = await duplicity(['verify', '--compare-data', target, 'data']);
    expect(differs.code).not.toBe(0);
    expect(differs.stdout).toMatch(/1 difference found/);

    const prune = await duplicity(['remove-all-but-n-full', '1', '--force', target]);
    expect(prune.code, prune.stderr).toBe(0);
  });
});
