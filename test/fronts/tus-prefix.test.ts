/**
 * tus partial uploads and tokens narrowed to a path prefix (security audit, tenth round).
 * A partial sat at the home's root whoever made it and was not checked against the prefix:
 * a `/pub` token could append to, read the offset of and concatenate partials its user
 * made with a full token, and a final upload by a full token could take a `/pub` token's
 * partials anywhere. Now a partial sits at the root of its creator's prefix; a request for
 * it needs a token whose prefix holds it, and a final upload takes only partials made by a
 * token that could write its target.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/in-process-server.js';
import { addUser, tokenFor } from '../helpers/users.js';

let t: TestServer;
let full = '';
let pub = '';
const TUS = { 'tus-resumable': '1.0.0' };

const meta = (m: Record<string, string>): string =>
  Object.entries(m)
    .map(([k, v]) => `${k} ${Buffer.from(v).toString('base64')}`)
    .join(',');

const create = (token: string, headers: Record<string, string>, body?: Buffer) =>
  fetch(`${t.url}/api/v1/tus/`, { method: 'POST', headers: { ...TUS, authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/offset+octet-stream' } : {}), ...headers }, body });

/** A complete partial upload made with `token`: its URL. */
async function partial(token: string, bytes: string): Promise<string> {
  const r = await create(token, { 'upload-concat': 'partial', 'upload-length': String(bytes.length) }, Buffer.from(bytes));
  expect(r.status, await r.clone().text()).toBe(201);
  return new URL(r.headers.get('location')!, t.url).href;
}

const final = (token: string, parts: string[], path: string) => create(token, { 'upload-concat': `final;${parts.join(' ')}`, 'upload-metadata': meta({ path }) });

async function fileOf(path: string): Promise<{ status: number; text: string }> {
  const r = await t.api(`/api/v1/files${path}`, { token: full });
  return { status: r.status, text: await r.text() };
}

async function forbidden(r: Response): Promise<void> {
  const text = await r.text();
  expect(r.status, text).toBe(403);
  // A HEAD answer has no body.
  if (text !== '') expect(JSON.parse(text).error.code).toBe('FERRY_ERR_FORBIDDEN');
}

beforeAll(async () => {
  t = await startTestServer();
  await addUser(t, 'alice');
  full = (await tokenFor(t, 'alice', { name: 'full' })).token;
  pub = (await tokenFor(t, 'alice', { name: 'pub', pathPrefix: '/pub', scopes: ['list', 'read', 'write'] })).token;
});
afterAll(async () => {
  await t?.close();
});

describe('tus partial uploads and a path prefix', () => {
  it("a /pub token neither reads, appends to nor terminates a full token's partial", async () => {
    const r = await create(full, { 'upload-concat': 'partial', 'upload-length': '6' }, Buffer.from('abc'));
    expect(r.status).toBe(201);
    const url = new URL(r.headers.get('location')!, t.url);
    await forbidden(await fetch(url, { method: 'HEAD', headers: { ...TUS, authorization: `Bearer ${pub}` } }));
    await forbidden(await fetch(url, { method: 'PATCH', headers: { ...TUS, authorization: `Bearer ${pub}`, 'content-type': 'application/offset+octet-stream', 'upload-offset': '3' }, body: Buffer.from('def') }));
    await forbidden(await fetch(url, { method: 'DELETE', headers: { ...TUS, authorization: `Bearer ${pub}` } }));
    const head = await fetch(url, { method: 'HEAD', headers: { ...TUS, authorization: `Bearer ${full}` } });
    expect(head.status).toBe(200);
    expect(head.headers.get('upload-offset')).toBe('3');
  });

  it("a /pub token's final upload takes no partial a full token made, and writes nothing", async () => {
    const part = await partial(full, 'private bytes');
    await forbidden(await final(pub, [part], '/pub/stolen.bin'));
    expect((await fileOf('/pub/stolen.bin')).status).toBe(404);
  });

  it("a full token's final upload takes a /pub token's partials only into /pub", async () => {
    const part = await partial(pub, 'from pub');
    await forbidden(await final(full, [part], '/private/planted.bin'));
    expect((await fileOf('/private/planted.bin')).status).toBe(404);
    const ok = await final(full, [part], '/pub/placed.bin');
    expect(ok.status, await ok.clone().text()).toBe(201);
    expect(await fileOf('/pub/placed.bin')).toEqual({ status: 200, text: 'from pub' });
  });

  it("a /pub token joins its own partials into /pub, and they never show in a listing", async () => {
    const a = await partial(pub, 'one,');
    const b = await partial(pub, 'two');
    const listed = (await (await t.api('/api/v1/list/pub', { token: pub })).json()) as { entries: { name: string }[] } | { name: string }[];
    const names = (Array.isArray(listed) ? listed : listed.entries).map((e) => e.name);
    expect(names.filter((n) => n.startsWith('.ferry-tus-partial'))).toEqual([]);
    const ok = await final(pub, [a, b], '/pub/joined.bin');
    expect(ok.status, await ok.clone().text()).toBe(201);
    expect(await fileOf('/pub/joined.bin')).toEqual({ status: 200, text: 'one,two' });
  });

  it("a /pub token's final upload outside /pub is refused before its parts are looked at", async () => {
    const part = await partial(pub, 'x');
    await forbidden(await final(pub, [part], '/private/out.bin'));
    expect((await fileOf('/private/out.bin')).status).toBe(404);
  });
});

describe('a tus upload at its commit', () => {
  it('is refused when its token may no longer write the target, and nothing is committed', async () => {
    await addUser(t, 'dora');
    const dora = (await tokenFor(t, 'dora', { name: 'dora' })).token;
    const r = await create(dora, { 'upload-length': '6', 'upload-metadata': meta({ path: '/late.bin' }) }, Buffer.from('abc'));
    expect(r.status, await r.clone().text()).toBe(201);
    const grant = await t.api('/api/v1/users/dora/grants', { method: 'PUT', json: { path: '/', permissions: ['list', 'read'] } });
    expect(grant.status, await grant.clone().text()).toBe(200);
    const url = new URL(r.headers.get('location')!, t.url);
    await forbidden(await fetch(url, { method: 'PATCH', headers: { ...TUS, authorization: `Bearer ${dora}`, 'content-type': 'application/offset+octet-stream', 'upload-offset': '3' }, body: Buffer.from('def') }));
    const listed = await t.api('/api/v1/files/users/dora/late.bin');
    expect(listed.status).toBe(404);
  });
});
