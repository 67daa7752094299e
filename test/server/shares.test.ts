/**
 * Share links, used the way visitors use them: the real `curl` binary and plain HTTP
 * requests a browser would make, without any account. Expiry runs on the server's clock.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cdcParamsOf } from '../../src/algo/cdc-kernel.js';
import { chunkLengths } from '../../src/algo/fastcdc.js';
import type { Capabilities, CreatedShare, ShareInfo } from '../../src/core/protocol.js';
import { startTestServer, uploadBuffer, type TestServer } from '../helpers/in-process-server.js';
import { addUser, auditEvents, share, tokenFor } from '../helpers/users.js';

const run = promisify(execFile);
let t: TestServer;
let clock = Date.now();
let owner = '';
const work = mkdtempSync(join(tmpdir(), 'ferry-share-'));

beforeAll(async () => {
  t = await startTestServer({ now: () => clock });
  await addUser(t, 'olga', { quotaBytes: 3_000_000 });
  owner = (await tokenFor(t, 'olga')).token;
});
afterAll(async () => {
  await t?.close();
  rmSync(work, { recursive: true, force: true });
});

/** curl, returning the HTTP status and writing the body to a file. */
async function curl(args: string[]): Promise<{ status: number; body: Buffer; headers: string }> {
  const out = join(work, 'out-' + randomBytes(4).toString('hex'));
  const hdr = out + '.h';
  const { stdout } = await run('curl', ['-sS', '-o', out, '-D', hdr, '-w', '%{http_code}', ...args]);
  const body = (() => {
    try {
      return readFileSync(out);
    } catch {
      return Buffer.alloc(0);
    }
  })();
  return { status: Number(stdout), body, headers: readFileSync(hdr, 'utf8') };
}

const put = (path: string, data: Buffer, ttlSeconds?: number) => uploadBuffer(t, path, data, 64 * 1024, { token: owner, ttlSeconds });

describe('download links', () => {
  it('a file link works with plain curl: bytes, name, HEAD and resumable ranges', async () => {
    const data = randomBytes(300_000);
    expect((await put('/reports/q3 "final".pdf', data)).status).toBe(200);
    const s = await share(t, owner, { path: '/reports/q3 "final".pdf' });
    expect(s.url).toMatch(new RegExp(`^${t.url}/s/[A-Za-z0-9_-]{43}$`));
    const got = await curl([s.url]);
    expect(got.status).toBe(200);
    expect(got.body.equals(data)).toBe(true);
    expect(got.headers).toMatch(/content-disposition: attachment; filename="q3 _final_.pdf"; filename\*=UTF-8''q3%20%22final%22.pdf/i);
    expect(got.headers).toMatch(/x-content-type-options: nosniff/i);
    const part = await curl(['-r', '1000-1999', s.url]);
    expect(part.status).toBe(206);
    expect(part.body.equals(data.subarray(1000, 2000))).toBe(true);
    const head = await curl(['-I', s.url]);
    expect(head.headers).toMatch(/content-length: 300000/i);
    // Nothing else of the owner is reachable through it.
    expect((await curl([s.url + '/../other'])).status).toBe(404);
  });

  it('a folder link lists its files (HTML for browsers, JSON on request) and serves them', async () => {
    await put('/album/a.jpg', Buffer.from('AAA'));
    await put('/album/<b>.jpg', Buffer.from('BBB'));
    await put('/album/sub/c.jpg', Buffer.from('CCC'));
    await put('/private.txt', Buffer.from('not shared'));
    const s = await share(t, owner, { path: '/album', name: 'Holiday' });
    // A browser gets the web app's page (which asks for the listing as JSON); no file name
    // reaches the HTML, and the page is never framed nor leaks the key as a Referer.
    const page = await fetch(s.url, { headers: { accept: 'text/html' } });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    expect(page.headers.get('content-security-policy')).toMatch(/script-src 'self' 'wasm-unsafe-eval'; .*frame-ancestors 'none'/);
    expect(page.headers.get('referrer-policy')).toBe('no-referrer');
    const app = await page.text();
    expect(app).toContain('<div id="app">');
    expect(app).not.toContain('a.jpg');
    // Plain clients get a plain HTML listing, names escaped.
    const plain = (await curl([s.url])).body.toString();
    expect(plain).toContain('Holiday');
    expect(plain).toContain('&#60;b&#62;.jpg');
    expect(plain).not.toContain('<b>.jpg');
    expect(plain).toContain(`href="${new URL(s.url).pathname}/a.jpg"`);
    const asJson = (await (await fetch(s.url + '?format=json')).json()) as { kind: string; name: string; zip: string; entries: { name: string }[] };
    expect(asJson).toMatchObject({ kind: 'folder', name: 'Holiday', zip: `${new URL(s.url).pathname}?zip=1` });
    const listing = (await (await fetch(s.url, { headers: { accept: 'application/json' } })).json()) as { entries: { name: string; type: string }[] };
    expect(listing.entries.map((e) => e.name)).toEqual(['<b>.jpg', 'a.jpg', 'sub']);
    expect((await curl([s.url + '/a.jpg'])).body.toString()).toBe('AAA');
    expect((await curl([s.url + '/sub/c.jpg'])).body.toString()).toBe('CCC');
    expect((await fetch(s.url + '/sub/', { headers: { accept: 'application/json' } })).status).toBe(200);
    expect((await curl([s.url + '/private.txt'])).status).toBe(404);
  });

  it("curl -OJ of a folder link saves its listing as NAME.html, which links the zip; curl -OJ 'URL?zip=1' saves NAME.zip", async () => {
    await put('/trip/a.jpg', Buffer.from('AAA'));
    await put('/trip/b.jpg', Buffer.from('BBB'));
    const s = await share(t, owner, { path: '/trip' });
    const dir = mkdtempSync(join(work, 'oj-'));
    await run('curl', ['-sS', '-OJ', s.url], { cwd: dir });
    // Before, the file was named after the link's key, and said nothing of the zip.
    const page = readFileSync(join(dir, 'trip.html'), 'utf8');
    expect(page).toContain(`href="${new URL(s.url).pathname}?zip=1"`);
    expect(page).toContain("curl -OJ 'LINK?zip=1'");
    await run('curl', ['-sS', '-OJ', s.url + '?zip=1'], { cwd: dir });
    const zip = readFileSync(join(dir, 'trip.zip'));
    expect(zip.subarray(0, 4).toString('latin1')).toBe('PK\x03\x04');
    expect(zip.includes(Buffer.from('trip/a.jpg'))).toBe(true);
  });

  it('expires: 410 after its time', async () => {
    await put('/soon.txt', Buffer.from('soon'));
    const s = await share(t, owner, { path: '/soon.txt', expiresInSeconds: 3600 });
    expect((await curl([s.url])).status).toBe(200);
    clock += 3_600_001;
    const gone = await curl([s.url]);
    expect(gone.status).toBe(410);
    expect(JSON.parse(gone.body.toString()).error.code).toBe('FERRY_ERR_GONE');
    // A browser gets the app's page with the status (it shows the reason), not JSON.
    const page = await fetch(s.url, { headers: { accept: 'text/html,*/*' } });
    expect(page.status).toBe(410);
    expect(await page.text()).toContain('<div id="app">');
    const why = await fetch(s.url + '?format=json', { headers: { accept: 'text/html' } });
    expect(why.status).toBe(410);
    expect(((await why.json()) as { error: { message: string } }).error.message).toBe('this link has expired');
  });

  it('max downloads: counted per download (not per HEAD or continued range), 410 when used up', async () => {
    await put('/twice.bin', randomBytes(5000));
    const s = await share(t, owner, { path: '/twice.bin', maxUses: 2 });
    expect((await curl(['-I', s.url])).status).toBe(200);
    expect((await curl([s.url])).status).toBe(200);
    expect((await curl(['-r', '100-', s.url])).status).toBe(206); // resuming the same download
    expect((await curl([s.url])).status).toBe(200);
    expect((await curl([s.url])).status).toBe(410);
    const list = (await (await t.api('/api/v1/shares', { token: owner })).json()) as ShareInfo[];
    expect(list.find((x) => x.id === s.id)).toMatchObject({ uses: 2, maxUses: 2 });
  });

  it('one-time link: two racing downloads, one wins', async () => {
    await put('/once.bin', randomBytes(2000));
    const s = await share(t, owner, { path: '/once.bin', maxUses: 1 });
    const results = await Promise.all([fetch(s.url), fetch(s.url), fetch(s.url)]);
    const statuses = results.map((r) => r.status).sort();
    await Promise.all(results.map((r) => r.arrayBuffer()));
    expect(statuses).toEqual([200, 410, 410]);
  });

  it('password: curl -u :PASSWORD and the browser prompt (WWW-Authenticate); wrong ones are audited', async () => {
    await put('/locked.txt', Buffer.from('locked content'));
    const s = await share(t, owner, { path: '/locked.txt', password: 'open sesame' });
    const none = await curl([s.url]);
    expect(none.status).toBe(401);
    expect(none.headers).toMatch(/www-authenticate: Basic realm="Ferry share link/i);
    expect(none.body.toString()).not.toContain('locked content');
    const wrong = await curl(['-u', ':guess-guess', s.url]);
    expect(wrong.status).toBe(401);
    expect(wrong.body.toString()).not.toContain('locked content');
    const right = await curl(['-u', ':open sesame', s.url]);
    expect(right.status).toBe(200);
    expect(right.body.toString()).toBe('locked content');
    // Any user name will do (browsers insist on one).
    expect((await curl(['-u', 'visitor:open sesame', s.url])).status).toBe(200);
    const failures = await auditEvents(t, 'event=share.password-failure');
    expect(failures.length).toBeGreaterThanOrEqual(1);
  });

  it('revocation: 410 from the next request on; unknown keys are 404', async () => {
    await put('/revoke-me.txt', Buffer.from('x'));
    const s = await share(t, owner, { path: '/revoke-me.txt' });
    expect((await curl([s.url])).status).toBe(200);
    expect((await t.api(`/api/v1/shares/${s.id}`, { method: 'DELETE', token: owner })).status).toBe(204);
    expect((await curl([s.url])).status).toBe(410);
    expect((await curl([t.url + '/s/' + 'A'.repeat(43)])).status).toBe(404);
    expect((await curl([t.url + '/s/short'])).status).toBe(404);
  });

  it("a link dies with its owner's rights: disabled owner, lost permission", async () => {
    await addUser(t, 'pete');
    const pete = await tokenFor(t, 'pete');
    expect((await uploadBuffer(t, '/p.txt', Buffer.from('p'), 1024, { token: pete.token })).status).toBe(200);
    const s = await share(t, pete.token, { path: '/p.txt' });
    expect((await curl([s.url])).status).toBe(200);
    await t.api('/api/v1/users/pete/grants', { method: 'PUT', json: { path: '/', permissions: ['list', 'share'] } });
    expect((await curl([s.url])).status).toBe(410);
    await t.api('/api/v1/users/pete/grants', { method: 'PUT', json: { path: '/', permissions: ['list', 'read', 'share'] } });
    expect((await curl([s.url])).status).toBe(200);
    await t.api('/api/v1/users/pete', { method: 'PATCH', json: { disabled: true } });
    expect((await curl([s.url])).status).toBe(410);
  });
});

describe('upload links (file requests)', () => {
  let link: CreatedShare;
  beforeAll(async () => {
    await t.api('/api/v1/mkdir/inbox', { method: 'POST', token: owner });
    link = await share(t, owner, { path: '/inbox', kind: 'upload', maxUses: 5, name: 'Send me your drafts' });
  });

  it('curl -T puts a file into the folder, chunked on the server like a Ferry client would', async () => {
    // 2.5 MB (the owner's quota is 3 MB) that the client's chunker cuts in several pieces:
    // at the default 256 KiB..4 MiB one random buffer in about twenty is a single chunk.
    const caps = (await (await t.api('/api/v1/capabilities')).json()) as Capabilities;
    let data = randomBytes(2_500_000);
    while (chunkLengths(data, cdcParamsOf(caps.chunking)).length < 2) data = randomBytes(2_500_000);
    const expected = chunkLengths(data, cdcParamsOf(caps.chunking));
    const file = join(work, 'draft one.bin');
    writeFileSync(file, data);
    const res = await curl(['-T', file, link.url + '/']);
    expect(res.status).toBe(201);
    expect(JSON.parse(res.body.toString())).toMatchObject({ name: 'draft one.bin', size: data.length });
    const back = await t.api('/api/v1/files/inbox/' + encodeURIComponent('draft one.bin'), { token: owner });
    expect(Buffer.from(await back.arrayBuffer()).equals(data)).toBe(true);
    const manifest = (await (await t.api('/api/v1/manifests/inbox/' + encodeURIComponent('draft one.bin'), { token: owner })).json()) as { chunks: { size: number }[] };
    expect(manifest.chunks.map((c) => c.size)).toEqual(expected);
  });

  it('a browser gets the drop box page (the app, no inline script); a PUT stores whatever the file type', async () => {
    const page = await fetch(link.url, { headers: { accept: 'text/html' } });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toMatch(/script-src 'self' 'wasm-unsafe-eval';/);
    const html = await page.text();
    expect(html).not.toMatch(/<script(?![^>]*\ssrc=)/);
    expect(await (await fetch(link.url + '?format=json')).json()).toMatchObject({ kind: 'upload', name: 'Send me your drafts' });
    // A JSON file keeps its content type and is still stored raw.
    const json = await fetch(link.url + '/notes.json', { method: 'PUT', body: '{"a":1}', headers: { 'content-type': 'application/json' } });
    expect(json.status).toBe(201);
    const back = await t.api('/api/v1/files/inbox/notes.json', { token: owner });
    expect(await back.text()).toBe('{"a":1}');
  });

  it('accepts uploads into its one folder only, never over an existing file, and nothing is readable through it', async () => {
    expect((await fetch(link.url + '/sub/x.txt', { method: 'PUT', body: 'x' })).status).toBe(400);
    expect((await fetch(link.url + '/..%2fescape.txt', { method: 'PUT', body: 'x' })).status).toBe(400);
    // A taken name is kept beside, unsaid (test/server/drop-box-names.test.ts).
    expect((await fetch(link.url + '/notes.json', { method: 'PUT', body: 'overwrite!' })).status).toBe(201);
    expect(await (await t.api('/api/v1/files/inbox/notes.json', { token: owner })).text()).toBe('{"a":1}');
    expect(await (await t.api('/api/v1/files/inbox/' + encodeURIComponent('notes (1).json'), { token: owner })).text()).toBe('overwrite!');
    expect((await fetch(link.url + '/notes.json')).status).toBe(404);
  });

  it("counts uploads against its limit and the owner's quota; a refused upload stores nothing", async () => {
    const before = (await (await t.api('/api/v1/me', { token: owner })).json()) as { usage: { bytes: number } };
    const big = join(work, 'too-big.bin');
    writeFileSync(big, randomBytes(3_000_000));
    const refused = await curl(['-T', big, link.url + '/']);
    expect(refused.status).toBe(413);
    expect(JSON.parse(refused.body.toString()).error.code).toBe('FERRY_ERR_QUOTA_EXCEEDED');
    // The visitor is told it does not fit, not the owner's quota, usage or where the folder lies.
    const { token: uploadToken } = (await (await fetch(link.url + '/unlock', { method: 'POST' })).json()) as { token: string };
    const viaSession = await fetch(`${t.url}/api/v1/uploads`, { method: 'POST', headers: { authorization: `Bearer ${uploadToken}`, 'content-type': 'application/json' }, body: JSON.stringify({ path: '/too-big.bin', size: 3_000_000 }) });
    expect(viaSession.status).toBe(413);
    for (const text of [refused.body.toString(), await viaSession.text()]) {
      expect(JSON.parse(text).error).toMatchObject({ code: 'FERRY_ERR_QUOTA_EXCEEDED', message: expect.stringContaining("link's owner"), details: { limit: 'bytes' } });
      expect(text).not.toMatch(/3000000|2\.86 MiB|users\/olga|inbox|used/);
    }
    expect((await t.api('/api/v1/stat/inbox/too-big.bin', { token: owner })).status).toBe(404);
    const after = (await (await t.api('/api/v1/me', { token: owner })).json()) as { usage: { bytes: number }; uploadSessions: number };
    expect(after.usage.bytes).toBe(before.usage.bytes);
    expect(after.uploadSessions).toBe(0);
    // Three uses so far (the refused one was given back): two more, then 410.
    expect((await fetch(link.url + '/3.txt', { method: 'PUT', body: '3' })).status).toBe(201);
    expect((await fetch(link.url + '/4.txt', { method: 'PUT', body: '4' })).status).toBe(201);
    expect((await fetch(link.url + '/5.txt', { method: 'PUT', body: '5' })).status).toBe(410);
  });

  it('only folders take upload links, and a download link takes no uploads', async () => {
    const res = await t.api('/api/v1/shares', { method: 'POST', json: { path: '/private.txt', kind: 'upload' }, token: owner });
    expect(res.status).toBe(409);
    const dl = await share(t, owner, { path: '/album' });
    expect((await fetch(dl.url + '/new.txt', { method: 'PUT', body: 'x' })).status).toBe(400);
  });
});
