/**
 * A drop box's visitor cannot make the owner's folder an end-to-end vault. A folder is a vault
 * once it holds a valid marker (`.ferry-e2e`, what `ferry mkdir --e2e` writes), and an empty
 * folder took one from anyone who could write there: a visitor's marker, keyed by the
 * visitor's passphrase, turned an empty drop box into a vault, after which every other
 * visitor's file was refused (`409 FERRY_ERR_E2E_PLAIN_IN_VAULT`) and the owner's own
 * `ferry put` asked for a passphrase they never set. The marker's name is now refused from
 * visitors, both ways in (`PUT /s/KEY/NAME` and the page's upload sessions).
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileHashOf } from '../../src/core/manifest.js';
import { startTestServer, type TestServer } from '../helpers/in-process-server.js';
import { addUser, share, tokenFor } from '../helpers/users.js';

/** A marker as `ferry mkdir --e2e` writes it (its check value made with the visitor's passphrase). */
const MARKER = JSON.stringify({ ferryE2e: 1, kdf: { name: 'scrypt', N: 131072, r: 8, p: 1, salt: 'sRrVNrd9QBFdxZnXH7ml0g' }, check: 'eyvqUhBmUtMtMTGLgQnMpA', vault: true });

let t: TestServer;
let owner: string;
let box: { url: string; token: string };

async function sendBySession(path: string, text: string): Promise<{ status: number; code?: string }> {
  const data = Buffer.from(text);
  const refs = [{ hash: createHash('sha256').update(data).digest('hex'), size: data.length }];
  const created = await t.api('/api/v1/uploads', { method: 'POST', json: { path, size: data.length, hash: fileHashOf(refs), chunks: refs }, token: box.token });
  if (created.status !== 201) return { status: created.status, code: ((await created.json()) as { error: { code: string } }).error.code };
  const { id } = (await created.json()) as { id: string };
  expect((await t.api(`/api/v1/uploads/${id}/chunks/${refs[0].hash}`, { method: 'PUT', body: data, token: box.token })).status).toBe(200);
  const commit = await t.api(`/api/v1/uploads/${id}/commit`, { method: 'POST', json: {}, token: box.token });
  return { status: commit.status, code: commit.status >= 400 ? ((await commit.json()) as { error: { code: string } }).error.code : undefined };
}

beforeAll(async () => {
  t = await startTestServer();
  await addUser(t, 'vera');
  owner = (await tokenFor(t, 'vera')).token;
  expect((await t.api('/api/v1/mkdir/drop', { method: 'POST', token: owner })).status).toBe(201);
  const link = await share(t, owner, { path: '/drop', kind: 'upload' });
  const res = await fetch(`${link.url}/unlock`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  expect(res.status).toBe(200);
  box = { url: link.url, token: ((await res.json()) as { token: string }).token };
});
afterAll(async () => t?.close());

describe("an end-to-end marker sent into an empty drop box", () => {
  it('is refused with curl -T and with a session, and the folder stays a plain drop box', async () => {
    const put = await fetch(`${box.url}/.ferry-e2e`, { method: 'PUT', body: MARKER });
    expect(put.status).toBe(400);
    const body = (await put.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('FERRY_ERR_PATH_INVALID');
    expect(body.error.message).toContain('marker');
    expect(await sendBySession('/.ferry-e2e', MARKER)).toEqual({ status: 400, code: 'FERRY_ERR_PATH_INVALID' });
    expect((await t.api('/api/v1/stat/drop/.ferry-e2e', { token: owner })).status).toBe(404);
    // The next visitor's plain file still arrives, and the owner's own.
    expect((await fetch(`${box.url}/report.txt`, { method: 'PUT', body: 'from a visitor' })).status).toBe(201);
    expect(await sendBySession('/notes.txt', 'from another')).toMatchObject({ status: 200 });
    expect((await t.api('/api/v1/files/drop/mine.txt', { method: 'PUT', body: 'the owner', token: owner })).status).toBe(201);
  });
});
