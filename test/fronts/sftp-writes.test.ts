/**
 * Writes the way clients other than OpenSSH make them (ssh2's client standing in for
 * sshfs, pkg/sftp and friends): out of order, backwards, overlapping, read back through the
 * same handle, truncated, appended, abandoned. Each file must come out byte for byte, with
 * the manifest the server's chunker gives those bytes (so the chunks dedup with every
 * other upload of them), and an abandoned one must leave nothing any reader can see.
 */
import { randomBytes } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type ssh2 from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cdcParamsOf } from '../../src/algo/cdc-kernel.js';
import { chunkLengths } from '../../src/algo/fastcdc.js';
import { fileHashOf } from '../../src/core/manifest.js';
import { streamRoom } from '../../src/server/sftp/upload.js';
import { sha256, uploadBuffer } from '../helpers/in-process-server.js';
import { sftpBatch, sftpOf, sshClient, sshUser, startSftpServer, type SftpServer, type SshUser } from '../helpers/sftp.js';

let s: SftpServer;
let wes: SshUser;
let client: ssh2.Client;
let sftp: ssh2.SFTPWrapper;

const MiB = 1024 * 1024;

beforeAll(async () => {
  s = await startSftpServer();
  wes = await sshUser(s, 'wes');
  client = await sshClient(s, { username: 'wes', privateKey: await readFile(wes.key) });
  sftp = await sftpOf(client);
});
afterAll(async () => {
  client?.end();
  await s?.close();
});

const p = <T>(f: (cb: (err: Error | null | undefined, v?: T) => void) => void): Promise<T> => new Promise((resolve, reject) => f((err, v) => (err ? reject(err) : resolve(v as T))));
const open = (sf: ssh2.SFTPWrapper, path: string, flags: ssh2.OpenMode): Promise<Buffer> => p((cb) => sf.open(path, flags, cb));
const close = (sf: ssh2.SFTPWrapper, h: Buffer): Promise<void> => p((cb) => sf.close(h, cb));
const write = (sf: ssh2.SFTPWrapper, h: Buffer, data: Buffer, at: number): Promise<void> => p((cb) => sf.write(h, data, 0, data.length, at, cb));
const read = async (sf: ssh2.SFTPWrapper, h: Buffer, at: number, length: number): Promise<Buffer> => {
  const buf = Buffer.alloc(length);
  const n = await new Promise<number>((resolve, reject) => sf.read(h, buf, 0, length, at, (err, bytes) => (err ? reject(err) : resolve(bytes))));
  return buf.subarray(0, n);
};

/** Writes `blocks` (offset, bytes) with up to `inFlight` requests outstanding, in the order given. */
async function writeAll(h: Buffer, blocks: { at: number; data: Buffer }[], inFlight = 16): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < blocks.length) {
      const b = blocks[next++];
      await write(sftp, h, b.data, b.at);
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
}

function blocksOf(data: Buffer, size: number): { at: number; data: Buffer }[] {
  const out: { at: number; data: Buffer }[] = [];
  for (let at = 0; at < data.length; at += size) out.push({ at, data: data.subarray(at, at + size) });
  return out;
}

/** The file's bytes over the native API and its manifest hash. */
async function stored(path: string): Promise<{ body: Buffer; hash: string }> {
  const res = await s.t.api(`/api/v1/files/users/wes${path}`);
  expect(res.status).toBe(200);
  const entry = (await (await s.t.api(`/api/v1/stat/users/wes${path}`)).json()) as { hash: string };
  return { body: Buffer.from(await res.arrayBuffer()), hash: entry.hash };
}

/** The file hash the server's chunker gives `data` (what any upload of these bytes gets). */
function canonicalHash(data: Buffer): string {
  let at = 0;
  return fileHashOf(chunkLengths(data, cdcParamsOf(s.t.server.ctx.config.chunking)).map((n) => ({ hash: sha256(data.subarray(at, (at += n))), size: n })));
}

async function expectFile(path: string, data: Buffer): Promise<void> {
  const got = await stored(path);
  expect(got.body.length).toBe(data.length);
  expect(got.body.equals(data)).toBe(true);
  expect(got.hash).toBe(canonicalHash(data));
}

describe('writes in any order', () => {
  it('takes 20 MiB written back to front (spooled on disk, not held in memory)', async () => {
    const data = randomBytes(20 * MiB);
    const h = await open(sftp, '/backwards.bin', 'w');
    await writeAll(h, blocksOf(data, 64 * 1024).reverse(), 8);
    // Before CLOSE the bytes are in a spool file under DATA/tmp/sftp (sparse, as written)
    const spoolDir = join(s.t.dataDir, 'tmp', 'sftp');
    const spooled = await Promise.all((await readdir(spoolDir)).map((f) => stat(join(spoolDir, f))));
    expect(spooled.some((st) => st.size === data.length && st.blocks * 512 >= data.length)).toBe(true);
    await close(sftp, h);
    await expectFile('/backwards.bin', data);
  });

  it('takes neighbouring writes swapped (reordered in flight)', async () => {
    const data = randomBytes(6 * MiB + 123);
    const blocks = blocksOf(data, 32 * 1024);
    for (let i = 0; i + 1 < blocks.length; i += 2) [blocks[i], blocks[i + 1]] = [blocks[i + 1], blocks[i]];
    const h = await open(sftp, '/swapped.bin', 'w');
    await writeAll(h, blocks, 1);
    await close(sftp, h);
    await expectFile('/swapped.bin', data);
  });

  it('takes a write over bytes already written, and a hole left by a write past the end', async () => {
    const data = randomBytes(3 * MiB);
    const h = await open(sftp, '/rewritten.bin', 'w');
    await writeAll(h, blocksOf(data.subarray(0, 2 * MiB), 64 * 1024), 1);
    const patch = randomBytes(200 * 1024);
    await write(sftp, h, patch, 100 * 1024);
    patch.copy(data, 100 * 1024);
    await write(sftp, h, data.subarray(2 * MiB), 2 * MiB + 512 * 1024);
    await close(sftp, h);
    const expected = Buffer.concat([data.subarray(0, 2 * MiB), Buffer.alloc(512 * 1024), data.subarray(2 * MiB)]);
    await expectFile('/rewritten.bin', expected);
  });

  it('reads back through a read-write handle what it wrote, and truncates and extends it', async () => {
    const first = randomBytes(MiB);
    let h = await open(sftp, '/rw.bin', 'w');
    await write(sftp, h, first, 0);
    await close(sftp, h);
    h = await open(sftp, '/rw.bin', 'r+');
    expect((await read(sftp, h, 1000, 100)).equals(first.subarray(1000, 1100))).toBe(true);
    const patch = Buffer.from('patched bytes');
    await write(sftp, h, patch, 5000);
    expect((await read(sftp, h, 4990, 40)).equals(Buffer.concat([first.subarray(4990, 5000), patch, first.subarray(5013, 5030)]))).toBe(true);
    await p((cb) => sftp.fsetstat(h, { size: 6000 } as ssh2.InputAttributes, cb));
    await p((cb) => sftp.fsetstat(h, { size: 7000 } as ssh2.InputAttributes, cb));
    await close(sftp, h);
    const expected = Buffer.concat([first.subarray(0, 5000), patch, first.subarray(5013, 6000), Buffer.alloc(1000)]);
    await expectFile('/rw.bin', expected);
  });

  it('appends to a file: the old chunks are kept as they are, the manifest is the whole file’s', async () => {
    const head = randomBytes(9 * MiB + 77);
    let h = await open(sftp, '/grow.bin', 'w');
    await writeAll(h, blocksOf(head, 256 * 1024), 4);
    await close(sftp, h);
    const tail = randomBytes(5 * MiB + 5);
    h = await open(sftp, '/grow.bin', 'a');
    await writeAll(h, blocksOf(tail, 256 * 1024).map((b) => ({ at: b.at + head.length, data: b.data })), 1);
    await close(sftp, h);
    await expectFile('/grow.bin', Buffer.concat([head, tail]));
    const audit = (await (await s.t.api('/api/v1/admin/audit?event=file.upload&user=wes&limit=1')).json()) as { entries: { details: { resumedFrom: number; received: number } }[] };
    const [upload] = audit.entries;
    expect(upload.details).toMatchObject({ resumedFrom: head.length, received: tail.length });
  });

  it('truncates a file by path (setstat of its size)', async () => {
    const data = randomBytes(2 * MiB);
    const h = await open(sftp, '/cut.bin', 'w');
    await write(sftp, h, data, 0);
    await close(sftp, h);
    await p((cb) => sftp.setstat('/cut.bin', { size: 1234 } as ssh2.InputAttributes, cb));
    await expectFile('/cut.bin', data.subarray(0, 1234));
  });
});

describe('memory', () => {
  // The streamed-upload budget (src/server/ingest.ts) makes uploads wait for room; a
  // session's SFTP packets are handled in order, so one of its files waiting would stop the
  // others, which may hold the room it waits for. A file waits only while no other file of
  // its session holds room (./sftp-memory.test.ts); the others go on unadmitted: here the
  // budget has room for one stream, and four files written at once (interleaved, one
  // session) still all arrive whole.
  it('a session writes four files at once while the streamed-upload memory has room for one', { timeout: 45_000 }, async () => {
    const memory = s.t.server.ctx.ingestMemory;
    const all = await memory.reserve(memory.largestWhole - streamRoom(s.t.server.ctx));
    try {
      const files = Array.from({ length: 4 }, (_, i) => ({ path: `/crowded-${i}.bin`, data: randomBytes(5 * MiB + i * 1000) }));
      const handles = await Promise.all(files.map((f) => open(sftp, f.path, 'w')));
      const blocks = files.map((f) => blocksOf(f.data, 32 * 1024));
      for (let i = 0; i < blocks[0].length; i++) {
        await Promise.all(files.map((_, f) => (blocks[f][i] ? write(sftp, handles[f], blocks[f][i].data, blocks[f][i].at) : undefined)));
      }
      // The last block of the longest file.
      for (let f = 0; f < files.length; f++) for (const b of blocks[f].slice(blocks[0].length)) await write(sftp, handles[f], b.data, b.at);
      await Promise.all(handles.map((h) => close(sftp, h)));
      for (const f of files) await expectFile(f.path, f.data);
    } finally {
      all.release();
    }
    expect(memory.stats()).toMatchObject({ waiting: 0, held: 0 });
  });
});

describe('reads', () => {
  it('answer reads at any offset, whole across chunk boundaries (short only at the end)', async () => {
    const data = randomBytes(10 * MiB + 11);
    const up = await uploadBuffer(s.t, '/users/wes/seek.bin', data, 777_777);
    expect(up.status).toBe(200);
    const manifest = (await (await s.t.api('/api/v1/manifests/users/wes/seek.bin')).json()) as { chunks: { size: number }[] };
    const boundary = manifest.chunks[0].size + manifest.chunks[1].size;
    const h = await open(sftp, '/seek.bin', 'r');
    for (const [at, len] of [[5 * MiB + 3, 100_000], [0, 1], [boundary - 1000, 200_000], [9 * MiB, 255 * 1024], [data.length - 10, 1000]]) {
      const got = await read(sftp, h, at, len);
      expect(got.length, `at ${at}`).toBe(Math.min(len, data.length - at));
      expect(got.equals(data.subarray(at, at + len)), `at ${at}`).toBe(true);
    }
    await expect(read(sftp, h, data.length, 10)).resolves.toHaveLength(0);
    await close(sftp, h);
  });
});

describe('a file being written', () => {
  it('shows to its own session from OPEN on (sshfs asks at once), to nobody else until CLOSE', async () => {
    const h = await open(sftp, '/growing.txt', 'w');
    const early = await p<ssh2.Stats>((cb) => sftp.stat('/growing.txt', cb));
    expect(early.size).toBe(0);
    await write(sftp, h, Buffer.from('hello'), 0);
    expect((await p<ssh2.Stats>((cb) => sftp.stat('/growing.txt', cb))).size).toBe(5);
    const names = (await p<ssh2.FileEntry[]>((cb) => sftp.readdir('/', cb))).map((e) => e.filename);
    expect(names).toContain('growing.txt');
    // Another session of the same user, and the native API, see nothing yet
    const other = await sftpBatch(s, wes, ['ls -1']);
    expect(other.stdout).not.toContain('growing.txt');
    expect((await s.t.api('/api/v1/stat/users/wes/growing.txt')).status).toBe(404);
    await close(sftp, h);
    expect((await stored('/growing.txt')).body.toString()).toBe('hello');
  });

  it('leaves nothing visible when the connection drops mid-upload; its owner may resume or remove what arrived', async () => {
    const c2 = await sshClient(s, { username: 'wes', privateKey: await readFile(wes.key) });
    const sf2 = await sftpOf(c2);
    const data = randomBytes(24 * MiB);
    const h = await open(sf2, '/cut-off.bin', 'w');
    for (const b of blocksOf(data.subarray(0, 18 * MiB), 256 * 1024)) await write(sf2, h, b.data, b.at);
    const gone = new Promise<void>((resolve) => c2.once('close', () => resolve()));
    c2.destroy();
    await gone;
    const user = (await s.t.server.ctx.users.userByName('wes'))!;
    // Everything that arrived in order is kept once the server has seen the connection go.
    for (let i = 0; (await s.t.server.ctx.meta.findPartial(user.id, '/users/wes/cut-off.bin'))?.size !== 18 * MiB; i++) {
      if (i > 400) throw new Error('the partial upload was not kept whole');
      await new Promise((r) => setTimeout(r, 50));
    }
    expect((await s.t.api('/api/v1/stat/users/wes/cut-off.bin')).status).toBe(404);
    const listing = (await (await s.t.api('/api/v1/list/users/wes')).json()) as { entries: { name: string }[] };
    expect(listing.entries.map((e) => e.name)).not.toContain('cut-off.bin');
    expect((await p<ssh2.FileEntry[]>((cb) => sftp.readdir('/', cb))).map((e) => e.filename)).not.toContain('cut-off.bin');
    await expect(open(sftp, '/cut-off.bin', 'r')).rejects.toThrow(/no such file/i);
    // Its owner's stat tells where a resume starts (what arrived in order, all of it kept)
    expect((await p<ssh2.Stats>((cb) => sftp.stat('/cut-off.bin', cb))).size).toBe(18 * MiB);
    // ... and rm gives up on it
    await p((cb) => sftp.unlink('/cut-off.bin', cb));
    await expect(p((cb) => sftp.stat('/cut-off.bin', cb))).rejects.toThrow(/no such file/i);
    expect(await s.t.server.ctx.meta.findPartial(user.id, '/users/wes/cut-off.bin')).toBeUndefined();
  });
});

describe('partial uploads', () => {
  it('hold the quota their bytes take while kept, not the room reserved ahead of them', async () => {
    const quota = 40 * MiB;
    const kim = await sshUser(s, 'kim', { quotaBytes: quota });
    const c2 = await sshClient(s, { username: 'kim', privateKey: await readFile(kim.key) });
    const sf2 = await sftpOf(c2);
    const data = randomBytes(30 * MiB);
    const h = await open(sf2, '/big.bin', 'w');
    for (const b of blocksOf(data.subarray(0, 12 * MiB), 256 * 1024)) await write(sf2, h, b.data, b.at);
    const gone = new Promise<void>((resolve) => c2.once('close', () => resolve()));
    c2.destroy();
    await gone;
    const { meta } = s.t.server.ctx;
    const user = (await s.t.server.ctx.users.userByName('kim'))!;
    for (let i = 0; (await meta.findPartial(user.id, '/users/kim/big.bin'))?.size !== 12 * MiB; i++) {
      if (i > 400) throw new Error('the partial upload was not kept whole');
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(await meta.reservedBytes(user.id)).toBe(12 * MiB);
    // 12 MiB kept + 20 MiB fits in 40; 12 + 30 would not.
    const c3 = await sshClient(s, { username: 'kim', privateKey: await readFile(kim.key) });
    try {
      const sf3 = await sftpOf(c3);
      const other = await open(sf3, '/other.bin', 'w');
      for (const b of blocksOf(randomBytes(20 * MiB), 256 * 1024)) await write(sf3, other, b.data, b.at);
      await close(sf3, other);
      const tooMuch = await open(sf3, '/too-much.bin', 'w');
      const refused = await (async () => {
        for (const b of blocksOf(randomBytes(30 * MiB), 256 * 1024)) await write(sf3, tooMuch, b.data, b.at);
        await close(sf3, tooMuch);
      })().then(
        () => undefined,
        (e: Error) => e,
      );
      expect(refused?.message).toMatch(/quota exceeded/);
    } finally {
      c3.end();
    }
    expect((await s.t.api('/api/v1/stat/users/kim/other.bin')).status).toBe(200);
    expect((await s.t.api('/api/v1/stat/users/kim/too-much.bin')).status).toBe(404);
  });

  it('go once --upload-ttl has passed without a write', async () => {
    let clock = Date.now();
    const e = await startSftpServer({ now: () => clock, uploadTtlMs: 3600_000 });
    try {
      const eva = await sshUser(e, 'eva');
      const c = await sshClient(e, { username: 'eva', privateKey: await readFile(eva.key) });
      const sf = await sftpOf(c);
      const h = await open(sf, '/left.bin', 'w');
      await write(sf, h, randomBytes(2 * MiB), 0);
      const gone = new Promise<void>((resolve) => c.once('close', () => resolve()));
      c.destroy();
      await gone;
      const user = (await e.t.server.ctx.users.userByName('eva'))!;
      for (let i = 0; (await e.t.server.ctx.meta.findPartial(user.id, '/users/eva/left.bin'))?.size !== 2 * MiB; i++) {
        if (i > 400) throw new Error('the partial upload was not kept');
        await new Promise((r) => setTimeout(r, 50));
      }
      clock += 3600_000 + 1;
      expect(await e.t.server.ctx.meta.expireUploads()).toBeGreaterThan(0);
      expect(await e.t.server.ctx.meta.findPartial(user.id, '/users/eva/left.bin')).toBeUndefined();
    } finally {
      await e.close();
    }
  });
});
