/**
 * The SDK's transfer engine against the real server (in this process, over real HTTP on
 * 127.0.0.1): round trips, dedup, delta, resume, retries and session restarts, trees,
 * streams. Faults come from a proxy in front of the server (test/helpers/fault-proxy.ts)
 * that answers errors with Retry-After, drops connections before or after forwarding, or
 * genuinely aborts an upload session on the server; "the server lost a chunk" is produced
 * white-box by removing the chunk's index row, so the real commit answers 409 with the
 * missing list. What travelled is read from the proxy's log (bytes each way, round trips).
 *
 * The server runs with small chunking parameters (4/16/64 KiB) so that a few MiB make
 * hundreds of chunks: the same code paths as GiB files, in a fraction of the time.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { chmod, copyFile, mkdir, readFile, readdir, stat, symlink, truncate, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough, Readable, Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { chunkBuffer, sha256 } from '../../src/algo/file-hash.js';
import { FerryClient } from '../../src/client/client.js';
import { CHUNKS_PER_FRAMES_REQUEST, TransferContext } from '../../src/client/transfer.js';
import { uploadFile, type ChunkSource } from '../../src/client/upload-flow.js';
import { isFerryError } from '../../src/core/errors.js';
import type { ChunkingParams } from '../../src/core/manifest.js';
import { encodePathForUrl } from '../../src/core/protocol.js';
import { FaultProxy } from '../helpers/fault-proxy.js';
import { changedChunks, NASTY_NAMES, RAM_DIR, scribble, seededBytes, sha256File, tempDir, writeRandomFile } from '../helpers/files.js';
import { startTestServer, type TestServer } from '../helpers/in-process-server.js';

const SMALL_CHUNKING: ChunkingParams = { algorithm: 'fastcdc-v1', minSize: 4096, avgSize: 16384, maxSize: 65536, normalization: 2 };
const FAST_RETRY = { retries: 4, baseMs: 5, capMs: 20, maxRetryAfterMs: 1500 };

/** Routes whose bodies are chunk bytes: on the way in, and on the way out. */
const CHUNK_UPLOADS = /^\/api\/v1\/uploads\/[^/]+\/(chunks\/[0-9a-f]{64}|packs|chunk-frames)$/;
/** Requests that carry whole chunks: one PUT each, or several to a POST of chunk frames. */
const CHUNK_SENDS = /^\/api\/v1\/uploads\/[^/]+\/(chunks\/[0-9a-f]{64}|chunk-frames)$/;
const DOWNLOADS = /^\/api\/v1\/(chunks\/|files\/|chunks\/batch$)/;
const FILES = /^\/api\/v1\/files\//;
/** Whole small files, one `GET /files` each (large files come in ranged requests of chunk runs). */
const wholeFileGets = () => proxy.requests('GET', FILES).filter((l) => l.range === undefined);
const CREATE_UPLOAD = /^\/api\/v1\/uploads$/;
const BATCH = /^\/api\/v1\/chunks\/batch$/;

let server: TestServer;
let proxy: FaultProxy;
let client: FerryClient;
let tmp: { path: string; cleanup: () => Promise<void> };

// The server's data and the client's files on a RAM file system where there is one: what
// these tests watch is what travels, and a server closing after each test waited on the
// shared disk's fsyncs (0.38 s each on average, under load).
beforeEach(async () => {
  server = await startTestServer({ chunking: SMALL_CHUNKING, dataDir: mkdtempSync(join(RAM_DIR, 'ferry-transfer-')) });
  proxy = new FaultProxy(server.url);
  await proxy.start();
  client = new FerryClient({ server: proxy.url, token: server.token, retry: FAST_RETRY });
  tmp = await tempDir('ferry-test-', true);
});
afterEach(async () => {
  await client.close();
  await proxy.stop();
  await server.close();
  await tmp.cleanup();
});

const { minSize, avgSize, maxSize } = SMALL_CHUNKING;
const bytesSent = () => proxy.bytesIn(undefined, CHUNK_UPLOADS);
const bytesServed = () => proxy.bytesOut(undefined, DOWNLOADS);

/** A file's bytes as the server serves them (asked directly, not through the proxy). */
/**
 * A ChunkSource over bytes in memory, batches of 8 records, that records whether its
 * chunking started and whether it was closed (its generator's `finally`).
 */
function memorySource(data: Buffer, chunks: ReturnType<typeof chunkBuffer>, hooks: Pick<ChunkSource, 'sent'>) {
  let started = false;
  let closed = false;
  let pulled = 0;
  let offset = 0;
  const records = chunks.map((c) => {
    const r = { offset, size: c.size, hash: c.hash };
    offset += c.size;
    return r;
  });
  const source: ChunkSource = {
    name: 'memory',
    size: data.length,
    async *chunks() {
      started = true;
      try {
        for (let i = 0; i < records.length; i += 8) {
          pulled += 1;
          await new Promise((r) => setTimeout(r, 1));
          yield records.slice(i, i + 8);
        }
      } finally {
        closed = true;
      }
    },
    read: async (r) => Buffer.from(data.subarray(r.offset, r.offset + r.size)),
    checkUnchanged: async () => undefined,
    ...hooks,
  };
  return { source, started: () => started, closed: () => closed, batchesPulled: () => pulled };
}

async function remoteBytes(path: string): Promise<Buffer> {
  const res = await server.api('/api/v1/files' + encodePathForUrl(path));
  if (res.status !== 200) throw new Error(`GET ${path}: ${res.status} ${await res.text()}`);
  return Buffer.from(await res.arrayBuffer());
}

/** White-box: the server forgets a stored chunk (its index row goes; the commit will miss it). */
async function loseChunkOf(uploadId: string): Promise<string> {
  // The last chunks' PUTs were answered before they were indexed (deferred durability): a
  // row deleted before its insert comes back with it, and the commit finds nothing lost.
  await server.server.ctx.chunks.flush();
  const db = server.server.ctx.meta.db;
  const row = await db.selectFrom('upload_entries').select('hash').where('upload_id', '=', decodeURIComponent(uploadId)).orderBy('seq').limit(1).executeTakeFirstOrThrow();
  await db.deleteFrom('chunks').where('hash', '=', row.hash).execute();
  return row.hash;
}

describe('putFile / getFile', () => {
  it.each([0, 1, minSize - 1, minSize, avgSize, maxSize, maxSize + 1, 3 * 1024 * 1024 + 17])('round-trips %i bytes', async (size) => {
    const src = join(tmp.path, 'src.bin');
    const dst = join(tmp.path, 'out', 'dst.bin');
    await writeRandomFile(src, size);
    const up = await client.putFile(src, '/dir/file.bin');
    expect(up.bytes).toBe(size);
    expect((await remoteBytes('/dir/file.bin')).equals(await readFile(src))).toBe(true);
    const down = await client.getFile('/dir/file.bin', dst, { makeParents: true }); // ./out is made
    expect(down.bytes).toBe(size);
    expect(await sha256File(dst)).toBe(await sha256File(src));
    await expect(stat(dst + '.ferry-part')).rejects.toThrow();
    // mtime and mode travel
    const s1 = await stat(src);
    const s2 = await stat(dst);
    expect(Math.round(s2.mtimeMs)).toBe(Math.round(s1.mtimeMs));
    expect(s2.mode & 0o777).toBe(s1.mode & 0o777);
  });

  it('a file stored without a mode (stdin, WebDAV, tus, curl) comes down with the local default mode, or keeps the mode of the file it replaces', async () => {
    await client.putStream(Readable.from([Buffer.from('no mode')]), '/nomode/no-mode.txt');
    expect((await client.stat('/nomode/no-mode.txt')).mode).toBeUndefined();
    const fresh = join(tmp.path, 'out', 'no-mode.txt');
    await client.getFile('/nomode/no-mode.txt', fresh, { makeParents: true });
    const umask = process.umask();
    expect((await stat(fresh)).mode & 0o777).toBe(0o666 & ~umask);
    const tree = join(tmp.path, 'out', 'tree');
    await client.getTree('/nomode', tree);
    expect((await stat(join(tree, 'no-mode.txt'))).mode & 0o777).toBe(0o666 & ~umask);
    const script = join(tmp.path, 'out', 'script.sh');
    await writeFile(script, 'old');
    await chmod(script, 0o750);
    await client.getFile('/nomode/no-mode.txt', script);
    expect(await readFile(script, 'utf8')).toBe('no mode');
    expect((await stat(script)).mode & 0o777).toBe(0o750);
  });

  it('sends no chunk body the second time (dedup)', async () => {
    const src = join(tmp.path, 'a.bin');
    await writeRandomFile(src, 2 * 1024 * 1024);
    await client.putFile(src, '/a.bin');
    const before = bytesSent();
    const r = await client.putFile(src, '/copy-of-a.bin');
    expect(bytesSent()).toBe(before);
    expect(r.bytesTransferred).toBe(0);
    expect(r.bytesReused).toBe(2 * 1024 * 1024);
    expect((await remoteBytes('/copy-of-a.bin')).equals(await readFile(src))).toBe(true);
  });

  it('a file of up to 16 MiB (read whole) that changed during its upload is refused; unchanged, it goes up byte for byte', async () => {
    const src = join(tmp.path, 'small.bin');
    await writeRandomFile(src, 3 * 1024 * 1024 + 17);
    const original = await readFile(src);
    let edited = false;
    const failed = await client
      .putFile(src, '/small.bin', {
        onProgress: () => {
          if (edited) return;
          edited = true;
          writeFileSync(src, Buffer.concat([original, Buffer.from('more')]));
        },
      })
      .catch((e: unknown) => e);
    expect(edited).toBe(true);
    expect(isFerryError(failed, 'FERRY_ERR_PRECONDITION_FAILED')).toBe(true);
    expect(String((failed as Error).message)).toContain('changed while it was being uploaded');
    expect(await client.statIfExists('/small.bin')).toBeUndefined();
    // Unchanged, the same file goes up byte for byte: every chunk from the one read.
    const r = await client.putFile(src, '/small.bin');
    expect(r.bytesTransferred + r.bytesReused).toBe(original.length + 4);
    expect((await remoteBytes('/small.bin')).equals(await readFile(src))).toBe(true);
  });

  it('re-sends only the chunks around an edit', async () => {
    // Seeded bytes, and what must travel worked out with the chunker itself (the chunker is
    // the format): exactly the new version's chunks the old one lacks. With random bytes this
    // bound was a matter of luck: after an edit, normalized FastCDC's cuts sometimes take
    // many chunks to fall in step again (about 2 files in 1000 re-sent more than 3 chunks' worth).
    const src = join(tmp.path, 'a.bin');
    const v1 = seededBytes('transfer-edit', 4 * 1024 * 1024);
    await writeFile(src, v1);
    await client.putFile(src, '/a.bin');
    const v2 = Buffer.from(v1);
    seededBytes('transfer-edit-scribble', 1000).copy(v2, 2 * 1024 * 1024);
    await writeFile(src, v2);
    const expected = changedChunks(v1, v2, SMALL_CHUNKING);
    // Each travels whole in its own PUT: above the pack threshold, below the 64 KiB where deltas start.
    for (const size of expected.sizes) {
      expect(size).toBeGreaterThanOrEqual(minSize);
      expect(size).toBeLessThan(64 * 1024);
    }
    expect(expected.count).toBeGreaterThanOrEqual(1);
    expect(expected.bytes).toBeLessThanOrEqual(3 * maxSize);
    const before = bytesSent();
    await client.putFile(src, '/a.bin');
    expect(bytesSent() - before).toBe(expected.bytes);
    expect((await remoteBytes('/a.bin')).equals(v2)).toBe(true);
  });

  it('retries 503, 500, 429 and connections dropped before or after the server acted', async () => {
    const src = join(tmp.path, 'a.bin');
    await writeRandomFile(src, 1024 * 1024);
    proxy.rules.push(
      { path: CHUNK_SENDS, status: 503, code: 'FERRY_ERR_UNAVAILABLE', retryAfterSeconds: 0 },
      { path: CHUNK_SENDS, status: 500, code: 'FERRY_ERR_INTERNAL', times: 2 },
      { path: CHUNK_SENDS, drop: 'before', times: 2 },
      { path: CHUNK_SENDS, drop: 'after', times: 2 },
      { method: 'POST', path: /\/commit$/, status: 429, code: 'FERRY_ERR_RATE_LIMITED', retryAfterSeconds: 0 },
    );
    await client.putFile(src, '/a.bin');
    expect(proxy.rules.every((f) => f.times === 0)).toBe(true);
    expect((await remoteBytes('/a.bin')).equals(await readFile(src))).toBe(true);
  });

  it('waits at least Retry-After before trying again', async () => {
    proxy.rules.push({ method: 'GET', path: /\/stat/, status: 503, code: 'FERRY_ERR_UNAVAILABLE', retryAfterSeconds: 1 });
    await client.stat('/');
    const [refused, retried] = proxy.requests('GET', /\/stat/);
    expect(refused.status).toBe(503);
    expect(retried.status).toBe(200);
    // A lower bound only: a loaded machine can make the gap longer, never shorter.
    expect(retried.at - refused.at).toBeGreaterThanOrEqual(950);
  });

  it('resolves a commit whose answer was lost (the server committed; the connection dropped)', async () => {
    const src = join(tmp.path, 'a.bin');
    await writeRandomFile(src, 300_000);
    proxy.rules.push({ method: 'POST', path: /\/commit$/, drop: 'after' });
    const r = await client.putFile(src, '/a.bin');
    expect(r.files).toBe(1);
    expect(proxy.rules[0].times).toBe(0);
    // no second session: the client found out that its commit had happened
    expect(proxy.requests('POST', CREATE_UPLOAD)).toHaveLength(1);
    expect((await remoteBytes('/a.bin')).equals(await readFile(src))).toBe(true);
  });

  it('does not retry a refused request (4xx) and reports its code', async () => {
    const src = join(tmp.path, 'a.bin');
    await writeRandomFile(src, 100);
    proxy.rules.push({ method: 'POST', path: CREATE_UPLOAD, status: 413, code: 'FERRY_ERR_QUOTA_EXCEEDED', times: 5 });
    await expect(client.putFile(src, '/a.bin')).rejects.toSatisfy((e) => isFerryError(e, 'FERRY_ERR_QUOTA_EXCEEDED'));
    expect(proxy.rules[0].times).toBe(4);
  });

  it('stops at once on a chunk the server refuses, leaving no request behind', async () => {
    const src = join(tmp.path, 'a.bin');
    await writeRandomFile(src, 8 * 1024 * 1024);
    proxy.rules.push({ path: CHUNK_SENDS, status: 413, code: 'FERRY_ERR_PAYLOAD_TOO_LARGE', times: 1000 });
    await expect(client.putFile(src, '/a.bin', { parallel: 8 })).rejects.toSatisfy((e) => isFerryError(e, 'FERRY_ERR_PAYLOAD_TOO_LARGE'));
    // Requests written before the failure may reach the proxy a moment later (it runs in
    // this process); after that, nothing new may start.
    await new Promise((r) => setTimeout(r, 200));
    const puts = proxy.requests(undefined, CHUNK_SENDS).length;
    await new Promise((r) => setTimeout(r, 300));
    expect(proxy.requests(undefined, CHUNK_SENDS).length).toBe(puts);
    expect(puts).toBeLessThanOrEqual(16); // the first refusal stopped the rest of the ~500 chunks
  });

  it('hands back the bytes of each chunk whose PUT succeeded, and of no other (buffer reuse)', async () => {
    const data = randomBytes(3 * 1024 * 1024);
    const chunks = chunkBuffer(data, SMALL_CHUNKING);
    const sent: Array<{ data: Uint8Array; copy: Buffer }> = [];
    const source = memorySource(data, chunks, { sent: (d) => sent.push({ data: d as Uint8Array, copy: Buffer.from(d as Uint8Array) }) });
    const ctx = new TransferContext(client, {});
    await uploadFile(ctx, source.source, { path: '/reuse.bin', mtime: 1 });
    expect((await remoteBytes('/reuse.bin')).equals(data)).toBe(true);
    const single = chunks.filter((c) => c.size >= minSize); // smaller ones travel in packs
    expect(sent.length).toBe(new Set(single.map((c) => c.hash)).size);
    for (const s of sent) expect(sha256(s.data)).toBe(sha256(s.copy)); // handed back intact

    // A refused PUT: its bytes are never handed back (a failed request may still hold them).
    sent.length = 0;
    const other = randomBytes(2 * 1024 * 1024);
    const otherChunks = chunkBuffer(other, SMALL_CHUNKING);
    proxy.rules.push({ path: CHUNK_SENDS, status: 413, code: 'FERRY_ERR_PAYLOAD_TOO_LARGE', times: 1000 });
    const refused = memorySource(other, otherChunks, { sent: (d) => sent.push({ data: d as Uint8Array, copy: Buffer.alloc(0) }) });
    await expect(uploadFile(new TransferContext(client, {}), refused.source, { path: '/refused.bin', mtime: 1 })).rejects.toSatisfy((e) => isFerryError(e, 'FERRY_ERR_PAYLOAD_TOO_LARGE'));
    expect(sent).toEqual([]);
  });

  it('a large file whose session cannot be opened stops the chunker that started beside it', async () => {
    const data = randomBytes(2 * 1024 * 1024); // above 4 x maxSize: chunked while the session opens
    const source = memorySource(data, chunkBuffer(data, SMALL_CHUNKING), {});
    proxy.rules.push({ method: 'POST', path: CREATE_UPLOAD, status: 413, code: 'FERRY_ERR_QUOTA_EXCEEDED', times: 5 });
    await expect(uploadFile(new TransferContext(client, {}), source.source, { path: '/big.bin', mtime: 1 })).rejects.toSatisfy((e) => isFerryError(e, 'FERRY_ERR_QUOTA_EXCEEDED'));
    expect(source.started()).toBe(true);
    expect(source.closed()).toBe(true);
    expect(source.batchesPulled()).toBeLessThanOrEqual(2); // the first, and at most one asked for meanwhile
  });

  it('maps unknown error codes to FERRY_ERR_SERVER (5xx) and FERRY_ERR_PROTOCOL (4xx)', async () => {
    proxy.rules.push({ path: /\/stat/, code: 'FERRY_ERR_FUTURE_THING', status: 502, times: 10 });
    await expect(client.stat('/')).rejects.toSatisfy((e) => isFerryError(e, 'FERRY_ERR_SERVER'));
    proxy.rules.length = 0;
    proxy.rules.push({ path: /\/stat/, code: 'FERRY_ERR_FUTURE_THING', status: 418 });
    await expect(client.stat('/')).rejects.toSatisfy((e) => isFerryError(e, 'FERRY_ERR_PROTOCOL'));
  });

  it('starts a new session when the old one expired mid-upload, without re-sending stored chunks', async () => {
    const src = join(tmp.path, 'a.bin');
    await writeRandomFile(src, 6 * 1024 * 1024);
    // The 20th chunk PUT finds its session gone: the proxy aborts it on the server first.
    proxy.rules.push({ path: CHUNK_SENDS, skip: 19, expireSession: true });
    const r = await client.putFile(src, '/a.bin');
    expect(proxy.rules[0].times).toBe(0);
    expect((await remoteBytes('/a.bin')).equals(await readFile(src))).toBe(true);
    expect(proxy.requests(undefined, CHUNK_SENDS).some((l) => l.status === 404)).toBe(true);
    // only the requests in flight when the session vanished travel twice: 4 of up to 4 chunks each
    expect(bytesSent()).toBeLessThanOrEqual(6 * 1024 * 1024 + 4 * CHUNKS_PER_FRAMES_REQUEST * maxSize);
    expect(proxy.requests('POST', CREATE_UPLOAD)).toHaveLength(2);
    expect(r.bytes).toBe(6 * 1024 * 1024);
  });

  it('re-sends chunks the commit reports missing (the server lost one)', async () => {
    const src = join(tmp.path, 'a.bin');
    await writeRandomFile(src, 1024 * 1024);
    let lost = '';
    proxy.rules.push({
      method: 'POST',
      path: /\/commit$/,
      before: async ({ path }) => {
        lost = await loseChunkOf(/\/uploads\/([^/]+)\/commit$/.exec(path)![1]);
      },
    });
    await client.putFile(src, '/a.bin');
    expect(lost).toMatch(/^[0-9a-f]{64}$/);
    expect(proxy.requests('POST', /\/commit$/).map((l) => l.status)).toEqual([409, 200]);
    // sent once in a request of several (a pack, or chunk frames), then on its own
    expect(proxy.requests('PUT', CHUNK_UPLOADS).filter((l) => l.path.endsWith(lost))).toHaveLength(1);
    expect((await remoteBytes('/a.bin')).equals(await readFile(src))).toBe(true);
  });

  it('sends whole chunks several to a request where the server takes chunk frames, one PUT each to a server that does not', async () => {
    const src = join(tmp.path, 'a.bin');
    await writeRandomFile(src, 2 * 1024 * 1024);
    await client.putFile(src, '/a.bin');
    const frames = proxy.requests('POST', /\/chunk-frames$/);
    const puts = proxy.requests('PUT', CHUNK_SENDS).length;
    expect(frames.length).toBeGreaterThan(0);
    expect(frames.every((l) => l.status === 200)).toBe(true);
    // ~128 chunks: four to a request, save the last of a run the chunker handed over
    expect(frames.length + puts).toBeLessThan(64);
    expect((await remoteBytes('/a.bin')).equals(await readFile(src))).toBe(true);

    // An older server: no feature, no chunk frames; each chunk its own PUT.
    const caps = server.server.ctx.capabilities;
    caps.features = caps.features.filter((f) => f !== 'chunk-frames');
    const old = new FerryClient({ server: proxy.url, token: server.token, retry: FAST_RETRY });
    try {
      await writeRandomFile(src, 2 * 1024 * 1024);
      await old.putFile(src, '/b.bin');
    } finally {
      await old.close();
    }
    expect(proxy.requests('POST', /\/chunk-frames$/)).toHaveLength(frames.length);
    expect(proxy.requests('PUT', CHUNK_SENDS).length - puts).toBeGreaterThan(64);
    expect((await remoteBytes('/b.bin')).equals(await readFile(src))).toBe(true);
  });

  it('resumes a download from a partial .ferry-part', async () => {
    const src = join(tmp.path, 'a.bin');
    const dst = join(tmp.path, 'b.bin');
    await writeRandomFile(src, 4 * 1024 * 1024);
    await client.putFile(src, '/a.bin');
    // what an interrupted download leaves: the first 2.5 MiB right, then a hole
    await copyFile(src, dst + '.ferry-part');
    await truncate(dst + '.ferry-part', 2.5 * 1024 * 1024);
    await scribble(dst + '.ferry-part', 100_000, 10); // and one damaged range
    const r = await client.getFile('/a.bin', dst);
    expect(await sha256File(dst)).toBe(await sha256File(src));
    expect(r.bytesTransferred).toBeLessThan(1.5 * 1024 * 1024 + 3 * maxSize);
    expect(r.bytesReused).toBeGreaterThan(2 * 1024 * 1024);
    expect(bytesServed()).toBe(r.bytesTransferred);
  });

  it('resumes a download cut mid-way where it stopped, fetching each chunk about once', async () => {
    const src = join(tmp.path, 'a.bin');
    const dst = join(tmp.path, 'b.bin');
    await writeRandomFile(src, 2 * 1024 * 1024);
    await client.putFile(src, '/a.bin');
    proxy.rules.push(
      { method: 'GET', path: FILES, cutAfterBytes: 500_000 },
      { method: 'GET', path: FILES, drop: 'before' },
      { method: 'GET', path: FILES, cutAfterBytes: 700_000 },
    );
    const r = await client.getFile('/a.bin', dst);
    expect(proxy.rules.every((f) => f.times === 0)).toBe(true);
    expect(await sha256File(dst)).toBe(await sha256File(src));
    expect(r.bytesTransferred).toBe(2 * 1024 * 1024);
    // Each attempt asks for the rest, from the first chunk not yet verified.
    const starts = proxy.requests('GET', FILES).map((l) => Number(/^bytes=(\d+)-/.exec(l.range ?? '')?.[1]));
    expect(starts).toHaveLength(4);
    expect(starts[0]).toBe(0);
    expect(starts[1]).toBeGreaterThan(500_000 - maxSize);
    expect(starts[1]).toBeLessThanOrEqual(500_000);
    expect(starts[2]).toBe(starts[1]);
    expect(starts[3]).toBeGreaterThan(starts[2]);
    // Only the chunk cut in two travelled twice, at each cut.
    expect(bytesServed() - r.bytesTransferred).toBeLessThan(2 * maxSize);
  });

  it('fetches only what an older local copy lacks', async () => {
    const src = join(tmp.path, 'a.bin');
    const dst = join(tmp.path, 'b.bin');
    await writeRandomFile(src, 4 * 1024 * 1024);
    await copyFile(src, dst); // the older copy
    await scribble(src, 1024 * 1024, 5000);
    // an insertion shifts everything after it: found anyway, by content
    const data = await readFile(src);
    await writeFile(src, Buffer.concat([data.subarray(0, 3_000_000), Buffer.from('inserted!'), data.subarray(3_000_000)]));
    await client.putFile(src, '/a.bin');
    const r = await client.getFile('/a.bin', dst);
    expect(await sha256File(dst)).toBe(await sha256File(src));
    expect(r.bytesTransferred).toBeLessThanOrEqual(6 * maxSize);
    expect(bytesServed()).toBe(r.bytesTransferred);
  });

  it('leaves an identical local copy in place, fixing only its mtime', async () => {
    const src = join(tmp.path, 'a.bin');
    const dst = join(tmp.path, 'b.bin');
    await writeRandomFile(src, 2 * 1024 * 1024);
    await client.putFile(src, '/a.bin');
    await copyFile(src, dst);
    const r = await client.getFile('/a.bin', dst);
    expect(r).toMatchObject({ files: 1, bytesTransferred: 0, bytesReused: 2 * 1024 * 1024 });
    expect(bytesServed()).toBe(0);
    await expect(stat(dst + '.ferry-part')).rejects.toThrow();
    expect(Math.round((await stat(dst)).mtimeMs)).toBe(Math.round((await stat(src)).mtimeMs));
  });

  it('keeps the .ferry-part when aborted, and the next attempt reuses it', async () => {
    const src = join(tmp.path, 'a.bin');
    const dst = join(tmp.path, 'b.bin');
    await writeRandomFile(src, 4 * 1024 * 1024);
    await client.putFile(src, '/a.bin');
    // 4 MiB at 4 MiB/s: aborted about half-way
    const slow = new FerryClient({ server: proxy.url, token: server.token, bwlimit: 4 * 1024 * 1024 });
    try {
      const ac = new AbortController();
      proxy.onRequest = ({ path }) => {
        if (FILES.test(path)) setTimeout(() => ac.abort(), 500);
      };
      await expect(slow.getFile('/a.bin', dst, { signal: ac.signal })).rejects.toSatisfy((e) => isFerryError(e, 'FERRY_ERR_ABORTED'));
    } finally {
      await slow.close();
    }
    expect((await stat(dst + '.ferry-part')).size).toBeGreaterThan(0);
    await expect(stat(dst)).rejects.toThrow();
    proxy.onRequest = undefined;
    const r = await client.getFile('/a.bin', dst);
    expect(r.bytesReused).toBeGreaterThan(0);
    expect(await sha256File(dst)).toBe(await sha256File(src));
  });

  it('honours the bandwidth limit (lower bound only: never faster than the limit)', async () => {
    const limited = new FerryClient({ server: proxy.url, token: server.token, bwlimit: 1024 * 1024 });
    try {
      const src = join(tmp.path, 'a.bin');
      await writeRandomFile(src, 1024 * 1024);
      const t0 = performance.now();
      await limited.putFile(src, '/a.bin', { parallel: 4 });
      // 1 MiB at 1 MiB/s with a 0.1 s burst: at least 0.9 s (a slow machine only adds)
      expect(performance.now() - t0).toBeGreaterThanOrEqual(850);
    } finally {
      await limited.close();
    }
  });
});

describe('streams', () => {
  it('putStream / getStream round-trip a stream of unknown size', async () => {
    const src = join(tmp.path, 'a.bin');
    await writeRandomFile(src, 3 * 1024 * 1024 + 5);
    const data = await readFile(src);
    // odd piece sizes, like a pipe delivers them
    async function* pieces() {
      for (let o = 0; o < data.length; ) {
        const n = Math.min(data.length - o, 1 + ((o * 7919) % 100_000));
        yield data.subarray(o, o + n);
        o += n;
      }
    }
    const up = await client.putStream(pieces(), '/s.bin');
    expect(up.bytes).toBe(data.length);
    expect((await remoteBytes('/s.bin')).equals(data)).toBe(true);
    const parts: Buffer[] = [];
    const out = new Writable({
      highWaterMark: 1024,
      write(chunk, _enc, cb) {
        parts.push(chunk);
        setImmediate(cb); // a slow reader: exercises backpressure
      },
    });
    await client.getStream('/s.bin', out, { parallel: 3 });
    expect(Buffer.concat(parts).equals(data)).toBe(true);
  });

  it('putStream survives dropped connections and a 503 on appends', async () => {
    const data = Buffer.alloc(2 * 1024 * 1024 + 3, 7).map((_, i) => (i * 2654435761) >>> 24);
    proxy.rules.push(
      { method: 'POST', path: /\/uploads\/[^/]+\/chunks$/, status: 503, code: 'FERRY_ERR_UNAVAILABLE', retryAfterSeconds: 0 },
      { path: CHUNK_SENDS, skip: 5, drop: 'before', times: 2 },
    );
    await client.putStream(Readable.from([data]), '/s2.bin');
    expect(proxy.rules.every((f) => f.times === 0)).toBe(true);
    expect((await remoteBytes('/s2.bin')).equals(data)).toBe(true);
  });

  it('putStream of an empty stream makes an empty file', async () => {
    await client.putStream(Readable.from([]), '/empty');
    expect((await client.stat('/empty')).size).toBe(0);
    const pt = new PassThrough();
    const got: Buffer[] = [];
    pt.on('data', (d) => got.push(d));
    await client.getStream('/empty', pt);
    expect(Buffer.concat(got).length).toBe(0);
  });

  it('get(path, undefined, { signal }) gives a stream that an abort fails with FERRY_ERR_ABORTED', async () => {
    const data = seededBytes('abort-get', 3 * 1024 * 1024);
    await client.put(data, '/abort-get.bin');
    const ac = new AbortController();
    const stream = await client.get('/abort-get.bin', undefined, { signal: ac.signal });
    let got = 0;
    const err: unknown = await (async () => {
      for await (const piece of stream) {
        got += (piece as Buffer).length;
        ac.abort();
      }
    })().catch((e: unknown) => e);
    expect(isFerryError(err, 'FERRY_ERR_ABORTED')).toBe(true);
    expect(got).toBeLessThan(data.length);
  });

  it('put of a stream of text stores its UTF-8; a stream of anything else is refused and stores nothing', async () => {
    await client.put(Readable.from(['text ✓ ', 'in pieces']), '/text.txt');
    expect((await remoteBytes('/text.txt')).toString('utf8')).toBe('text ✓ in pieces');
    // Numbers used to be read as no bytes at all: the put succeeded with an empty file.
    const err: unknown = await client.put(Readable.from([1, 2]), '/numbers.bin').catch((e: unknown) => e);
    expect(isFerryError(err, 'FERRY_ERR_VALIDATION')).toBe(true);
    expect(await client.statIfExists('/numbers.bin')).toBeUndefined();
  });
});

describe('trees', () => {
  it('putTree batches small files into few sessions; getTree brings them back', async () => {
    const src = join(tmp.path, 'src');
    const names: string[] = [];
    for (let i = 0; i < 300; i++) {
      const dir = join(src, `d${i % 7}`, i % 2 ? 'sub dir' : '', NASTY_NAMES[i % NASTY_NAMES.length].trim() + '-dir');
      await mkdir(dir, { recursive: true });
      const f = join(dir, `${i}-${NASTY_NAMES[(i * 3) % NASTY_NAMES.length]}`);
      names.push(f);
      await writeRandomFile(f, i === 0 ? 0 : (i * 997) % 20_000);
    }
    await writeRandomFile(join(src, 'big.bin'), 700_000);
    await mkdir(join(src, 'empty', 'deeper'), { recursive: true });
    const r = await client.putTree(src, '/tree');
    expect(r.files).toBe(301);
    expect(proxy.requests('POST', CREATE_UPLOAD).length).toBeLessThanOrEqual(3); // one batch session for the 300, one for big.bin
    expect((await client.stat('/tree/empty/deeper')).type).toBe('dir');

    const dst = join(tmp.path, 'dst');
    const g = await client.getTree('/tree', dst);
    expect(g.files).toBe(301);
    // The 300 small files came in a few batches of chunks, none one request each.
    expect(proxy.requests('POST', BATCH).length).toBeGreaterThanOrEqual(1);
    expect(proxy.requests('POST', BATCH).length).toBeLessThanOrEqual(5);
    expect(wholeFileGets()).toHaveLength(0);
    for (const f of names) {
      const rel = f.slice(src.length);
      expect(await sha256File(join(dst, rel))).toBe(await sha256File(f));
    }
    expect((await readdir(join(dst, 'empty', 'deeper'))).length).toBe(0);

    // again: nothing travels either way
    const sent = bytesSent();
    const served = bytesServed();
    await client.putTree(src, '/tree');
    const g2 = await client.getTree('/tree', dst);
    expect(bytesSent()).toBe(sent);
    expect(bytesServed()).toBe(served);
    expect(g2.bytesTransferred).toBe(0);
  });

  it('skips files already in place: same size and mtime, or same content with checksum', async () => {
    const src = join(tmp.path, 'src');
    await mkdir(join(src, 'd'), { recursive: true });
    for (let i = 0; i < 20; i++) await writeRandomFile(join(src, 'd', `f${i}`), 1000 + i);
    await writeRandomFile(join(src, 'big'), 300_000);
    expect((await client.putTree(src, '/t')).files).toBe(21);

    let r = await client.putTree(src, '/t');
    expect(r).toMatchObject({ files: 0, unchanged: 21 });

    // Same size and mtime but other bytes: the quick check is fooled, a checksum is not.
    const f0 = join(src, 'd', 'f0');
    const st = await stat(f0);
    await scribble(f0, 0, 10);
    await utimes(f0, st.atime, st.mtime);
    r = await client.putTree(src, '/t');
    expect(r).toMatchObject({ files: 0, unchanged: 21 });
    r = await client.putTree(src, '/t', { compare: 'checksum' });
    expect(r).toMatchObject({ files: 1, unchanged: 20 });
    expect((await remoteBytes('/t/d/f0')).equals(await readFile(f0))).toBe(true);
    // compare: 'ignore-times' commits every file again, but no content travels twice
    const before = bytesSent();
    r = await client.putTree(src, '/t', { compare: 'ignore-times' });
    expect(r).toMatchObject({ files: 21, unchanged: 0, bytesTransferred: 0 });
    expect(bytesSent()).toBe(before);

    const dst = join(tmp.path, 'dst');
    expect((await client.getTree('/t', dst)).files).toBe(21);
    expect(await client.getTree('/t', dst)).toMatchObject({ files: 0, unchanged: 21 });
    const g0 = join(dst, 'd', 'f0');
    const gst = await stat(g0);
    await scribble(g0, 0, 10);
    await utimes(g0, gst.atime, gst.mtime);
    expect(await client.getTree('/t', dst)).toMatchObject({ files: 0, unchanged: 21 });
    expect(await client.getTree('/t', dst, { compare: 'checksum' })).toMatchObject({ files: 1, unchanged: 20 });
    expect(await sha256File(g0)).toBe(await sha256File(f0));
    // size-only: a file of the same size with another time is in place (its time is set).
    await utimes(g0, gst.atime, new Date(gst.mtimeMs + 60_000));
    expect(await client.getTree('/t', dst, { compare: 'size-only' })).toMatchObject({ files: 0, unchanged: 21 });
    expect((await stat(g0)).mtimeMs).toBe(gst.mtimeMs);
    await utimes(f0, st.atime, new Date(st.mtimeMs + 60_000));
    expect(await client.putTree(src, '/t', { compare: 'size-only' })).toMatchObject({ files: 0, unchanged: 21 });
    expect(await client.putTree(src, '/t')).toMatchObject({ files: 1, unchanged: 20 });
  });

  // From JavaScript, 'checksums' sent every file again (putTree) or took the quick check (getTree).
  it('an unknown compare mode is refused before anything is listed or sent (FERRY_ERR_USAGE)', async () => {
    const src = join(tmp.path, 'cmp-src');
    await mkdir(src, { recursive: true });
    await writeRandomFile(join(src, 'a'), 100);
    const requests = proxy.requests(undefined, /./).length;
    const bad = { compare: 'checksums' } as unknown as { compare: 'checksum' };
    const message = /`compare` must be one of 'default', 'checksum', 'size-only', 'ignore-times', not "checksums"/;
    await expect(client.putTree(src, '/cmp', bad)).rejects.toMatchObject({ code: 'FERRY_ERR_USAGE', message: expect.stringMatching(message) });
    await expect(client.getTree('/t', join(tmp.path, 'cmp-dst'), bad)).rejects.toMatchObject({ code: 'FERRY_ERR_USAGE', message: expect.stringMatching(message) });
    expect(proxy.requests(undefined, /./).length).toBe(requests);
    await expect(stat(join(tmp.path, 'cmp-dst'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  /** A tree of `n` small files (one chunk or a few each) under /small, and its local source. */
  async function smallTree(n: number): Promise<string> {
    const src = join(tmp.path, 'small-src');
    for (let i = 0; i < n; i++) {
      await mkdir(join(src, `d${i % 4}`), { recursive: true });
      await writeRandomFile(join(src, `d${i % 4}`, `f${i}`), i === 0 ? 0 : 100 + ((i * 7919) % 90_000));
    }
    await writeFile(join(src, 'twin-a'), 'the same bytes in two files');
    await writeFile(join(src, 'twin-b'), 'the same bytes in two files');
    expect((await client.putTree(src, '/small')).files).toBe(n + 2);
    return src;
  }

  /** Every file under `src` has its twin under `dst` (but those in `except`, relative paths). */
  async function expectSameTree(src: string, dst: string, except: string[] = []): Promise<void> {
    for (const rel of await readdir(src, { recursive: true })) {
      if (except.includes(rel) || !(await stat(join(src, rel))).isFile()) continue;
      expect(await sha256File(join(dst, rel)), rel).toBe(await sha256File(join(src, rel)));
    }
  }

  it('getTree fetches a batch damaged on the way once more', async () => {
    const src = await smallTree(40);
    proxy.rules.push({
      method: 'POST',
      path: BATCH,
      rewrite: (body) => {
        body[body.length - 1] ^= 0x01;
        return body;
      },
    });
    const dst = join(tmp.path, 'dst');
    const g = await client.getTree('/small', dst);
    expect(g.files).toBe(42);
    expect(proxy.rules[0].times).toBe(0);
    await expectSameTree(src, dst);
    expect(wholeFileGets()).toHaveLength(0);
  });

  it('a chunk corrupt on the server fails only the files that hold it', async () => {
    const src = await smallTree(40);
    // White-box: damage one byte of one stored chunk (small files' chunks live in packs).
    const manifest = await client.manifest('/small/d1/f5');
    const loc = (await server.server.ctx.meta.chunkLocation(manifest.chunks[0].hash))!;
    const file = loc.pack
      ? join(server.dataDir, 'store', 'packs', loc.pack.slice(0, 2), loc.pack)
      : join(server.dataDir, 'store', 'chunks', loc.hash.slice(0, 2), loc.hash);
    const bytes = readFileSync(file);
    bytes[(loc.offset ?? 0) + 3] ^= 0x01;
    writeFileSync(file, bytes);

    const dst = join(tmp.path, 'dst');
    const failed: string[] = [];
    const err = await client.getTree('/small', dst, { onFileError: (p) => failed.push(p) }).catch((e) => e);
    expect(isFerryError(err, 'FERRY_ERR_CHUNK_CORRUPT')).toBe(true);
    expect(failed).toEqual(['/small/d1/f5']);
    await expect(stat(join(dst, 'd1', 'f5'))).rejects.toThrow();
    await expectSameTree(src, dst, [join('d1', 'f5')]);
  });

  it('against a server without chunk batches, small files come one request each', async () => {
    const src = await smallTree(12);
    // An older server: the same answers, minus the batch features in its capabilities.
    const older = new FerryClient({ server: proxy.url, token: server.token, retry: FAST_RETRY });
    proxy.rules.push({
      method: 'GET',
      path: /\/capabilities$/,
      rewrite: (body) => {
        const caps = JSON.parse(body.toString()) as { features: string[] };
        caps.features = caps.features.filter((f) => f !== 'chunks-batch' && f !== 'list-chunks');
        return Buffer.from(JSON.stringify(caps));
      },
    });
    try {
      const dst = join(tmp.path, 'dst');
      expect((await older.getTree('/small', dst)).files).toBe(14);
      await expectSameTree(src, dst);
      expect(proxy.requests('POST', BATCH)).toHaveLength(0);
      let small = 0;
      for await (const e of older.list('/small', { recursive: true })) if (e.type === 'file' && e.size <= maxSize) small++;
      expect(wholeFileGets()).toHaveLength(small);
    } finally {
      await older.close();
    }
  });

  it('a file that cannot be committed does not sink the rest of its batch', async () => {
    const src = join(tmp.path, 'src');
    await mkdir(join(src, 'x'), { recursive: true });
    for (let i = 0; i < 10; i++) await writeFile(join(src, `ok${i}.txt`), `file ${i}`);
    await writeFile(join(src, 'x', 'inner.txt'), 'under x');
    await client.putStream(Readable.from([Buffer.from('a file where a directory should be')]), '/t/x');
    const errors: string[] = [];
    const err = await client.putTree(src, '/t', { onFileError: (p) => errors.push(p) }).catch((e) => e);
    expect(isFerryError(err, 'FERRY_ERR_NOT_A_DIRECTORY')).toBe(true);
    expect((err as Error).message).toMatch(/^1 of 11 files failed/);
    expect(errors).toEqual([join(src, 'x', 'inner.txt')]);
    for (let i = 0; i < 10; i++) expect((await remoteBytes(`/t/ok${i}.txt`)).toString()).toBe(`file ${i}`);
  });

  it('skips symlinks with a warning', async () => {
    const warnings: string[] = [];
    const c = new FerryClient({ server: proxy.url, token: server.token, onWarning: (m) => warnings.push(m) });
    try {
      const src = join(tmp.path, 'src');
      await mkdir(src);
      await writeFile(join(src, 'real'), 'x');
      await symlink('real', join(src, 'link'));
      const r = await c.putTree(src, '/t');
      expect(r.files).toBe(1);
      expect(r.skipped).toHaveLength(1);
      expect(warnings.join()).toMatch(/link.*symbolic link/);
    } finally {
      await c.close();
    }
  });
});

describe('namespace', () => {
  it('lists page by page', async () => {
    // The server's own page limit (limits.maxListLimit, 10,000) is not configurable, so
    // the client asks for pages of 7: the same cursor paging, 5 round trips.
    for (let i = 0; i < 30; i++) await client.mkdir(`/x/${String(i).padStart(2, '0')}`, { parents: true });
    const seen: string[] = [];
    for await (const e of client.list('/x', { pageSize: 7 })) seen.push(e.name);
    expect(seen).toEqual(Array.from({ length: 30 }, (_, i) => String(i).padStart(2, '0')));
    expect(proxy.requests('GET', /^\/api\/v1\/list/)).toHaveLength(5);
  });

  it('an abort during a listing stops it at the next entry, within a page too', async () => {
    for (let i = 0; i < 12; i++) await client.mkdir(`/ab/${String(i).padStart(2, '0')}`, { parents: true });
    const ac = new AbortController();
    const seen: string[] = [];
    const err: unknown = await (async () => {
      for await (const e of client.list('/ab', { signal: ac.signal })) {
        seen.push(e.name);
        if (seen.length === 2) ac.abort();
      }
    })().catch((e: unknown) => e);
    expect(isFerryError(err, 'FERRY_ERR_ABORTED')).toBe(true);
    expect(seen).toEqual(['00', '01']); // one page held all 12: the rest of it was not handed out
  });

  it('reports a wrong token as FERRY_ERR_AUTH_INVALID with advice', async () => {
    const c = new FerryClient({ server: proxy.url, token: 'nope' });
    try {
      await expect(c.stat('/')).rejects.toSatisfy((e) => isFerryError(e, 'FERRY_ERR_AUTH_INVALID') && /^the token given to FerryClient was refused: .*check the `token` option/.test((e as Error).message));
    } finally {
      await c.close();
    }
  });

  it('reports an unreachable server as a retryable FERRY_ERR_NETWORK', async () => {
    const c = new FerryClient({ server: 'http://127.0.0.1:1', token: 't', retry: { ...FAST_RETRY, retries: 1 } });
    try {
      await expect(c.stat('/')).rejects.toSatisfy((e) => isFerryError(e, 'FERRY_ERR_NETWORK') && (e as { retryable: boolean }).retryable);
    } finally {
      await c.close();
    }
  });
});

describe('close', () => {
  it('is idempotent, and a closed client refuses calls with FERRY_ERR_USAGE, sending nothing', async () => {
    const c = new FerryClient({ server: proxy.url, token: server.token, retry: FAST_RETRY });
    await c.stat('/'); // the pool exists
    await c.close();
    await c.close(); // undici's pool threw UND_ERR_DESTROYED here
    const before = proxy.requests('GET', /./).length;
    const err: unknown = await c.stat('/').catch((e: unknown) => e);
    expect(isFerryError(err, 'FERRY_ERR_USAGE')).toBe(true);
    expect((err as Error).message).toMatch(/the client is closed/);
    expect(proxy.requests('GET', /./).length).toBe(before);
  });
});
