/**
 * Rate limits, the defender and IP allow/deny lists. Two clients with different addresses
 * run on one machine: 127.0.0.1 and 127.0.0.2 (all of 127/8 is loopback on Linux), so one
 * can be limited or banned while the other goes on. Ban durations run on the server's
 * injectable clock: no sleeping.
 */
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_DEFENDER } from '../../src/server/defender.js';
import { startTestServer, type TestServer } from '../helpers/in-process-server.js';
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
    for (let i = 0; i < 9; i++) statuses.push((await b('/healthz', { token: null })).status);
    expect(statuses.slice(0, 8).every((s) => s === 200)).toBe(true);
    expect(statuses[8]).toBe(429);
    expect((await client(t, '127.0.0.4')('/healthz', { token: null })).status).toBe(200);
  });

  it('password attempts: two per window per address', async () => {
    const c = client(t, '127.0.0.5');
    const tries = [];
    for (let i = 0; i < 3; i++) tries.push((await c('/api/v1/auth/login', { token: null, method: 'POST', json: { user: 'rita', password: 'guess-' + i + '-xxxx' } })).status);
    expect(tries).toEqual([401, 401, 429]);
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
