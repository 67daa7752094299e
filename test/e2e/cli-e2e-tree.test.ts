/**
 * Folders end to end through the real CLI and a real `ferry serve`: `put --encrypt -r`
 * (filters as for a plain -r), `put -r` into a vault (encrypted without asking), `ls` of a
 * vault's subfolder, and `get -r` back: names decrypted, the folder structure and each
 * file's mtime restored from its sealed table; the server holds only encrypted names.
 */
import { mkdir, readFile, readdir, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Entry } from '../../src/core/protocol.js';
import { startWorld, type E2EWorld } from '../helpers/e2e.js';

const MARK = 'TREE-PLAINTEXT-MARKER-91b2';
const FILES: Record<string, string> = {
  'top.txt': `${MARK} top\n`,
  'a/d.txt': `${MARK} d\n`.repeat(5000),
  'a/b/c.txt': `${MARK} c\n`,
  'a/b/skip.log': `${MARK} log\n`,
};
const MTIME = new Date('2021-06-01T12:00:00Z');
let w: E2EWorld;
let key: string;
let other: string;
let src: string;

/** Every entry below a server folder, through the API. */
async function serverTree(dir: string): Promise<Entry[]> {
  const r = await fetch(`${w.server.url}/api/v1/list${dir}?recursive=true`, { headers: { authorization: `Bearer ${w.server.adminToken}` } });
  expect(r.status).toBe(200);
  return ((await r.json()) as { entries: Entry[] }).entries;
}

/** Relative path -> content of every file below a local folder. */
async function localTree(dir: string, rel = ''): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const e of await readdir(join(dir, rel), { withFileTypes: true })) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) Object.assign(out, await localTree(dir, r));
    else out[r] = await readFile(join(dir, r), 'utf8');
  }
  return out;
}

beforeAll(async () => {
  w = await startWorld();
  key = join(w.dir, 'k');
  other = join(w.dir, 'other');
  expect((await w.ferry(['admin', 'keygen', key])).code).toBe(0);
  expect((await w.ferry(['admin', 'keygen', other])).code).toBe(0);
  src = join(w.dir, 'src');
  for (const [rel, text] of Object.entries(FILES)) {
    await mkdir(join(src, rel, '..'), { recursive: true });
    await writeFile(join(src, rel), text);
    await utimes(join(src, rel), MTIME, MTIME);
  }
  await mkdir(join(src, 'empty'));
  const mk = await w.ferry(['mkdir', '--e2e', '/v', '--e2e-key-file', key]);
  expect(mk.code, mk.stderr).toBe(0);
}, 60_000);
afterAll(async () => {
  await w?.close();
});

describe('put --encrypt -r and get -r', () => {
  it('put --encrypt -r stores every file and folder under an encrypted name; filters choose the files', async () => {
    const put = await w.ferry(['put', '--encrypt', '-r', src, 'ferry:/v/dir', '--exclude', '*.log', '--e2e-key-file', key, '--json']);
    expect(put.code, put.stderr).toBe(0);
    expect(JSON.parse(put.stdout)).toMatchObject({ ok: true, files: 3 });
    const entries = await serverTree('/v');
    expect(entries.filter((e) => e.type === 'file' && e.name !== '.ferry-e2e')).toHaveLength(3);
    for (const e of entries) if (e.name !== '.ferry-e2e') expect(e.name, e.path).toMatch(/^[A-Za-z0-9_-]+\.fe2e$/);
    expect(JSON.stringify(entries)).not.toMatch(/top|skip|empty|\bd\.txt/);
  });

  it('ls of a subfolder of the vault, named in plain, shows the plain names', async () => {
    const ls = await w.ferry(['ls', '/v/dir/a', '--e2e-key-file', key]);
    expect(ls.code, ls.stderr).toBe(0);
    expect(ls.stdout.trim().split('\n').sort()).toEqual(['b/', 'd.txt']); // folders end with /
  });

  it('ls of a vault comes sorted by the plain names, as every listing is (the stored names sort otherwise)', async () => {
    const names = ['zeta', 'alpha', 'Mid', 'beta', 'b.txt', 'ünï', 'sub'];
    const here = join(w.dir, 'order');
    await mkdir(join(here, 'sub'), { recursive: true });
    for (const n of names.filter((x) => x !== 'sub')) await writeFile(join(here, n), n);
    await writeFile(join(here, 'sub', 'in.txt'), 'in');
    const put = await w.ferry(['put', '-r', here, 'ferry:/v/order', '--e2e-key-file', key]);
    expect(put.code, put.stderr).toBe(0);
    const sorted = ['Mid', 'alpha', 'b.txt', 'beta', 'sub/', 'zeta', 'ünï']; // byte order, as the server's
    const ls = await w.ferry(['ls', '/v/order', '--e2e-key-file', key]);
    expect(ls.stdout.trim().split('\n')).toEqual(sorted);
    const deep = await w.ferry(['ls', '-R', '/v/order', '--e2e-key-file', key]);
    expect(deep.stdout.trim().split('\n')).toEqual(['Mid', 'alpha', 'b.txt', 'beta', 'sub/', 'sub/in.txt', 'zeta', 'ünï']);
    const json = JSON.parse((await w.ferry(['ls', '--json', '/v/order', '--e2e-key-file', key])).stdout) as Entry[];
    expect(json.map((e) => (e.type === 'dir' ? `${e.name}/` : e.name))).toEqual(sorted);
  });

  it('get -r brings the folder back: plain names, structure and mtimes', async () => {
    const out = join(w.dir, 'out');
    const get = await w.ferry(['get', '-r', 'ferry:/v/dir', out, '--e2e-key-file', key, '--json']);
    expect(get.code, get.stderr).toBe(0);
    const { 'a/b/skip.log': _skipped, ...expected } = FILES;
    expect(await localTree(out)).toEqual(expected);
    for (const rel of Object.keys(expected)) expect((await stat(join(out, rel))).mtime.getTime(), rel).toBe(MTIME.getTime());
  });

  it('put -r into a vault encrypts without --encrypt; get -r of the whole vault', async () => {
    const put = await w.ferry(['put', '-r', join(src, 'a'), 'ferry:/v/auto', '--e2e-key-file', key]);
    expect(put.code, put.stderr).toBe(0);
    const out = join(w.dir, 'whole');
    const get = await w.ferry(['get', '-r', 'ferry:/v', out, '--e2e-key-file', key]);
    expect(get.code, get.stderr).toBe(0);
    const got = await localTree(out);
    expect(got['auto/b/skip.log']).toBe(FILES['a/b/skip.log']);
    expect(got['dir/top.txt']).toBe(FILES['top.txt']);
    expect(Object.keys(got)).not.toContain('.ferry-e2e');
    // without filters, empty folders travel too
    expect((await w.ferry(['put', '--encrypt', '-r', src, 'ferry:/v/all', '--e2e-key-file', key])).code).toBe(0);
    const all = join(w.dir, 'all');
    expect((await w.ferry(['get', '-r', 'ferry:/v/all', all, '--e2e-key-file', key])).code).toBe(0);
    expect((await stat(join(all, 'empty'))).isDirectory()).toBe(true);
  });

  it('get -r with a key file of another key: FERRY_ERR_CRYPTO_KEY_WRONG, nothing written', async () => {
    const out = join(w.dir, 'wrong');
    const get = await w.ferry(['get', '-r', 'ferry:/v/dir', out, '--e2e-key-file', other]);
    expect(get.code).toBe(4);
    expect(get.stderr).toContain('FERRY_ERR_CRYPTO_KEY_WRONG');
    await expect(readdir(out)).rejects.toThrow(/ENOENT/);
  });
});
