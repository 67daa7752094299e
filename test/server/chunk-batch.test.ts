/**
 * `POST /api/v1/chunks/batch` and `GET /api/v1/list?chunks=true` against a real server over
 * real HTTP: frames in request order, every chunk verified, clear errors for bad, unknown,
 * unreadable and corrupt chunks, and the limits the capabilities announce.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileHashOf, type ChunkRef } from '../../src/core/manifest.js';
import { PACK_FRAME_HEADER_BYTES, type Capabilities, type Entry, type ListResponse } from '../../src/core/protocol.js';
import { pieces, sha256, startTestServer, uploadBuffer, type TestServer } from '../helpers/in-process-server.js';
import { addUser, tokenFor } from '../helpers/users.js';

let t: TestServer;
let caps: Capabilities;
beforeAll(async () => {
  t = await startTestServer();
  caps = (await (await t.api('/api/v1/capabilities', { token: null })).json()) as Capabilities;
});
afterAll(async () => {
  await t.close();
});

async function expectError(res: Response, status: number, code: string): Promise<{ message: string; details?: Record<string, unknown> }> {
  const text = await res.text();
  expect({ status: res.status, text }).toMatchObject({ status });
  const body = JSON.parse(text) as { error: { code: string; message: string; details?: Record<string, unknown> } };
  expect(body.error.code).toBe(code);
  expect(body.error.message.length).toBeGreaterThan(5);
  return body.error;
}

const batch = (hashes: unknown, token?: string | null, paths?: string[]) => t.api('/api/v1/chunks/batch', { method: 'POST', json: { hashes, paths }, token });

/** Splits a batch answer into its frames. */
function parseFrames(body: Buffer): Array<{ hash: string; data: Buffer }> {
  const out: Array<{ hash: string; data: Buffer }> = [];
  for (let o = 0; o < body.length; ) {
    const hash = body.toString('hex', o, o + 32);
    const size = body.readUInt32BE(o + 32);
    out.push({ hash, data: body.subarray(o + PACK_FRAME_HEADER_BYTES, o + PACK_FRAME_HEADER_BYTES + size) });
    o += PACK_FRAME_HEADER_BYTES + size;
  }
  return out;
}

async function metric(name: string): Promise<number> {
  const text = await (await t.api('/metrics')).text();
  return text
    .split('\n')
    .filter((l) => l.startsWith(name + ' ') || l.startsWith(name + '{'))
    .reduce((a, l) => a + Number(l.split(' ').pop()), 0);
}

describe('chunk batches', () => {
  it('are announced in the capabilities', () => {
    expect(caps.features).toEqual(expect.arrayContaining(['chunks-batch', 'list-chunks']));
    expect(caps.limits.maxChunksPerBatch).toBeGreaterThanOrEqual(100);
    expect(caps.limits.maxBatchBytes).toBeGreaterThanOrEqual(caps.limits.maxChunkSize);
  });

  it('serve many chunks in one answer, in request order, each one verified', async () => {
    const files = Array.from({ length: 40 }, (_, i) => randomBytes(1 + i * 997));
    const refs: ChunkRef[] = [];
    for (let i = 0; i < files.length; i++) {
      expect((await uploadBuffer(t, `/b/f${i}`, files[i], 8 * 1024)).status).toBe(200);
      refs.push(...pieces(files[i], 8 * 1024).refs);
    }
    const hashes = [...new Set(refs.map((r) => r.hash))].reverse();
    const served = await metric('ferry_chunks_served_total');
    const res = await batch(hashes);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/octet-stream');
    const body = Buffer.from(await res.arrayBuffer());
    expect(Number(res.headers.get('content-length'))).toBe(body.length);
    const frames = parseFrames(body);
    expect(frames.map((f) => f.hash)).toEqual(hashes);
    for (const f of frames) expect(sha256(f.data)).toBe(f.hash);
    expect(await metric('ferry_chunks_served_total')).toBe(served + hashes.length);
    expect(await metric('ferry_http_requests_total')).toBeGreaterThan(0);
  });

  it('serve chunks stored in packs (small files uploaded in one batch session)', async () => {
    const files = Array.from({ length: 30 }, (_, i) => ({ path: `/packed/f${i}`, data: randomBytes(50 + i) }));
    const specs = files.map((f) => {
      const refs = [{ hash: sha256(f.data), size: f.data.length }];
      return { path: f.path, size: f.data.length, hash: fileHashOf(refs), chunks: refs };
    });
    const { id } = (await (await t.api('/api/v1/uploads', { method: 'POST', json: { files: specs } })).json()) as { id: string };
    const body = Buffer.concat(
      files.flatMap((f) => {
        const head = Buffer.alloc(PACK_FRAME_HEADER_BYTES);
        head.write(sha256(f.data), 0, 32, 'hex');
        head.writeUInt32BE(f.data.length, 32);
        return [head, f.data];
      }),
    );
    expect((await t.api(`/api/v1/uploads/${id}/packs`, { method: 'POST', body, headers: { 'content-type': 'application/octet-stream' } })).status).toBe(200);
    expect((await t.api(`/api/v1/uploads/${id}/commit`, { method: 'POST' })).status).toBe(200);
    const res = await batch(files.map((f) => sha256(f.data)));
    expect(res.status).toBe(200);
    const frames = parseFrames(Buffer.from(await res.arrayBuffer()));
    expect(frames).toHaveLength(files.length);
    frames.forEach((f, i) => expect(f.data.equals(files[i].data)).toBe(true));
  });

  it('refuse malformed requests', async () => {
    await expectError(await t.api('/api/v1/chunks/batch', { method: 'POST', json: [1] }), 400, 'FERRY_ERR_VALIDATION');
    await expectError(await t.api('/api/v1/chunks/batch', { method: 'POST', json: {} }), 400, 'FERRY_ERR_VALIDATION');
    await expectError(await batch([]), 400, 'FERRY_ERR_VALIDATION');
    await expectError(await batch('abc'), 400, 'FERRY_ERR_VALIDATION');
    await expectError(await batch(['xyz']), 400, 'FERRY_ERR_HASH_INVALID');
    await expectError(await batch([sha256(Buffer.from('a')).toUpperCase()]), 400, 'FERRY_ERR_HASH_INVALID');
    await expectError(await batch([42]), 400, 'FERRY_ERR_HASH_INVALID');
    const h = sha256(Buffer.from('dup'));
    await expectError(await batch([h, h]), 400, 'FERRY_ERR_VALIDATION');
    await expectError(await batch([h], null), 401, 'FERRY_ERR_AUTH_REQUIRED');
  });

  it('name the chunks it does not serve: unknown ones, and chunks no file references', async () => {
    const data = randomBytes(20_000);
    await uploadBuffer(t, '/known', data, 10_000);
    const known = pieces(data, 10_000).refs.map((r) => r.hash);
    const unknown = [sha256(Buffer.from('never stored 1')), sha256(Buffer.from('never stored 2'))];
    // A chunk stored by an upload that was never committed: not a download source.
    const loose = randomBytes(500);
    const refs = [{ hash: sha256(loose), size: loose.length }];
    const { id } = (await (await t.api('/api/v1/uploads', { method: 'POST', json: { path: '/uncommitted', size: 500, hash: fileHashOf(refs), chunks: refs } })).json()) as { id: string };
    expect((await t.api(`/api/v1/uploads/${id}/chunks/${refs[0].hash}`, { method: 'PUT', body: loose, headers: { 'content-type': 'application/octet-stream' } })).status).toBe(200);

    const err = await expectError(await batch([known[0], unknown[0], known[1], refs[0].hash, unknown[1]]), 404, 'FERRY_ERR_NOT_FOUND');
    expect(err.details).toMatchObject({ missing: [unknown[0], refs[0].hash, unknown[1]], count: 3 });
    expect(err.message).toMatch(/3 of the 5 chunks/);
    await expectError(await t.api(`/api/v1/chunks/${refs[0].hash}`), 404, 'FERRY_ERR_NOT_FOUND');
  });

  it('enforce the count and byte limits', async () => {
    const tooMany = Array.from({ length: caps.limits.maxChunksPerBatch! + 1 }, (_, i) => sha256(Buffer.from(`n${i}`)));
    await expectError(await batch(tooMany), 413, 'FERRY_ERR_PAYLOAD_TOO_LARGE');
    // More bytes than a batch may hold, in chunks that all exist.
    const big = randomBytes(caps.limits.maxBatchBytes! + 64 * 1024);
    expect((await uploadBuffer(t, '/big', big, 64 * 1024)).status).toBe(200);
    const all = pieces(big, 64 * 1024).refs.map((r) => r.hash);
    const err = await expectError(await batch(all), 413, 'FERRY_ERR_PAYLOAD_TOO_LARGE');
    expect(err.details).toMatchObject({ maxBytes: caps.limits.maxBatchBytes });
    // Just under the limit is fine.
    const res = await batch(all.slice(0, caps.limits.maxBatchBytes! / (64 * 1024)));
    expect(res.status).toBe(200);
    expect((await res.arrayBuffer()).byteLength).toBe(caps.limits.maxBatchBytes! + (caps.limits.maxBatchBytes! / (64 * 1024)) * PACK_FRAME_HEADER_BYTES);
  });

  it('fail with FERRY_ERR_CHUNK_CORRUPT, naming the chunk, when one is damaged on disk', async () => {
    const data = randomBytes(3 * 16 * 1024);
    await uploadBuffer(t, '/corrupt', data, 16 * 1024);
    const hashes = pieces(data, 16 * 1024).refs.map((r) => r.hash);
    const victim = hashes[2];
    const file = join(t.dataDir, 'store', 'chunks', victim.slice(0, 2), victim);
    const bytes = readFileSync(file);
    bytes[7] ^= 0x01;
    writeFileSync(file, bytes);
    const corrupt = await metric('ferry_chunk_corrupt_total');
    const err = await expectError(await batch(hashes), 500, 'FERRY_ERR_CHUNK_CORRUPT');
    expect(err.details).toMatchObject({ hash: victim });
    expect(await metric('ferry_chunk_corrupt_total')).toBeGreaterThan(corrupt);
    // The intact ones are still served.
    expect((await batch(hashes.slice(0, 2))).status).toBe(200);
  });
});

describe('chunk batches of users', () => {
  it('serve a user the chunks of files they may read, named in paths, and nothing else', async () => {
    await addUser(t, 'carol', { grants: [{ path: '/', permissions: ['list', 'read', 'write', 'mkdir'] }, { path: '/peek', permissions: ['list'] }] });
    await addUser(t, 'dave');
    const carol = (await tokenFor(t, 'carol')).token;
    const dave = (await tokenFor(t, 'dave')).token;
    const mine = [randomBytes(3000), randomBytes(4000)];
    const chunksOf = (b: Buffer) => pieces(b, 1000).refs.map((r) => r.hash);
    for (let i = 0; i < mine.length; i++) expect((await uploadBuffer(t, `/c/f${i}`, mine[i], 1000, { token: carol })).status).toBe(200);
    const theirs = randomBytes(2000);
    expect((await uploadBuffer(t, '/d.bin', theirs, 1000, { token: dave })).status).toBe(200);

    const hashes = [...chunksOf(mine[1]), ...chunksOf(mine[0])];
    const res = await batch(hashes, carol, ['/c/f0', '/c/f1']);
    expect(res.status).toBe(200);
    expect(parseFrames(Buffer.from(await res.arrayBuffer())).map((f) => f.hash)).toEqual(hashes);

    // Another user's chunk, through one's own file: as unknown as any other.
    const err = await expectError(await batch([chunksOf(mine[0])[0], chunksOf(theirs)[0]], carol, ['/c/f0']), 404, 'FERRY_ERR_NOT_FOUND');
    expect(err.details).toMatchObject({ missing: [chunksOf(theirs)[0]], count: 1 });
    // ...and dave cannot even name carol's file: his paths are in his home.
    await expectError(await batch(chunksOf(mine[0]), dave, ['/c/f0']), 404, 'FERRY_ERR_NOT_FOUND');
    // A hash alone opens nothing for a user; a directory is no file to read chunks through.
    await expectError(await batch(chunksOf(mine[0]), carol), 400, 'FERRY_ERR_VALIDATION');
    await expectError(await batch(chunksOf(mine[0]), carol, ['/c']), 409, 'FERRY_ERR_IS_A_DIRECTORY');
    await expectError(await t.api('/api/v1/chunks/batch', { method: 'POST', json: { hashes: chunksOf(mine[0]), paths: [] }, token: carol }), 400, 'FERRY_ERR_VALIDATION');

    // Listing: chunk lists only where the caller may read, not where it may only list.
    // (put there by the admin, whose home is the server's root)
    expect((await uploadBuffer(t, '/users/carol/peek/secret', randomBytes(100), 1000)).status).toBe(200);
    const asCarol = (await (await t.api('/api/v1/list/?recursive=true&chunks=true', { token: carol })).json()) as ListResponse;
    const byPath = new Map(asCarol.entries.map((e) => [e.path, e]));
    expect(byPath.get('/c/f0')?.chunkList).toHaveLength(3);
    expect(byPath.get('/peek/secret')).toMatchObject({ type: 'file', size: 100 });
    expect(byPath.get('/peek/secret')!.chunkList).toBeUndefined();
    await expectError(await batch([sha256(Buffer.alloc(1))], carol, ['/peek/secret']), 403, 'FERRY_ERR_FORBIDDEN');
  });
});

describe('listings with chunk lists', () => {
  it('carry the chunk lists of small files only, and only when asked', async () => {
    const small = randomBytes(30_000);
    await uploadBuffer(t, '/lc/small', small, 10_000);
    await uploadBuffer(t, '/lc/empty', Buffer.alloc(0));
    await uploadBuffer(t, '/lc/large', randomBytes(caps.limits.maxBatchBytes! + 1), 512 * 1024);
    const plain = (await (await t.api('/api/v1/list/lc?recursive=true')).json()) as ListResponse;
    expect(plain.entries.every((e) => e.chunkList === undefined)).toBe(true);
    const withChunks = (await (await t.api('/api/v1/list/lc?recursive=true&chunks=true')).json()) as ListResponse;
    const byName = new Map<string, Entry>(withChunks.entries.map((e) => [e.name, e]));
    expect(byName.get('small')!.chunkList).toEqual(pieces(small, 10_000).refs);
    expect(fileHashOf(byName.get('small')!.chunkList!)).toBe(byName.get('small')!.hash);
    expect(byName.get('empty')!.chunkList).toEqual([]);
    expect(byName.get('large')!.chunkList).toBeUndefined();
  });
});
