/**
 * Leftovers of interrupted chunk writes (`.ferry-tmp-*` in the chunk store): a server killed
 * mid-upload leaves them, and nothing listed or served ever sees them. The next start
 * removes every one in the store under its (locked) data directory; garbage collection
 * removes those older than the grace time, never a write still in progress. In a store the
 * nodes of a cluster share, "older" is on the database's clock, not the sweeping node's.
 */
import { mkdir, readdir, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { parseStoreSpec } from '../../src/server/config.js';
import { TEMP_PREFIX } from '../../src/backends/local/local-backend.js';
import { runFerry, spawnFerry } from '../helpers/cli.js';
import { sha256File, tempDir, writeRandomFile } from '../helpers/files.js';
import { startTestServer, uploadBuffer, type TestServer } from '../helpers/in-process-server.js';
import { startPostgres, type PostgresHandle } from '../helpers/postgres.js';
import { startServer } from '../helpers/server.js';

/** Every `.ferry-tmp-*` file below the chunk store (`DATA/store`, or `store` below `dir`), relative to it. */
async function leftovers(dir: string, store = 'store'): Promise<string[]> {
  store = join(dir, store);
  const found = await readdir(store, { withFileTypes: true, recursive: true }).catch(() => []);
  return found.filter((e) => e.isFile() && e.name.startsWith(TEMP_PREFIX)).map((e) => join(e.parentPath, e.name).slice(store.length + 1)).sort();
}

async function plant(dir: string, rel: string, ageMs: number, store = 'store'): Promise<void> {
  const file = join(dir, store, rel);
  await mkdir(join(file, '..'), { recursive: true });
  await writeFile(file, Buffer.alloc(1000, 3));
  const t = new Date(Date.now() - ageMs);
  await utimes(file, t, t);
}

describe('in process', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer({ gcGraceMs: 3600_000 });
    expect((await uploadBuffer(t, '/a.bin', Buffer.alloc(100_000, 9))).status).toBe(200);
  });
  afterAll(async () => t?.close());

  it('garbage collection removes leftovers older than the grace time, not younger ones (writes in progress)', async () => {
    await plant(t.dataDir, `chunks/ab/${TEMP_PREFIX}dead`, 2 * 3600_000);
    await plant(t.dataDir, `packs/cd/${TEMP_PREFIX}dead-pack`, 5 * 3600_000);
    await plant(t.dataDir, `chunks/ef/${TEMP_PREFIX}in-progress`, 60_000);
    const res = await t.api('/api/v1/admin/gc', { method: 'POST', json: {} });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { leftovers: unknown }).leftovers).toEqual({ count: 2, bytes: 2000 });
    expect(await leftovers(t.dataDir)).toEqual([`chunks/ef/${TEMP_PREFIX}in-progress`]);
    // Stored chunks are untouched.
    expect((await t.api('/api/v1/files/a.bin')).status).toBe(200);
  });

  it('a start removes every leftover in the store under its data directory, however young', async () => {
    await plant(t.dataDir, `chunks/01/${TEMP_PREFIX}just-now`, 0);
    expect((await leftovers(t.dataDir)).length).toBe(2);
    await t.restart();
    expect(await leftovers(t.dataDir)).toEqual([]);
    expect(Buffer.from(await (await t.api('/api/v1/files/a.bin')).arrayBuffer()).equals(Buffer.alloc(100_000, 9))).toBe(true);
  });
});

describe('chunk objects no index row points at (`gcMinAge`)', () => {
  const servers: TestServer[] = [];
  afterAll(async () => Promise.all(servers.map((s) => s.close())));
  /** Plants loose chunk objects with no row, 30 s and 2 min old, then collects garbage with no grace; the hashes left. */
  const sweptWith = async (config: { gcMinAgeMs?: number }): Promise<string[]> => {
    const t = await startTestServer({ gcGraceMs: 3600_000, ...config });
    servers.push(t);
    const young = 'a'.repeat(64);
    const old = 'b'.repeat(64);
    await plant(t.dataDir, `chunks/aa/${young}`, 30_000);
    await plant(t.dataDir, `chunks/bb/${old}`, 120_000);
    const res = await t.api('/api/v1/admin/gc', { method: 'POST', json: { graceSeconds: 0 } });
    expect(res.status).toBe(200);
    return (await readdir(join(t.dataDir, 'store/chunks'), { recursive: true })).filter((n) => /[0-9a-f]{64}$/.test(n)).map((n) => n.slice(-64));
  };

  it('a sweep with no grace takes none younger than the minimum age: a minute by default, the setting otherwise', async () => {
    expect(await sweptWith({})).toEqual(['a'.repeat(64)]);
    expect(await sweptWith({ gcMinAgeMs: 20_000 })).toEqual([]);
  });
});

describe('a store the nodes of a cluster share (PostgreSQL)', () => {
  let pg: PostgresHandle;
  let t: TestServer;
  let shared: { path: string; cleanup: () => Promise<void> };
  beforeAll(async () => {
    pg = await startPostgres();
    shared = await tempDir('ferry-shared-store-');
    t = await startTestServer({ db: await pg.createDatabase(), sessionKey: randomBytes(32), store: [parseStoreSpec(shared.path)], gcGraceMs: 3600_000 });
  });
  afterAll(async () => {
    vi.restoreAllMocks();
    await t?.close();
    await pg?.stop();
    await shared?.cleanup();
  });

  it("a node whose clock runs 2 h ahead sweeps by the database's clock: another node's write in progress stays, at GC and at a start", async () => {
    const real = Date.now.bind(Date);
    // Written a minute ago by another node (its temporary file touched as it goes), and one dead for 3 h.
    await plant(shared.path, `chunks/ab/${TEMP_PREFIX}in-progress`, 60_000, '');
    await plant(shared.path, `chunks/cd/${TEMP_PREFIX}dead`, 3 * 3600_000, '');
    vi.spyOn(Date, 'now').mockImplementation(() => real() + 2 * 3600_000);
    const res = await t.api('/api/v1/admin/gc', { method: 'POST', json: {} });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { leftovers: unknown }).leftovers).toEqual({ count: 1, bytes: 1000 });
    expect(await leftovers(shared.path, '')).toEqual([`chunks/ab/${TEMP_PREFIX}in-progress`]);
    // A start sweeps a shared store as GC does (not everything, as it does its own DATA/store).
    await t.restart();
    expect(await leftovers(shared.path, '')).toEqual([`chunks/ab/${TEMP_PREFIX}in-progress`]);
    vi.restoreAllMocks();
  });
});

describe('kill -9 mid-upload', () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  beforeAll(async () => {
    tmp = await tempDir();
  });
  afterAll(async () => tmp?.cleanup());

  it('leaves temporary chunk files that the restarted server removes; the upload then completes', { timeout: 240_000 }, async () => {
    const data = join(tmp.path, 'data');
    await mkdir(data);
    const src = join(tmp.path, 'big.bin');
    await writeRandomFile(src, 64 * 1024 * 1024);
    const env = { FERRY_CONFIG: join(tmp.path, 'config.json') };
    let server = await startServer({ dataDir: data });
    const token = server.adminToken;
    const clientEnv = () => ({ ...env, FERRY_SERVER: server.url, FERRY_TOKEN: token });
    let left: string[] = [];
    try {
      // The kill must land while a chunk's temporary file exists. Chunk bodies arrive in
      // memory and are staged to a temporary file, then published in groups, so such a file
      // lives for milliseconds: freeze the server (SIGSTOP), look, and kill it only when one
      // is there; otherwise let it run on and look again a moment later.
      for (let round = 0; round < 5 && left.length === 0; round++) {
        if (round > 0) server = await startServer({ dataDir: data, adminToken: token });
        const put = spawnFerry(['put', '-q', '--bwlimit', '4M', src, '/big.bin'], { env: clientEnv() });
        let putExited = false;
        const putDone = new Promise<void>((resolve) =>
          put.once('exit', () => {
            putExited = true;
            resolve();
          }),
        );
        while (!putExited) {
          server.process.kill('SIGSTOP');
          left = await leftovers(data);
          if (left.length > 0) break;
          server.process.kill('SIGCONT');
          await new Promise((r) => setTimeout(r, 10));
        }
        await server.kill();
        put.kill('SIGKILL');
        await putDone;
      }
      expect(left.length).toBeGreaterThan(0);
      expect(await leftovers(data)).toEqual(left); // nobody else removes them

      server = await startServer({ dataDir: data, adminToken: token });
      expect(await leftovers(data)).toEqual([]);
      const again = await runFerry(['put', '-q', src, '/big.bin'], { env: clientEnv() });
      expect(again.code, again.stderr).toBe(0);
      const back = join(tmp.path, 'back.bin');
      expect((await runFerry(['get', '-q', '/big.bin', back], { env: clientEnv() })).code).toBe(0);
      expect(await sha256File(back)).toBe(await sha256File(src));
    } finally {
      await server.stop();
    }
  });
});
