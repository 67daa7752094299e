/**
 * The tus front (/api/v1/tus/) with tus-js-client from Node, and at the protocol level:
 * uploads land where Upload-Metadata says, as the same server-cut chunks any upload of the
 * bytes makes; an interrupted upload resumes from the offset the server kept (also across a
 * server restart); checksums (sha1, md5, sha256, sha512) are verified and a mismatch keeps nothing;
 * concatenation (parallel uploads), deferred length, termination and expiration work; bad
 * offsets, headers and paths get clear protocol errors; quotas and limits hold.
 */
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import * as tus from 'tus-js-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basic, dav } from '../helpers/dav.js';
import { startTestServer, type TestServer } from '../helpers/in-process-server.js';
import { addUser, auditEvents, tokenFor } from '../helpers/users.js';

let t: TestServer;
let clock = Date.now();
let token = '';
let aliceId = '';
const TUS = { 'tus-resumable': '1.0.0' };

const meta = (m: Record<string, string>): string =>
  Object.entries(m)
    .map(([k, v]) => `${k} ${Buffer.from(v).toString('base64')}`)
    .join(',');

async function download(path: string): Promise<{ status: number; body: Buffer }> {
  const r = await t.api(`/api/v1/files${path.split('/').map(encodeURIComponent).join('/')}`, { token });
  return { status: r.status, body: Buffer.from(await r.arrayBuffer()) };
}

async function chunksReceived(): Promise<number> {
  return Number(/^ferry_chunks_received_total (\d+)/m.exec(await (await t.api('/metrics')).text())?.[1] ?? NaN);
}

async function offsetOf(url: string): Promise<{ status: number; offset: number }> {
  const r = await fetch(new URL(url, t.url), { method: 'HEAD', headers: { ...TUS, authorization: `Bearer ${token}` } });
  return { status: r.status, offset: Number(r.headers.get('upload-offset')) };
}

/** Creates a tus upload at the protocol level (creation, or creation-with-upload with `body`). */
const create = (headers: Record<string, string>, body?: Buffer) =>
  fetch(`${t.url}/api/v1/tus/`, { method: 'POST', headers: { ...TUS, authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/offset+octet-stream' } : {}), ...headers }, body });
const patch = (url: string, offset: number, body: Buffer, headers: Record<string, string> = {}) =>
  fetch(new URL(url, t.url), { method: 'PATCH', headers: { ...TUS, authorization: `Bearer ${token}`, 'content-type': 'application/offset+octet-stream', 'upload-offset': String(offset), ...headers }, body });

/** Runs a tus-js-client upload to its end; resolves with the upload, rejects with its error. */
function upload(source: Buffer | Readable, options: Partial<tus.UploadOptions>): { done: Promise<tus.Upload>; upload: tus.Upload } {
  let resolve!: (u: tus.Upload) => void;
  let reject!: (e: Error) => void;
  const done = new Promise<tus.Upload>((res, rej) => ((resolve = res), (reject = rej)));
  const up = new tus.Upload(source, {
    endpoint: `${t.url}/api/v1/tus/`,
    headers: { authorization: `Bearer ${token}` },
    retryDelays: null,
    ...options,
    onError: (e) => reject(e),
    onSuccess: () => resolve(up),
  });
  up.start();
  return { done, upload: up };
}

beforeAll(async () => {
  t = await startTestServer({ now: () => clock, maxFileSize: 1024 * 1024 * 1024 });
  const user = await addUser(t, 'alice', { password: 'alice-password-1' });
  aliceId = user.id;
  token = (await tokenFor(t, 'alice')).token;
});
afterAll(async () => t?.close());

describe('tus with tus-js-client', () => {
  it('OPTIONS tells version, extensions, checksum algorithm and the size limit, without authentication', async () => {
    const r = await fetch(`${t.url}/api/v1/tus/`, { method: 'OPTIONS' });
    expect(r.status).toBe(204);
    expect(r.headers.get('tus-version')).toBe('1.0.0');
    expect(r.headers.get('tus-extension')?.split(',')).toEqual(expect.arrayContaining(['creation', 'creation-with-upload', 'termination', 'expiration', 'checksum', 'concatenation']));
    expect(r.headers.get('tus-checksum-algorithm')?.split(',')).toEqual(['sha1', 'md5', 'sha256', 'sha512']);
    expect(r.headers.get('tus-max-size')).toBe(String(1024 * 1024 * 1024));
  });

  it('uploads in several PATCHes into the path the metadata names, cut into the chunks any upload of the bytes gets', async () => {
    const data = randomBytes(9 * 1024 * 1024 + 321);
    const { done } = upload(data, { metadata: { filename: 'a b.bin', path: '/tus/in' }, chunkSize: 1024 * 1024 + 7 });
    const up = await done;
    expect(up.url).toMatch(/\/api\/v1\/tus\/[A-Za-z0-9_-]+$/);
    const got = await download('/tus/in/a b.bin');
    expect(got.status).toBe(200);
    expect(got.body.equals(data)).toBe(true);
    // The same bytes PUT over WebDAV (one stream, cut in one pass) are the same manifest: no chunk sent again.
    const before = await chunksReceived();
    expect((await dav(t.url, 'PUT', '/dav/tus/same.bin', { auth: basic('alice', 'alice-password-1'), body: data })).status).toBe(201);
    expect(await chunksReceived()).toBe(before);
    const [a, b] = await Promise.all(['/tus/in/a b.bin', '/tus/same.bin'].map(async (p) => ((await (await t.api(`/api/v1/manifests${encodeURI(p)}`, { token })).json()) as { hash: string }).hash));
    expect(a).toBe(b);
    // Done uploads still answer HEAD with their whole length.
    expect(await offsetOf(up.url!)).toEqual({ status: 200, offset: data.length });
  });

  it('an interrupted upload keeps what arrived and resumes from there, sending only the rest', async () => {
    const data = randomBytes(24 * 1024 * 1024);
    // The first try is cut by the client once the server is inside it (has stored a chunk):
    // a connection of its own, so the cut cannot come after every byte went through anyway
    // (as an abort from tus-js-client's progress callback could, on a busy machine).
    const r = await create({ 'upload-length': String(data.length), 'upload-metadata': meta({ filename: 'resumed.bin' }) });
    const url = new URL(r.headers.get('location')!, t.url).href;
    const { request } = await import('node:http');
    const cut = request(url, { method: 'PATCH', headers: { ...TUS, authorization: `Bearer ${token}`, 'content-type': 'application/offset+octet-stream', 'upload-offset': '0', 'content-length': String(data.length) } });
    cut.on('error', () => undefined);
    const before = await chunksReceived();
    cut.write(data.subarray(0, 6 * 1024 * 1024));
    for (let i = 0; i < 400 && (await chunksReceived()) === before; i++) await new Promise((res) => setTimeout(res, 25));
    cut.destroy();
    const kept = await offsetOf(url);
    expect(kept.status).toBe(200);
    expect(kept.offset).toBeGreaterThan(0);
    expect(kept.offset).toBeLessThanOrEqual(6 * 1024 * 1024);
    expect((await download('/resumed.bin')).status).toBe(404);
    let firstReported = -1;
    const second = upload(data, {
      uploadUrl: url,
      onProgress: (sent) => {
        if (firstReported < 0) firstReported = sent;
      },
    });
    await second.done;
    expect(firstReported).toBeGreaterThanOrEqual(kept.offset);
    expect((await download('/resumed.bin')).body.equals(data)).toBe(true);
    expect(await t.server.ctx.meta.countUploads(aliceId)).toBe(0);
  });

  it('tus-js-client resumes by the URL it stored, for a user allowed one live upload session, and leaves none', async () => {
    const tess = await addUser(t, 'tess', { maxSessions: 1 });
    const headers = { authorization: `Bearer ${(await tokenFor(t, 'tess')).token}` };
    const data = randomBytes(12 * 1024 * 1024);
    // What tus-js-client keeps between runs (localStorage in a browser, a file in Node).
    const stored = new Map<string, tus.PreviousUpload & { urlStorageKey: string }>();
    const urlStorage: tus.UrlStorage = {
      findAllUploads: async () => [...stored.values()],
      findUploadsByFingerprint: async (fp) => [...stored.values()].filter((u) => u.urlStorageKey.startsWith(fp)),
      removeUpload: async (key) => void stored.delete(key),
      addUpload: async (fp, u) => {
        const key = `${fp}#${stored.size}`;
        stored.set(key, { ...u, urlStorageKey: key });
        return key;
      },
    };
    const common = { headers, urlStorage, fingerprint: async () => 'tess-big.bin', metadata: { filename: 'one-session.bin' }, chunkSize: 1024 * 1024, removeFingerprintOnSuccess: true };
    // The first run stops after 3 of its 12 PATCHes (as a closed tab or a killed process would).
    let patches = 0;
    const first = upload(data, {
      ...common,
      onChunkComplete: () => {
        if (++patches === 3) void first.upload.abort();
      },
    });
    await expect.poll(() => patches, { timeout: 60_000 }).toBe(3);
    expect(await t.server.ctx.meta.countUploads(tess.id)).toBe(1);
    const before = Number(/^ferry_chunk_body_bytes_received_total (\d+)/m.exec(await (await t.api('/metrics')).text())?.[1]);

    // The second run: what tus-js-client's own resume does (findPreviousUploads, resumeFromPreviousUpload).
    let settle!: (err?: Error) => void;
    const finished = new Promise<void>((resolve, reject) => (settle = (err) => (err ? reject(err) : resolve())));
    const second = new tus.Upload(data, { ...common, endpoint: `${t.url}/api/v1/tus/`, retryDelays: null, onError: settle, onSuccess: () => settle() });
    const found = await second.findPreviousUploads();
    expect(found).toHaveLength(1);
    second.resumeFromPreviousUpload(found[0]);
    second.start();
    await finished;
    const after = Number(/^ferry_chunk_body_bytes_received_total (\d+)/m.exec(await (await t.api('/metrics')).text())?.[1]);
    expect(after - before).toBe(data.length - 3 * 1024 * 1024); // only what the first run had not sent
    const got = await t.api('/api/v1/files/one-session.bin', { token: headers.authorization.slice(7) });
    expect(Buffer.from(await got.arrayBuffer()).equals(data)).toBe(true);
    expect(await t.server.ctx.meta.countUploads(tess.id)).toBe(0);
    expect(stored.size).toBe(0);
  });

  it('resumes across a server restart: the offset, the tail not yet a chunk included, is durable', async () => {
    const data = randomBytes(10 * 1024 * 1024 + 5);
    const first = upload(data, { metadata: { filename: 'restart.bin' }, chunkSize: 3 * 1024 * 1024 + 1 });
    await new Promise<void>((resolve) => {
      first.upload.options.onChunkComplete = (_size, accepted) => {
        if (accepted >= 6 * 1024 * 1024) {
          void first.upload.abort();
          resolve();
        }
      };
    });
    const url = first.upload.url!;
    const before = await offsetOf(url);
    expect(before.offset).toBe(2 * (3 * 1024 * 1024 + 1));
    await t.restart();
    expect(await offsetOf(url)).toEqual(before);
    await upload(data, { uploadUrl: url, chunkSize: 3 * 1024 * 1024 + 1 }).done;
    expect((await download('/restart.bin')).body.equals(data)).toBe(true);
  });

  it('Upload-Checksum: sha1 (the one the extension requires) verified per PATCH; a mismatch is 460 and keeps nothing', async () => {
    const data = randomBytes(3 * 1024 * 1024 + 99);
    const size = 1024 * 1024;
    const sign = (wrong: boolean) => (req: tus.HttpRequest) => {
      if (req.getMethod() !== 'PATCH') return;
      const offset = Number(req.getHeader('Upload-Offset'));
      const digest = createHash('sha1').update(data.subarray(offset, offset + size)).digest();
      if (wrong) digest[0] ^= 1;
      req.setHeader('Upload-Checksum', `sha1 ${digest.toString('base64')}`);
    };
    await upload(data, { metadata: { filename: 'checked.bin' }, chunkSize: size, onBeforeRequest: sign(false) }).done;
    expect((await download('/checked.bin')).body.equals(data)).toBe(true);

    const bad = upload(data, { metadata: { filename: 'corrupt.bin' }, chunkSize: size, onBeforeRequest: sign(true) });
    const err = (await bad.done.catch((e: unknown) => e)) as tus.DetailedError;
    expect(err.originalResponse?.getStatus()).toBe(460);
    expect(JSON.parse(err.originalResponse!.getBody()).error.code).toBe('FERRY_ERR_CHECKSUM_MISMATCH');
    expect((await offsetOf(bad.upload.url!)).offset).toBe(0);
    expect((await download('/corrupt.bin')).status).toBe(404);
  });

  it('parallel uploads (concatenation of partial uploads) make one file; the parts go', async () => {
    const data = randomBytes(8 * 1024 * 1024 + 3);
    const sessions = await t.server.ctx.meta.countUploads(aliceId);
    await upload(data, { metadata: { filename: 'parallel.bin', path: '/par' }, parallelUploads: 3 }).done;
    expect((await download('/par/parallel.bin')).body.equals(data)).toBe(true);
    expect(await t.server.ctx.meta.countUploads(aliceId)).toBe(sessions);
  });

  it('a stream of unknown length (Upload-Defer-Length), told at the end', async () => {
    const parts = Array.from({ length: 5 }, () => randomBytes(700_000));
    await upload(Readable.from(parts), { metadata: { filename: 'deferred.bin' }, uploadLengthDeferred: true, chunkSize: 1024 * 1024 }).done;
    expect((await download('/deferred.bin')).body.equals(Buffer.concat(parts))).toBe(true);
  });

  it('a file just uploaded with a deferred length answers HEAD and GET with its whole length, and its type where a type is named', async () => {
    const lines = Array.from({ length: 3000 }, (_, i) => `${i},row ${i},${'x'.repeat(i % 97)}\n`);
    const parts = [Buffer.from(lines.slice(0, 1000).join('')), Buffer.from(lines.slice(1000, 2000).join('')), Buffer.from(lines.slice(2000).join(''))];
    const whole = Buffer.concat(parts);
    const { upload: up, done } = upload(Readable.from(parts), { metadata: { filename: 'deferred.csv', filetype: 'text/csv' }, uploadLengthDeferred: true, chunkSize: 64 * 1024 });
    await done;
    const facts = async (method: 'HEAD' | 'GET', query: string) => {
      const r = await fetch(`${t.url}/api/v1/files/deferred.csv${query}`, { method, headers: { authorization: `Bearer ${token}`, 'accept-encoding': 'identity' } });
      const body = Buffer.from(await r.arrayBuffer());
      return { method, query, status: r.status, length: r.headers.get('content-length'), type: r.headers.get('content-type'), etag: r.headers.get('etag'), bytes: method === 'GET' ? body.equals(whole) : body.length === 0 };
    };
    const etag = (await facts('HEAD', '')).etag;
    expect(etag).toMatch(/^"[0-9a-f]{64}"$/);
    // The API's plain answer is application/octet-stream by design (a browser runs nothing
    // from it); ?download and ?inline name a safe type from the file name (a CSV is text).
    for (const method of ['HEAD', 'GET'] as const) {
      expect(await facts(method, '')).toEqual({ method, query: '', status: 200, length: String(whole.length), type: 'application/octet-stream', etag, bytes: true });
      expect(await facts(method, '?download')).toEqual({ method, query: '?download', status: 200, length: String(whole.length), type: 'text/plain; charset=utf-8', etag, bytes: true });
    }
    // The upload's own URL, asked right after: complete, its length the whole, or gone.
    const tusHead = await fetch(up.url!, { method: 'HEAD', headers: { ...TUS, authorization: `Bearer ${token}` } });
    if (tusHead.status === 200) expect({ length: tusHead.headers.get('upload-length'), offset: tusHead.headers.get('upload-offset') }).toEqual({ length: String(whole.length), offset: String(whole.length) });
    else expect(tusHead.status).toBe(404);
  });
});

async function put1(path: string, text: string): Promise<void> {
  expect((await dav(t.url, 'PUT', `/dav${path}`, { auth: basic('alice', 'alice-password-1'), body: text })).status).toBe(201);
}

describe('tus at the protocol level', () => {
  it('creation-with-upload, 409 on a wrong offset, 412 without Tus-Resumable, 415 for another content type', async () => {
    const data = randomBytes(100_000);
    const r = await create({ 'upload-length': String(data.length), 'upload-metadata': meta({ filename: 'cwu.bin' }) }, data.subarray(0, 40_000));
    expect(r.status).toBe(201);
    expect(r.headers.get('upload-offset')).toBe('40000');
    expect(r.headers.get('tus-resumable')).toBe('1.0.0');
    expect(Date.parse(r.headers.get('upload-expires')!)).toBeGreaterThan(clock);
    const url = r.headers.get('location')!;
    expect(url).toMatch(/^\/api\/v1\/tus\//);
    const wrong = await patch(url, 10, data.subarray(10));
    expect(wrong.status).toBe(409);
    expect(((await wrong.json()) as { error: { code: string } }).error.code).toBe('FERRY_ERR_OFFSET_MISMATCH');
    const noVersion = await fetch(new URL(url, t.url), { method: 'HEAD', headers: { authorization: `Bearer ${token}` } });
    expect(noVersion.status).toBe(412);
    expect(noVersion.headers.get('tus-version')).toBe('1.0.0');
    expect((await patch(url, 40_000, data.subarray(40_000), { 'content-type': 'application/octet-stream' })).status).toBe(415);
    expect((await offsetOf(url)).offset).toBe(40_000);
    const rest = await patch(url, 40_000, data.subarray(40_000));
    expect(rest.status).toBe(204);
    expect(rest.headers.get('upload-offset')).toBe(String(data.length));
    expect((await download('/cwu.bin')).body.equals(data)).toBe(true);
  });

  it('Upload-Checksum takes sha1, md5, sha256 and sha512; another algorithm or a digest of the wrong size is 400', async () => {
    const body = randomBytes(5000);
    for (const algorithm of ['sha1', 'md5', 'sha256', 'sha512']) {
      const created = await create({ 'upload-length': String(2 * body.length), 'upload-metadata': meta({ filename: `sum-${algorithm}.bin` }) });
      expect(created.status).toBe(201);
      const url = created.headers.get('location')!;
      const wrong = createHash(algorithm).update(body.subarray(1)).digest('base64');
      const mismatch = await patch(url, 0, body, { 'upload-checksum': `${algorithm} ${wrong}` });
      expect(mismatch.status).toBe(460);
      expect((await offsetOf(url)).offset).toBe(0);
      const right = createHash(algorithm).update(body).digest('base64');
      expect((await patch(url, 0, body, { 'upload-checksum': `${algorithm} ${right}` })).status).toBe(204);
      expect((await offsetOf(url)).offset).toBe(body.length);
    }
    const created = await create({ 'upload-length': String(body.length), 'upload-metadata': meta({ filename: 'sum-other.bin' }) });
    const url = created.headers.get('location')!;
    const crc = await patch(url, 0, body, { 'upload-checksum': `crc32 ${Buffer.alloc(4).toString('base64')}` });
    expect(crc.status).toBe(400);
    expect(((await crc.json()) as { error: { message: string } }).error.message).toMatch(/crc32 is not supported \(Tus-Checksum-Algorithm: sha1,md5,sha256,sha512\)/);
    const short = await patch(url, 0, body, { 'upload-checksum': `sha1 ${createHash('md5').update(body).digest('base64')}` });
    expect(short.status).toBe(400);
    expect(((await short.json()) as { error: { message: string } }).error.message).toMatch(/a sha1 checksum is 20 bytes/);
    expect((await offsetOf(url)).offset).toBe(0);
  });

  it('refuses bad metadata and paths, more than Upload-Length, and sizes over the limits', async () => {
    for (const [m, code] of [
      [meta({ filename: 'x', path: '/a/../b' }), 'FERRY_ERR_PATH_INVALID'],
      [meta({ filename: 'a\u0000b' }), 'FERRY_ERR_PATH_INVALID'],
      [meta({ type: 'text/plain' }), 'FERRY_ERR_VALIDATION'],
      ['filename not-base64!', 'FERRY_ERR_VALIDATION'],
    ] as const) {
      const r = await create({ 'upload-length': '10', 'upload-metadata': m });
      expect(r.status, m).toBe(400);
      expect(((await r.json()) as { error: { code: string } }).error.code, m).toBe(code);
    }
    // A climbing relativePath is refused, and the message names it as sent, not joined to the folder ('//../../x').
    const climb = await create({ 'upload-length': '10', 'upload-metadata': meta({ relativePath: '../../x' }) });
    expect(climb.status).toBe(400);
    const refusal = ((await climb.json()) as { error: { code: string; message: string } }).error;
    expect(refusal.code).toBe('FERRY_ERR_PATH_INVALID');
    expect(refusal.message).toContain('"../../x"');
    expect(refusal.message).not.toContain('//');
    expect((await create({ 'upload-length': String(2 * 1024 * 1024 * 1024), 'upload-metadata': meta({ filename: 'huge' }) })).status).toBe(413);
    expect((await create({ 'upload-metadata': meta({ filename: 'nolength' }) })).status).toBe(400);
    const r = await create({ 'upload-length': '10', 'upload-metadata': meta({ filename: 'ten.bin' }) });
    const over = await patch(r.headers.get('location')!, 0, randomBytes(11));
    expect(over.status).toBe(400);
    expect((await download('/ten.bin')).status).toBe(404);
  });

  it('metadata: relativePath and name, path alone, mtime and ttlSeconds; a second upload replaces the file', async () => {
    const put = async (m: Record<string, string>, body: Buffer) => {
      const r = await create({ 'upload-length': String(body.length), 'upload-metadata': meta(m) }, body);
      expect(r.status, JSON.stringify(m)).toBe(201);
      expect(r.headers.get('upload-offset')).toBe(String(body.length));
    };
    await put({ relativePath: 'album/2024/a.jpg', name: 'a.jpg', path: '/drops' }, Buffer.from('from a folder'));
    expect((await download('/drops/album/2024/a.jpg')).body.toString()).toBe('from a folder');
    await put({ path: '/whole/path.txt' }, Buffer.from('whole'));
    expect((await download('/whole/path.txt')).body.toString()).toBe('whole');
    await put({ filename: 'timed.txt', mtime: '1700000000123', ttlSeconds: '3600' }, Buffer.from('timed'));
    const entry = (await (await t.api('/api/v1/stat/timed.txt', { token })).json()) as { mtime: number; expiresAt: number };
    expect(entry.mtime).toBe(1_700_000_000_123);
    expect(entry.expiresAt).toBe(clock + 3_600_000);
    await put({ path: '/whole/path.txt' }, Buffer.from('replaced'));
    expect((await download('/whole/path.txt')).body.toString()).toBe('replaced');
  });

  it('a HEAD while a stalled PATCH still holds the upload interrupts it, keeps what arrived, and the upload goes on', async () => {
    const data = randomBytes(6 * 1024 * 1024);
    const r = await create({ 'upload-length': String(data.length), 'upload-metadata': meta({ filename: 'stalled.bin' }) });
    const url = r.headers.get('location')!;
    const u = new URL(t.url);
    const { request } = await import('node:http');
    const stalled = request({ host: u.hostname, port: u.port, method: 'PATCH', path: url, headers: { ...TUS, authorization: `Bearer ${token}`, 'content-type': 'application/offset+octet-stream', 'upload-offset': '0', 'content-length': String(data.length) } });
    stalled.on('error', () => undefined);
    const before = await chunksReceived();
    stalled.write(data.subarray(0, 5 * 1024 * 1024));
    // The server is inside the PATCH once it has stored a chunk; the client then just stops sending.
    for (let i = 0; i < 400 && (await chunksReceived()) === before; i++) await new Promise((res) => setTimeout(res, 25));
    const kept = await offsetOf(url);
    expect(kept.status).toBe(200);
    expect(kept.offset).toBeGreaterThan(0);
    expect(kept.offset).toBeLessThanOrEqual(5 * 1024 * 1024);
    stalled.destroy();
    expect((await patch(url, kept.offset, data.subarray(kept.offset))).status).toBe(204);
    expect((await download('/stalled.bin')).body.equals(data)).toBe(true);
  });

  it('a final upload needs complete parts of the caller’s own', async () => {
    const part = await create({ 'upload-concat': 'partial', 'upload-length': '10' }, Buffer.from('12345'));
    expect(part.status).toBe(201);
    const final = await create({ 'upload-concat': `final;${part.headers.get('location')}`, 'upload-metadata': meta({ filename: 'joined.bin' }) });
    expect(final.status).toBe(400);
    expect((await patch(part.headers.get('location')!, 5, Buffer.from('67890'))).status).toBe(204);
    const ok = await create({ 'upload-concat': `final;${part.headers.get('location')}`, 'upload-metadata': meta({ filename: 'joined.bin' }) });
    expect(ok.status).toBe(201);
    expect((await download('/joined.bin')).body.toString()).toBe('1234567890');
  });

  it('HEAD answers Upload-Concat as created: partial, or final with its parts; a final upload takes no PATCH (403)', async () => {
    const a = await create({ 'upload-concat': 'partial', 'upload-length': '3' }, Buffer.from('abc'));
    const b = await create({ 'upload-concat': 'partial', 'upload-length': '2' }, Buffer.from('de'));
    const [ua, ub] = [a.headers.get('location')!, b.headers.get('location')!];
    const head = (url: string) => fetch(new URL(url, t.url), { method: 'HEAD', headers: { ...TUS, authorization: `Bearer ${token}` } });
    expect((await head(ua)).headers.get('upload-concat')).toBe('partial');
    // Named by absolute URLs, as tus-js-client does; answered with the server's own paths.
    const final = await create({ 'upload-concat': `final;${new URL(ua, t.url).href} ${new URL(ub, t.url).href}`, 'upload-metadata': meta({ filename: 'concat-head.bin' }) });
    expect(final.status).toBe(201);
    const uf = final.headers.get('location')!;
    const h = await head(uf);
    expect(h.status).toBe(200);
    expect(h.headers.get('upload-concat')).toBe(`final;${ua} ${ub}`);
    expect(h.headers.get('upload-offset')).toBe('5');
    expect(h.headers.get('upload-length')).toBe('5');
    expect((await patch(uf, 5, Buffer.from('f'))).status).toBe(403);
    expect((await download('/concat-head.bin')).body.toString()).toBe('abcde');
  });

  it('a final upload that names a partial upload twice, or too many partial uploads, is refused and keeps the parts', async () => {
    const part = await create({ 'upload-concat': 'partial', 'upload-length': '10' }, Buffer.from('0123456789'));
    expect(part.status).toBe(201);
    const url = part.headers.get('location')!;
    const before = (await (await t.api('/api/v1/me', { token })).json()) as { usage: { bytes: number } };
    // As many as fit in HTTP/1.1's 16 KiB of headers: one request would have made a file of 450 copies.
    const repeated = await create({ 'upload-concat': `final;${Array(450).fill(url).join(' ')}`, 'upload-metadata': meta({ filename: 'repeated.bin' }) });
    expect(repeated.status).toBe(400);
    const err = ((await repeated.json()) as { error: { code: string; message: string } }).error;
    expect(err.code).toBe('FERRY_ERR_VALIDATION');
    expect(err.message).toContain('more than once');
    const twice = await create({ 'upload-concat': `final;${url} ${url}`, 'upload-metadata': meta({ filename: 'repeated.bin' }) });
    expect(twice.status).toBe(400);
    const many = Array.from({ length: 501 }, (_, i) => `/api/v1/tus/${i}`).join(' ');
    const tooMany = await create({ 'upload-concat': `final;${many}`, 'upload-metadata': meta({ filename: 'repeated.bin' }) });
    expect(tooMany.status).toBe(400);
    expect(((await tooMany.json()) as { error: { message: string } }).error.message).toContain('1 to 500 partial uploads, not 501');
    expect((await download('/repeated.bin')).status).toBe(404);
    const after = (await (await t.api('/api/v1/me', { token })).json()) as { usage: { bytes: number } };
    expect(after.usage.bytes).toBe(before.usage.bytes);
    // The part was not spent by the refusals.
    expect((await offsetOf(url)).offset).toBe(10);
    const ok = await create({ 'upload-concat': `final;${url}`, 'upload-metadata': meta({ filename: 'once.bin' }) });
    expect(ok.status).toBe(201);
    expect((await download('/once.bin')).body.toString()).toBe('0123456789');
  });

  it('a commit that fails ends the upload: the error, then the upload is gone', async () => {
    await put1('/blocker', 'a file');
    const r = await create({ 'upload-length': '5', 'upload-metadata': meta({ filename: 'x.txt', path: '/blocker/sub' }) });
    expect(r.status).toBe(201);
    const url = r.headers.get('location')!;
    const done = await patch(url, 0, Buffer.from('12345'));
    expect(done.status).toBe(409);
    expect(((await done.json()) as { error: { code: string } }).error.code).toBe('FERRY_ERR_NOT_A_DIRECTORY');
    expect((await offsetOf(url)).status).toBe(404);
  });

  it('an empty upload is a file at once; DELETE terminates; another user’s upload does not exist for them', async () => {
    const empty = await create({ 'upload-length': '0', 'upload-metadata': meta({ filename: 'empty.txt', path: '/e' }) });
    expect(empty.status).toBe(201);
    expect((await download('/e/empty.txt')).body.length).toBe(0);
    const r = await create({ 'upload-length': '100', 'upload-metadata': meta({ filename: 'gone.bin' }) });
    const url = r.headers.get('location')!;
    await addUser(t, 'bob', { password: 'bob-password-1' });
    const bob = (await tokenFor(t, 'bob')).token;
    const asBob = await fetch(new URL(url, t.url), { method: 'HEAD', headers: { ...TUS, authorization: `Bearer ${bob}` } });
    expect(asBob.status).toBe(404);
    expect((await fetch(new URL(url, t.url), { method: 'DELETE', headers: { ...TUS, authorization: `Bearer ${token}` } })).status).toBe(204);
    expect((await offsetOf(url)).status).toBe(404);
  });

  it('quota: an upload that outgrows it is refused (413, audited as tus) and nothing becomes visible', async () => {
    await addUser(t, 'quinn', { password: 'quinn-password-1', quotaBytes: 3 * 1024 * 1024 });
    const q = (await tokenFor(t, 'quinn')).token;
    const r = await fetch(`${t.url}/api/v1/tus/`, { method: 'POST', headers: { ...TUS, authorization: `Bearer ${q}`, 'upload-length': String(8 * 1024 * 1024), 'upload-metadata': meta({ filename: 'big' }) } });
    expect(r.status).toBe(413);
    const deferred = await fetch(`${t.url}/api/v1/tus/`, { method: 'POST', headers: { ...TUS, authorization: `Bearer ${q}`, 'upload-defer-length': '1', 'upload-metadata': meta({ filename: 'big' }) } });
    expect(deferred.status).toBe(201);
    const grown = await fetch(new URL(deferred.headers.get('location')!, t.url), {
      method: 'PATCH',
      headers: { ...TUS, authorization: `Bearer ${q}`, 'content-type': 'application/offset+octet-stream', 'upload-offset': '0' },
      body: randomBytes(40 * 1024 * 1024),
    });
    expect(grown.status).toBe(413);
    const audit = (await auditEvents(t, 'event=quota.exceeded')).filter((e) => e.user === 'quinn');
    expect(audit.map((e) => e.front)).toEqual(['tus', 'tus']);
    expect((await t.api('/api/v1/users/quinn')).status).toBe(200);
    const usage = ((await (await t.api('/api/v1/users/quinn')).json()) as { usage: { bytes: number } }).usage;
    expect(usage.bytes).toBe(0);
  });

  it('expiration: an idle upload expires with its session; HEAD then answers 404', async () => {
    const r = await create({ 'upload-length': '1000', 'upload-metadata': meta({ filename: 'idle.bin' }) }, randomBytes(500));
    const url = r.headers.get('location')!;
    expect((await offsetOf(url)).offset).toBe(500);
    clock += t.server.ctx.config.uploadTtlMs + 1000;
    await t.server.ctx.expireSessions();
    expect((await offsetOf(url)).status).toBe(404);
    expect((await download('/idle.bin')).status).toBe(404);
  });
});
