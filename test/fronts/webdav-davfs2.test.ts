/**
 * davfs2 (Debian's, a FUSE file system over WebDAV, as `mount -t davfs`) mounts /dev/ home:
 * files and directories made, written, renamed, read and removed through the mount arrive
 * on the server as they would through any front; a file davfs2 holds open for writing is
 * locked on the server (its LOCK, with the token enforced against other writers). `cp -r` of a
 * tree in and out, an editor's save (a temporary file renamed over the original) and
 * `ls -l`'s sizes and times (the server's, to the second) hold too.
 *
 * Needs root and /dev/fuse (the test machine and CI have both). `buf_size 64` works around
 * davfs2 1.6's directory reads on Linux 6.16 and later (alisarctl/davfs2#22).
 */
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, renameSync, rmSync, rmdirSync, chmodSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basic, dav } from '../helpers/dav.js';
import { ensureCommand } from '../helpers/local-trees.js';
import { startServer, type RunningServer } from '../helpers/server.js';

/** Kept across the server's restarts (a chosen admin token must look random: see secret-strength.ts). */
const ADMIN_TOKEN = `admin-${randomBytes(16).toString('hex')}`;

const run = promisify(execFile);
// A server process of its own: the test's file operations on the mount block this process.
let t: RunningServer;
let dir: string;
let mnt: string;
let mounted = false;
const DANA = basic('dana', 'dana-password-1');

async function mount(): Promise<void> {
  await run('mount', ['-t', 'davfs', `${t.url}/dav/`, mnt, '-o', `conf=${join(dir, 'davfs2.conf')}`], { timeout: 30_000 });
  mounted = true;
}

async function umount(): Promise<void> {
  // umount.davfs waits until every file written has been uploaded.
  await run('umount', [mnt], { timeout: 60_000 });
  mounted = false;
}

beforeAll(async () => {
  expect(process.getuid?.(), 'mounting needs root').toBe(0);
  expect(existsSync('/dev/fuse'), 'mounting needs /dev/fuse').toBe(true);
  expect(ensureCommand('mount.davfs', 'davfs2'), 'davfs2 (Debian package) is needed').toBe(true);
  dir = mkdtempSync(join(tmpdir(), 'ferry-davfs2-'));
  t = await startServer({ dataDir: join(dir, 'data'), adminToken: ADMIN_TOKEN, extraArgs: ['--log-level', 'warn'] });
  const made = await fetch(`${t.url}/api/v1/users`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'dana', password: 'dana-password-1' }) });
  expect(made.status).toBe(201);
  chmodSync(dir, 0o755);
  mnt = join(dir, 'mnt');
  mkdirSync(mnt);
  const cache = join(dir, 'cache');
  mkdirSync(cache, { mode: 0o777 });
  chmodSync(cache, 0o777); // davfs2 drops to its own user for the cache
  writeFileSync(join(dir, 'secrets'), `${t.url}/dav/ dana dana-password-1\n`, { mode: 0o600 });
  writeFileSync(join(dir, 'davfs2.conf'), [`secrets ${join(dir, 'secrets')}`, `cache_dir ${cache}`, 'use_locks 1', 'delay_upload 0', 'buf_size 64', ''].join('\n'));
});
afterAll(async () => {
  if (mounted) {
    try {
      await umount();
    } catch {
      execFileSync('umount', ['-l', mnt], { stdio: 'ignore' });
    }
  }
  await t?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('davfs2 mount of /dav/', () => {
  it('makes, writes, renames, reads and removes files and directories; the server has them', async () => {
    expect((await dav(t.url, 'PUT', '/dav/from-server.txt', { auth: DANA, body: 'made on the server' })).status).toBe(201);
    await mount();
    expect(readdirSync(mnt).filter((n) => n !== 'lost+found')).toEqual(['from-server.txt']);
    expect(readFileSync(join(mnt, 'from-server.txt'), 'utf8')).toBe('made on the server');
    const big = randomBytes(7 * 1024 * 1024 + 3);
    mkdirSync(join(mnt, 'sub dir/ünï'), { recursive: true });
    writeFileSync(join(mnt, 'sub dir/ünï/big.bin'), big);
    writeFileSync(join(mnt, 'sub dir/note.txt'), 'first');
    writeFileSync(join(mnt, 'sub dir/note.txt'), 'second version');
    renameSync(join(mnt, 'sub dir/note.txt'), join(mnt, 'renamed.txt'));
    mkdirSync(join(mnt, 'gone'));
    rmdirSync(join(mnt, 'gone'));
    rmSync(join(mnt, 'from-server.txt'));
    await umount();

    expect((await dav(t.url, 'GET', '/dav/sub%20dir/%C3%BCn%C3%AF/big.bin', { auth: DANA })).body.equals(big)).toBe(true);
    expect((await dav(t.url, 'GET', '/dav/renamed.txt', { auth: DANA })).text).toBe('second version');
    for (const gone of ['/dav/sub%20dir/note.txt', '/dav/gone/', '/dav/from-server.txt']) expect((await dav(t.url, 'GET', gone, { auth: DANA })).status, gone).toBe(404);
  });

  it('a file open for writing through the mount is locked on the server until it is closed', async () => {
    await mount();
    writeFileSync(join(mnt, 'held.txt'), 'v1');
    const fd = openSync(join(mnt, 'held.txt'), 'r+');
    writeSync(fd, 'v2');
    const blocked = await dav(t.url, 'PUT', '/dav/held.txt', { auth: DANA, body: 'from elsewhere' });
    expect(blocked.status).toBe(423);
    closeSync(fd);
    await umount();
    expect((await dav(t.url, 'GET', '/dav/held.txt', { auth: DANA })).text).toBe('v2');
    expect((await dav(t.url, 'PUT', '/dav/held.txt', { auth: DANA, body: 'from elsewhere' })).status).toBe(204);
  });

  it('cp -r in and out, an editor\'s save, and ls -l with the server\'s sizes and times', async () => {
    const tree = join(dir, 'tree');
    const files: Record<string, Buffer> = { 'a.txt': Buffer.from('alpha'), 'sub/b.bin': randomBytes(2 * 1024 * 1024 + 9), 'sub/deeper/c.txt': Buffer.from('c') };
    for (const [rel, data] of Object.entries(files)) {
      mkdirSync(join(tree, rel, '..'), { recursive: true });
      writeFileSync(join(tree, rel), data);
    }
    // A file the server holds with a time of its own (rclone's owncloud vendor sets it so).
    const OLD = Date.UTC(2021, 4, 6, 7, 8, 9);
    expect((await dav(t.url, 'PUT', '/dav/dated.txt', { auth: DANA, body: 'dated', headers: { 'x-oc-mtime': String(OLD / 1000) } })).status).toBe(201);
    await mount();
    await run('cp', ['-r', tree, join(mnt, 'tree')]);
    writeFileSync(join(mnt, 'doc.txt'), 'first draft');
    writeFileSync(join(mnt, '.doc.txt.tmp'), 'saved by the editor');
    renameSync(join(mnt, '.doc.txt.tmp'), join(mnt, 'doc.txt'));
    const dated = statSync(join(mnt, 'dated.txt'));
    expect([dated.size, dated.mtimeMs]).toEqual([5, OLD]);
    const ls = await run('ls', ['-l', '--time-style=+%Y-%m-%dT%H:%M:%S', join(mnt, 'tree/sub')], { env: { ...process.env, TZ: 'UTC' } });
    expect(ls.stdout).toMatch(new RegExp(`\\s${files['sub/b.bin'].length} \\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d b\\.bin`));
    await umount();

    for (const [rel, data] of Object.entries(files)) expect((await dav(t.url, 'GET', `/dav/tree/${rel}`, { auth: DANA })).body.equals(data), rel).toBe(true);
    expect((await dav(t.url, 'GET', '/dav/doc.txt', { auth: DANA })).text).toBe('saved by the editor');
    expect((await dav(t.url, 'GET', '/dav/.doc.txt.tmp', { auth: DANA })).status).toBe(404);
    // Out again through a new mount (nothing cached): the same bytes, the server's times.
    await mount();
    const back = join(dir, 'back');
    await run('cp', ['-r', join(mnt, 'tree'), back]);
    const stored = Number(new Date((await dav(t.url, 'PROPFIND', '/dav/tree/sub/b.bin', { auth: DANA, headers: { depth: '0' } })).text.match(/<D:getlastmodified>([^<]+)</)![1]));
    expect(statSync(join(mnt, 'tree/sub/b.bin')).mtimeMs).toBe(stored);
    await umount();
    for (const [rel, data] of Object.entries(files)) expect(readFileSync(join(back, rel)).equals(data), rel).toBe(true);
  });
});
