/**
 * `GET /api/v1/tokens` with a token limited to a path prefix lists only the tokens inside
 * that prefix, as `GET /api/v1/shares` lists only the links inside it: the names and
 * prefixes of the user's other tokens name folders the token may not even list.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TokenInfo } from '../../src/core/protocol.js';
import { startTestServer, type TestServer } from '../helpers/in-process-server.js';
import { addUser, tokenFor } from '../helpers/users.js';

let t: TestServer;

async function listed(token: string): Promise<string[]> {
  const res = await t.api('/api/v1/tokens', { token });
  expect(res.status).toBe(200);
  return ((await res.json()) as TokenInfo[]).map((x) => x.name).sort();
}

beforeAll(async () => {
  t = await startTestServer();
  await addUser(t, 'olga');
});
afterAll(async () => {
  await t?.close();
});

describe('the token listing of a path-limited token', () => {
  it('holds only the tokens inside its prefix; a token without one, and the admin, see them all', async () => {
    const full = await tokenFor(t, 'olga', { name: 'laptop' });
    const inbox = await tokenFor(t, 'olga', { name: 'inbox', pathPrefix: '/inbox' });
    await tokenFor(t, 'olga', { name: 'inbox scanner', pathPrefix: '/inbox/scans', scopes: ['write'] });
    await tokenFor(t, 'olga', { name: 'tax 2026 accountant', pathPrefix: '/private/tax-2026' });
    const readOnly = await tokenFor(t, 'olga', { name: 'backup reader', scopes: ['list', 'read'] });

    expect(await listed(inbox.token)).toEqual(['inbox', 'inbox scanner']);
    const everything = ['backup reader', 'inbox', 'inbox scanner', 'laptop', 'tax 2026 accountant'];
    expect(await listed(full.token)).toEqual(everything);
    expect(await listed(readOnly.token)).toEqual(everything);
    const admin = await t.api('/api/v1/tokens?user=olga');
    expect(((await admin.json()) as TokenInfo[]).map((x) => x.name).sort()).toEqual(everything);
  });
});
