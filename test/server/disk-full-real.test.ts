/**
 * A real full disk (a small tmpfs) under the metadata, and a server killed mid-upload: what
 * stays behind in the chunk store. A chunk or pack object stored just before its index row
 * failed to go in is reachable by nothing: the failing request removes it (unless the index
 * points at it, or another writer is storing it); what a killed server leaves, `admin check`
 * counts and garbage collection removes once older than the grace time.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { readdir, stat, utimes } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEMP_PREFIX } from '../../src/backends/local/local-backend.js';
import { fileHashOf } from '../../src/core/manifest.js';
import { pieces, startTestServer, uploadBuffer, type TestServer } from '../helpers/in-process-server.js';
import { expectError } from '../helpers/error-response.js';
import { packBody } from '../helpers/packs.js';
import { startServer, type RunningServer } from '../helpers/server.js';

const OCTET = { 'content-type': 'application/octet-stream' };

/** Every object file below a chunk store (chunks/ and packs/), relative to it, with its size. */
async function objects(store: string): Promise<{ key: string; size: number }[]> {
  const found = await readdir(store, { withFileTypes: true, recursive: true }).catch(() => []);
  const files = found.filter((e) => e.isFile() && !e.name.startsWith(TEMP_PREFIX) && /^(chunks|packs)\//.test(join(e.parentPath, e.name).slice(store.length + 1)));
  return Promise.all(files.map(async (e) => ({ key: join(e.parentPath, e.name).slice(store.length + 1), size: (await stat(join(e.parentPath, e.name))).size })));
}

/** Takes every free byte of the file system of `file` (until ENOSPC). */
function fillDisk(file: string): void {
  const fd = openSync(file, 'w');
  const block = Buffer.alloc(64 * 1024);
  try {
    for (;;) writeSync(fd, block);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    closeSync(fd);
  }
}

interface Check {
  ok: boolean;
  problems: unknown[];
  unreferenced: { chunks: number; packs: number; bytes: number };
}

async function check(api: (path: string, init?: RequestInit & { json?: unknown }) => Promise<Response>): Promise<Check> {
  const res = await api('/api/v1/admin/check', { method: 'POST', json: {} });
  expect(res.status).toBe(200);
  const last = (await res.text()).trim().split('\n').pop()!;
  return (JSON.parse(last) as { report: Check }).report;
}

describe('a full metadata disk (tmpfs) under a chunk store with room', () => {
  let mnt: string;
  let store: string;
  let t: TestServer;
  beforeAll(async () => {
    mnt = mkdtempSync(join(tmpdir(), 'ferry-full-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', mnt]);
    store = mkdtempSync(join(tmpdir(), 'ferry-store-'));
    mkdirSync(join(mnt, 'data'));
    t = await startTestServer({ dataDir: join(mnt, 'data'), store: [{ prefix: '/', remote: store }] });
  });
  afterAll(async () => {
    await t?.server.close();
    execFileSync('umount', [mnt]);
    rmSync(mnt, { recursive: true, force: true });
    rmSync(store, { recursive: true, force: true });
  });

  it('chunks and packs whose index rows cannot go in leave no object behind; with room again the upload resumes and commits', { timeout: 60_000 }, async () => {
    const data = randomBytes(24 * 4096);
    const { refs, parts } = pieces(data, 4096);
    // A file stored before: its chunk is sent again below, and must survive its row's failed update.
    expect((await uploadBuffer(t, '/before.bin', parts[0], 4096)).status).toBe(200);
    // And one deleted: its chunk is garbage.
    expect((await uploadBuffer(t, '/gone.bin', randomBytes(3000))).status).toBe(200);
    expect((await t.api('/api/v1/files/gone.bin', { method: 'DELETE' })).status).toBe(204);
    const created = await t.api('/api/v1/uploads', { method: 'POST', json: { path: '/big.bin', size: data.length, hash: fileHashOf(refs), chunks: refs } });
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: string };
    const other = pieces(randomBytes(100), 100).refs;
    const second = (await (await t.api('/api/v1/uploads', { method: 'POST', json: { path: '/other.bin', size: 100, hash: fileHashOf(other), chunks: other } })).json()) as { id: string };
    const filler = join(mnt, 'filler');
    fillDisk(filler);

    // Chunk PUTs and packs are answered once their objects are stored, before their rows go
    // in (grouped durability); a row that cannot go in shows at the commit, as a missing chunk.
    for (let i = 0; i < 16; i++) {
      const res = await t.api(`/api/v1/uploads/${id}/chunks/${refs[i].hash}`, { method: 'PUT', body: parts[i], headers: OCTET });
      expect([200, 507]).toContain(res.status);
    }
    const packed = await t.api(`/api/v1/uploads/${id}/packs`, { method: 'POST', body: packBody(parts.slice(16)), headers: OCTET });
    expect([200, 507]).toContain(packed.status);
    // Their directories fsynced and their rows tried while the disk is full, before the commit
    // below is refused and its refusal frees the disk reserve (published chunks wait for a
    // group, or for someone who needs them: ChunkStore.seal).
    await t.server.ctx.chunks.flush();
    const refused = await t.api(`/api/v1/uploads/${id}/commit`, { method: 'POST', json: {} });
    expect(refused.status).not.toBe(200);
    await t.server.ctx.chunks.settled();
    expect((await t.api('/api/v1/files/big.bin')).status).toBe(404);
    // The first refusal released the server's disk reserve (test/server/disk-full-deletes.test.ts);
    // with that room taken too, garbage collection with garbage to remove, aborting a session
    // and a delete write to the metadata: refused alike (README, "A full disk").
    const reserveTaken = join(mnt, 'filler-2');
    fillDisk(reserveTaken);
    await expectError(await t.api('/api/v1/admin/gc', { method: 'POST', json: { graceSeconds: 0 } }), 507, 'FERRY_ERR_NO_SPACE');
    await expectError(await t.api(`/api/v1/uploads/${second.id}`, { method: 'DELETE' }), 507, 'FERRY_ERR_NO_SPACE');
    await expectError(await t.api('/api/v1/files/before.bin', { method: 'DELETE' }), 507, 'FERRY_ERR_NO_SPACE');
    expect((await t.api('/api/v1/list/')).status).toBe(200);

    // Every object left in the store is one the index points at.
    const meta = t.server.ctx.meta;
    const stray: string[] = [];
    for (const o of await objects(store)) {
      const name = o.key.slice(o.key.lastIndexOf('/') + 1);
      const indexed = o.key.startsWith('packs/') ? (await meta.chunkIndex.indexedPacks([name])).has(name) : (await meta.chunkLocation(name))?.pack === null;
      if (!indexed) stray.push(o.key);
    }
    expect(stray).toEqual([]);
    expect(Buffer.from(await (await t.api('/api/v1/files/before.bin')).arrayBuffer()).equals(parts[0])).toBe(true);

    // Room again: the session still says what is missing; send it, commit, read back.
    rmSync(filler);
    rmSync(reserveTaken);
    await t.server.ctx.disk.check();
    expect(t.server.ctx.disk.full).toBe(false);
    const gc = (await (await t.api('/api/v1/admin/gc', { method: 'POST', json: { graceSeconds: 0 } })).json()) as { chunks: number };
    expect(gc.chunks).toBe(1);
    const status = (await (await t.api(`/api/v1/uploads/${id}`)).json()) as { missing: string[] };
    expect(status.missing.length).toBeGreaterThan(0);
    for (const h of status.missing) {
      const i = refs.findIndex((r) => r.hash === h);
      expect((await t.api(`/api/v1/uploads/${id}/chunks/${h}`, { method: 'PUT', body: parts[i], headers: OCTET })).status).toBe(200);
    }
    const commit = await t.api(`/api/v1/uploads/${id}/commit`, { method: 'POST', json: {} });
    expect(commit.status, await commit.clone().text()).toBe(200);
    expect(Buffer.from(await (await t.api('/api/v1/files/big.bin')).arrayBuffer()).equals(data)).toBe(true);
    expect(await check(t.api)).toMatchObject({ ok: true, unreferenced: { chunks: 0, packs: 0, bytes: 0 } });
  });

  it('a refused one-request upload whose session could not be aborted either is aborted by the next gc once there is room', { timeout: 60_000 }, async () => {
    const path = '/refused.bin';
    const openOn = async () => ((await (await t.api('/api/v1/admin/uploads')).json()) as { id: string; path: string | null }[]).filter((u) => u.path === path);
    // The body's first half opens the session; the disk fills before the second half comes.
    let answer!: (status: number) => void;
    const answered = new Promise<number>((resolve) => (answer = resolve));
    const req = request(new URL(`/api/v1/files${path}`, t.url), { method: 'PUT', headers: { authorization: `Bearer ${t.token}`, 'content-type': 'application/octet-stream', 'content-length': String(20_000) } }, (res) => {
      res.resume();
      answer(res.statusCode!);
    });
    req.write(randomBytes(10_000));
    while ((await openOn()).length === 0) await new Promise((r) => setTimeout(r, 20));
    const filler = join(mnt, 'filler');
    fillDisk(filler);
    req.end(randomBytes(10_000));
    expect(await answered).toBe(507);
    expect(await openOn()).toHaveLength(1);

    rmSync(filler);
    await t.server.ctx.disk.check();
    expect((await t.api('/api/v1/admin/gc', { method: 'POST', json: {} })).status).toBe(200);
    expect(await openOn()).toEqual([]);
    expect((await t.api(`/api/v1/files${path}`)).status).toBe(404);
  });
});

describe('kill -9 between a pack being stored and indexed', () => {
  let dir: string;
  let server: RunningServer | undefined;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'ferry-stray-'));
  });
  afterAll(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the stray pack is counted by admin check, kept while young, removed by gc once older than the grace; the upload resumes', { timeout: 120_000 }, async () => {
    const data = join(dir, 'data');
    mkdirSync(data);
    server = await startServer({ dataDir: data });
    const token = server.adminToken;
    const api = (path: string, init: RequestInit & { json?: unknown } = {}) => {
      const headers = new Headers(init.headers);
      headers.set('authorization', `Bearer ${token}`);
      let body = init.body;
      if (init.json !== undefined) {
        headers.set('content-type', 'application/json');
        body = JSON.stringify(init.json);
      }
      return fetch(server!.url + path, { ...init, headers, body });
    };
    // A pack is answered once durable; its index row follows (with others, or within a
    // second). The server is frozen as soon as the answer is in, and killed if the row is not
    // there yet (else it runs on, and another upload tries again).
    let bytes = Buffer.alloc(0);
    let refs: ReturnType<typeof pieces>['refs'] = [];
    let parts: Buffer[] = [];
    let id = '';
    let stray: { key: string; size: number }[] = [];
    for (let round = 0; round < 5 && stray.length === 0; round++) {
      bytes = randomBytes(8 * 4096);
      ({ refs, parts } = pieces(bytes, 4096));
      const created = await api('/api/v1/uploads', { method: 'POST', json: { path: '/small.bin', size: bytes.length, hash: fileHashOf(refs), chunks: refs } });
      expect(created.status).toBe(201);
      id = ((await created.json()) as { id: string }).id;
      expect((await api(`/api/v1/uploads/${id}/packs`, { method: 'POST', body: packBody(parts), headers: OCTET })).status).toBe(200);
      server.process.kill('SIGSTOP');
      const db = new Database(join(data, 'meta.db'), { readonly: true });
      const indexed = new Set((db.prepare('select id from packs').all() as { id: string }[]).map((r) => r.id));
      db.close();
      stray = (await objects(join(data, 'store'))).filter((o) => o.key.startsWith('packs/') && !indexed.has(o.key.slice(o.key.lastIndexOf('/') + 1)));
      if (stray.length === 0) server.process.kill('SIGCONT');
    }
    expect(stray.length).toBe(1);
    await server.kill();

    server = await startServer({ dataDir: data, adminToken: token });
    const packsNow = async () => (await objects(join(data, 'store'))).filter((o) => stray.some((x) => x.key === o.key));
    expect(await packsNow()).toEqual(stray);
    // Young: it may be a write whose row is on its way. Neither counted nor removed.
    expect((await check(api)).unreferenced).toEqual({ chunks: 0, packs: 0, bytes: 0 });
    expect(((await (await api('/api/v1/admin/gc', { method: 'POST', json: {} })).json()) as { unreferenced: unknown }).unreferenced).toEqual({ chunks: 0, packs: 0, bytes: 0 });
    expect(await packsNow()).toEqual(stray);

    // Two hours later (the default grace is one).
    const old = new Date(Date.now() - 2 * 3600_000);
    await utimes(join(data, 'store', stray[0].key), old, old);
    expect(await check(api)).toMatchObject({ ok: true, unreferenced: { chunks: 0, packs: 1, bytes: stray[0].size } });
    const gc = (await (await api('/api/v1/admin/gc', { method: 'POST', json: {} })).json()) as { unreferenced: unknown };
    expect(gc.unreferenced).toEqual({ chunks: 0, packs: 1, bytes: stray[0].size });
    expect(await packsNow()).toEqual([]);
    expect((await check(api)).unreferenced).toEqual({ chunks: 0, packs: 0, bytes: 0 });

    // The session survived the kill and says its chunks are missing: they are sent again.
    const status = (await (await api(`/api/v1/uploads/${id}`)).json()) as { missing: string[] };
    expect(new Set(status.missing)).toEqual(new Set(refs.map((r) => r.hash)));
    expect((await api(`/api/v1/uploads/${id}/packs`, { method: 'POST', body: packBody(parts), headers: OCTET })).status).toBe(200);
    expect((await api(`/api/v1/uploads/${id}/commit`, { method: 'POST', json: {} })).status).toBe(200);
    expect(Buffer.from(await (await api('/api/v1/files/small.bin')).arrayBuffer()).equals(bytes)).toBe(true);
  });
});

describe('loose chunk objects the index does not point at', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer();
  });
  afterAll(async () => t?.close());

  it('gc removes the old ones only: never an indexed chunk, never one younger than the grace (a minute at least)', async () => {
    const kept = randomBytes(5000);
    expect((await uploadBuffer(t, '/kept.bin', kept)).status).toBe(200);
    const store = join(t.dataDir, 'store');
    const [indexed] = (await objects(store)).filter((o) => o.key.startsWith('chunks/'));
    const plant = async (data: Buffer, ageMs: number): Promise<string> => {
      const hash = createHash('sha256').update(data).digest('hex');
      const file = join(store, 'chunks', hash.slice(0, 2), hash);
      mkdirSync(join(file, '..'), { recursive: true });
      writeFileSync(file, data);
      const when = new Date(Date.now() - ageMs);
      await utimes(file, when, when);
      return `chunks/${hash.slice(0, 2)}/${hash}`;
    };
    const old = await plant(randomBytes(3000), 2 * 3600_000);
    const young = await plant(randomBytes(2000), 20_000);
    const recent = await plant(randomBytes(1000), 10 * 60_000);
    const when = new Date(Date.now() - 5 * 3600_000);
    await utimes(join(store, indexed.key), when, when);

    expect(await check(t.api)).toMatchObject({ ok: true, unreferenced: { chunks: 1, packs: 0, bytes: 3000 } });
    const gc = (await (await t.api('/api/v1/admin/gc', { method: 'POST', json: {} })).json()) as { unreferenced: unknown };
    expect(gc.unreferenced).toEqual({ chunks: 1, packs: 0, bytes: 3000 });
    const left = (await objects(store)).map((o) => o.key);
    expect(left).not.toContain(old);
    expect(left).toContain(young);
    expect(left).toContain(indexed.key);
    expect(left).toContain(recent);
    expect(Buffer.from(await (await t.api('/api/v1/files/kept.bin')).arrayBuffer()).equals(kept)).toBe(true);

    // `--grace 0s`: what is older than a minute goes (another node may be between storing a
    // pack and indexing it: a minute at least, whatever the grace).
    const now = (await (await t.api('/api/v1/admin/gc', { method: 'POST', json: { graceSeconds: 0 } })).json()) as { unreferenced: unknown };
    expect(now.unreferenced).toEqual({ chunks: 1, packs: 0, bytes: 1000 });
    const after = (await objects(store)).map((o) => o.key);
    expect(after).toContain(young);
    expect(after).not.toContain(recent);
  });
});
