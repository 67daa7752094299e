/**
 * `rclone mount` (1.60, FUSE) of /dav/ with the owncloud vendor and `--vfs-cache-mode writes`,
 * as a desktop user mounts the share: files written, copied into a new folder, renamed,
 * appended to and removed through the mount arrive on the server as whole files, and what the
 * server holds reads back through the mount byte for byte. rclone writes back in the
 * background, so the server side is polled until it shows each change.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFile, mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/e2e.js';
import { startTestServer, type TestServer } from '../helpers/in-process-server.js';
import { ensureCommand, runProgram } from '../helpers/local-trees.js';
import { addUser } from '../helpers/users.js';

let t: TestServer;
let dir: string;
let mnt: string;
let rclone: ChildProcess | undefined;
let log = '';

const isMounted = async () => (await runProgram('mountpoint', ['-q', mnt])).code === 0;

beforeAll(async () => {
  expect(ensureCommand('rclone'), 'rclone (Debian package) is needed').toBe(true);
  expect(ensureCommand('fusermount', 'fuse3'), 'fusermount (Debian package fuse3) is needed').toBe(true);
  t = await startTestServer();
  await addUser(t, 'mo', { password: 'mount-password-1' });
  dir = await mkdtemp(join(tmpdir(), 'ferry-rclone-mount-'));
  mnt = join(dir, 'mnt');
  await mkdir(mnt);
  const pass = execFileSync('rclone', ['obscure', 'mount-password-1']).toString().trim();
  const env = {
    ...process.env,
    RCLONE_CONFIG: join(dir, 'rclone.conf'),
    RCLONE_CONFIG_DAV_TYPE: 'webdav',
    RCLONE_CONFIG_DAV_URL: `${t.url}/dav/`,
    RCLONE_CONFIG_DAV_VENDOR: 'owncloud',
    RCLONE_CONFIG_DAV_USER: 'mo',
    RCLONE_CONFIG_DAV_PASS: pass,
  };
  await writeFile(env.RCLONE_CONFIG, '');
  rclone = spawn('rclone', ['mount', 'DAV:', mnt, '--vfs-cache-mode', 'writes', '--vfs-write-back', '1s', '--dir-cache-time', '1s', '--cache-dir', join(dir, 'cache'), '-v'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  rclone.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  await waitFor(isMounted, 30_000);
});
afterAll(async () => {
  if (rclone && rclone.exitCode === null) {
    const exited = new Promise((resolve) => rclone!.once('exit', resolve));
    if (await isMounted()) await runProgram('fusermount', ['-u', mnt]);
    else rclone.kill();
    await exited;
  }
  await t?.close();
  await rm(dir, { recursive: true, force: true });
});

/** Whether mo's file on the server holds `data` (404 and other bytes are "not yet"). */
async function storedIs(path: string, data: Buffer | string): Promise<boolean> {
  const res = await t.api(`/api/v1/files/users/mo/${path.split('/').map(encodeURIComponent).join('/')}`);
  return res.status === 200 && Buffer.from(await res.arrayBuffer()).equals(Buffer.from(data));
}
const gone = async (path: string) => (await t.api(`/api/v1/stat/users/mo/${path.split('/').map(encodeURIComponent).join('/')}`)).status === 404;

describe('rclone mount of /dav/', () => {
  it('writes, copies into a new folder, renames, appends and removes through the mount; the server holds the results', async () => {
    const big = randomBytes(3 * 1024 * 1024 + 5);
    await writeFile(join(mnt, 'hello.txt'), 'hello');
    await mkdir(join(mnt, 'new folder'));
    await writeFile(join(mnt, 'new folder', 'big é.bin'), big);
    await waitFor(() => storedIs('hello.txt', 'hello'), 30_000, 200);
    await waitFor(() => storedIs('new folder/big é.bin', big), 30_000, 200);

    await rename(join(mnt, 'hello.txt'), join(mnt, 'new folder', 'moved.txt'));
    await waitFor(async () => (await gone('hello.txt')) && (await storedIs('new folder/moved.txt', 'hello')), 30_000, 200);
    await appendFile(join(mnt, 'new folder', 'moved.txt'), ', again');
    await waitFor(() => storedIs('new folder/moved.txt', 'hello, again'), 30_000, 200);

    await rm(join(mnt, 'new folder', 'big é.bin'));
    await waitFor(() => gone('new folder/big é.bin'), 30_000, 200);
    expect(log).not.toMatch(/ERROR/);
  });

  it('what the server holds reads through the mount byte for byte', async () => {
    const data = randomBytes(2 * 1024 * 1024 + 1);
    expect((await t.api('/api/v1/files/users/mo/from-server/data.bin', { method: 'PUT', body: data })).status).toBe(201);
    // The directory cache lasts a second: the new file shows once rclone lists again.
    await waitFor(() => readFile(join(mnt, 'from-server', 'data.bin')).then((b) => b.equals(data), () => false), 30_000, 200);
  });
});
