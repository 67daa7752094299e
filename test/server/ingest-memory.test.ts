/**
 * Streamed uploads (src/server/ingest.ts) under a memory budget: `PUT /api/v1/files/*` and the
 * other one-request fronts take the bytes they hold (chunking area, chunks being stored)
 * from ServerContext.ingestMemory. Many PUTs at once all succeed byte for byte, the ones
 * beyond the budget waiting, unread, for room; a waiting client that hangs up leaves the
 * queue and nothing visible; a wait past the limit is 503 FERRY_ERR_UNAVAILABLE with a
 * Retry-After. Observed through the budget's own counters, not timing.
 */
import { randomBytes } from 'node:crypto';
import { request, type ClientRequest, type IncomingMessage } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_CHUNKING } from '../../src/core/manifest.js';
import { BodyMemory } from '../../src/server/chunk-bodies.js';
import { admitIngest, dropSpareStreamBuffers, ingestAdmission, ingestMinimum } from '../../src/server/ingest.js';
import { startTestServer, type TestServer } from '../helpers/in-process-server.js';
import { addUser, tokenFor } from '../helpers/users.js';

const MiB = 1024 * 1024;
let t: TestServer;

beforeAll(async () => {
  // The smallest body budget the server takes: 48 MiB for streamed uploads (36 MiB of reservations).
  t = await startTestServer({ bodyMemory: 12 * MiB });
});
afterAll(async () => {
  await t?.close();
});

/** A PUT whose body is sent in two steps: `head` bytes now, the rest when told. */
function openPut(path: string, body: Buffer, token: string, head: number): { finish(): void; abort(): void; response: Promise<{ status: number; text: string; retryAfter?: string }> } {
  const u = new URL(t.url + path);
  let req!: ClientRequest;
  const response = new Promise<{ status: number; text: string; retryAfter?: string }>((resolve, reject) => {
    req = request(
      { host: u.hostname, port: u.port, path: u.pathname, method: 'PUT', agent: false, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream', 'content-length': String(body.length) } },
      (res: IncomingMessage) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text, retryAfter: res.headers['retry-after'] }));
      },
    );
    req.on('error', reject);
  });
  req.write(body.subarray(0, head));
  return { finish: () => req.end(body.subarray(head)), abort: () => req.destroy(), response };
}

async function until(what: () => boolean | Promise<boolean>): Promise<void> {
  while (!(await what())) await new Promise((r) => setTimeout(r, 20));
}

describe('streamed uploads under the ingest memory budget', () => {
  it('leave their shared chunk buffers free for the next upload, until the idle settle lets them go', async () => {
    await addUser(t, 'spares');
    const { token } = await tokenFor(t, 'spares');
    dropSpareStreamBuffers();
    const put = openPut('/api/v1/files/spares.bin', randomBytes(3 * MiB), token, 0);
    put.finish();
    expect((await put.response).status).toBe(201);
    // Kept for the life of the process before (a 300 MB put and get left 26-28 MB of such buffers).
    expect(dropSpareStreamBuffers()).toBeGreaterThan(0);
    expect(dropSpareStreamBuffers()).toBe(0);
  });

  it('48 concurrent PUTs of 3 MiB (6 MiB admitted each, 8 times the room) all succeed byte for byte, the others waiting for room, and the room all comes back', { timeout: 180_000 }, async () => {
    const memory = t.server.ctx.ingestMemory;
    expect(memory.budget).toBe(48 * MiB);
    const metrics = await (await t.api('/metrics')).text();
    expect(metrics).toContain(`ferry_body_memory_budget_bytes{direction="stream"} ${48 * MiB}`);
    await addUser(t, 'many');
    const { token } = await tokenFor(t, 'many');
    const files = Array.from({ length: 48 }, (_, i) => randomBytes(3 * MiB + i * 4099));
    const waitsBefore = memory.stats().waits;
    const puts = files.map((f, i) => openPut(`/api/v1/files/many/f${i}.bin`, f, token, 1024));
    await until(() => memory.stats().waiting > 0);
    expect(memory.stats().held).toBeLessThanOrEqual(memory.budget);
    for (const p of puts) p.finish();
    const answers = await Promise.all(puts.map((p) => p.response));
    for (const a of answers) expect(a.status, a.text).toBe(201);
    expect(memory.stats().waits).toBeGreaterThan(waitsBefore);
    expect(memory.stats().peak).toBeLessThanOrEqual(memory.budget);
    expect(memory.stats()).toMatchObject({ waiting: 0, held: 0 });
    for (let i = 0; i < files.length; i++) {
      const got = await t.api(`/api/v1/files/many/f${i}.bin`, { token });
      expect(got.status).toBe(200);
      expect(Buffer.from(await got.arrayBuffer()).equals(files[i]), `f${i}.bin`).toBe(true);
    }
  });

  it('a client that hangs up while its PUT waits for room leaves the queue, and nothing at its path', { timeout: 120_000 }, async () => {
    const memory = t.server.ctx.ingestMemory;
    // The admin's (no per-user cap): six PUTs of 3 MiB fill the room (6 MiB admitted each, 36
    // MiB of reservations); the seventh waits.
    const token = t.token;
    const holders = Array.from({ length: 6 }, (_, i) => ({ data: randomBytes(3 * MiB), path: `/api/v1/files/hold/h${i}.bin` }));
    const held = holders.map((h) => openPut(h.path, h.data, token, 1024));
    await until(() => memory.stats().held >= 6 * (6 * MiB));
    const waiter = openPut('/api/v1/files/hold/gone.bin', randomBytes(3 * MiB), token, 1024);
    await until(() => memory.stats().waiting === 1);
    waiter.response.catch(() => undefined);
    waiter.abort();
    await until(() => memory.stats().waiting === 0);
    for (const h of held) h.finish();
    for (const a of await Promise.all(held.map((h) => h.response))) expect(a.status, a.text).toBe(201);
    expect((await t.api('/api/v1/files/hold/gone.bin', { token })).status).toBe(404);
    expect(memory.stats()).toMatchObject({ waiting: 0, held: 0 });
  });

  it('a PUT that waits for room longer than the limit is refused with 503 FERRY_ERR_UNAVAILABLE and a Retry-After, leaving nothing at its path', { timeout: 120_000 }, async () => {
    const { ctx } = t.server;
    const all = await ctx.ingestMemory.reserve(ctx.ingestMemory.largestWhole);
    ctx.ingestWaitMs = 200;
    try {
      const put = openPut('/api/v1/files/late/refused.bin', randomBytes(MiB), t.token, 1024);
      put.finish();
      const res = await put.response;
      expect(res.status, res.text).toBe(503);
      expect(JSON.parse(res.text)).toMatchObject({ error: { code: 'FERRY_ERR_UNAVAILABLE' } });
      expect(res.retryAfter).toBe('5');
    } finally {
      ctx.ingestWaitMs = undefined;
      all.release();
    }
    expect((await t.api('/api/v1/files/late/refused.bin')).status).toBe(404);
    expect(t.server.ctx.ingestMemory.stats()).toMatchObject({ waiting: 0, held: 0 });
  });
});

describe('admitIngest', () => {
  const params = DEFAULT_CHUNKING;

  it('admits a stream with the area its announced length can fill and one chunk; an unannounced one with the whole area', () => {
    expect(ingestAdmission(params, 100 * 1024)).toEqual({ area: 128 * 1024, chunk: 128 * 1024 });
    expect(ingestAdmission(params, 0)).toEqual({ area: 64 * 1024, chunk: 64 * 1024 });
    expect(ingestAdmission(params, 6 * MiB)).toEqual({ area: 6 * MiB, chunk: 4 * MiB });
    expect(ingestAdmission(params, 5 * 1024 * MiB)).toEqual({ area: 8 * MiB, chunk: 4 * MiB });
    expect(ingestAdmission(params)).toEqual({ area: 8 * MiB, chunk: 4 * MiB });
    expect(ingestMinimum(params)).toBe(12 * MiB);
  });

  it('waits for room and gets it once it is given back; past the wait limit, FERRY_ERR_UNAVAILABLE with a Retry-After; a closed request, FERRY_ERR_ABORTED', async () => {
    const memory = new BodyMemory(16 * MiB);
    const all = await admitIngest(memory, 12 * MiB, undefined);
    const waiting = admitIngest(memory, MiB, undefined, undefined, 60_000);
    expect(memory.stats().waiting).toBe(1);
    all.release();
    const got = await waiting;
    expect(got.kind).toBe('reserved');
    got.release();

    const again = await admitIngest(memory, 12 * MiB, undefined);
    await expect(admitIngest(memory, MiB, undefined, undefined, 30)).rejects.toMatchObject({ code: 'FERRY_ERR_UNAVAILABLE', retryAfterMs: 5000 });
    const closed = new AbortController();
    const gone = admitIngest(memory, MiB, undefined, closed.signal, 60_000);
    closed.abort();
    await expect(gone).rejects.toMatchObject({ code: 'FERRY_ERR_ABORTED' });
    expect(memory.stats().waiting).toBe(0);
    again.release();
    expect(memory.stats().held).toBe(0);
  });
});
