/**
 * restic (Debian's 0.14) with its sftp backend against the SFTP front: a demanding real
 * workload (many small files written to temporary names and renamed into place, reads of
 * ranges of pack files, locks made and removed). init, backup of a tree with nasty names,
 * a second backup killed mid-upload and run again, `check --read-data`, restore compared
 * byte for byte, `forget --prune`, and a wrong password refused.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/e2e.js';
import { ensureCommand } from '../helpers/local-trees.js';
import { collect, sshOptions, sshUser, startSftpServer, type Run, type SftpServer, type SshUser } from '../helpers/sftp.js';

let s: SftpServer;
let rey: SshUser;

beforeAll(async () => {
  expect(ensureCommand('restic'), 'restic (Debian package) is needed').toBe(true);
  s = await startSftpServer();
  rey = await sshUser(s, 'rey');
});
afterAll(async () => s?.close());

const MiB = 1024 * 1024;

/** restic on the repository /repo in rey's home, over ssh with the suite's key and known_hosts. */
function spawnRestic(args: string[], password = 'restic-password-1') {
  const ssh = ['ssh', ...sshOptions(s, rey.key), '-p', String(s.port), 'rey@127.0.0.1', '-s', 'sftp'].join(' ');
  return spawn('restic', ['-o', `sftp.command=${ssh}`, '-r', 'sftp:rey@127.0.0.1:/repo', '--no-cache', ...args], {
    cwd: s.dir,
    env: { ...process.env, RESTIC_PASSWORD: password },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}
const restic = (args: string[], password?: string): Promise<Run> => collect(spawnRestic(args, password));

/** Names of the pack files restic has stored (read over the native API). */
async function packs(): Promise<string[]> {
  const names: string[] = [];
  const list = async (path: string) => {
    const res = await s.t.api(`/api/v1/list${path}`);
    if (res.status !== 200) return;
    const body = (await res.json()) as { entries: { name: string; type: string }[] };
    for (const e of body.entries) {
      if (e.type === 'dir') await list(`${path}/${e.name}`);
      else names.push(e.name);
    }
  };
  await list('/users/rey/repo/data');
  return names;
}

const TREE: Record<string, Buffer> = {
  'a.txt': Buffer.from('alpha'),
  'naïve café.txt': Buffer.from('unicode'),
  'it\'s "quoted" #1.txt': Buffer.from('quotes'),
  'sub/b.bin': randomBytes(300_000),
  'sub/deeper/c.bin': randomBytes(12 * MiB + 3),
  'sub/empty.txt': Buffer.alloc(0),
};

describe("restic's sftp backend", () => {
  it('inits, backs up, survives a killed backup, checks every byte, restores, prunes', { timeout: 60_000 }, async () => {
    const src = join(s.dir, 'data');
    for (const [rel, data] of Object.entries(TREE)) {
      await mkdir(join(src, rel, '..'), { recursive: true });
      await writeFile(join(src, rel), data);
    }
    const init = await restic(['init']);
    expect(init.code, init.stderr).toBe(0);
    const first = await restic(['backup', 'data']);
    expect(first.code, first.stderr).toBe(0);
    const packsAfterFirst = (await packs()).length;
    expect(packsAfterFirst).toBeGreaterThan(0);

    // A second backup of 24 MiB more, slowed to 2 MiB/s (12 s: time enough for the polls below,
    // each listing restic's 256 data folders) and killed once its first new pack is stored.
    await writeFile(join(src, 'late.bin'), randomBytes(24 * MiB));
    const killed = spawnRestic(['backup', '--limit-upload', '2048', 'data']);
    const done = collect(killed);
    await waitFor(async () => (await packs()).length > packsAfterFirst || killed.exitCode !== null, 30_000);
    killed.kill('SIGKILL');
    expect((await done).code, 'restic finished before it was killed').toBe(null);
    // It left its lock behind; `unlock` removes it (restic's advice after a crash).
    expect((await restic(['unlock'])).code).toBe(0);
    const second = await restic(['backup', 'data']);
    expect(second.code, second.stderr).toBe(0);

    const check = await restic(['check', '--read-data']);
    expect(check.code, check.stderr + check.stdout).toBe(0);
    expect(check.stdout).toMatch(/no errors were found/);

    const out = join(s.dir, 'out');
    const restore = await restic(['restore', 'latest', '--target', out]);
    expect(restore.code, restore.stderr).toBe(0);
    for (const [rel, data] of Object.entries(TREE)) expect((await readFile(join(out, 'data', rel))).equals(data), rel).toBe(true);
    expect((await readFile(join(out, 'data', 'late.bin'))).equals(await readFile(join(src, 'late.bin')))).toBe(true);

    const prune = await restic(['forget', '--keep-last', '1', '--prune']);
    expect(prune.code, prune.stderr).toBe(0);
    const snapshots = await restic(['snapshots', '--json']);
    expect(snapshots.code, snapshots.stderr).toBe(0);
    expect((JSON.parse(snapshots.stdout) as unknown[]).length).toBe(1);
    const after = await restic(['check', '--read-data']);
    expect(after.code, after.stderr + after.stdout).toBe(0);

    const wrong = await restic(['snapshots'], 'not-the-password');
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toMatch(/wrong password/);
  });
});
