/**
 * A refusal of the admin API names the user the credential belongs to: "this needs an admin
 * account" alone left someone with several saved tokens guessing which one was sent.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/in-process-server.js';
import { addUser, tokenFor } from '../helpers/users.js';

let t: TestServer;

beforeAll(async () => {
  t = await startTestServer();
  await addUser(t, 'alice');
});
afterAll(async () => {
  await t?.close();
});

async function refusal(token: string, path = '/api/v1/admin/stats'): Promise<{ code: string; message: string }> {
  const res = await t.api(path, { token });
  const text = await res.text();
  expect(res.status, text).toBe(403);
  return (JSON.parse(text) as { error: { code: string; message: string } }).error;
}

describe('admin API refusals', () => {
  it("a non-admin's token: the message names its user", async () => {
    const { token } = await tokenFor(t, 'alice');
    for (const path of ['/api/v1/admin/stats', '/api/v1/users']) {
      expect(await refusal(token, path)).toEqual({ code: 'FERRY_ERR_FORBIDDEN', message: 'this needs an admin account: this token belongs to alice, who is not an admin' });
    }
  });

  it("an admin's token without the admin scope: the message names its user", async () => {
    const { token } = await tokenFor(t, 'admin', { name: 'read only', scopes: ['list', 'read'] });
    expect(await refusal(token)).toEqual({ code: 'FERRY_ERR_FORBIDDEN', message: "this token of admin lacks the 'admin' scope" });
  });

  it("an admin's token narrowed to a prefix: the message names its user and the prefix", async () => {
    const { token } = await tokenFor(t, 'admin', { name: 'pub', pathPrefix: '/pub', scopes: ['list', 'read', 'admin'] });
    expect((await refusal(token)).message).toBe('this needs an admin token without a path prefix (this token of admin is limited to /pub)');
  });
});
