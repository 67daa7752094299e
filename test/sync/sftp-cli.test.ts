/**
 * `ferry copy` / `sync` with SFTP remotes through the real CLI against OpenSSH's sshd:
 * destinations that do not exist yet, named remotes with absolute and relative paths, and
 * single-file sources (rclone's `copy file dir/`).
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFerry, type CliResult } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';
import { startSshd, type SshdHandle } from '../helpers/sshd.js';

let sshd: SshdHandle;
let tmp: { path: string; cleanup: () => Promise<void> };
let env: Record<string, string>;
let src: string;

beforeAll(async () => {
  sshd = await startSshd();
  tmp = await tempDir('ferry-sftp-cli-');
  env = {
    FERRY_CONFIG_DIR: path.join(tmp.path, 'config'),
    HOME: tmp.path,
    FERRY_SFTP_KEY_FILE: sshd.clientKeyFile,
    FERRY_SFTP_KNOWN_HOSTS_FILE: sshd.knownHostsFile,
  };
  src = path.join(tmp.path, 'src');
  await mkdir(path.join(src, 'sub'), { recursive: true });
  await writeFile(path.join(src, 'a.txt'), 'alpha');
  await writeFile(path.join(src, 'sub', 'b.txt'), 'beta');
  const added = await ferry('remote', 'add', 'nas', 'sftp', 'host=127.0.0.1', `port=${sshd.port}`, 'user=root');
  expect(added.code, added.stderr).toBe(0);
  const rooted = await ferry('remote', 'add', 'box', 'sftp', 'host=127.0.0.1', `port=${sshd.port}`, 'user=root', `root=${sshd.root}`);
  expect(rooted.code, rooted.stderr).toBe(0);
});
afterAll(async () => {
  await sshd?.stop();
  await tmp?.cleanup();
});

const ferry = (...args: string[]): Promise<CliResult> => runFerry(args, { env, timeoutMs: 60_000 });
const fresh = (): string => `t-${randomBytes(4).toString('hex')}`;

async function tree(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) if (e.isFile()) out.push(path.relative(dir, path.join(e.parentPath, e.name)));
  return out.sort();
}

describe('SFTP destinations that do not exist yet', () => {
  it('copy creates the destination directory (and its parents) on the server', async () => {
    const dest = path.join(sshd.root, fresh(), 'new', 'deeper');
    const r = await ferry('copy', src, `sftp://root@127.0.0.1:${sshd.port}${dest}`);
    expect(r.code, r.stderr).toBe(0);
    expect(await tree(dest)).toEqual(['a.txt', path.join('sub', 'b.txt')]);
    expect(await readFile(path.join(dest, 'sub', 'b.txt'), 'utf8')).toBe('beta');
  });

  it('so does a named remote, and sync into it twice is a no-op the second time', async () => {
    const dest = path.join(sshd.root, fresh(), 'x');
    expect((await ferry('sync', src, `nas:${dest}`)).code).toBe(0);
    const again = await ferry('sync', '--json', src, `nas:${dest}`);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ transferred: 0, unchanged: 2 });
  });
});

describe('named SFTP remotes and paths', () => {
  it('nas:/abs/path is that absolute path on the server, not below the login directory', async () => {
    const dest = path.join(sshd.root, fresh());
    const r = await ferry('copy', src, `nas:${dest}`);
    expect(r.code, r.stderr).toBe(0);
    expect(await tree(dest)).toEqual(['a.txt', path.join('sub', 'b.txt')]);
    // Not under root's home (the login directory) as `root${dest}`.
    expect(existsSync(path.join('/root', dest))).toBe(false);
  });

  it('with a root: NAME:rel is below the root, NAME:/abs is absolute all the same', async () => {
    const rel = fresh();
    expect((await ferry('copy', src, `box:${rel}`)).code).toBe(0);
    expect(await tree(path.join(sshd.root, rel))).toEqual(['a.txt', path.join('sub', 'b.txt')]);
    const abs = path.join(sshd.root, fresh(), 'abs');
    expect((await ferry('copy', src, `box:${abs}`)).code).toBe(0);
    expect(await tree(abs)).toEqual(['a.txt', path.join('sub', 'b.txt')]);
  });
});

describe('a single file as the source (rclone: copy file dir/)', () => {
  it('copy ./file NAME:/dir/ puts the file into the directory, made if need be', async () => {
    const dest = path.join(sshd.root, fresh(), 'docs');
    const r = await ferry('copy', path.join(src, 'a.txt'), `nas:${dest}/`);
    expect(r.code, r.stderr).toBe(0);
    expect(await tree(dest)).toEqual(['a.txt']);
    expect(await readFile(path.join(dest, 'a.txt'), 'utf8')).toBe('alpha');
  });

  it('copy NAME:/dir/file ./local/ fetches that file alone', async () => {
    const remote = path.join(sshd.root, fresh());
    await mkdir(remote);
    await writeFile(path.join(remote, 'one.txt'), 'one');
    await writeFile(path.join(remote, 'two.txt'), 'two');
    const local = path.join(tmp.path, fresh());
    const r = await ferry('copy', `nas:${remote}/one.txt`, local);
    expect(r.code, r.stderr).toBe(0);
    expect(await tree(local)).toEqual(['one.txt']);
  });

  it('sync of a file deletes nothing beside it in the destination', async () => {
    const dest = path.join(sshd.root, fresh());
    await mkdir(dest);
    await writeFile(path.join(dest, 'keep.txt'), 'keep');
    const r = await ferry('sync', path.join(src, 'sub', 'b.txt'), `nas:${dest}`);
    expect(r.code, r.stderr).toBe(0);
    expect(await tree(dest)).toEqual(['b.txt', 'keep.txt']);
  });

  it('a missing file is still "not found" (exit 3)', async () => {
    const r = await ferry('copy', path.join(src, 'nope.txt'), `nas:${path.join(sshd.root, fresh())}`);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/source .*nope\.txt not found/);
  });
});
