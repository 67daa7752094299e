/**
 * The SDK's transfer engine against the protocol double: round trips, dedup, resume,
 * retries and session restarts under injected faults, trees, streams, delta downloads.
 * (The same behaviours against the real server are in test/e2e.)
 */
import { mkdir, readFile, readdir, stat, writeFile, truncate, copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough, Readable, Writable } from 'node:stream';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FerryClient } from '../../src/client/client.js';
import { isFerryError } from '../../src/core/errors.js';
import { ProtocolDouble, SMALL_CHUNKING } from '../helpers/protocol-double.js';
import { NASTY_NAMES, scribble, sha256File, tempDir, writeRandomFile } from '../helpers/files.js';

const FAST_RETRY = { retries: 4, baseMs: 5, capMs: 20, maxRetryAfterMs: 1500 };

let double: ProtocolDouble;
let client: FerryClient;
let tmp: { path: string; cleanup: () => Promise<void> };

beforeEach(async () => {
  double = new ProtocolDouble();
  await double.start();
  client = new FerryClient({ server: double.url, token: double.token, retry: FAST_RETRY });
  tmp = await tempDir();
});
afterEach(async () => {
  await client.close();
  await double.stop();
  await tmp.cleanup();
});

const { minSize, avgSize, maxSize } = SMALL_CHUNKING;

describe('putFile / getFile', () => {
  it.each([0, 1, minSize - 1, minSize, avgSize, maxSize, maxSize + 1, 3 * 1024 * 1024 + 17])('round-trips %i bytes', async (size) => {
    const src = join(tmp.path, 'src.bin');
    const dst = join(tmp.path, 'out', 'dst.bin');
    await writeRandomFile(src, size);
    const up = await client.putFile(src, '/dir/file.bin');
    expect(up.bytes).toBe(size);
    expect(double.fileBytes('/dir/file.bin').equals(await readFile(src))).toBe(true);
    const down = await client.getFile('/dir/file.bin', dst);
    expect(down.bytes).toBe(size);
    expect(await sha256File(dst)).toBe(await sha256File(src));
    await expect(stat(dst + '.ferry-part')).rejects.toThrow();
    // mtime and mode travel
    const s1 = await stat(src);
    const s2 = await stat(dst);
    expect(Math.round(s2.mtimeMs)).toBe(Math.round(s1.mtimeMs));
    expect(s2.mode & 0o777).toBe(s1.mode & 0o777);
  });

  it('sends no chunk body the second time (dedup)', async () => {
    const src = join(tmp.path, 'a.bin');
    await writeRandomFile(src, 2 * 1024 * 1024);
    await client.putFile(src, '/a.bin');
    const before = double.metrics.bodyBytes;
    const r = await client.putFile(src, '/copy-of-a.bin');
    expect(double.metrics.bodyBytes).toBe(before);
    expect(r.bytesTransferred).toBe(0);
    expect(r.bytesReused).toBe(2 * 1024 * 1024);
  });

  it('re-sends only the chunks around an edit', async () => {
    const src = join(tmp.path, 'a.bin');
    await writeRandomFile(src, 4 * 1024 * 1024);
    await client.putFile(src, '/a.bin');
    await scribble(src, 2 * 1024 * 1024, 1000);
    const before = double.metrics.bodyBytes;
    await client.putFile(src, '/a.bin');
    expect(double.metrics.bodyBytes - before).toBeLessThanOrEqual(3 * maxSize);
    expect(double.fileBytes('/a.bin').equals(await readFile(src))).toBe(true);
  });

  it('retries 503 (honouring Retry-After), 500 and dropped connections', async () => {
    const src = join(tmp.path, 'a.bin');
    await writeRandomFile(src, 1024 * 1024);
    double.faults.push(
      { method: 'PUT', path: /\/chunks\//, code: 'FERRY_ERR_UNAVAILABLE', retryAfterSeconds: 0 },
      { method: 'PUT', path: /\/chunks\//, code: 'FERRY_ERR_INTERNAL', times: 2 },
      { method: 'PUT', path: /\/chunks\//, drop: true, times: 2 },
      { method: 'POST', path: /\/commit$/, code: 'FERRY_ERR_RATE_LIMITED', retryAfterSeconds: 0 },
    );
    await client.putFile(src, '/a.bin');
    expect(double.faults.every((f) => f.times === 0)).toBe(true);
    expect(double.fileBytes('/a.bin').equals(await readFile(src))).toBe(true);
  });

  it('does not retry a refused request (4xx) and reports its code', async () => {
    const src = join(tmp.path, 'a.bin');
    await writeRandomFile(src, 100);
    double.faults.push({ method: 'POST', path: /\/uploads$/, code: 'FERRY_ERR_QUOTA_EXCEEDED', status: 413, times: 5 });
    await expect(client.putFile(src, '/a.bin')).rejects.toSatisfy((e) => isFerryError(e, 'FERRY_ERR_QUOTA_EXCEEDED'));
    expect(double.faults[0].times).toBe(4);
  });

  it('stops at once on a chunk the server refuses, leaving no request behind', async () => {
    const src = join(tmp.path, 'a.bin');
    await writeRandomFile(src, 8 * 1024 * 1024);
    double.faults.push({ method: 'PUT', path: /\/chunks\//, code: 'FERRY_ERR_PAYLOAD_TOO_LARGE', status: 413, times: 1000 });
    await expect(client.putFile(src, '/a.bin', { parallel: 8 })).rejects.toSatisfy((e) => isFerryError(e, 'FERRY_ERR_PAYLOAD_TOO_LARGE'));
    // Requests written before the failure may reach the server a moment later (it runs in
    // this process); after that, nothing new may start.
    await new Promise((r) => setTimeout(r, 200));
    const puts = double.log.filter((l) => l.startsWith('PUT ')).length;
    await new Promise((r) => setTimeout(r, 300));
    expect(double.log.filter((l) => l.startsWith('PUT ')).length).toBe(puts);
    expect(puts).toBeLessThanOrEqual(16); // the first refusal stopped the rest of the ~500 chunks
  });

  it('maps unknown error codes to FERRY_ERR_SERVER (5xx) and FERRY_ERR_PROTOCOL (4xx)', async () => {
    double.faults.push({ path: /\/stat/, code: 'FERRY_ERR_FUTURE_THING' as never, status: 502, times: 10 });
    await expect(client.stat('/')).rejects.toSatisfy((e) => isFerryError(e, 'FERRY_ERR_SERVER'));
    double.faults.length = 0;
    double.faults.push({ path: /\/stat/, code: 'FERRY_ERR_FUTURE_THING' as never, status: 418 });
    await expect(client.stat('/')).rejects.toSatisfy((e) => isFerryError(e, 'FERRY_ERR_PROTOCOL'));
  });

  it('starts a new session when the old one expired mid-upload, without re-sending stored chunks', async () => {
    const src = join(tmp.path, 'a.bin');
    await writeRandomFile(src, 6 * 1024 * 1024);
    let puts = 0;
    double.onRequest = (method, path) => {
      if (method === 'PUT' && path.includes('/chunks/') && ++puts === 20) {
        // the session "expires" under the client's feet
        for (const id of [...double.sessions.keys()]) double.sessions.delete(id);
      }
    };
    const r = await client.putFile(src, '/a.bin');
    expect(double.fileBytes('/a.bin').equals(await readFile(src))).toBe(true);
    // only the PUTs in flight when the session vanished travel twice
    expect(double.metrics.bodyBytes).toBeLessThanOrEqual(6 * 1024 * 1024 + 4 * maxSize);
    expect(double.log.filter((l) => l === 'POST /api/v1/uploads').length).toBe(2);
    expect(r.bytes).toBe(6 * 1024 * 1024);
  });

  it('re-sends chunks the commit reports missing', async () => {
    const src = join(tmp.path, 'a.bin');
    await writeRandomFile(src, 1024 * 1024);
    let once = false;
    double.onRequest = (method, path) => {
      if (!once && path.endsWith('/commit')) {
        once = true;
        const first = [...double.chunks.keys()][0];
        double.chunks.delete(first); // the server "lost" a chunk
      }
    };
    await client.putFile(src, '/a.bin');
    expect(double.fileBytes('/a.bin').equals(await readFile(src))).toBe(true);
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
    expect(double.metrics.chunkBytesServed).toBe(r.bytesTransferred);
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
    expect(double.metrics.chunkBytesServed).toBe(r.bytesTransferred);
  });

  it('leaves an identical local copy in place, fixing only its mtime', async () => {
    const src = join(tmp.path, 'a.bin');
    const dst = join(tmp.path, 'b.bin');
    await writeRandomFile(src, 2 * 1024 * 1024);
    await client.putFile(src, '/a.bin');
    await copyFile(src, dst);
    const r = await client.getFile('/a.bin', dst);
    expect(r).toMatchObject({ files: 1, bytesTransferred: 0, bytesReused: 2 * 1024 * 1024 });
    expect(double.metrics.chunkBytesServed).toBe(0);
    await expect(stat(dst + '.ferry-part')).rejects.toThrow();
    expect(Math.round((await stat(dst)).mtimeMs)).toBe(Math.round((await stat(src)).mtimeMs));
  });

  it('keeps the .ferry-part when aborted', async () => {
    const src = join(tmp.path, 'a.bin');
    const dst = join(tmp.path, 'b.bin');
    await writeRandomFile(src, 4 * 1024 * 1024);
    await client.putFile(src, '/a.bin');
    const ac = new AbortController();
    let served = 0;
    double.onRequest = (_m, path) => {
      if (path.startsWith('/api/v1/chunks/') && ++served === 10) ac.abort();
    };
    await expect(client.getFile('/a.bin', dst, { signal: ac.signal })).rejects.toSatisfy((e) => isFerryError(e, 'FERRY_ERR_ABORTED'));
    expect((await stat(dst + '.ferry-part')).isFile()).toBe(true);
    await expect(stat(dst)).rejects.toThrow();
  });

  it('honours the bandwidth limit (lower bound only: never faster than the limit)', async () => {
    const limited = new FerryClient({ server: double.url, token: double.token, bwlimit: 1024 * 1024 });
    try {
      const src = join(tmp.path, 'a.bin');
      await writeRandomFile(src, 1024 * 1024);
      const t0 = performance.now();
      await limited.putFile(src, '/a.bin', { parallel: 4 });
      // 1 MiB at 1 MiB/s with a 0.1 s burst: at least 0.9 s
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
    expect(double.fileBytes('/s.bin').equals(data)).toBe(true);
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

  it('putStream of an empty stream makes an empty file', async () => {
    await client.putStream(Readable.from([]), '/empty');
    expect((await client.stat('/empty')).size).toBe(0);
    const pt = new PassThrough();
    const got: Buffer[] = [];
    pt.on('data', (d) => got.push(d));
    await client.getStream('/empty', pt);
    expect(Buffer.concat(got).length).toBe(0);
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
    const creates = double.log.filter((l) => l === 'POST /api/v1/uploads').length;
    expect(creates).toBeLessThanOrEqual(3); // one batch session for the 300, one for big.bin
    expect((await client.stat('/tree/empty/deeper')).type).toBe('dir');

    const dst = join(tmp.path, 'dst');
    const g = await client.getTree('/tree', dst);
    expect(g.files).toBe(301);
    for (const f of names) {
      const rel = f.slice(src.length);
      expect(await sha256File(join(dst, rel))).toBe(await sha256File(f));
    }
    expect((await readdir(join(dst, 'empty', 'deeper'))).length).toBe(0);

    // again: nothing travels either way
    const received = double.metrics.bodyBytes;
    const served = double.metrics.chunkBytesServed;
    await client.putTree(src, '/tree');
    const g2 = await client.getTree('/tree', dst);
    expect(double.metrics.bodyBytes).toBe(received);
    expect(double.metrics.chunkBytesServed).toBe(served);
    expect(g2.bytesTransferred).toBe(0);
  });

  it('skips files already in place: same size and mtime, or same content with checksum', async () => {
    const { utimes } = await import('node:fs/promises');
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
    expect(double.fileBytes('/t/d/f0').equals(await readFile(f0))).toBe(true);
    // compare: 'none' commits every file again, but no content travels twice
    const before = double.metrics.bodyBytes;
    r = await client.putTree(src, '/t', { compare: 'none' });
    expect(r).toMatchObject({ files: 21, unchanged: 0, bytesTransferred: 0 });
    expect(double.metrics.bodyBytes).toBe(before);

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
    for (let i = 0; i < 10; i++) expect(double.fileBytes(`/t/ok${i}.txt`).toString()).toBe(`file ${i}`);
  });

  it('skips symlinks with a warning', async () => {
    const warnings: string[] = [];
    const c = new FerryClient({ server: double.url, token: double.token, onWarning: (m) => warnings.push(m) });
    try {
      const src = join(tmp.path, 'src');
      await mkdir(src);
      await writeFile(join(src, 'real'), 'x');
      const { symlink } = await import('node:fs/promises');
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
    const d = new ProtocolDouble({ limits: { maxListLimit: 7 } });
    await d.start();
    const c = new FerryClient({ server: d.url, token: d.token });
    try {
      for (let i = 0; i < 30; i++) await c.mkdir(`/x/${String(i).padStart(2, '0')}`, { parents: true });
      const seen: string[] = [];
      for await (const e of c.list('/x')) seen.push(e.name);
      expect(seen).toHaveLength(30);
      expect(d.log.filter((l) => l.startsWith('GET /api/v1/list')).length).toBe(5);
    } finally {
      await c.close();
      await d.stop();
    }
  });

  it('reports a wrong token as FERRY_ERR_AUTH_INVALID with advice', async () => {
    const c = new FerryClient({ server: double.url, token: 'nope' });
    try {
      await expect(c.stat('/')).rejects.toSatisfy((e) => isFerryError(e, 'FERRY_ERR_AUTH_INVALID') && /ferry login/.test((e as Error).message));
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
