/**
 * A drop box never tells a visitor what its folder holds. Before the fix, sending a file under
 * a name already taken there answered `409 "NAME already exists here"`, so anyone holding the
 * link could probe the names of what others had dropped (or the owner keeps there), one PUT
 * each. Now a taken name (a file, a folder, a name differing only in its Unicode form) is
 * stored as "name (1).ext", nothing is replaced, and the visitor's answer is the same as for a
 * free name: their file, named as they sent it. Both ways in: `PUT /s/KEY/NAME` (curl) and the
 * page's chunked sessions.
 */
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileHashOf } from '../../src/core/manifest.js';
import { startTestServer, type TestServer } from '../helpers/in-process-server.js';
import { startPostgres } from '../helpers/postgres.js';
import { addUser, share, tokenFor } from '../helpers/users.js';

let t: TestServer;
let owner: string;
let box: { url: string; token: string };

async function ownerText(path: string): Promise<string | number> {
  const res = await t.api('/api/v1/files/inbox/' + encodeURIComponent(path), { token: owner });
  return res.status === 200 ? res.text() : res.status;
}

async function names(): Promise<string[]> {
  const res = await t.api('/api/v1/list/inbox', { token: owner });
  expect(res.status).toBe(200);
  const body = (await res.json()) as { name: string }[] | { entries: { name: string }[] };
  return (Array.isArray(body) ? body : body.entries).map((e) => e.name).sort();
}

/** The drop box page's way: a session of the chunk protocol, its one chunk, the commit. */
async function sendBySession(path: string, text: string): Promise<{ status: number; body: unknown }> {
  const data = Buffer.from(text);
  const refs = [{ hash: createHash('sha256').update(data).digest('hex'), size: data.length }];
  const created = await t.api('/api/v1/uploads', { method: 'POST', json: { path, size: data.length, hash: fileHashOf(refs), chunks: refs }, token: box.token });
  expect(created.status, await created.clone().text()).toBe(201);
  const { id } = (await created.json()) as { id: string };
  const put = await t.api(`/api/v1/uploads/${id}/chunks/${refs[0].hash}`, { method: 'PUT', body: data, token: box.token });
  expect(put.status).toBe(200);
  const commit = await t.api(`/api/v1/uploads/${id}/commit`, { method: 'POST', json: {}, token: box.token });
  return { status: commit.status, body: await commit.json() };
}

beforeAll(async () => {
  t = await startTestServer();
  await addUser(t, 'vera');
  owner = (await tokenFor(t, 'vera')).token;
  for (const p of ['/inbox/report.pdf', '/inbox/café.txt', '/inbox/README']) {
    expect((await t.api('/api/v1/files' + p, { method: 'PUT', body: 'the owner\'s ' + p, token: owner })).status).toBe(201);
  }
  expect((await t.api('/api/v1/mkdir/inbox/photos', { method: 'POST', token: owner })).status).toBe(201);
  const link = await share(t, owner, { path: '/inbox', kind: 'upload' });
  const res = await fetch(`${link.url}/unlock`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  expect(res.status).toBe(200);
  box = { url: link.url, token: ((await res.json()) as { token: string }).token };
});
afterAll(async () => t?.close());

describe("a drop box's taken names", () => {
  it('curl -T: a taken name answers as a free one, and the file is kept beside, nothing replaced', async () => {
    const answers: unknown[] = [];
    for (const name of ['report.pdf', 'free.pdf']) {
      const res = await fetch(`${box.url}/${name}`, { method: 'PUT', body: 'dropped' });
      expect(res.status).toBe(201);
      const body = (await res.json()) as { name: string; size: number };
      answers.push({ ...body, name: body.name.replace(name, 'NAME') });
    }
    expect(answers[0]).toEqual(answers[1]);
    expect(answers[0]).toMatchObject({ name: 'NAME', size: 7 });
    expect(await ownerText('report.pdf')).toBe("the owner's /inbox/report.pdf");
    expect(await ownerText('report (1).pdf')).toBe('dropped');
    expect(await ownerText('free.pdf')).toBe('dropped');
    // Again: the next free number. A folder's name and a name without an extension too.
    expect((await fetch(`${box.url}/report.pdf`, { method: 'PUT', body: 'second' })).status).toBe(201);
    expect(await ownerText('report (2).pdf')).toBe('second');
    expect((await fetch(`${box.url}/photos`, { method: 'PUT', body: 'not a folder' })).status).toBe(201);
    expect(await ownerText('photos (1)')).toBe('not a folder');
    expect((await fetch(`${box.url}/README`, { method: 'PUT', body: 'readme' })).status).toBe(201);
    expect(await ownerText('README (1)')).toBe('readme');
  });

  it("a name differing only in its Unicode form is taken too (no look-alike refusal to probe with)", async () => {
    const nfd = 'café.txt'.normalize('NFD');
    const res = await fetch(`${box.url}/${encodeURIComponent(nfd)}`, { method: 'PUT', body: 'decomposed' });
    expect(res.status, await res.clone().text()).toBe(201);
    expect(await ownerText('café.txt')).toBe("the owner's /inbox/café.txt");
    expect(await ownerText('café (1).txt'.normalize('NFD'))).toBe('decomposed');
  });

  it('a taken name of the longest kind (255 bytes) is shortened to fit its number, and stays readable', async () => {
    const long = 'é'.repeat(125) + '.txt'; // 254 bytes
    expect((await t.api('/api/v1/files/inbox/' + encodeURIComponent(long), { method: 'PUT', body: 'first', token: owner })).status).toBe(201);
    expect((await fetch(`${box.url}/${encodeURIComponent(long)}`, { method: 'PUT', body: 'second' })).status).toBe(201);
    const beside = (await names()).filter((n) => n.endsWith(' (1).txt') && n.startsWith('éé'));
    expect(beside).toHaveLength(1);
    expect(Buffer.byteLength(beside[0])).toBeLessThanOrEqual(255);
    expect(await ownerText(beside[0])).toBe('second');
    expect(await ownerText(long)).toBe('first');
    expect((await t.api('/api/v1/files/inbox/' + encodeURIComponent(long), { method: 'DELETE', token: owner })).status).toBe(204);
    expect((await t.api('/api/v1/files/inbox/' + encodeURIComponent(beside[0]), { method: 'DELETE', token: owner })).status).toBe(204);
  });

  it("the page's sessions: the commit answers the name as sent, the file is kept beside", async () => {
    const taken = await sendBySession('/report.pdf', 'by session');
    const free = await sendBySession('/other.pdf', 'by session');
    expect(taken.status).toBe(200);
    expect(free.status).toBe(200);
    // The same answer but for the name (and the commit's time).
    const shape = (b: unknown, name: string) => JSON.parse(JSON.stringify(b).replaceAll(name, 'NAME'), (k, v: unknown) => (k === 'mtime' ? 0 : v)) as unknown;
    expect(shape(taken.body, 'report.pdf')).toEqual(shape(free.body, 'other.pdf'));
    expect(taken.body).toMatchObject({ files: [{ path: '/report.pdf', name: 'report.pdf' }] });
    expect(await ownerText('report.pdf')).toBe("the owner's /inbox/report.pdf");
    expect(await ownerText('report (3).pdf')).toBe('by session');
    expect(await names()).toEqual(['README', 'README (1)', 'café (1).txt'.normalize('NFD'), 'café.txt', 'free.pdf', 'other.pdf', 'photos', 'photos (1)', 'report (1).pdf', 'report (2).pdf', 'report (3).pdf', 'report.pdf'].sort());
  });

  it("the owner's own uploads still refuse a taken name when asked not to overwrite", async () => {
    const res = await t.api('/api/v1/files/inbox/report.pdf?overwrite=0', { method: 'PUT', body: 'x', token: owner });
    expect(res.status).toBe(409);
  });

  it("an owner near their quota: a taken name gets no room a free one would not (no answer differs)", async () => {
    await addUser(t, 'quinn', { quotaBytes: 1000, quotaFiles: 1 });
    const quinn = (await tokenFor(t, 'quinn')).token;
    expect((await t.api('/api/v1/files/drop/taken.bin', { method: 'PUT', body: Buffer.alloc(600), token: quinn })).status).toBe(201);
    const link = await share(t, quinn, { path: '/drop', kind: 'upload' });
    const unlock = await fetch(`${link.url}/unlock`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    const visitor = ((await unlock.json()) as { token: string }).token;
    const open = async (path: string, size: number) => {
      const res = await t.api('/api/v1/uploads', { method: 'POST', json: { path, size }, token: visitor });
      return { status: res.status, code: ((await res.json()) as { error?: { code: string; details?: unknown } }).error };
    };
    // 600 + 500 bytes are over 1000 whatever the name (a taken name was credited its 600).
    expect(await open('/taken.bin', 500)).toEqual(await open('/free.bin', 500));
    expect((await open('/free.bin', 500)).status).toBe(413);
    // One file is the file limit: a new one is over it, and so is a taken name.
    expect(await open('/taken.bin', 10)).toEqual(await open('/free.bin', 10));
    expect((await open('/free.bin', 10)).status).toBe(413);
  });
});

describe('on PostgreSQL (the store picks the free name inside the commit)', () => {
  it('a taken name is kept beside, by curl and by session', async () => {
    const pg = await startPostgres();
    const srv = await startTestServer({ db: await pg.createDatabase(), sessionKey: randomBytes(32) });
    try {
      await addUser(srv, 'pia');
      const tok = (await tokenFor(srv, 'pia')).token;
      expect((await srv.api('/api/v1/files/in/a.txt', { method: 'PUT', body: 'mine', token: tok })).status).toBe(201);
      const link = await share(srv, tok, { path: '/in', kind: 'upload' });
      expect((await fetch(`${link.url}/a.txt`, { method: 'PUT', body: 'by curl' })).status).toBe(201);
      const unlock = await fetch(`${link.url}/unlock`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      const visitor = ((await unlock.json()) as { token: string }).token;
      const data = Buffer.from('by session');
      const refs = [{ hash: createHash('sha256').update(data).digest('hex'), size: data.length }];
      const created = await srv.api('/api/v1/uploads', { method: 'POST', json: { path: '/a.txt', size: data.length, hash: fileHashOf(refs), chunks: refs }, token: visitor });
      const { id } = (await created.json()) as { id: string };
      expect((await srv.api(`/api/v1/uploads/${id}/chunks/${refs[0].hash}`, { method: 'PUT', body: data, token: visitor })).status).toBe(200);
      const commit = await srv.api(`/api/v1/uploads/${id}/commit`, { method: 'POST', json: {}, token: visitor });
      expect(commit.status).toBe(200);
      expect(await commit.json()).toMatchObject({ files: [{ name: 'a.txt', path: '/a.txt' }] });
      const text = async (name: string) => (await srv.api('/api/v1/files/in/' + encodeURIComponent(name), { token: tok })).text();
      expect([await text('a.txt'), await text('a (1).txt'), await text('a (2).txt')]).toEqual(['mine', 'by curl', 'by session']);
      // Visitors sending one taken name at once each get a file of their own: none replaced.
      const bodies = Array.from({ length: 12 }, (_, i) => `visitor ${i}`);
      const sent = await Promise.all(bodies.map((body) => fetch(`${link.url}/b.txt`, { method: 'PUT', body })));
      expect(sent.map((r) => r.status)).toEqual(bodies.map(() => 201));
      const listing = (await (await srv.api('/api/v1/list/in', { token: tok })).json()) as { name: string }[] | { entries: { name: string }[] };
      const bs = (Array.isArray(listing) ? listing : listing.entries).map((e) => e.name).filter((n) => n.startsWith('b'));
      expect((await Promise.all(bs.map(text))).sort()).toEqual([...bodies].sort());
    } finally {
      await srv.close();
      await pg.stop();
    }
  });
});
