/**
 * `ferry mv` and `ferry cp` in an end-to-end folder (a vault), through the real CLI, a
 * real `ferry serve` and a proxy that looks for plain names in every byte: paths are given
 * plain, the new names are encrypted by the CLI for their new folder, and so is every name
 * below a moved or copied folder (checked against the names the key computes, not only by
 * reading back); contents come back byte for byte; the proxy never sees a plain name or a
 * plain byte. Moving out of a vault, or plain things in, is refused with nothing moved. A
 * vault moved as a whole (or the folder holding it) gets its names encrypted for its new
 * path. An interrupted rename (stale names) is still found and repaired by the next move.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keysFor, parseMarker } from '../../src/client/e2e/kdf.js';
import type { E2eKeys } from '../../src/client/e2e/format.js';
import { serverPathOf, type KeyLocation } from '../../src/client/e2e/locate.js';
import { nodeScrypt, parseKeyFile } from '../../src/client/e2e/node-keys.js';
import type { Entry } from '../../src/core/protocol.js';
import { startWorld, type E2EWorld } from '../helpers/e2e.js';
import { startRecordingProxy, type RecordingProxy } from '../helpers/recording-proxy.js';

/** Every plain name of the test (files and folders) and a plain content marker: the proxy must see none. */
const N = {
  top: 'MVNAME-top-report.txt',
  renamed: 'MVNAME-renamed-report.txt',
  dirA: 'MVNAME-folder-alpha',
  dirB: 'MVNAME-folder-beta',
  deep: 'MVNAME-deep-notes.txt',
  big: 'MVNAME-big.bin',
  moved: 'MVNAME-moved-here',
  copy: 'MVNAME-copy-of-alpha',
  extra: 'MVNAME-extra.txt',
  made: 'MVNAME-made-by-mkdir',
  p1: 'MVNAME-parent-one',
  p2: 'MVNAME-parent-two',
};
/** Folders at and above a vault: plain by design (docs/e2e.md, "Names"). */
const VAULT = '/vault-renamed';
const HOLDER = '/holder';
const CONTENT_MARK = 'MV-PLAIN-CONTENT-MARKER-5d1e';
const SECRET_NAMES = Object.values(N);

let w: E2EWorld;
let proxy: RecordingProxy;
let keyFile: string;
let keys: E2eKeys;
let env: Record<string, string>;
const files: Record<string, Buffer> = {};

const ferry = (args: string[]) => w.ferry([...args, '--e2e-key-file', keyFile], { env });

async function serverEntry(path: string): Promise<Entry | undefined> {
  const r = await fetch(`${w.server.url}/api/v1/stat${path.split('/').map(encodeURIComponent).join('/')}`, { headers: { authorization: `Bearer ${w.server.adminToken}` } });
  if (r.status === 404) return undefined;
  expect(r.status, path).toBe(200);
  return (await r.json()) as Entry;
}

async function serverTree(dir: string): Promise<Entry[]> {
  const r = await fetch(`${w.server.url}/api/v1/list${dir}?recursive=true`, { headers: { authorization: `Bearer ${w.server.adminToken}` } });
  expect(r.status).toBe(200);
  return ((await r.json()) as { entries: Entry[] }).entries;
}

/** The vault of `dir` as the client sees it (its marker). */
async function loc(dir: string): Promise<KeyLocation> {
  const r = await fetch(`${w.server.url}/api/v1/files${dir}/.ferry-e2e`, { headers: { authorization: `Bearer ${w.server.adminToken}` } });
  expect(r.status).toBe(200);
  return { dir, marker: parseMarker(await r.text()) };
}

/** Asserts that each plain path is stored under exactly the name the key computes for it. */
async function storedAsComputed(vault: string, plainPaths: string[]): Promise<void> {
  const l = await loc(vault);
  for (const p of plainPaths) expect(await serverEntry(await serverPathOf(keys, l, p)), p).toBeDefined();
}

async function getBytes(plain: string): Promise<Buffer> {
  const dest = join(w.dir, 'got-' + randomBytes(4).toString('hex'));
  const g = await ferry(['get', plain, dest]);
  expect(g.code, g.stderr).toBe(0);
  return readFile(dest);
}

async function localTree(dir: string, rel = ''): Promise<Record<string, Buffer>> {
  const out: Record<string, Buffer> = {};
  for (const e of await readdir(join(dir, rel), { withFileTypes: true })) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) Object.assign(out, await localTree(dir, r));
    else out[r] = await readFile(join(dir, r));
  }
  return out;
}

beforeAll(async () => {
  w = await startWorld();
  proxy = await startRecordingProxy(w.server.port, [...SECRET_NAMES, CONTENT_MARK]);
  env = { FERRY_SERVER: proxy.url };
  keyFile = join(w.dir, 'key');
  expect((await w.ferry(['admin', 'keygen', keyFile])).code).toBe(0);
  const src = join(w.dir, 'src');
  files[N.top] = Buffer.from(`${CONTENT_MARK} top\n`);
  files[`${N.dirA}/${N.deep}`] = Buffer.from(`${CONTENT_MARK} deep\n`.repeat(100));
  // Several chunks (the server's minimum is 256 KiB), random so that nothing dedups away.
  files[`${N.dirA}/${N.dirB}/${N.big}`] = Buffer.concat([randomBytes(1_500_000), Buffer.from(CONTENT_MARK)]);
  for (const [rel, bytes] of Object.entries(files)) {
    await mkdir(join(src, rel, '..'), { recursive: true });
    await writeFile(join(src, rel), bytes);
  }
  const mk = await ferry(['mkdir', '--e2e', '/vault']);
  expect(mk.code, mk.stderr).toBe(0);
  const put = await ferry(['put', '-r', src, '/vault/t']);
  expect(put.code, put.stderr).toBe(0);
  const marker = (await loc('/vault')).marker;
  keys = await keysFor({ keyFile: parseKeyFile(await readFile(keyFile, 'utf8'), keyFile) }, marker.kdf, marker.check, nodeScrypt);
}, 120_000);
afterAll(async () => {
  // Checked last: no request or answer of any test carried a plain name or plain bytes.
  expect(SECRET_NAMES.filter((n) => proxy.saw(n))).toEqual([]);
  expect(proxy.saw(CONTENT_MARK)).toBe(false);
  expect(proxy.bytes()).toBeGreaterThan(1_500_000);
  await proxy?.close();
  await w?.close();
});

describe('ferry mv and cp inside a vault take plain paths and encrypt the new names', () => {
  it('ls -R in the vault, of a subfolder too: plain names, relative paths, plain sizes; the subfolder asked for by its stored path', async () => {
    const lines = (r: { stdout: string }) => r.stdout.split('\n').filter(Boolean).sort();
    const all = await ferry(['ls', '-R', '/vault/t']);
    expect(all.code, all.stderr).toBe(0);
    expect(lines(all)).toEqual([`${N.dirA}/`, `${N.dirA}/${N.deep}`, `${N.dirA}/${N.dirB}/`, `${N.dirA}/${N.dirB}/${N.big}`, N.top].sort());
    const sub = await ferry(['ls', '-R', `/vault/t/${N.dirA}`]);
    expect(sub.code, sub.stderr).toBe(0);
    expect(lines(sub)).toEqual([N.deep, `${N.dirB}/`, `${N.dirB}/${N.big}`].sort());
    const json = await ferry(['ls', '-R', '--json', `/vault/t/${N.dirA}`]);
    const big = (JSON.parse(json.stdout) as Entry[]).find((e) => e.name === N.big);
    expect(big).toMatchObject({ path: `/vault/t/${N.dirA}/${N.dirB}/${N.big}`, size: files[`${N.dirA}/${N.dirB}/${N.big}`].length });
    expect(big).not.toHaveProperty('storedPath');
  });

  it('renames a file in its folder: listed back under the new plain name, the same bytes', async () => {
    const mv = await ferry(['mv', `/vault/t/${N.top}`, `/vault/t/${N.renamed}`]);
    expect(mv.code, mv.stderr).toBe(0);
    const ls = await ferry(['ls', '/vault/t']);
    expect(ls.code, ls.stderr).toBe(0);
    expect(ls.stdout.split('\n').filter(Boolean).sort()).toEqual([N.renamed, N.dirA + '/'].sort());
    await storedAsComputed('/vault', [`/vault/t/${N.renamed}`]);
    expect((await getBytes(`/vault/t/${N.renamed}`)).equals(files[N.top])).toBe(true);
    const old = await ferry(['get', `/vault/t/${N.top}`, join(w.dir, 'gone.txt')]);
    expect(old.code).not.toBe(0);
  });

  it('moves a file into a nested folder (DEST/ form): found there by its computed name', async () => {
    const mv = await ferry(['mv', `/vault/t/${N.renamed}`, `/vault/t/${N.dirA}/${N.dirB}/`]);
    expect(mv.code, mv.stderr).toBe(0);
    await storedAsComputed('/vault', [`/vault/t/${N.dirA}/${N.dirB}/${N.renamed}`]);
    expect((await getBytes(`/vault/t/${N.dirA}/${N.dirB}/${N.renamed}`)).equals(files[N.top])).toBe(true);
  });

  it('moves a folder of nested folders: every name below it is encrypted again for its new path', async () => {
    const before = (await serverTree('/vault')).length;
    const mv = await ferry(['mv', `/vault/t/${N.dirA}`, `/vault/${N.moved}`]);
    expect(mv.code, mv.stderr).toBe(0);
    expect((await serverTree('/vault')).length).toBe(before);
    const base = `/vault/${N.moved}`;
    await storedAsComputed('/vault', [base, `${base}/${N.deep}`, `${base}/${N.dirB}`, `${base}/${N.dirB}/${N.big}`, `${base}/${N.dirB}/${N.renamed}`]);
    const ls = await ferry(['ls', `${base}/${N.dirB}`]);
    expect(ls.stdout.split('\n').filter(Boolean).sort()).toEqual([N.big, N.renamed].sort());
    const out = join(w.dir, 'moved-out');
    const get = await ferry(['get', '-r', base, out]);
    expect(get.code, get.stderr).toBe(0);
    const got = await localTree(out);
    expect(Object.keys(got).sort()).toEqual([N.deep, `${N.dirB}/${N.big}`, `${N.dirB}/${N.renamed}`].sort());
    expect(got[N.deep].equals(files[`${N.dirA}/${N.deep}`])).toBe(true);
    expect(got[`${N.dirB}/${N.big}`].equals(files[`${N.dirA}/${N.dirB}/${N.big}`])).toBe(true);
  });

  it('cp -r copies a folder under new names; the original stays as it was', async () => {
    const orig = await serverTree(`/vault`);
    const cp = await ferry(['cp', '-r', `/vault/${N.moved}`, `/vault/t/${N.copy}`]);
    expect(cp.code, cp.stderr).toBe(0);
    const base = `/vault/t/${N.copy}`;
    await storedAsComputed('/vault', [base, `${base}/${N.deep}`, `${base}/${N.dirB}/${N.big}`, `${base}/${N.dirB}/${N.renamed}`]);
    expect((await getBytes(`${base}/${N.dirB}/${N.big}`)).equals(files[`${N.dirA}/${N.dirB}/${N.big}`])).toBe(true);
    const now = (await serverTree('/vault')).map((e) => e.path);
    for (const e of orig) expect(now).toContain(e.path);
    expect((await getBytes(`/vault/${N.moved}/${N.deep}`)).equals(files[`${N.dirA}/${N.deep}`])).toBe(true);
    const noR = await ferry(['cp', `/vault/${N.moved}`, `/vault/t/other`]);
    expect(noR.code).toBe(2);
    expect(noR.stderr).toMatch(/use -r/);
  });

  it('put into a subfolder named without a trailing slash, ls and get -r of a subfolder: its plain name is never asked for', async () => {
    await writeFile(join(w.dir, N.extra), `${CONTENT_MARK} extra\n`);
    const put = await ferry(['put', join(w.dir, N.extra), `/vault/${N.moved}`]);
    expect(put.code, put.stderr).toBe(0);
    await storedAsComputed('/vault', [`/vault/${N.moved}/${N.extra}`]);
    const ls = await ferry(['ls', `/vault/${N.moved}`]);
    expect(ls.stdout.split('\n').filter(Boolean).sort()).toEqual([N.deep, N.dirB + '/', N.extra].sort());
    const rm = await ferry(['rm', `/vault/${N.moved}/${N.extra}`]);
    expect(rm.code, rm.stderr).toBe(0);
  });

  it('mkdir and mkdir -p in the vault make folders under their encrypted names; without -p a missing parent is an error', async () => {
    const mk = await ferry(['mkdir', `/vault/t/${N.made}`]);
    expect(mk.code, mk.stderr).toBe(0);
    const p = await ferry(['mkdir', '-p', `/vault/${N.p1}/${N.p2}`]);
    expect(p.code, p.stderr).toBe(0);
    await storedAsComputed('/vault', [`/vault/t/${N.made}`, `/vault/${N.p1}`, `/vault/${N.p1}/${N.p2}`]);
    const again = await ferry(['mkdir', '-p', '--json', `/vault/${N.p1}/${N.p2}`, `/vault/${N.p1}/${N.made}`]);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toEqual({ ok: true, made: [`/vault/${N.p1}/${N.made}`], existed: [`/vault/${N.p1}/${N.p2}`], implied: [], failed: [] });
    await storedAsComputed('/vault', [`/vault/${N.p1}/${N.made}`]);
    const before = (await serverTree('/vault')).length;
    const none = await ferry(['mkdir', `/vault/${N.made}/${N.p2}`]);
    expect(none.code).not.toBe(0);
    expect((await serverTree('/vault')).length).toBe(before);
    const rm = await ferry(['rm', '-r', '--json', `/vault/${N.p1}`]);
    expect(rm.code, rm.stderr).toBe(0);
    expect(JSON.parse(rm.stdout)).toEqual({ ok: true, dryRun: false, removed: [`/vault/${N.p1}`], missing: [], failed: [] });
    expect((await serverTree('/vault')).length).toBe(before - 3);
  });

  it('refuses moving out of the vault and moving a plain file in; nothing moves', async () => {
    const before = (await serverTree('/')).map((e) => e.path).sort();
    const out = await ferry(['mv', `/vault/${N.moved}/${N.deep}`, '/outside.txt']);
    expect(out.code).toBe(2);
    expect(out.stderr).toMatch(/moving it out would need decrypting it/);
    const cpOut = await ferry(['cp', '-r', `/vault/${N.moved}`, '/']);
    expect(cpOut.code).toBe(2);
    await writeFile(join(w.dir, 'plain.txt'), 'plain\n');
    expect((await w.ferry(['put', join(w.dir, 'plain.txt'), '/plain.txt'])).code).toBe(0);
    const before2 = (await serverTree('/')).map((e) => e.path).sort();
    expect(before2.length).toBe(before.length + 1);
    const into = await ferry(['mv', '/plain.txt', '/vault/t/']);
    expect(into.code).toBe(2);
    expect(into.stderr).toMatch(/moving it in would need encrypting it/);
    expect((await serverTree('/')).map((e) => e.path).sort()).toEqual(before2);
  });

  it('a wrong key is refused before anything moves', async () => {
    const other = join(w.dir, 'other-key');
    expect((await w.ferry(['admin', 'keygen', other])).code).toBe(0);
    const before = (await serverTree('/vault')).map((e) => e.path).sort();
    const mv = await w.ferry(['mv', `/vault/${N.moved}`, `/vault/x`, '--e2e-key-file', other], { env });
    expect(mv.code).toBe(4);
    expect(mv.stderr).toContain('FERRY_ERR_CRYPTO_KEY_WRONG');
    expect((await serverTree('/vault')).map((e) => e.path).sort()).toEqual(before);
  });

  it('a folder whose names were left for another place (a move cut short) is still found, and the next move repairs them', async () => {
    // What an interrupted mv leaves: the folder moved by the server, its children not renamed yet.
    const l = await loc('/vault');
    const from = await serverPathOf(keys, l, `/vault/${N.moved}/${N.dirB}`);
    const half = await serverPathOf(keys, l, `/vault/half`);
    const res = await fetch(`${w.server.url}/api/v1/move`, {
      method: 'POST',
      headers: { authorization: `Bearer ${w.server.adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ from, to: half, reencrypt: true }),
    });
    expect(res.status).toBe(200);
    expect(await serverEntry(await serverPathOf(keys, l, `/vault/half/${N.big}`))).toBeUndefined();
    const mv = await ferry(['mv', `/vault/half`, `/vault/whole`]);
    expect(mv.code, mv.stderr).toBe(0);
    await storedAsComputed('/vault', [`/vault/whole/${N.big}`, `/vault/whole/${N.renamed}`]);
    expect((await getBytes(`/vault/whole/${N.big}`)).equals(files[`${N.dirA}/${N.dirB}/${N.big}`])).toBe(true);
  });
});

describe('a vault moved or copied as a whole', () => {
  it('mv of the vault: its names are encrypted for the new path', async () => {
    const mv = await ferry(['mv', '/vault', VAULT]);
    expect(mv.code, mv.stderr).toBe(0);
    const v = VAULT;
    await storedAsComputed(v, [`${v}/${N.moved}/${N.deep}`, `${v}/t/${N.copy}/${N.dirB}/${N.big}`, `${v}/whole/${N.big}`]);
    expect((await getBytes(`${v}/${N.moved}/${N.deep}`)).equals(files[`${N.dirA}/${N.deep}`])).toBe(true);
  });

  it('mv and cp -r of a folder that holds a vault: the vault inside gets names for its new path', async () => {
    expect((await ferry(['mkdir', HOLDER])).code).toBe(0);
    const mv = await ferry(['mv', VAULT, HOLDER + '/']);
    expect(mv.code, mv.stderr).toBe(0);
    const cp = await ferry(['cp', '-r', HOLDER, '/holder-copy']);
    expect(cp.code, cp.stderr).toBe(0);
    for (const v of [`/${HOLDER.slice(1)}/${VAULT.slice(1)}`, `/holder-copy/${VAULT.slice(1)}`]) {
      await storedAsComputed(v, [`${v}/${N.moved}/${N.deep}`, `${v}/t/${N.copy}/${N.dirB}/${N.renamed}`]);
      expect((await getBytes(`${v}/t/${N.copy}/${N.dirB}/${N.renamed}`)).equals(files[N.top])).toBe(true);
    }
  });

  it('without a key the CLI says so and moves nothing', async () => {
    const before = (await serverTree('/')).map((e) => e.path).sort();
    const mv = await w.ferry(['mv', '/holder-copy', '/elsewhere'], { env });
    expect(mv.code).toBe(2);
    expect(mv.stderr).toContain('FERRY_ERR_CRYPTO_KEY_MISSING');
    expect((await serverTree('/')).map((e) => e.path).sort()).toEqual(before);
  });

  it('mv --help explains plain paths in a vault with an example', async () => {
    const help = await w.ferry(['mv', '--help']);
    expect(help.stdout).toMatch(/end-to-end folder/);
    expect(help.stdout).toMatch(/ferry mv \/vault\//);
    expect(help.stdout).toContain('--e2e-key-file');
  });
});
