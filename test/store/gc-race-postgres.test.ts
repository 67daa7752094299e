/**
 * The garbage-collection race across processes, on a real PostgreSQL: two chunk stores, each
 * with its own metadata store (its own connection pool, its own in-process locks and writer
 * bookkeeping: two nodes in all but the process), over one object store and one database.
 * Node A stores a chunk that is in the index but unreferenced and past its grace time; while
 * A's object is written and not yet indexed again, node B collects garbage. Before issue 17
 * only A's in-process bookkeeping knew of the write: B deleted the object A had just
 * written, and the index then pointed at nothing.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { sql } from 'kysely';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { LocalBackend } from '../../src/backends/local/index.js';
import { MemoryBackend } from '../../src/backends/memory/memory-backend.js';
import { decorate } from '../../src/backends/decorators/decorate.js';
import { fileHashOf } from '../../src/core/manifest.js';
import { ChunkStore } from '../../src/store/chunk-store.js';
import { MetaStore } from '../../src/store/meta-store.js';
import { packBody } from '../helpers/packs.js';
import { startPostgres, type PostgresHandle } from '../helpers/postgres.js';

let pg: PostgresHandle;
beforeAll(async () => {
  pg = await startPostgres();
});
afterAll(async () => {
  await pg?.stop();
});

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const GRACE = 60_000;

interface Gate {
  reached: Promise<void>;
  arrive: () => void;
  opened: Promise<void>;
  open: () => void;
}

/**
 * Two nodes over one object store and one database, each with its own metadata store
 * (pool, locks, writer bookkeeping) and clock; node A's writes go through a gate that can
 * hold the next one after its object is in place, before it is indexed.
 */
interface HeldNodes {
  metaA: MetaStore;
  metaB: MetaStore;
  objects: MemoryBackend;
  nodeA: ChunkStore;
  nodeB: ChunkStore;
  /** Holds node A's next write after its object is written; `open` lets it go on to the index. */
  holdNextWrite: () => Gate;
  close: () => Promise<void>;
}

async function heldNodes(nowA: () => number, nowB: () => number): Promise<HeldNodes> {
  const url = await pg.createDatabase();
  const metaA = await MetaStore.openPostgres(url, { now: nowA, poolSize: 3 });
  const metaB = await MetaStore.openPostgres(url, { now: nowB, poolSize: 3 });
  const objects = new MemoryBackend();
  let held: Gate | undefined;
  const gated = decorate(objects, 'gated', {
    async call(call, run) {
      const result = await run();
      if (call.op === 'write' && held) {
        const g = held;
        held = undefined;
        g.arrive();
        await g.opened;
      }
      return result;
    },
  });
  return {
    metaA,
    metaB,
    objects,
    nodeA: new ChunkStore({ backend: gated, meta: metaA, maxChunkSize: 1 << 20 }),
    nodeB: new ChunkStore({ backend: objects, meta: metaB, maxChunkSize: 1 << 20 }),
    holdNextWrite: () => {
      let arrive!: () => void;
      let open!: () => void;
      held = { reached: new Promise<void>((r) => (arrive = r)), arrive: () => arrive(), opened: new Promise<void>((r) => (open = r)), open: () => open() };
      return held;
    },
    close: async () => {
      await metaA.close();
      await metaB.close();
    },
  };
}

/**
 * The held nodes of each test in a describe, on one clock for both (`t.clock`, 1,000,000
 * at each test's start; a test moves it), closed after each test.
 */
function heldNodesEach(): HeldNodes & { clock: number } {
  const t = { clock: 0 } as HeldNodes & { clock: number };
  beforeEach(async () => {
    t.clock = 1_000_000;
    Object.assign(t, await heldNodes(() => t.clock, () => t.clock));
  });
  afterEach(() => t.close());
  return t;
}

describe('garbage collection against writes on another node (PostgreSQL)', () => {
  const t = heldNodesEach();

  it('keeps an object another node is writing, and the index then points at bytes that are there', async () => {
    const data = randomBytes(4096);
    const hash = sha(data);
    await t.nodeB.put(hash, data.length, Readable.from([data])); // stored once, never referenced
    t.clock += GRACE * 2;

    const held = t.holdNextWrite();
    const writing = t.nodeA.put(hash, data.length, Readable.from([data]));
    await held.reached; // A's object is in place; its index row is still the old, collectable one
    const gc = await t.nodeB.collectGarbage(GRACE);
    expect(gc.chunks).toBe(0); // the row went, the object stayed: A is writing it
    held.open();
    await writing;

    expect(await t.metaB.chunkLocation(hash)).toMatchObject({ hash, size: data.length });
    expect(Buffer.compare(await t.nodeB.read(hash), data)).toBe(0);
    // Committed through node B, the file reads back whole.
    const chunks = [{ hash, size: data.length }];
    const u = await t.metaB.createUpload({ owner: null, noOverwrite: false, ttlMs: 60_000, files: [{ path: '/f', size: data.length, hash: fileHashOf(chunks), chunks }] });
    await t.metaB.commitUpload(u.id);
    t.clock += GRACE * 2;
    expect(await t.nodeA.collectGarbage(GRACE)).toEqual({ chunks: 0, packs: 0 });
    expect(Buffer.compare(await t.nodeA.read(hash), data)).toBe(0);
  });

  it('still deletes what nobody writes or references', async () => {
    const data = randomBytes(2048);
    const hash = sha(data);
    await t.nodeA.put(hash, data.length, Readable.from([data]));
    t.clock += GRACE * 2;
    expect(await t.nodeB.collectGarbage(GRACE)).toEqual({ chunks: 1, packs: 0 });
    expect(await t.objects.stat(ChunkStore.chunkKey(hash)).catch((e: unknown) => (e as { code: string }).code)).toBe('FERRY_ERR_NOT_FOUND');
  });
});

describe('garbage collection when a writer node\'s clock is behind (PostgreSQL)', () => {
  // Each node with its own wall clock, node A's 10 minutes behind node B's: chunk rows and
  // writes in progress must be timed on the database's clock, or B takes A's fresh chunk (or
  // the object A is writing) for one past the grace time.
  const BEHIND = 10 * 60_000;
  let metaB: MetaStore;
  let nodeA: ChunkStore;
  let nodeB: ChunkStore;
  let holdNextWrite: HeldNodes['holdNextWrite'];
  let close: HeldNodes['close'];

  beforeEach(async () => {
    ({ metaB, nodeA, nodeB, holdNextWrite, close } = await heldNodes(() => Date.now() - BEHIND, () => Date.now()));
  });
  afterEach(() => close());

  it('keeps a chunk node A has just stored, unreferenced yet, from node B\'s collection', async () => {
    const data = randomBytes(4096);
    const hash = sha(data);
    await nodeA.put(hash, data.length, Readable.from([data]));
    expect(await nodeB.collectGarbage(GRACE)).toEqual({ chunks: 0, packs: 0 });
    expect(Buffer.compare(await nodeB.read(hash), data)).toBe(0);
    // Past the grace time (the row made older by hand), it goes: the clock only moved the cutoff.
    await sql`update chunks set created_at = created_at - ${GRACE * 2} where hash = ${hash}`.execute(metaB.db);
    expect(await nodeB.collectGarbage(GRACE)).toEqual({ chunks: 1, packs: 0 });
  });

  it('keeps the object node A is writing while node B collects the old row of the same chunk', async () => {
    const data = randomBytes(4096);
    const hash = sha(data);
    await nodeB.put(hash, data.length, Readable.from([data])); // stored once, never referenced
    await sql`update chunks set created_at = created_at - ${GRACE * 2} where hash = ${hash}`.execute(metaB.db);
    const gate = holdNextWrite();
    const writing = nodeA.put(hash, data.length, Readable.from([data]));
    await gate.reached; // A's object is in place, its write registered; the index row is the old one
    expect(await nodeB.collectGarbage(GRACE)).toEqual({ chunks: 0, packs: 0 });
    gate.open();
    await writing;
    expect(await metaB.chunkLocation(hash)).toMatchObject({ hash, size: data.length });
    expect(Buffer.compare(await nodeB.read(hash), data)).toBe(0);
  });
});

describe('packs on a database several nodes share (PostgreSQL)', () => {
  it('indexes a deferred pack at once: a commit on another node finds its chunks', async () => {
    const url = await pg.createDatabase();
    const metaA = await MetaStore.openPostgres(url, { poolSize: 3 });
    const metaB = await MetaStore.openPostgres(url, { poolSize: 3 });
    try {
      const objects = new MemoryBackend();
      const nodeA = new ChunkStore({ backend: objects, meta: metaA, maxChunkSize: 1024 * 1024 });
      const parts = [randomBytes(300), randomBytes(700), randomBytes(50)];
      const answer = await nodeA.putPack(Readable.from([packBody(parts)]), 1 << 20, undefined, undefined, { owner: 'ann', defer: true });
      expect(answer).toEqual({ stored: 3, duplicates: 0, bytes: 1050 });
      // Node B, without any flush of A's: every chunk is indexed, in A's pack, and ann's.
      const where = await metaB.chunkLocations(parts.map(sha));
      expect(parts.map((p) => where.get(sha(p))?.pack ?? null).every((pack) => pack !== null)).toBe(true);
      expect((await metaB.ownedChunks('ann', parts.map(sha))).size).toBe(3);
      const refs = parts.map((p) => ({ hash: sha(p), size: p.length }));
      const up = await metaB.createUpload({ owner: 'ann', noOverwrite: false, ttlMs: 60_000, files: [{ path: '/packed', size: 1050, hash: fileHashOf(refs), chunks: refs }] });
      expect(await metaB.missingChunks(up.id)).toEqual([]);
      expect((await metaB.commitUpload(up.id)).map((e) => e.path)).toEqual(['/packed']);
    } finally {
      await metaA.close();
      await metaB.close();
    }
  });
});

describe('the sweep of unreferenced objects against a node stalled while it stores a pack (PostgreSQL)', () => {
  // Node A stores a pack object, then stalls (SIGSTOP, a long GC pause, a hung VM) before it
  // indexes it; node B's hourly sweep meanwhile finds an object no row points at. Only A's
  // memory knew of the write before: B deleted the pack, and A then indexed chunks whose
  // bytes were gone.
  const t = heldNodesEach();

  /** Starts A's pack of `parts` and waits until its object is stored, not yet indexed. */
  async function stalledPack(parts: Buffer[]): Promise<{ writing: Promise<unknown>; gate: Gate }> {
    const gate = t.holdNextWrite();
    const writing = t.nodeA.putPack(Readable.from([packBody(parts)]), 1 << 20, undefined, undefined, { owner: 'ann' });
    writing.catch(() => undefined);
    await gate.reached;
    return { writing, gate };
  }
  // The object looks old to the sweep (the store's clock read ten grace times later).
  const sweepB = () => t.nodeB.sweepUnreferenced(GRACE, { remove: true, storeNow: () => Date.now() + GRACE * 10 });
  const packObjects = async (): Promise<number> => {
    let n = 0;
    for await (const e of t.objects.list('packs', { recursive: true })) if (e.type === 'file') n++;
    return n;
  };

  it('keeps the pack of a node stalled for less than the grace time', async () => {
    const parts = [randomBytes(300), randomBytes(700)];
    const { writing, gate } = await stalledPack(parts);
    t.clock += GRACE / 2;
    expect(await sweepB()).toEqual({ chunks: 0, packs: 0, bytes: 0 });
    gate.open();
    expect(await writing).toEqual({ stored: 2, duplicates: 0, bytes: 1000 });
    for (const p of parts) expect(Buffer.compare(await t.nodeB.read(sha(p)), p)).toBe(0);
  });

  it('refuses to index a pack the sweep deleted after its node stalled past the grace time, and says to send it again', async () => {
    const parts = [randomBytes(300), randomBytes(700)];
    const { writing, gate } = await stalledPack(parts);
    t.clock += GRACE * 2; // A's registration is now taken for a dead node's
    expect((await sweepB()).packs).toBe(1);
    expect(await packObjects()).toBe(0);
    gate.open();
    await expect(writing).rejects.toMatchObject({ code: 'FERRY_ERR_UNAVAILABLE', retryable: true, message: expect.stringContaining('send the pack again') });
    // Nothing points at the deleted pack: the chunks are missing, and a commit asks for them.
    expect((await t.metaB.chunkLocations(parts.map(sha))).size).toBe(0);
    expect(Number((await sql<{ n: string }>`select count(*) as n from packs`.execute(t.metaB.db)).rows[0].n)).toBe(0);
    // Sent again, it is stored and read back.
    expect(await t.nodeA.putPack(Readable.from([packBody(parts)]), 1 << 20, undefined, undefined, { owner: 'ann' })).toEqual({ stored: 2, duplicates: 0, bytes: 1000 });
    for (const p of parts) expect(Buffer.compare(await t.nodeB.read(sha(p)), p)).toBe(0);
  });

  it('indexes the pack of a node stalled past the grace time when no sweep deleted it', async () => {
    const parts = [randomBytes(300), randomBytes(700)];
    const { writing, gate } = await stalledPack(parts);
    t.clock += GRACE * 2;
    // Another object's sweep removed A's registration as stale, and left A's pack alone.
    await sql`delete from chunk_writes`.execute(t.metaB.db);
    gate.open();
    expect(await writing).toEqual({ stored: 2, duplicates: 0, bytes: 1000 });
    expect(await sweepB()).toEqual({ chunks: 0, packs: 0, bytes: 0 });
    for (const p of parts) expect(Buffer.compare(await t.nodeB.read(sha(p)), p)).toBe(0);
  });
});

describe('collection and the sweep against a node stalled while it stores a loose chunk (PostgreSQL)', () => {
  // As the packs above, for a loose chunk: node A writes its object, then stalls before it
  // indexes it; past the grace time its registration is taken for a dead node's, and node
  // B's sweep (no row points at the object) or collection (the old row is unreferenced)
  // deletes the object. Before, A then indexed the chunk all the same: a row naming bytes
  // that were gone.
  const t = heldNodesEach();

  /** Starts A's PUT of `data` and waits until its object is stored, not yet indexed. */
  async function stalledPut(data: Buffer): Promise<{ writing: Promise<boolean>; gate: Gate }> {
    const gate = t.holdNextWrite();
    const writing = t.nodeA.put(sha(data), data.length, Readable.from([data]), undefined, { owner: 'ann' });
    writing.catch(() => undefined);
    await gate.reached;
    return { writing, gate };
  }
  const sweepB = () => t.nodeB.sweepUnreferenced(GRACE, { remove: true, storeNow: () => Date.now() + GRACE * 10 });
  const objectThere = (hash: string): Promise<boolean> => t.objects.stat(ChunkStore.chunkKey(hash)).then(() => true, () => false);
  const registrations = async (): Promise<number> => Number((await sql<{ n: string }>`select count(*) as n from chunk_writes`.execute(t.metaB.db)).rows[0].n);

  it('keeps the chunk of a node stalled for less than the grace time', async () => {
    const data = randomBytes(4096);
    const { writing, gate } = await stalledPut(data);
    t.clock += GRACE / 2;
    expect(await sweepB()).toEqual({ chunks: 0, packs: 0, bytes: 0 });
    gate.open();
    expect(await writing).toBe(true);
    expect(await t.metaB.chunkLocation(sha(data))).toMatchObject({ pack: null, size: data.length });
    expect(Buffer.compare(await t.nodeB.read(sha(data)), data)).toBe(0);
    expect(await registrations()).toBe(0);
  });

  it('refuses to index a chunk the sweep deleted after its node stalled past the grace time, and says to send it again', async () => {
    const data = randomBytes(4096);
    const hash = sha(data);
    const { writing, gate } = await stalledPut(data);
    t.clock += GRACE * 2; // A's registration is now taken for a dead node's
    expect((await sweepB()).chunks).toBe(1);
    expect(await objectThere(hash)).toBe(false);
    gate.open();
    await expect(writing).rejects.toMatchObject({ code: 'FERRY_ERR_UNAVAILABLE', retryable: true, message: expect.stringContaining('send the chunk again') });
    // Nothing points at the deleted object, and ann is not told she holds the chunk.
    expect(await t.metaB.chunkLocation(hash)).toBeUndefined();
    expect((await t.metaB.ownedChunks('ann', [hash])).size).toBe(0);
    expect(await registrations()).toBe(0);
    // Sent again, it is stored and read back.
    expect(await t.nodeA.put(hash, data.length, Readable.from([data]), undefined, { owner: 'ann' })).toBe(true);
    expect(Buffer.compare(await t.nodeB.read(hash), data)).toBe(0);
  });

  it('refuses to index a chunk whose old row and object collection took while its node stalled past the grace time', async () => {
    const data = randomBytes(4096);
    const hash = sha(data);
    await t.nodeB.put(hash, data.length, Readable.from([data])); // stored once, never referenced
    t.clock += GRACE * 2;
    const { writing, gate } = await stalledPut(data);
    t.clock += GRACE * 2;
    expect(await t.nodeB.collectGarbage(GRACE)).toEqual({ chunks: 1, packs: 0 });
    expect(await objectThere(hash)).toBe(false);
    gate.open();
    await expect(writing).rejects.toMatchObject({ code: 'FERRY_ERR_UNAVAILABLE', message: expect.stringContaining('send the chunk again') });
    expect(await t.metaB.chunkLocation(hash)).toBeUndefined();
    // A commit that needs it asks for it; sent again, the file commits and reads back.
    const chunks = [{ hash, size: data.length }];
    const u = await t.metaB.createUpload({ owner: null, noOverwrite: false, ttlMs: 60_000, files: [{ path: '/f', size: data.length, hash: fileHashOf(chunks), chunks }] });
    expect(await t.metaB.missingChunks(u.id)).toEqual([hash]);
    await t.nodeA.put(hash, data.length, Readable.from([data]));
    await t.metaB.commitUpload(u.id);
    expect(Buffer.compare(await t.nodeB.read(hash), data)).toBe(0);
  });

  it('indexes the chunk of a node stalled past the grace time when nobody deleted it', async () => {
    const data = randomBytes(4096);
    const { writing, gate } = await stalledPut(data);
    t.clock += GRACE * 2;
    // Another chunk's collection removed A's registration as stale, and left A's object alone.
    await sql`delete from chunk_writes`.execute(t.metaB.db);
    gate.open();
    expect(await writing).toBe(true);
    expect(await sweepB()).toEqual({ chunks: 0, packs: 0, bytes: 0 });
    expect(Buffer.compare(await t.nodeB.read(sha(data)), data)).toBe(0);
    expect((await t.metaB.ownedChunks('ann', [sha(data)])).size).toBe(1);
  });
});

describe('the sweep against a node stalled while it publishes a batch of staged chunks (PostgreSQL)', () => {
  // Grouped durability on a local disk several nodes share: chunks are published (renamed
  // into place, visible), then sealed: their directories fsynced and the group indexed in one
  // transaction (ChunkIndex.addChunks), the path a stall between the two reaches with more
  // than one chunk.
  it('indexes none of a batch whose objects the sweep deleted, and keeps what was indexed before', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ferry-gc-race-'));
    let clock = 1_000_000;
    const url = await pg.createDatabase();
    const metaA = await MetaStore.openPostgres(url, { now: () => clock, poolSize: 3 });
    const metaB = await MetaStore.openPostgres(url, { now: () => clock, poolSize: 3 });
    try {
      const localA = new LocalBackend({ root: dir });
      const syncDirectories = localA.syncDirectories.bind(localA);
      let arrive!: () => void;
      let open!: () => void;
      const reached = new Promise<void>((r) => (arrive = r));
      const opened = new Promise<void>((r) => (open = r));
      let calls = 0;
      // The second seal stalls once its objects are in place and their directories fsynced,
      // before they are indexed.
      localA.syncDirectories = async (objects) => {
        const call = ++calls;
        const result = await syncDirectories(objects);
        if (call === 2) {
          arrive();
          await opened;
        }
        return result;
      };
      const nodeA = new ChunkStore({ backend: localA, meta: metaA, maxChunkSize: 1 << 20 });
      const nodeB = new ChunkStore({ backend: new LocalBackend({ root: dir }), meta: metaB, maxChunkSize: 1 << 20 });
      const parts = [randomBytes(3000), randomBytes(3000), randomBytes(3000)];
      // The first not deferred (sealed at once), the other two deferred: sealed together by the flush.
      await nodeA.put(sha(parts[0]), parts[0].length, parts[0]);
      for (const p of parts.slice(1)) await nodeA.put(sha(p), p.length, p, undefined, { defer: true });
      const flushing = nodeA.flush();
      await reached;
      expect(await metaB.chunkLocation(sha(parts[0]))).toMatchObject({ pack: null });
      clock += GRACE * 2;
      expect(await nodeB.sweepUnreferenced(GRACE, { remove: true, storeNow: () => Date.now() + GRACE * 10 })).toMatchObject({ chunks: 2 });
      open();
      await flushing;
      const where = await metaB.chunkLocations(parts.map(sha));
      expect(parts.map((p) => where.has(sha(p)))).toEqual([true, false, false]);
      expect(Buffer.compare(await nodeB.read(sha(parts[0])), parts[0])).toBe(0);
      // Sent again (not deferred: the answer waits for the index), they are stored and read back.
      for (const p of parts.slice(1)) await nodeA.put(sha(p), p.length, p);
      for (const p of parts) expect(Buffer.compare(await nodeB.read(sha(p)), p)).toBe(0);
    } finally {
      await metaA.close();
      await metaB.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
