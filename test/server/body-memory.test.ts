/**
 * Memory bounded under many concurrent uploads (issue 15, workload 6; the charter's "memory
 * is bounded"): chunk bodies being received take at most `bodyMemory` bytes all together,
 * and a chunk PUT beyond that waits, unread, for room, then succeeds. Observed through the
 * server's own gauges in /metrics (ferry_body_memory_*), not through timing: the test holds
 * 40 PUTs of 1 MiB open (their first bytes sent) until the server reports some of them
 * waiting, then lets every body finish. And one user's bodies that never finish, or one
 * share link's answers never read, leave the others room (the others wait for nothing: a
 * failure here is the test's time-out).
 */
import { randomBytes } from 'node:crypto';
import { request, type ClientRequest, type IncomingMessage } from 'node:http';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compress } from 'zstd-napi';
import { fileHashOf } from '../../src/core/manifest.js';
import { pieces, startTestServer, uploadBuffer, type TestServer } from '../helpers/in-process-server.js';
import { addUser, share, tokenFor } from '../helpers/users.js';

const MiB = 1024 * 1024;
const BUDGET = 16 * MiB;
let t: TestServer;

beforeAll(async () => {
  t = await startTestServer({ bodyMemory: BUDGET });
});
afterAll(async () => {
  await t?.close();
});

/** A gauge of the budget for chunks received (`in`) or sent (`out`). */
async function metric(name: string, direction: 'in' | 'out' = 'in'): Promise<number> {
  const text = await (await t.api('/metrics')).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{direction="${direction}"} `));
  if (line === undefined) throw new Error(`no ${name} (${direction}) in /metrics`);
  return Number(line.split(' ').pop());
}

/** A chunk PUT whose body is sent in two steps: `head` bytes now, the rest when told. */
function openPut(path: string, body: Buffer, headers: Record<string, string>, head: number): { finish(): void; abort(): void; response: Promise<{ status: number; text: string }> } {
  const u = new URL(t.url + path);
  let req!: ClientRequest;
  const response = new Promise<{ status: number; text: string }>((resolve, reject) => {
    req = request(
      { host: u.hostname, port: u.port, path: u.pathname, method: 'PUT', agent: false, headers: { authorization: `Bearer ${t.token}`, 'content-type': 'application/octet-stream', 'content-length': String(body.length), ...headers } },
      (res: IncomingMessage) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on('error', reject);
  });
  req.write(body.subarray(0, head));
  return { finish: () => req.end(body.subarray(head)), abort: () => req.destroy(), response };
}

async function until(what: () => Promise<boolean>): Promise<void> {
  while (!(await what())) await new Promise((r) => setTimeout(r, 50));
}

describe('chunk bodies under the memory budget', () => {
  it('40 concurrent chunk PUTs of 1 MiB (2.5× the budget) all succeed byte for byte, some after waiting, and body memory never passes the budget', { timeout: 120_000 }, async () => {
    expect(await metric('ferry_body_memory_budget_bytes')).toBe(BUDGET);
    expect(await metric('ferry_body_memory_budget_bytes', 'out')).toBe(BUDGET);
    // Random chunks (stored raw), chunks of text sent raw (compressed at rest when memory
    // allows), and chunks sent zstd-compressed (read whole with their plain bytes reserved).
    const text = Buffer.from('the quick brown fox jumps over the lazy dog, again and again. '.repeat(110_000));
    const data = Buffer.concat([randomBytes(28 * MiB), text.subarray(0, 6 * MiB), Buffer.from(text.subarray(0, 6 * MiB).toString('utf8').toUpperCase())]);
    const { parts, refs } = pieces(data, MiB);
    const created = await t.api('/api/v1/uploads', { method: 'POST', json: { path: '/many/big.bin', size: data.length, hash: fileHashOf(refs), chunks: refs } });
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: string };

    const puts = parts.map((p, i) => {
      const zstd = i >= 34;
      const body = zstd ? compress(p) : p;
      return openPut(`/api/v1/uploads/${id}/chunks/${refs[i].hash}`, body, zstd ? { 'content-encoding': 'zstd' } : {}, 1024);
    });
    // 12 MiB of whole buffers and 16 stream windows at most: the others wait, unread.
    await until(async () => (await metric('ferry_body_memory_waiting')) > 0);
    expect(await metric('ferry_body_memory_bytes')).toBeLessThanOrEqual(BUDGET);
    for (const p of puts) p.finish();
    const answers = await Promise.all(puts.map((p) => p.response));
    for (const a of answers) expect(a.status, a.text).toBe(200);

    expect(await metric('ferry_body_memory_waits_total')).toBeGreaterThan(0);
    expect(await metric('ferry_body_memory_waiting')).toBe(0);
    const peak = await metric('ferry_body_memory_peak_bytes');
    expect(peak).toBeGreaterThanOrEqual(12 * MiB);
    expect(peak).toBeLessThanOrEqual(BUDGET);

    const commit = await t.api(`/api/v1/uploads/${id}/commit`, { method: 'POST', json: {} });
    expect(commit.status, await commit.text()).toBe(200);
    const got = Buffer.from(await (await t.api('/api/v1/files/many/big.bin')).arrayBuffer());
    expect(got.length).toBe(data.length);
    expect(got.equals(data)).toBe(true);
    expect(await metric('ferry_body_memory_bytes')).toBeLessThanOrEqual(BUDGET);
  });

  it('24 concurrent downloads of an 8 MiB file all get its bytes, and the chunks read for them never take more than the budget', { timeout: 120_000 }, async () => {
    const data = randomBytes(8 * MiB);
    const { refs, parts } = pieces(data, MiB);
    const created = await t.api('/api/v1/uploads', { method: 'POST', json: { path: '/many/read.bin', size: data.length, hash: fileHashOf(refs), chunks: refs } });
    const { id } = (await created.json()) as { id: string };
    for (let i = 0; i < parts.length; i++) {
      const r = await t.api(`/api/v1/uploads/${id}/chunks/${refs[i].hash}`, { method: 'PUT', body: parts[i], headers: { 'content-type': 'application/octet-stream' } });
      expect(r.status).toBe(200);
    }
    expect((await t.api(`/api/v1/uploads/${id}/commit`, { method: 'POST', json: {} })).status).toBe(200);
    // Half of them ranged, as the native client reads.
    const got = await Promise.all(
      Array.from({ length: 24 }, async (_, i) => {
        const res = await t.api('/api/v1/files/many/read.bin', i % 2 ? { headers: { range: `bytes=${MiB / 2}-` } } : {});
        return { status: res.status, bytes: Buffer.from(await res.arrayBuffer()), ranged: i % 2 === 1 };
      }),
    );
    for (const g of got) {
      expect(g.status).toBe(g.ranged ? 206 : 200);
      expect(g.bytes.equals(g.ranged ? data.subarray(MiB / 2) : data)).toBe(true);
    }
    const peak = await metric('ferry_body_memory_peak_bytes', 'out');
    expect(peak).toBeGreaterThanOrEqual(MiB);
    expect(peak).toBeLessThanOrEqual(BUDGET);
    expect(await metric('ferry_body_memory_bytes', 'out')).toBe(0);
    expect(await metric('ferry_body_memory_waiting', 'out')).toBe(0);
  });

  it("one user's bodies that never finish do not stop another user's upload: each user leaves the others room", { timeout: 120_000 }, async () => {
    await addUser(t, 'mallory');
    await addUser(t, 'ana');
    const mallory = (await tokenFor(t, 'mallory')).token;
    const ana = (await tokenFor(t, 'ana')).token;
    // 24 chunk PUTs of 4 MiB, each with 1 KiB sent and the rest never: more than the budget holds.
    const size = 4 * MiB;
    const refs = Array.from({ length: 24 }, () => ({ hash: randomBytes(32).toString('hex'), size }));
    const created = await t.api('/api/v1/uploads', { method: 'POST', token: mallory, json: { path: '/hold.bin', size: size * refs.length, chunks: refs } });
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: string };
    const held = refs.map((r) => openPut(`/api/v1/uploads/${id}/chunks/${r.hash}`, Buffer.alloc(size), { authorization: `Bearer ${mallory}` }, 1024));
    try {
      await until(async () => (await metric('ferry_body_memory_waiting')) > 0);
      // Another user's upload goes through meanwhile (before the cap it waited for those bodies).
      const data = randomBytes(3 * MiB);
      const mine = await uploadBuffer(t, '/mine.bin', data, MiB, { token: ana });
      expect(mine.status, await mine.text()).toBe(200);
      expect(Buffer.from(await (await t.api('/api/v1/files/mine.bin', { token: ana })).arrayBuffer()).equals(data)).toBe(true);
    } finally {
      for (const h of held) h.abort();
      await Promise.allSettled(held.map((h) => h.response));
    }
    await until(async () => (await metric('ferry_body_memory_waiting')) === 0);
  });

  it("a share link's visitors that stop reading do not stop other downloads: the link leaves the others a chunk's room", { timeout: 120_000 }, async () => {
    await addUser(t, 'lena');
    await addUser(t, 'otto');
    const owner = (await tokenFor(t, 'lena')).token;
    const data = randomBytes(40 * MiB);
    expect((await uploadBuffer(t, '/big.bin', data, MiB, { token: owner })).status).toBe(200);
    const link = await share(t, owner, { path: '/big.bin' });
    const { port } = new URL(t.url);
    // 30 requests whose answers are never read: the socket buffers fill, then the chunks wait.
    const sockets = Array.from({ length: 30 }, (_, i) => {
      const s = connect({ port: Number(port), host: '127.0.0.1' }, () => s.write(`GET ${new URL(link.url).pathname} HTTP/1.1\r\nHost: x\r\nRange: bytes=${i * MiB}-\r\n\r\n`));
      s.on('error', () => undefined);
      s.pause();
      return s;
    });
    try {
      await until(async () => (await metric('ferry_body_memory_waiting', 'out')) > 0);
      const mine = randomBytes(3 * MiB);
      const otto = (await tokenFor(t, 'otto')).token;
      expect((await uploadBuffer(t, '/read-me.bin', mine, MiB, { token: otto })).status).toBe(200);
      const got = await t.api('/api/v1/files/read-me.bin', { token: otto });
      expect(got.status).toBe(200);
      expect(Buffer.from(await got.arrayBuffer()).equals(mine)).toBe(true);
    } finally {
      for (const s of sockets) s.destroy();
    }
    await until(async () => (await metric('ferry_body_memory_waiting', 'out')) === 0);
  });

  it('a server whose budget cannot hold a compressed chunk and its frame does not start', async () => {
    await expect(startTestServer({ bodyMemory: 8 * MiB })).rejects.toMatchObject({ code: 'FERRY_ERR_CONFIG' });
  });
});
