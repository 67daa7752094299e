/**
 * One store reached through two backends: an SFTP folder spelled relative to a remote's root
 * and absolute, or through a symlinked folder; one bucket under a remote name and typed in
 * place, or with `a//b`. (`..` in a remote path is refused when it is parsed.) `ferry mv`/`cp` and `ferry move`/`sync`/`bisync` must see that the
 * two places are one (or nested) and refuse before anything is copied or deleted: copying a
 * file onto itself and then deleting "the source" would lose it. Real sshd and s3rver.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFerry, type CliResult } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';
import { startS3rver, type S3rverHandle } from '../helpers/s3rver.js';
import { startSshd, type SshdHandle } from '../helpers/sshd.js';

let sshd: SshdHandle;
let s3: S3rverHandle;
let tmp: { path: string; cleanup: () => Promise<void> };
let env: Record<string, string>;

beforeAll(async () => {
  [sshd, s3] = await Promise.all([startSshd(), startS3rver(['same-bucket'])]);
  tmp = await tempDir('ferry-same-store-');
  env = {
    FERRY_CONFIG_DIR: path.join(tmp.path, 'config'),
    HOME: tmp.path,
    FERRY_SFTP_KEY_FILE: sshd.clientKeyFile,
    FERRY_SFTP_KNOWN_HOSTS_FILE: sshd.knownHostsFile,
    AWS_ACCESS_KEY_ID: 'S3RVER',
    AWS_SECRET_ACCESS_KEY: 'S3RVER',
    AWS_REGION: 'us-east-1',
    AWS_ENDPOINT_URL_S3: s3.endpoint,
  };
  // `nas` logs in at root's home: absolute paths name the test folder. `box` is rooted in it.
  for (const args of [
    ['nas', 'sftp', 'host=127.0.0.1', `port=${sshd.port}`, 'user=root'],
    ['box', 'sftp', 'host=127.0.0.1', `port=${sshd.port}`, 'user=root', `root=${sshd.root}`],
    ['pics', 's3', 'bucket=same-bucket', `endpoint=${s3.endpoint}`, 'forcePathStyle=true'],
  ]) {
    const added = await ferry('remote', 'add', ...args);
    expect(added.code, added.stderr).toBe(0);
  }
}, 120_000);
afterAll(async () => {
  await sshd?.stop();
  await s3?.stop();
  await tmp?.cleanup();
});

const ferry = (...args: string[]): Promise<CliResult> => runFerry(args, { env, timeoutMs: 60_000 });
const fresh = (): string => `t-${randomBytes(4).toString('hex')}`;

/** A folder in the SFTP test area holding `f.bin`, and its name. */
async function sftpFolder(): Promise<string> {
  const name = fresh();
  await mkdir(path.join(sshd.root, name, 'sub'), { recursive: true });
  await writeFile(path.join(sshd.root, name, 'f.bin'), 'precious');
  await writeFile(path.join(sshd.root, name, 'sub', 'g.bin'), 'also precious');
  return name;
}

function refused(r: CliResult, message: RegExp): void {
  expect(r.code, r.stderr).toBe(2);
  expect(r.stderr).toMatch(message);
}

describe('ferry mv and cp: two spellings of one SFTP file or folder', () => {
  it('mv and cp of a file onto itself (root-relative vs absolute, into its own folder) are refused and the file stays', async () => {
    const d = await sftpFolder();
    for (const args of [
      ['mv', `box:${d}/f.bin`, `nas:${sshd.root}/${d}/f.bin`],
      ['mv', `nas:${sshd.root}/${d}/f.bin`, `box:${d}/`],
      ['mv', `sftp://root@127.0.0.1:${sshd.port}${sshd.root}/${d}/f.bin`, `box:${d}/f.bin`],
      ['cp', `box:${d}/f.bin`, `nas:${sshd.root}/${d}/f.bin`],
    ]) refused(await ferry(...args), /are the same file/);
    expect(await readFile(path.join(sshd.root, d, 'f.bin'), 'utf8')).toBe('precious');
  });

  it('through a symlinked folder too; a folder onto itself or into itself is refused and keeps its files', async () => {
    const d = await sftpFolder();
    const link = fresh();
    await symlink(path.join(sshd.root, d), path.join(sshd.root, link));
    refused(await ferry('mv', `box:${link}/f.bin`, `box:${d}/f.bin`), /are the same file/);
    refused(await ferry('mv', '-T', `box:${link}/sub`, `nas:${sshd.root}/${d}/sub`), /are the same folder/);
    refused(await ferry('mv', `box:${d}`, `nas:${sshd.root}/${link}/sub/`), /into itself/);
    refused(await ferry('cp', '-r', `nas:${sshd.root}/${d}`, `box:${d}/sub/deeper`), /into itself/);
    expect(await readFile(path.join(sshd.root, d, 'f.bin'), 'utf8')).toBe('precious');
    expect(await readFile(path.join(sshd.root, d, 'sub', 'g.bin'), 'utf8')).toBe('also precious');
  });

  it('a genuine move between two folders of the server, spelled two ways, still moves', async () => {
    const d = await sftpFolder();
    const e = fresh();
    const r = await ferry('mv', `box:${d}/f.bin`, `nas:${sshd.root}/${e}/f.bin`);
    expect(r.code, r.stderr).toBe(0);
    expect(await readFile(path.join(sshd.root, e, 'f.bin'), 'utf8')).toBe('precious');
    await expect(readFile(path.join(sshd.root, d, 'f.bin'))).rejects.toThrow(/ENOENT/);
  });
});

describe('ferry move, sync and bisync: two spellings of one SFTP folder', () => {
  it('move of a file or folder onto itself, and sync or bisync of a folder with itself or one inside it, are refused before anything changes', async () => {
    const d = await sftpFolder();
    for (const args of [
      ['move', `box:${d}/f.bin`, `nas:${sshd.root}/${d}/`],
      ['move', `box:${d}`, `nas:${sshd.root}/${d}`],
      ['sync', `box:${d}`, `nas:${sshd.root}/${d}/sub`],
      ['bisync', '--resync', `box:${d}/sub`, `nas:${sshd.root}/${d}`],
    ]) refused(await ferry(...args), /overlap: one is inside the other/);
    expect(await readFile(path.join(sshd.root, d, 'f.bin'), 'utf8')).toBe('precious');
    expect(await readFile(path.join(sshd.root, d, 'sub', 'g.bin'), 'utf8')).toBe('also precious');
  });

  it('move between two different folders still moves', async () => {
    const d = await sftpFolder();
    const e = fresh();
    const r = await ferry('move', `box:${d}`, `nas:${sshd.root}/${e}`);
    expect(r.code, r.stderr).toBe(0);
    expect(await readFile(path.join(sshd.root, e, 'sub', 'g.bin'), 'utf8')).toBe('also precious');
    await expect(readFile(path.join(sshd.root, d, 'f.bin'))).rejects.toThrow(/ENOENT/);
  });
});

describe('one bucket under two names', () => {
  it('mv, cp and move of an object onto itself (named remote vs typed in place, a//b) are refused; a genuine mv moves', async () => {
    const key = `${fresh()}/obj.bin`;
    await writeFile(path.join(tmp.path, 'seed.bin'), 'bucket bytes');
    const seeded = await ferry('cp', `local:${path.join(tmp.path, 'seed.bin')}`, `pics:${key}`);
    expect(seeded.code, seeded.stderr).toBe(0);
    refused(await ferry('mv', `pics:${key}`, `s3:same-bucket/${key}`), /are the same file/);
    refused(await ferry('mv', `s3:same-bucket/${key.replace('/', '//')}`, `pics:${key}`), /are the same file/);
    refused(await ferry('cp', `s3:same-bucket/${key}`, `pics:${key}`), /are the same file/);
    refused(await ferry('move', `pics:${key}`, `s3:same-bucket/${key.split('/')[0]}/`), /overlap/);
    const cat = await ferry('cat', `pics:${key}`);
    expect(cat.stdout).toBe('bucket bytes');
    const moved = await ferry('mv', `pics:${key}`, `s3:same-bucket/${key}.moved`);
    expect(moved.code, moved.stderr).toBe(0);
    expect((await ferry('cat', `s3:same-bucket/${key}.moved`)).stdout).toBe('bucket bytes');
    expect((await ferry('cat', `pics:${key}`)).code).not.toBe(0);
  });
});
