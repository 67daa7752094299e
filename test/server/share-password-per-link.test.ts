/**
 * Share-link passwords guessed from many addresses at once (the twelfth security round):
 * the per-address limit let each address guess its share, so a thousand addresses guessed
 * a thousand times as fast at one link. Each link now has a budget of wrong passwords that
 * refills steadily (`rateLimitSharePassword`): guessing slows to its rate, while a recipient
 * waits seconds, is never banned for waiting, and one who unlocked the link keeps it. A
 * password remembered from a recent right try is held to the budget too: past it, it is
 * refused like a wrong one, so the answer tells no guess from another.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_DEFENDER } from '../../src/server/defender.js';
import { startTestServer, type TestServer } from '../helpers/in-process-server.js';
import { addUser, share, tokenFor } from '../helpers/users.js';

let t: TestServer;
let clock = Date.now();
let vic: string;

beforeAll(async () => {
  t = await startTestServer({
    now: () => clock,
    trustProxy: ['127.0.0.1/32'],
    defender: { ...DEFAULT_DEFENDER, safeList: [] },
    rateLimit: { windowMs: 60_000, perIp: 0, perToken: 0, authPerIp: 30, sharePasswordPerLink: 4 },
  });
  await addUser(t, 'vic');
  vic = (await tokenFor(t, 'vic')).token;
  expect((await t.api('/api/v1/files/note.txt', { method: 'PUT', body: 'hi', token: vic })).status).toBe(201);
});
afterAll(async () => t?.close());

const basic = (password: string) => `Basic ${Buffer.from(`:${password}`).toString('base64')}`;
const attempt = (url: string, from: string, password: string, headers: Record<string, string> = {}) =>
  fetch(url, { headers: { authorization: basic(password), 'x-forwarded-for': from, ...headers } });

describe('a share password guessed from many addresses', () => {
  it('slows to the link’s budget; another link and an unlocked recipient are untouched', async () => {
    const link = await share(t, vic, { path: '/note.txt', password: 'right-password-1' });
    const other = await share(t, vic, { path: '/note.txt', password: 'other-password-1' });
    // A recipient who unlocked the link before the attack.
    const unlocked = await fetch(link.url + '/unlock', { method: 'POST', headers: { 'content-type': 'application/json', 'x-forwarded-for': '198.51.100.7' }, body: JSON.stringify({ password: 'right-password-1' }) });
    expect(unlocked.status).toBe(200);
    const cookie = unlocked.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');

    // Ten addresses, one guess each: under every per-address limit.
    const statuses: number[] = [];
    for (let i = 1; i <= 10; i++) statuses.push((await attempt(link.url, `203.0.113.${i}`, `guess-${i}`)).status);
    expect(statuses).toEqual([401, 401, 401, 401, 429, 429, 429, 429, 429, 429]);
    const refused = await attempt(link.url, '203.0.113.50', 'guess-50');
    expect(refused.status).toBe(429);
    const body = (await refused.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('FERRY_ERR_RATE_LIMITED');
    expect(body.error.message).toMatch(/too many wrong passwords/);
    // One more every 15 s (4 a minute), not the whole window.
    expect(Number(refused.headers.get('retry-after'))).toBeLessThanOrEqual(15);

    // The unlock cookie is not asked for a password; the other link has a budget of its own.
    expect((await fetch(link.url, { headers: { cookie, 'x-forwarded-for': '198.51.100.7' } })).status).toBe(200);
    expect((await attempt(other.url, '203.0.113.1', 'other-password-1')).status).toBe(200);
    // The right password, remembered since the unlock above, is refused like the wrong ones while
    // the budget is spent (eighteenth round): let through, it was the one 200 among 429s, and a
    // guesser found it at hundreds of tries a second, never checked, never banned.
    const past: number[] = [];
    for (const guess of ['guess-a', 'guess-b', 'right-password-1', 'guess-c']) past.push((await attempt(link.url, '192.0.2.1', guess)).status);
    expect(past).toEqual([429, 429, 429, 429]);
    // Once the budget has one again, the remembered password passes and costs nothing.
    clock += 15_000;
    for (let i = 0; i < 3; i++) expect((await attempt(link.url, '192.0.2.1', 'right-password-1')).status).toBe(200);
  });

  it('a recipient who keeps retrying waits seconds, is not banned for it, and a right password gives its attempt back', async () => {
    const link = await share(t, vic, { path: '/note.txt', password: 'right-password-2' });
    for (let i = 1; i <= 4; i++) expect((await attempt(link.url, `203.0.113.${100 + i}`, `guess-${i}`)).status).toBe(401);
    // Eight refusals would score 24 for the defender (threshold 15) if they counted.
    for (let i = 0; i < 8; i++) expect((await attempt(link.url, '192.0.2.9', 'right-password-2')).status).toBe(429);
    clock += 15_000;
    expect((await attempt(link.url, '192.0.2.9', 'right-password-2')).status).toBe(200);
    expect((await attempt(link.url, '203.0.113.111', 'guess-11')).status).toBe(401);
    expect((await attempt(link.url, '203.0.113.112', 'guess-12')).status).toBe(429);
  });
});
