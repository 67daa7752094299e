/**
 * The WebDAV front (/dav/) at the protocol level: authentication (password, token, Bearer),
 * the same authorization, quotas and audit as the native API, uploads through the chunk
 * store with dedup and an atomic commit, ranged downloads and ETags, PROPFIND/PROPPATCH,
 * COPY/MOVE, locks with If headers, and bad input (paths, XML bombs, lying lengths) answered
 * with a clear error while the server goes on serving. litmus and rclone have suites of
 * their own (webdav-litmus, webdav-rclone).
 */
import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_LOCKS_PER_USER } from '../../src/server/dav/lock.js';
import { DEFAULT_DEFENDER } from '../../src/server/defender.js';
import { basic, dav, lockBody, multistatus, propfindNamed, PROPFIND_ALL, type DavInit } from '../helpers/dav.js';
import { startTestServer, type TestServer } from '../helpers/in-process-server.js';
import { addUser, auditEvents, tokenFor } from '../helpers/users.js';

const run = promisify(execFile);
let t: TestServer;
let clock = Date.now();
const ALICE = basic('alice', 'alice-password-1');
let aliceToken = '';

const req = (method: string, path: string, init: DavInit = {}) => dav(t.url, method, path, { auth: ALICE, ...init });

async function chunksReceived(): Promise<number> {
  const text = await (await t.api('/metrics')).text();
  return Number(/^ferry_chunks_received_total (\d+)/m.exec(text)?.[1] ?? NaN);
}

async function aliceStat(path: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const r = await t.api(`/api/v1/stat${path.split('/').map(encodeURIComponent).join('/')}`, { token: aliceToken });
  return { status: r.status, body: (await r.json()) as Record<string, unknown> };
}

beforeAll(async () => {
  t = await startTestServer({ now: () => clock });
  await addUser(t, 'alice', { password: 'alice-password-1' });
  await addUser(t, 'bob', { password: 'bob-password-1' });
  aliceToken = (await tokenFor(t, 'alice')).token;
});
afterAll(async () => t?.close());

describe('WebDAV: authentication and authorization', () => {
  it('OPTIONS is public and announces class 1 and 2', async () => {
    const r = await dav(t.url, 'OPTIONS', '/dav/');
    expect(r.status).toBe(200);
    expect(r.headers.dav).toBe('1, 2');
    expect(String(r.headers.allow)).toContain('PROPFIND');
    expect(String(r.headers.allow)).toContain('LOCK');
  });

  it('a method the share does not serve is 405 with Allow, not 404 (which clients take for a missing file)', async () => {
    expect((await req('PUT', '/dav/m405.txt', { body: 'kept' })).status).toBe(201);
    for (const method of ['POST', 'PATCH', 'REPORT', 'SEARCH']) {
      for (const path of ['/dav/m405.txt', '/dav/', '/dav']) {
        const r = await req(method, path, { body: method === 'POST' || method === 'PATCH' ? 'x' : undefined });
        expect(r.status, `${method} ${path}`).toBe(405);
        expect(String(r.headers.allow).split(', ')).toEqual(expect.arrayContaining(['OPTIONS', 'PROPFIND', 'PUT', 'LOCK']));
        expect(JSON.parse(r.text).error.code).toBe('FERRY_ERR_METHOD_NOT_ALLOWED');
      }
    }
    // A partial PUT (Content-Range) is refused, not stored as the whole file
    const partial = await req('PUT', '/dav/m405.txt', { body: 'XY', headers: { 'content-range': 'bytes 0-1/4' } });
    expect(partial.status).toBe(400);
    expect(JSON.parse(partial.text).error.code).toBe('FERRY_ERR_VALIDATION');
    expect((await req('GET', '/dav/m405.txt')).text).toBe('kept');
    // Outside the share, an unknown route is still 404
    expect((await req('PATCH', '/nowhere')).status).toBe(404);
  });

  it("Windows' WebDAV client: OPTIONS / (asked before the share's URL) announces WebDAV, then the share answers as Windows asks", async () => {
    // What Microsoft-WebDAV-MiniRedir sends on "Map network drive" https://server/dav/: OPTIONS
    // of the server's root (a 404 there is error 0x80070043), then PROPFIND of the share
    // without its trailing slash, with Translate: f.
    const windows = { 'user-agent': 'Microsoft-WebDAV-MiniRedir/10.0.19045', translate: 'f' };
    const root = await dav(t.url, 'OPTIONS', '/', { headers: windows });
    expect(root.status).toBe(200);
    expect(root.headers.dav).toBe('1, 2');
    expect(root.headers['ms-author-via']).toBe('DAV');
    expect(String(root.headers.allow)).toContain('PROPFIND');
    expect(root.body.length).toBe(0);
    const listing = await req('PROPFIND', '/dav', { headers: { ...windows, depth: '0' } });
    expect(listing.status).toBe(207);
    expect(multistatus(listing.text).map((e) => e.href)).toEqual(['/dav/']);
    // A client given the server's address finds the share at its root; nothing else of the
    // root is a share (the rest is the web app's).
    const rootListing = await req('PROPFIND', '/', { headers: { ...windows, depth: '1' } });
    expect(rootListing.status).toBe(207);
    expect(multistatus(rootListing.text).map((e) => e.href)).toEqual(['/', '/dav/']);
    expect(multistatus((await req('PROPFIND', '/', { headers: { ...windows, depth: '0' } })).text).map((e) => e.href)).toEqual(['/']);
    expect((await req('MKCOL', '/made-at-root')).status).toBe(404);
    expect((await req('PUT', '/at-root.txt', { body: 'x' })).status).toBe(404);
  });

  it('takes the password, an API token as the password, or a Bearer token; anything else gets a Basic challenge, audited as webdav', async () => {
    expect((await req('PROPFIND', '/dav/', { headers: { depth: '0' } })).status).toBe(207);
    expect((await dav(t.url, 'PROPFIND', '/dav/', { auth: basic('alice', aliceToken), headers: { depth: '0' } })).status).toBe(207);
    expect((await dav(t.url, 'PROPFIND', '/dav/', { auth: `Bearer ${aliceToken}`, headers: { depth: '0' } })).status).toBe(207);
    // A token is alice's only under her own name.
    expect((await dav(t.url, 'PROPFIND', '/dav/', { auth: basic('bob', aliceToken), headers: { depth: '0' } })).status).toBe(401);
    const none = await dav(t.url, 'PROPFIND', '/dav/', { headers: { depth: '0' } });
    expect(none.status).toBe(401);
    expect(none.headers['www-authenticate']).toMatch(/^Basic realm="Ferry"/);
    const wrong = await dav(t.url, 'PROPFIND', '/dav/', { auth: basic('alice', 'not-it'), headers: { depth: '0' } });
    expect(wrong.status).toBe(401);
    expect(wrong.headers['www-authenticate']).toMatch(/^Basic/);
    expect(JSON.parse(wrong.text).error.code).toBe('FERRY_ERR_AUTH_INVALID');
    const failure = (await auditEvents(t, 'event=auth.failure')).find((e) => e.user === 'alice');
    expect(failure?.front).toBe('webdav');
  });

  it('a password change or a disabled account takes effect at once, though verified passwords are remembered', async () => {
    await addUser(t, 'carol', { password: 'carol-password-1' });
    const carol = basic('carol', 'carol-password-1');
    expect((await dav(t.url, 'PROPFIND', '/dav/', { auth: carol, headers: { depth: '0' } })).status).toBe(207);
    expect((await t.api('/api/v1/users/carol/password', { method: 'PUT', json: { password: 'carol-password-2' } })).status).toBe(204);
    expect((await dav(t.url, 'PROPFIND', '/dav/', { auth: carol, headers: { depth: '0' } })).status).toBe(401);
    const carol2 = basic('carol', 'carol-password-2');
    expect((await dav(t.url, 'PROPFIND', '/dav/', { auth: carol2, headers: { depth: '0' } })).status).toBe(207);
    expect((await t.api('/api/v1/users/carol', { method: 'PATCH', json: { disabled: true } })).status).toBe(200);
    expect((await dav(t.url, 'PROPFIND', '/dav/', { auth: carol2, headers: { depth: '0' } })).status).toBe(401);
  });

  it('a read-only token reads but cannot write; another user cannot name alice’s files', async () => {
    expect((await req('PUT', '/dav/private.txt', { body: 'alice only' })).status).toBe(201);
    const ro = (await tokenFor(t, 'alice', { scopes: ['list', 'read'] })).token;
    const asRo = basic('alice', ro);
    expect((await dav(t.url, 'GET', '/dav/private.txt', { auth: asRo })).text).toBe('alice only');
    const put = await dav(t.url, 'PUT', '/dav/private.txt', { auth: asRo, body: 'overwritten' });
    expect(put.status).toBe(403);
    expect((await dav(t.url, 'DELETE', '/dav/private.txt', { auth: asRo })).status).toBe(403);
    expect((await req('GET', '/dav/private.txt')).text).toBe('alice only');
    const denied = (await auditEvents(t, 'event=access.denied')).find((e) => e.target === 'PUT /dav/private.txt');
    expect(denied?.front).toBe('webdav');
    // bob's /dav/ is his own home: alice's file is not there, and no path reaches it.
    const bob = basic('bob', 'bob-password-1');
    expect((await dav(t.url, 'GET', '/dav/private.txt', { auth: bob })).status).toBe(404);
    expect((await dav(t.url, 'GET', '/dav/../alice/private.txt', { auth: bob })).status).toBe(400);
    expect((await dav(t.url, 'GET', '/dav/%2e%2e/alice/private.txt', { auth: bob })).status).toBe(400);
  });
});

describe('WebDAV: files', () => {
  it('PUT stores chunks with dedup and a commit; GET and HEAD serve it with Range; ETags agree everywhere', async () => {
    const data = randomBytes(6 * 1024 * 1024 + 11);
    const put = await req('PUT', '/dav/f/a.bin', { body: data });
    expect(put.status).toBe(409); // no /f yet: RFC 4918 9.7.1
    expect((await req('MKCOL', '/dav/f/')).status).toBe(201);
    const created = await req('PUT', '/dav/f/a.bin', { body: data });
    expect(created.status).toBe(201);
    const etag = created.headers.etag;
    expect(etag).toMatch(/^"[0-9a-f]{32}"$/);
    const got = await req('GET', '/dav/f/a.bin');
    expect(got.status).toBe(200);
    expect(got.body.equals(data)).toBe(true);
    expect(got.headers.etag).toBe(etag);
    const part = await req('GET', '/dav/f/a.bin', { headers: { range: 'bytes=4194300-4194400' } });
    expect(part.status).toBe(206);
    expect(part.body.equals(data.subarray(4194300, 4194401))).toBe(true);
    expect((await req('HEAD', '/dav/f/a.bin')).headers['content-length']).toBe(String(data.length));
    expect((await req('GET', '/dav/f/a.bin', { headers: { 'if-none-match': String(etag) } })).status).toBe(304);
    const index = await req('GET', '/dav/f/');
    expect(index.headers['content-type']).toMatch(/^text\/html/);
    expect(index.text).toContain('href="/dav/f/a.bin"');
    const [entry] = multistatus((await req('PROPFIND', '/dav/f/a.bin', { headers: { depth: '0' }, body: PROPFIND_ALL })).text);
    expect(entry.props.getetag.text).toBe(etag);
    expect(entry.props.getcontentlength.text).toBe(String(data.length));
    // The same bytes elsewhere: every chunk already stored, none received again.
    const before = await chunksReceived();
    expect((await req('PUT', '/dav/f/b.bin', { body: data })).status).toBe(201);
    expect(await chunksReceived()).toBe(before);
    // Stored as server-cut chunks, the same manifest as the first copy (and a CLI upload would make).
    const m = (await (await t.api('/api/v1/manifests/f/b.bin', { token: aliceToken })).json()) as { chunks: unknown[]; hash: string };
    expect(m.chunks.length).toBeGreaterThan(1);
    expect(`"${m.hash.slice(0, 32)}"`).toBe(etag);
    expect((await req('PUT', '/dav/f/b.bin', { body: 'part', headers: { 'content-range': 'bytes 0-3/10' } })).status).toBe(400);
    // Replacing: 204.
    expect((await req('PUT', '/dav/f/b.bin', { body: 'small' })).status).toBe(204);
    expect((await req('GET', '/dav/f/b.bin')).text).toBe('small');
  });

  it('a reader sees the old file while a PUT streams; a PUT cut short leaves nothing and no session', async () => {
    const old = Buffer.from('the old content');
    expect((await req('PUT', '/dav/atomic.txt', { body: old })).status).toBe(201);
    const u = new URL(t.url);
    const cut = request({ host: u.hostname, port: u.port, method: 'PUT', path: '/dav/atomic.txt', headers: { authorization: ALICE, 'content-length': String(8 * 1024 * 1024) } });
    cut.on('error', () => undefined);
    cut.write(randomBytes(5 * 1024 * 1024));
    const alice = await t.server.ctx.users.userByName('alice');
    // Wait until the server is inside the upload (its session exists), then read.
    for (let i = 0; i < 200 && (await t.server.ctx.meta.countUploads(alice!.id)) === 0; i++) await new Promise((r) => setTimeout(r, 25));
    expect(await t.server.ctx.meta.countUploads(alice!.id)).toBe(1);
    expect((await req('GET', '/dav/atomic.txt')).body.equals(old)).toBe(true);
    cut.destroy();
    for (let i = 0; i < 200 && (await t.server.ctx.meta.countUploads(alice!.id)) > 0; i++) await new Promise((r) => setTimeout(r, 25));
    expect(await t.server.ctx.meta.countUploads(alice!.id)).toBe(0);
    expect((await req('GET', '/dav/atomic.txt')).body.equals(old)).toBe(true);
  });

  it('a lying Content-Length: a body that ends early stores nothing; extra bytes are not part of the file', async () => {
    const u = new URL(t.url);
    const raw = (text: string) =>
      new Promise<string>((resolve) => {
        const s = connect(Number(u.port), u.hostname, () => s.end(text));
        let out = '';
        s.on('data', (d) => (out += d.toString('latin1')));
        s.on('close', () => resolve(out));
        s.on('error', () => resolve(out));
      });
    // 1000 bytes announced, 10 sent, then the client closes its side.
    await raw(`PUT /dav/short.bin HTTP/1.1\r\nHost: x\r\nAuthorization: ${ALICE}\r\nContent-Length: 1000\r\n\r\n0123456789`);
    expect((await req('GET', '/dav/short.bin')).status).toBe(404);
    // 5 announced, 20 sent: the file is the 5; the rest is read as a (bad) next request.
    const answer = await new Promise<string>((resolve) => {
      const s = connect(Number(u.port), u.hostname, () => s.write(`PUT /dav/long.bin HTTP/1.1\r\nHost: x\r\nAuthorization: ${ALICE}\r\nContent-Length: 5\r\n\r\nABCDE`));
      let out = '';
      s.on('data', (d) => {
        out += d.toString('latin1');
        if (/^HTTP\/1\.1 201[^]*\r\n\r\n/.test(out) && !s.writableEnded) s.end('fghijklmnopqrst\r\n\r\n');
      });
      s.on('close', () => resolve(out));
      s.on('error', () => resolve(out));
    });
    expect(answer).toMatch(/^HTTP\/1\.1 201/);
    expect(answer).toMatch(/HTTP\/1\.1 400/);
    expect((await req('GET', '/dav/long.bin')).text).toBe('ABCDE');
    expect((await req('PROPFIND', '/dav/', { headers: { depth: '0' } })).status).toBe(207);
  });

  it('a chunked PUT with X-Expected-Entity-Length (macOS Finder) must bring that many bytes', async () => {
    const u = new URL(t.url);
    const chunked = (path: string, expected: number, parts: Buffer[]) =>
      new Promise<number>((resolve, reject) => {
        const r = request({ host: u.hostname, port: u.port, method: 'PUT', path, headers: { authorization: ALICE, 'transfer-encoding': 'chunked', 'x-expected-entity-length': String(expected) } }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode!));
        });
        r.on('error', reject);
        for (const p of parts) r.write(p);
        r.end();
      });
    const parts = [randomBytes(100_000), randomBytes(50_000)];
    expect(await chunked('/dav/finder.bin', 150_000, parts)).toBe(201);
    expect((await req('GET', '/dav/finder.bin')).body.equals(Buffer.concat(parts))).toBe(true);
    expect(await chunked('/dav/finder-short.bin', 150_001, parts)).toBe(400);
    expect((await req('GET', '/dav/finder-short.bin')).status).toBe(404);
  });

  it('Expect: 100-continue (curl): a PUT to be refused is answered before the body is sent; an accepted one gets 100 Continue, then stores it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ferry-dav-expect-'));
    const file = join(dir, 'e100.bin');
    const bytes = randomBytes(3 * 1024 * 1024);
    await writeFile(file, bytes);
    // curl waits up to --expect100-timeout for the 100 before it sends the body anyway;
    // size_upload is what it sent of the body.
    const curl = async (...args: string[]): Promise<string> =>
      (await run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code} %{size_upload}', '-H', 'Expect: 100-continue', '--expect100-timeout', '60', '-T', file, ...args])).stdout;
    try {
      expect(await curl(`${t.url}/dav/e100.bin`)).toBe('401 0');
      expect(await curl('-u', 'alice:alice-password-1', `${t.url}/dav/no-such-folder/e100.bin`)).toBe('409 0');
      expect(await curl('-u', 'alice:alice-password-1', `${t.url}/dav/e100.bin`)).toBe(`201 ${bytes.length}`);
      expect((await req('GET', '/dav/e100.bin')).body.equals(bytes)).toBe(true);
      // The connection of a refused request is not reused (its client might still send the
      // body); the next request still works.
      expect((await req('PROPFIND', '/dav/e100.bin', { headers: { depth: '0' } })).status).toBe(207);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('quota and the largest file apply to PUT: the client reads 413, nothing is visible, the refusal is audited', async () => {
    await addUser(t, 'quinn', { password: 'quinn-password-1', quotaBytes: 2 * 1024 * 1024 });
    const quinn = basic('quinn', 'quinn-password-1');
    const big = await dav(t.url, 'PUT', '/dav/big.bin', { auth: quinn, body: randomBytes(6 * 1024 * 1024) });
    expect(big.status).toBe(413);
    expect(big.headers.connection).toBe('close'); // the rest of the body is not read
    expect(JSON.parse(big.text).error.code).toBe('FERRY_ERR_QUOTA_EXCEEDED');
    expect((await dav(t.url, 'GET', '/dav/big.bin', { auth: quinn })).status).toBe(404);
    const audit = (await auditEvents(t, 'event=quota.exceeded')).find((e) => e.user === 'quinn');
    expect(audit?.front).toBe('webdav');
    await addUser(t, 'max', { password: 'max-password-1', maxFileSize: 1000 });
    const over = await dav(t.url, 'PUT', '/dav/x.bin', { auth: basic('max', 'max-password-1'), body: randomBytes(5000) });
    expect(over.status).toBe(413);
    expect(JSON.parse(over.text).error.code).toBe('FERRY_ERR_PAYLOAD_TOO_LARGE');
  });

  it('refuses .., NUL, %2F, fragments and Destinations outside the share; nothing lands outside the home', async () => {
    for (const path of ['/dav/../x', '/dav/a/%2e%2e/%2e%2e/x', '/dav/a%00b', '/dav/a%2Fb', '/dav/frag/#x', '/dav/%ff']) {
      const r = await req('PUT', path, { body: 'x' });
      expect(r.status, path).toBe(400);
      expect(JSON.parse(r.text).error.code, path).toBe('FERRY_ERR_PATH_INVALID');
    }
    expect((await req('PUT', '/dav/src.txt', { body: 'x' })).status).toBe(201);
    for (const destination of ['/dav/../../etc/x', `${t.url}/api/v1/files/x`, `${t.url}/dav/a/../../../x`]) {
      const r = await req('MOVE', '/dav/src.txt', { headers: { destination } });
      expect(r.status, destination).toBe(400);
    }
    expect((await req('DELETE', '/dav/frag/#x')).status).toBe(400);
    // Everything alice did is inside /users/alice.
    const root = (await (await t.api('/api/v1/list')).json()) as { entries: { path: string }[] };
    expect(root.entries.map((e) => e.path)).toEqual(['/users']);
  });
});

describe('WebDAV: PROPFIND and PROPPATCH', () => {
  it('Depth 0 and 1 (a large collection, streamed in pages); infinity refused; named, allprop and propname', async () => {
    // 2,500 small files in one batch upload (one shared chunk), then one listing.
    const one = Buffer.from('same');
    const chunk = { hash: (await import('node:crypto')).createHash('sha256').update(one).digest('hex'), size: 4 };
    const { fileHashOf } = await import('../../src/core/manifest.js');
    const files = Array.from({ length: 2500 }, (_, i) => ({ path: `/many/f${String(i).padStart(4, '0')}`, size: 4, hash: fileHashOf([chunk]), chunks: [chunk] }));
    const up = (await (await t.api('/api/v1/uploads', { method: 'POST', json: { files }, token: aliceToken })).json()) as { id: string; missing: string[] };
    if (up.missing.length) expect((await t.api(`/api/v1/uploads/${up.id}/chunks/${chunk.hash}`, { method: 'PUT', body: one, headers: { 'content-type': 'application/octet-stream' }, token: aliceToken })).status).toBe(200);
    expect((await t.api(`/api/v1/uploads/${up.id}/commit`, { method: 'POST', json: {}, token: aliceToken })).status).toBe(200);

    const list = await req('PROPFIND', '/dav/many/', { headers: { depth: '1' } });
    expect(list.status).toBe(207);
    const entries = multistatus(list.text);
    expect(entries.length).toBe(2501);
    expect(entries[0].href).toBe('/dav/many/');
    expect(entries[0].props.resourcetype.value).toHaveProperty('collection');
    expect(entries[2500].href).toBe('/dav/many/f2499');
    expect(entries[2500].props.getcontentlength.text).toBe('4');

    for (const depth of ['infinity', undefined]) {
      const r = await req('PROPFIND', '/dav/many/', depth ? { headers: { depth } } : {});
      expect(r.status).toBe(403);
      expect(JSON.parse(r.text).error.code).toBe('FERRY_ERR_DEPTH_INFINITY');
    }
    const named = multistatus((await req('PROPFIND', '/dav/many/f0001', { headers: { depth: '0' }, body: propfindNamed(['DAV:', 'getcontentlength'], ['urn:x', 'nothere'], ['DAV:', 'quota-used-bytes']) })).text)[0];
    expect(named.props.getcontentlength).toMatchObject({ status: 200, text: '4' });
    expect(named.props.nothere.status).toBe(404);
    expect(Number(named.props['quota-used-bytes'].text)).toBeGreaterThan(10_000);
    const names = multistatus((await req('PROPFIND', '/dav/many/f0001', { headers: { depth: '0' }, body: '<propfind xmlns="DAV:"><propname/></propfind>' })).text)[0];
    expect(Object.keys(names.props)).toEqual(expect.arrayContaining(['resourcetype', 'getetag', 'getlastmodified', 'lockdiscovery', 'supportedlock']));
    expect((await req('PROPFIND', '/dav/nothing-here', { headers: { depth: '0' } })).status).toBe(404);
  });

  it('XML bombs, external entities, huge and deep bodies are refused at once, and the server goes on serving', async () => {
    const laughs =
      '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">' +
      '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;"><!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]>' +
      '<D:propfind xmlns:D="DAV:"><D:prop><x xmlns="urn:x">&lol9;</x></D:prop></D:propfind>';
    const xxe = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><p xmlns="urn:x">&e;</p></D:prop></D:set></D:propertyupdate>';
    const deep = '<D:propfind xmlns:D="DAV:">' + '<a>'.repeat(1000) + '</a>'.repeat(1000) + '</D:propfind>';
    expect((await req('PUT', '/dav/props.txt', { body: 'p' })).status).toBe(201);
    for (const [method, body] of [['PROPFIND', laughs], ['PROPPATCH', xxe], ['PROPFIND', deep], ['LOCK', laughs]] as const) {
      const r = await req(method, '/dav/props.txt', { headers: { depth: '0', 'content-type': 'application/xml' }, body });
      expect(r.status, method).toBe(400);
      expect(r.text).not.toContain('root:');
    }
    const huge = await req('PROPPATCH', '/dav/props.txt', { body: '<a>' + 'x'.repeat(2 * 1024 * 1024) + '</a>' });
    expect(huge.status).toBe(413);
    expect(huge.text).toContain('FERRY_ERR_PAYLOAD_TOO_LARGE');
    // Markup costs the parser by the element, text hardly: 1 MiB of empty elements is refused
    // before parsing (it took 3.4 s of the server's only thread), 1 MiB of text is not.
    const flood = (tag: string, bytes: number) => `<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:z"><D:set><D:prop>${tag.repeat(Math.floor(bytes / tag.length))}</D:prop></D:set></D:propertyupdate>`;
    for (const method of ['PROPPATCH', 'PROPFIND', 'LOCK']) {
      const r = await req(method, '/dav/props.txt', { headers: { depth: '0' }, body: flood('<Z:a/>', 1000 * 1024) });
      expect(r.status, method).toBe(413);
      expect(JSON.parse(r.text).error).toMatchObject({ code: 'FERRY_ERR_PAYLOAD_TOO_LARGE', details: { maxElements: 10_000 } });
    }
    const text = await req('PROPPATCH', '/dav/props.txt', { body: flood('<Z:t>' + 'x'.repeat(60_000) + '</Z:t>', 1000 * 1024) });
    expect(text.status).toBe(207);
    // Within the markup but more sets than a resource may hold, set and removed: 400 before any is stored.
    const many = await req('PROPPATCH', '/dav/props.txt', { body: flood('<Z:b/>', 600 * 6) });
    expect(many.status).toBe(400);
    expect(many.text).toContain('at most 512');
    const stored = multistatus((await req('PROPFIND', '/dav/props.txt', { headers: { depth: '0' }, body: PROPFIND_ALL })).text)[0];
    expect(Object.keys(stored.props)).not.toContain('p');
  });

  it('a PROPFIND names at most 512 distinct properties (each is answered for every member of a listing)', async () => {
    expect((await req('MKCOL', '/dav/named/')).status).toBe(201);
    for (const name of ['a', 'b', 'c']) expect((await req('PUT', `/dav/named/${name}.txt`, { body: name })).status).toBe(201);
    const names = (n: number) => Array.from({ length: n }, (_, i): [string, string] => ['urn:z', `p${i}`]);
    const most = await req('PROPFIND', '/dav/named/', { headers: { depth: '1' }, body: propfindNamed(...names(512)) });
    expect(most.status).toBe(207);
    const answered = multistatus(most.text);
    expect(answered).toHaveLength(4);
    expect(Object.keys(answered[3].props)).toHaveLength(512);
    // A name repeated counts once.
    expect((await req('PROPFIND', '/dav/named/', { headers: { depth: '1' }, body: propfindNamed(...Array.from({ length: 5000 }, (): [string, string] => ['urn:z', 'p1'])) })).status).toBe(207);
    const include = (n: number) => `<propfind xmlns="DAV:"><allprop/><include>${names(n).map(([ns, l]) => `<${l} xmlns="${ns}"/>`).join('')}</include></propfind>`;
    for (const body of [propfindNamed(...names(513)), include(513)]) {
      const r = await req('PROPFIND', '/dav/named/', { headers: { depth: '1' }, body });
      expect(r.status).toBe(400);
      expect(JSON.parse(r.text).error).toMatchObject({ code: 'FERRY_ERR_VALIDATION', details: { max: 512 } });
    }
    expect((await req('PROPFIND', '/dav/named/', { headers: { depth: '1' }, body: include(512) })).status).toBe(207);
  });

  it('dead properties follow the file through moves, copies and deletes of any front; live ones are protected', async () => {
    const patch = (path: string, inner: string) => req('PROPPATCH', path, { body: `<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:z">${inner}</D:propertyupdate>` });
    expect((await req('PUT', '/dav/pp.txt', { body: 'x' })).status).toBe(201);
    const set = await patch('/dav/pp.txt', '<D:set><D:prop><Z:color>blue</Z:color><Z:tree><leaf xmlns="urn:leaf">1</leaf></Z:tree></D:prop></D:set>');
    expect(set.status).toBe(207);
    expect(multistatus(set.text)[0].props.color.status).toBe(200);
    const colorOf = async (path: string) => multistatus((await req('PROPFIND', path, { headers: { depth: '0' }, body: propfindNamed(['urn:z', 'color']) })).text)[0]?.props.color;
    expect(await colorOf('/dav/pp.txt')).toMatchObject({ status: 200, text: 'blue' });
    // The native API moves and copies; the properties come along.
    expect((await t.api('/api/v1/move', { method: 'POST', json: { from: '/pp.txt', to: '/pp2.txt' }, token: aliceToken })).status).toBe(200);
    expect(await colorOf('/dav/pp2.txt')).toMatchObject({ status: 200, text: 'blue' });
    expect((await t.api('/api/v1/copy', { method: 'POST', json: { from: '/pp2.txt', to: '/pp3.txt' }, token: aliceToken })).status).toBe(200);
    expect(await colorOf('/dav/pp3.txt')).toMatchObject({ status: 200, text: 'blue' });
    // Deleted by the native API: a new file at the path starts without them.
    expect((await t.api('/api/v1/files/pp2.txt', { method: 'DELETE', token: aliceToken })).status).toBe(204);
    expect((await req('PUT', '/dav/pp2.txt', { body: 'y' })).status).toBe(201);
    expect((await colorOf('/dav/pp2.txt'))?.status).toBe(404);
    // A protected property fails the whole PROPPATCH: 403 for it, 424 for the rest, nothing stored.
    const bad = await patch('/dav/pp3.txt', '<D:set><D:prop><Z:color>red</Z:color><D:resourcetype/></D:prop></D:set>');
    const props = multistatus(bad.text)[0].props;
    expect([props.resourcetype.status, props.color.status]).toEqual([403, 424]);
    expect(await colorOf('/dav/pp3.txt')).toMatchObject({ text: 'blue' });
    // getlastmodified is how a client keeps a file's time.
    expect((await patch('/dav/pp3.txt', '<D:set><D:prop><D:getlastmodified>Tue, 02 Jan 2024 03:04:05 GMT</D:getlastmodified></D:prop></D:set>')).status).toBe(207);
    expect((await aliceStat('/pp3.txt')).body.mtime).toBe(Date.UTC(2024, 0, 2, 3, 4, 5));
    expect((await req('GET', '/dav/pp3.txt')).headers['last-modified']).toBe('Tue, 02 Jan 2024 03:04:05 GMT');
    // Windows keeps times in its own property: kept as a dead property, and it sets the file's time.
    const win = await req('PROPPATCH', '/dav/pp3.txt', {
      body: '<D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:schemas-microsoft-com:"><D:set><D:prop><Z:Win32LastModifiedTime>Wed, 03 Jan 2024 04:05:06 GMT</Z:Win32LastModifiedTime></D:prop></D:set></D:propertyupdate>',
    });
    expect(multistatus(win.text)[0].props.Win32LastModifiedTime.status).toBe(200);
    expect((await aliceStat('/pp3.txt')).body.mtime).toBe(Date.UTC(2024, 0, 3, 4, 5, 6));
    // A value over 64 KiB, or more than 256 properties on one resource: 507, nothing stored.
    const huge = await patch('/dav/pp3.txt', `<D:set><D:prop><Z:big>${'x'.repeat(64 * 1024 + 1)}</Z:big></D:prop></D:set>`);
    expect(multistatus(huge.text)[0].props.big.status).toBe(507);
    const many = Array.from({ length: 257 }, (_, i) => `<Z:p${i}>v</Z:p${i}>`).join('');
    const tooMany = multistatus((await patch('/dav/pp3.txt', `<D:set><D:prop>${many}</D:prop></D:set>`)).text)[0].props;
    expect(tooMany.p0.status).toBe(507);
    expect(await colorOf('/dav/pp3.txt')).toMatchObject({ text: 'blue' });
    const kept = multistatus((await req('PROPFIND', '/dav/pp3.txt', { headers: { depth: '0' }, body: PROPFIND_ALL })).text)[0].props;
    expect(Object.keys(kept)).not.toContain('p0');
  });
});

describe('WebDAV: COPY, MOVE and locks', () => {
  it('COPY and MOVE: Overwrite, Depth 0, no bytes copied, quota counted', async () => {
    const data = randomBytes(3 * 1024 * 1024);
    expect((await req('MKCOL', '/dav/cm/')).status).toBe(201);
    expect((await req('PUT', '/dav/cm/a.bin', { body: data })).status).toBe(201);
    const before = await chunksReceived();
    expect((await req('COPY', '/dav/cm/', { headers: { destination: '/dav/cm2/' } })).status).toBe(201);
    expect((await req('COPY', '/dav/cm/a.bin', { headers: { destination: `${t.url}/dav/cm2/a.bin`, overwrite: 'F' } })).status).toBe(412);
    expect((await req('COPY', '/dav/cm/a.bin', { headers: { destination: '/dav/cm2/a.bin' } })).status).toBe(204);
    expect((await req('COPY', '/dav/cm/', { headers: { destination: '/dav/shallow/', depth: '0' } })).status).toBe(201);
    expect((await req('GET', '/dav/shallow/a.bin')).status).toBe(404);
    expect((await req('MOVE', '/dav/cm2/', { headers: { destination: '/dav/moved/' } })).status).toBe(201);
    expect((await req('GET', '/dav/cm2/a.bin')).status).toBe(404);
    expect((await req('GET', '/dav/moved/a.bin')).body.equals(data)).toBe(true);
    // Over an existing collection with Overwrite: T (RFC 4918 9.9.4).
    expect((await req('MOVE', '/dav/moved/', { headers: { destination: '/dav/shallow/' } })).status).toBe(204);
    expect((await req('GET', '/dav/shallow/a.bin')).body.equals(data)).toBe(true);
    expect(await chunksReceived()).toBe(before);
    await addUser(t, 'cody', { password: 'cody-password-1', quotaBytes: 1024 * 1024 + 100 });
    const cody = basic('cody', 'cody-password-1');
    expect((await dav(t.url, 'PUT', '/dav/one.bin', { auth: cody, body: randomBytes(1024 * 1024) })).status).toBe(201);
    const copy = await dav(t.url, 'COPY', '/dav/one.bin', { auth: cody, headers: { destination: '/dav/two.bin' } });
    expect(copy.status).toBe(413);
  });

  it('dead properties count into the quota: a PROPPATCH, a COPY (WebDAV or API) and an upload past it are refused', async () => {
    await addUser(t, 'petra', { password: 'petra-password-1', quotaBytes: 200_000 });
    const petra = basic('petra', 'petra-password-1');
    const as = (method: string, path: string, init: DavInit = {}) => dav(t.url, method, path, { auth: petra, ...init });
    const set = (name: string) => as('PROPPATCH', '/dav/f/q.txt', { body: `<D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:z"><D:set><D:prop><Z:${name}>${'v'.repeat(60_000)}</Z:${name}></D:prop></D:set></D:propertyupdate>` });
    const usage = async () => ((await (await t.api('/api/v1/users/petra')).json()) as { usage: { bytes: number } }).usage.bytes;
    expect((await as('MKCOL', '/dav/f/')).status).toBe(201);
    expect((await as('PUT', '/dav/f/q.txt', { body: 'q' })).status).toBe(201);
    for (const name of ['a', 'b', 'c']) expect(multistatus((await set(name)).text)[0].props[name].status).toBe(200);
    expect(await usage()).toBeGreaterThan(180_000);
    // A fourth would pass 200,000: 507, nothing stored.
    expect(multistatus((await set('d')).text)[0].props.d.status).toBe(507);
    expect(await usage()).toBeLessThan(200_000);
    // A copy would duplicate them: refused, whichever front, a file or its folder.
    expect((await as('COPY', '/dav/f/q.txt', { headers: { destination: '/dav/f/q2.txt' } })).status).toBe(413);
    expect((await as('COPY', '/dav/f/', { headers: { destination: '/dav/g/' } })).status).toBe(413);
    const token = (await tokenFor(t, 'petra')).token;
    expect((await t.api('/api/v1/copy', { method: 'POST', json: { from: '/f', to: '/h' }, token })).status).toBe(413);
    // And what is left of the quota is all a file may take.
    expect((await as('PUT', '/dav/f/big.bin', { body: randomBytes(30_000) })).status).toBe(413);
    // Removing them gives the room back.
    const removed = await as('PROPPATCH', '/dav/f/q.txt', { body: '<D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:z"><D:remove><D:prop><Z:a/><Z:b/><Z:c/></D:prop></D:remove></D:propertyupdate>' });
    expect(multistatus(removed.text)[0].props.a.status).toBe(200);
    expect(await usage()).toBeLessThan(1000);
    expect((await as('PUT', '/dav/f/big.bin', { body: randomBytes(30_000) })).status).toBe(201);
    expect((await as('COPY', '/dav/f/', { headers: { destination: '/dav/g/' } })).status).toBe(201);
  });

  it('a Destination with raw UTF-8 and spaces (curl, as typed) names what it says; percent-encoded ones still work', async () => {
    expect((await req('PUT', '/dav/raw.txt', { body: Buffer.from('r') })).status).toBe(201);
    const curl = async (method: string, from: string, destination: string): Promise<string> =>
      (await run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '-u', 'alice:alice-password-1', '-X', method, '-H', `Destination: ${destination}`, `${t.url}${from}`])).stdout;
    expect(await curl('MOVE', '/dav/raw.txt', `${t.url}/dav/Ünïcode näme €.txt`)).toBe('201');
    expect((await req('GET', `/dav/${encodeURIComponent('Ünïcode näme €.txt')}`)).text).toBe('r');
    expect(await curl('COPY', `/dav/${encodeURIComponent('Ünïcode näme €.txt')}`, '/dav/日本 語.txt')).toBe('201');
    expect((await req('GET', `/dav/${encodeURIComponent('日本 語.txt')}`)).text).toBe('r');
    expect(await curl('MOVE', `/dav/${encodeURIComponent('日本 語.txt')}`, `/dav/${encodeURIComponent('ß.txt')}`)).toBe('201');
    expect((await req('GET', `/dav/${encodeURIComponent('ß.txt')}`)).text).toBe('r');
    // Bytes that are not UTF-8 (a Latin-1 client's é) are read as Latin-1, as before.
    const latin1 = await dav(t.url, 'MOVE', `/dav/${encodeURIComponent('ß.txt')}`, { auth: ALICE, headers: { destination: '/dav/\u00e9t\u00e9.txt' } });
    expect(latin1.status).toBe(201);
    expect((await req('GET', `/dav/${encodeURIComponent('été.txt')}`)).text).toBe('r');
  });

  it('MOVE or COPY onto a collection that holds the source is refused, and deletes nothing (Overwrite: T)', async () => {
    expect((await req('MKCOL', '/dav/holder/')).status).toBe(201);
    expect((await req('MKCOL', '/dav/holder/sub/')).status).toBe(201);
    expect((await req('PUT', '/dav/holder/sub/f.txt', { body: Buffer.from('f') })).status).toBe(201);
    expect((await req('PUT', '/dav/holder/other.txt', { body: Buffer.from('o') })).status).toBe(201);
    for (const [method, from, to] of [
      ['MOVE', '/dav/holder/sub/f.txt', '/dav/holder/'],
      ['COPY', '/dav/holder/sub/f.txt', '/dav/holder/'],
      ['MOVE', '/dav/holder/sub/', '/dav/holder'],
      ['COPY', '/dav/holder/sub/f.txt', '/dav/holder/sub/'],
    ] as const) {
      const r = await req(method, from, { headers: { destination: to } });
      expect({ method, from, to, status: r.status }).toEqual({ method, from, to, status: 400 });
      expect(JSON.parse(r.body.toString()).error.message).toMatch(/holds/);
    }
    expect((await req('MOVE', '/dav/holder/sub/f.txt', { headers: { destination: '/dav/holder/', overwrite: 'F' } })).status).toBe(412);
    expect((await req('GET', '/dav/holder/sub/f.txt')).body.toString()).toBe('f');
    expect((await req('GET', '/dav/holder/other.txt')).body.toString()).toBe('o');
  });

  it('an exclusive lock: writes without its token get 423, with it they pass; a second lock is refused; UNLOCK frees it', async () => {
    expect((await req('PUT', '/dav/locked.txt', { body: 'v1' })).status).toBe(201);
    const lock = await req('LOCK', '/dav/locked.txt', { headers: { timeout: 'Second-600' }, body: lockBody('exclusive', 'alice at her desk') });
    expect(lock.status).toBe(200);
    const token = /^<(.+)>$/.exec(String(lock.headers['lock-token']))![1];
    expect(token).toMatch(/^urn:uuid:/);
    expect(lock.text).toContain('alice at her desk');
    expect(lock.text).toContain('Second-600');
    for (const [method, init] of [
      ['PUT', { body: 'v2' }],
      ['DELETE', {}],
      ['MOVE', { headers: { destination: '/dav/elsewhere.txt' } }],
      ['PROPPATCH', { body: '<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><a xmlns="urn:a">1</a></D:prop></D:set></D:propertyupdate>' }],
      ['LOCK', { body: lockBody('shared') }],
    ] as const) {
      const r = await req(method, '/dav/locked.txt', init);
      expect(r.status, method).toBe(423);
    }
    expect((await req('COPY', '/dav/private.txt', { headers: { destination: '/dav/locked.txt' } })).status).toBe(423);
    expect((await req('PUT', '/dav/locked.txt', { body: 'v2', headers: { if: `(<${token}>)` } })).status).toBe(204);
    // The If header must hold: a wrong ETag is 412 even with the token.
    expect((await req('PUT', '/dav/locked.txt', { body: 'v3', headers: { if: `(<${token}> ["00000000000000000000000000000000"])` } })).status).toBe(412);
    const discovered = multistatus((await req('PROPFIND', '/dav/locked.txt', { headers: { depth: '0' }, body: propfindNamed(['DAV:', 'lockdiscovery']) })).text)[0];
    expect(discovered.props.lockdiscovery.text).toContain(token);
    expect((await req('UNLOCK', '/dav/locked.txt', { headers: { 'lock-token': '<urn:uuid:not-a-lock>' } })).status).toBe(409);
    // A refresh (LOCK without a body, naming the token) asking for days gets an hour at most.
    const refreshed = await req('LOCK', '/dav/locked.txt', { headers: { if: `(<${token}>)`, timeout: 'Second-999999' } });
    expect(refreshed.status).toBe(200);
    expect(refreshed.text).toContain('<D:timeout>Second-3600</D:timeout>');
    expect((await req('UNLOCK', '/dav/locked.txt', { headers: { 'lock-token': `<${token}>` } })).status).toBe(204);
    expect((await req('PUT', '/dav/locked.txt', { body: 'v4' })).status).toBe(204);
    expect((await req('GET', '/dav/locked.txt')).text).toBe('v4');
    // Locks bind WebDAV requests only: the native API deletes a locked file.
    expect((await req('LOCK', '/dav/locked.txt', { body: lockBody('exclusive') })).status).toBe(200);
    expect((await req('DELETE', '/dav/locked.txt')).status).toBe(423);
    expect((await t.api('/api/v1/files/locked.txt', { method: 'DELETE', token: aliceToken })).status).toBe(204);
  });

  it('shared locks coexist; a depth-infinity lock covers new members; LOCK on an unmapped URL makes an empty file; locks time out', async () => {
    expect((await req('PUT', '/dav/shared.txt', { body: 's' })).status).toBe(201);
    const a = await req('LOCK', '/dav/shared.txt', { body: lockBody('shared') });
    const b = await req('LOCK', '/dav/shared.txt', { body: lockBody('shared') });
    expect([a.status, b.status]).toEqual([200, 200]);
    expect((await req('LOCK', '/dav/shared.txt', { body: lockBody('exclusive') })).status).toBe(423);
    const tokenB = /^<(.+)>$/.exec(String(b.headers['lock-token']))![1];
    expect((await req('PUT', '/dav/shared.txt', { body: 't', headers: { if: `(<${tokenB}>)` } })).status).toBe(204);

    expect((await req('MKCOL', '/dav/lc/')).status).toBe(201);
    const coll = await req('LOCK', '/dav/lc/', { headers: { depth: 'infinity', timeout: 'Second-30' }, body: lockBody('exclusive') });
    expect(coll.status).toBe(200);
    const collToken = /^<(.+)>$/.exec(String(coll.headers['lock-token']))![1];
    expect((await req('PUT', '/dav/lc/new.txt', { body: 'n' })).status).toBe(423);
    expect((await req('PUT', '/dav/lc/new.txt', { body: 'n', headers: { if: `(<${collToken}>)` } })).status).toBe(201);
    // The lock runs out (the server's clock moves on, no sleeping): writes need no token any more.
    clock += 31_000;
    expect((await req('PUT', '/dav/lc/new.txt', { body: 'm' })).status).toBe(204);

    const unmapped = await req('LOCK', '/dav/lc/unmapped.txt', { body: lockBody('exclusive') });
    expect(unmapped.status).toBe(201);
    expect((await req('GET', '/dav/lc/unmapped.txt')).body.length).toBe(0);
    expect((await req('LOCK', '/dav/nope/unmapped.txt', { body: lockBody('exclusive') })).status).toBe(409);
  });
});

describe('WebDAV: the per-user lock limit', () => {
  it(`holds when many LOCKs arrive at once: ${MAX_LOCKS_PER_USER} live locks at most, the rest 413 with a clear message`, async () => {
    const BOB = basic('bob', 'bob-password-1');
    const bobReq = (method: string, path: string, init: DavInit = {}) => dav(t.url, method, path, { auth: BOB, ...init });
    expect((await bobReq('PUT', '/dav/many.txt', { body: 'm' })).status).toBe(201);
    const lockOnce = () => bobReq('LOCK', '/dav/many.txt', { headers: { timeout: 'Second-3600' }, body: lockBody('shared') });
    const tokenOf = (r: { headers: Record<string, unknown> }) => /^<(.+)>$/.exec(String(r.headers['lock-token']))![1];
    // One real lock, then copies of its row up to ten below the limit, straight into the
    // database (a thousand durable LOCKs one by one took over a minute on a loaded machine).
    const one = await lockOnce();
    expect(one.status).toBe(200);
    const db = t.server.ctx.meta.db;
    const row = await db.selectFrom('dav_locks').selectAll().where('token', '=', tokenOf(one)).executeTakeFirstOrThrow();
    for (let made = 1; made < MAX_LOCKS_PER_USER - 10; made += 100) {
      const n = Math.min(100, MAX_LOCKS_PER_USER - 10 - made);
      await db.insertInto('dav_locks').values(Array.from({ length: n }, () => ({ ...row, token: `urn:uuid:${randomUUID()}` }))).execute();
    }
    // Thirty at once with ten left: ten are taken. (The count is made again inside the insert's
    // transaction: on PostgreSQL, with a pool of connections or several nodes, LOCKs at once
    // could each count before any was inserted and all pass.)
    const rush = await Promise.all(Array.from({ length: 30 }, lockOnce));
    const statuses = rush.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 200)).toHaveLength(10);
    const refused = rush.filter((r) => r.status !== 200);
    expect(refused.map((r) => r.status)).toEqual(refused.map(() => 413));
    expect(JSON.parse(refused[0].text).error.message).toBe(`at most ${MAX_LOCKS_PER_USER} locks at once: unlock some first`);
    const first = tokenOf(rush.find((r) => r.status === 200)!);
    expect((await bobReq('UNLOCK', '/dav/many.txt', { headers: { 'lock-token': `<${first}>` } })).status).toBe(204);
    expect((await lockOnce()).status).toBe(200);
    expect((await lockOnce()).status).toBe(413);
    // Alice's locks are her own count.
    expect((await req('LOCK', '/dav/alice-own.txt', { body: lockBody('exclusive') })).status).toBe(201);
  });
});

describe('WebDAV: the defender and password limits count failed logins', () => {
  let d: TestServer;
  beforeAll(async () => {
    // A failed password scores 2 (as an unknown user would: the count must not tell names apart): five of them ban.
    d = await startTestServer({ defender: { ...DEFAULT_DEFENDER, threshold: 10, safeList: [] }, rateLimit: { windowMs: 60_000, perIp: 0, perToken: 0, authPerIp: 0 } });
    await addUser(d, 'dana', { password: 'dana-password-1' });
  });
  afterAll(async () => d?.close());

  it('wrong passwords from one address ban it; another address still works', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await dav(d.url, 'PROPFIND', '/dav/', { auth: basic('dana', `wrong-${i}`), headers: { depth: '0' }, localAddress: '127.0.0.7' })).status);
    expect(statuses.slice(0, 5)).toEqual([401, 401, 401, 401, 401]);
    expect(statuses[5]).toBe(403);
    const banned = await dav(d.url, 'PROPFIND', '/dav/', { auth: basic('dana', 'dana-password-1'), headers: { depth: '0' }, localAddress: '127.0.0.7' });
    expect(JSON.parse(banned.text).error.code).toBe('FERRY_ERR_BANNED');
    expect((await dav(d.url, 'PROPFIND', '/dav/', { auth: basic('dana', 'dana-password-1'), headers: { depth: '0' }, localAddress: '127.0.0.8' })).status).toBe(207);
    const ban = (await auditEvents(d, 'event=defender.ban'))[0];
    expect(ban.target).toBe('127.0.0.7');
    expect(ban.front).toBe('webdav');
  });
});
