import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { EncryptedBackend, generateMasterKeyText, masterKeyFromText, openRing } from '../../src/backends/decorators/index.js';
import { HEADER_BYTES, SEALED_SEGMENT_BYTES, SEGMENT_BYTES, TAG_BYTES, objectKeys, sealSegmentsInto, sealedSize } from '../../src/backends/decorators/encryption-format.js';
import { SealWorkers, cpuListCount, usableCpus, type SealJob } from '../../src/backends/decorators/seal-workers.js';
import { MemoryBackend } from '../../src/backends/memory/memory-backend.js';
import type { StorageBackend } from '../../src/core/storage.js';

/** Counts the jobs it runs; `failNext` stops the worker under the next job (as a crash would). */
class CountingWorkers extends SealWorkers {
  jobs = 0;
  failNext = false;

  override seal(job: SealJob): Promise<void> {
    this.jobs++;
    const running = super.seal(job);
    if (this.failNext) {
      this.failNext = false;
      void this.stop();
    }
    return running;
  }
}

const workers: CountingWorkers[] = [];
afterAll(async () => {
  for (const w of workers) await w.stop();
});

async function encrypted(sealWorkers: SealWorkers | false): Promise<{ inner: MemoryBackend; b: EncryptedBackend }> {
  const inner = new MemoryBackend();
  const { ring, migrating } = await openRing(inner, masterKeyFromText(generateMasterKeyText(), 'test key'));
  return { inner, b: new EncryptedBackend(inner, ring, { migrating, sealWorkers }) };
}

function counting(): CountingWorkers {
  const w = new CountingWorkers();
  workers.push(w);
  return w;
}

async function bytes(stream: AsyncIterable<unknown>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

async function onlyObject(inner: StorageBackend): Promise<Buffer> {
  for await (const e of inner.list('', { recursive: true })) {
    if (e.type === 'file' && !e.key.startsWith('ferry-keyring/')) return bytes(await inner.read(e.key));
  }
  throw new Error('no object');
}

/** A chunk object as the chunk store writes it: a 16-byte header, then the chunk. */
const chunkBody = (data: Buffer) => Readable.from([data.subarray(0, 16), data.subarray(16)], { objectMode: false });

describe('sealing on a worker thread', () => {
  it('seals segments to the very bytes sealSegmentsInto makes', async () => {
    const w = counting();
    const { enc } = objectKeys(randomBytes(32), randomBytes(16));
    const aad = randomBytes(HEADER_BYTES);
    for (const plainBytes of [1, SEGMENT_BYTES, 3 * SEGMENT_BYTES + 17]) {
      const plain = randomBytes(plainBytes);
      const expected = Buffer.alloc(sealedSize(plainBytes) - HEADER_BYTES);
      expect(sealSegmentsInto(enc, aad, 5, plain, true, expected, 0)).toBe(expected.length);
      // The worker's layout: each segment's plain bytes where its ciphertext goes.
      const data = Buffer.from(new SharedArrayBuffer(expected.length));
      for (let i = 0; i * SEGMENT_BYTES < plainBytes; i++) plain.copy(data, i * SEALED_SEGMENT_BYTES, i * SEGMENT_BYTES, (i + 1) * SEGMENT_BYTES);
      const count = Math.ceil(plainBytes / SEGMENT_BYTES);
      await w.seal({ key: enc, aad, firstIndex: 5, count, plainBytes, endsObject: true, data });
      expect(data.equals(expected), `${plainBytes} bytes`).toBe(true);
      expect(data.length).toBe(plainBytes + count * TAG_BYTES);
    }
  });

  it('an upload shaped as a chunk object is sealed on the worker and reads back; damage is still found', async () => {
    const w = counting();
    const { inner, b } = await encrypted(w);
    const data = randomBytes(2 * 1024 * 1024 + 123);
    await b.write('chunks/ab/obj', chunkBody(data), { size: data.length });
    expect(w.jobs).toBe(1);
    expect((await bytes(await b.read('chunks/ab/obj'))).equals(data)).toBe(true);
    expect((await bytes(await b.read('chunks/ab/obj', { offset: SEGMENT_BYTES - 5, length: 10 }))).equals(data.subarray(SEGMENT_BYTES - 5, SEGMENT_BYTES + 5))).toBe(true);
    // The stored form is the one written without the worker: the same reader opens both.
    const raw = await onlyObject(inner);
    expect(raw.length).toBe(sealedSize(data.length));
    const { inner: inner2, b: here } = await encrypted(false);
    await here.write('chunks/ab/obj', chunkBody(data), { size: data.length });
    expect((await onlyObject(inner2)).length).toBe(raw.length);
    // A flipped byte in a segment the worker sealed.
    const stored = [...(await storedKeys(inner))][0];
    raw[HEADER_BYTES + 5 * SEALED_SEGMENT_BYTES + 7] ^= 1;
    await inner.write(stored, raw);
    await expect(bytes(await b.read('chunks/ab/obj'))).rejects.toMatchObject({ code: 'FERRY_ERR_CRYPTO_TAMPERED' });
  });

  it('other shapes are sealed here, held pieces first, and read back the same', async () => {
    const w = counting();
    const { b } = await encrypted(w);
    const data = randomBytes(1024 * 1024);
    // Many small pieces (a body streamed from a socket): no worker.
    const pieces: Buffer[] = [];
    for (let at = 0; at < data.length; at += 40_000) pieces.push(data.subarray(at, at + 40_000));
    await b.write('small-pieces', Readable.from(pieces, { objectMode: false }), { size: data.length });
    // Small pieces, then a big one that does not end the object, then the rest.
    await b.write('mixed', Readable.from([data.subarray(0, 10), data.subarray(10, 20), data.subarray(20, 600_000), data.subarray(600_000)], { objectMode: false }), { size: data.length });
    // Two small pieces held, then the big one that ends it: on the worker.
    await b.write('held', Readable.from([data.subarray(0, 10), data.subarray(10, 20), data.subarray(20)], { objectMode: false }), { size: data.length });
    expect(w.jobs).toBe(1);
    for (const k of ['small-pieces', 'mixed', 'held']) expect((await bytes(await b.read(k))).equals(data), k).toBe(true);
    // A body longer or shorter than announced fails as before.
    await expect(b.write('long', chunkBody(data), { size: data.length - 1 })).rejects.toMatchObject({ code: 'FERRY_ERR_SIZE_MISMATCH' });
    await expect(b.write('short', Readable.from([data.subarray(0, 16)], { objectMode: false }), { size: data.length })).rejects.toMatchObject({ code: 'FERRY_ERR_SIZE_MISMATCH' });
  });

  it('a worker that dies under a job fails that write (no hang), and the next write starts another', async () => {
    const w = counting();
    const { b } = await encrypted(w);
    const data = randomBytes(1024 * 1024);
    w.failNext = true;
    await expect(b.write('a', chunkBody(data), { size: data.length })).rejects.toMatchObject({ code: 'FERRY_ERR_INTERNAL' });
    await b.write('a', chunkBody(data), { size: data.length });
    expect((await bytes(await b.read('a'))).equals(data)).toBe(true);
    expect(w.jobs).toBe(2);
  });

  it('a job the worker cannot do is an error, not a hang', async () => {
    const w = counting();
    const { enc } = objectKeys(randomBytes(32), randomBytes(16));
    // Announces two segments in room for one.
    const data = Buffer.from(new SharedArrayBuffer(SEALED_SEGMENT_BYTES));
    await expect(w.seal({ key: enc, aad: randomBytes(HEADER_BYTES), firstIndex: 0, count: 2, plainBytes: 2 * SEGMENT_BYTES, endsObject: true, data })).rejects.toMatchObject({ code: 'FERRY_ERR_INTERNAL' });
    await expect(w.seal({ key: enc, aad: randomBytes(HEADER_BYTES), firstIndex: 0, count: 1, plainBytes: 10, endsObject: true, data: Buffer.alloc(26) })).rejects.toMatchObject({ code: 'FERRY_ERR_INTERNAL' });
  });

  it('counts the CPUs the process may use from its affinity list', async () => {
    expect(cpuListCount('0')).toBe(1);
    expect(cpuListCount('1')).toBe(1);
    expect(cpuListCount('0-1')).toBe(2);
    expect(cpuListCount('0-3,8,10-11')).toBe(7);
    const dir = await mkdtemp(path.join(tmpdir(), 'ferry-cpus-'));
    try {
      await writeFile(path.join(dir, 'status'), 'Name:\tnode\nCpus_allowed:\t2\nCpus_allowed_list:\t1\n');
      expect(usableCpus(path.join(dir, 'status'))).toBe(1);
      await writeFile(path.join(dir, 'status'), 'Name:\tnode\nCpus_allowed_list:\t0-5\n');
      expect(usableCpus(path.join(dir, 'status'))).toBe(6);
      expect(usableCpus(path.join(dir, 'missing'))).toBeGreaterThan(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

async function storedKeys(inner: StorageBackend): Promise<Set<string>> {
  const out = new Set<string>();
  for await (const e of inner.list('', { recursive: true })) if (e.type === 'file' && !e.key.startsWith('ferry-keyring/')) out.add(e.key);
  return out;
}
