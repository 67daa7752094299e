/**
 * End-to-end encryption with a key file (`ferry admin keygen FILE`, `--e2e-key-file FILE`)
 * through the real CLI process against a real `ferry serve`: mkdir --e2e, put, ls, get and
 * share take it; a key file of another key is refused with FERRY_ERR_CRYPTO_KEY_WRONG (exit
 * 4) before anything is written, locally or on the server; a file that is not a key file is
 * a clear configuration error.
 */
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decryptFile, fromBase64Url, useChunkCrypto } from '../../src/client/e2e/format.js';
import { nodeChunkCrypto } from '../../src/client/e2e/node-keys.js';
import type { Entry } from '../../src/core/protocol.js';
import { startWorld, type E2EWorld } from '../helpers/e2e.js';

const TEXT = 'KEYFILE-PLAINTEXT-MARKER 4c1d\n'.repeat(1000);
let w: E2EWorld;
let key: string;
let other: string;

async function serverNames(dir: string): Promise<string[]> {
  const r = await fetch(`${w.server.url}/api/v1/list${dir}`, { headers: { authorization: `Bearer ${w.server.adminToken}` } });
  expect(r.status).toBe(200);
  return ((await r.json()) as { entries: Entry[] }).entries.map((e) => e.name).sort();
}

beforeAll(async () => {
  w = await startWorld();
  key = join(w.dir, 'mine.key');
  other = join(w.dir, 'other.key');
  expect((await w.ferry(['admin', 'keygen', key])).code).toBe(0);
  expect((await w.ferry(['admin', 'keygen', other])).code).toBe(0);
  await writeFile(join(w.dir, 'notes.txt'), TEXT);
}, 60_000);
afterAll(async () => {
  await w?.close();
});

describe('--e2e-key-file through the CLI', () => {
  it('mkdir --e2e, put, ls and get with a key file (no passphrase anywhere)', async () => {
    const mk = await w.ferry(['mkdir', '--e2e', '/kv', '--e2e-key-file', key]);
    expect(mk.code, mk.stderr).toBe(0);
    const put = await w.ferry(['put', join(w.dir, 'notes.txt'), '/kv/', '--e2e-key-file', key]);
    expect(put.code, put.stderr).toBe(0);
    const stored = (await serverNames('/kv')).filter((n) => n !== '.ferry-e2e');
    expect(stored).toHaveLength(1);
    expect(stored[0]).toMatch(/\.fe2e$/);
    const ls = await w.ferry(['ls', '/kv', '--e2e-key-file', key]);
    expect(ls.code, ls.stderr).toBe(0);
    expect(ls.stdout.trim()).toBe('notes.txt');
    const out = join(w.dir, 'out');
    await mkdir(out);
    const get = await w.ferry(['get', '/kv/notes.txt', out + '/', '--e2e-key-file', key]);
    expect(get.code, get.stderr).toBe(0);
    expect(await readFile(join(out, 'notes.txt'), 'utf8')).toBe(TEXT);
  });

  it('share with a key file prints a link whose fragment opens the file', async () => {
    const made = await w.ferry(['share', '/kv/notes.txt', '--e2e-key-file', key]);
    expect(made.code, made.stderr).toBe(0);
    const url = made.stdout.trim();
    const fragment = /#k=([A-Za-z0-9_-]{43})$/.exec(url)?.[1];
    expect(fragment, url).toBeDefined();
    const page = new URL(url);
    const stored = Buffer.from(await (await fetch(`${page.origin}${page.pathname}?download=1`)).arrayBuffer());
    expect(stored.includes('KEYFILE-PLAINTEXT-MARKER')).toBe(false);
    useChunkCrypto(nodeChunkCrypto);
    const parts: Uint8Array[] = [];
    for await (const p of decryptFile((async function* () { yield new Uint8Array(stored); })(), { keyFor: async () => ({ fileKey: fromBase64Url(fragment!) }) })) parts.push(p);
    expect(Buffer.concat(parts).toString('utf8')).toBe(TEXT);
  });

  it('a key file of another key: FERRY_ERR_CRYPTO_KEY_WRONG (exit 4) for put, get, ls and share, nothing written', async () => {
    const before = await serverNames('/kv');
    const put = await w.ferry(['put', join(w.dir, 'notes.txt'), '/kv/again.txt', '--e2e-key-file', other]);
    expect(put.code).toBe(4);
    expect(put.stderr).toContain('FERRY_ERR_CRYPTO_KEY_WRONG');
    expect(await serverNames('/kv')).toEqual(before);

    const out = join(w.dir, 'wrong-out');
    await mkdir(out);
    const get = await w.ferry(['get', '/kv/notes.txt', join(out, 'notes.txt'), '--e2e-key-file', other]);
    expect(get.code).toBe(4);
    expect(get.stderr).toContain('FERRY_ERR_CRYPTO_KEY_WRONG');
    expect(await readdir(out)).toEqual([]);

    const ls = await w.ferry(['ls', '/kv', '--e2e-key-file', other]);
    expect(ls.code).toBe(4);
    expect(ls.stderr).toContain('FERRY_ERR_CRYPTO_KEY_WRONG');
    expect(ls.stdout).toBe('');

    const share = await w.ferry(['share', '/kv/notes.txt', '--e2e-key-file', other]);
    expect(share.code).toBe(4);
    expect(share.stderr).toContain('FERRY_ERR_CRYPTO_KEY_WRONG');
    expect(share.stdout).not.toContain('#k=');
  });

  it('a file that is not a key file is a configuration error naming it', async () => {
    const bad = join(w.dir, 'bad.key');
    await writeFile(bad, 'hello\n');
    const get = await w.ferry(['get', '/kv/notes.txt', join(w.dir, 'never.txt'), '--e2e-key-file', bad]);
    expect(get.code).not.toBe(0);
    expect(get.stderr).toContain('FERRY_ERR_CONFIG');
    expect(get.stderr).toContain('bad.key is not a Ferry key file');
    expect(await readdir(w.dir)).not.toContain('never.txt');
  });
});
