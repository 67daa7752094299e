/**
 * Tokens and share links per user are bounded (`maxTokensPerUser`, `maxSharesPerUser`): one
 * past the limit is 413 FERRY_ERR_QUOTA_EXCEEDED (`details.limit`); revoked and expired ones
 * (and used-up links) do not count, and once a user's rows reach the limit the dead ones are
 * deleted, so the table stays bounded however many are made and revoked. A password login at
 * the limit revokes the oldest login token instead of failing. Before, 5,000 tokens made 7 MB
 * of metadata and a 2.8 MB listing. The listings page (`limit`, `cursor`, `next`), and the
 * SDK and the CLI (`ferry token ls`, `ferry share ls`) follow every page. On SQLite and
 * PostgreSQL (whose keyset and prefix conditions are plain SQL of their own).
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FerryClient } from '../../src/client/client.js';
import { listShares, listTokens, listTokensPage } from '../../src/client/account-api.js';
import type { ShareInfo, TokenInfo } from '../../src/core/protocol.js';
import { newToken } from '../../src/server/auth.js';
import { runFerry } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';
import { startPostgres, type PostgresHandle } from '../helpers/postgres.js';
import { startTestServer, type TestServer } from '../helpers/in-process-server.js';
import { addUser, share, tokenFor } from '../helpers/users.js';

const MAX_TOKENS = 6;
const MAX_SHARES = 5;

interface ErrorBody {
  error: { code: string; message: string; details?: Record<string, unknown> };
}

function suite(name: string, start: (now: () => number) => Promise<TestServer>, stop: () => Promise<void>) {
  describe(name, () => {
    let t: TestServer;
    let clock = Date.now();
    let tmp: { path: string; cleanup: () => Promise<void> };
    beforeAll(async () => {
      tmp = await tempDir('ferry-limits-');
      t = await start(() => clock);
      await addUser(t, 'tia', { password: 'a long password for tia 1' });
      const sam = await addUser(t, 'sam', { password: 'a long password for sam 1' });
      expect((await t.api(`/api/v1/mkdir${sam.home}/pub`, { method: 'POST' })).status).toBe(201);
      expect((await t.api(`/api/v1/files${sam.home}/pub/once.txt`, { method: 'PUT', body: 'once' })).status).toBe(201);
    }, 120_000);
    afterAll(async () => {
      await stop();
      await tmp?.cleanup();
    });

    const makeToken = (user: string, body: Record<string, unknown> = {}) => t.api('/api/v1/tokens', { method: 'POST', json: { name: 'n', user, ...body } });
    const tokensOf = async (user: string) => (await (await t.api(`/api/v1/tokens?user=${user}`)).json()) as TokenInfo[];
    const login = (user: string) => t.api('/api/v1/auth/login', { method: 'POST', token: null, json: { user, password: `a long password for ${user} 1` } });

    it('tokens: one past the limit is 413; revoked and expired ones do not count; rows stay bounded', async () => {
      const made: string[] = [];
      for (let i = 0; i < MAX_TOKENS; i++) {
        const res = await makeToken('tia', i < 2 ? { expiresInSeconds: 60 } : {});
        expect(res.status).toBe(201);
        made.push(((await res.json()) as { id: string }).id);
      }
      const over = await makeToken('tia');
      expect(over.status).toBe(413);
      const body = (await over.json()) as ErrorBody;
      expect(body.error).toMatchObject({ code: 'FERRY_ERR_QUOTA_EXCEEDED', details: { limit: 'tokens', max: MAX_TOKENS } });
      expect(body.error.message).toContain(`at most ${MAX_TOKENS} live tokens`);
      // Another user is not affected.
      expect((await makeToken('sam')).status).toBe(201);
      // A revoked one makes room.
      expect((await t.api(`/api/v1/tokens/${made[5]}`, { method: 'DELETE' })).status).toBe(200);
      expect((await makeToken('tia')).status).toBe(201);
      expect((await makeToken('tia')).status).toBe(413);
      // Two expire: room for two.
      clock += 61_000;
      expect((await makeToken('tia')).status).toBe(201);
      expect((await makeToken('tia')).status).toBe(201);
      expect((await makeToken('tia')).status).toBe(413);
      // Make and revoke many: the rows of the user never pass the limit.
      for (let i = 0; i < 3 * MAX_TOKENS; i++) {
        const live = (await tokensOf('tia')).filter((x) => x.revokedAt === null && (x.expiresAt === null || x.expiresAt > clock));
        expect((await t.api(`/api/v1/tokens/${live[0].id}`, { method: 'DELETE' })).status).toBe(200);
        expect((await makeToken('tia')).status).toBe(201);
        expect((await tokensOf('tia')).length).toBeLessThanOrEqual(MAX_TOKENS);
      }
    });

    it('a password login at the limit revokes the oldest login token instead of failing', async () => {
      const first = await login('sam');
      expect(first.status).toBe(201);
      const firstToken = ((await first.json()) as { token: string }).token;
      // (The server's clock moves on between logins: the oldest is the first.)
      for (let i = 1; i < MAX_TOKENS; i++) {
        clock += 1;
        expect((await login('sam')).status).toBe(201);
      }
      clock += 1;
      const last = await login('sam');
      expect(last.status).toBe(201);
      const lastToken = ((await last.json()) as { token: string }).token;
      expect((await t.api('/api/v1/me', { token: lastToken })).status).toBe(200);
      expect((await t.api('/api/v1/me', { token: firstToken })).status).toBe(401);
      // Only the oldest went: the rest of the logins' tokens are live.
      const live = (await tokensOf('sam')).filter((x) => x.revokedAt === null && x.name !== 'n');
      expect(live.length).toBe(MAX_TOKENS);
    });

    it("tokens made through the API (a narrow token's holder) neither lock out a password login nor make it revoke the user's other logins", async () => {
      const lea = await addUser(t, 'lea', { password: 'a long password for lea 1' });
      const laptop = ((await (await login('lea')).json()) as { token: string }).token;
      // A read-only token for one folder, handed to someone else, makes tokens until refused.
      const friend = await tokenFor(t, 'lea', { scopes: ['read'], pathPrefix: `${lea.home}/pub` });
      let made = 0;
      while ((await t.api('/api/v1/tokens', { method: 'POST', token: friend.token, json: { name: 'f' } })).status === 201) made++;
      expect(made).toBeGreaterThan(0);
      // Lea logs in elsewhere: her laptop's login stays.
      const desk = await login('lea');
      expect(desk.status).toBe(201);
      expect((await t.api('/api/v1/me', { token: laptop })).status).toBe(200);
      // With no login of hers live, a login still succeeds (it was 413).
      expect((await t.api(`/api/v1/tokens/${((await desk.json()) as { id: string }).id}`, { method: 'DELETE' })).status).toBe(200);
      const laptopId = (await tokensOf('lea')).find((x) => x.revokedAt === null && x.name !== 'f' && x.id !== friend.id)!.id;
      expect((await t.api(`/api/v1/tokens/${laptopId}`, { method: 'DELETE' })).status).toBe(200);
      expect((await t.api('/api/v1/me', { token: laptop })).status).toBe(401);
      const again = await login('lea');
      expect(again.status).toBe(201);
      // The API's own tokens are still bounded.
      expect((await t.api('/api/v1/tokens', { method: 'POST', token: friend.token, json: { name: 'f' } })).status).toBe(413);
    });

    it('share links: one past the limit is 413; revoked, expired and used-up ones do not count', async () => {
      // Room for a token of sam's (the test before filled them): revoke the others.
      for (const x of await tokensOf('sam')) if (x.revokedAt === null) expect((await t.api(`/api/v1/tokens/${x.id}`, { method: 'DELETE' })).status).toBe(200);
      const sam = (await tokenFor(t, 'sam', { name: 'shares' })).token;
      const links: ShareInfo[] = [];
      for (let i = 0; i < MAX_SHARES; i++) links.push(await share(t, sam, { path: '/pub', ...(i === 0 ? { expiresInSeconds: 60 } : {}), ...(i === 1 ? { path: '/pub/once.txt', maxUses: 1 } : {}) }));
      const over = await t.api('/api/v1/shares', { method: 'POST', json: { path: '/pub' }, token: sam });
      expect(over.status).toBe(413);
      expect(((await over.json()) as ErrorBody).error).toMatchObject({ code: 'FERRY_ERR_QUOTA_EXCEEDED', details: { limit: 'shares', max: MAX_SHARES } });
      expect((await t.api(`/api/v1/shares/${links[2].id}`, { method: 'DELETE', token: sam })).status).toBe(204);
      await share(t, sam, { path: '/pub' });
      // The one-use link used up, the other past its expiry: room for two.
      expect((await fetch((links[1] as ShareInfo & { url: string }).url)).status).toBe(200);
      clock += 61_000;
      await share(t, sam, { path: '/pub' });
      await share(t, sam, { path: '/pub' });
      expect((await t.api('/api/v1/shares', { method: 'POST', json: { path: '/pub' }, token: sam })).status).toBe(413);
      expect(((await (await t.api('/api/v1/shares', { token: sam })).json()) as ShareInfo[]).length).toBeLessThanOrEqual(MAX_SHARES);
    });

    it('the listings page newest first with limit, cursor and next; the SDK and the CLI follow every page', async () => {
      await addUser(t, 'pam');
      const pam = await t.api('/api/v1/users/pam').then((r) => r.json() as Promise<{ id: string }>);
      // Past the page the SDK asks for (1,000), put straight into the store: no limit for them.
      const { users, shares } = t.server.ctx;
      const n = 1_203;
      for (let i = 0; i < n; i++) {
        const { id } = newToken();
        await users.insertToken({ id, user_id: pam.id, name: `bulk ${i}`, secret_hash: 'x', scopes: '*', path_prefix: i % 2 === 0 ? '/docs' : null, created_at: 1_000 + Math.floor(i / 3), expires_at: null, last_used_at: null, revoked_at: null, from_login: 0 });
        await shares.insert({ id: `sh_${randomBytes(8).toString('hex')}`, key_hash: randomBytes(32).toString('hex'), user_id: pam.id, path: i % 2 === 0 ? '/docs/a' : '/other', kind: 'download', name: 'x', password_hash: null, expires_at: null, max_uses: null, uses: 0, created_at: 1_000 + Math.floor(i / 3), revoked_at: null, last_used_at: null, max_bytes: null, bytes_received: 0, target_type: 'dir', made_with: null });
      }
      // Pages of 100: every token once, newest first, `next` until the last.
      const seen: TokenInfo[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const res = await t.api(`/api/v1/tokens?user=pam&limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
        expect(res.status).toBe(200);
        const page = (await res.json()) as { entries: TokenInfo[]; next?: string };
        expect(page.entries.length).toBeLessThanOrEqual(100);
        seen.push(...page.entries);
        cursor = page.next;
        pages++;
      } while (cursor !== undefined);
      expect(pages).toBe(13);
      expect(new Set(seen.map((x) => x.id)).size).toBe(n);
      for (let i = 1; i < seen.length; i++) expect(seen[i - 1].createdAt).toBeGreaterThanOrEqual(seen[i].createdAt);
      // Bad pages are refused.
      for (const q of ['limit=0', 'limit=10001', 'limit=x', 'cursor=nonsense', 'cursor=']) {
        const res = await t.api(`/api/v1/tokens?${q}`);
        expect(res.status, q).toBe(400);
        expect(((await res.json()) as ErrorBody).error.code, q).toBe('FERRY_ERR_VALIDATION');
      }
      expect((await t.api('/api/v1/shares?all=true&limit=0')).status).toBe(400);

      // The SDK and the CLI, as pam: all of them, across pages of 1,000. (Room for pam's own
      // tokens: the limit is read at each creation, as a SIGHUP would change it.)
      t.server.ctx.config.maxTokensPerUser = 0;
      const pamToken = (await tokenFor(t, 'pam', { name: 'cli' })).token;
      const client = new FerryClient({ server: t.url, token: pamToken });
      try {
        expect((await listTokens(client)).length).toBe(n + 1);
        expect((await listShares(client)).length).toBe(n);
        const first = await listTokensPage(client, { limit: 7 });
        expect(first.entries).toHaveLength(7);
        expect(first.next).toEqual(expect.any(String));
      } finally {
        await client.close();
      }
      const env = { FERRY_SERVER: t.url, FERRY_TOKEN: pamToken, HOME: tmp.path };
      const tokenLs = await runFerry(['token', 'ls', '--json'], { env });
      expect(tokenLs.code).toBe(0);
      expect((JSON.parse(tokenLs.stdout) as TokenInfo[]).length).toBe(n + 1);
      const shareLs = await runFerry(['share', 'ls', '--json'], { env });
      expect(shareLs.code).toBe(0);
      expect((JSON.parse(shareLs.stdout) as ShareInfo[]).length).toBe(n);

      // A token limited to /docs sees only what lies within it, paged too.
      const docs = (await tokenFor(t, 'pam', { name: 'docs', pathPrefix: '/docs' })).token;
      const within = (await (await t.api('/api/v1/tokens?limit=10000', { token: docs })).json()) as { entries: TokenInfo[]; next?: string };
      expect(within.next).toBeUndefined();
      expect(within.entries.length).toBe(Math.ceil(n / 2) + 1);
      expect(within.entries.every((x) => x.pathPrefix === '/docs')).toBe(true);
      const linksWithin = (await (await t.api('/api/v1/shares?limit=500', { token: docs })).json()) as { entries: ShareInfo[]; next?: string };
      expect(linksWithin.entries.every((x) => x.path === '/docs/a')).toBe(true);
      expect(linksWithin.next).toEqual(expect.any(String));
      // Without limit or cursor: the whole list as an array, as before pages.
      expect(((await (await t.api('/api/v1/tokens', { token: docs })).json()) as TokenInfo[]).length).toBe(Math.ceil(n / 2) + 1);
      t.server.ctx.config.maxTokensPerUser = MAX_TOKENS;
    }, 120_000);
  });
}

const limits = { maxTokensPerUser: MAX_TOKENS, maxSharesPerUser: MAX_SHARES };

let sqlite: TestServer | undefined;
suite(
  'token and share link limits (SQLite)',
  async (now) => (sqlite = await startTestServer({ ...limits, now })),
  async () => {
    await sqlite?.close();
  },
);

let pg: PostgresHandle | undefined;
let pgServer: TestServer | undefined;
suite(
  'token and share link limits (PostgreSQL)',
  async (now) => {
    pg = await startPostgres();
    return (pgServer = await startTestServer({ ...limits, now, db: await pg.createDatabase(), sessionKey: randomBytes(32) }));
  },
  async () => {
    await pgServer?.close();
    await pg?.stop();
  },
);
