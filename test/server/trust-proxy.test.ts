/**
 * `--trust-proxy`: X-Forwarded-For names the client only when the request comes from a
 * trusted proxy, and then that address is the one the IP lists, rate limits, the defender,
 * audit and the access log use. Clients connect from distinct loopback addresses
 * (127.0.0.1 plays the proxy, 127.0.0.2 a client that tries to lie). A real Caddy in front
 * is test/fronts/caddy.test.ts.
 */
import { Writable } from 'node:stream';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_DEFENDER } from '../../src/server/defender.js';
import { startTestServer, type TestServer } from '../helpers/in-process-server.js';
import { auditEvents } from '../helpers/users.js';

const agents: Agent[] = [];
afterAll(async () => {
  await Promise.all(agents.map((a) => a.close()));
});

function from(t: TestServer, localAddress: string) {
  const agent = new Agent({ localAddress });
  agents.push(agent);
  return async (path: string, headers: Record<string, string> = {}) => {
    const res = await request(t.url + path, { headers, dispatcher: agent });
    await res.body.text();
    return res.statusCode;
  };
}

const BAD = { authorization: `Bearer ferry_${'0'.repeat(16)}_${'A'.repeat(43)}` };
const lastFailureIp = async (t: TestServer) => (await auditEvents(t, 'event=auth.failure'))[0]?.ip;

describe('--trust-proxy', () => {
  let t: TestServer;
  const log: string[] = [];
  beforeAll(async () => {
    t = await startTestServer({
      trustProxy: ['127.0.0.1/32'],
      ipDeny: ['203.0.113.66'],
      defender: { ...DEFAULT_DEFENDER, threshold: 4, safeList: [] },
      rateLimit: { windowMs: 60_000, perIp: 0, perToken: 0, authPerIp: 0 },
      logLevel: 'info',
      logDestination: new Writable({
        write(chunk: Buffer, _e, cb) {
          log.push(chunk.toString());
          cb();
        },
      }),
    });
  });
  afterAll(async () => t?.close());

  it('a request from the trusted proxy is the forwarded client’s, in audit and access log alike', async () => {
    expect(await from(t, '127.0.0.1')('/api/v1/me', { ...BAD, 'x-forwarded-for': '203.0.113.5' })).toBe(401);
    expect(await lastFailureIp(t)).toBe('203.0.113.5');
    const line = log.map((l) => JSON.parse(l) as { msg?: string; ip?: string; route?: string }).reverse().find((l) => l.msg === 'request' && l.route === '/api/v1/me');
    expect(line?.ip).toBe('203.0.113.5');
    // A chain: only the hop the trusted proxy saw counts, not what the client wrote before it.
    expect(await from(t, '127.0.0.1')('/api/v1/me', { ...BAD, 'x-forwarded-for': '198.51.100.1, 203.0.113.7' })).toBe(401);
    expect(await lastFailureIp(t)).toBe('203.0.113.7');
  });

  it('from anywhere else X-Forwarded-For is ignored', async () => {
    expect(await from(t, '127.0.0.2')('/api/v1/me', { ...BAD, 'x-forwarded-for': '203.0.113.6' })).toBe(401);
    expect(await lastFailureIp(t)).toBe('127.0.0.2');
  });

  it('IP lists and the defender act on the forwarded client, not on the proxy', async () => {
    const proxy = from(t, '127.0.0.1');
    expect(await proxy('/healthz', { 'x-forwarded-for': '203.0.113.66' })).toBe(403);
    expect(await proxy('/healthz', { 'x-forwarded-for': '203.0.113.67' })).toBe(200);
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) statuses.push(await proxy('/api/v1/me', { ...BAD, 'x-forwarded-for': '203.0.113.9' }));
    expect(statuses).toEqual([401, 401, 403]);
    expect(await proxy('/healthz', { 'x-forwarded-for': '203.0.113.9' })).toBe(403);
    // The proxy itself and its other clients are not banned.
    expect(await proxy('/healthz', { 'x-forwarded-for': '203.0.113.10' })).toBe(200);
    expect(await proxy('/healthz')).toBe(200);
    expect(t.server.ctx.defender.bans().map((b) => b.ip)).toEqual(['203.0.113.9']);
  });

  it('a forwarded address with a port (Azure Application Gateway) is that address: listed, limited and banned as one', async () => {
    const proxy = from(t, '127.0.0.1');
    expect(await proxy('/healthz', { 'x-forwarded-for': '203.0.113.66:51234' })).toBe(403);
    expect(await proxy('/api/v1/me', { ...BAD, 'x-forwarded-for': '[2001:db8::5]:443' })).toBe(401);
    expect(await lastFailureIp(t)).toBe('2001:db8::5');
    // A new source port per connection was a new client before: never banned.
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) statuses.push(await proxy('/api/v1/me', { ...BAD, 'x-forwarded-for': `203.0.113.20:${40001 + i}` }));
    expect(statuses).toEqual([401, 401, 403]);
    expect(await proxy('/healthz', { 'x-forwarded-for': '203.0.113.20:40999' })).toBe(403);
    expect(t.server.ctx.defender.bans().map((b) => b.ip)).toContain('203.0.113.20');
  });

  it('an entry that is not an address ends the walk: the client is the hop that forwarded it', async () => {
    const proxy = from(t, '127.0.0.1');
    const lastAccessIp = () => log.map((l) => JSON.parse(l) as { msg?: string; ip?: string; route?: string }).reverse().find((l) => l.msg === 'request' && l.route === '/healthz')?.ip;
    for (const forwarded of ['unknown', '203.0.113.40, not-an-address', 'a'.repeat(300)]) {
      expect(await proxy('/healthz', { 'x-forwarded-for': forwarded })).toBe(200);
      expect(lastAccessIp()).toBe('127.0.0.1');
    }
    expect(await proxy('/healthz', { 'x-forwarded-for': 'unknown, 203.0.113.41' })).toBe(200);
    expect(lastAccessIp()).toBe('203.0.113.41');
  });
});

describe('without --trust-proxy', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer({ defender: { ...DEFAULT_DEFENDER, safeList: [] } });
  });
  afterAll(async () => t?.close());

  it('X-Forwarded-For is never believed', async () => {
    expect(await from(t, '127.0.0.1')('/api/v1/me', { ...BAD, 'x-forwarded-for': '203.0.113.5' })).toBe(401);
    expect(await lastFailureIp(t)).toBe('127.0.0.1');
  });
});
