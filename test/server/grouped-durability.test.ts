/**
 * Grouped durability (issue 15): a chunk PUT is answered once its bytes are verified and
 * written, and made durable (fsynced, renamed into place, indexed) with others in the
 * background; the commit waits for that. So a server killed between chunk PUTs and the
 * commit may lose chunks it had answered, which the session then lists as missing again,
 * but never anything a commit referenced: every committed file reads back whole. The same
 * holds for a store encrypted at rest, whose decorator passes the staging through (sealing at
 * stage time).
 */
import { createHash, randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { mkdir, readdir, realpath } from 'node:fs/promises';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { generateMasterKeyText } from '../../src/backends/decorators/key-ring.js';
import { LocalBackend, TEMP_PREFIX } from '../../src/backends/local/local-backend.js';
import { fileHashOf } from '../../src/core/manifest.js';
import { tempDir } from '../helpers/files.js';
import { startTestServer } from '../helpers/in-process-server.js';
import { packBody } from '../helpers/packs.js';
import { startServer, type RunningServer } from '../helpers/server.js';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const OCTET = { 'content-type': 'application/octet-stream' };

async function api(server: RunningServer, path: string, init: { method?: string; json?: unknown; body?: Buffer; headers?: Record<string, string> } = {}): Promise<Response> {
  const headers: Record<string, string> = { authorization: `Bearer ${server.adminToken}`, ...init.headers };
  let body: string | Uint8Array | undefined;
  if (init.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(init.json);
  } else if (init.body) body = new Uint8Array(init.body);
  return fetch(server.url + path, { method: init.method ?? 'GET', headers, ...(body !== undefined ? { body } : {}) });
}

/** A file of `count` random chunks of `size` bytes, as a manifest and its parts. */
function randomFile(count: number, size: number): { parts: Buffer[]; refs: { hash: string; size: number }[]; data: Buffer } {
  const parts = Array.from({ length: count }, () => randomBytes(size));
  const refs = parts.map((p) => ({ hash: sha256(p), size: p.length }));
  return { parts, refs, data: Buffer.concat(parts) };
}

/** Opens a session for `path` and PUTs every chunk (four at a time), without committing. */
async function sendChunks(server: RunningServer, path: string, file: ReturnType<typeof randomFile>): Promise<string> {
  const created = await api(server, '/api/v1/uploads', { method: 'POST', json: { path, size: file.data.length, hash: fileHashOf(file.refs), chunks: file.refs } });
  expect(created.status).toBe(201);
  const { id } = (await created.json()) as { id: string };
  let next = 0;
  const sender = async () => {
    while (next < file.parts.length) {
      const i = next++;
      const res = await api(server, `/api/v1/uploads/${id}/chunks/${file.refs[i].hash}`, { method: 'PUT', body: file.parts[i], headers: OCTET });
      expect(res.status, await res.text()).toBe(200);
    }
  };
  await Promise.all([sender(), sender(), sender(), sender()]);
  return id;
}

async function leftovers(dataDir: string): Promise<number> {
  const found = await readdir(join(dataDir, 'store'), { withFileTypes: true, recursive: true }).catch(() => []);
  return found.filter((e) => e.isFile() && e.name.startsWith(TEMP_PREFIX)).length;
}

/** A describe block's temporary directory and the server it starts there (stopped and removed after the block). */
function killWorld(): { start: (env?: Record<string, string | undefined>) => Promise<{ data: string; server: RunningServer }>; killAndRestart: () => Promise<RunningServer> } {
  let tmp: { path: string; cleanup: () => Promise<void> } | undefined;
  let server: RunningServer | undefined;
  let started: { data: string; env: Record<string, string | undefined> } | undefined;
  beforeAll(async () => {
    tmp = await tempDir();
  });
  afterAll(async () => {
    await server?.stop();
    await tmp?.cleanup();
  });
  return {
    start: async (env = {}) => {
      const data = join(tmp!.path, 'data');
      await mkdir(data);
      server = await startServer({ dataDir: data, env });
      started = { data, env };
      return { data, server };
    },
    /** kill -9, then a new server on the same data and admin token. */
    killAndRestart: async () => {
      const token = server!.adminToken;
      await server!.kill();
      server = await startServer({ dataDir: started!.data, adminToken: token, env: started!.env });
      return server;
    },
  };
}

describe.each([
  { label: 'plain store', env: {} },
  { label: 'store encrypted at rest', env: { FERRY_ENCRYPTION_KEY: generateMasterKeyText() } },
])('kill -9 between chunk PUTs and the commit ($label)', ({ env }) => {
  const w = killWorld();

  it('loses nothing committed: files committed right before the kill read back whole; answered chunks of an uncommitted session are sent again if lost', { timeout: 120_000 }, async () => {
    const started = await w.start(env);
    const data = started.data;
    let server = started.server;
    const committed: { path: string; data: Buffer }[] = [];
    let pending: { id: string; file: ReturnType<typeof randomFile> } | undefined;
    for (let round = 0; round < 3; round++) {
      // A file committed, then at once another one's chunks answered, then the kill.
      const file = randomFile(24, 300_000);
      const id = await sendChunks(server, `/committed-${round}.bin`, file);
      const commit = await api(server, `/api/v1/uploads/${id}/commit`, { method: 'POST', json: {} });
      expect(commit.status, await commit.text()).toBe(200);
      committed.push({ path: `/committed-${round}.bin`, data: file.data });
      const next = randomFile(24, 300_000);
      pending = { id: await sendChunks(server, `/pending-${round}.bin`, next), file: next };
      server = await w.killAndRestart();
      // Every committed file, byte for byte.
      for (const c of committed) {
        const res = await api(server, `/api/v1/files${c.path}`);
        expect(res.status).toBe(200);
        expect(Buffer.from(await res.arrayBuffer()).equals(c.data), c.path).toBe(true);
      }
      // Nothing half-written is left, and the uncommitted session completes with what it still lacks.
      expect(await leftovers(data)).toBe(0);
      const status = await api(server, `/api/v1/uploads/${pending.id}`);
      expect(status.status).toBe(200);
      const { missing } = (await status.json()) as { missing: string[] };
      for (const hash of missing) {
        const i = pending.file.refs.findIndex((r) => r.hash === hash);
        expect(i).toBeGreaterThanOrEqual(0);
        const res = await api(server, `/api/v1/uploads/${pending.id}/chunks/${hash}`, { method: 'PUT', body: pending.file.parts[i], headers: OCTET });
        expect(res.status).toBe(200);
      }
      expect((await api(server, `/api/v1/uploads/${pending.id}/commit`, { method: 'POST', json: {} })).status).toBe(200);
      const back = await api(server, `/api/v1/files/pending-${round}.bin`);
      expect(Buffer.from(await back.arrayBuffer()).equals(pending.file.data)).toBe(true);
      committed.push({ path: `/pending-${round}.bin`, data: pending.file.data });
    }
    // The server's integrity check agrees: every indexed chunk is there and sound.
    const check = await api(server, '/api/v1/admin/check', { method: 'POST', json: { readData: true, quarantine: false } });
    expect(check.status).toBe(200);
    const lines = (await check.text()).trim().split('\n').map((l) => JSON.parse(l) as { report?: { ok: boolean; problems: unknown[] } });
    expect(lines[lines.length - 1].report).toMatchObject({ ok: true, problems: [] });
  });
});

/** Opens a session of `count` one-chunk files under `dir` and sends their chunks in packs of `perPack`, without committing. */
async function sendPacks(server: RunningServer, dir: string, count: number, perPack: number): Promise<{ id: string; files: { path: string; data: Buffer }[] }> {
  const files = Array.from({ length: count }, (_, i) => ({ path: `${dir}/f${i}`, data: randomBytes(1000 + i) }));
  const specs = files.map((f) => {
    const refs = [{ hash: sha256(f.data), size: f.data.length }];
    return { path: f.path, size: f.data.length, hash: fileHashOf(refs), chunks: refs };
  });
  const created = await api(server, '/api/v1/uploads', { method: 'POST', json: { files: specs } });
  expect(created.status).toBe(201);
  const { id } = (await created.json()) as { id: string };
  for (let i = 0; i < count; i += perPack) {
    const res = await api(server, `/api/v1/uploads/${id}/packs`, { method: 'POST', body: packBody(files.slice(i, i + perPack).map((f) => f.data)), headers: OCTET });
    expect(res.status, await res.text()).toBe(200);
  }
  return { id, files };
}

describe('kill -9 between pack PUTs and the commit (packs indexed together)', () => {
  const w = killWorld();

  it('loses nothing committed; the chunks of answered packs not yet indexed are missing again, sent again, and commit', { timeout: 120_000 }, async () => {
    let { server } = await w.start();
    const committed: { path: string; data: Buffer }[] = [];
    for (let round = 0; round < 2; round++) {
      const done = await sendPacks(server, `/committed-${round}`, 30, 8);
      expect((await api(server, `/api/v1/uploads/${done.id}/commit`, { method: 'POST', json: {} })).status).toBe(200);
      committed.push(...done.files);
      // Packs answered (stored, their indexing waiting for the commit), then the kill.
      const pending = await sendPacks(server, `/pending-${round}`, 30, 8);
      server = await w.killAndRestart();
      for (const c of committed) {
        const res = await api(server, `/api/v1/files${c.path}`);
        expect(res.status, c.path).toBe(200);
        expect(Buffer.from(await res.arrayBuffer()).equals(c.data), c.path).toBe(true);
      }
      const status = await api(server, `/api/v1/uploads/${pending.id}`);
      expect(status.status).toBe(200);
      const { missing } = (await status.json()) as { missing: string[] };
      const lacking = pending.files.filter((f) => missing.includes(sha256(f.data)));
      expect(lacking).toHaveLength(missing.length);
      if (lacking.length > 0) {
        const res = await api(server, `/api/v1/uploads/${pending.id}/packs`, { method: 'POST', body: packBody(lacking.map((f) => f.data)), headers: OCTET });
        expect(res.status).toBe(200);
      }
      expect((await api(server, `/api/v1/uploads/${pending.id}/commit`, { method: 'POST', json: {} })).status).toBe(200);
      for (const f of pending.files) {
        const back = await api(server, `/api/v1/files${f.path}`);
        expect(Buffer.from(await back.arrayBuffer()).equals(f.data), f.path).toBe(true);
      }
      committed.push(...pending.files);
    }
    const check = await api(server, '/api/v1/admin/check', { method: 'POST', json: { readData: true, quarantine: false } });
    expect(check.status).toBe(200);
    const lines = (await check.text()).trim().split('\n').map((l) => JSON.parse(l) as { report?: { ok: boolean; problems: unknown[] } });
    expect(lines[lines.length - 1].report).toMatchObject({ ok: true, problems: [] });
  });
});

describe('an encrypted local store stages its chunks', () => {
  it('every chunk PUT seals into a staged file (no durable write per chunk), and the file reads back', async () => {
    const stage = vi.spyOn(LocalBackend.prototype, 'stage');
    const write = vi.spyOn(LocalBackend.prototype, 'write');
    const t = await startTestServer({ encryptionKey: generateMasterKeyText() });
    try {
      stage.mockClear();
      write.mockClear();
      const file = randomFile(6, 300_000);
      const server = { url: t.url, adminToken: t.token } as RunningServer;
      const id = await sendChunks(server, '/sealed.bin', file);
      expect((await api(server, `/api/v1/uploads/${id}/commit`, { method: 'POST', json: {} })).status).toBe(200);
      // The wrapped local backend staged each chunk object under its encrypted name, and wrote none one by one.
      const staged = stage.mock.calls.map((c) => c[0]);
      expect(staged).toHaveLength(6);
      for (const key of staged) expect(key).not.toMatch(/[0-9a-f]{64}/);
      expect(write.mock.calls.filter((c) => !String(c[0]).startsWith('ferry-keyring'))).toEqual([]);
      const back = await api(server, '/api/v1/files/sealed.bin');
      expect(Buffer.from(await back.arrayBuffer()).equals(file.data)).toBe(true);
    } finally {
      stage.mockRestore();
      write.mockRestore();
      await t.close();
    }
  });
});

describe('the directories a server makes at start', () => {
  it('a new data directory and its store have their entries fsynced into their parents', async () => {
    const tmp = await tempDir();
    const base = await realpath(tmp.path);
    const dataDir = join(base, 'new', 'data');
    // The directories opened to be fsynced (syncDir opens each by path, O_DIRECTORY).
    const fsCjs = createRequire(import.meta.url)('node:fs') as Record<string, unknown>;
    const openSync = fsCjs.openSync as (...args: unknown[]) => unknown;
    const opened: string[] = [];
    fsCjs.openSync = (...args: unknown[]) => {
      if (typeof args[1] === 'number' && (args[1] & constants.O_DIRECTORY) !== 0) opened.push(String(args[0]));
      return openSync(...args);
    };
    syncBuiltinESMExports();
    let t: Awaited<ReturnType<typeof startTestServer>> | undefined;
    try {
      t = await startTestServer({ dataDir });
    } finally {
      fsCjs.openSync = openSync;
      syncBuiltinESMExports();
      await t?.close();
    }
    // `new` in the temporary directory, `data` in `new`, `store` in `data`.
    expect(opened).toEqual(expect.arrayContaining([base, join(base, 'new'), dataDir]));
    await tmp.cleanup();
  });
});
