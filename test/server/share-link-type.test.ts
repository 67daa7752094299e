/**
 * A download link serves what it was made for. A link to a file went on to serve whatever
 * came to its path: once the file was deleted and a folder made there, anyone holding the old
 * link listed the folder, downloaded its files and zipped it (tried: the owner's private file
 * in the new folder came out through the file's link). A folder's link likewise does not
 * serve a file made at its path.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/in-process-server.js';
import { addUser, share, tokenFor } from '../helpers/users.js';

let t: TestServer;
let token: string;

const keyOf = (url: string) => url.split('/s/')[1];
const put = async (path: string, body: string) => expect((await t.api(`/api/v1/files${path}`, { method: 'PUT', body, token })).status).toBe(201);
const del = async (path: string) => expect((await t.api(`/api/v1/files${path}?recursive=1`, { method: 'DELETE', token })).status).toBe(204);
const visit = (key: string, rest = '', init: RequestInit = {}) => fetch(`${t.url}/s/${key}${rest}`, init);

beforeAll(async () => {
  t = await startTestServer();
  await addUser(t, 'ada');
  token = (await tokenFor(t, 'ada')).token;
});
afterAll(async () => t?.close());

describe("a link's target replaced by the other kind", () => {
  it("a file's link does not open a folder made at its path", async () => {
    await put('/report', 'the report, shared');
    const key = keyOf((await share(t, token, { path: '/report' })).url);
    const before = await visit(key);
    expect(before.status).toBe(200);
    expect(await before.text()).toBe('the report, shared');

    await del('/report');
    await put('/report/private.txt', 'not for the link');
    for (const [rest, init] of [
      ['', { headers: { accept: 'application/json' } }],
      ['?format=json', {}],
      ['/private.txt', {}],
      ['?zip=1', {}],
      ['/', {}],
    ] as const) {
      const res = await visit(key, rest, init);
      const text = await res.text();
      // The link itself: gone, as the file it shared is; a name inside it: not in the link.
      expect(res.status, `${rest}: ${text}`).toBe(rest === '/private.txt' ? 404 : 410);
      expect(text).not.toContain('not for the link');
      // Its name only where the request named it.
      if (rest !== '/private.txt') expect(text).not.toContain('private');
    }
    // The owner sees the folder as ever.
    expect((await t.api('/api/v1/files/report/private.txt', { token })).status).toBe(200);
  });

  it("a folder's link does not serve a file made at its path", async () => {
    await put('/album/a.txt', 'a');
    const key = keyOf((await share(t, token, { path: '/album' })).url);
    expect((await visit(key, '/a.txt')).status).toBe(200);
    await del('/album');
    await put('/album', 'a file now');
    const res = await visit(key);
    expect(res.status).toBe(410);
    expect(await res.text()).not.toContain('a file now');
  });

  it("a link whose file or folder was deleted says so (410, naming no path), and works again once it is back", async () => {
    await put('/gone/minutes.txt', 'the minutes');
    const fileKey = keyOf((await share(t, token, { path: '/gone/minutes.txt' })).url);
    const folderKey = keyOf((await share(t, token, { path: '/gone' })).url);
    await del('/gone');
    for (const [key, what] of [
      [fileKey, 'the file'],
      [folderKey, 'the folder'],
    ] as const) {
      for (const [rest, init] of [
        ['', {}],
        ['', { method: 'HEAD' }],
        ['?format=json', {}],
        ['?zip=1', {}],
      ] as const) {
        const res = await visit(key, rest, init);
        expect(res.status, `${what}${rest}`).toBe(410);
        if (init.method === 'HEAD') continue;
        // It was "/: not in this share" (404), which the app showed as "No such link".
        expect(await res.json()).toEqual({ error: { code: 'FERRY_ERR_GONE', message: `${what} this link shares is no longer there (deleted or moved)` } });
      }
    }
    // A name inside a folder's link that is not there is still not found.
    expect((await visit(folderKey, '/nope.txt')).status).toBe(404);
    await put('/gone/minutes.txt', 'the minutes, again');
    expect(await (await visit(fileKey)).text()).toBe('the minutes, again');
    expect((await visit(folderKey, '?format=json')).status).toBe(200);
  });

  it('a file replaced by a file is still served (the link follows its path)', async () => {
    await put('/notes.txt', 'first');
    const key = keyOf((await share(t, token, { path: '/notes.txt' })).url);
    await put('/notes.txt', 'second');
    const res = await visit(key);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('second');
  });
});
