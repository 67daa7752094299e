/**
 * rclone's `webdav` remote against /dav/: a tree of nasty names (unicode, quotes, `?`, `#`,
 * `%`, `&`, spaces, an empty file, files of several chunks) copied in and out, and
 * `rclone check` finds no difference. With the `owncloud` vendor rclone also sends
 * X-OC-Mtime, and modification times survive the round trip. `rclone sync` both ways (the
 * nextcloud vendor) carries edits, new folders and deletions, and a second sync sends nothing.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/in-process-server.js';
import { ensureCommand, generateTree, prng, putFile, randomBytesFrom, runProgram, snapshotDir, BASE_MTIME } from '../helpers/local-trees.js';
import { addUser } from '../helpers/users.js';

let t: TestServer;
let dir: string;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  expect(ensureCommand('rclone'), 'rclone (Debian package) is needed').toBe(true);
  t = await startTestServer();
  await addUser(t, 'rc', { password: 'rclone-password-1' });
  dir = mkdtempSync(join(tmpdir(), 'ferry-rclone-dav-'));
  const config = join(dir, 'rclone.conf');
  writeFileSync(config, '');
  const pass = execFileSync('rclone', ['obscure', 'rclone-password-1']).toString().trim();
  const remote = (name: string, vendor: string) => ({
    [`RCLONE_CONFIG_${name}_TYPE`]: 'webdav',
    [`RCLONE_CONFIG_${name}_URL`]: `${t.url}/dav/`,
    [`RCLONE_CONFIG_${name}_VENDOR`]: vendor,
    [`RCLONE_CONFIG_${name}_USER`]: 'rc',
    [`RCLONE_CONFIG_${name}_PASS`]: pass,
  });
  env = { ...process.env, RCLONE_CONFIG: config, ...remote('PLAIN', 'other'), ...remote('OC', 'owncloud'), ...remote('NC', 'nextcloud') };
  const src = join(dir, 'src');
  generateTree(src, 14, 60, 30_000);
  const rand = prng(99);
  for (const name of ['what?.txt', 'a b?c d.txt', 'ünïcödé/日本語 ファイル.txt', 'emoji 🚀/x.bin', "it's \"quoted\"/f", 'semi;colon&amp.txt', '100%.txt', 'plus+equals=.txt', 'empty']) {
    putFile(src, name, name === 'empty' ? '' : randomBytesFrom(rand, 1 + ((rand() * 5000) | 0)), BASE_MTIME + 1000);
  }
  putFile(src, 'big/several chunks.bin', randomBytesFrom(rand, 9 * 1024 * 1024 + 7), BASE_MTIME + 2000);
});
afterAll(async () => {
  await t?.close();
  rmSync(dir, { recursive: true, force: true });
});

const rclone = async (...args: string[]) => {
  const r = await runProgram('rclone', [...args, '--retries', '1', '--low-level-retries', '1'], env, 300_000);
  if (r.code !== 0) throw new Error(`rclone ${args.join(' ')} exited ${r.code}:\n${r.stderr}`);
  return r;
};

const withoutMtimes = (snap: ReturnType<typeof snapshotDir>) => Object.fromEntries(Object.entries(snap).map(([k, v]) => [k, { size: v.size, sha256: v.sha256 }]));

describe('rclone webdav remote', () => {
  it('copies a tree of nasty names in and out; rclone check finds no difference', async () => {
    const src = join(dir, 'src');
    await rclone('copy', src, 'PLAIN:tree');
    const check = await rclone('check', src, 'PLAIN:tree');
    expect(check.stderr).toMatch(/0 differences found/);
    expect(check.stderr).toMatch(/(\d+) matching files/);
    expect(Number(/(\d+) matching files/.exec(check.stderr)![1])).toBe(Object.keys(snapshotDir(src)).length);
    const out = join(dir, 'out');
    await rclone('copy', 'PLAIN:tree', out);
    expect(withoutMtimes(snapshotDir(out))).toEqual(withoutMtimes(snapshotDir(src)));
    // A change on one side is a difference rclone check reports (the check is not vacuous).
    putFile(out, 'what?.txt', 'changed');
    const differs = await runProgram('rclone', ['check', out, 'PLAIN:tree'], env);
    expect(differs.code).not.toBe(0);
    expect(differs.stderr).toMatch(/1 differences found/);
  });

  it('with the owncloud vendor (X-OC-Mtime), modification times survive and a second copy sends nothing', async () => {
    const src = join(dir, 'src');
    await rclone('copy', src, 'OC:timed');
    const listed = JSON.parse((await rclone('lsjson', '-R', '--files-only', 'OC:timed')).stdout) as { Path: string; ModTime: string }[];
    const local = snapshotDir(src);
    expect(listed.length).toBe(Object.keys(local).length);
    for (const f of listed) expect(Date.parse(f.ModTime), f.Path).toBe(Math.floor(local[f.Path].mtimeMs / 1000) * 1000);
    const again = await rclone('copy', src, 'OC:timed', '-v', '--stats-one-line');
    expect(again.stderr).toMatch(/There was nothing to transfer|Transferred:\s+0 B \/ 0 B/);
    const out = join(dir, 'out-timed');
    await rclone('copy', 'OC:timed', out);
    expect(snapshotDir(out)).toEqual(Object.fromEntries(Object.entries(local).map(([k, v]) => [k, { ...v, mtimeMs: Math.floor(v.mtimeMs / 1000) * 1000 }])));
  });

  it('rclone sync both ways with the nextcloud vendor: edits, new folders and deletions arrive; a second sync sends nothing', async () => {
    const local = join(dir, 'sync-local');
    generateTree(local, 5, 20, 20_000);
    await rclone('sync', local, 'NC:synced');
    // Changes on the local side go up, deletions included.
    const names = Object.keys(snapshotDir(local));
    rmSync(join(local, names[0]));
    putFile(local, names[1], 'edited locally', BASE_MTIME + 5000);
    putFile(local, 'new/deeper/n.txt', 'new', BASE_MTIME + 6000);
    const up = await rclone('sync', local, 'NC:synced', '-v');
    expect(up.stderr).toMatch(/Deleted/);
    const check = await rclone('check', local, 'NC:synced');
    expect(check.stderr).toMatch(/0 differences found/);
    // The share offers no oc:checksums: rclone compares sizes, and says so.
    expect(check.stderr).toMatch(/hashes could not be checked/);
    // And the server's side comes down onto another copy, its extra files deleted.
    const other = join(dir, 'sync-other');
    putFile(other, 'only-here.txt', 'goes');
    await rclone('sync', 'NC:synced', other);
    expect(withoutMtimes(snapshotDir(other))).toEqual(withoutMtimes(snapshotDir(local)));
    const again = await rclone('sync', local, 'NC:synced', '-v', '--stats-one-line');
    expect(again.stderr).toMatch(/There was nothing to transfer|Transferred:\s+0 B \/ 0 B/);
    expect(again.stderr).not.toMatch(/Deleted|Copied/);
  });
});
