/**
 * `GET /api/v1/tokens` with a token limited to a path prefix lists only the tokens inside
 * that prefix, as `GET /api/v1/shares` lists only the links inside it: the names and
 * prefixes of the user's other tokens name folders the token may not even list. So does
 * `GET /api/v1/me` with the user's grants.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MeResponse, TokenInfo } from '../../src/core/protocol.js';
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

describe('the grants /me shows a path-limited token', () => {
  it('are those inside its prefix and what it holds at the prefix, never a path outside it', async () => {
    await addUser(t, 'pia', {
      grants: [
        { path: '/', permissions: ['list', 'read'] },
        { path: '/inbox', permissions: ['list', 'read', 'write', 'mkdir'] },
        { path: '/inbox/sealed', permissions: ['list'] },
        { path: '/private/tax-2026', permissions: ['list', 'read', 'write', 'delete'] },
      ],
    });
    const grantsOf = async (token: string) => {
      const res = await t.api('/api/v1/me', { token });
      expect(res.status).toBe(200);
      return ((await res.json()) as MeResponse).grants.map((g) => [g.path, [...g.permissions].sort().join(',')]);
    };
    const everything = [
      ['/', 'list,read'],
      ['/inbox', 'list,mkdir,read,write'],
      ['/inbox/sealed', 'list'],
      ['/private/tax-2026', 'delete,list,read,write'],
    ];
    expect(await grantsOf((await tokenFor(t, 'pia')).token)).toEqual(everything);
    // A grant at the prefix: it and those below.
    expect(await grantsOf((await tokenFor(t, 'pia', { pathPrefix: '/inbox' })).token)).toEqual(everything.slice(1, 3));
    // No grant at the prefix: the one holding there, named as the prefix.
    expect(await grantsOf((await tokenFor(t, 'pia', { pathPrefix: '/photos/2026' })).token)).toEqual([['/photos/2026', 'list,read']]);
    expect(await grantsOf((await tokenFor(t, 'pia', { pathPrefix: '/inbox/scans' })).token)).toEqual([['/inbox/scans', 'list,mkdir,read,write']]);
    // The admin sees them all.
    const admin = (await (await t.api('/api/v1/users/pia')).json()) as { grants: Array<{ path: string }> };
    expect(admin.grants.map((g) => g.path)).toEqual(everything.map(([p]) => p));
  });
});
