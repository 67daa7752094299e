/**
 * A share link made with an API token expires no later than that token. A link is a
 * credential (anyone holding it reads the file, or writes into the folder): a token made to
 * expire in an hour, or a leaked one, must not leave links behind that outlive it, as it may
 * not make tokens that outlive it. A link made with a token that never expires, or in a web
 * session, is as asked.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CreatedShare, CreatedToken } from '../../src/core/protocol.js';
import { startTestServer, type TestServer } from '../helpers/in-process-server.js';
import { addUser, tokenFor } from '../helpers/users.js';

let t: TestServer;
let clock = Date.now();
let lasting: CreatedToken;
let hourly: CreatedToken;

async function put(path: string, token: string, query = ''): Promise<Response> {
  return t.api(`/api/v1/files${path}${query}`, { method: 'PUT', body: Buffer.from(path), token });
}

async function makeLink(token: string, body: Record<string, unknown>): Promise<CreatedShare> {
  const res = await t.api('/api/v1/shares', { method: 'POST', json: body, token });
  expect(res.status, await res.clone().text()).toBe(201);
  return (await res.json()) as CreatedShare;
}

beforeAll(async () => {
  t = await startTestServer({ now: () => clock });
  await addUser(t, 'olga');
  lasting = await tokenFor(t, 'olga');
  hourly = await tokenFor(t, 'olga', { expiresInSeconds: 3600 });
  expect(lasting.expiresAt).toBeNull();
  expect(hourly.expiresAt).toBe(clock + 3_600_000);
  for (const p of ['/a.txt', '/b.txt']) expect((await put(p, lasting.token)).status).toBe(201);
  expect((await t.api('/api/v1/mkdir/inbox', { method: 'POST', token: lasting.token })).status).toBe(201);
});
afterAll(async () => {
  await t?.close();
});

describe('links made with an expiring token', () => {
  it('expire with the token when asked for no expiry or a later one, as asked when earlier', async () => {
    expect((await makeLink(hourly.token, { path: '/a.txt' })).expiresAt).toBe(hourly.expiresAt);
    expect((await makeLink(hourly.token, { path: '/a.txt', expiresInSeconds: 7 * 86_400 })).expiresAt).toBe(hourly.expiresAt);
    expect((await makeLink(hourly.token, { path: '/inbox', kind: 'upload' })).expiresAt).toBe(hourly.expiresAt);
    expect((await makeLink(hourly.token, { path: '/a.txt', expiresInSeconds: 60 })).expiresAt).toBe(clock + 60_000);
    // A token that never expires makes links as asked.
    expect((await makeLink(lasting.token, { path: '/a.txt' })).expiresAt).toBeNull();
    // The listing says the same as the answer.
    const listed = (await (await t.api('/api/v1/shares', { token: lasting.token })).json()) as Array<{ expiresAt: number | null }>;
    expect(listed.filter((s) => s.expiresAt === hourly.expiresAt)).toHaveLength(3);
    // Tokens it makes already expired with it (the same rule, one helper now).
    const child = await t.api('/api/v1/tokens', { method: 'POST', json: { name: 'child' }, token: hourly.token });
    expect(((await child.json()) as CreatedToken).expiresAt).toBe(hourly.expiresAt);
  });

  it('stop working once the token has expired (a link from an upload with ?share=1 too)', async () => {
    const fromApi = await makeLink(hourly.token, { path: '/b.txt' });
    const uploaded = await put('/c.txt', hourly.token, '?share=1');
    expect(uploaded.status).toBe(201);
    const fromUpload = ((await uploaded.json()) as { url: string }).url;
    const forever = await makeLink(lasting.token, { path: '/b.txt' });
    for (const url of [fromApi.url, fromUpload, forever.url]) expect((await fetch(url)).status, url).toBe(200);
    clock += 3_600_001;
    expect((await fetch(fromApi.url)).status).toBe(410);
    expect((await fetch(fromUpload)).status).toBe(410);
    expect((await fetch(forever.url)).status).toBe(200);
  });
});
