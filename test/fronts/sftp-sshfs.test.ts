/**
 * sshfs (3.7) on the SFTP front beyond the basics of sftp-clients.test.ts: `-o reconnect`
 * carrying a mount across a restart of the server (same port, same host keys), and rsync
 * writing onto the mount with `--inplace` (only changed blocks rewritten in the file) and
 * `--append-verify` (the rest appended, then the whole file checked); and a day's use of the
 * mount: `cp -r` a tree in and out, an editor's save (a temporary file renamed over the
 * original), truncate and append, chmod, `touch -d`, `rsync -a` (a second run changes
 * nothing), `df`, and a symbolic link refused.
 */
import { randomBytes } from 'node:crypto';
import { appendFile, chmod, mkdir, readFile, readdir, rename, stat, symlink, truncate, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/e2e.js';
import { ensureCommand } from '../helpers/local-trees.js';
import { auditEvents } from '../helpers/users.js';
import { ensureSshfs, run, sshfsOptions, sshUser, startSftpServer, type SftpServer, type SshUser } from '../helpers/sftp.js';

let s: SftpServer;
let sam: SshUser;
const MiB = 1024 * 1024;

beforeAll(async () => {
  ensureSshfs();
  expect(ensureCommand('rsync'), 'rsync (Debian package) is needed').toBe(true);
  s = await startSftpServer();
  sam = await sshUser(s, 'sam');
});
afterAll(async () => s?.close());

/** Mounts sam's home at a new directory; `use` runs with it mounted, then it is unmounted. */
async function withMount(name: string, extra: string, use: (mnt: string) => Promise<void>): Promise<void> {
  const mnt = join(s.dir, name);
  await mkdir(mnt);
  const mount = await run('sshfs', ['-p', String(s.port), '-o', `${sshfsOptions(s, sam.key)}${extra}`, 'sam@127.0.0.1:/', mnt]);
  expect(mount.code, mount.stderr).toBe(0);
  try {
    await use(mnt);
  } finally {
    const u = await run('fusermount3', ['-u', mnt]);
    expect(u.code, u.stderr).toBe(0);
  }
}

/** Whether sam's file, read over the native API, holds `data` (FUSE closes files after close(2) returns). */
async function storedIs(path: string, data: Buffer): Promise<boolean> {
  const res = await s.t.api(`/api/v1/files/users/sam/${path}`);
  return res.status === 200 && Buffer.from(await res.arrayBuffer()).equals(data);
}

describe('sshfs', () => {
  it('-o reconnect: the mount works again after the server restarts', async () => {
    await withMount('mnt-reconnect', ',reconnect,ServerAliveInterval=2,ServerAliveCountMax=2', async (mnt) => {
      await writeFile(join(mnt, 'before.txt'), 'written before the restart');
      await waitFor(() => storedIs('before.txt', Buffer.from('written before the restart')), 15_000);
      const logins = async () => (await auditEvents(s.t, 'event=auth.login')).filter((e) => e.user === 'sam' && e.front === 'sftp').length;
      const before = await logins();
      await s.t.restart();
      // A request that finds the connection gone fails; sshfs then connects again. A write
      // (not a read, which sshfs and the kernel may answer from their caches) must reach the server.
      await waitFor(() => writeFile(join(mnt, 'after.txt'), 'written after the restart').then(() => true, () => false), 30_000, 200);
      expect(await readFile(join(mnt, 'after.txt'), 'utf8')).toBe('written after the restart');
      expect(await readFile(join(mnt, 'before.txt'), 'utf8')).toBe('written before the restart');
      expect(await logins(), 'sshfs logged in again').toBe(before + 1);
    });
    await waitFor(() => storedIs('after.txt', Buffer.from('written after the restart')), 15_000);
  });

  it('rsync --inplace and --append-verify onto the mount', async () => {
    const local = join(s.dir, 'big.bin');
    const data = randomBytes(8 * MiB + 11);
    await writeFile(local, data);
    await withMount('mnt-rsync', '', async (mnt) => {
      const first = await run('rsync', ['-t', local, join(mnt, 'big.bin')]);
      expect(first.code, first.stderr).toBe(0);
      // 3 bytes changed in the middle (same size, maybe the same second: -I to look anyway):
      // --inplace --no-whole-file rewrites that block in the file.
      Buffer.from('XYZ').copy(data, 4 * MiB + 5);
      await writeFile(local, data);
      const inplace = await run('rsync', ['-t', '-I', '--inplace', '--no-whole-file', '--stats', local, join(mnt, 'big.bin')]);
      expect(inplace.code, inplace.stderr).toBe(0);
      expect(inplace.stdout).toMatch(/Matched data: [1-9]/);
      expect((await readFile(join(mnt, 'big.bin'))).equals(data)).toBe(true);
      // 2 MiB more at the end: --append-verify sends only those, then checks the whole file.
      const grown = Buffer.concat([data, randomBytes(2 * MiB)]);
      await writeFile(local, grown);
      const append = await run('rsync', ['-t', '--append-verify', '--stats', local, join(mnt, 'big.bin')]);
      expect(append.code, append.stderr).toBe(0);
      expect(append.stdout).toMatch(/Total transferred file size: 10,485,771 bytes/);
      expect(append.stdout).toMatch(/Literal data: 2,097,152 bytes/);
      expect((await readFile(join(mnt, 'big.bin'))).equals(grown)).toBe(true);
      await waitFor(() => storedIs('big.bin', grown), 15_000);
    });
  });

  it('cp -r in and out, an editor\'s save, truncate, append, chmod, touch -d, rsync -a, df', async () => {
    const tree = join(s.dir, 'day-tree');
    const files: Record<string, Buffer> = { 'a.txt': Buffer.from('alpha'), 'naïve café.txt': Buffer.from('unicode'), 'sub/b.bin': randomBytes(3 * MiB + 7), 'sub/deeper/c.txt': Buffer.from('c') };
    for (const [rel, data] of Object.entries(files)) {
      await mkdir(join(tree, rel, '..'), { recursive: true });
      await writeFile(join(tree, rel), data);
    }
    const OLD = new Date('2020-01-02T03:04:05Z');
    await withMount('mnt-day', '', async (mnt) => {
      const cpIn = await run('cp', ['-r', tree, join(mnt, 'tree')]);
      expect(cpIn.code, cpIn.stderr).toBe(0);
      const back = join(s.dir, 'day-back');
      const cpOut = await run('cp', ['-r', join(mnt, 'tree'), back]);
      expect(cpOut.code, cpOut.stderr).toBe(0);
      const diff = await run('diff', ['-r', tree, back]);
      expect(diff.code, diff.stdout).toBe(0);

      // An editor's save: the new text to a temporary file, renamed over the original.
      const doc = join(mnt, 'doc.txt');
      await writeFile(doc, 'first draft\n');
      await writeFile(join(mnt, '.doc.txt.swp'), 'second draft\n');
      await rename(join(mnt, '.doc.txt.swp'), doc);
      await truncate(doc, 6);
      await appendFile(doc, ' appended\n');
      await chmod(doc, 0o600);
      await utimes(doc, OLD, OLD);
      expect(await readFile(doc, 'utf8')).toBe('second appended\n');
      expect(await readdir(mnt)).not.toContain('.doc.txt.swp');

      const rsync = await run('rsync', ['-a', tree + '/', join(mnt, 'synced')]);
      expect(rsync.code, rsync.stderr).toBe(0);
      const again = await run('rsync', ['-a', '-i', tree + '/', join(mnt, 'synced')]);
      expect(again.code, again.stderr).toBe(0);
      expect(again.stdout, 'a second rsync -a finds every time and size the same').toBe('');
      expect((await stat(join(mnt, 'synced/sub/b.bin'))).mtime.getTime()).toBe(Math.floor((await stat(join(tree, 'sub/b.bin'))).mtimeMs / 1000) * 1000);

      const df = await run('df', ['-k', mnt]);
      expect(df.code, df.stderr).toBe(0);
      expect(Number(df.stdout.trim().split('\n')[1].split(/\s+/)[1]), 'df shows a size').toBeGreaterThan(0);
      await expect(symlink('doc.txt', join(mnt, 'link'))).rejects.toMatchObject({ code: 'ENOTSUP' });
    });
    await waitFor(() => storedIs('doc.txt', Buffer.from('second appended\n')), 15_000);
    const doc = (await (await s.t.api('/api/v1/stat/users/sam/doc.txt')).json()) as { mode?: number; mtime: number };
    expect(doc.mode).toBe(0o600);
    expect(doc.mtime).toBe(OLD.getTime());
    for (const [rel, data] of Object.entries(files)) expect(await storedIs(`synced/${rel.split('/').map(encodeURIComponent).join('/')}`, data), rel).toBe(true);
    expect((await s.t.api('/api/v1/stat/users/sam/.doc.txt.swp')).status).toBe(404);
  });
});
