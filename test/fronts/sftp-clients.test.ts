/**
 * Other clients against the SFTP front: rclone's sftp remote (with `shell_type = none`, as
 * for any server without a shell) copying a tree of nasty names in and out, `rclone check`
 * finding no difference; and sshfs mounting the home: create, stat before the first write,
 * edit in place, truncate, rename, remove.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, readdir, rename, rm, stat, truncate, writeFile, open } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/e2e.js';
import { uploadBuffer } from '../helpers/in-process-server.js';
import { ensureSshfs, rcloneConfig, run, sshfsOptions, sshUser, startSftpServer, type SftpServer, type SshUser } from '../helpers/sftp.js';

let s: SftpServer;
let rio: SshUser;

beforeAll(async () => {
  s = await startSftpServer();
  rio = await sshUser(s, 'rio');
});
afterAll(async () => s?.close());

/** Names that trip naive code: unicode, quotes, `?`, `*`, spaces, `%`, `#`, backslashes. */
const NASTY: Record<string, Buffer> = {
  'naïve café.txt': Buffer.from('unicode'),
  'it\'s "quoted".txt': Buffer.from('quotes'),
  'what?.txt': Buffer.from('question'),
  '*star* & [brackets].txt': Buffer.from('glob'),
  '  spaces  around .txt': Buffer.from('spaces'),
  '100% #hash.txt': Buffer.from('percent'),
  'back\\slash.txt': Buffer.from('backslash'),
  '日本語/ファイル 🚀.bin': randomBytes(3 * 1024 * 1024 + 7),
  'deep/er/still/empty.txt': Buffer.alloc(0),
};

async function writeTree(root: string, files: Record<string, Buffer>): Promise<void> {
  for (const [rel, data] of Object.entries(files)) {
    await mkdir(join(root, rel, '..'), { recursive: true });
    await writeFile(join(root, rel), data);
  }
}

describe("rclone's sftp remote", () => {
  it('without shell_type: finds no shell and no hash command (each refused at once), then copies and checks by size', async () => {
    const conf = await rcloneConfig(s, rio);
    await writeFile(conf, (await readFile(conf, 'utf8')).replace('shell_type = none\n', ''));
    const src = join(s.dir, 'noshell');
    await writeTree(src, { 'a.txt': Buffer.from('one'), 'sub/b.txt': Buffer.from('two') });
    const rclone = (...args: string[]) => run('rclone', ['--config', conf, ...args]);
    const up = await rclone('-vv', 'copy', src, 'ferry:noshell');
    expect(up.code, up.stderr).toBe(0);
    expect(up.stderr).toMatch(/This server runs no commands \(asked for: md5sum\)/);
    // rclone remembers that no hash command works: the next runs ask for none
    expect(await readFile(conf, 'utf8')).toMatch(/md5sum_command = none/);
    const check = await rclone('-vv', 'check', src, 'ferry:noshell');
    expect(check.code, check.stderr).toBe(0);
    expect(check.stderr).not.toMatch(/Running remote command: md5sum/);
    expect(check.stderr).toMatch(/0 differences found/);
    expect(Buffer.from(await (await s.t.api('/api/v1/files/users/rio/noshell/sub/b.txt')).arrayBuffer()).toString()).toBe('two');
  });

  it('copies a tree of nasty names in and out; rclone check finds no difference', async () => {
    const conf = await rcloneConfig(s, rio);
    const src = join(s.dir, 'nasty');
    await writeTree(src, NASTY);
    const rclone = (...args: string[]) => run('rclone', ['--config', conf, '-q', ...args]);
    const up = await rclone('copy', src, 'ferry:nasty');
    expect(up.code, up.stderr).toBe(0);
    for (const [rel, data] of Object.entries(NASTY)) {
      const res = await s.t.api(`/api/v1/files/users/rio/nasty/${rel.split('/').map(encodeURIComponent).join('/')}`);
      expect(res.status, rel).toBe(200);
      expect(Buffer.from(await res.arrayBuffer()).equals(data), rel).toBe(true);
    }
    const check = await rclone('check', src, 'ferry:nasty');
    expect(check.code, check.stderr).toBe(0);
    const back = join(s.dir, 'nasty-back');
    const down = await rclone('copy', 'ferry:nasty', back);
    expect(down.code, down.stderr).toBe(0);
    for (const [rel, data] of Object.entries(NASTY)) expect((await readFile(join(back, rel))).equals(data), rel).toBe(true);
    const checkBack = await rclone('check', back, 'ferry:nasty');
    expect(checkBack.code, checkBack.stderr).toBe(0);
    // A changed file is a difference rclone check finds (the comparison can fail; without
    // hashes over sftp, rclone compares sizes)
    await writeFile(join(back, 'what?.txt'), 'changed, and longer');
    const differs = await rclone('check', back, 'ferry:nasty');
    expect(differs.code).not.toBe(0);
    // rclone sync of the changed tree mirrors it, deletions too
    await rm(join(back, 'naïve café.txt'));
    const sync = await rclone('sync', back, 'ferry:nasty');
    expect(sync.code, sync.stderr).toBe(0);
    expect((await s.t.api(`/api/v1/stat/users/rio/nasty/${encodeURIComponent('naïve café.txt')}`)).status).toBe(404);
    expect(Buffer.from(await (await s.t.api(`/api/v1/files/users/rio/nasty/${encodeURIComponent('what?.txt')}`)).arrayBuffer()).toString()).toBe('changed, and longer');
  });
});

describe('sshfs', () => {
  it('mounts the home: create, stat before writing, edit in place, truncate, rename, remove', async () => {
    ensureSshfs();
    const sia = await sshUser(s, 'sia');
    const mnt = join(s.dir, 'mnt');
    await mkdir(mnt);
    const base = randomBytes(3 * 1024 * 1024);
    expect((await uploadBuffer(s.t, '/users/sia/base.bin', base)).status).toBe(200);
    const mount = await run('sshfs', ['-p', String(s.port), '-o', sshfsOptions(s, sia.key), `sia@127.0.0.1:/`, mnt]);
    expect(mount.code, mount.stderr).toBe(0);
    try {
      expect((await readdir(mnt)).sort()).toEqual(['base.bin']);
      await writeFile(join(mnt, 'new.txt'), 'made through sshfs');
      expect((await stat(join(mnt, 'new.txt'))).size).toBe(18);
      // An edit in place: 3 bytes in the middle of 3 MiB
      const fh = await open(join(mnt, 'base.bin'), 'r+');
      await fh.write(Buffer.from('XYZ'), 0, 3, 1_000_000);
      await fh.close();
      Buffer.from('XYZ').copy(base, 1_000_000);
      await truncate(join(mnt, 'new.txt'), 4);
      await mkdir(join(mnt, 'dir'));
      await rename(join(mnt, 'new.txt'), join(mnt, 'dir', 'moved.txt'));
      await rm(join(mnt, 'dir', 'moved.txt'));
      await writeFile(join(mnt, 'dir', 'kept.txt'), 'kept');
    } finally {
      const u = await run('fusermount3', ['-u', mnt]);
      expect(u.code, u.stderr).toBe(0);
    }
    // FUSE sends a file's release (sshfs: the SFTP CLOSE that makes the upload visible) after
    // close(2) returns, and sshfs sends it without waiting for the answer, so the last file
    // may still be committing when the unmount returns. The session's requests are answered
    // in order: once kept.txt (written last) is there, the edits before it are too.
    await waitFor(async () => (await s.t.api('/api/v1/stat/users/sia/dir/kept.txt')).status === 200, 15_000);
    expect(Buffer.from(await (await s.t.api('/api/v1/files/users/sia/base.bin')).arrayBuffer()).equals(base)).toBe(true);
    expect((await s.t.api('/api/v1/stat/users/sia/dir/moved.txt')).status).toBe(404);
    expect(Buffer.from(await (await s.t.api('/api/v1/files/users/sia/dir/kept.txt')).arrayBuffer()).toString()).toBe('kept');
    const entry = (await (await s.t.api('/api/v1/stat/users/sia/base.bin')).json()) as { mode?: number };
    expect(entry.mode ?? 0o644).toBe(0o644);
  });
});
