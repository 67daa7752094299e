/**
 * Versions and the trash in an end-to-end folder (a vault), through the real CLI and a real
 * `ferry serve` keeping both: names in a vault are encrypted for the plain path they were
 * made at, so content restored to another place than the one it had would keep a name made
 * for the old one (found by nobody who computes it), and content restored under a vault that
 * was moved away would land outside any vault. The server refuses both without the key
 * (FERRY_ERR_E2E_NEEDS_KEY, nothing restored); at its own path under its vault a restore is
 * right (a folder renamed since comes back under its old name); the CLI with the key takes
 * plain paths (`ferry versions|restore PLAIN`, `ferry trash restore ID --to PLAIN`) and
 * encrypts the names for their place.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { E2eKeys } from '../../src/client/e2e/format.js';
import { keysFor, parseMarker } from '../../src/client/e2e/kdf.js';
import { serverPathOf, type KeyLocation } from '../../src/client/e2e/locate.js';
import { nodeScrypt, parseKeyFile } from '../../src/client/e2e/node-keys.js';
import type { Entry } from '../../src/core/protocol.js';
import { startWorld, type E2EWorld } from '../helpers/e2e.js';

let w: E2EWorld;
let keyFile: string;
let keys: E2eKeys;
const ferry = (args: string[]) => w.ferry([...args, '--e2e-key-file', keyFile]);
const plainFerry = (args: string[]) => w.ferry(args);

async function api(path: string, init: { method?: string; json?: unknown } = {}): Promise<Response> {
  return fetch(`${w.server.url}${path}`, {
    method: init.method ?? 'GET',
    headers: { authorization: `Bearer ${w.server.adminToken}`, ...(init.json ? { 'content-type': 'application/json' } : {}) },
    body: init.json ? JSON.stringify(init.json) : undefined,
  });
}
const enc = (p: string) => p.split('/').map(encodeURIComponent).join('/');
async function exists(path: string): Promise<boolean> {
  const r = await api(`/api/v1/stat${enc(path)}`);
  if (r.status === 404) return false;
  expect(r.status, path).toBe(200);
  return true;
}
async function loc(dir: string): Promise<KeyLocation> {
  const r = await api(`/api/v1/files${dir}/.ferry-e2e`);
  expect(r.status).toBe(200);
  return { dir, marker: parseMarker(await r.text()) };
}
const stored = async (vault: string, plain: string) => serverPathOf(keys, await loc(vault), plain);
async function trashIdOf(storedPath: string): Promise<number> {
  const r = await api(`/api/v1/trash?path=${encodeURIComponent('/')}`);
  const entries = ((await r.json()) as { entries: { id: number; path: string }[] }).entries;
  const t = entries.find((e) => e.path === storedPath);
  expect(t, storedPath).toBeDefined();
  return t!.id;
}
async function put(text: string, plain: string): Promise<void> {
  const src = join(w.dir, 'src.txt');
  await writeFile(src, text);
  const r = await ferry(['put', src, plain]);
  expect(r.code, r.stderr).toBe(0);
}
async function read(plain: string): Promise<string> {
  const r = await ferry(['get', plain, '-']);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout;
}

beforeAll(async () => {
  w = await startWorld({ extraArgs: ['--trash-days', '7', '--versions', '{"keep": 5}'] });
  keyFile = join(w.dir, 'key');
  expect((await w.ferry(['admin', 'keygen', keyFile])).code).toBe(0);
  expect((await ferry(['mkdir', '--e2e', '/v'])).code).toBe(0);
  const marker = (await loc('/v')).marker;
  keys = await keysFor({ keyFile: parseKeyFile(await readFile(keyFile, 'utf8'), keyFile) }, marker.kdf, marker.check, nodeScrypt);
}, 120_000);
afterAll(async () => {
  await w?.close();
});

describe('the trash in a vault', () => {
  it('a file deleted before its folder was renamed goes back under the old folder, under names that are right for it (no key needed)', async () => {
    await put('alpha one\n', '/v/A/f.txt');
    const was = await stored('/v', '/v/A/f.txt');
    expect((await ferry(['rm', '/v/A/f.txt'])).code).toBe(0);
    // trash ls shows stored paths; with the key, the plain ones too.
    const bare = JSON.parse((await plainFerry(['trash', 'ls', '/v', '--json'])).stdout) as { path: string; plainPath?: string }[];
    expect(bare.find((t) => t.path === was)?.plainPath).toBeUndefined();
    const keyed = await ferry(['trash', 'ls', '/v', '--json']);
    expect(keyed.code, keyed.stderr).toBe(0);
    expect((JSON.parse(keyed.stdout) as { path: string; plainPath?: string }[]).find((t) => t.path === was)?.plainPath).toBe('/v/A/f.txt');
    expect((await ferry(['trash', 'ls', '/v'])).stdout).toContain('/v/A/f.txt');
    expect((await ferry(['mv', '/v/A', '/v/B'])).code).toBe(0);
    const r = await plainFerry(['trash', 'restore', String(await trashIdOf(was))]);
    expect(r.code, r.stderr).toBe(0);
    expect(await exists(was)).toBe(true);
    expect(await read('/v/A/f.txt')).toBe('alpha one\n');
  });

  it('--to another place in the vault without the key is refused (the name was made for its old folder); with the key, its names are computed for the new place', async () => {
    await put('beta\n', '/v/B/g.txt');
    const was = await stored('/v', '/v/B/g.txt');
    expect((await ferry(['rm', '/v/B/g.txt'])).code).toBe(0);
    const id = await trashIdOf(was);
    // What a client without the key can do: keep the stored name, in another folder.
    const strand = (await stored('/v', '/v/A/x.txt')).replace(/\/[^/]+$/, '/' + was.split('/').at(-1));
    const refused = await api('/api/v1/trash/restore', { method: 'POST', json: { id, to: strand } });
    expect(refused.status).toBe(409);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('FERRY_ERR_E2E_NEEDS_KEY');
    expect(await exists(strand)).toBe(false);
    // The CLI with a plain --to: encrypted here for /v/A.
    const r = await ferry(['trash', 'restore', String(id), '--to', '/v/A/g-restored.txt']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('restored /v/A/g-restored.txt');
    expect(await exists(await stored('/v', '/v/A/g-restored.txt'))).toBe(true);
    expect(await read('/v/A/g-restored.txt')).toBe('beta\n');
    const ls = await ferry(['ls', '/v/A']);
    expect(ls.stdout.split('\n').filter(Boolean).sort()).toEqual(['f.txt', 'g-restored.txt']);
  });

  it('after the vault itself moved, restoring to its old path is refused (it would land outside any vault); --to its new place with the key works', async () => {
    await put('gamma\n', '/v/C/h.txt');
    const was = await stored('/v', '/v/C/h.txt');
    expect((await ferry(['rm', '/v/C/h.txt'])).code).toBe(0);
    const id = await trashIdOf(was);
    const mv = await ferry(['mv', '/v', '/w']);
    expect(mv.code, mv.stderr).toBe(0);
    const r = await plainFerry(['trash', 'restore', String(id)]);
    expect(r.code).toBe(6);
    expect(r.stderr).toContain('FERRY_ERR_E2E_NEEDS_KEY');
    expect(r.stderr).toMatch(/no longer there/);
    // The server's words name no command (a WebDAV user has none); the CLI adds its own.
    expect(r.stderr).toMatch(/restore it into the vault where it is now, through a Ferry client that holds the key, by a plain path \(with this CLI: ferry restore PLAIN_PATH or ferry trash restore ID --to PLAIN_PATH do it, with the passphrase\)/);
    expect(await exists('/v')).toBe(false);
    const ok = await ferry(['trash', 'restore', String(id), '--to', '/w/C/h.txt']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(await exists(await stored('/w', '/w/C/h.txt'))).toBe(true);
    expect(await read('/w/C/h.txt')).toBe('gamma\n');
  });
});

describe('versions in a vault', () => {
  it('ferry versions and ferry restore take the plain path with the key; a folder renamed since comes back under its old name, readable', async () => {
    await put('version one\n', '/w/D/x.txt');
    await put('version two, longer\n', '/w/D/x.txt');
    const listed = await ferry(['versions', '/w/D/x.txt', '--json']);
    expect(listed.code, listed.stderr).toBe(0);
    const versions = JSON.parse(listed.stdout) as { id: number; path: string }[];
    expect(versions).toHaveLength(1);
    expect(versions[0].path).toBe(await stored('/w', '/w/D/x.txt'));
    const r = await ferry(['restore', '/w/D/x.txt', '--version', String(versions[0].id)]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('restored /w/D/x.txt');
    expect(await read('/w/D/x.txt')).toBe('version one\n');
    // Renamed folder: the versions stay at the old path (as for any file); restoring there brings the old folder back.
    expect((await ferry(['mv', '/w/D', '/w/E'])).code).toBe(0);
    const again = JSON.parse((await ferry(['versions', '/w/D/x.txt', '--json'])).stdout) as { id: number }[];
    expect(again.length).toBeGreaterThan(0);
    expect((await ferry(['restore', '/w/D/x.txt', '--version', String(again[0].id)])).code).toBe(0);
    expect(await read('/w/D/x.txt')).toBe('version two, longer\n');
    expect(await read('/w/E/x.txt')).toBe('version one\n');
  });

  it('after the vault moved, an old version at its old path is refused by the server (FERRY_ERR_E2E_NEEDS_KEY) and nothing appears there', async () => {
    await put('v1\n', '/w/F/y.txt');
    await put('v2!\n', '/w/F/y.txt');
    const old = await stored('/w', '/w/F/y.txt');
    const list = (await (await api(`/api/v1/versions${enc(old)}`)).json()) as { versions: { id: number }[] };
    expect((await ferry(['mv', '/w', '/u'])).code).toBe(0);
    const r = await api('/api/v1/versions/restore', { method: 'POST', json: { path: old, version: list.versions[0].id } });
    expect(r.status).toBe(409);
    expect(((await r.json()) as { error: { code: string } }).error.code).toBe('FERRY_ERR_E2E_NEEDS_KEY');
    expect(await exists('/w')).toBe(false);
    expect(await read('/u/F/y.txt')).toBe('v2!\n');
  });
});

describe('a trashed file of another key', () => {
  it('is not restored into a vault whose key does not open it (the CLI checks its name with the key)', async () => {
    expect((await w.ferry(['user', 'add', 'olga'])).code).toBe(0);
    const olga = { FERRY_TOKEN: (JSON.parse((await w.ferry(['token', 'create', '--user', 'olga', '--json'])).stdout) as { token: string }).token };
    const olgaKey = join(w.dir, 'olga.key');
    expect((await w.ferry(['admin', 'keygen', olgaKey])).code).toBe(0);
    const asOlga = (args: string[]) => w.ferry([...args, '--e2e-key-file', olgaKey], { env: olga });
    expect((await asOlga(['mkdir', '--e2e', '/ov'])).code).toBe(0);
    await writeFile(join(w.dir, 'olga.txt'), 'olga\n');
    expect((await asOlga(['put', join(w.dir, 'olga.txt'), '/ov/'])).code).toBe(0);
    const r = await api('/api/v1/list/users/olga/ov');
    const name = ((await r.json()) as { entries: Entry[] }).entries.find((e) => e.name !== '.ferry-e2e')!.name;
    expect((await asOlga(['rm', '/ov/olga.txt'])).code).toBe(0);
    const id = await trashIdOf(`/users/olga/ov/${name}`);
    const refused = await ferry(['trash', 'restore', String(id), '--to', '/u/F/from-olga.txt']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/is not encrypted with the key of the end-to-end folder \/u/);
    expect(await exists(await stored('/u', '/u/F/from-olga.txt'))).toBe(false);
  });
});

describe('restores outside vaults are unchanged', () => {
  it('a plain file goes back to its path or --to anywhere', async () => {
    const src = join(w.dir, 'plain.txt');
    await writeFile(src, 'plain\n');
    expect((await plainFerry(['put', src, '/p/plain.txt'])).code).toBe(0);
    expect((await plainFerry(['rm', '/p/plain.txt'])).code).toBe(0);
    const id = await trashIdOf('/p/plain.txt');
    const r = await plainFerry(['trash', 'restore', String(id), '--to', '/q/back.txt']);
    expect(r.code, r.stderr).toBe(0);
    const e = (await (await api('/api/v1/stat/q/back.txt')).json()) as Entry;
    expect(e.size).toBe(6);
  });
});
