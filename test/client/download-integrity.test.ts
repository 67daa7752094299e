/**
 * Downloads with the default chunking (chunks of 256 KiB to 4 MiB), so that the server
 * verifies chunks on its hash workers (src/algo/sha256-workers.ts) and the client reads into
 * its reused buffers (kept from one ranged run to the next): damage on the way is fetched
 * again, damage on the server's disk is an error and never wrong bytes, and an interrupted
 * download resumes. transfer.test.ts covers the same paths with small chunks, which are
 * hashed in the calling thread.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { copyFile, readFile, stat, truncate } from 'node:fs/promises';
import { get } from 'node:http';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FerryClient } from '../../src/client/client.js';
import { isFerryError } from '../../src/core/errors.js';
import type { ManifestResponse } from '../../src/core/protocol.js';
import { OFFLOAD_MIN_BYTES } from '../../src/algo/sha256-workers.js';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { chunkOffsets } from '../../src/core/chunk-refs.js';
import { FaultProxy } from '../helpers/fault-proxy.js';
import { runFerry } from '../helpers/cli.js';
import { scribble, sha256File, tempDir, writeRandomFile } from '../helpers/files.js';
import { startTestServer, type TestServer } from '../helpers/in-process-server.js';

const FILE_GET = /^\/api\/v1\/files\/big\.bin$/;
const SIZE = 12 * 1024 * 1024 + 4321;

let server: TestServer;
let proxy: FaultProxy;
let client: FerryClient;
let tmp: { path: string; cleanup: () => Promise<void> };
let src: string;
let manifest: ManifestResponse;

beforeAll(async () => {
  server = await startTestServer();
  proxy = new FaultProxy(server.url);
  await proxy.start();
  client = new FerryClient({ server: proxy.url, token: server.token, retry: { retries: 4, baseMs: 5, capMs: 20, maxRetryAfterMs: 1500 } });
  tmp = await tempDir();
  src = join(tmp.path, 'src.bin');
  await writeRandomFile(src, SIZE);
  await client.putFile(src, '/big.bin');
  manifest = await client.manifest('/big.bin');
});
afterAll(async () => {
  await client.close();
  await proxy.stop();
  await server.close();
  await tmp.cleanup();
});
beforeEach(() => {
  proxy.rules.length = 0;
  proxy.onRequest = undefined;
});

/**
 * GETs `path` and hangs up (destroys its socket) once `bytes` of the body have come. Through
 * node:http, not fetch: an aborted fetch left its connection open here, and the server's close
 * waited for it until its drain deadline (30 s).
 */
function hangUpAfter(path: string, bytes: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = get(server.url + path, { headers: { authorization: `Bearer ${server.token}` } }, (res) => {
      let n = 0;
      res.on('data', (d: Buffer) => {
        n += d.length;
        if (n >= bytes) {
          req.destroy();
          resolve();
        }
      });
      res.on('end', () => reject(new Error(`the whole body came (${n} bytes) before ${bytes}`)));
    });
    req.on('error', (err) => (req.destroyed ? resolve() : reject(err)));
  });
}

/** The server's `ferry_chunk_corrupt_total`. */
async function corruptCount(): Promise<number> {
  const text = await (await server.api('/metrics')).text();
  return Number(/^ferry_chunk_corrupt_total(?:\{[^}]*\})? (\S+)$/m.exec(text)?.[1] ?? 0);
}

/** White-box: the file of a loose chunk in the server's store. */
async function chunkFile(hash: string): Promise<string> {
  const loc = (await server.server.ctx.meta.chunkLocation(hash))!;
  expect(loc.pack).toBeFalsy();
  return join(server.dataDir, 'store', 'chunks', hash.slice(0, 2), hash);
}

describe('downloads of large chunks', () => {
  it('has chunks large enough to be hashed on the workers', () => {
    expect(manifest.chunks.length).toBeGreaterThan(3);
    expect(manifest.chunks.slice(0, -1).every((c) => c.size >= OFFLOAD_MIN_BYTES)).toBe(true); // (the last one may be short)
  });

  it('round-trip with getFile and getStream', async () => {
    const dst = join(tmp.path, 'rt.bin');
    expect((await client.getFile('/big.bin', dst, { parallel: 3 })).bytes).toBe(SIZE);
    expect(await sha256File(dst)).toBe(await sha256File(src));
    const parts: Buffer[] = [];
    await client.getStream('/big.bin', new Writable({ write: (c: Buffer, _e, cb) => void (parts.push(c), cb()) }));
    expect(Buffer.concat(parts).equals(await readFile(src))).toBe(true);
  });

  it('read a run into two reused buffers when the caller only borrows them (lent), into fresh ones otherwise', async () => {
    const bytes = await readFile(src);
    for (const lent of [true, false]) {
      const seen = new Set<ArrayBufferLike>();
      const got: Buffer[] = [];
      await client.getChunkRun(
        manifest.path,
        manifest.hash,
        0,
        manifest.chunks,
        async (_k, pieces) => {
          for (const p of pieces) {
            seen.add(p.buffer);
            got.push(Buffer.from(p)); // a copy: a lent buffer is reused once this returns
          }
        },
        { lent },
      );
      expect(Buffer.concat(got).equals(bytes)).toBe(true);
      if (lent) expect(seen.size).toBeLessThanOrEqual(2);
      else expect(seen.size).toBeGreaterThanOrEqual(manifest.chunks.length);
    }
  });

  it('fetch a chunk damaged on the way once more, from that chunk on', async () => {
    // Inside the first run asked for (its length depends on where the random data is cut).
    let at = -1;
    proxy.rules.push({ method: 'GET', path: FILE_GET, rewrite: (b) => ((b[(at = Math.min(5 * 1024 * 1024 + 77, b.length - 10))] ^= 0x40), b) });
    const dst = join(tmp.path, 'once.bin');
    const before = proxy.requests('GET', FILE_GET).length;
    const r = await client.getFile('/big.bin', dst, { parallel: 1 });
    expect(proxy.rules[0].times).toBe(0);
    expect(await sha256File(dst)).toBe(await sha256File(src));
    expect(r.bytesTransferred).toBe(SIZE);
    // (the file may come in more than one run: the first is asked for again from the damaged chunk)
    const [first, again] = proxy.requests('GET', FILE_GET).slice(before).map((l) => /^bytes=(\d+)-(\d+)$/.exec(l.range!)!.slice(1).map(Number));
    expect(first[0]).toBe(0);
    expect(at).toBeGreaterThan(0);
    let damaged = 0; // where the damaged chunk starts
    for (const c of manifest.chunks) {
      if (damaged + c.size > at) break;
      damaged += c.size;
    }
    expect(again).toEqual([damaged, first[1]]);
  });

  it('refuse a chunk damaged on the way twice: no file, and the part keeps the chunks verified before it', async () => {
    const damage = (b: Buffer) => ((b[b.length - 10] ^= 0x01), b); // in the last chunk asked for
    proxy.rules.push({ method: 'GET', path: FILE_GET, times: 2, rewrite: damage });
    const dst = join(tmp.path, 'twice.bin');
    const before = proxy.requests('GET', FILE_GET).length;
    const err = await client.getFile('/big.bin', dst, { parallel: 1 }).catch((e: unknown) => e);
    expect(isFerryError(err, 'FERRY_ERR_HASH_MISMATCH')).toBe(true);
    expect(proxy.rules[0].times).toBe(0);
    await expect(stat(dst)).rejects.toThrow();
    const asked = proxy.requests('GET', FILE_GET).slice(before);
    expect(asked).toHaveLength(2);
    const damaged = Number(/^bytes=(\d+)-/.exec(asked[1].range!)![1]);
    expect(damaged).toBeGreaterThan(0);
    // The next attempt reuses the chunks verified before the damaged one and fetches the rest.
    const r = await client.getFile('/big.bin', dst);
    expect(await sha256File(dst)).toBe(await sha256File(src));
    expect(r.bytesReused).toBe(damaged);
    expect(r.bytesTransferred).toBe(SIZE - damaged);
  });

  it('take a run whose every byte arrived though its answer never completed (the server died after the last write)', async () => {
    // Every run of the file (the last one included, where a retry for the empty range
    // `bytes=SIZE-(SIZE-1)` was a 416) is cut right after its last byte.
    proxy.rules.push({ method: 'GET', path: FILE_GET, times: 100, cutBeforeEnd: true });
    const dst = join(tmp.path, 'unterminated.bin');
    const before = proxy.requests('GET', FILE_GET).length;
    const r = await client.getFile('/big.bin', dst, { parallel: 1 });
    expect(await sha256File(dst)).toBe(await sha256File(src));
    expect(r.bytesTransferred).toBe(SIZE);
    const asked = proxy.requests('GET', FILE_GET).slice(before);
    expect(asked.every((l) => l.fault === 'cut-before-end')).toBe(true);
    const ranges = asked.map((l) => /^bytes=(\d+)-(\d+)$/.exec(l.range!)!.slice(1).map(Number));
    // Each run asked for once, back to back, none empty or inverted.
    expect(ranges.length).toBeGreaterThan(1);
    ranges.forEach(([a, b], i) => {
      expect(a).toBeLessThanOrEqual(b);
      expect(a).toBe(i === 0 ? 0 : ranges[i - 1][1] + 1);
    });
    expect(ranges[ranges.length - 1][1]).toBe(SIZE - 1);
  });

  it('resume a partial download with a damaged range', async () => {
    const dst = join(tmp.path, 'resume.bin');
    // Cut and damaged by the chunk boundaries, not by fixed offsets: random data can put one
    // chunk of up to 4 MiB over both a fixed damage and a fixed cut, leaving nothing to reuse.
    const [c0, c1, c2] = manifest.chunks;
    await copyFile(src, dst + '.ferry-part');
    await truncate(dst + '.ferry-part', c0.size + c1.size + Math.floor(c2.size / 2));
    await scribble(dst + '.ferry-part', 1_000, 100); // inside the first chunk: it travels again
    const r = await client.getFile('/big.bin', dst);
    expect(await sha256File(dst)).toBe(await sha256File(src));
    expect(r.bytesReused).toBeGreaterThanOrEqual(c1.size); // the whole second chunk at least
    expect(r.bytesTransferred).toBeGreaterThanOrEqual(c0.size); // the damaged one again
    expect(r.bytesTransferred).toBeLessThan(SIZE);
    expect(r.bytesReused + r.bytesTransferred).toBe(SIZE);
  });

  it('serve whole files and ranges to many clients at once, some hanging up, byte for byte (read buffers reused across responses)', async () => {
    const bytes = await readFile(src);
    const ranges: Array<[number, number] | undefined> = [undefined, [0, 999], [1_000_000, 9_000_000], [SIZE - 5_000_000, SIZE - 1], undefined, [4321, SIZE - 1]];
    for (let round = 0; round < 2; round++) {
      // and clients that hang up mid-body, while the others are served
      const quitters = [1, 2, 3].map((i) => hangUpAfter('/api/v1/files/big.bin', i * 300_000));
      const got = await Promise.all(
        ranges.map(async (r) => {
          const res = await server.api('/api/v1/files/big.bin', r ? { headers: { range: `bytes=${r[0]}-${r[1]}` } } : {});
          expect(res.status).toBe(r ? 206 : 200);
          return Buffer.from(await res.arrayBuffer());
        }),
      );
      await Promise.allSettled(quitters);
      got.forEach((g, i) => {
        const r = ranges[i];
        expect(g.equals(r ? bytes.subarray(r[0], r[1] + 1) : bytes), `range ${JSON.stringify(r)}`).toBe(true);
      });
    }
  });

  it('answer a chunk corrupt on the server with an error, never with wrong bytes', async () => {
    const victim = manifest.chunks[2];
    const file = await chunkFile(victim.hash);
    const good = readFileSync(file);
    const bad = Buffer.from(good);
    bad[bad.length - 1] ^= 0x80;
    writeFileSync(file, bad);
    try {
      const res = await server.api(`/api/v1/chunks/${victim.hash}?path=/big.bin`);
      expect(res.status).toBe(500);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('FERRY_ERR_CHUNK_CORRUPT');
      const dst = join(tmp.path, 'corrupt.bin');
      const err = await client.getFile('/big.bin', dst).catch((e: unknown) => e);
      expect(isFerryError(err, 'FERRY_ERR_CHUNK_CORRUPT')).toBe(true);
      await expect(stat(dst)).rejects.toThrow();
      // The whole file: cut before the bad chunk, never its bytes.
      const whole = await server.api('/api/v1/files/big.bin');
      const received = await whole.arrayBuffer().then(
        (b) => Buffer.from(b),
        () => null,
      );
      if (received !== null) {
        expect(received.length).toBeLessThan(SIZE);
        expect(received.equals((await readFile(src)).subarray(0, received.length))).toBe(true);
      }
    } finally {
      writeFileSync(file, good);
    }
  });

  it('find a chunk corrupt on the server disk whoever verifies: ferry get itself (the server skipped its hash), then the server when asked again; curl never gets its bytes', async () => {
    const k = 3;
    const victim = manifest.chunks[k];
    const at = chunkOffsets(manifest.chunks)[k];
    const file = await chunkFile(victim.hash);
    const good = readFileSync(file);
    const bad = Buffer.from(good);
    bad[bad.length - 1] ^= 0x80; // the chunk's last byte (stored raw: random data does not compress)
    writeFileSync(file, bad);
    // Whether the server verified each read of the victim (ChunkStore.lend's option).
    const store = server.server.ctx.chunks;
    const lend = store.lend.bind(store);
    const verified: boolean[] = [];
    store.lend = (hash, signal, options) => {
      if (hash === victim.hash) verified.push(options?.verify ?? true);
      return lend(hash, signal, options);
    };
    const asked: Array<{ range: string; by?: string }> = [];
    proxy.onRequest = (req) => {
      if (FILE_GET.test(req.path)) asked.push({ range: String(req.headers.range), by: req.headers['x-ferry-verified-by'] as string | undefined });
    };
    try {
      const corruptBefore = await corruptCount();
      // 1. ferry get (the CLI, through the proxy that logs the requests)
      const dst = join(tmp.path, 'corrupt-cli.bin');
      const r = await runFerry(['get', '-q', '--parallel', '1', '/big.bin', dst], { env: { FERRY_SERVER: proxy.url, FERRY_TOKEN: server.token, FERRY_CONFIG: join(tmp.path, 'none.json') } });
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain('FERRY_ERR_CHUNK_CORRUPT');
      expect(r.stderr).toContain(victim.hash);
      expect(r.stderr).toContain("damaged in the server's store");
      await expect(stat(dst)).rejects.toThrow();
      // The run holding the victim came unverified by the server (the client verifies), the
      // client found the damage itself, and asked again from that chunk with the server verifying.
      const first = asked.findIndex((a) => a.by === 'client' && Number(/^bytes=(\d+)-(\d+)$/.exec(a.range)![2]) >= at && Number(/^bytes=(\d+)-/.exec(a.range)![1]) <= at);
      expect(first).toBeGreaterThanOrEqual(0);
      expect(asked[first + 1]).toMatchObject({ by: undefined });
      expect(asked[first + 1].range).toMatch(new RegExp(`^bytes=${at}-`));
      expect(verified).toEqual([false, true]);
      expect(await corruptCount()).toBe(corruptBefore + 1);
      // What was verified before the victim is kept for the next attempt, and nothing after it.
      expect((await stat(dst + '.ferry-part')).size).toBeLessThanOrEqual(at);
      // 2. curl, the whole file: cut before the victim, never its bytes
      const out = join(tmp.path, 'corrupt-curl.bin');
      const curl = await promisify(execFile)('curl', ['-sS', '-o', out, '-H', `authorization: Bearer ${server.token}`, `${server.url}/api/v1/files/big.bin`]).then(
        () => 0,
        (e: { code?: number }) => e.code,
      );
      expect(curl).not.toBe(0);
      const got = await readFile(out).catch(() => Buffer.alloc(0));
      expect(got.length).toBeLessThanOrEqual(at);
      expect(got.equals((await readFile(src)).subarray(0, got.length))).toBe(true);
      // 3. curl, a range starting in the victim: an error status, no bytes
      const ranged = await server.api('/api/v1/files/big.bin', { headers: { range: `bytes=${at + 10}-` } });
      expect(ranged.status).toBe(500);
      expect(((await ranged.json()) as { error: { code: string } }).error.code).toBe('FERRY_ERR_CHUNK_CORRUPT');
      expect(verified.slice(2).every((v) => v)).toBe(true);
      expect(await corruptCount()).toBeGreaterThanOrEqual(corruptBefore + 3);
      // 3. Repaired on disk, the same command completes from the part it kept.
      writeFileSync(file, good);
      const again = await runFerry(['get', '-q', '--json', '/big.bin', dst], { env: { FERRY_SERVER: proxy.url, FERRY_TOKEN: server.token, FERRY_CONFIG: join(tmp.path, 'none.json') } });
      expect(again.code).toBe(0);
      expect(await sha256File(dst)).toBe(await sha256File(src));
      expect((JSON.parse(again.stdout) as { bytesReused: number }).bytesReused).toBeGreaterThan(0);
    } finally {
      store.lend = lend;
      writeFileSync(file, good);
    }
  });
});

describe('a larger file: runs in parallel, their buffers kept from run to run', () => {
  const BIG = 41 * 1024 * 1024 + 999;
  const BIG_GET = /^\/api\/v1\/files\/bigger\.bin$/;
  let bigSrc: string;
  let bigManifest: ManifestResponse;

  beforeAll(async () => {
    bigSrc = join(tmp.path, 'bigger.bin');
    await writeRandomFile(bigSrc, BIG);
    await client.putFile(bigSrc, '/bigger.bin');
    bigManifest = await client.manifest('/bigger.bin');
  });

  it('round-trip byte for byte through several runs at once', async () => {
    expect(bigManifest.chunks.length).toBeGreaterThan(12);
    const dst = join(tmp.path, 'bigger-rt.bin');
    const before = proxy.requests('GET', BIG_GET).length;
    const r = await client.getFile('/bigger.bin', dst, { parallel: 4 });
    expect(r.bytes).toBe(BIG);
    expect(r.bytesTransferred).toBe(BIG);
    expect((await readFile(dst)).equals(await readFile(bigSrc))).toBe(true);
    expect(proxy.requests('GET', BIG_GET).length - before).toBeGreaterThan(2); // several runs
  });

  it('read a later run into the buffers of earlier ones (lent), each chunk still its own bytes', async () => {
    const bytes = await readFile(bigSrc);
    const offsets = chunkOffsets(bigManifest.chunks);
    const fresh = new FerryClient({ server: proxy.url, token: server.token }); // (no spare buffers yet)
    const runOf = async (from: number, to: number): Promise<Set<ArrayBufferLike>> => {
      const seen = new Set<ArrayBufferLike>();
      const refs = bigManifest.chunks.slice(from, to);
      await fresh.getChunkRun(
        bigManifest.path,
        bigManifest.hash,
        offsets[from],
        refs,
        async (k, pieces) => {
          for (const p of pieces) seen.add(p.buffer);
          const at = offsets[from + k];
          expect(Buffer.concat(pieces).equals(bytes.subarray(at, at + refs[k].size))).toBe(true);
        },
        { lent: true },
      );
      return seen;
    };
    try {
      const first = await runOf(0, 6);
      expect(first.size).toBeLessThanOrEqual(2);
      // a run of other chunks (the same sizes: the spares fit them), then the first again
      const second = await runOf(6, 12);
      const third = await runOf(0, 6);
      expect([...third].every((b) => first.has(b) || second.has(b))).toBe(true);
      expect(new Set([...first, ...second, ...third]).size).toBeLessThanOrEqual(4);
    } finally {
      await fresh.close();
    }
  });

  it('refuse a chunk damaged on the way twice, fetch one damaged once again, never keep wrong bytes', async () => {
    const damage = (b: Buffer) => ((b[b.length - 10] ^= 0x20), b); // the last chunk of the run asked for, both times
    proxy.rules.push({ method: 'GET', path: BIG_GET, times: 2, rewrite: damage });
    const dst = join(tmp.path, 'bigger-bad.bin');
    const err = await client.getFile('/bigger.bin', dst, { parallel: 1 }).catch((e: unknown) => e);
    expect(isFerryError(err, 'FERRY_ERR_HASH_MISMATCH')).toBe(true);
    expect(proxy.rules[0].times).toBe(0);
    await expect(stat(dst)).rejects.toThrow();
    // What the part kept is the file's own bytes, up to the damaged chunk.
    const part = await readFile(dst + '.ferry-part');
    const good = await readFile(bigSrc);
    const kept = Number(/^bytes=(\d+)-/.exec(proxy.requests('GET', BIG_GET).at(-1)!.range!)![1]);
    expect(kept).toBeGreaterThan(0);
    expect(part.subarray(0, kept).equals(good.subarray(0, kept))).toBe(true);

    proxy.rules.length = 0;
    proxy.rules.push({ method: 'GET', path: BIG_GET, times: 1, rewrite: damage });
    const again = join(tmp.path, 'bigger-once.bin');
    const r = await client.getFile('/bigger.bin', again, { parallel: 3 });
    expect(proxy.rules[0].times).toBe(0);
    expect(r.bytes).toBe(BIG);
    expect((await readFile(again)).equals(good)).toBe(true);
  });
});
