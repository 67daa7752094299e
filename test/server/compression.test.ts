/**
 * zstd per chunk (issue 15): in transit both ways and at rest, against a real server over
 * real HTTP. Compressible, incompressible and mixed data with compression on and off; the
 * objects on disk (header, codec, sizes); corrupted compressed chunks; chunk objects of
 * older servers (no header); bad compressed bodies; Accept-Encoding on plain downloads;
 * the byte counters and ratios in /metrics and the admin stats.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, brotliDecompressSync } from 'node:zlib';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compress, decompress } from 'zstd-napi';
import { compressChunk } from '../../src/algo/zstd-chunk.js';
import { FerryClient } from '../../src/client/client.js';
import { fileHashOf } from '../../src/core/manifest.js';
import type { Capabilities } from '../../src/core/protocol.js';
import { CHUNK_HEADER_BYTES, parseChunkHeader } from '../../src/store/chunk-codec.js';
import { pieces, sha256, startTestServer, uploadBuffer, metricSum, type TestServer } from '../helpers/in-process-server.js';

let t: TestServer;
let dir: string;
beforeAll(async () => {
  t = await startTestServer();
  dir = mkdtempSync(join(tmpdir(), 'ferry-zstd-'));
});
afterAll(async () => {
  await t.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Text-like bytes that compress several times over (log lines with varying numbers). */
function textLike(bytes: number, seed = 0): Buffer {
  const lines: string[] = [];
  let n = 0;
  for (let i = 0; n < bytes; i++) {
    const line = `2026-12-03T12:${String(i % 60).padStart(2, '0')}:00Z info request ${(i * 7919 + seed) % 100000} GET /api/v1/files/home/user/report-${i % 97}.txt 200 ${(i * 31) % 5000}ms\n`;
    lines.push(line);
    n += line.length;
  }
  return Buffer.from(lines.join('')).subarray(0, bytes);
}

const metric = (name: string) => metricSum(t, name);

/** The chunk objects on disk: path, header (undefined: none) and size. */
function chunkObjects(): Map<string, { file: string; bytes: number; codec?: number }> {
  const out = new Map<string, { file: string; bytes: number; codec?: number }>();
  const root = join(t.dataDir, 'store', 'chunks');
  for (const d of readdirSync(root)) {
    for (const f of readdirSync(join(root, d))) {
      if (f.startsWith('.')) continue;
      const file = join(root, d, f);
      const buf = readFileSync(file);
      out.set(f, { file, bytes: statSync(file).size, codec: parseChunkHeader(buf)?.codec });
    }
  }
  return out;
}

const client = (compress: boolean) => new FerryClient({ server: t.url, token: t.token, compress });

describe('compression of chunks', () => {
  it('is announced in the capabilities', async () => {
    const caps = (await (await t.api('/api/v1/capabilities', { token: null })).json()) as Capabilities;
    expect(caps.features).toContain('zstd');
  });

  for (const compressOn of [true, false]) {
    it(`round-trips compressible, incompressible and mixed files (client compression ${compressOn ? 'on' : 'off'})`, async () => {
      const c = client(compressOn);
      try {
        const files = {
          text: textLike(3 * 1024 * 1024, compressOn ? 1 : 2),
          random: randomBytes(3 * 1024 * 1024),
          mixed: Buffer.concat([textLike(1024 * 1024, compressOn ? 3 : 4), randomBytes(1024 * 1024), textLike(1024 * 1024, compressOn ? 5 : 6)]),
          small: textLike(20_000, compressOn ? 7 : 8),
        };
        const wireBefore = await metric('ferry_chunk_wire_bytes_received_total');
        const bodyBefore = await metric('ferry_chunk_body_bytes_received_total');
        const told = { transferred: 0, wire: 0 };
        for (const [name, data] of Object.entries(files)) {
          writeFileSync(join(dir, `${name}-${compressOn}`), data);
          const r = await c.putFile(join(dir, `${name}-${compressOn}`), `/z/${compressOn}/${name}`);
          told.transferred += r.bytesTransferred;
          told.wire += r.wireBytes;
        }
        const wire = (await metric('ferry_chunk_wire_bytes_received_total')) - wireBefore;
        const body = (await metric('ferry_chunk_body_bytes_received_total')) - bodyBefore;
        const total = Object.values(files).reduce((a, b) => a + b.length, 0);
        expect(body).toBe(total);
        // The client's results say what went on the wire, to the byte the server counts.
        expect(told.transferred).toBe(total);
        expect(told.wire).toBe(wire);
        // Text travels compressed only when the client compresses; random bytes never shrink.
        // (packs add a 36-byte frame header per small chunk)
        if (compressOn) expect(wire).toBeLessThan(total * 0.75);
        else expect(wire - total).toBeGreaterThanOrEqual(0);
        if (!compressOn) expect(wire - total).toBeLessThan(36 * 20);
        const sentBeforeGet = await metric('ferry_chunk_wire_bytes_sent_total');
        let gotWire = 0;
        for (const [name, data] of Object.entries(files)) {
          const back = join(dir, `${name}-${compressOn}-back`);
          gotWire += (await c.getFile(`/z/${compressOn}/${name}`, back)).wireBytes;
          expect(sha256(readFileSync(back))).toBe(sha256(data));
        }
        expect(gotWire).toBe((await metric('ferry_chunk_wire_bytes_sent_total')) - sentBeforeGet);
        if (compressOn) expect(gotWire).toBeLessThan(total * 0.75);
        else expect(gotWire).toBe(total);
        // A stream download fetches chunk by chunk, zstd-compressed when the client takes it.
        const sentBefore = await metric('ferry_chunk_wire_bytes_sent_total');
        const parts: Buffer[] = [];
        const sink = new Writable({ write: (piece: Buffer, _e, done) => (parts.push(piece), done()) });
        const streamed = await c.getStream(`/z/${compressOn}/text`, sink);
        expect(Buffer.concat(parts).equals(files.text)).toBe(true);
        expect(streamed.bytesTransferred).toBe(files.text.length);
        expect(streamed.wireBytes).toBe((await metric('ferry_chunk_wire_bytes_sent_total')) - sentBefore);
        if (compressOn) expect(streamed.wireBytes).toBeLessThan(files.text.length / 2);
        else expect(streamed.wireBytes).toBe(files.text.length);
        // At rest either way: the server compresses what arrives raw.
        const manifest = (await (await t.api(`/api/v1/manifests/z/${compressOn}/text`)).json()) as { chunks: { hash: string; size: number }[] };
        const objects = chunkObjects();
        // (chunks under the pack threshold live in packs: the loose ones are checked here)
        const loose = manifest.chunks.filter((ch) => objects.has(ch.hash));
        expect(loose.length).toBeGreaterThan(0);
        for (const ch of loose) {
          const o = objects.get(ch.hash)!;
          expect(o.codec).toBe(1);
          expect(o.bytes).toBeLessThan(ch.size / 2);
        }
        const random = (await (await t.api(`/api/v1/manifests/z/${compressOn}/random`)).json()) as { chunks: { hash: string; size: number }[] };
        const looseRandom = random.chunks.filter((ch) => objects.has(ch.hash));
        expect(looseRandom.length).toBeGreaterThan(0);
        for (const ch of looseRandom) {
          const o = objects.get(ch.hash)!;
          expect(o.codec).toBe(0);
          expect(o.bytes).toBe(ch.size + CHUNK_HEADER_BYTES);
        }
      } finally {
        await c.close();
      }
    });
  }

  it("sends a large file's compressible chunks as the chunking workers' frames: none compressed on the main thread, the frames' bytes on the wire, byte for byte back", async () => {
    const c = client(true);
    // The main thread's compression, watched: it must try only the chunks that have no frame.
    const zstd = (c as unknown as { zstd: { compress(d: Uint8Array): Uint8Array | undefined } }).zstd;
    const own = zstd.compress;
    const tried: number[] = [];
    zstd.compress = (d) => (tried.push(d.length), own(d));
    try {
      const { packThreshold } = (await c.capabilities()).limits;
      const MiB = 1024 * 1024;
      // Past the 32 MiB from which a put chunks on worker threads.
      const files = {
        text: textLike(40 * MiB, 11),
        random: randomBytes(34 * MiB),
        mixed: Buffer.concat([textLike(12 * MiB, 12), randomBytes(12 * MiB), textLike(12 * MiB + 777, 13)]),
      };
      for (const [name, data] of Object.entries(files)) {
        tried.length = 0;
        writeFileSync(join(dir, `workers-${name}`), data);
        const wireBefore = await metric('ferry_chunk_wire_bytes_received_total');
        const r = await c.putFile(join(dir, `workers-${name}`), `/zw/${name}`);
        const wire = (await metric('ferry_chunk_wire_bytes_received_total')) - wireBefore;
        expect(r.wireBytes).toBe(wire);
        const manifest = (await (await t.api(`/api/v1/manifests/zw/${name}`)).json()) as { chunks: { hash: string; size: number }[] };
        let offset = 0;
        let frames = 0;
        let small = 0;
        const unframed: number[] = [];
        for (const ch of manifest.chunks) {
          const bytes = data.subarray(offset, offset + ch.size);
          offset += ch.size;
          if (ch.size < packThreshold) {
            small += ch.size + 36; // packed, the pack compressed whole
            continue;
          }
          const frame = compressChunk(bytes);
          if (frame) frames += frame.length;
          else {
            frames += ch.size;
            unframed.push(ch.size);
          }
        }
        // What went on the wire: each large chunk's frame (or its bytes), with its 40-byte
        // header where it went in a request of chunk frames, plus the packed tail.
        const large = manifest.chunks.filter((ch) => ch.size >= packThreshold).length;
        expect(wire - frames, name).toBeGreaterThanOrEqual(0);
        expect(wire - frames, name).toBeLessThanOrEqual(40 * large + small + 64);
        expect(tried.filter((n) => n >= packThreshold).sort(), name).toEqual(unframed.sort());
        if (name === 'text') expect(unframed).toEqual([]);
        else expect(unframed.length).toBeGreaterThan(0);
        const back = join(dir, `workers-${name}-back`);
        await c.getFile(`/zw/${name}`, back);
        expect(readFileSync(back).equals(data)).toBe(true);
      }
    } finally {
      zstd.compress = own;
      await c.close();
    }
  });

  it('reports dedup and compression ratios in the admin stats and /metrics', async () => {
    const stats = (await (await t.api('/api/v1/admin/stats')).json()) as { storedBytes: number; encodedBytes: number; compressionRatio: number; dedupRatio: number };
    expect(stats.encodedBytes).toBeLessThan(stats.storedBytes);
    expect(stats.compressionRatio).toBeGreaterThan(1.2);
    expect(stats.dedupRatio).toBeGreaterThanOrEqual(1);
    expect(await metric('ferry_storage_compression_ratio')).toBeCloseTo(stats.compressionRatio, 2);
    expect(await metric('ferry_storage_encoded_bytes')).toBe(stats.encodedBytes);
    expect(await metric('ferry_chunk_object_bytes_written_total')).toBeGreaterThan(0);
  });

  it('serves a whole compressible file in zstd, br or gzip as asked, a range or an incompressible file plain', async () => {
    const data = textLike(600_000, 11);
    expect((await uploadBuffer(t, '/z/served.txt', data, 200_000)).status).toBe(200);
    const get = (accept: string, extra: Record<string, string> = {}) => fetch(`${t.url}/api/v1/files/z/served.txt`, { headers: { authorization: `Bearer ${t.token}`, 'accept-encoding': accept, ...extra } });
    // Node's fetch would decode these itself: read the raw bytes through undici's request instead.
    const { request } = await import('undici');
    const raw = async (accept: string, path = '/api/v1/files/z/served.txt', range?: string) => {
      const r = await request(`${t.url}${path}`, { headers: { authorization: `Bearer ${t.token}`, 'accept-encoding': accept, ...(range ? { range } : {}) } });
      return { status: r.statusCode, headers: r.headers, body: Buffer.from(await r.body.arrayBuffer()) };
    };
    const z = await raw('zstd');
    expect(z.headers['content-encoding']).toBe('zstd');
    expect(z.headers.vary).toContain('accept-encoding');
    expect(z.headers.etag).toMatch(/-zstd"$/);
    expect(z.body.length).toBeLessThan(data.length / 2);
    expect(decompress(z.body).equals(data)).toBe(true);
    const g = await raw('gzip');
    expect(g.headers['content-encoding']).toBe('gzip');
    expect(gunzipSync(g.body).equals(data)).toBe(true);
    const b = await raw('br;q=1, gzip;q=0.5');
    expect(b.headers['content-encoding']).toBe('br');
    expect(brotliDecompressSync(b.body).equals(data)).toBe(true);
    expect((await raw('zstd;q=0, identity')).headers['content-encoding']).toBeUndefined();
    const part = await raw('zstd', undefined, 'bytes=10-19');
    expect(part.status).toBe(206);
    expect(part.headers['content-encoding']).toBeUndefined();
    expect(part.body.equals(data.subarray(10, 20))).toBe(true);
    // A file that did not compress at rest goes out as it is.
    const rnd = randomBytes(300_000);
    expect((await uploadBuffer(t, '/z/random.bin', rnd, 100_000)).status).toBe(200);
    const r = await raw('zstd, gzip, br', '/api/v1/files/z/random.bin');
    expect(r.headers['content-encoding']).toBeUndefined();
    expect(r.headers['content-length']).toBe(String(rnd.length));
    expect(r.body.equals(rnd)).toBe(true);
    // Node's own fetch (which asks for gzip, deflate and br) gets the same bytes.
    expect(Buffer.from(await (await get('gzip, deflate, br')).arrayBuffer()).equals(data)).toBe(true);
  });

  it('stores the chunks of uploads the server cuts itself (curl -T, WebDAV) compressed too, and serves them in zstd', async () => {
    const { request } = await import('undici');
    const before = chunkObjects();
    const data = textLike(700_000, 13);
    const put = await t.api('/api/v1/files/z/streamed.txt', { method: 'PUT', body: data });
    expect(put.status).toBe(201);
    const dav = textLike(300_000, 14);
    const davPut = await request(`${t.url}/dav/z/dav.txt`, { method: 'PUT', body: dav, headers: { authorization: `Bearer ${t.token}` } });
    await davPut.body.dump();
    expect(davPut.statusCode).toBe(201);
    const fresh = [...chunkObjects()].filter(([hash]) => !before.has(hash)).map(([, o]) => o);
    expect(fresh.length).toBeGreaterThan(0);
    // Every new object has the format's header, and compressed: smaller than the text it holds.
    expect(fresh.map((o) => o.codec)).toEqual(fresh.map(() => 1));
    expect(fresh.reduce((n, o) => n + o.bytes, 0)).toBeLessThan((data.length + dav.length) / 2);
    const z = await request(`${t.url}/api/v1/files/z/streamed.txt`, { headers: { authorization: `Bearer ${t.token}`, 'accept-encoding': 'zstd' } });
    const body = Buffer.from(await z.body.arrayBuffer());
    expect(z.headers['content-encoding']).toBe('zstd');
    expect(decompress(body).equals(data)).toBe(true);
    // Random bytes cut by the server stay raw (behind a raw header).
    const rnd = randomBytes(200_000);
    expect((await t.api('/api/v1/files/z/streamed.bin', { method: 'PUT', body: rnd })).status).toBe(201);
    const o = chunkObjects().get(sha256(rnd))!;
    expect({ codec: o.codec, bytes: o.bytes }).toEqual({ codec: 0, bytes: rnd.length + CHUNK_HEADER_BYTES });
    expect(Buffer.from(await (await t.api('/api/v1/files/z/streamed.bin')).arrayBuffer()).equals(rnd)).toBe(true);
  });

  it('sends a chunk stored compressed as its zstd frame to a client that takes zstd', async () => {
    const data = textLike(150_000, 12);
    expect((await uploadBuffer(t, '/z/one.txt', data, 150_000)).status).toBe(200);
    const { request } = await import('undici');
    const r = await request(`${t.url}/api/v1/chunks/${sha256(data)}?path=/z/one.txt`, { headers: { authorization: `Bearer ${t.token}`, 'accept-encoding': 'zstd' } });
    const body = Buffer.from(await r.body.arrayBuffer());
    expect(r.headers['content-encoding']).toBe('zstd');
    expect(Number(r.headers['content-length'])).toBe(body.length);
    expect(decompress(body).equals(data)).toBe(true);
    const plain = await request(`${t.url}/api/v1/chunks/${sha256(data)}?path=/z/one.txt`, { headers: { authorization: `Bearer ${t.token}` } });
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(Buffer.from(await plain.body.arrayBuffer()).equals(data)).toBe(true);
  });
});

describe('ranged reads as zstd frames (feature range-zstd)', () => {
  it('the SDK downloads a compressible file in frames, counted to the byte; other ranges, files and requests go plain', async () => {
    const caps = (await (await t.api('/api/v1/capabilities', { token: null })).json()) as Capabilities;
    expect(caps.features).toContain('range-zstd');
    const data = Buffer.concat([textLike(2_500_000, 51), randomBytes(1024 * 1024), textLike(1_500_000, 52)]);
    writeFileSync(join(dir, 'ranged'), data);
    const c = client(true);
    try {
      await c.putFile(join(dir, 'ranged'), '/z/ranged.bin');
      const sentBefore = await metric('ferry_chunk_wire_bytes_sent_total');
      const r = await c.getFile('/z/ranged.bin', join(dir, 'ranged-back'));
      expect(readFileSync(join(dir, 'ranged-back')).equals(data)).toBe(true);
      expect(r.bytesTransferred).toBe(data.length);
      expect(r.wireBytes).toBe((await metric('ferry_chunk_wire_bytes_sent_total')) - sentBefore);
      // The text travels compressed, the random MiB as it is (in raw-block frames).
      expect(r.wireBytes).toBeLessThan(data.length / 2);
      expect(r.wireBytes).toBeGreaterThan(1024 * 1024);
      // Without compression the same download is the plain bytes.
      const plain = client(false);
      const p = await plain.getFile('/z/ranged.bin', join(dir, 'ranged-plain'));
      await plain.close();
      expect(readFileSync(join(dir, 'ranged-plain')).equals(data)).toBe(true);
      expect(p.wireBytes).toBe(data.length);
    } finally {
      await c.close();
    }
    const { request } = await import('undici');
    const ranged = async (path: string, range: string, frames: boolean) => {
      const res = await request(`${t.url}/api/v1/files${path}`, { headers: { authorization: `Bearer ${t.token}`, range, ...(frames ? { 'x-ferry-range-encoding': 'zstd' } : {}) } });
      return { status: res.statusCode, headers: res.headers, body: Buffer.from(await res.body.arrayBuffer()) };
    };
    const manifest = (await (await t.api('/api/v1/manifests/z/ranged.bin')).json()) as { chunks: { size: number }[] };
    expect(manifest.chunks.length).toBeGreaterThan(1);
    // The first chunk: text.
    const end = manifest.chunks[0].size - 1;
    const z = await ranged('/z/ranged.bin', `bytes=0-${end}`, true);
    expect(z.status).toBe(206);
    expect(z.headers['content-encoding']).toBe('zstd');
    expect(z.headers['content-range']).toBe(`bytes 0-${end}/${data.length}`);
    expect(z.headers.vary).toContain('x-ferry-range-encoding');
    expect(z.body.length).toBeLessThan((end + 1) / 2);
    expect(decompress(z.body).equals(data.subarray(0, end + 1))).toBe(true);
    // Not on a chunk's boundary, not asked for, or a file that did not compress: plain.
    for (const [range, frames] of [[`bytes=1-${end}`, true], [`bytes=0-${end - 1}`, true], [`bytes=0-${end}`, false]] as const) {
      const plain = await ranged('/z/ranged.bin', range, frames);
      expect(plain.headers['content-encoding']).toBeUndefined();
      const [a, b] = range.slice(6).split('-').map(Number);
      expect(plain.body.equals(data.subarray(a, b + 1))).toBe(true);
    }
    const rnd = randomBytes(700_000);
    expect((await uploadBuffer(t, '/z/ranged-random.bin', rnd, 700_000)).status).toBe(200);
    const r = await ranged('/z/ranged-random.bin', `bytes=0-${rnd.length - 1}`, true);
    expect(r.headers['content-encoding']).toBeUndefined();
    expect(r.body.equals(rnd)).toBe(true);
  });

  it('a damaged compressed chunk fails an SDK download with FERRY_ERR_CHUNK_CORRUPT, never wrong bytes', async () => {
    const data = textLike(900_000, 53);
    expect((await uploadBuffer(t, '/z/ranged-damage.txt', data, 300_000)).status).toBe(200);
    const manifest = (await (await t.api('/api/v1/manifests/z/ranged-damage.txt')).json()) as { chunks: { hash: string }[] };
    const o = chunkObjects().get(manifest.chunks[1].hash)!;
    expect(o.codec).toBe(1);
    const buf = readFileSync(o.file);
    buf[buf.length - 40] ^= 0x55;
    writeFileSync(o.file, buf);
    const c = client(true);
    try {
      const dest = join(dir, 'ranged-damage');
      await expect(c.getFile('/z/ranged-damage.txt', dest)).rejects.toMatchObject({ code: 'FERRY_ERR_CHUNK_CORRUPT' });
      expect(() => statSync(dest)).toThrow();
    } finally {
      await c.close();
    }
  });
});

describe('compressed bodies that are wrong', () => {
  async function session(data: Buffer, path: string): Promise<{ id: string; hash: string }> {
    const { refs } = pieces(data, data.length);
    const res = await t.api('/api/v1/uploads', { method: 'POST', json: { path, size: data.length, hash: fileHashOf(refs), chunks: refs } });
    const { id } = (await res.json()) as { id: string };
    return { id, hash: refs[0].hash };
  }
  const put = (id: string, hash: string, body: Buffer, encoding: string) =>
    t.api(`/api/v1/uploads/${id}/chunks/${hash}`, { method: 'PUT', body, headers: { 'content-type': 'application/octet-stream', 'content-encoding': encoding } });
  async function expectError(res: Response, status: number, code: string): Promise<void> {
    const text = await res.text();
    expect({ status: res.status, text }).toMatchObject({ status });
    expect((JSON.parse(text) as { error: { code: string } }).error.code).toBe(code);
  }

  it('refuses a damaged frame, a frame of another size, another chunk and an unknown coding', async () => {
    const data = textLike(100_000, 21);
    const { id, hash } = await session(data, '/z/bad.txt');
    const frame = compress(data);
    const damaged = Buffer.from(frame);
    damaged[damaged.length >> 1] ^= 0xff;
    await expectError(await put(id, hash, damaged, 'zstd'), 400, 'FERRY_ERR_ENCODING_INVALID');
    await expectError(await put(id, hash, compress(data.subarray(0, 99_000)), 'zstd'), 400, 'FERRY_ERR_ENCODING_INVALID');
    const other = Buffer.from(data);
    other[5] ^= 1;
    await expectError(await put(id, hash, compress(other), 'zstd'), 400, 'FERRY_ERR_HASH_MISMATCH');
    await expectError(await put(id, hash, Buffer.concat([frame, frame]), 'zstd'), 400, 'FERRY_ERR_ENCODING_INVALID');
    await expectError(await put(id, hash, frame, 'gzip'), 415, 'FERRY_ERR_ENCODING_UNSUPPORTED');
    // Nothing of those was kept: the session still misses the chunk; a good frame fills it.
    expect(((await (await t.api(`/api/v1/uploads/${id}`)).json()) as { missing: string[] }).missing).toEqual([hash]);
    expect((await put(id, hash, frame, 'zstd')).status).toBe(200);
    expect((await t.api(`/api/v1/uploads/${id}/commit`, { method: 'POST', json: {} })).status).toBe(200);
    expect(Buffer.from(await (await t.api('/api/v1/files/z/bad.txt', { headers: { 'accept-encoding': 'identity' } })).arrayBuffer()).equals(data)).toBe(true);
  });

  it('refuses a compressed pack that is damaged or claims more than a pack may hold', async () => {
    const data = textLike(5000, 22);
    const { id, hash } = await session(data, '/z/packed.txt');
    const frame = Buffer.concat([Buffer.from(hash, 'hex'), Buffer.alloc(4), data]);
    frame.writeUInt32BE(data.length, 32);
    const z = compress(frame);
    const damaged = Buffer.from(z);
    damaged[damaged.length - 5] ^= 0xff;
    const post = (body: Buffer) => t.api(`/api/v1/uploads/${id}/packs`, { method: 'POST', body, headers: { 'content-type': 'application/octet-stream', 'content-encoding': 'zstd' } });
    await expectError(await post(damaged), 400, 'FERRY_ERR_ENCODING_INVALID');
    const caps = (await (await t.api('/api/v1/capabilities', { token: null })).json()) as Capabilities;
    await expectError(await post(compress(Buffer.alloc(caps.limits.maxPackBytes + 1))), 413, 'FERRY_ERR_PAYLOAD_TOO_LARGE');
    expect((await post(z)).status).toBe(200);
    expect((await t.api(`/api/v1/uploads/${id}/commit`, { method: 'POST', json: {} })).status).toBe(200);
  });
});

describe('chunk objects on disk', () => {
  it('detects a damaged compressed chunk and never serves it', async () => {
    const data = textLike(200_000, 31);
    expect((await uploadBuffer(t, '/z/damage.txt', data, 200_000)).status).toBe(200);
    const o = chunkObjects().get(sha256(data))!;
    expect(o.codec).toBe(1);
    const buf = readFileSync(o.file);
    buf[buf.length >> 1] ^= 0x55;
    writeFileSync(o.file, buf);
    const res = await t.api('/api/v1/files/z/damage.txt', { headers: { 'accept-encoding': 'identity' } });
    expect(res.status).toBe(500);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('FERRY_ERR_CHUNK_CORRUPT');
  });

  it('reads chunk objects written before the format (the plain bytes, no header)', async () => {
    const data = textLike(120_000, 41);
    expect((await uploadBuffer(t, '/z/old.txt', data, 120_000)).status).toBe(200);
    const o = chunkObjects().get(sha256(data))!;
    writeFileSync(o.file, data);
    // An old server's index row has no stored size.
    await t.server.ctx.meta.db.updateTable('chunks').set({ stored_size: null }).where('hash', '=', sha256(data)).execute();
    const back = Buffer.from(await (await t.api('/api/v1/files/z/old.txt', { headers: { 'accept-encoding': 'identity' } })).arrayBuffer());
    expect(back.equals(data)).toBe(true);
    // Old plain bytes that happen to begin like a header are still read as what they are.
    const tricky = Buffer.concat([Buffer.from([0x89, 0x46, 0x52, 0x59, 0x43, 0x0a, 1, 16, 1, 0, 0, 0, 0, 0, 0, 9]), randomBytes(5000)]);
    expect((await uploadBuffer(t, '/z/tricky.bin', tricky, tricky.length)).status).toBe(200);
    const to = chunkObjects().get(sha256(tricky))!;
    writeFileSync(to.file, tricky);
    const again = Buffer.from(await (await t.api('/api/v1/files/z/tricky.bin', { headers: { 'accept-encoding': 'identity' } })).arrayBuffer());
    expect(again.equals(tricky)).toBe(true);
  });
});
