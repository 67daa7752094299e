/**
 * Rate limits, the defender and IP allow/deny lists. Two clients with different addresses
 * run on one machine: 127.0.0.1 and 127.0.0.2 (all of 127/8 is loopback on Linux), so one
 * can be limited or banned while the other goes on. Ban durations run on the server's
 * injectable clock: no sleeping.
 */
import { createHash } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { connect, type Socket } from 'node:net';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileHashOf } from '../../src/core/manifest.js';
import { DEFAULT_DEFENDER } from '../../src/server/defender.js';
import { startTestServer, type TestServer } from '../helpers/in-process-server.js';
import { readMetricSeries } from '../helpers/server.js';
import { addUser, auditEvents, tokenFor } from '../helpers/users.js';

const agents: Agent[] = [];
afterAll(async () => {
  await Promise.all(agents.map((a) => a.close()));
});

/** A client that connects from `localAddress`. */
function client(t: TestServer, localAddress: string) {
  const agent = new Agent({ localAddress });
  agents.push(agent);
  return async (path: string, init: { method?: 'GET' | 'POST' | 'DELETE'; token?: string | null; json?: unknown } = {}) => {
    const headers: Record<string, string> = {};
    const token = init.token === undefined ? t.token : init.token;
    if (token !== null) headers.authorization = `Bearer ${token}`;
    if (init.json !== undefined) headers['content-type'] = 'application/json';
    const res = await request(t.url + path, { method: init.method ?? 'GET', headers, body: init.json === undefined ? undefined : JSON.stringify(init.json), dispatcher: agent });
    const text = await res.body.text();
    return { status: res.statusCode, headers: res.headers, body: text ? (JSON.parse(text) as { error?: { code: string; message: string } }) : {} };
  };
}

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const badToken = (n: number) => `ferry_${n.toString(16).padStart(16, '0')}_${'A'.repeat(43)}`;

describe('rate limits', () => {
  let t: TestServer;
  let clock = Date.now();
  beforeAll(async () => {
    t = await startTestServer({ now: () => clock, rateLimit: { windowMs: 60_000, perIp: 8, perToken: 4, authPerIp: 2 } });
    await addUser(t, 'rita', { password: 'rita-password-1' });
  });
  afterAll(async () => t?.close());

  it('per token: the fifth request in a window gets 429 with Retry-After; another token is unaffected', async () => {
    const a = client(t, '127.0.0.10');
    const tok1 = await tokenFor(t, 'rita');
    const tok2 = await tokenFor(t, 'rita');
    const statuses = [];
    for (let i = 0; i < 5; i++) statuses.push((await a('/api/v1/me', { token: tok1.token })).status);
    expect(statuses).toEqual([200, 200, 200, 200, 429]);
    const limited = await a('/api/v1/me', { token: tok1.token });
    expect(limited.body.error?.code).toBe('FERRY_ERR_RATE_LIMITED');
    const retryAfter = Number(limited.headers['retry-after']);
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect((await client(t, '127.0.0.2')('/api/v1/me', { token: tok2.token })).status).toBe(200);
    // A new window: allowed again.
    clock += 60_000;
    expect((await a('/api/v1/me', { token: tok1.token })).status).toBe(200);
  });

  it('per address: a ninth request from one address is limited, another address goes on', async () => {
    const b = client(t, '127.0.0.3');
    const statuses = [];
    for (let i = 0; i < 9; i++) statuses.push((await b('/api/v1/capabilities', { token: null })).status);
    expect(statuses.slice(0, 8).every((s) => s === 200)).toBe(true);
    expect(statuses[8]).toBe(429);
    expect((await client(t, '127.0.0.4')('/api/v1/capabilities', { token: null })).status).toBe(200);
  });

  it('per address: /healthz and /readyz are not counted, and answer from an address over the limit', async () => {
    const m = client(t, '127.0.0.6');
    // A monitor and a load balancer probing more often than the limit allows: every probe
    // answered, and the address's real requests (the capabilities) still have all of theirs.
    for (let i = 0; i < 20; i++) expect((await m('/healthz', { token: null })).status).toBe(200);
    for (let i = 0; i < 20; i++) expect((await m('/readyz', { token: null })).status).toBe(200);
    const statuses = [];
    for (let i = 0; i < 9; i++) statuses.push((await m('/api/v1/capabilities', { token: null })).status);
    expect(statuses).toEqual([200, 200, 200, 200, 200, 200, 200, 200, 429]);
    // Over the limit now, and the server is still reported alive.
    const health = await m('/healthz', { token: null });
    expect(health.status).toBe(200);
    expect(health.body).toEqual({ status: 'ok' });
  });

  it('/readyz: a flood probes the database and the chunk stores once per second of the server clock', async () => {
    const chunks = t.server.ctx.chunks;
    const meta = t.server.ctx.meta;
    const probe = chunks.probe.bind(chunks);
    const read = meta.getSetting.bind(meta);
    let probes = 0;
    let reads = 0;
    chunks.probe = (signal) => (probes++, probe(signal));
    meta.getSetting = (key) => (key === 'ready-probe' && reads++, read(key));
    try {
      const m = client(t, '127.0.0.7');
      clock += 60_000; // past any answer an earlier test left standing
      const flood = await Promise.all(Array.from({ length: 30 }, () => m('/readyz', { token: null })));
      expect(flood.map((r) => r.status)).toEqual(Array(30).fill(200));
      expect([probes, reads]).toEqual([1, 1]);
      clock += 999;
      expect((await m('/readyz', { token: null })).status).toBe(200);
      expect([probes, reads]).toEqual([1, 1]);
      clock += 1;
      for (let i = 0; i < 10; i++) expect((await m('/readyz', { token: null })).body).toEqual({ status: 'ready' });
      expect([probes, reads]).toEqual([2, 2]);
      // A failed probe stands for its second too, and the next second probes again.
      chunks.probe = async () => {
        probes++;
        throw new Error('store gone');
      };
      clock += 1000;
      for (let i = 0; i < 5; i++) expect((await m('/readyz', { token: null })).status).toBe(503);
      expect(probes).toBe(3);
      chunks.probe = (signal) => (probes++, probe(signal));
      clock += 1000;
      expect((await m('/readyz', { token: null })).status).toBe(200);
      expect(probes).toBe(4);
      // Draining is said at once, whatever answer stands.
      t.server.ctx.draining = true;
      expect((await m('/readyz', { token: null })).status).toBe(503);
      t.server.ctx.draining = false;
      expect((await m('/readyz', { token: null })).status).toBe(200);
      expect(probes).toBe(4);
    } finally {
      chunks.probe = probe;
      meta.getSetting = read;
    }
  });

  it('password attempts: two per window per address', async () => {
    const c = client(t, '127.0.0.5');
    const tries = [];
    for (let i = 0; i < 3; i++) tries.push((await c('/api/v1/auth/login', { token: null, method: 'POST', json: { user: 'rita', password: 'guess-' + i + '-xxxx' } })).status);
    expect(tries).toEqual([401, 401, 429]);
  });

  it('a refresh with a good token is no password attempt; a failed one is', async () => {
    const c = client(t, '127.0.0.6');
    const first = await c('/api/v1/auth/session', { token: null, method: 'POST', json: { user: 'rita', password: 'rita-password-1' } });
    expect(first.status).toBe(201);
    let refreshToken = (first.body as { refreshToken: string }).refreshToken;
    // Five page loads in the window, with a budget of two attempts: each refresh goes through.
    for (let i = 0; i < 5; i++) {
      const r = await c('/api/v1/auth/refresh', { token: null, method: 'POST', json: { refreshToken } });
      expect(r.status, `refresh ${i + 1}`).toBe(200);
      refreshToken = (r.body as { refreshToken: string }).refreshToken;
    }
    // Made-up tokens count: the sign-in took one attempt of two, the first failure the other.
    const tries = [];
    for (let i = 0; i < 2; i++) tries.push((await c('/api/v1/auth/refresh', { token: null, method: 'POST', json: { refreshToken: `made-up-${i}` } })).status);
    expect(tries).toEqual([401, 429]);
  });
});

describe('defender', () => {
  let t: TestServer;
  let clock = Date.now();
  beforeAll(async () => {
    t = await startTestServer({
      now: () => clock,
      // Scores: unknown token id 2, real id + wrong secret 1, any failed password 2; ban at 6, for 10 minutes, +50% per request while banned.
      defender: { ...DEFAULT_DEFENDER, threshold: 6, banMs: 600_000, banIncrementPercent: 50, observationMs: 300_000, safeList: [] },
    });
    await addUser(t, 'bea', { password: 'bea-password-1' });
  });
  afterAll(async () => t?.close());

  it('bans an address after repeated failures, extends the ban while it keeps trying, and lifts it after the time', async () => {
    const attacker = client(t, '127.0.0.2');
    const admin = client(t, '127.0.0.1');
    const good = await tokenFor(t, 'bea');
    // An unknown token id (2), a real token id with a wrong secret (1) and one wrong
    // password for a real user (2): not yet.
    expect((await attacker('/api/v1/me', { token: badToken(1) })).status).toBe(401);
    expect((await attacker('/api/v1/me', { token: good.token.slice(0, -4) + 'AAAA' })).status).toBe(401);
    expect((await attacker('/api/v1/auth/login', { token: null, method: 'POST', json: { user: 'bea', password: 'wrong-password' } })).status).toBe(401);
    expect((await attacker('/api/v1/me', { token: good.token })).status).toBe(200);
    // An unknown user name scores like a wrong password (2): 7 >= 6, banned.
    expect((await attacker('/api/v1/auth/login', { token: null, method: 'POST', json: { user: 'nobody', password: 'whatever-1' } })).status).toBe(401);
    const banned = await attacker('/api/v1/me', { token: good.token });
    expect(banned.status).toBe(403);
    expect(banned.body.error?.code).toBe('FERRY_ERR_BANNED');
    // That request extended the ban by 5 minutes: 15 in all.
    expect(Number(banned.headers['retry-after'])).toBe(900);
    // Even the right password and public routes are refused; another address is not affected.
    expect((await attacker('/healthz', { token: null })).status).toBe(403);
    expect((await admin('/api/v1/me')).status).toBe(200);
    const bans = (await admin('/api/v1/admin/bans')).body as unknown as { ip: string; until: number }[];
    expect(bans.map((b) => b.ip)).toEqual(['127.0.0.2']);
    // 10 + 5 + 5 minutes (two requests while banned) = 20; after 19 still banned, after 21 free.
    clock += 19 * 60_000;
    expect(bans[0].until - clock).toBe(60_000);
    clock += 2 * 60_000;
    expect((await attacker('/api/v1/me', { token: good.token })).status).toBe(200);
    const events = await auditEvents(t, 'event=defender.ban');
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ target: '127.0.0.2', ok: true });
  });

  it('password failures ban after as many attempts whether the user exists or not, with the same answers', async () => {
    const ana = client(t, '127.0.0.6');
    const eve = client(t, '127.0.0.7');
    const attempts = async (c: ReturnType<typeof client>, user: string) => {
      const answers: string[] = [];
      for (let i = 0; i < 20; i++) {
        const r = await c('/api/v1/auth/login', { token: null, method: 'POST', json: { user, password: `guess-${i}-xxxxxxxx` } });
        if (r.status === 403) return { before: i, answers };
        answers.push(`${r.status} ${JSON.stringify(r.body)}`);
      }
      return { before: 20, answers };
    };
    const real = await attempts(ana, 'bea');
    const unknown = await attempts(eve, 'no-such-user');
    expect(real.before).toBe(3); // 3 × 2 = 6: the third attempt bans, the fourth is refused
    expect(unknown.before).toBe(real.before);
    expect(new Set([...real.answers, ...unknown.answers])).toEqual(new Set(['401 {"error":{"code":"FERRY_ERR_AUTH_INVALID","message":"wrong user name or password"}}']));
    for (const ip of ['127.0.0.6', '127.0.0.7']) expect((await client(t, '127.0.0.1')(`/api/v1/admin/bans/${ip}`, { method: 'DELETE' })).status).toBe(204);
  });

  it('failures older than the observation window no longer count', async () => {
    const c = client(t, '127.0.0.3');
    for (let i = 0; i < 2; i++) expect((await c('/api/v1/me', { token: badToken(10 + i) })).status).toBe(401); // 4
    clock += 301_000;
    for (let i = 0; i < 2; i++) expect((await c('/api/v1/me', { token: badToken(20 + i) })).status).toBe(401); // 4 again, not 8
    expect((await c('/healthz', { token: null })).status).toBe(200);
  });

  it('an admin can lift a ban at once', async () => {
    const c = client(t, '127.0.0.4');
    for (let i = 0; i < 3; i++) await c('/api/v1/me', { token: badToken(30 + i) });
    expect((await c('/healthz', { token: null })).status).toBe(403);
    expect((await client(t, '127.0.0.1')('/api/v1/admin/bans/127.0.0.4', { method: 'DELETE' })).status).toBe(204);
    expect((await c('/healthz', { token: null })).status).toBe(200);
    expect((await auditEvents(t, 'event=defender.unban'))[0]).toMatchObject({ target: '127.0.0.4' });
  });
});

describe('IP allow and deny lists', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer({ ipDeny: ['127.0.0.9/32'] });
    await addUser(t, 'ada', { ipAllow: ['127.0.0.2/32'] });
    await addUser(t, 'ben', { ipDeny: ['127.0.0.0/30'] });
  });
  afterAll(async () => t?.close());

  it('the global deny list refuses an address before anything else', async () => {
    const denied = await client(t, '127.0.0.9')('/healthz', { token: null });
    expect(denied.status).toBe(403);
    expect(denied.body.error?.code).toBe('FERRY_ERR_FORBIDDEN');
    expect((await client(t, '127.0.0.8')('/healthz', { token: null })).status).toBe(200);
  });

  it("a user's own lists apply to their tokens and their logins", async () => {
    const ada = await tokenFor(t, 'ada');
    expect((await client(t, '127.0.0.1')('/api/v1/me', { token: ada.token })).status).toBe(403);
    expect((await client(t, '127.0.0.2')('/api/v1/me', { token: ada.token })).status).toBe(200);
    const ben = await tokenFor(t, 'ben');
    expect((await client(t, '127.0.0.3')('/api/v1/me', { token: ben.token })).status).toBe(403);
    expect((await client(t, '127.0.0.4')('/api/v1/me', { token: ben.token })).status).toBe(200);
    const denials = await auditEvents(t, 'event=auth.failure');
    expect(denials.some((e) => e.ip === '127.0.0.3' && /may not be used from/.test(String(e.details?.reason)))).toBe(true);
  });
});

/** A raw TCP connection from `localAddress`: what was received, and a promise of its close. */
function rawConnection(t: TestServer, localAddress: string): { socket: Socket; received: () => string; closed: Promise<void>; connected: Promise<void> } {
  const { hostname, port } = new URL(t.url);
  const socket = connect({ host: hostname, port: Number(port), localAddress });
  let got = '';
  socket.setEncoding('latin1');
  socket.on('data', (d: string) => (got += d));
  socket.on('error', () => undefined); // a reset is one way of being cut
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  const connected = new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  return { socket, received: () => got, closed, connected };
}

/** Writes one byte of `text` every `everyMs` until the socket closes or the text is sent. */
function trickle(socket: Socket, text: string, everyMs: number): void {
  let i = 0;
  const timer = setInterval(() => {
    if (socket.destroyed || i >= text.length) return clearInterval(timer);
    socket.write(text[i++]);
  }, everyMs);
  socket.once('close', () => clearInterval(timer));
}

describe('slow clients and connections per address (issue 10, item 4)', () => {
  let t: TestServer;
  beforeAll(async () => {
    // Short windows so the test does not wait long: a head within 600 ms, bodies at 2 KB/s over 600 ms.
    t = await startTestServer({ connections: { maxPerAddress: 8, headersTimeoutMs: 600, bodyTimeoutMs: 600, bodyMinRate: 2000 } });
  });
  afterAll(async () => t?.close());

  it('slow-loris bodies and heads are cut, while /healthz keeps answering', async () => {
    const host = new URL(t.url).host;
    const loris = Array.from({ length: 6 }, () => rawConnection(t, '127.0.0.20'));
    await Promise.all(loris.map((c) => c.connected));
    // Four bodies that trickle a byte every 100 ms (10 B/s), two heads that never finish.
    loris.slice(0, 4).forEach((c) => {
      c.socket.write(`POST /api/v1/auth/login HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\nContent-Length: 60000\r\n\r\n{`);
      trickle(c.socket, '"user":"x"'.repeat(10_000), 100);
    });
    loris.slice(4).forEach((c) => trickle(c.socket, `GET /healthz HTTP/1.1\r\nHost: ${host}\r\nX-Padding: ${'a'.repeat(10_000)}`, 100));
    // Meanwhile everyone else is served.
    const other = client(t, '127.0.0.21');
    for (let i = 0; i < 3; i++) expect((await other('/healthz', { token: null })).status).toBe(200);
    await Promise.all(loris.map((c) => c.closed));
    // The bodies were told why (408 with the stable code); the heads were just closed.
    for (const c of loris.slice(0, 4)) {
      expect(c.received()).toMatch(/^HTTP\/1\.1 408 /);
      expect(c.received()).toContain('FERRY_ERR_TIMEOUT');
    }
    for (const c of loris.slice(4)) expect(c.received()).toBe('');
    expect((await other('/healthz', { token: null })).status).toBe(200);
  });

  it('a streamed upload cut for its slow body leaves nothing: no file, no open session, no memory held', async () => {
    await addUser(t, 'trickler');
    const tok = await tokenFor(t, 'trickler');
    const streamMemory = async () => (await readMetricSeries({ url: t.url, adminToken: t.token }, 'ferry_body_memory_bytes')).find((s) => s.labels.direction === 'stream')?.value;
    const sessions = async () => ((await (await fetch(`${t.url}/api/v1/me`, { headers: { authorization: `Bearer ${tok.token}` } })).json()) as { uploadSessions: number }).uploadSessions;
    expect(await streamMemory()).toBe(0);
    const host = new URL(t.url).host;
    // The one-request upload (curl -T) and a drop box's would take the same path: a PUT the server cuts into chunks.
    const c = rawConnection(t, '127.0.0.22');
    await c.connected;
    c.socket.write(`PUT /api/v1/files/slow.bin HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer ${tok.token}\r\nContent-Length: 100000\r\n\r\n`);
    trickle(c.socket, 'x'.repeat(100_000), 100);
    await c.closed;
    expect(c.received()).toMatch(/^HTTP\/1\.1 408 /);
    // Before, the ingest waited for the rest of a body that would never come: its session
    // stayed open (one of the user's maxUploadSessions, for --upload-ttl) and its admission
    // to the stream budget stayed taken, for good.
    await expect.poll(sessions, { timeout: 10_000 }).toBe(0);
    await expect.poll(streamMemory, { timeout: 10_000 }).toBe(0);
    expect((await fetch(`${t.url}/api/v1/stat/slow.bin`, { headers: { authorization: `Bearer ${tok.token}` } })).status).toBe(404);

    // A chunk PUT of a native upload session cut the same way gives its room back too.
    const inMemory = async () => (await readMetricSeries({ url: t.url, adminToken: t.token }, 'ferry_body_memory_bytes')).find((s) => s.labels.direction === 'in')?.value;
    const data = Buffer.alloc(60_000, 9);
    const refs = [{ hash: sha256(data), size: data.length }];
    const created = await fetch(`${t.url}/api/v1/uploads`, { method: 'POST', headers: { authorization: `Bearer ${tok.token}`, 'content-type': 'application/json' }, body: JSON.stringify({ path: '/slow-chunk.bin', size: data.length, hash: fileHashOf(refs), chunks: refs }) });
    const { id } = (await created.json()) as { id: string };
    const chunk = rawConnection(t, '127.0.0.22');
    await chunk.connected;
    chunk.socket.write(`PUT /api/v1/uploads/${id}/chunks/${refs[0].hash} HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer ${tok.token}\r\nContent-Type: application/octet-stream\r\nContent-Length: ${data.length}\r\n\r\n`);
    trickle(chunk.socket, 'x'.repeat(data.length), 100);
    await chunk.closed;
    expect(chunk.received()).toMatch(/^HTTP\/1\.1 408 /);
    // Its buffer is kept for reuse (counted in the gauge), and the next chunk body of that size
    // gets that one: the gauge does not grow, as it would if the cut one still held it.
    const kept = await inMemory();
    expect(kept).toBeGreaterThanOrEqual(data.length);
    const put = await fetch(`${t.url}/api/v1/uploads/${id}/chunks/${refs[0].hash}`, { method: 'PUT', headers: { authorization: `Bearer ${tok.token}`, 'content-type': 'application/octet-stream' }, body: data });
    expect(put.status).toBe(200);
    expect(await inMemory()).toBe(kept);
  });

  it('a body slower than the window but above the minimum rate is not cut', async () => {
    await addUser(t, 'steady');
    const tok = await tokenFor(t, 'steady');
    // 60 KB sent 2 KB every 50 ms (about 40 KB/s, twenty times the minimum): 1.5 s, past two windows.
    const data = Buffer.alloc(60_000, 7);
    const refs = [{ hash: sha256(data), size: data.length }];
    const created = await fetch(`${t.url}/api/v1/uploads`, { method: 'POST', headers: { authorization: `Bearer ${tok.token}`, 'content-type': 'application/json' }, body: JSON.stringify({ path: '/steady.bin', size: data.length, hash: fileHashOf(refs), chunks: refs }) });
    const { id } = (await created.json()) as { id: string };
    const { hostname, port } = new URL(t.url);
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest({ host: hostname, port, method: 'PUT', path: `/api/v1/uploads/${id}/chunks/${refs[0].hash}`, headers: { authorization: `Bearer ${tok.token}`, 'content-type': 'application/octet-stream', 'content-length': data.length } });
      req.on('response', (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      let at = 0;
      const timer = setInterval(() => {
        req.write(data.subarray(at, at + 2000));
        at += 2000;
        if (at >= data.length) {
          clearInterval(timer);
          req.end();
        }
      }, 50);
    });
    expect(status).toBe(200);
  });

  it('refuses connections past the cap from one address, serves another address, and frees the slot when one closes', async () => {
    const u = await startTestServer({ connections: { maxPerAddress: 3, headersTimeoutMs: 60_000, bodyTimeoutMs: 60_000, bodyMinRate: 1 } });
    try {
      const host = new URL(u.url).host;
      const held = Array.from({ length: 3 }, () => rawConnection(u, '127.0.0.30'));
      await Promise.all(held.map((c) => c.connected));
      // Wait until the server has accepted all three (it counts them as they arrive).
      const guarded = async (): Promise<void> => {
        const probe = await request(`${u.url}/healthz`, { dispatcher: new Agent({ localAddress: '127.0.0.31' }) });
        await probe.body.text();
      };
      await guarded();
      const extra = rawConnection(u, '127.0.0.30');
      extra.socket.write(`GET /healthz HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
      await extra.closed;
      expect(extra.received()).toBe(''); // closed without an answer
      // Another address is served.
      expect((await client(u, '127.0.0.31')('/healthz', { token: null })).status).toBe(200);
      // One of the three leaves: the next connection from that address is served.
      held[0].socket.destroy();
      await held[0].closed;
      let served = '';
      while (!served.startsWith('HTTP/1.1 200')) {
        const next = rawConnection(u, '127.0.0.30');
        next.socket.write(`GET /healthz HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
        await next.closed;
        served = next.received();
      }
      expect(served).toContain('"status":"ok"');
      for (const c of held) c.socket.destroy();
    } finally {
      await u.close();
    }
  });
});

describe('bodies of the routes anyone may call before signing in (eighteenth round)', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer();
    await addUser(t, 'pat', { password: 'pat-password-1' });
  });
  afterAll(async () => t?.close());

  it('login, session and refresh take at most 64 KiB (was 8 MiB: 0.67 s of parsing per 6 MB of keys); other routes keep theirs', async () => {
    // 700,000 keys, about 6 MB: parsed whole before, then refused for lacking `user`.
    const keys = '{' + Array.from({ length: 700_000 }, (_, i) => `"${i.toString(36)}":0`).join(',') + '}';
    for (const route of ['login', 'session', 'refresh']) {
      const res = await t.api(`/api/v1/auth/${route}`, { token: null, method: 'POST', headers: { 'content-type': 'application/json' }, body: keys });
      expect(res.status, route).toBe(413);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('FERRY_ERR_PAYLOAD_TOO_LARGE');
    }
    // What a sign-in needs fits: the longest password (1,024 characters) with a token name.
    const login = await t.api('/api/v1/auth/login', { token: null, method: 'POST', json: { user: 'pat', password: 'x'.repeat(1024), tokenName: 'n'.repeat(200) } });
    expect(login.status).toBe(401);
    expect((await t.api('/api/v1/auth/login', { token: null, method: 'POST', json: { user: 'pat', password: 'pat-password-1' } })).status).toBe(201);
    // A signed-in route still takes a body of 100 KB (here refused for what it says, not its size).
    const big = await t.api('/api/v1/shares', { method: 'POST', json: { path: '/nope', label: 'l'.repeat(100_000) } });
    expect(big.status).not.toBe(413);
  });
});
