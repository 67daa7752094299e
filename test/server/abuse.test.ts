/**
 * Attacks from the outside review (issue 10), replayed against a real server: each test is
 * the attack as it was run, and asserts that it now fails, and how.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { LocalBackend } from '../../src/backends/local/local-backend.js';
import { fileHashOf, type ChunkRef } from '../../src/core/manifest.js';
import { encodeChunkList } from '../../src/store/chunk-list-codec.js';
import { pieces, sha256, startTestServer, uploadBuffer, type TestServer } from '../helpers/in-process-server.js';
import type { ShareInfo } from '../../src/core/protocol.js';
import { addUser, share, tokenFor } from '../helpers/users.js';
import { packBody as pack } from '../helpers/packs.js';

let t: TestServer;
let clock = Date.now();
const OCTET = { 'content-type': 'application/octet-stream' };

beforeAll(async () => {
  t = await startTestServer({ now: () => clock, maxUploadSessions: 5 });
});
afterAll(async () => t?.close());

const chunkFile = (hash: string) => join(t.dataDir, 'store', 'chunks', hash.slice(0, 2), hash);

async function errorOf(res: Response): Promise<{ status: number; code: string; details?: Record<string, unknown> }> {
  const body = (await res.json()) as { error: { code: string; details?: Record<string, unknown> } };
  return { status: res.status, code: body.error.code, details: body.error.details };
}

async function createUpload(token: string, spec: Record<string, unknown>): Promise<{ id: string; missing: string[] }> {
  const res = await t.api('/api/v1/uploads', { method: 'POST', json: spec, token });
  expect(res.status, await res.clone().text()).toBe(201);
  return (await res.json()) as { id: string; missing: string[] };
}

const putChunk = (token: string, id: string, hash: string, body: Buffer) =>
  t.api(`/api/v1/uploads/${id}/chunks/${hash}`, { method: 'PUT', body, headers: OCTET, token });

/** Sends raw bytes on one TCP connection and collects everything until the server closes it. */
function rawExchange(url: string, request: string): Promise<Buffer> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    const got: Buffer[] = [];
    socket.on('data', (d) => got.push(d));
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(got)));
    socket.write(request);
  });
}

describe('declared chunk sizes (issue 10, item 1)', () => {
  it('a chunk PUT with another size than the manifest declares is refused, and nothing is stored', async () => {
    await addUser(t, 'liar', { quotaBytes: 100_000 });
    const liar = (await tokenFor(t, 'liar')).token;
    // 120 KB of bytes announced as a 30-byte file, under a 100 KB quota.
    const big = randomBytes(120_000);
    const refs = [{ hash: sha256(big), size: 30 }];
    const { id, missing } = await createUpload(liar, { path: '/small.txt', size: 30, hash: fileHashOf(refs), chunks: refs });
    expect(missing).toEqual([refs[0].hash]);
    expect(await errorOf(await putChunk(liar, id, refs[0].hash, big))).toMatchObject({
      status: 400,
      code: 'FERRY_ERR_SIZE_MISMATCH',
      details: { hash: refs[0].hash, declared: 30, size: 120_000 },
    });
    expect(existsSync(chunkFile(refs[0].hash))).toBe(false);
    expect(await errorOf(await t.api(`/api/v1/uploads/${id}/commit`, { method: 'POST', json: {}, token: liar }))).toMatchObject({ status: 409, code: 'FERRY_ERR_UPLOAD_INCOMPLETE' });
    const me = (await (await t.api('/api/v1/me', { token: liar })).json()) as { usage: { bytes: number } };
    expect(me.usage.bytes).toBe(0);
  });

  it('a chunk proven once with its real size cannot be committed under a smaller one', async () => {
    await addUser(t, 'liar2', { quotaBytes: 100_000 });
    const liar = (await tokenFor(t, 'liar2')).token;
    const real = randomBytes(60_000);
    const honest = [{ hash: sha256(real), size: real.length }];
    const first = await createUpload(liar, { path: '/honest.bin', size: real.length, hash: fileHashOf(honest), chunks: honest });
    expect((await putChunk(liar, first.id, honest[0].hash, real)).status).toBe(200);
    expect((await t.api(`/api/v1/uploads/${first.id}`, { method: 'DELETE', token: liar })).status).toBe(204);
    // The chunk is now "already yours": a manifest claiming 30 bytes asks for nothing...
    const lying = [{ hash: honest[0].hash, size: 30 }];
    const second = await createUpload(liar, { path: '/lie.bin', size: 30, hash: fileHashOf(lying), chunks: lying });
    expect(second.missing).toEqual([]);
    // ...but the commit compares every size with the verified bytes.
    expect(await errorOf(await t.api(`/api/v1/uploads/${second.id}/commit`, { method: 'POST', json: {}, token: liar }))).toMatchObject({
      status: 400,
      code: 'FERRY_ERR_SIZE_MISMATCH',
      details: { hash: honest[0].hash, declared: 30, actual: 60_000 },
    });
    expect((await t.api('/api/v1/stat/lie.bin', { token: liar })).status).toBe(404);
  });

  it('a pack frame with another size than the manifest declares is refused', async () => {
    await addUser(t, 'liar3');
    const liar = (await tokenFor(t, 'liar3')).token;
    const data = randomBytes(700);
    const refs = [{ hash: sha256(data), size: 7 }];
    const { id } = await createUpload(liar, { path: '/p.bin', size: 7, hash: fileHashOf(refs), chunks: refs });
    const frame = Buffer.alloc(36);
    frame.write(refs[0].hash, 0, 32, 'hex');
    frame.writeUInt32BE(data.length, 32);
    const res = await t.api(`/api/v1/uploads/${id}/packs`, { method: 'POST', body: Buffer.concat([frame, data]), headers: OCTET, token: liar });
    expect(await errorOf(res)).toMatchObject({ status: 400, code: 'FERRY_ERR_SIZE_MISMATCH', details: { hash: refs[0].hash, declared: 7, size: 700 } });
  });

  it('a manifest that still lies (stored before the check) never makes a response longer than its Content-Length', async () => {
    await addUser(t, 'host');
    const host = (await tokenFor(t, 'host')).token;
    // What the attacker planted: a chunk whose bytes past the declared size are an HTTP response.
    const planted = Buffer.concat([Buffer.alloc(10, 'b'), Buffer.from('HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nPWNED')]);
    const a = Buffer.alloc(20, 'a');
    const c = Buffer.alloc(20, 'c');
    const file = Buffer.concat([a, planted, c]);
    const honest: ChunkRef[] = [a, planted, c].map((p) => ({ hash: sha256(p), size: p.length }));
    const created = await createUpload(host, { path: '/bait.bin', size: file.length, hash: fileHashOf(honest), chunks: honest });
    for (const [i, p] of [a, planted, c].entries()) expect((await putChunk(host, created.id, honest[i].hash, p)).status).toBe(200);
    expect((await t.api(`/api/v1/uploads/${created.id}/commit`, { method: 'POST', json: {}, token: host })).status).toBe(200);
    // The manifest as it was stored before sizes were checked: the middle chunk "has 10 bytes".
    const lying = honest.map((r, i) => (i === 1 ? { hash: r.hash, size: 10 } : r));
    const { db } = t.server.ctx.meta;
    await db.updateTable('manifests').set({ chunks: encodeChunkList(lying), size: 50 }).where('hash', '=', fileHashOf(honest)).execute();
    await db.updateTable('files').set({ size: 50 }).where('path', '=', '/users/host/bait.bin').execute();

    const link = await share(t, host, { path: '/bait.bin' });
    const path = new URL(link.url).pathname;
    const host_ = new URL(t.url).host;
    // The victim's keep-alive connection: the share download, then their own next request.
    const raw = await rawExchange(t.url, `GET ${path} HTTP/1.1\r\nHost: ${host_}\r\n\r\nGET /healthz HTTP/1.1\r\nHost: ${host_}\r\nConnection: close\r\n\r\n`);
    const text = raw.toString('latin1');
    expect(text).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(text).toMatch(/content-length: 50\r\n/i);
    expect(text).not.toContain('PWNED');
    // The first response was cut after the bytes that were right (20 of 50), so the
    // connection is gone: no second response of any kind on it.
    const body = raw.subarray(raw.indexOf('\r\n\r\n') + 4);
    expect(body.equals(a)).toBe(true);
    expect(text.match(/HTTP\/1\.1 /g)).toHaveLength(1);
    // A range starting in the lying chunk is refused before any byte is sent.
    const ranged = await fetch(link.url, { headers: { range: 'bytes=25-' } });
    expect(await errorOf(ranged)).toMatchObject({ status: 500, code: 'FERRY_ERR_CHUNK_CORRUPT' });
    // The owner's own download path is guarded the same way.
    const direct = await rawExchange(t.url, `GET /api/v1/files/bait.bin HTTP/1.1\r\nHost: ${host_}\r\nAuthorization: Bearer ${host}\r\n\r\nGET /healthz HTTP/1.1\r\nHost: ${host_}\r\nConnection: close\r\n\r\n`);
    expect(direct.toString('latin1')).not.toContain('PWNED');
    expect(direct.toString('latin1').match(/HTTP\/1\.1 /g)).toHaveLength(1);
  });

  it('the honest path is unaffected: files of many chunks download byte for byte', async () => {
    const data = randomBytes(300_000);
    expect((await uploadBuffer(t, '/many.bin', data, 64 * 1024)).status).toBe(200);
    const back = await t.api('/api/v1/files/many.bin');
    expect(Buffer.from(await back.arrayBuffer()).equals(data)).toBe(true);
    const ranged = await t.api('/api/v1/files/many.bin', { headers: { range: 'bytes=70000-200000' } });
    expect(ranged.status).toBe(206);
    expect(Buffer.from(await ranged.arrayBuffer()).equals(data.subarray(70_000, 200_001))).toBe(true);
    expect(pieces(data, 64 * 1024).refs).toHaveLength(5);
  });
});

/**
 * Starts a PUT whose body arrives in two halves: the first at once, the second when
 * `finish()` is called. `response` settles with the status once the server answers.
 */
function trickledPut(url: string, token: string, body: Buffer): { finish(): void; halfSent: Promise<void>; response: Promise<{ status: number; body: string }> } {
  const req = httpRequest(url, { method: 'PUT', headers: { ...OCTET, authorization: `Bearer ${token}`, 'content-length': String(body.length) } });
  const response = new Promise<{ status: number; body: string }>((resolve, reject) => {
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
  });
  const half = body.length >> 1;
  const halfSent = new Promise<void>((resolve) => req.write(body.subarray(0, half), () => resolve()));
  return { finish: () => req.end(body.subarray(half)), halfSent, response };
}

describe('one chunk, many senders (issue 10, item 6)', () => {
  it("a PUT whose body trickles in does not hold up another user's PUT of the same chunk", { timeout: 30_000 }, async () => {
    await addUser(t, 'slow');
    await addUser(t, 'fast');
    const slow = (await tokenFor(t, 'slow')).token;
    const fast = (await tokenFor(t, 'fast')).token;
    const data = randomBytes(200_000);
    const refs = [{ hash: sha256(data), size: data.length }];
    const spec = { path: '/same.bin', size: data.length, hash: fileHashOf(refs), chunks: refs };
    const a = await createUpload(slow, spec);
    const b = await createUpload(fast, spec);
    const trickle = trickledPut(`${t.url}/api/v1/uploads/${a.id}/chunks/${refs[0].hash}`, slow, data);
    let slowAnswered = false;
    void trickle.response.then(() => (slowAnswered = true));
    // Wait until the first half of the slow body is on its way (the server reads a chunk
    // body whole into memory before it writes anything, so no file says when it arrived).
    await trickle.halfSent;
    await new Promise((r) => setTimeout(r, 100));
    // Half of the slow body is in; the fast user's whole PUT completes meanwhile.
    const quick = await putChunk(fast, b.id, refs[0].hash, data);
    expect(quick.status).toBe(200);
    expect(slowAnswered).toBe(false);
    expect((await t.api(`/api/v1/uploads/${b.id}/commit`, { method: 'POST', json: {}, token: fast })).status).toBe(200);
    // The slow one finishes in its own time, and both files read back whole.
    trickle.finish();
    expect((await trickle.response).status).toBe(200);
    expect((await t.api(`/api/v1/uploads/${a.id}/commit`, { method: 'POST', json: {}, token: slow })).status).toBe(200);
    for (const token of [slow, fast]) {
      expect(Buffer.from(await (await t.api('/api/v1/files/same.bin', { token })).arrayBuffer()).equals(data)).toBe(true);
    }
  });
});

/** Pack frames: `hash | u32 size | data` per part. */
/**
 * Runs `request` and reports what the server did for it: the chunk store's writes (with
 * their durability) and the SQL statements run. The same numbers mean the same work.
 */
async function workOf<T>(request: () => Promise<T>): Promise<{ result: T; writes: Record<string, boolean | number | undefined>[]; statements: number }> {
  const spy = vi.spyOn(LocalBackend.prototype, 'write');
  const staged = vi.spyOn(LocalBackend.prototype, 'stage');
  const published = vi.spyOn(LocalBackend.prototype, 'publish');
  const stats = t.server.ctx.meta.statements!;
  const before = stats.lookups;
  try {
    const result = await request();
    // A PUT's chunk is made durable and indexed after the answer (grouped durability):
    // that work is counted too.
    await t.server.ctx.chunks.flush();
    const writes = [
      ...spy.mock.calls.map((c) => ({ durable: c[2]?.durable })),
      ...staged.mock.calls.map(() => ({ staged: true })),
      ...published.mock.calls.map((c) => ({ published: c[0].length })),
    ];
    return { result, writes, statements: stats.lookups - before };
  } finally {
    spy.mockRestore();
    staged.mockRestore();
    published.mockRestore();
  }
}

describe('dedup without an oracle (issue 10, item 2)', () => {
  // The statements of a request are counted: the webhook dispatcher's look for due
  // deliveries (this file adds no webhooks) must not land inside a measured request.
  beforeAll(async () => t.server.ctx.webhooks.close());

  it("a chunk another user stores is answered, and handled, exactly like a chunk nobody has", async () => {
    await addUser(t, 'victim');
    await addUser(t, 'prober');
    const victim = (await tokenFor(t, 'victim')).token;
    const prober = (await tokenFor(t, 'prober')).token;
    const secret = Buffer.from('door code: 737\n'.padEnd(5000, '.'));
    expect((await uploadBuffer(t, '/notes.txt', secret, 64 * 1024, { token: victim })).status).toBe(200);
    const storedBefore = ((await (await t.api('/api/v1/admin/stats')).json()) as { storedBytes: number }).storedBytes;

    // The prober guesses the victim's file and, for comparison, a guess nobody has.
    const guess = Buffer.from(secret);
    const wrong = Buffer.from('door code: 738\n'.padEnd(5000, '.'));
    const refs = [guess, wrong].map((p) => ({ hash: sha256(p), size: p.length }));
    const { id, missing } = await createUpload(prober, { path: '/guesses.bin', size: 10_000, hash: fileHashOf(refs), chunks: refs });
    expect(missing).toEqual(refs.map((r) => r.hash));
    await t.api('/api/v1/me', { token: prober }); // the token is verified once, then cached
    const right = await workOf(async () => (await putChunk(prober, id, refs[0].hash, guess)).json());
    const other = await workOf(async () => (await putChunk(prober, id, refs[1].hash, wrong)).json());
    expect(right.result).toEqual({ hash: refs[0].hash, size: 5000, stored: true });
    expect(other.result).toEqual({ hash: refs[1].hash, size: 5000, stored: true });
    // The same work: one write of the body each, made durable by itself, the same statements.
    expect(right.writes).toEqual([{ staged: true }, { published: 1 }]);
    expect(other.writes).toEqual(right.writes);
    expect(other.statements).toBe(right.statements);
    // Dedup still saves the space: the victim's chunk was written over, not stored twice.
    const storedAfter = ((await (await t.api('/api/v1/admin/stats')).json()) as { storedBytes: number }).storedBytes;
    expect(storedAfter).toBe(storedBefore + 5000);
    // "Already yours" is the only thing a user is told: the prober's own chunk, sent again.
    expect(await (await putChunk(prober, id, refs[0].hash, guess)).json()).toEqual({ hash: refs[0].hash, size: 5000, stored: false });
    expect(Buffer.from(await (await t.api('/api/v1/files/notes.txt', { token: victim })).arrayBuffer()).equals(secret)).toBe(true);
  });

  it('packs too: duplicates counts only what was already the sender\'s', async () => {
    await addUser(t, 'victim2');
    await addUser(t, 'prober2');
    const victim = (await tokenFor(t, 'victim2')).token;
    const prober = (await tokenFor(t, 'prober2')).token;
    const secret = Buffer.from('pin 4711');
    const fresh = Buffer.from('pin 4712');
    // The victim's small file travels in a pack, as the client sends small files.
    const mine = [{ hash: sha256(secret), size: secret.length }];
    const v = await createUpload(victim, { path: '/pin', size: secret.length, hash: fileHashOf(mine), chunks: mine });
    expect((await t.api(`/api/v1/uploads/${v.id}/packs`, { method: 'POST', body: pack([secret]), headers: OCTET, token: victim })).status).toBe(200);
    expect((await t.api(`/api/v1/uploads/${v.id}/commit`, { method: 'POST', json: {}, token: victim })).status).toBe(200);

    const guesses = [secret, fresh].map((p) => ({ hash: sha256(p), size: p.length }));
    const files = guesses.map((g, i) => ({ path: `/g${i}`, size: g.size, hash: fileHashOf([g]), chunks: [g] }));
    const { id } = await createUpload(prober, { files });
    await t.api('/api/v1/me', { token: prober });
    const send = (p: Buffer) => async () => (await t.api(`/api/v1/uploads/${id}/packs`, { method: 'POST', body: pack([p]), headers: OCTET, token: prober })).json();
    const right = await workOf(send(secret));
    const other = await workOf(send(fresh));
    expect(right.result).toEqual({ stored: 1, duplicates: 0, bytes: 8 });
    expect(other.result).toEqual(right.result);
    expect(other.writes).toEqual(right.writes);
    expect(right.writes).toEqual([{ durable: true }]);
    expect(other.statements).toBe(right.statements);
    expect(await send(secret)()).toEqual({ stored: 0, duplicates: 1, bytes: 8 });
    expect((await t.api(`/api/v1/uploads/${id}/commit`, { method: 'POST', json: {}, token: prober })).status).toBe(200);
    // Both copies read back, and the victim's file still does.
    await t.server.ctx.chunks.settled();
    expect(await (await t.api('/api/v1/files/pin', { token: victim })).text()).toBe('pin 4711');
    expect(await (await t.api('/api/v1/files/g0', { token: prober })).text()).toBe('pin 4711');
  });
});

describe('a damaged chunk heals (issue 10, item 12)', () => {
  /** Flips one byte of a stored object on disk, as a failing disk would. */
  const damage = (file: string, at: number): void => {
    const bytes = readFileSync(file);
    bytes[at] ^= 0xff;
    writeFileSync(file, bytes);
  };

  it('a loose chunk that failed verification is asked for again, and the good bytes replace it', async () => {
    await addUser(t, 'disk');
    const token = (await tokenFor(t, 'disk')).token;
    const data = randomBytes(150_000);
    expect((await uploadBuffer(t, '/photo.raw', data, 64 * 1024, { token })).status).toBe(200);
    const { refs } = pieces(data, 64 * 1024);
    damage(chunkFile(refs[0].hash), 100);
    expect(await errorOf(await t.api('/api/v1/files/photo.raw', { token }))).toMatchObject({ status: 500, code: 'FERRY_ERR_CHUNK_CORRUPT' });
    // Uploading the file again: the damaged chunk is "missing" (and only it), its bytes replace the bad copy.
    const again = await createUpload(token, { path: '/photo-again.raw', size: data.length, hash: fileHashOf(refs), chunks: refs });
    expect(again.missing).toEqual([refs[0].hash]);
    expect(await (await putChunk(token, again.id, refs[0].hash, data.subarray(0, 64 * 1024))).json()).toMatchObject({ stored: true });
    expect((await t.api(`/api/v1/uploads/${again.id}/commit`, { method: 'POST', json: {}, token })).status).toBe(200);
    for (const name of ['photo.raw', 'photo-again.raw']) {
      expect(Buffer.from(await (await t.api(`/api/v1/files/${name}`, { token })).arrayBuffer()).equals(data)).toBe(true);
    }
  });

  it('a damaged chunk inside a pack is replaced by a pack that brings it again', async () => {
    await addUser(t, 'disk2');
    const token = (await tokenFor(t, 'disk2')).token;
    const small = Buffer.from('a small file, sent in a pack');
    const refs = [{ hash: sha256(small), size: small.length }];
    const spec = { path: '/small.txt', size: small.length, hash: fileHashOf(refs), chunks: refs };
    const first = await createUpload(token, spec);
    expect((await t.api(`/api/v1/uploads/${first.id}/packs`, { method: 'POST', body: pack([small]), headers: OCTET, token })).status).toBe(200);
    expect((await t.api(`/api/v1/uploads/${first.id}/commit`, { method: 'POST', json: {}, token })).status).toBe(200);
    const loc = (await t.server.ctx.meta.chunkLocation(refs[0].hash))!;
    damage(join(t.dataDir, 'store', 'packs', loc.pack!.slice(0, 2), loc.pack!), loc.offset! + 3);
    expect(await errorOf(await t.api('/api/v1/files/small.txt', { token }))).toMatchObject({ status: 500, code: 'FERRY_ERR_CHUNK_CORRUPT' });
    const second = await createUpload(token, { ...spec, path: '/small-again.txt' });
    expect(second.missing).toEqual([refs[0].hash]);
    expect(await (await t.api(`/api/v1/uploads/${second.id}/packs`, { method: 'POST', body: pack([small]), headers: OCTET, token })).json()).toEqual({ stored: 1, duplicates: 0, bytes: small.length });
    expect((await t.api(`/api/v1/uploads/${second.id}/commit`, { method: 'POST', json: {}, token })).status).toBe(200);
    expect(await (await t.api('/api/v1/files/small.txt', { token })).text()).toBe(small.toString());
  });
});

/** The real curl from a given local address: status and body. */
async function curl(from: string, args: string[]): Promise<{ status: number; body: Buffer }> {
  const { stdout } = await promisify(execFile)('curl', ['-sS', '--interface', from, '-o', '-', '-w', '\n%{http_code}', ...args], { encoding: 'buffer', maxBuffer: 64 * 1024 * 1024 });
  const cut = stdout.lastIndexOf(0x0a);
  return { status: Number(stdout.subarray(cut + 1).toString()), body: stdout.subarray(0, cut) };
}

describe('download limits and Range (issue 10, item 3)', () => {
  it('curl -r 1- in a loop no longer downloads for ever: every download counts, however it is cut', async () => {
    await addUser(t, 'sharer');
    const token = (await tokenFor(t, 'sharer')).token;
    const data = randomBytes(3000);
    expect((await uploadBuffer(t, '/once.bin', data, 64 * 1024, { token })).status).toBe(200);
    const link = await share(t, token, { path: '/once.bin', maxUses: 1 });
    // The first ranged request is a download: it uses the link's one download.
    const first = await curl('127.0.0.1', ['-r', '1-', link.url]);
    expect(first.status).toBe(206);
    expect(first.body.equals(data.subarray(1))).toBe(true);
    // Continuing it from the same address draws on that download (twice the file's bytes)...
    expect((await curl('127.0.0.1', ['-r', '1-', link.url])).status).toBe(206);
    // ...and once that is spent, the next range is a new download: none left.
    expect((await curl('127.0.0.1', ['-r', '1-', link.url])).status).toBe(410);
    // Another address gets nothing, ranged or not.
    expect((await curl('127.0.0.2', ['-r', '1-', link.url])).status).toBe(410);
    expect((await curl('127.0.0.2', [link.url])).status).toBe(410);
    const info = ((await (await t.api('/api/v1/shares', { token })).json()) as ShareInfo[]).find((x) => x.id === link.id);
    expect(info).toMatchObject({ uses: 1, maxUses: 1 });
  });

  it('a download that fails before a byte is served does not count', async () => {
    await addUser(t, 'sharer2');
    const token = (await tokenFor(t, 'sharer2')).token;
    const data = randomBytes(5000);
    expect((await uploadBuffer(t, '/fragile.bin', data, 64 * 1024, { token })).status).toBe(200);
    const link = await share(t, token, { path: '/fragile.bin', maxUses: 1 });
    const file = chunkFile(sha256(data));
    const good = readFileSync(file);
    const bad = Buffer.from(good);
    bad[bad.length - 10] ^= 0xff; // in the chunk's bytes (the object starts with a header)
    writeFileSync(file, bad);
    expect((await curl('127.0.0.5', [link.url])).status).toBe(500);
    expect((await curl('127.0.0.5', ['-r', '1-', link.url])).status).toBe(500); // not a continuation either
    writeFileSync(file, good);
    const got = await curl('127.0.0.5', [link.url]);
    expect(got.status).toBe(200);
    expect(got.body.equals(data)).toBe(true);
    expect((await curl('127.0.0.6', [link.url])).status).toBe(410);
  });

  it('a resumed or segmented download is still one download', async () => {
    await addUser(t, 'sharer3');
    const token = (await tokenFor(t, 'sharer3')).token;
    const data = randomBytes(300_000);
    expect((await uploadBuffer(t, '/big.bin', data, 64 * 1024, { token })).status).toBe(200);
    const link = await share(t, token, { path: '/big.bin', maxUses: 1 });
    // Three segments in parallel (a download manager), then a piece fetched again (a resume).
    const segments = await Promise.all([['0-99999'], ['100000-199999'], ['200000-']].map(([r]) => curl('127.0.0.3', ['-r', r, link.url])));
    expect(segments.map((x) => x.status)).toEqual([206, 206, 206]);
    expect(Buffer.concat(segments.map((x) => x.body)).equals(data)).toBe(true);
    const resumed = await curl('127.0.0.3', ['-r', '150000-', link.url]);
    expect(resumed.status).toBe(206);
    expect(resumed.body.equals(data.subarray(150_000))).toBe(true);
    // That was the link's one download: a new one, from anywhere, is refused.
    expect((await curl('127.0.0.4', [link.url])).status).toBe(410);
    expect((await curl('127.0.0.3', [link.url])).status).toBe(410);
  });
});

describe('uploads in flight count against the quota (issue 10, items 5 and 16)', () => {
  const chunkRef = (n: number, size: number) => ({ hash: sha256(Buffer.from(`chunk ${n} of a file that never comes`)), size });
  const append = (token: string, id: string, chunks: { hash: string; size: number }[]) => t.api(`/api/v1/uploads/${id}/chunks`, { method: 'POST', json: { chunks }, token });
  const me = async (token: string) => (await (await t.api('/api/v1/me', { token })).json()) as { usage: { bytes: number }; uploadSessions: number };

  it('a session without a size but with its manifest is held to the quota at creation', async () => {
    await addUser(t, 'q1', { quotaBytes: 100_000 });
    const token = (await tokenFor(t, 'q1')).token;
    // "An 80 GiB session" at this scale: 30 entries of 4 MB under a 100 KB quota, no size.
    const chunks = Array.from({ length: 30 }, (_, i) => chunkRef(i, 4_000_000));
    const res = await t.api('/api/v1/uploads', { method: 'POST', json: { path: '/huge.bin', chunks }, token });
    expect(await errorOf(res)).toMatchObject({ status: 413, code: 'FERRY_ERR_QUOTA_EXCEEDED', details: { limit: 'bytes', quota: 100_000 } });
    expect((await me(token)).uploadSessions).toBe(0);
  });

  it('streaming sessions count each other: the append that passes the quota is refused and its session ends', async () => {
    await addUser(t, 'q2', { quotaBytes: 100_000 });
    const token = (await tokenFor(t, 'q2')).token;
    const a = await createUpload(token, { path: '/a.stream' });
    const b = await createUpload(token, { path: '/b.stream' });
    expect((await append(token, a.id, [chunkRef(1, 30_000), chunkRef(2, 30_000)])).status).toBe(200);
    expect((await append(token, b.id, [chunkRef(3, 30_000)])).status).toBe(200);
    // 60 KB in a, 30 KB in b: 20 KB more for b would pass 100 KB.
    expect(await errorOf(await append(token, b.id, [chunkRef(4, 20_000)]))).toMatchObject({
      status: 413,
      code: 'FERRY_ERR_QUOTA_EXCEEDED',
      details: { limit: 'bytes', used: 0, inFlight: 60_000, wouldUse: 110_000 },
    });
    // b is gone (its slot and its reservation with it); a goes on, and b's room is a's now.
    expect((await t.api(`/api/v1/uploads/${b.id}`, { token })).status).toBe(404);
    expect((await me(token)).uploadSessions).toBe(1);
    expect((await append(token, a.id, [chunkRef(5, 40_000)])).status).toBe(200);
    expect(await errorOf(await append(token, a.id, [chunkRef(6, 1)]))).toMatchObject({ status: 413, code: 'FERRY_ERR_QUOTA_EXCEEDED' });
  });

  it('sized sessions count each other too: many small sessions cannot store past the quota together', async () => {
    await addUser(t, 'q3', { quotaBytes: 100_000 });
    const token = (await tokenFor(t, 'q3')).token;
    const open = (i: number) => {
      const refs = [chunkRef(100 + i, 40_000)];
      return t.api('/api/v1/uploads', { method: 'POST', json: { path: `/part${i}`, size: 40_000, hash: fileHashOf(refs), chunks: refs }, token });
    };
    expect((await open(1)).status).toBe(201);
    expect((await open(2)).status).toBe(201);
    expect(await errorOf(await open(3))).toMatchObject({ status: 413, code: 'FERRY_ERR_QUOTA_EXCEEDED', details: { inFlight: 80_000 } });
  });

  it('a streamed upload (share link) stops at the quota before storing past it', async () => {
    await addUser(t, 'q4', { quotaBytes: 100_000 });
    const token = (await tokenFor(t, 'q4')).token;
    expect((await t.api('/api/v1/mkdir/inbox', { method: 'POST', token })).status).toBe(201);
    const link = await share(t, token, { path: '/inbox', kind: 'upload' });
    const before = ((await (await t.api('/api/v1/admin/stats')).json()) as { storedBytes: number }).storedBytes;
    // No Content-Length (chunked): the size is unknown until the end.
    const body = new ReadableStream({
      start(c) {
        for (let i = 0; i < 8; i++) c.enqueue(randomBytes(100_000));
        c.close();
      },
    });
    const res = await fetch(`${link.url}/big.bin`, { method: 'PUT', body, duplex: 'half' } as RequestInit);
    expect(await errorOf(res)).toMatchObject({ status: 413, code: 'FERRY_ERR_QUOTA_EXCEEDED' });
    const after = ((await (await t.api('/api/v1/admin/stats')).json()) as { storedBytes: number }).storedBytes;
    expect(after - before).toBeLessThanOrEqual(100_000);
    expect((await me(token)).uploadSessions).toBe(0);
  });

  it('refused requests do not keep an idle session alive', async () => {
    await addUser(t, 'q5');
    const token = (await tokenFor(t, 'q5')).token;
    const data = randomBytes(1000);
    const refs = [{ hash: sha256(data), size: data.length }];
    const { id } = await createUpload(token, { path: '/idle.bin', size: data.length, hash: fileHashOf(refs), chunks: refs });
    const expiry = async () => (await t.server.ctx.meta.uploadOwner(id)).expiresAt;
    const created = await expiry();
    clock += 12 * 3600_000; // half of the 24 h upload TTL: a taken chunk would extend it
    const stranger = randomBytes(1000);
    expect((await putChunk(token, id, sha256(stranger), stranger)).status).toBe(400); // not in the manifest
    expect((await putChunk(token, id, refs[0].hash, randomBytes(999))).status).toBe(400); // size
    expect((await putChunk(token, id, refs[0].hash, randomBytes(1000))).status).toBe(400); // hash
    expect((await t.api(`/api/v1/uploads/${id}/packs`, { method: 'POST', body: pack([stranger]), headers: OCTET, token })).status).toBe(400);
    expect(await expiry()).toBe(created);
    // A chunk taken does extend it.
    expect((await putChunk(token, id, refs[0].hash, data)).status).toBe(200);
    expect(await expiry()).toBe(clock + 24 * 3600_000);
  });
});
