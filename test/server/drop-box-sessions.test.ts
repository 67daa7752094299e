/**
 * A drop box's visitors and its owner's upload sessions. Before the fix, a visitor's sessions
 * counted against the owner's own limit of live sessions (`maxUploadSessions`): anyone
 * holding an upload link opened that many sessions (one small request each, no byte sent)
 * and the owner could upload nothing (`curl -T`, the CLI, the web app: 413 "at most N
 * upload sessions at once") until they expired, a day later; revoking the link did not end
 * them. Now visitors count in a budget of their own, and a revoked link's sessions go with it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/in-process-server.js';
import { addUser, share, tokenFor } from '../helpers/users.js';

const MAX = 3;
let t: TestServer;
let owner: string;

beforeAll(async () => {
  t = await startTestServer({ maxUploadSessions: MAX });
  await addUser(t, 'dana');
  owner = (await tokenFor(t, 'dana')).token;
  expect((await t.api('/api/v1/mkdir/inbox', { method: 'POST', token: owner })).status).toBe(201);
});
afterAll(async () => t?.close());

/** A drop box on /inbox and the upload token its page would use. */
async function dropBox(): Promise<{ id: string; url: string; token: string }> {
  const link = await share(t, owner, { path: '/inbox', kind: 'upload' });
  const res = await fetch(`${link.url}/unlock`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  expect(res.status).toBe(200);
  return { id: link.id, url: link.url, token: ((await res.json()) as { token: string }).token };
}

function openSession(token: string, path: string): Promise<Response> {
  return t.api('/api/v1/uploads', { method: 'POST', json: { path, size: 10 }, token });
}

async function liveSessions(): Promise<{ id: string; path: string | null }[]> {
  const res = await t.api('/api/v1/admin/uploads?user=dana');
  expect(res.status).toBe(200);
  return (await res.json()) as { id: string; path: string | null }[];
}

describe("a drop box's visitors and its owner's upload sessions", () => {
  it("visitors who open as many sessions as they may leave the owner's uploads working", async () => {
    const box = await dropBox();
    for (let i = 0; i < MAX; i++) expect((await openSession(box.token, `/f${i}.bin`)).status).toBe(201);
    // The visitors' budget is used up: for visitors, through the page's sessions and curl -T alike.
    const more = await openSession(box.token, '/more.bin');
    expect(more.status).toBe(413);
    const body = (await more.json()) as { error: { code: string; message: string; details?: Record<string, unknown> } };
    expect(body.error.code).toBe('FERRY_ERR_QUOTA_EXCEEDED');
    expect(body.error.message).toMatch(/too many uploads through this link/);
    expect(body.error.details).toEqual({ limit: 'sessions' });
    expect((await fetch(`${box.url}/curl.txt`, { method: 'PUT', body: 'x' })).status).toBe(413);
    // The owner still uploads, one request or a session of the chunk protocol.
    const put = await t.api('/api/v1/files/mine.txt', { method: 'PUT', body: 'mine', token: owner });
    expect(put.status, await put.clone().text()).toBe(201);
    const own = await openSession(owner, '/own.bin');
    expect(own.status, await own.clone().text()).toBe(201);
    const ownId = ((await own.json()) as { id: string }).id;
    expect((await t.api(`/api/v1/uploads/${ownId}`, { method: 'DELETE', token: owner })).status).toBe(204);
    expect((await t.api('/api/v1/me', { token: owner }).then((r) => r.json())) as { uploadSessions: number }).toMatchObject({ uploadSessions: 0 });

    // Revoking the link ends what its visitors left open, and a new link takes visitors again.
    expect((await liveSessions()).filter((s) => s.path?.startsWith('/users/dana/inbox/f'))).toHaveLength(MAX);
    expect((await t.api(`/api/v1/shares/${box.id}`, { method: 'DELETE', token: owner })).status).toBe(204);
    expect(await liveSessions()).toEqual([]);
    const next = await dropBox();
    expect((await openSession(next.token, '/g.bin')).status).toBe(201);
  });

  it("the owner's own sessions, all used, do not shut the drop box", async () => {
    const box = await dropBox();
    const mine: string[] = [];
    for (let i = 0; i < MAX; i++) {
      const r = await openSession(owner, `/busy${i}.bin`);
      expect(r.status).toBe(201);
      mine.push(((await r.json()) as { id: string }).id);
    }
    expect((await openSession(owner, '/one-more.bin')).status).toBe(413);
    expect((await fetch(`${box.url}/from-visitor.txt`, { method: 'PUT', body: 'hello' })).status).toBe(201);
    expect(await (await t.api('/api/v1/files/inbox/from-visitor.txt', { token: owner })).text()).toBe('hello');
    // Revoking a link leaves the owner's own sessions alone.
    expect((await t.api(`/api/v1/shares/${box.id}`, { method: 'DELETE', token: owner })).status).toBe(204);
    expect((await liveSessions()).map((s) => s.id).sort()).toEqual(expect.arrayContaining(mine));
  });
});
