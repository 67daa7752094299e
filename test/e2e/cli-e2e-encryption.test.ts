/**
 * End-to-end encryption (issue 18) as a user meets it: a real `ferry serve`, the real CLI
 * talking to it through a TCP proxy that records every byte both ways. The plaintext and
 * its name never cross the proxy nor land in the server's data directory; the right
 * passphrase gets the bytes back, a wrong one fails with FERRY_ERR_CRYPTO_KEY_WRONG before
 * anything is written; the same file put twice stores its chunks once.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, stat, utimes, writeFile } from 'node:fs/promises';
import { createServer, connect, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorld, type E2EWorld } from '../helpers/e2e.js';
import { formatTime } from '../../src/cli/format.js';
import type { Entry } from '../../src/core/protocol.js';

const MARKER = 'PLAINTEXT-MARKER-7f3a9c';
const NAME = `${MARKER}-diary.txt`;
const PASS = 'correct horse battery staple';

let w: E2EWorld;
let proxy: Server;
let seen: Buffer[] = [];
let env: Record<string, string>;
let plain: Buffer;
let local: string;

/** A TCP proxy to the server that keeps every byte that crosses it, both ways. */
async function startProxy(port: number): Promise<Server> {
  const s = createServer((c) => {
    const up = connect(port, '127.0.0.1');
    c.on('data', (d: Buffer) => seen.push(d));
    up.on('data', (d: Buffer) => seen.push(d));
    c.pipe(up).pipe(c);
    c.on('error', () => up.destroy());
    up.on('error', () => c.destroy());
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return s;
}

/** Every file under `dir`, recursively. */
async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await filesUnder(p)));
    else out.push(p);
  }
  return out;
}

beforeAll(async () => {
  w = await startWorld();
  proxy = await startProxy(w.server.port);
  env = { FERRY_SERVER: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}` };
  await writeFile(join(w.dir, 'pass'), PASS + '\n');
  await writeFile(join(w.dir, 'wrong'), 'not the passphrase\n');
  // Several chunks: the marker throughout, random bytes between (so chunks are distinct).
  const parts: Buffer[] = [];
  for (let i = 0; i < 96; i++) parts.push(Buffer.from(`${MARKER} line ${i}\n`), randomBytes(64 * 1024));
  plain = Buffer.concat(parts);
  local = join(w.dir, NAME);
  await writeFile(local, plain);
});
afterAll(async () => {
  await new Promise((r) => proxy?.close(r));
  await w?.close();
});

describe('end-to-end encrypted folders (mkdir --e2e, put, ls, get)', () => {
  it('puts into a vault: neither the proxy nor the data directory ever sees the plaintext or its name', async () => {
    const mk = await w.ferry(['mkdir', '--e2e', '/vault', '--passphrase-file', join(w.dir, 'pass')], { env });
    expect(mk.stderr).toBe('');
    expect(mk.code).toBe(0);
    const put = await w.ferry(['put', local, '/vault/', '--json'], { env: { ...env, FERRY_E2E_PASSPHRASE: PASS } });
    expect(put.code, put.stderr).toBe(0);
    expect(JSON.parse(put.stdout)).toMatchObject({ ok: true, files: 1 });

    const wire = Buffer.concat(seen);
    expect(wire.length).toBeGreaterThan(plain.length); // the file did cross the proxy, encrypted
    expect(wire.includes(MARKER)).toBe(false);
    expect(wire.includes(encodeURIComponent(NAME))).toBe(false);
    for (const f of await filesUnder(join(w.dir, 'data'))) {
      expect((await readFile(f)).includes(MARKER), f).toBe(false);
    }
  });

  it('ls shows the stored names without the key (and says so), the plain names with it', async () => {
    const bare = await w.ferry(['ls', '/vault'], { env });
    expect(bare.code).toBe(0);
    expect(bare.stderr).toMatch(/end-to-end encrypted/);
    expect(bare.stdout).not.toContain(MARKER);
    expect(bare.stdout.trim()).toMatch(/^[A-Za-z0-9_-]+\.fe2e$/);
    const keyed = await w.ferry(['ls', '-l', '/vault', '--passphrase-file', join(w.dir, 'pass')], { env });
    expect(keyed.code, keyed.stderr).toBe(0);
    expect(keyed.stdout).toContain(NAME);
    expect(keyed.stdout).not.toContain('.ferry-e2e');
  });

  it('ls -l and --json with the key show each file\'s own size and time (from its sealed header), not the stored ones', async () => {
    const small = join(w.dir, 'small-ls.txt');
    await writeFile(small, 'twelve bytes');
    const when = new Date('2025-03-04T05:06:07Z');
    await utimes(small, when, when);
    const put = await w.ferry(['put', small, '/vault/', '--passphrase-file', join(w.dir, 'pass')], { env });
    expect(put.code, put.stderr).toBe(0);
    const pass = ['--passphrase-file', join(w.dir, 'pass')];
    const bare = JSON.parse((await w.ferry(['ls', '--json', '/vault'], { env })).stdout) as Entry[];
    expect(bare.every((e) => e.size > 12)).toBe(true); // stored: header and tags on top
    const keyed = JSON.parse((await w.ferry(['ls', '--json', '/vault', ...pass], { env })).stdout) as Entry[];
    const byName = new Map(keyed.map((e) => [e.name, e]));
    expect(byName.get('small-ls.txt')).toMatchObject({ size: 12, mtime: when.getTime() });
    expect(byName.get(NAME)).toMatchObject({ size: plain.length, mtime: Math.round((await stat(local)).mtimeMs) });
    expect(keyed.some((e) => 'chunkList' in e)).toBe(false);
    const long = await w.ferry(['ls', '-l', '/vault', ...pass], { env });
    expect(long.code, long.stderr).toBe(0);
    expect(long.stdout).toContain(`${String(12).padStart(14)} ${formatTime(when.getTime())} small-ls.txt`);
    expect(long.stdout).toContain(`${String(plain.length).padStart(14)} `);
    const rm = await w.ferry(['rm', '/vault/small-ls.txt', ...pass], { env });
    expect(rm.code, rm.stderr).toBe(0);
  });

  it('gets the file back by its plain name with the passphrase', async () => {
    const out = join(w.dir, 'out1');
    await mkdir(out);
    const get = await w.ferry(['get', `/vault/${NAME}`, out + '/', '--passphrase-file', join(w.dir, 'pass')], { env });
    expect(get.code, get.stderr).toBe(0);
    expect((await readFile(join(out, NAME))).equals(plain)).toBe(true);
    const piped = await w.ferry(['get', `/vault/${NAME}`, '-', '--passphrase-file', join(w.dir, 'pass')], { env });
    expect(piped.code, piped.stderr).toBe(0);
    expect(piped.stdoutBytes.equals(plain)).toBe(true);
  });

  it('a wrong passphrase fails with FERRY_ERR_CRYPTO_KEY_WRONG and writes nothing', async () => {
    const out = join(w.dir, 'out2');
    await mkdir(out);
    const get = await w.ferry(['get', `/vault/${NAME}`, join(out, 'x.txt'), '--passphrase-file', join(w.dir, 'wrong')], { env });
    expect(get.code).toBe(4);
    expect(get.stderr).toContain('FERRY_ERR_CRYPTO_KEY_WRONG');
    expect(get.stderr).toMatch(/passphrase/);
    expect(await readdir(out)).toEqual([]);
  });

  it('the same file put twice stores its chunks once (dedup within the user key)', async () => {
    const before = await w.metric('ferry_chunk_bytes_received_total');
    const put = await w.ferry(['put', local, '/vault/again.txt', '--json', '--passphrase-file', join(w.dir, 'pass')], { env });
    expect(put.code, put.stderr).toBe(0);
    const r = JSON.parse(put.stdout) as { bytes: number; bytesReused: number; bytesTransferred: number };
    const stored = (await w.metric('ferry_chunk_bytes_received_total')) - before;
    // Only the new file's header (its random file key and sealed table) is new.
    expect(r.bytesReused).toBeGreaterThanOrEqual(plain.length);
    expect(stored).toBeLessThan(64 * 1024);
    expect(stored).toBeGreaterThan(0);
    const get = await w.ferry(['get', '/vault/again.txt', join(w.dir, 'again.txt'), '--passphrase-file', join(w.dir, 'pass')], { env });
    expect(get.code, get.stderr).toBe(0);
    expect((await readFile(join(w.dir, 'again.txt'))).equals(plain)).toBe(true);
    // The tests below find the diary's stored name as the vault's one stored file.
    const rm = await w.ferry(['rm', '/vault/again.txt', '--passphrase-file', join(w.dir, 'pass')], { env });
    expect(rm.code, rm.stderr).toBe(0);
  });
});

describe('a server that changes what it stores (real server, its raw file API)', () => {
  /** The stored (encrypted) name of the vault's file, and its raw bytes as the server has them. */
  async function storedCopy(): Promise<{ url: string; bytes: Buffer }> {
    // The diary is the vault's only file: its one stored name is the diary's (ls sorts by the
    // names shown, so the stored and the plain listings need not come in the same order).
    const raw = JSON.parse((await w.ferry(['ls', '--json', '/vault'], { env })).stdout) as Array<{ name: string; path: string }>;
    const keyed = JSON.parse((await w.ferry(['ls', '--json', '/vault', '--passphrase-file', join(w.dir, 'pass')], { env })).stdout) as Array<{ name: string }>;
    expect(keyed.map((e) => e.name)).toEqual([NAME]);
    const files = raw.filter((e) => e.name.endsWith('.fe2e'));
    expect(files).toHaveLength(1);
    const [stored] = files;
    const url = `${w.server.url}/api/v1/files${stored.path}`;
    const r = await fetch(url, { headers: { authorization: `Bearer ${w.server.adminToken}` } });
    expect(r.status).toBe(200);
    return { url, bytes: Buffer.from(await r.arrayBuffer()) };
  }

  async function replace(url: string, body: Buffer): Promise<void> {
    const r = await fetch(url, { method: 'PUT', body, headers: { authorization: `Bearer ${w.server.adminToken}` } });
    expect(r.status).toBe(201);
  }

  it('a flipped byte in the last chunk: FERRY_ERR_CRYPTO_TAMPERED, and the part file with the chunks before it is removed', async () => {
    const { url, bytes } = await storedCopy();
    const original = Buffer.from(bytes);
    bytes[bytes.length - 100] ^= 0x40;
    await replace(url, bytes);
    const out = join(w.dir, 'out-tampered');
    await mkdir(out);
    const get = await w.ferry(['get', `/vault/${NAME}`, out + '/', '--passphrase-file', join(w.dir, 'pass')], { env });
    expect(get.code).toBe(7);
    expect(get.stderr).toContain('FERRY_ERR_CRYPTO_TAMPERED');
    expect(await readdir(out)).toEqual([]);
    // To stdout: the chunks verified before the bad one came out, nothing of it, and exit 7.
    const piped = await w.ferry(['get', `/vault/${NAME}`, '-', '--passphrase-file', join(w.dir, 'pass')], { env });
    expect(piped.code).toBe(7);
    expect(piped.stderr).toContain('FERRY_ERR_CRYPTO_TAMPERED');
    expect(piped.stdoutBytes.length).toBeLessThan(plain.length);
    expect(piped.stdoutBytes.equals(plain.subarray(0, piped.stdoutBytes.length))).toBe(true);
    await replace(url, original);
  });

  it('a file cut short: FERRY_ERR_CRYPTO_TRUNCATED, nothing written', async () => {
    const { url, bytes } = await storedCopy();
    await replace(url, bytes.subarray(0, bytes.length - 70_000));
    const out = join(w.dir, 'out-cut');
    await mkdir(out);
    const get = await w.ferry(['get', `/vault/${NAME}`, out + '/', '--passphrase-file', join(w.dir, 'pass')], { env });
    expect(get.code).toBe(7);
    expect(get.stderr).toContain('FERRY_ERR_CRYPTO_TRUNCATED');
    expect(await readdir(out)).toEqual([]);
    await replace(url, bytes);
    const again = await w.ferry(['get', `/vault/${NAME}`, out + '/', '--passphrase-file', join(w.dir, 'pass')], { env });
    expect(again.code, again.stderr).toBe(0);
    expect((await readFile(join(out, NAME))).equals(plain)).toBe(true);
  });
});

describe('put --encrypt outside a vault', () => {
  it('encrypts the name and the bytes, and get finds the file by its plain name', async () => {
    seen = [];
    await w.ferry(['mkdir', '/docs'], { env });
    const put = await w.ferry(['put', '--encrypt', local, '/docs/', '--json', '--passphrase-file', join(w.dir, 'pass')], { env });
    expect(put.code, put.stderr).toBe(0);
    // The root marker made with the vault gives the same user key here: the chunks are already stored.
    expect((JSON.parse(put.stdout) as { bytesReused: number }).bytesReused).toBeGreaterThanOrEqual(plain.length);
    expect(Buffer.concat(seen).includes(MARKER)).toBe(false);
    const ls = await w.ferry(['ls', '/docs'], { env });
    expect(ls.stdout).not.toContain(MARKER);
    expect(ls.stdout.trim()).toMatch(/\.fe2e$/);
    const dest = join(w.dir, 'docs-copy.txt');
    const get = await w.ferry(['get', `/docs/${NAME}`, dest], { env: { ...env, FERRY_E2E_PASSPHRASE: PASS } });
    expect(get.code, get.stderr).toBe(0);
    expect((await readFile(dest)).equals(plain)).toBe(true);
  });

  it('a key named without --encrypt outside a vault is refused (exit 2), nothing sent: it went up in the clear', async () => {
    await w.ferry(['mkdir', '/plain'], { env });
    for (const flag of [['--passphrase-file', join(w.dir, 'pass')], ['--e2e-key-file', join(w.dir, 'no-such.key')]]) {
      seen = [];
      const put = await w.ferry(['put', ...flag, local, '/plain/'], { env });
      expect(put.code, put.stderr).toBe(2);
      expect(put.stderr).toBe(`ferry: /plain is not in an end-to-end folder, so ${flag[0]} alone encrypts nothing: add --encrypt to encrypt here, put into a folder made with ferry mkdir --e2e, or leave out ${flag[0]} to upload in the clear (FERRY_ERR_USAGE)\n`);
      expect(Buffer.concat(seen).includes(MARKER)).toBe(false);
    }
    expect((await w.ferry(['ls', '/plain'], { env })).stdout).toBe('');
    // FERRY_E2E_PASSPHRASE, set for every command, does not ask for encryption: a plain put stays plain
    const plainPut = await w.ferry(['put', local, '/plain/'], { env: { ...env, FERRY_E2E_PASSPHRASE: PASS } });
    expect(plainPut.code, plainPut.stderr).toBe(0);
    expect((await w.ferry(['ls', '/plain'], { env })).stdout.trim()).toBe(NAME);
  });

  it('a file moved on the server keeps its encrypted name and is still found by its plain name', async () => {
    const ls = await w.ferry(['ls', '--json', '/docs'], { env });
    const stored = (JSON.parse(ls.stdout) as Array<{ name: string }>).find((e) => e.name.endsWith('.fe2e'))!.name;
    expect((await w.ferry(['mkdir', '/moved'], { env })).code).toBe(0);
    const mv = await w.ferry(['mv', `/docs/${stored}`, `/moved/${stored}`], { env });
    expect(mv.code, mv.stderr).toBe(0);
    const dest = join(w.dir, 'moved.txt');
    const get = await w.ferry(['get', `/moved/${NAME}`, dest, '--passphrase-file', join(w.dir, 'pass')], { env });
    expect(get.code, get.stderr).toBe(0);
    expect((await readFile(dest)).equals(plain)).toBe(true);
  });

  it('without any passphrase source, a non-terminal get fails with FERRY_ERR_CRYPTO_KEY_MISSING and leaves no part file', async () => {
    const dest = join(w.dir, 'nokey.txt');
    const get = await w.ferry(['get', `/vault/${NAME}`, dest], { env });
    expect(get.code).toBe(2);
    expect(get.stderr).toContain('FERRY_ERR_CRYPTO_KEY_MISSING');
    expect(existsSync(dest)).toBe(false);
    expect(existsSync(dest + '.ferry-part')).toBe(false);
  });

  it('a name that is nowhere is "not found" (exit 3), not a request for the passphrase, where no encrypted file could hide it', async () => {
    // The root holds the key's marker (made with the vault), and no encrypted file.
    for (const path of ['/no-such-file.txt', '/no-such-dir/file.txt']) {
      const get = await w.ferry(['get', path, join(w.dir, 'nowhere.txt')], { env });
      expect({ path, code: get.code }).toEqual({ path, code: 3 });
      expect(get.stderr).toContain('FERRY_ERR_NOT_FOUND');
    }
    // A folder holding files put with --encrypt may hide the name under an encrypted one: the key is needed to tell.
    const get = await w.ferry(['get', '/moved/no-such-file.txt', join(w.dir, 'nowhere.txt')], { env });
    expect(get.code).toBe(2);
    expect(get.stderr).toContain('FERRY_ERR_CRYPTO_KEY_MISSING');
    // Saying why: it said only "end-to-end encrypted: give --passphrase-file ...", as if the name were an encrypted file.
    expect(get.stderr).toContain('/moved/no-such-file.txt is no plain file or folder, and its folder holds files put with --encrypt: give --passphrase-file FILE');
    const withKey = await w.ferry(['get', '/moved/no-such-file.txt', join(w.dir, 'nowhere.txt'), '--passphrase-file', join(w.dir, 'pass')], { env });
    expect(withKey.code).toBe(3);
  });

  it('--help shows the end-to-end flags with examples', async () => {
    const put = await w.ferry(['put', '--help']);
    expect(put.stdout).toContain('--encrypt');
    expect(put.stdout).toContain('--passphrase-file');
    expect(put.stdout).toMatch(/ferry put --encrypt/);
    const mk = await w.ferry(['mkdir', '--help']);
    expect(mk.stdout).toMatch(/ferry mkdir --e2e \/vault/);
  });
});
