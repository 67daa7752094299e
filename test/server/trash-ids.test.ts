/**
 * Someone else's trash entry is as invisible as their files: restoring it by id answers
 * exactly what an id nobody holds answers (trash ids are counted upwards, so the difference
 * told whether an id existed somewhere on the server).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/in-process-server.js';
import { addUser, tokenFor } from '../helpers/users.js';

let t: TestServer;

beforeAll(async () => {
  t = await startTestServer({ trashDays: 7 });
  await addUser(t, 'ana');
  await addUser(t, 'ben');
});
afterAll(async () => {
  await t?.close();
});

describe("restoring another user's trash entry by id", () => {
  it('answers as for an id that does not exist', async () => {
    const ana = (await tokenFor(t, 'ana')).token;
    const ben = (await tokenFor(t, 'ben')).token;
    expect((await t.api('/api/v1/files/private.txt', { method: 'PUT', body: 'ana', token: ana })).status).toBe(201);
    expect((await t.api('/api/v1/files/private.txt', { method: 'DELETE', token: ana })).status).toBe(204);
    const [entry] = ((await (await t.api('/api/v1/trash', { token: ana })).json()) as { entries: Array<{ id: number }> }).entries;
    const unknown = entry.id + 1000;
    const restore = async (id: number) => {
      const res = await t.api('/api/v1/trash/restore', { method: 'POST', json: { id, to: '/taken.txt' }, token: ben });
      const body = (await res.json()) as { error: { code: string; message: string; details?: unknown } };
      return { status: res.status, code: body.error.code, message: body.error.message.replace(String(id), 'N'), details: JSON.stringify(body.error.details).replace(String(id), 'N') };
    };
    const hers = await restore(entry.id);
    expect(hers).toEqual(await restore(unknown));
    expect(hers).toMatchObject({ status: 404, code: 'FERRY_ERR_NOT_FOUND' });
    // Still hers, and still in her trash.
    expect(((await (await t.api('/api/v1/trash', { token: ana })).json()) as { entries: unknown[] }).entries).toHaveLength(1);
  });
});
