/**
 * A user's chunk entries in upload sessions not yet committed, over real HTTP: they count in
 * no quota, and each creation took up to 20,000 of them, so a user holding 100 sessions for a
 * day held 2 million rows (about 1 GB of metadata). Now at most `maxPendingEntries` in all
 * (413 FERRY_ERR_QUOTA_EXCEEDED past it), at creation and at each append; committed or
 * aborted sessions give theirs back, and one user's never count against another's.
 */
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_CHUNKING } from '../../src/core/chunk-refs.js';
import { fileHashOf, type ChunkRef } from '../../src/core/manifest.js';
import { defaultConfig } from '../../src/server/config.js';
import { startPostgres, type PostgresHandle } from '../helpers/postgres.js';
import { startTestServer, type TestServer } from '../helpers/in-process-server.js';
import { addUser, tokenFor } from '../helpers/users.js';

const MAX = 40;
const one = Buffer.from('z');
const tiny: ChunkRef = { hash: createHash('sha256').update(one).digest('hex'), size: 1 };
const sixteen = Array.from({ length: 16 }, () => tiny);
let pg: PostgresHandle | undefined;
const servers: TestServer[] = [];
afterAll(async () => {
  for (const t of servers) await t.close();
  await pg?.stop();
});

async function expectRefused(res: Response): Promise<void> {
  const text = await res.text();
  expect({ status: res.status, text }).toMatchObject({ status: 413 });
  const body = JSON.parse(text) as { error: { code: string; message: string; details: { limit: string } } };
  expect(body.error.code).toBe('FERRY_ERR_QUOTA_EXCEEDED');
  expect(body.error.details.limit).toBe('entries');
  expect(body.error.message).toMatch(/at most 40 chunk entries in uploads not yet committed/);
}

async function server(db?: boolean): Promise<{ t: TestServer; bob: string; carol: string }> {
  const t = await startTestServer({ maxPendingEntries: MAX, ...(db ? { db: await (pg ??= await startPostgres()).createDatabase(), sessionKey: randomBytes(32) } : {}) });
  servers.push(t);
  await addUser(t, 'bob');
  await addUser(t, 'carol');
  return { t, bob: (await tokenFor(t, 'bob')).token, carol: (await tokenFor(t, 'carol')).token };
}

describe('pending chunk entries per user', () => {
  it('are bounded at creation and at append; commits, aborts and other users give or take none', async () => {
    const { t, bob, carol } = await server();
    const create = (token: string, path: string, chunks?: ChunkRef[]) =>
      t.api('/api/v1/uploads', { method: 'POST', token, json: chunks ? { path, size: chunks.length, hash: fileHashOf(chunks), chunks } : { path } });
    const idOf = async (res: Response) => {
      expect(res.status).toBe(201);
      return ((await res.json()) as { id: string }).id;
    };
    const a = await idOf(await create(bob, '/a.bin', sixteen));
    const b = await idOf(await create(bob, '/b.bin', sixteen));
    // 32 + 16 > 40.
    await expectRefused(await create(bob, '/c.bin', sixteen));
    await expectRefused(await create(bob, '/c.bin', [...sixteen.slice(0, 9)]));
    // Carol's budget is her own.
    await idOf(await create(carol, '/c.bin', sixteen));
    // 32 + 8 fits; an append to a session of unknown size counts the same.
    const s = await idOf(await create(bob, '/stream.bin'));
    const append = (chunks: ChunkRef[]) => t.api(`/api/v1/uploads/${s}/chunks`, { method: 'POST', token: bob, json: { chunks } });
    expect((await append(sixteen.slice(0, 8))).status).toBe(200);
    await expectRefused(await append([tiny]));
    // An aborted session gives its entries back.
    expect((await t.api(`/api/v1/uploads/${a}`, { method: 'DELETE', token: bob })).status).toBe(204);
    expect((await append(sixteen.slice(0, 8))).status).toBe(200);
    await expectRefused(await create(bob, '/c.bin', sixteen));
    // So does a committed one (its entries are a file's now, counted by the quota).
    expect((await t.api(`/api/v1/uploads/${b}/chunks/${tiny.hash}`, { method: 'PUT', token: bob, body: one })).status).toBe(200);
    expect((await t.api(`/api/v1/uploads/${b}/commit`, { method: 'POST', token: bob })).status).toBe(200);
    await idOf(await create(bob, '/c.bin', sixteen));
  });

  it('hold against creations at once on PostgreSQL', async () => {
    const { t, bob } = await server(true);
    const answers = await Promise.all(Array.from({ length: 12 }, (_, i) => t.api('/api/v1/uploads', { method: 'POST', token: bob, json: { path: `/p${i}.bin`, size: 16, hash: fileHashOf(sixteen), chunks: sixteen } })));
    const made = answers.filter((r) => r.status === 201).length;
    for (const r of answers.filter((r) => r.status !== 201)) await expectRefused(r);
    // Two sessions of 16 fit in 40, a third would not.
    expect(made).toBe(2);
  });

  it('leave room for several 10 GiB puts at once by default, at the smallest chunks the default chunking makes', () => {
    const worstPut = Math.ceil((10 * 2 ** 30) / DEFAULT_CHUNKING.minSize);
    expect(defaultConfig({}).maxPendingEntries).toBeGreaterThanOrEqual(10 * worstPut);
  });
});
