/**
 * WebDAV dead properties are stored bytes: they count in the user's usage and quota, on
 * files and folders alike (a folder's properties are not free), measured in UTF-8 bytes of
 * namespace, name and value. A PROPPATCH that would pass the quota fails whole (507 for its
 * sets, the reason with FERRY_ERR_QUOTA_EXCEEDED in the multistatus), nothing stored;
 * removing properties frees room even past the quota; uploads see the room properties took.
 * On SQLite and PostgreSQL (their SQL for byte lengths differs).
 */
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import type { MeResponse } from '../../src/core/protocol.js';
import { basic, dav, multistatus, propfindNamed } from '../helpers/dav.js';
import { startTestServer, type TestServer } from '../helpers/in-process-server.js';
import { startPostgres, type PostgresHandle } from '../helpers/postgres.js';
import { addUser, auditEvents, tokenFor } from '../helpers/users.js';

const QUOTA = 300_000;
const NS = 'urn:z';
let t: TestServer;
let token = '';
const QUIN = basic('quin', 'quin-password-1');

const req = (method: string, path: string, body?: string) => dav(t.url, method, path, { auth: QUIN, ...(body !== undefined ? { body } : {}) });
const patch = (path: string, inner: string) => req('PROPPATCH', path, `<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="${NS}">${inner}</D:propertyupdate>`);
const setProps = (props: Record<string, string>) => `<D:set><D:prop>${Object.entries(props).map(([k, v]) => `<Z:${k}>${v}</Z:${k}>`).join('')}</D:prop></D:set>`;
/** quin's quota refusals in the audit log (also what webhooks subscribed to `quota` receive). */
const refusals = () => auditEvents(t, 'event=quota.exceeded&user=quin');
/** What a property costs: the UTF-8 bytes of its namespace, name and value. */
const cost = (name: string, value: string) => Buffer.byteLength(NS) + Buffer.byteLength(name) + Buffer.byteLength(value);

async function used(): Promise<number> {
  return ((await (await t.api('/api/v1/me', { token })).json()) as MeResponse).usage.bytes;
}

let pg: PostgresHandle | undefined;
afterAll(async () => {
  await t?.close();
  await pg?.stop();
});

describe('WebDAV dead properties and the quota', () => {
  it.each(['SQLite', 'PostgreSQL'])('%s: count in usage on folders and files; a PROPPATCH past the quota stores nothing and says why', async (store) => {
    await t?.close();
    if (store === 'PostgreSQL') pg = await startPostgres();
    t = await startTestServer(pg ? { db: await pg.createDatabase(), sessionKey: randomBytes(32) } : {});
    await addUser(t, 'quin', { password: 'quin-password-1', quotaBytes: QUOTA });
    token = (await tokenFor(t, 'quin')).token;

    expect((await req('PUT', '/dav/a.txt', 'a'.repeat(1000))).status).toBe(201);
    expect((await req('MKCOL', '/dav/folder')).status).toBe(201);
    expect(await used()).toBe(1000);

    const big = 'x'.repeat(60_000);
    const onFolder = await patch('/dav/folder', setProps({ p1: big, p2: big }));
    expect(onFolder.status).toBe(207);
    expect(Object.values(multistatus(onFolder.text)[0].props).map((p) => p.status)).toEqual([200, 200]);
    const accent = 'é'.repeat(1000); // 2,000 bytes, 1,000 characters
    expect(multistatus((await patch('/dav/a.txt', setProps({ accent }))).text)[0].props.accent.status).toBe(200);
    let expected = 1000 + cost('p1', big) + cost('p2', big) + cost('accent', accent);
    expect(await used()).toBe(expected);
    const quotaProps = await dav(t.url, 'PROPFIND', '/dav/', { auth: QUIN, headers: { depth: '0' }, body: propfindNamed(['DAV:', 'quota-used-bytes'], ['DAV:', 'quota-available-bytes']) });
    const quotaOf = multistatus(quotaProps.text)[0].props;
    expect(Number(quotaOf['quota-used-bytes'].text)).toBe(expected);
    expect(Number(quotaOf['quota-available-bytes'].text)).toBe(QUOTA - expected);

    // Three more would pass the quota: all refused, nothing stored, usage unchanged.
    const over = await patch('/dav/a.txt', setProps({ q1: big, q2: big, q3: big }));
    expect(over.status).toBe(207);
    const props = multistatus(over.text)[0].props;
    expect([props.q1.status, props.q2.status, props.q3.status]).toEqual([507, 507, 507]);
    expect(over.text).toContain('FERRY_ERR_QUOTA_EXCEEDED');
    const found = await dav(t.url, 'PROPFIND', '/dav/a.txt', { auth: QUIN, headers: { depth: '0' }, body: propfindNamed([NS, 'q1'], [NS, 'accent']) });
    const stored = multistatus(found.text)[0].props;
    expect(stored.q1.status).toBe(404);
    expect(stored.accent.status).toBe(200);
    expect(await used()).toBe(expected);
    // Audited as uploads are: once for the request, with why.
    const [refused, ...more] = await refusals();
    expect(more).toEqual([]);
    expect(refused).toMatchObject({ ok: false, front: 'webdav', target: 'PROPPATCH /dav/a.txt' });
    expect(refused.details).toMatchObject({ limit: 'bytes', quota: QUOTA });
    expect(String(refused.details?.reason)).toMatch(/^quota exceeded: these properties/);

    // Uploads see the room the properties took.
    const room = QUOTA - expected;
    const tooBig = await t.api('/api/v1/files/b.bin', { method: 'PUT', body: randomBytes(room + 1), token });
    expect(tooBig.status).toBe(413);
    expect(((await tooBig.json()) as { error: { code: string } }).error.code).toBe('FERRY_ERR_QUOTA_EXCEEDED');
    expect((await t.api('/api/v1/files/b.bin', { method: 'PUT', body: randomBytes(room), token })).status).toBe(201);
    expected += room;
    expect(await used()).toBe(QUOTA);

    // Full: a property that adds bytes is refused; removing one frees its bytes.
    expect(multistatus((await patch('/dav/folder', setProps({ p3: 'y' }))).text)[0].props.p3.status).toBe(507);
    expect((await refusals()).map((e) => e.target)).toEqual(['PROPPATCH /dav/folder', 'PUT /api/v1/files/b.bin', 'PROPPATCH /dav/a.txt']);
    const removed = await patch('/dav/folder', '<D:remove><D:prop><Z:p1/></D:prop></D:remove>');
    expect(multistatus(removed.text)[0].props.p1.status).toBe(200);
    expect(await used()).toBe(expected - cost('p1', big));
    // A property over the largest value is 507 too, but no quota refusal.
    expect(multistatus((await patch('/dav/folder', setProps({ huge: 'z'.repeat(70_000) }))).text)[0].props.huge.status).toBe(507);
    expect(await refusals()).toHaveLength(3);
  });
});
