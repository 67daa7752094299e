/**
 * The v1 protocol against a real server over real HTTP: the happy paths, and every kind of
 * bad input getting the right status and stable code without storing anything.
 */
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileHashOf, type ChunkRef } from '../../src/core/manifest.js';
import { CHUNK_HEADER_BYTES } from '../../src/store/chunk-codec.js';
import { pieces, sha256, startTestServer, uploadBuffer, type TestServer } from '../helpers/in-process-server.js';
import { expectError } from '../helpers/error-response.js';
import { packBody as pack } from '../helpers/packs.js';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t.close();
});


/** A GET with the path sent exactly as given (no client-side URL normalization). */
function rawGet(path: string): Promise<{ status: number; body: string }> {
  const u = new URL(t.url);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: u.hostname, port: u.port, path, headers: { authorization: `Bearer ${t.token}` } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function metric(name: string): Promise<number> {
  const text = await (await t.api('/metrics')).text();
  const line = text.split('\n').find((l) => l.startsWith(name + ' '));
  return Number(line?.split(' ')[1] ?? NaN);
}

describe('health and discovery', () => {
  it('answers health, readiness and capabilities without a token', async () => {
    expect((await t.api('/healthz', { token: null })).status).toBe(200);
    expect((await t.api('/readyz', { token: null })).status).toBe(200);
    const caps = (await (await t.api('/api/v1/capabilities', { token: null })).json()) as { chunking: { avgSize: number }; limits: { maxChunkSize: number } };
    expect(caps.chunking.avgSize).toBe(1024 * 1024);
    expect(caps.limits.maxChunkSize).toBe(4 * 1024 * 1024);
  });

  it('answers HEAD /healthz and HEAD /readyz like their GET, without a body (monitors probe with HEAD)', async () => {
    for (const path of ['/healthz', '/readyz']) {
      const get = await t.api(path, { token: null });
      const head = await t.api(path, { token: null, method: 'HEAD' });
      expect(head.status).toBe(200);
      expect(head.headers.get('content-type')).toBe(get.headers.get('content-type'));
      expect(head.headers.get('content-length')).toBe(String((await get.text()).length));
      expect(await head.text()).toBe('');
    }
  });

  it('requires a valid token everywhere else', async () => {
    await expectError(await t.api('/api/v1/list/', { token: null }), 401, 'FERRY_ERR_AUTH_REQUIRED');
    await expectError(await t.api('/api/v1/list/', { token: 'wrong' }), 401, 'FERRY_ERR_AUTH_INVALID');
    await expectError(await t.api('/api/v1/list/', { token: 'ferry_0123456789abcdef_' + 'A'.repeat(43) }), 401, 'FERRY_ERR_AUTH_INVALID');
    await expectError(await t.api('/metrics', { token: null }), 401, 'FERRY_ERR_AUTH_REQUIRED');
    const r = await fetch(t.url + '/api/v1/list/', { headers: { authorization: 'Basic abc' } });
    await expectError(r, 401, 'FERRY_ERR_AUTH_INVALID');
  });

  it('answers unknown routes with a JSON 404', async () => {
    await expectError(await t.api('/api/v1/nope'), 404, 'FERRY_ERR_NOT_FOUND');
  });
});

describe('uploads and downloads', () => {
  it('round-trips a file, with ETag, 304, HEAD and ranges', async () => {
    const data = randomBytes(300_000);
    const commit = await uploadBuffer(t, '/dir/a file #1?.bin', data, 100_000);
    expect(commit.status).toBe(200);
    const url = '/api/v1/files/dir/' + encodeURIComponent('a file #1?.bin');
    const got = await t.api(url);
    expect(got.status).toBe(200);
    const etag = got.headers.get('etag')!;
    expect(Buffer.from(await got.arrayBuffer()).equals(data)).toBe(true);
    expect((await t.api(url, { headers: { 'if-none-match': etag } })).status).toBe(304);
    const head = await t.api(url, { method: 'HEAD' });
    expect(head.headers.get('content-length')).toBe('300000');
    const part = await t.api(url, { headers: { range: 'bytes=99990-200009' } });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe('bytes 99990-200009/300000');
    expect(Buffer.from(await part.arrayBuffer()).equals(data.subarray(99990, 200010))).toBe(true);
    const tail = await t.api(url, { headers: { range: 'bytes=-5' } });
    expect(Buffer.from(await tail.arrayBuffer()).equals(data.subarray(-5))).toBe(true);
    await expectError(await t.api(url, { headers: { range: 'bytes=300000-' } }), 416, 'FERRY_ERR_RANGE_NOT_SATISFIABLE');
    const manifest = (await (await t.api('/api/v1/manifests/dir/' + encodeURIComponent('a file #1?.bin'))).json()) as { chunks: ChunkRef[]; hash: string };
    expect(manifest.chunks).toHaveLength(3);
    expect(`"${manifest.hash}"`).toBe(etag);
    const c1 = await t.api(`/api/v1/chunks/${manifest.chunks[1].hash}`);
    expect(Buffer.from(await c1.arrayBuffer()).equals(data.subarray(100_000, 200_000))).toBe(true);
  });

  it('round-trips an empty file', async () => {
    const commit = await uploadBuffer(t, '/empty', Buffer.alloc(0));
    expect(commit.status).toBe(200);
    const got = await t.api('/api/v1/files/empty');
    expect(got.status).toBe(200);
    expect((await got.arrayBuffer()).byteLength).toBe(0);
  });

  it('a second upload of the same content sends no chunk bodies', async () => {
    const data = randomBytes(200_000);
    await uploadBuffer(t, '/dedup/one', data);
    const before = await metric('ferry_chunk_bytes_received_total');
    const { refs } = pieces(data, 64 * 1024);
    const created = await t.api('/api/v1/uploads', { method: 'POST', json: { path: '/dedup/two', size: data.length, hash: fileHashOf(refs), chunks: refs } });
    const { id, missing } = (await created.json()) as { id: string; missing: string[] };
    expect(missing).toEqual([]);
    expect((await t.api(`/api/v1/uploads/${id}/commit`, { method: 'POST' })).status).toBe(200);
    expect(await metric('ferry_chunk_bytes_received_total')).toBe(before);
  });

  it('streams a manifest by appends, then commits with the final facts', async () => {
    const data = randomBytes(150_000);
    const { refs, parts } = pieces(data, 50_000);
    const created = await t.api('/api/v1/uploads', { method: 'POST', json: { path: '/stream.bin' } });
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: string };
    for (let i = 0; i < 3; i++) {
      const ap = await t.api(`/api/v1/uploads/${id}/chunks`, { method: 'POST', json: { chunks: [refs[i]] } });
      expect(((await ap.json()) as { missing: string[] }).missing).toEqual([refs[i].hash]);
      const put = await t.api(`/api/v1/uploads/${id}/chunks/${refs[i].hash}`, { method: 'PUT', body: parts[i], headers: { 'content-type': 'application/octet-stream' } });
      expect(await put.json()).toMatchObject({ stored: true });
    }
    await expectError(await t.api(`/api/v1/uploads/${id}/commit`, { method: 'POST', json: { size: 1 } }), 400, 'FERRY_ERR_SIZE_MISMATCH');
    const ok = await t.api(`/api/v1/uploads/${id}/commit`, { method: 'POST', json: { size: data.length, hash: fileHashOf(refs), mtime: 1_600_000_000_000, mode: 0o640 } });
    expect(ok.status).toBe(200);
    const st = (await (await t.api('/api/v1/stat/stream.bin')).json()) as { mtime: number; mode: number; size: number };
    expect(st).toMatchObject({ mtime: 1_600_000_000_000, mode: 0o640, size: 150_000 });
  });

  it('stores many small files through one batch session and one pack', async () => {
    const files = Array.from({ length: 50 }, (_, i) => ({ path: `/small/f${i}.txt`, data: randomBytes(100 + i * 37) }));
    const specs = files.map((f) => {
      const refs = [{ hash: sha256(f.data), size: f.data.length }];
      return { path: f.path, size: f.data.length, hash: fileHashOf(refs), chunks: refs, mtime: 1_700_000_000_000 };
    });
    const created = await t.api('/api/v1/uploads', { method: 'POST', json: { files: specs } });
    expect(created.status).toBe(201);
    const { id, missing } = (await created.json()) as { id: string; missing: string[] };
    expect(missing).toHaveLength(50);
    const body = pack(files.map((f) => f.data));
    const put = await t.api(`/api/v1/uploads/${id}/packs`, { method: 'POST', body, headers: { 'content-type': 'application/octet-stream' } });
    expect(await put.json()).toMatchObject({ stored: 50 });
    const commit = await t.api(`/api/v1/uploads/${id}/commit`, { method: 'POST' });
    expect(((await commit.json()) as { files: unknown[] }).files).toHaveLength(50);
    for (const f of [files[0], files[49]]) {
      const got = await t.api('/api/v1/files' + f.path);
      expect(Buffer.from(await got.arrayBuffer()).equals(f.data)).toBe(true);
    }
    const listed = (await (await t.api('/api/v1/list/small')).json()) as { entries: unknown[] };
    expect(listed.entries).toHaveLength(50);
  });

  it('keeps an upload session across a server restart and resumes it', async () => {
    const data = randomBytes(200_000);
    const { refs, parts } = pieces(data, 100_000);
    const created = await t.api('/api/v1/uploads', { method: 'POST', json: { path: '/resume.bin', size: data.length, hash: fileHashOf(refs), chunks: refs } });
    const { id } = (await created.json()) as { id: string };
    await t.api(`/api/v1/uploads/${id}/chunks/${refs[0].hash}`, { method: 'PUT', body: parts[0], headers: { 'content-type': 'application/octet-stream' } });
    await t.restart();
    const status = (await (await t.api(`/api/v1/uploads/${id}`)).json()) as { missing: string[] };
    expect(status.missing).toEqual([refs[1].hash]);
    await expectError(await t.api(`/api/v1/uploads/${id}/commit`, { method: 'POST' }), 409, 'FERRY_ERR_UPLOAD_INCOMPLETE');
    await t.api(`/api/v1/uploads/${id}/chunks/${refs[1].hash}`, { method: 'PUT', body: parts[1], headers: { 'content-type': 'application/octet-stream' } });
    expect((await t.api(`/api/v1/uploads/${id}/commit`, { method: 'POST' })).status).toBe(200);
  });
});

describe('bad input', () => {
  it('refuses path traversal and unsafe names, storing nothing', async () => {
    for (const path of ['/a/../../etc/passwd', '/a/./b', '/x\u0000y', '/x\u0007y', '/' + 'n'.repeat(256)]) {
      await expectError(await t.api('/api/v1/uploads', { method: 'POST', json: { path } }), 400, 'FERRY_ERR_PATH_INVALID');
    }
    // fetch() would resolve dot segments before sending: send these raw.
    for (const raw of ['/api/v1/files/a/%2e%2e/%2e%2e/etc/passwd', '/api/v1/files/a/../../etc/passwd', '/api/v1/stat/a/..', '/api/v1/files/%00x', '/api/v1/files/a%2f..%2f..%2fb']) {
      const r = await rawGet(raw);
      expect({ raw, status: r.status }).toEqual({ raw, status: 400 });
      expect(JSON.parse(r.body).error.code).toBe('FERRY_ERR_PATH_INVALID');
    }
    await expectError(await t.api('/api/v1/move', { method: 'POST', json: { from: '/dir', to: '../outside' } }), 400, 'FERRY_ERR_PATH_INVALID');
    // Nothing escaped the data directory's store.
    const outside = readdirSync(t.dataDir);
    expect(outside.sort()).toEqual(expect.arrayContaining(['meta.db', 'store']));
  });

  it('refuses malformed JSON, bad hashes and wrong sizes', async () => {
    const r = await t.api('/api/v1/uploads', { method: 'POST', body: '{"path": ', headers: { 'content-type': 'application/json' } });
    await expectError(r, 400, 'FERRY_ERR_VALIDATION');
    await expectError(await t.api('/api/v1/uploads', { method: 'POST', json: { path: '/h', chunks: [{ hash: 'xyz', size: 1 }] } }), 400, 'FERRY_ERR_HASH_INVALID');
    await expectError(await t.api('/api/v1/uploads', { method: 'POST', json: { path: '/h', chunks: [{ hash: sha256(Buffer.from('a')), size: 0 }] } }), 400, 'FERRY_ERR_VALIDATION');
    await expectError(await t.api('/api/v1/uploads', { method: 'POST', json: { path: '/h', chunks: [{ hash: sha256(Buffer.from('a')), size: 5 * 1024 * 1024 }] } }), 400, 'FERRY_ERR_VALIDATION');
    const a = Buffer.from('abc');
    const refs = [{ hash: sha256(a), size: 3 }];
    await expectError(await t.api('/api/v1/uploads', { method: 'POST', json: { path: '/h', size: 4, hash: fileHashOf(refs), chunks: refs } }), 400, 'FERRY_ERR_SIZE_MISMATCH');
    await expectError(await t.api('/api/v1/uploads', { method: 'POST', json: { path: '/h', size: 3, hash: sha256(a), chunks: refs } }), 400, 'FERRY_ERR_HASH_MISMATCH');
    await expectError(await t.api('/api/v1/uploads', { method: 'POST', json: [1, 2] }), 400, 'FERRY_ERR_VALIDATION');
  });

  it('refuses chunk bodies that do not match their hash or announced size', async () => {
    const good = randomBytes(1000);
    const refs = [{ hash: sha256(good), size: good.length }];
    const created = await t.api('/api/v1/uploads', { method: 'POST', json: { path: '/bad-chunk', size: 1000, hash: fileHashOf(refs), chunks: refs } });
    const { id } = (await created.json()) as { id: string };
    const octet = { 'content-type': 'application/octet-stream' };
    await expectError(await t.api(`/api/v1/uploads/${id}/chunks/${refs[0].hash}`, { method: 'PUT', body: randomBytes(1000), headers: octet }), 400, 'FERRY_ERR_HASH_MISMATCH');
    // A body of another size than the manifest gives the chunk is refused before it is read.
    await expectError(await t.api(`/api/v1/uploads/${id}/chunks/${refs[0].hash}`, { method: 'PUT', body: good.subarray(0, 999), headers: octet }), 400, 'FERRY_ERR_SIZE_MISMATCH');
    await expectError(await t.api(`/api/v1/uploads/${id}/chunks/NOTAHASH`, { method: 'PUT', body: good, headers: octet }), 400, 'FERRY_ERR_HASH_INVALID');
    const other = sha256(Buffer.from('other'));
    await expectError(await t.api(`/api/v1/uploads/${id}/chunks/${other}`, { method: 'PUT', body: Buffer.from('other'), headers: octet }), 400, 'FERRY_ERR_CHUNK_NOT_IN_UPLOAD');
    await expectError(await t.api(`/api/v1/uploads/${id}/chunks/${refs[0].hash}`, { method: 'PUT', body: good, headers: { 'content-type': 'application/json' } }), 400, 'FERRY_ERR_VALIDATION');
    await expectError(await t.api(`/api/v1/uploads/${id}/commit`, { method: 'POST' }), 409, 'FERRY_ERR_UPLOAD_INCOMPLETE');
    // Nothing of the bad bodies was kept.
    const status = (await (await t.api(`/api/v1/uploads/${id}`)).json()) as { missing: string[] };
    expect(status.missing).toEqual([refs[0].hash]);
    // A bad frame in a pack stores nothing of the pack.
    const bad = pack([good]);
    bad[bad.length - 1] ^= 0xff;
    await expectError(await t.api(`/api/v1/uploads/${id}/packs`, { method: 'POST', body: bad, headers: octet }), 400, 'FERRY_ERR_HASH_MISMATCH');
    expect(((await (await t.api(`/api/v1/uploads/${id}`)).json()) as { missing: string[] }).missing).toHaveLength(1);
  });

  it('answers unknown upload ids with 404', async () => {
    await expectError(await t.api('/api/v1/uploads/nope'), 404, 'FERRY_ERR_UPLOAD_NOT_FOUND');
    await expectError(await t.api('/api/v1/uploads/nope/commit', { method: 'POST' }), 404, 'FERRY_ERR_UPLOAD_NOT_FOUND');
    await expectError(await t.api(`/api/v1/uploads/nope/chunks/${sha256(Buffer.from('x'))}`, { method: 'PUT', body: 'x', headers: { 'content-type': 'application/octet-stream' } }), 404, 'FERRY_ERR_UPLOAD_NOT_FOUND');
    await expectError(await t.api('/api/v1/uploads/nope', { method: 'DELETE' }), 404, 'FERRY_ERR_UPLOAD_NOT_FOUND');
  });

  it('reports missing files, directories as files, and non-empty deletes', async () => {
    await expectError(await t.api('/api/v1/files/no/such/file'), 404, 'FERRY_ERR_NOT_FOUND');
    await expectError(await t.api('/api/v1/files/dir'), 409, 'FERRY_ERR_IS_A_DIRECTORY');
    await expectError(await t.api('/api/v1/files/dir', { method: 'DELETE' }), 409, 'FERRY_ERR_DIRECTORY_NOT_EMPTY');
    await expectError(await t.api('/api/v1/files/', { method: 'DELETE', headers: {} }), 400, 'FERRY_ERR_VALIDATION');
    await expectError(await t.api('/api/v1/list/empty'), 409, 'FERRY_ERR_NOT_A_DIRECTORY');
  });
});

describe('integrity', () => {
  it('detects a chunk corrupted on disk: an error and a counter, never wrong bytes', async () => {
    const data = randomBytes(64 * 1024 * 3);
    expect((await uploadBuffer(t, '/corrupt.bin', data)).status).toBe(200);
    const manifest = (await (await t.api('/api/v1/manifests/corrupt.bin')).json()) as { chunks: ChunkRef[] };
    const victim = manifest.chunks[1].hash;
    const file = join(t.dataDir, 'store', 'chunks', victim.slice(0, 2), victim);
    const bytes = readFileSync(file);
    bytes[100] ^= 0x01;
    writeFileSync(file, bytes);
    expect(statSync(file).size).toBe(64 * 1024 + CHUNK_HEADER_BYTES); // random bytes: stored raw behind the object header

    await expectError(await t.api(`/api/v1/chunks/${victim}`), 500, 'FERRY_ERR_CHUNK_CORRUPT');
    // The whole-file download starts fine (chunk 0 is intact) and is cut before the bad chunk.
    const res = await t.api('/api/v1/files/corrupt.bin');
    expect(res.status).toBe(200);
    const received = await res.arrayBuffer().then(
      (b) => Buffer.from(b),
      () => null,
    );
    if (received !== null) {
      expect(received.length).toBeLessThan(data.length);
      expect(received.equals(data.subarray(0, received.length))).toBe(true);
    }
    // A range starting inside the bad chunk gets a proper error.
    await expectError(await t.api('/api/v1/files/corrupt.bin', { headers: { range: `bytes=${64 * 1024 + 5}-` } }), 500, 'FERRY_ERR_CHUNK_CORRUPT');
    expect(await metric('ferry_chunk_corrupt_total')).toBeGreaterThanOrEqual(3);
  });
});

describe('namespace', () => {
  it('moves, copies, makes directories and deletes', async () => {
    const data = randomBytes(5000);
    await uploadBuffer(t, '/ns/a.txt', data);
    expect((await t.api('/api/v1/mkdir/ns/sub/deep?parents=true', { method: 'POST' })).status).toBe(201);
    await expectError(await t.api('/api/v1/mkdir/ns/sub', { method: 'POST' }), 409, 'FERRY_ERR_ALREADY_EXISTS');
    expect((await t.api('/api/v1/copy', { method: 'POST', json: { from: '/ns/a.txt', to: '/ns/sub/b.txt' } })).status).toBe(200);
    expect((await t.api('/api/v1/move', { method: 'POST', json: { from: '/ns/sub', to: '/ns/moved' } })).status).toBe(200);
    const got = await t.api('/api/v1/files/ns/moved/b.txt');
    expect(Buffer.from(await got.arrayBuffer()).equals(data)).toBe(true);
    const all = (await (await t.api('/api/v1/list/ns?recursive=true')).json()) as { entries: { path: string }[] };
    expect(all.entries.map((e) => e.path)).toEqual(['/ns/a.txt', '/ns/moved', '/ns/moved/b.txt', '/ns/moved/deep']);
    await expectError(await t.api('/api/v1/move', { method: 'POST', json: { from: '/ns', to: '/ns/moved/x' } }), 400, 'FERRY_ERR_VALIDATION');
    expect((await t.api('/api/v1/files/ns?recursive=true', { method: 'DELETE' })).status).toBe(204);
    await expectError(await t.api('/api/v1/stat/ns'), 404, 'FERRY_ERR_NOT_FOUND');
    // ifExists=true: nothing there is 204 (browsers log a 404 as an error); the rest as without it
    await uploadBuffer(t, '/ns-kept.txt', Buffer.from('kept'));
    const absent = await t.api('/api/v1/stat/ns?ifExists=true');
    expect([absent.status, await absent.text()]).toEqual([204, '']);
    expect((await t.api('/api/v1/stat/ns/deeper/still?ifExists=1')).status).toBe(204);
    expect(await (await t.api('/api/v1/stat/ns-kept.txt?ifExists=true')).json()).toMatchObject({ path: '/ns-kept.txt', type: 'file' });
    await expectError(await t.api('/api/v1/stat/ns?ifExists=maybe'), 400, 'FERRY_ERR_VALIDATION');
  });

  it('garbage-collects chunks of deleted files', async () => {
    const data = randomBytes(70_000);
    await uploadBuffer(t, '/gc/x.bin', data, 35_000);
    const manifest = (await (await t.api('/api/v1/manifests/gc/x.bin')).json()) as { chunks: ChunkRef[] };
    const file = join(t.dataDir, 'store', 'chunks', manifest.chunks[0].hash.slice(0, 2), manifest.chunks[0].hash);
    expect(statSync(file).size).toBe(35_000 + CHUNK_HEADER_BYTES);
    await t.api('/api/v1/files/gc?recursive=true', { method: 'DELETE' });
    const gc = (await (await t.api('/api/v1/admin/gc', { method: 'POST', json: { graceSeconds: 0 } })).json()) as { chunks: number };
    expect(gc.chunks).toBeGreaterThanOrEqual(2);
    expect(() => statSync(file)).toThrow();
  });
});
