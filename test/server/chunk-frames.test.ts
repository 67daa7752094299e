/**
 * `POST /api/v1/uploads/:id/chunk-frames` (feature `chunk-frames`) against a real server over
 * real HTTP: several whole chunks in one body, raw or zstd frame by frame, each verified and
 * stored as a chunk PUT would be; a bad frame refused with a stable code, the frames before it
 * kept and the server still answering; the session's owner only; the body memory budget kept.
 */
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compress } from 'zstd-napi';
import { fileHashOf, type ChunkRef } from '../../src/core/manifest.js';
import { CHUNK_FRAME_HEADER_BYTES, MAX_CHUNK_FRAMES_PER_REQUEST, type Capabilities, type ChunkFramesResponse } from '../../src/core/protocol.js';
import { pieces, startTestServer, type TestServer } from '../helpers/in-process-server.js';
import { addUser, tokenFor } from '../helpers/users.js';

let t: TestServer;
/** A server with the smallest body memory budget: frames must wait their turn in it. */
let small: TestServer;
const BUDGET = 3 * 1024 * 1024;
beforeAll(async () => {
  t = await startTestServer();
  small = await startTestServer({ bodyMemory: BUDGET, chunking: { algorithm: 'fastcdc-v1', minSize: 64 * 1024, avgSize: 256 * 1024, maxSize: 1024 * 1024, normalization: 2 } });
});
afterAll(async () => {
  await t.close();
  await small.close();
});

/** A frame: the chunk's hash and size, then `body` (the chunk, or a zstd frame of it), unless told otherwise. */
function frame(hash: string, size: number, body: Buffer, length = body.length): Buffer {
  const head = Buffer.alloc(CHUNK_FRAME_HEADER_BYTES);
  head.write(hash, 0, 'hex');
  head.writeUInt32BE(size, 32);
  head.writeUInt32BE(length, 36);
  return Buffer.concat([head, body]);
}

async function session(server: TestServer, path: string, data: Buffer, pieceSize: number, token?: string): Promise<{ id: string; refs: ChunkRef[]; parts: Buffer[] }> {
  const { refs, parts } = pieces(data, pieceSize);
  const res = await server.api('/api/v1/uploads', { method: 'POST', token, json: { path, size: data.length, hash: fileHashOf(refs), chunks: refs } });
  expect(res.status).toBe(201);
  return { id: ((await res.json()) as { id: string }).id, refs, parts };
}

const send = (server: TestServer, id: string, body: Buffer, headers: Record<string, string> = {}, token?: string) =>
  server.api(`/api/v1/uploads/${id}/chunk-frames`, { method: 'POST', token, body, headers: { 'content-type': 'application/octet-stream', ...headers } });

async function missing(server: TestServer, id: string): Promise<string[]> {
  return ((await (await server.api(`/api/v1/uploads/${id}`)).json()) as { missing: string[] }).missing;
}

async function metricsText(): Promise<string> {
  return (await t.api('/metrics')).text();
}

async function expectError(res: Response, status: number, code: string): Promise<void> {
  const text = await res.text();
  expect({ status: res.status, text }).toMatchObject({ status });
  const body = JSON.parse(text) as { error: { code: string; message: string } };
  expect(body.error.code).toBe(code);
  expect(body.error.message.length).toBeGreaterThan(5);
}

describe('chunk frames', () => {
  it('is announced in the capabilities', async () => {
    const caps = (await (await t.api('/api/v1/capabilities', { token: null })).json()) as Capabilities;
    expect(caps.features).toContain('chunk-frames');
  });

  it('takes several chunks in one request, one as a zstd frame, and answers for each; a repeat is "already yours"', async () => {
    const plain = Buffer.alloc(100_000, 'ferry chunk frames ');
    const data = Buffer.concat([randomBytes(100_000), plain, randomBytes(100_000)]);
    const { id, refs, parts } = await session(t, '/frames.bin', data, 100_000);
    const z = compress(parts[1]);
    expect(z.length).toBeLessThan(parts[1].length);
    const body = Buffer.concat([frame(refs[0].hash, 100_000, parts[0]), frame(refs[1].hash, 100_000, z), frame(refs[2].hash, 100_000, parts[2])]);
    const res = await send(t, id, body);
    expect(res.status).toBe(200);
    expect(((await res.json()) as ChunkFramesResponse).chunks).toEqual(refs.map((r) => ({ hash: r.hash, size: r.size, stored: true })));
    expect(await missing(t, id)).toEqual([]);
    const again = await send(t, id, frame(refs[0].hash, 100_000, parts[0]));
    expect(((await again.json()) as ChunkFramesResponse).chunks).toEqual([{ hash: refs[0].hash, size: 100_000, stored: false }]);
    expect((await t.api(`/api/v1/uploads/${id}/commit`, { method: 'POST', json: {} })).status).toBe(200);
    expect(Buffer.from(await (await t.api('/api/v1/files/frames.bin')).arrayBuffer()).equals(data)).toBe(true);
  });

  it('refuses a frame whose bytes are not its hash; the frames before it stay taken, the ones after are not read, the server answers on', async () => {
    const { id, refs, parts } = await session(t, '/mismatch.bin', randomBytes(300_000), 100_000);
    const body = Buffer.concat([frame(refs[0].hash, 100_000, parts[0]), frame(refs[1].hash, 100_000, parts[2]), frame(refs[2].hash, 100_000, parts[2])]);
    await expectError(await send(t, id, body), 400, 'FERRY_ERR_HASH_MISMATCH');
    expect((await missing(t, id)).sort()).toEqual([refs[1].hash, refs[2].hash].sort());
    const rest = await send(t, id, Buffer.concat([frame(refs[1].hash, 100_000, parts[1]), frame(refs[2].hash, 100_000, parts[2])]));
    expect(rest.status).toBe(200);
    expect((await t.api(`/api/v1/uploads/${id}/commit`, { method: 'POST', json: {} })).status).toBe(200);
  });

  it('refuses bad frames and bodies with stable codes, storing nothing of them', async () => {
    const { id, refs, parts } = await session(t, '/bad.bin', randomBytes(200_000), 100_000);
    const stranger = randomBytes(1000);
    const strangerHash = pieces(stranger, 1000).refs[0].hash;
    await expectError(await send(t, id, frame(strangerHash, 1000, stranger)), 400, 'FERRY_ERR_CHUNK_NOT_IN_UPLOAD');
    await expectError(await send(t, id, frame(refs[0].hash, 99_999, parts[0].subarray(1))), 400, 'FERRY_ERR_SIZE_MISMATCH');
    await expectError(await send(t, id, frame(refs[0].hash, 100_000, parts[0], 100_001)), 400, 'FERRY_ERR_VALIDATION');
    await expectError(await send(t, id, frame(refs[0].hash, 100_000, parts[0], 0)), 400, 'FERRY_ERR_VALIDATION');
    await expectError(await send(t, id, frame(refs[0].hash, 100_000, parts[0]).subarray(0, 50_000)), 400, 'FERRY_ERR_SIZE_MISMATCH');
    await expectError(await send(t, id, frame(refs[0].hash, 100_000, parts[0]).subarray(0, 20)), 400, 'FERRY_ERR_SIZE_MISMATCH');
    await expectError(await send(t, id, frame(refs[0].hash, 100_000, parts[0]), { 'content-encoding': 'gzip' }), 415, 'FERRY_ERR_ENCODING_UNSUPPORTED');
    await expectError(await send(t, id, Buffer.alloc(16 * 1024 * 1024 + 1)), 413, 'FERRY_ERR_PAYLOAD_TOO_LARGE');
    expect((await missing(t, id)).sort()).toEqual(refs.map((r) => r.hash).sort());
  });

  it('takes at most MAX_CHUNK_FRAMES_PER_REQUEST frames a request: a body of many tiny frames is refused at the next one, not worked through', async () => {
    // 100,000 frames of a 1-byte chunk (4.1 MB) took 172 s of the server (81 s of its CPU)
    // and answered 10 MB: each frame costs a chunk PUT's work.
    const one = Buffer.from('x');
    const { id, refs } = await session(t, '/tiny.bin', one, 1);
    const many = Buffer.concat(Array.from({ length: 100_000 }, () => frame(refs[0].hash, 1, one)));
    await expectError(await send(t, id, many), 413, 'FERRY_ERR_PAYLOAD_TOO_LARGE');
    expect(await missing(t, id)).toEqual([]);
    const most = Buffer.concat(Array.from({ length: MAX_CHUNK_FRAMES_PER_REQUEST }, () => frame(refs[0].hash, 1, one)));
    const res = await send(t, id, most);
    expect(res.status).toBe(200);
    expect(((await res.json()) as ChunkFramesResponse).chunks).toHaveLength(MAX_CHUNK_FRAMES_PER_REQUEST);
  });

  it('a client gone mid-body: the frames it finished stay taken, and the server counts no error of its own', async () => {
    const { id, refs, parts } = await session(t, '/cut.bin', randomBytes(200_000), 100_000);
    const body = Buffer.concat([frame(refs[0].hash, 100_000, parts[0]), frame(refs[1].hash, 100_000, parts[1])]);
    const url = new URL(`/api/v1/uploads/${id}/chunk-frames`, t.url);
    const req = request(url, { method: 'POST', headers: { authorization: `Bearer ${t.token}`, 'content-type': 'application/octet-stream', 'content-length': String(body.length) } });
    req.on('error', () => undefined);
    req.write(body.subarray(0, CHUNK_FRAME_HEADER_BYTES + 100_000 + 1000));
    await expect.poll(async () => (await missing(t, id)).length, { timeout: 10_000 }).toBe(1);
    req.destroy();
    await expect.poll(async () => /route="\/api\/v1\/uploads\/:id\/chunk-frames"/.test(await metricsText()), { timeout: 10_000 }).toBe(true);
    expect(await metricsText()).not.toMatch(/ferry_http_requests_total\{[^}]*route="\/api\/v1\/uploads\/:id\/chunk-frames"[^}]*status="5\d\d"/);
    expect(await missing(t, id)).toEqual([refs[1].hash]);
  });

  it("is another user's session to no one else", async () => {
    const { id, refs, parts } = await session(t, '/alice.bin', randomBytes(100_000), 100_000);
    await addUser(t, 'mallory');
    const mallory = (await tokenFor(t, 'mallory')).token;
    await expectError(await send(t, id, frame(refs[0].hash, 100_000, parts[0]), {}, mallory), 404, 'FERRY_ERR_UPLOAD_NOT_FOUND');
    expect(await missing(t, id)).toEqual([refs[0].hash]);
  });

  it('reads each frame within the body memory budget', async () => {
    const data = randomBytes(8 * 600_000);
    const { id, refs, parts } = await session(small, '/budget.bin', data, 600_000);
    const bodies = [0, 4].map((from) => Buffer.concat(refs.slice(from, from + 4).map((r, i) => frame(r.hash, r.size, parts[from + i]))));
    const answers = await Promise.all(bodies.map((b) => send(small, id, b)));
    expect(answers.map((a) => a.status)).toEqual([200, 200]);
    expect(small.server.ctx.bodies.stats().peak).toBeLessThanOrEqual(BUDGET);
    expect((await small.api(`/api/v1/uploads/${id}/commit`, { method: 'POST', json: {} })).status).toBe(200);
    expect(Buffer.from(await (await small.api('/api/v1/files/budget.bin')).arrayBuffer()).equals(data)).toBe(true);
  });
});
