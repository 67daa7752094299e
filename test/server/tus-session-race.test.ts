/**
 * tus creations at once against a user's session limit, on SQLite and PostgreSQL: the limit
 * was checked in a transaction of its own before the session was made, so on PostgreSQL 40
 * creations at once by a user allowed 5 sessions made 8. The check now runs in the
 * creation's transaction, after the user's row lock.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { startPostgres, type PostgresHandle } from '../helpers/postgres.js';
import { startTestServer, type TestServer } from '../helpers/in-process-server.js';
import { addUser, tokenFor } from '../helpers/users.js';

const MAX = 5;
let pg: PostgresHandle | undefined;
const servers: TestServer[] = [];
afterAll(async () => {
  for (const t of servers) await t.close();
  await pg?.stop();
});

async function creationsAtOnce(t: TestServer): Promise<void> {
  await addUser(t, 'bob', { maxSessions: MAX });
  const bob = (await tokenFor(t, 'bob')).token;
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  const create = (i: number) =>
    fetch(`${t.url}/api/v1/tus/`, { method: 'POST', headers: { authorization: `Bearer ${bob}`, 'tus-resumable': '1.0.0', 'upload-length': '60', 'upload-metadata': `filename ${b64(`/t${i}.bin`)}` } });
  const answers = await Promise.all(Array.from({ length: 40 }, (_, i) => create(i)));
  const statuses = answers.map((r) => r.status);
  expect(statuses.filter((s) => s === 201)).toHaveLength(MAX);
  expect(statuses.filter((s) => s === 413)).toHaveLength(40 - MAX);
  const me = (await (await t.api('/api/v1/me', { token: bob })).json()) as { uploadSessions: number };
  expect(me.uploadSessions).toBe(MAX);
}

describe('tus creations at once against the session limit', () => {
  it('on SQLite', async () => {
    const t = await startTestServer();
    servers.push(t);
    await creationsAtOnce(t);
  });

  it('on PostgreSQL', async () => {
    pg = await startPostgres();
    const t = await startTestServer({ db: await pg.createDatabase(), sessionKey: randomBytes(32) });
    servers.push(t);
    await creationsAtOnce(t);
  });
});
