/**
 * tus uploads with conditions (docs/protocol.md, "tus" and "Conditional writes"): tus
 * clients set metadata, not headers of their own, so Upload-Metadata `ifMatch` (an ETag) and
 * `ifNoneMatch` (`*`) are the native API's If-Match / If-None-Match. Checked at the creation
 * (no byte sent in vain) and decided by the commit the last PATCH makes: a file replaced
 * meanwhile is not replaced again, the PATCH answers 412 and the upload is gone.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/in-process-server.js';
import { addUser, tokenFor } from '../helpers/users.js';

let t: TestServer;
let token = '';
const TUS = { 'tus-resumable': '1.0.0' };

const meta = (m: Record<string, string>): string =>
  Object.entries(m)
    .map(([k, v]) => `${k} ${Buffer.from(v).toString('base64')}`)
    .join(',');
const auth = () => ({ ...TUS, authorization: `Bearer ${token}` });
const create = (metadata: Record<string, string>, length: number, headers: Record<string, string> = {}) =>
  fetch(`${t.url}/api/v1/tus/`, { method: 'POST', headers: { ...auth(), 'upload-length': String(length), 'upload-metadata': meta(metadata), ...headers } });
const patch = (url: string, offset: number, body: string) =>
  fetch(new URL(url, t.url), { method: 'PATCH', headers: { ...auth(), 'content-type': 'application/offset+octet-stream', 'upload-offset': String(offset) }, body });
const put = (path: string, body: string) => t.api('/api/v1/files' + path, { method: 'PUT', body, token });
const text = async (path: string) => (await t.api('/api/v1/files' + path, { token })).text();
const etagOf = async (path: string) => `"${((await (await t.api('/api/v1/stat' + path, { token })).json()) as { hash: string }).hash}"`;
const codeOf = async (r: Response) => ((await r.json()) as { error: { code: string; message: string } }).error;

beforeAll(async () => {
  t = await startTestServer();
  await addUser(t, 'alice', { password: 'alice-password-1' });
  token = (await tokenFor(t, 'alice')).token;
});
afterAll(async () => t?.close());

describe('tus: ifMatch / ifNoneMatch in Upload-Metadata', () => {
  it('ifMatch holding at creation but not at the last PATCH: 412, the file replaced meanwhile stays, the upload is gone', async () => {
    expect((await put('/doc.txt', 'first')).status).toBe(201);
    const seen = await etagOf('/doc.txt');
    const created = await create({ path: '/doc.txt', ifMatch: seen }, 6);
    expect(created.status).toBe(201);
    const url = created.headers.get('location')!;
    expect((await patch(url, 0, 'abc')).status).toBe(204);
    expect((await put('/doc.txt', 'someone else')).status).toBe(201);
    const last = await patch(url, 3, 'def');
    expect(last.status).toBe(412);
    expect(await codeOf(last)).toMatchObject({ code: 'FERRY_ERR_PRECONDITION_FAILED', message: `/doc.txt changed since you read it: its ETag is now ${await etagOf('/doc.txt')}, not ${seen}` });
    expect(await text('/doc.txt')).toBe('someone else');
    expect((await fetch(new URL(url, t.url), { method: 'HEAD', headers: auth() })).status).toBe(404);

    // From the ETag it has now, the upload replaces it.
    const again = await create({ path: '/doc.txt', ifMatch: await etagOf('/doc.txt') }, 6);
    expect((await patch(again.headers.get('location')!, 0, 'mine!!')).status).toBe(204);
    expect(await text('/doc.txt')).toBe('mine!!');
  });

  it('a condition that does not hold at creation: 412 at once', async () => {
    expect((await put('/held.txt', 'x')).status).toBe(201);
    const r = await create({ path: '/held.txt', ifMatch: `"${'0'.repeat(64)}"` }, 1);
    expect(r.status).toBe(412);
    expect((await codeOf(r)).code).toBe('FERRY_ERR_PRECONDITION_FAILED');
    expect((await create({ path: '/held.txt', ifNoneMatch: '*' }, 1)).status).toBe(412);
    expect(await text('/held.txt')).toBe('x');
  });

  it('ifNoneMatch *: of two uploads to one free name, the first to complete creates it, the other gets 412', async () => {
    const a = await create({ path: '/free.txt', ifNoneMatch: '*' }, 1);
    const b = await create({ path: '/free.txt', ifNoneMatch: '*' }, 1);
    expect([a.status, b.status]).toEqual([201, 201]);
    expect((await patch(a.headers.get('location')!, 0, 'a')).status).toBe(204);
    expect((await patch(b.headers.get('location')!, 0, 'b')).status).toBe(412);
    expect(await text('/free.txt')).toBe('a');
  });

  it('a malformed condition, or one on a partial upload, is 400', async () => {
    expect((await create({ path: '/bad.txt', ifMatch: 'abc' }, 1)).status).toBe(400);
    const partial = await create({ ifMatch: '*' }, 1, { 'upload-concat': 'partial' });
    expect(partial.status).toBe(400);
    expect((await codeOf(partial)).message).toContain('final upload');
  });

  it('a final upload (concatenation) is committed under its condition', async () => {
    expect((await put('/joined.txt', 'old')).status).toBe(201);
    const part = await create({}, 2, { 'upload-concat': 'partial' });
    const url = part.headers.get('location')!;
    expect((await patch(url, 0, 'hi')).status).toBe(204);
    const final = (metadata: Record<string, string>) => fetch(`${t.url}/api/v1/tus/`, { method: 'POST', headers: { ...auth(), 'upload-metadata': meta(metadata), 'upload-concat': `final;${url}` } });
    const stale = await final({ path: '/joined.txt', ifMatch: `"${'0'.repeat(64)}"` });
    expect(stale.status).toBe(412);
    expect(await text('/joined.txt')).toBe('old');
    const fresh = await final({ path: '/joined.txt', ifMatch: await etagOf('/joined.txt') });
    expect(fresh.status).toBe(201);
    expect(await text('/joined.txt')).toBe('hi');
  });
});
