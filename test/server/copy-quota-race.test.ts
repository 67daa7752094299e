/**
 * Copies at once against a quota, on SQLite and PostgreSQL, through the API and WebDAV: the
 * quota was checked only before the copy's transaction, so on PostgreSQL 20 copies at once
 * of a 4 MB file by a user with a 10 MB quota all passed the check and 8 were made (36 MB
 * used). The check now runs again in the copy's transaction, after the user's row lock.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { startPostgres, type PostgresHandle } from '../helpers/postgres.js';
import { startTestServer, statementsOf, uploadBuffer, type TestServer } from '../helpers/in-process-server.js';
import { addUser, tokenFor } from '../helpers/users.js';

const QUOTA = 10_000_000;
const SIZE = 4_000_000;
let pg: PostgresHandle | undefined;
const servers: TestServer[] = [];
afterAll(async () => {
  for (const t of servers) await t.close();
  await pg?.stop();
});

async function copiesAtOnce(t: TestServer): Promise<void> {
  await addUser(t, 'bob', { quotaBytes: QUOTA });
  const bob = (await tokenFor(t, 'bob')).token;
  expect((await uploadBuffer(t, '/big.bin', randomBytes(SIZE), 1 << 20, { token: bob })).status).toBe(200);
  const api = (i: number) => t.api('/api/v1/copy', { method: 'POST', token: bob, json: { from: '/big.bin', to: `/c${i}.bin` } });
  const dav = (i: number) => fetch(`${t.url}/dav/big.bin`, { method: 'COPY', headers: { authorization: `Bearer ${bob}`, destination: `${t.url}/dav/d${i}.bin` } });
  const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? api(i) : dav(i))));
  const made = answers.filter((r) => r.status === 200 || r.status === 201).length;
  const refused = answers.filter((r) => r.status === 413 || r.status === 507);
  for (const r of refused) expect(((await r.text()).match(/FERRY_ERR_QUOTA_EXCEEDED/) ?? []).length).toBe(1);
  expect(made + refused.length).toBe(20);
  // One copy fits beside the file (4 + 4 <= 10 MB); a second would not.
  expect(made).toBe(1);
  const me = (await (await t.api('/api/v1/me', { token: bob })).json()) as { usage: { bytes: number; files: number } };
  expect(me.usage).toEqual({ bytes: 2 * SIZE, files: 2 });
}

/** The SQL statements the server runs while `request` is answered (SQLite: its statement cache sees every query). */
async function statementsDuring(t: TestServer, request: () => Promise<Response>): Promise<{ status: number; body: string; statements: string[] }> {
  const { result, statements } = await statementsOf(t, request);
  return { status: result.status, body: await result.text(), statements };
}

describe('a copy against a quota', () => {
  it("measures the user's usage once, in the copy's transaction, through the API and WebDAV", async () => {
    const t = await startTestServer();
    servers.push(t);
    await addUser(t, 'carol', { quotaBytes: 3 * 1000 });
    const carol = (await tokenFor(t, 'carol')).token;
    expect((await uploadBuffer(t, '/a.bin', randomBytes(1000), 1000, { token: carol })).status).toBe(200);
    const usage = (s: string[]) => s.filter((q) => /sum\(size\).*from "files"/i.test(q));
    const api = (to: string) => statementsDuring(t, () => t.api('/api/v1/copy', { method: 'POST', token: carol, json: { from: '/a.bin', to } }));
    const dav = (to: string) => statementsDuring(t, () => fetch(`${t.url}/dav/a.bin`, { method: 'COPY', headers: { authorization: `Bearer ${carol}`, destination: `${t.url}/dav/${to}` } }));
    const first = await api('/b.bin');
    expect(first.status).toBe(200);
    expect(usage(first.statements)).toHaveLength(1);
    const second = await dav('c.bin');
    expect(second.status).toBe(201);
    expect(usage(second.statements)).toHaveLength(1);
    // The quota still holds: a fourth copy of 1000 bytes would make 4000 of 3000.
    const refused = await api('/d.bin');
    expect(refused.status).toBe(413);
    expect(refused.body).toMatch(/FERRY_ERR_QUOTA_EXCEEDED/);
    expect(usage(refused.statements)).toHaveLength(1);
  });
});

describe('copies at once against a quota', () => {
  it('on SQLite', async () => {
    const t = await startTestServer();
    servers.push(t);
    await copiesAtOnce(t);
  });

  it('on PostgreSQL', async () => {
    pg = await startPostgres();
    const t = await startTestServer({ db: await pg.createDatabase(), sessionKey: randomBytes(32) });
    servers.push(t);
    await copiesAtOnce(t);
  });
});
