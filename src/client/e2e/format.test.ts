/**
 * The end-to-end format on its own: a round trip, every way a stored file can go wrong
 * (wrong passphrase, wrong link key, tampered, truncated, extended, swapped chunks, a
 * header of another file) each with its own code and never a wrong byte; convergence
 * within one key and none across keys; names; and the browser's scrypt giving the same
 * key as Node's.
 */
import { randomBytes } from 'node:crypto';
import { scryptAsync } from '@noble/hashes/scrypt';
import { describe, expect, it } from 'vitest';
import { E2E_MAX_NAME_BYTES, E2E_NAME_SUFFIX, E2eKeys, decryptFile, encryptChunk, sealHeader, useChunkCrypto, webChunkCrypto, type E2eHeader, type FileKeySource } from './format.js';
import { keysFor, newMarker, userKeyOf } from './kdf.js';
import { nodeChunkCrypto, nodeScrypt } from './node-keys.js';

const kdf = { name: 'key-file' } as const;

async function keysOf(seed: number): Promise<E2eKeys> {
  return E2eKeys.fromUserKey(new Uint8Array(32).fill(seed));
}

/** An encrypted file as stored: the header, then each chunk's ciphertext. */
async function storedFile(keys: E2eKeys, chunks: Buffer[]): Promise<{ parts: Uint8Array[]; fileKey: Uint8Array }> {
  const enc = await Promise.all(chunks.map((c) => encryptChunk(keys, c)));
  const size = chunks.reduce((s, c) => s + c.length, 0);
  const header = await sealHeader(keys, kdf, { name: 'a.txt', size, mtime: 1 }, enc);
  return { parts: [header.bytes, ...enc.map((e) => e.ciphertext)], fileKey: header.fileKey };
}

async function* streamOf(parts: Uint8Array[]): AsyncGenerator<Uint8Array> {
  yield* parts;
}

async function decrypt(parts: Uint8Array[], source: FileKeySource): Promise<{ out: Buffer[]; err?: unknown }> {
  const out: Buffer[] = [];
  try {
    for await (const p of decryptFile(streamOf(parts), { keyFor: async () => source })) out.push(Buffer.from(p));
    return { out };
  } catch (err) {
    return { out, err };
  }
}

const chunks = [randomBytes(1000), randomBytes(70_000), randomBytes(5)];

describe('end-to-end file format', () => {
  it('round-trips with the user key and with the file key alone', async () => {
    const keys = await keysOf(1);
    const f = await storedFile(keys, chunks);
    expect(Buffer.concat((await decrypt(f.parts, { keys })).out).equals(Buffer.concat(chunks))).toBe(true);
    expect(Buffer.concat((await decrypt(f.parts, { fileKey: f.fileKey })).out).equals(Buffer.concat(chunks))).toBe(true);
  });

  it('the same chunk gives the same ciphertext under one key (dedup), another under another key', async () => {
    const a = await encryptChunk(await keysOf(1), chunks[1]);
    const b = await encryptChunk(await keysOf(1), chunks[1]);
    const c = await encryptChunk(await keysOf(2), chunks[1]);
    expect(Buffer.from(a.ciphertext).equals(Buffer.from(b.ciphertext))).toBe(true);
    expect(Buffer.from(a.ciphertext).equals(Buffer.from(c.ciphertext))).toBe(false);
    expect(Buffer.from(a.ciphertext).includes(chunks[1].subarray(0, 32))).toBe(false);
  });

  it('a wrong user key fails with FERRY_ERR_CRYPTO_KEY_WRONG before any byte', async () => {
    const f = await storedFile(await keysOf(1), chunks);
    const r = await decrypt(f.parts, { keys: await keysOf(2) });
    expect(r.err).toMatchObject({ code: 'FERRY_ERR_CRYPTO_KEY_WRONG' });
    expect(r.out).toEqual([]);
  });

  it('a wrong link key fails with FERRY_ERR_CRYPTO_KEY_WRONG before any byte', async () => {
    const f = await storedFile(await keysOf(1), chunks);
    const r = await decrypt(f.parts, { fileKey: randomBytes(32) });
    expect(r.err).toMatchObject({ code: 'FERRY_ERR_CRYPTO_KEY_WRONG' });
    expect(r.out).toEqual([]);
  });

  it('a flipped bit in a chunk is FERRY_ERR_CRYPTO_TAMPERED at that chunk', async () => {
    const keys = await keysOf(1);
    const f = await storedFile(keys, chunks);
    const bad = Buffer.from(f.parts[2]);
    bad[100] ^= 1;
    const r = await decrypt([f.parts[0], f.parts[1], bad, f.parts[3]], { keys });
    expect(r.err).toMatchObject({ code: 'FERRY_ERR_CRYPTO_TAMPERED' });
    expect(r.out.length).toBe(1); // the first chunk was good; the caller keeps it in a part file only
  });

  it('swapped chunks, a truncated file and extra bytes each fail with their code', async () => {
    const keys = await keysOf(1);
    const f = await storedFile(keys, chunks);
    const [h, a, b, c] = f.parts;
    expect((await decrypt([h, b, a, c], { keys })).err).toMatchObject({ code: 'FERRY_ERR_CRYPTO_TAMPERED' });
    expect((await decrypt([h, a, b], { keys })).err).toMatchObject({ code: 'FERRY_ERR_CRYPTO_TRUNCATED' });
    expect((await decrypt([h, a, b, c.subarray(0, 10)], { keys })).err).toMatchObject({ code: 'FERRY_ERR_CRYPTO_TRUNCATED' });
    expect((await decrypt([h.subarray(0, 20)], { keys })).err).toMatchObject({ code: 'FERRY_ERR_CRYPTO_TRUNCATED' });
    expect((await decrypt([h, a, b, c, Buffer.from('x')], { keys })).err).toMatchObject({ code: 'FERRY_ERR_CRYPTO_TAMPERED' });
  });

  it("another file's header over these chunks is FERRY_ERR_CRYPTO_TAMPERED, and a tampered header too", async () => {
    const keys = await keysOf(1);
    const f = await storedFile(keys, chunks);
    const g = await storedFile(keys, [chunks[1], chunks[0], chunks[2]]);
    expect((await decrypt([g.parts[0], ...f.parts.slice(1)], { keys })).err).toMatchObject({ code: 'FERRY_ERR_CRYPTO_TAMPERED' });
    const h = Buffer.from(f.parts[0]);
    const at = h.indexOf('"table":"') + 20;
    h[at] = h[at] === 0x41 ? 0x42 : 0x41;
    expect((await decrypt([h, ...f.parts.slice(1)], { keys })).err).toMatchObject({ code: 'FERRY_ERR_CRYPTO_TAMPERED' });
  });

  it('something that is not an encrypted file is FERRY_ERR_E2E_FORMAT', async () => {
    expect((await decrypt([Buffer.from('just a plain text file, long enough')], { keys: await keysOf(1) })).err).toMatchObject({ code: 'FERRY_ERR_E2E_FORMAT' });
  });

  it('names: deterministic per directory, base64url with a suffix, only this key opens them, and a stated length limit', async () => {
    const keys = await keysOf(1);
    const n = await keys.encryptName('/vault', 'résumé "draft"?.txt');
    expect(n).toMatch(/^[A-Za-z0-9_-]+\.fe2e$/);
    expect(await keys.encryptName('/vault', 'résumé "draft"?.txt')).toBe(n);
    expect(await keys.encryptName('/other', 'résumé "draft"?.txt')).not.toBe(n);
    expect(await keys.decryptName(n)).toBe('résumé "draft"?.txt');
    expect(await (await keysOf(2)).decryptName(n)).toBeUndefined();
    const longest = await keys.encryptName('/', 'x'.repeat(E2E_MAX_NAME_BYTES));
    expect(Buffer.byteLength(longest)).toBeLessThanOrEqual(255);
    expect(longest.endsWith(E2E_NAME_SUFFIX)).toBe(true);
    await expect(keys.encryptName('/', 'x'.repeat(E2E_MAX_NAME_BYTES + 1))).rejects.toMatchObject({ code: 'FERRY_ERR_PATH_INVALID' });
  });
});

describe('chunk crypto in Node.js and in browsers', () => {
  it("node:crypto's implementation gives Web Crypto's bytes, and each opens the other's", async () => {
    const key = randomBytes(32);
    const aad = Buffer.from('ferry-e2e v1 chunk');
    for (const plain of [Buffer.alloc(0), randomBytes(1), randomBytes(100_000)]) {
      const web = Buffer.from(await webChunkCrypto.seal(key, plain, aad));
      const node = Buffer.from(await nodeChunkCrypto.seal(key, plain, aad));
      expect(node.equals(web)).toBe(true);
      expect(Buffer.from((await nodeChunkCrypto.open(key, web, aad))!).equals(plain)).toBe(true);
      expect(Buffer.from((await webChunkCrypto.open(key, node, aad))!).equals(plain)).toBe(true);
      expect(Buffer.from(await nodeChunkCrypto.sha256(plain)).equals(Buffer.from(await webChunkCrypto.sha256(plain)))).toBe(true);
      const bad = Buffer.from(node);
      bad[bad.length - 1] ^= 1;
      expect(await nodeChunkCrypto.open(key, bad, aad)).toBeUndefined();
      expect(await webChunkCrypto.open(key, bad, aad)).toBeUndefined();
    }
  });

  it('a file written with one implementation reads with the other', async () => {
    const keys = await keysOf(3);
    useChunkCrypto(nodeChunkCrypto);
    try {
      const f = await storedFile(keys, chunks);
      useChunkCrypto(webChunkCrypto);
      expect(Buffer.concat((await decrypt(f.parts, { keys })).out).equals(Buffer.concat(chunks))).toBe(true);
    } finally {
      useChunkCrypto(webChunkCrypto);
    }
  });
});

describe('end-to-end keys', () => {
  it("the browser's scrypt (@noble/hashes) gives the same key as Node's", async () => {
    const params = { N: 2 ** 14, r: 8, p: 1 };
    const salt = randomBytes(16);
    const pass = new TextEncoder().encode('pässword');
    const node = await nodeScrypt(pass, salt, params);
    const noble = await scryptAsync(pass, salt, { ...params, dkLen: 32 });
    expect(Buffer.from(node).equals(Buffer.from(noble))).toBe(true);
  });

  it('a marker checks the passphrase: right opens, wrong is FERRY_ERR_CRYPTO_KEY_WRONG', async () => {
    const { marker } = await newMarker({ passphrase: 'right one' }, nodeScrypt, true);
    expect(marker.kdf).toMatchObject({ name: 'scrypt', N: 2 ** 17, r: 8, p: 1 });
    await expect(keysFor({ passphrase: 'right one' }, marker.kdf, marker.check, nodeScrypt)).resolves.toBeInstanceOf(E2eKeys);
    await expect(keysFor({ passphrase: 'wrong one' }, marker.kdf, marker.check, nodeScrypt)).rejects.toMatchObject({ code: 'FERRY_ERR_CRYPTO_KEY_WRONG' });
  });

  it('refuses KDF parameters a hostile marker could use to exhaust memory', async () => {
    const header: E2eHeader['kdf'] = { name: 'scrypt', N: 2 ** 30, r: 8, p: 1, salt: 'AAAA' };
    await expect(userKeyOf({ passphrase: 'x' }, header, nodeScrypt)).rejects.toMatchObject({ code: 'FERRY_ERR_CONFIG' });
  });
});
