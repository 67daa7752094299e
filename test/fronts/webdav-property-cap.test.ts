/**
 * A user without a quota could grow the metadata store without end through WebDAV dead
 * properties: 256 properties of 64 KiB on every file and folder they make, and every COPY
 * duplicating them. The server's `davPropertyBytes` caps what one user's properties take,
 * all their files together, whatever their quota: each property counts its path, namespace,
 * name and value and 64 bytes, so many empty properties on long paths fill it too. Past it
 * a PROPPATCH stores nothing (507, the reason in the multistatus), a COPY is 413; removing
 * properties always works.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basic, dav, multistatus } from '../helpers/dav.js';
import { startTestServer, type TestServer } from '../helpers/in-process-server.js';
import { addUser, auditEvents, tokenFor } from '../helpers/users.js';

const CAP = 40_000;
const NS = 'urn:z';
let t: TestServer;
const NOA = basic('noa', 'noa-password-1');

const req = (method: string, path: string, init: { body?: string; headers?: Record<string, string> } = {}) => dav(t.url, method, path, { auth: NOA, ...init });
const patch = (path: string, inner: string) => req('PROPPATCH', path, { body: `<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="${NS}">${inner}</D:propertyupdate>` });
const setProps = (props: Record<string, string>) => `<D:set><D:prop>${Object.entries(props).map(([k, v]) => `<Z:${k}>${v}</Z:${k}>`).join('')}</D:prop></D:set>`;
const statuses = async (res: Promise<{ status: number; text: string }>) => {
  const r = await res;
  expect(r.status).toBe(207);
  return { codes: Object.values(multistatus(r.text)[0].props).map((p) => p.status), text: r.text };
};

beforeAll(async () => {
  t = await startTestServer({ davPropertyBytes: CAP });
  await addUser(t, 'noa', { password: 'noa-password-1' }); // no quota
  expect((await req('PUT', '/dav/a.txt', { body: 'a' })).status).toBe(201);
});
afterAll(async () => t?.close());

describe('the per-user cap on WebDAV dead properties, without a quota', () => {
  it('a PROPPATCH past it stores nothing and says why; removing frees room', async () => {
    const big = 'x'.repeat(15_000);
    expect((await statuses(patch('/dav/a.txt', setProps({ p1: big, p2: big })))).codes).toEqual([200, 200]);
    const over = await statuses(patch('/dav/a.txt', setProps({ p3: big })));
    expect(over.codes).toEqual([507]);
    expect(over.text).toContain('FERRY_ERR_QUOTA_EXCEEDED');
    expect(over.text).toContain('davPropertyBytes');
    const [refused] = await auditEvents(t, 'event=quota.exceeded&user=noa');
    expect(refused).toMatchObject({ ok: false, front: 'webdav' });
    // Removing always works, and then the same set fits.
    expect((await statuses(patch('/dav/a.txt', `<D:remove><D:prop><Z:p2/></D:prop></D:remove>`))).codes).toEqual([200]);
    expect((await statuses(patch('/dav/a.txt', setProps({ p3: big })))).codes).toEqual([200]);
  });

  it('a COPY that would duplicate properties past it is 413 and copies nothing', async () => {
    const copy = await req('COPY', '/dav/a.txt', { headers: { destination: `${t.url}/dav/b.txt` } });
    expect(copy.status).toBe(413);
    expect(copy.text).toContain('FERRY_ERR_QUOTA_EXCEEDED');
    expect((await req('PROPFIND', '/dav/b.txt', { headers: { depth: '0' } })).status).toBe(404);
    const noaToken = (await tokenFor(t, 'noa')).token;
    const native = await t.api('/api/v1/copy', { method: 'POST', json: { from: '/a.txt', to: '/c.txt' }, token: noaToken });
    expect(native.status).toBe(413);
    // Admins are not capped (their home, often /, holds everyone's properties).
    expect((await t.api('/api/v1/copy', { method: 'POST', json: { from: '/users/noa/a.txt', to: '/admin-copy.txt' } })).status).toBe(200);
  });

  it('empty properties on long paths count too', async () => {
    const long = '/dav/' + 'd'.repeat(200);
    expect((await req('MKCOL', long)).status).toBe(201);
    expect((await statuses(patch('/dav/a.txt', `<D:remove><D:prop><Z:p1/><Z:p3/></D:prop></D:remove>`))).codes).toEqual([200, 200]);
    // 150 empty properties: 1.2 KB of names and namespaces, but a 205-byte path and a row each.
    const empties = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`e${i}`, '']));
    expect((await statuses(patch(long, setProps(empties(150))))).codes.every((c) => c === 507)).toBe(true);
    expect((await statuses(patch(long, setProps(empties(100))))).codes.every((c) => c === 200)).toBe(true);
  });
});
