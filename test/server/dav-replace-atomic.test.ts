/**
 * WebDAV COPY and MOVE with Overwrite: T over an existing folder: the folder was deleted
 * before the copy's transaction, so a copy then refused in it (its quota check, which
 * concurrent copies had used up) left the folder gone and nothing in its place. The
 * destination is now cleared in the copy's (or move's) own transaction: a refused one
 * leaves the folder as it was.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { QuotaExceededError } from '../../src/core/errors.js';
import { startPostgres, type PostgresHandle } from '../helpers/postgres.js';
import { startTestServer, uploadBuffer, type TestServer } from '../helpers/in-process-server.js';
import { addUser, tokenFor } from '../helpers/users.js';

const QUOTA = 10_000_000;
const SIZE = 4_000_000;
const FOLDERS = 10;
let pg: PostgresHandle | undefined;
const servers: TestServer[] = [];
afterAll(async () => {
  for (const t of servers) await t.close();
  await pg?.stop();
});

/** Bob with a 10 MB quota, /big.bin of 4 MB and folders /f0.. each holding keep.txt. */
async function bobWithFolders(t: TestServer): Promise<string> {
  await addUser(t, 'bob', { quotaBytes: QUOTA });
  const bob = (await tokenFor(t, 'bob')).token;
  expect((await uploadBuffer(t, '/big.bin', randomBytes(SIZE), 1 << 20, { token: bob })).status).toBe(200);
  for (let i = 0; i < FOLDERS; i++) expect((await uploadBuffer(t, `/f${i}/keep.txt`, Buffer.from(`folder ${i}`), 1024, { token: bob })).status).toBe(200);
  return bob;
}

const davCopy = (t: TestServer, token: string, from: string, to: string, op = 'COPY') =>
  fetch(`${t.url}/dav${from}`, { method: op, headers: { authorization: `Bearer ${token}`, destination: `${t.url}/dav${to}`, overwrite: 'T' } });

async function names(t: TestServer, token: string, folder: string): Promise<string[] | number> {
  const r = await t.api(`/api/v1/list${folder}`, { token });
  if (r.status !== 200) return r.status;
  return ((await r.json()) as { entries: { name: string }[] }).entries.map((e) => e.name);
}

async function copiesOverFolders(t: TestServer): Promise<void> {
  const bob = await bobWithFolders(t);
  const answers = await Promise.all(Array.from({ length: FOLDERS }, (_, i) => davCopy(t, bob, '/big.bin', `/f${i}`)));
  const statuses = answers.map((r) => r.status);
  // One copy fits beside the file (4 + 4 <= 10 MB); a second would not.
  expect(statuses.filter((s) => s === 204)).toHaveLength(1);
  for (const [i, r] of answers.entries()) {
    if (r.status === 204) {
      const me = await t.api(`/api/v1/stat/f${i}`, { token: bob });
      expect(((await me.json()) as { type: string }).type).toBe('file');
      continue;
    }
    expect(r.status).toBe(413);
    expect(await r.text()).toMatch(/FERRY_ERR_QUOTA_EXCEEDED/);
    // Refused: the folder is still there, with its file.
    expect(await names(t, bob, `/f${i}`)).toEqual(['keep.txt']);
  }
}

describe('WebDAV COPY with Overwrite: T over folders, at once, against a quota', () => {
  it('on SQLite', async () => {
    const t = await startTestServer();
    servers.push(t);
    await copiesOverFolders(t);
  });

  it('on PostgreSQL', async () => {
    pg = await startPostgres();
    const t = await startTestServer({ db: await pg.createDatabase(), sessionKey: randomBytes(32) });
    servers.push(t);
    await copiesOverFolders(t);
  });
});

describe('a COPY or MOVE refused in its transaction', () => {
  it('leaves the folder it would have replaced', async () => {
    const t = await startTestServer();
    servers.push(t);
    const bob = await bobWithFolders(t);
    // The quota's check refuses inside the copy's transaction only (as when a concurrent copy
    // used the quota between the early check and the transaction).
    const quota = t.server.ctx.quota;
    const copyCheck = quota.copyCheck.bind(quota);
    quota.copyCheck = (auth, src) => {
      const check = copyCheck(auth, src);
      return async (db) => {
        await check?.(db);
        if (db.isTransaction) throw new QuotaExceededError('quota exceeded: refused in the transaction');
      };
    };
    const copy = await davCopy(t, bob, '/big.bin', '/f0');
    expect(copy.status).toBe(413);
    expect(await names(t, bob, '/f0')).toEqual(['keep.txt']);
    quota.copyCheck = copyCheck;
    // A MOVE whose source went away is refused in its transaction too; the folder stays.
    const gone = await davCopy(t, bob, '/nothing.bin', '/f1', 'MOVE');
    expect(gone.status).toBe(404);
    expect(await names(t, bob, '/f1')).toEqual(['keep.txt']);
    // Allowed, the folder is replaced by the file (204) and what it held is gone.
    const ok = await davCopy(t, bob, '/big.bin', '/f2');
    expect(ok.status).toBe(204);
    expect(await names(t, bob, '/f2/keep.txt')).toBe(404);
    const moved = await davCopy(t, bob, '/f3', '/f4', 'MOVE');
    expect(moved.status).toBe(204);
    expect(await names(t, bob, '/f4')).toEqual(['keep.txt']);
    expect(await names(t, bob, '/f3')).toBe(404);
  });
});
