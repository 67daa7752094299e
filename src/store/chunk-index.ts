/**
 * The chunk index: which chunks are stored where (loose objects or packs, in which chunk
 * store), who proved they hold which (dedup answers), how many manifests reference each, and
 * garbage collection of the ones nothing references. One job of the metadata store
 * (src/store/meta-store.ts is the facade its callers use); the contract is docs/metadata.md.
 *
 * Several nodes may share the index (PostgreSQL). What must then hold across processes, not
 * only inside one:
 * - a chunk a commit references is never collected: collection deletes a row only while its
 *   `refs` is still 0 (re-checked by the DELETE itself, which PostgreSQL re-evaluates on a row
 *   a concurrent commit changed), and a commit that finds a chunk row gone when it adds its
 *   reference fails as incomplete (the client sends the chunk again) instead of committing
 *   a file whose bytes are missing;
 * - an object a writer on another node is storing is never deleted: writers register in
 *   `chunk_writes` under the chunk's lock, and collection deletes an object only under that
 *   lock, when no write is registered and no row points at it (see {@link ChunkIndex.guard}).
 *   Packs are registered under their id the same way. A registration older than the grace
 *   time is taken for a dead node's; a node that was only stalled that long finds, when it
 *   indexes its chunk or pack, its registration gone, and indexes it only if the object is
 *   still there (ChunkIndex.addChunks, ChunkIndex.addPacks), so the index never points at an
 *   object a collection or sweep deleted.
 */
import { randomBytes } from 'node:crypto';
import { sql, type Kysely, type Transaction } from 'kysely';
import { UploadIncompleteError } from '../core/errors.js';
import { batches } from './batches.js';
import type { ChunkOwnersTable, ChunksTable, Database } from './meta-schema.js';
import type { Dialect } from './migrations.js';
import { PreparedInsert } from './prepared-insert.js';
import { PreparedQuery } from './prepared-query.js';
import { retryConflicts } from './retry-conflicts.js';

type Db = Kysely<Database> | Transaction<Database>;

/** What the chunk index needs of the store that owns it. */
export interface MetaDb {
  readonly db: Kysely<Database>;
  readonly dialect: Dialect;
  now(): number;
  /** Now for times other nodes compare (chunk rows, writes in progress): MetaStore.sharedNow. */
  sharedNow(): number;
  /** A transaction on stable storage when it returns (MetaStore.durable; `security: false`: it writes no security state). */
  durable<T>(fn: (trx: Transaction<Database>) => Promise<T>, options?: { security?: boolean }): Promise<T>;
}

export interface ChunkLocation {
  /** The chunk store holding it (a `--store` route's prefix); absent: the default store. */
  store?: string;
  hash: string;
  size: number;
  pack: string | null;
  offset: number | null;
  /** Bytes of its object or pack entry (src/store/chunk-codec.ts); absent: a headerless object of `size` plain bytes (stored before that format). */
  stored?: number;
}

/** A chunk inside a pack: its offset in the pack object and, when framed (chunk-codec.ts), its stored bytes. */
export interface PackEntry {
  hash: string;
  size: number;
  offset: number;
  stored?: number;
}

/** A pack object durably stored, to be indexed (ChunkIndex.addPacks). */
export interface NewPack {
  id: string;
  /** Plain bytes of its chunks. */
  size: number;
  /** Its chunks, each hash once. */
  entries: readonly PackEntry[];
  /** The chunk store holding it; null: the default store. */
  store: string | null;
  /** The user who sent it: every chunk is recorded as theirs. */
  owner?: string;
  /** Its write's registration (ChunkIndex.beginWrite with the pack id), ended by the index. */
  registration?: string;
}

/** A loose chunk object durably stored, to be indexed (ChunkIndex.addChunks). */
export interface NewLooseChunk {
  hash: string;
  /** Plain bytes. */
  size: number;
  /** The chunk store holding it; null: the default store. */
  store: string | null;
  /** The user who sent it: recorded as theirs. */
  owner?: string;
  /** Bytes of its object (compressed or not); null: unknown. */
  storedSize: number | null;
  /** Its write's registration (ChunkIndex.beginWrite with the hash), ended by the index. */
  registration?: string;
}

/** What indexing a loose chunk did: where it was before (if indexed), and whether it is new to its owner (always without one). */
export interface LooseChunkIndexed {
  previous?: { pack: string | null; store: string | null };
  fresh: boolean;
  /**
   * Not indexed: its write's registration had lapsed (its node stalled past the grace time),
   * so another node's collection or sweep could delete its object, and the object was gone.
   * The chunk's row, if any, is as it was.
   */
  lapsed?: true;
}

/** What indexing a pack did: how many chunks are new to its owner (all without one), and which were loose objects until now. */
export interface PackIndexed {
  fresh: number;
  wasLoose: { hash: string; store: string | null }[];
  /**
   * Not indexed: its write's registration had lapsed (its node stalled past the grace time),
   * so another node's sweep could delete its object, and the object was gone. Nothing points at it.
   */
  lapsed?: true;
}

export interface GcVictims {
  /** Loose chunks whose rows were removed: delete their objects. */
  chunks: string[];
  /** Packs with no chunk left: delete their objects. */
  packs: string[];
  /** The chunk store of each victim (chunk hash or pack id) not in the default store; absent when all are. */
  stores?: Record<string, string>;
}

/** A chunk index row (joined with its pack's store) as a location. */
export function toLocation(row: { hash: string; size: number; pack: string | null; pack_offset: number | null; store: string | null; pack_store: string | null; stored_size: number | null }): ChunkLocation {
  const loc: ChunkLocation = { hash: row.hash, size: Number(row.size), pack: row.pack, offset: row.pack_offset === null ? null : Number(row.pack_offset) };
  if (row.stored_size !== null && row.stored_size !== undefined) loc.stored = Number(row.stored_size);
  const store = row.pack === null ? row.store : row.pack_store;
  if (store !== null && store !== undefined) loc.store = store;
  return loc;
}

/** The statements of a chunk PUT, built and compiled once (see PreparedQuery). */
function hotQueries() {
  return {
    chunkLocation: new PreparedQuery(1, (db: Kysely<Database>, hash: string) =>
      db
        .selectFrom('chunks as c')
        .leftJoin('packs as p', 'p.id', 'c.pack')
        .select(['c.hash', 'c.size', 'c.pack', 'c.pack_offset', 'c.store', 'p.store as pack_store', 'c.stored_size'])
        .where('c.hash', '=', hash),
    ),
    chunkPlace: new PreparedQuery(1, (db: Kysely<Database>, hash: string) => db.selectFrom('chunks').select(['pack', 'store']).where('hash', '=', hash)),
    // A row for these bytes: new, or the existing one pointed at them (see addChunk).
    upsertChunk: new PreparedQuery(5, (db: Kysely<Database>, hash: string, size: number, createdAt: number, store: string | null, storedSize: number | null) =>
      db
        .insertInto('chunks')
        .values({ hash, size, pack: null, pack_offset: null, refs: 0, created_at: createdAt, store, stored_size: storedSize })
        .onConflict((oc) =>
          oc.column('hash').doUpdateSet((eb) => ({
            size: eb.ref('excluded.size'),
            pack: null,
            pack_offset: null,
            store: eb.ref('excluded.store'),
            stored_size: eb.ref('excluded.stored_size'),
            created_at: eb.ref('excluded.created_at'),
          })),
        ),
    ),
    // A pack's chunks: rows new, or existing ones pointed at their copies in the pack (see addPack).
    upsertPackedChunks: new PreparedInsert<Database, Omit<ChunksTable, 'refs' | 'store'>>(['hash', 'size', 'pack', 'pack_offset', 'created_at', 'stored_size'], 150, (db, rows) =>
      db
        .insertInto('chunks')
        .values(rows.map((r) => ({ ...r, refs: 0, store: null })))
        .onConflict((oc) =>
          oc.column('hash').doUpdateSet((eb) => ({
            size: eb.ref('excluded.size'),
            pack: eb.ref('excluded.pack'),
            pack_offset: eb.ref('excluded.pack_offset'),
            store: null,
            stored_size: eb.ref('excluded.stored_size'),
            created_at: eb.ref('excluded.created_at'),
          })),
        ),
    ),
    insertChunkOwners: new PreparedInsert<Database, ChunkOwnersTable>(['user_id', 'hash'], 150, (db, rows) =>
      db
        .insertInto('chunk_owners')
        .values(rows)
        .onConflict((oc) => oc.columns(['user_id', 'hash']).doNothing()),
    ),
    insertChunkOwner: new PreparedQuery(2, (db: Kysely<Database>, user: string, hash: string) =>
      db
        .insertInto('chunk_owners')
        .values({ user_id: user, hash })
        .onConflict((oc) => oc.columns(['user_id', 'hash']).doNothing()),
    ),
    ownedChunk: new PreparedQuery(2, (db: Kysely<Database>, owner: string, hash: string) =>
      db.selectFrom('chunk_owners as o').innerJoin('chunks as c', 'c.hash', 'o.hash').select('o.hash').where('o.user_id', '=', owner).where('o.hash', '=', hash),
    ),
    beginWrite: new PreparedQuery(3, (db: Kysely<Database>, id: string, hash: string, startedAt: number) => db.insertInto('chunk_writes').values({ id, hash, started_at: startedAt })),
    endWrite: new PreparedQuery(1, (db: Kysely<Database>, id: string) => db.deleteFrom('chunk_writes').where('id', '=', id)),
  };
}

/**
 * The advisory-lock key of a chunk: its hash's first 8 bytes as a signed 64-bit integer
 * (hashes are uniform, so two chunks share a key about never; if they do, one waits).
 */
function lockKey(hash: string): string {
  return BigInt.asIntN(64, BigInt('0x' + hash.slice(0, 16).padEnd(16, '0'))).toString();
}

export class ChunkIndex {
  private readonly hot = hotQueries();

  constructor(private readonly meta: MetaDb) {}

  /**
   * Adds `delta` to the reference count of each chunk. Adding references (a commit, a
   * restore) requires every row to be there: a chunk collected by another node since the
   * caller checked makes the transaction fail as incomplete, naming what to send again.
   */
  async addRefs(trx: Db, hashes: readonly string[], delta: number): Promise<void> {
    for (const part of batches(hashes)) {
      const r = await trx.updateTable('chunks').set({ refs: sql<number>`refs + ${delta}` }).where('hash', 'in', part).executeTakeFirst();
      if (delta > 0 && Number(r.numUpdatedRows) < part.length) {
        const present = new Set((await trx.selectFrom('chunks').select('hash').where('hash', 'in', part).execute()).map((x) => x.hash));
        const missing = part.filter((h) => !present.has(h));
        throw new UploadIncompleteError(`${missing.length} chunk(s) were garbage-collected meanwhile: send them again`, { details: { missing: missing.slice(0, 1000), count: missing.length } });
      }
    }
  }

  /**
   * Registers a write of `hash` (a chunk's hash, or a pack's id) in progress on this node,
   * for {@link guard} on every node; returns its id for {@link endWrite} (a pack's is ended
   * by {@link addPacks}, which indexes the pack). SQLite has one process (the data directory lock):
   * the chunk store's own bookkeeping covers it, and nothing is written (undefined).
   * Registration takes the chunk's lock, so it happens entirely before or after a guarded
   * deletion, never during one.
   */
  async beginWrite(hash: string): Promise<string | undefined> {
    if (this.meta.dialect === 'sqlite') return undefined;
    const id = randomBytes(12).toString('base64url');
    await this.meta.db.transaction().execute(async (trx) => {
      await sql`select pg_advisory_xact_lock(${lockKey(hash)}::bigint)`.execute(trx);
      await this.hot.beginWrite.execute(trx as unknown as Kysely<Database>, id, hash, this.meta.sharedNow());
    });
    return id;
  }

  async endWrite(id: string | undefined): Promise<void> {
    if (id !== undefined) await this.hot.endWrite.execute(this.meta.db, id);
  }

  /**
   * Runs `fn` holding the chunk's lock across nodes (PostgreSQL: a transaction-scoped
   * advisory lock, so a node that dies releases it) with the chunk's state: where the index
   * says it is, and whether a write registered since `staleBefore` is in progress on some
   * node (older registrations are of writers that died: they are removed). Deleting an
   * object inside `fn` when neither says to keep it cannot race a writer. SQLite: no lock and
   * no registrations (one process; see {@link beginWrite}).
   */
  async guard<T>(hash: string, staleBefore: number, fn: (state: { location: ChunkLocation | undefined; writing: boolean }) => Promise<T>): Promise<T> {
    const stateIn = async (db: Db) => {
      const row = await this.hot.chunkLocation.first(db as Kysely<Database>, hash);
      const location = row ? toLocation(row) : undefined;
      if (this.meta.dialect === 'sqlite') return { location, writing: false };
      await db.deleteFrom('chunk_writes').where('hash', '=', hash).where('started_at', '<', staleBefore).execute();
      const writing = !!(await db.selectFrom('chunk_writes').select('id').where('hash', '=', hash).limit(1).executeTakeFirst());
      return { location, writing };
    };
    if (this.meta.dialect === 'sqlite') return fn(await stateIn(this.meta.db));
    return this.meta.db.transaction().execute(async (trx) => {
      await sql`select pg_advisory_xact_lock(${lockKey(hash)}::bigint)`.execute(trx);
      return fn(await stateIn(trx));
    });
  }

  async chunkLocation(hash: string): Promise<ChunkLocation | undefined> {
    const row = await this.hot.chunkLocation.first(this.meta.db, hash);
    return row ? toLocation(row) : undefined;
  }

  /** Of `hashes`, those present in the chunk index. */
  async presentChunks(hashes: readonly string[]): Promise<Set<string>> {
    const out = new Set<string>();
    for (const part of batches([...new Set(hashes)])) {
      const rows = await this.meta.db.selectFrom('chunks').select('hash').where('hash', 'in', part).execute();
      for (const r of rows) out.add(r.hash);
    }
    return out;
  }

  /**
   * Of `hashes`, those stored *and* proven by `owner` (the user sent their bytes once).
   * Dedup answers use this, never the global index: telling a user that a chunk exists
   * because someone else has it would let them probe other users' files by hash.
   */
  async ownedChunks(owner: string, hashes: readonly string[]): Promise<Set<string>> {
    const out = new Set<string>();
    if (hashes.length === 1) {
      // A chunk PUT's own question: the statement compiled once (see PreparedQuery).
      if (await this.hot.ownedChunk.first(this.meta.db, owner, hashes[0])) out.add(hashes[0]);
      return out;
    }
    for (const part of batches([...new Set(hashes)])) {
      const rows = await this.meta.db
        .selectFrom('chunk_owners as o')
        .innerJoin('chunks as c', 'c.hash', 'o.hash')
        .select('o.hash')
        .where('o.user_id', '=', owner)
        .where('o.hash', 'in', part)
        .execute();
      for (const r of rows) out.add(r.hash);
    }
    return out;
  }

  /**
   * Forgets every user's proof of possession of a chunk whose stored copy failed
   * verification: dedup answers then ask for its bytes again, and those replace the copy.
   */
  async disownChunk(hash: string): Promise<void> {
    await this.meta.db.deleteFrom('chunk_owners').where('hash', '=', hash).execute();
  }

  /**
   * Records that the verified bytes of a loose chunk now lie in `store` (a `--store` route;
   * null: the default), and with `owner` that this user sent them (one transaction). The
   * same statements run whether or not the chunk was indexed before: an existing row is
   * pointed at the new copy (the chunk store wrote it over a loose copy of the same store,
   * and deletes one elsewhere), which also replaces a damaged copy. `previous` is where the
   * chunk was before; `fresh` whether it is new *to the owner* (always true without one):
   * the only dedup answer a user may be given.
   */
  async addChunk(hash: string, size: number, store: string | null = null, owner?: string, storedSize: number | null = null): Promise<LooseChunkIndexed> {
    return (await this.addChunks([{ hash, size, store, storedSize, ...(owner !== undefined ? { owner } : {}) }]))[0];
  }

  /**
   * {@link addChunk} for several loose chunks in one transaction (the chunk store's
   * publication batches), each as if recorded alone after the ones before it; all or none.
   * Why together: a transaction per chunk was one commit per ~1 MiB uploaded, its WAL append,
   * locks and Kysely's transaction machinery each time. Rows are written in hash order, so
   * two nodes' batches (PostgreSQL) take the rows' locks in the same order.
   *
   * A chunk with a `registration` has it ended here, as a pack's (see {@link endPackWrite}):
   * one whose registration lapsed is indexed only if `stored` finds its object, else it comes
   * back `lapsed` and its row, if any, is left as it was.
   */
  async addChunks(chunks: readonly NewLooseChunk[], stored?: (chunk: NewLooseChunk) => Promise<boolean>): Promise<LooseChunkIndexed[]> {
    const order = chunks.map((_, i) => i).sort((a, b) => (chunks[a].hash < chunks[b].hash ? -1 : chunks[a].hash > chunks[b].hash ? 1 : a - b));
    const now = this.meta.sharedNow();
    return retryConflicts(() => this.meta.db.transaction().execute(async (trx) => {
      const db = trx as unknown as Kysely<Database>;
      const out = new Array<LooseChunkIndexed>(chunks.length);
      for (const i of order) {
        const { hash, size, store, owner, storedSize, registration } = chunks[i];
        if (registration !== undefined && !(await this.endRegisteredWrite(trx, hash, registration, () => stored?.(chunks[i]) ?? Promise.resolve(false)))) {
          out[i] = { fresh: false, lapsed: true };
          continue;
        }
        const previous = await this.hot.chunkPlace.first(db, hash);
        await this.hot.upsertChunk.execute(db, hash, size, now, store, storedSize);
        let fresh = true;
        if (owner !== undefined) {
          const r = await this.hot.insertChunkOwner.execute(db, owner, hash);
          fresh = Number(r.numAffectedRows ?? 0n) > 0;
        }
        out[i] = previous ? { previous, fresh } : { fresh };
      }
      return out;
    }));
  }

  /**
   * Records a stored pack and the chunks inside it, and with `owner` that this user sent
   * all of them. As {@link addChunk}: every chunk's row points at its copy in this pack,
   * indexed before or not (a pack left with no chunk is deleted by garbage collection).
   * Returns how many of the chunks are new to the owner (all without one) and the chunks
   * that were loose objects until now (their objects are the caller's to delete).
   */
  async addPack(id: string, size: number, entries: readonly PackEntry[], store: string | null = null, owner?: string): Promise<PackIndexed> {
    return (await this.addPacks([{ id, size, entries, store, ...(owner !== undefined ? { owner } : {}) }]))[0];
  }

  /**
   * {@link addPack} for several packs in one transaction, each as if recorded alone after
   * the ones before it (a chunk in two of them ends up in the later one; its owner's second
   * copy is not fresh). All or none: one failing pack rolls every one of them back.
   *
   * Why together: the chunk and owner indexes are B-trees keyed by random SHA-256 hashes,
   * so a pack's few hundred chunks change most of their leaf pages, and a transaction
   * writes each page it changed once to SQLite's WAL however often it changed it (a 10,000
   * file sync's 28 packs, one transaction each: 74 MB of WAL for an 11 MB database).
   */
  async addPacks(packs: readonly NewPack[], stored?: (pack: NewPack) => Promise<boolean>): Promise<PackIndexed[]> {
    const now = this.meta.sharedNow();
    return retryConflicts(() => this.meta.db.transaction().execute(async (trx) => {
      const out: PackIndexed[] = [];
      for (const p of packs) {
        if (p.registration !== undefined && !(await this.endRegisteredWrite(trx, p.id, p.registration, () => stored?.(p) ?? Promise.resolve(false)))) out.push({ fresh: 0, wasLoose: [], lapsed: true });
        else out.push(await this.insertPack(trx, p, now));
      }
      return out;
    }));
  }

  /**
   * Ends a write's registration (of a chunk's hash or a pack's id: `key`) inside the
   * transaction that indexes what it wrote, under the key's lock (the one collection and the
   * sweep of unreferenced objects delete under: {@link guard}), and says whether it may be
   * indexed. A registration gone was taken for a dead node's (its node stalled longer than
   * the grace time), so another node may have deleted the object: then only an object still
   * there (asked of the store with `stored`) is indexed, and nobody can delete it meanwhile,
   * the lock held until the row is in. The lock comes first also when the registration is
   * there: a guard that read the index before this row was in must not see the registration
   * end before it decides.
   */
  private async endRegisteredWrite(trx: Transaction<Database>, key: string, registration: string, stored: () => Promise<boolean>): Promise<boolean> {
    await sql`select pg_advisory_xact_lock(${lockKey(key)}::bigint)`.execute(trx);
    const ended = await trx.deleteFrom('chunk_writes').where('id', '=', registration).executeTakeFirst();
    if (Number(ended.numDeletedRows) > 0) return true;
    return stored();
  }

  private async insertPack(trx: Transaction<Database>, { id, size, entries, store, owner }: NewPack, now: number): Promise<PackIndexed> {
    await trx.insertInto('packs').values({ id, size, chunk_count: entries.length, created_at: now, store }).execute();
    let fresh = 0;
    const wasLoose: { hash: string; store: string | null }[] = [];
    for (const part of batches(entries as PackEntry[], 150)) {
      const before = await trx.selectFrom('chunks').select(['hash', 'store']).where('hash', 'in', part.map((e) => e.hash)).where('pack', 'is', null).execute();
      for (const b of before) wasLoose.push({ hash: b.hash, store: b.store });
      await this.hot.upsertPackedChunks.execute(trx, part.map((e) => ({ hash: e.hash, size: e.size, pack: id, pack_offset: e.offset, created_at: now, stored_size: e.stored ?? null })));
      if (owner !== undefined) {
        fresh += await this.hot.insertChunkOwners.execute(trx, part.map((e) => ({ user_id: owner, hash: e.hash })));
      } else {
        fresh += part.length;
      }
    }
    return { fresh, wasLoose };
  }

  /** Records that `owner` may build on these chunks (bytes of a file they may read, or sent by them). */
  async addChunkOwners(owner: string, hashes: readonly string[]): Promise<void> {
    for (const part of batches([...new Set(hashes)])) {
      await this.meta.db
        .insertInto('chunk_owners')
        .values(part.map((hash) => ({ user_id: owner, hash })))
        .onConflict((oc) => oc.columns(['user_id', 'hash']).doNothing())
        .execute();
    }
  }

  /** Whether some file's manifest contains the chunk (the download route serves only those). */
  async isChunkReferenced(hash: string): Promise<boolean> {
    const row = await this.meta.db.selectFrom('chunks').select('refs').where('hash', '=', hash).executeTakeFirst();
    return !!row && row.refs > 0;
  }

  /** Of `hashes`, those some file's manifest contains. */
  async referencedChunks(hashes: readonly string[]): Promise<Set<string>> {
    const out = new Set<string>();
    for (const part of batches([...new Set(hashes)])) {
      const rows = await this.meta.db.selectFrom('chunks').select('hash').where('hash', 'in', part).where('refs', '>', 0).execute();
      for (const r of rows) out.add(r.hash);
    }
    return out;
  }

  /** Of pack `ids`, those the index records (a pack object with no row is nobody's: see ChunkStore.sweepUnreferenced). */
  async indexedPacks(ids: readonly string[]): Promise<Set<string>> {
    const out = new Set<string>();
    for (const part of batches([...new Set(ids)])) {
      const rows = await this.meta.db.selectFrom('packs').select('id').where('id', 'in', part).execute();
      for (const r of rows) out.add(r.id);
    }
    return out;
  }

  /** Where each of `hashes` is stored (hashes not in the index are absent from the map). */
  async chunkLocations(hashes: readonly string[]): Promise<Map<string, ChunkLocation>> {
    const out = new Map<string, ChunkLocation>();
    for (const part of batches([...new Set(hashes)])) {
      const rows = await this.meta.db
        .selectFrom('chunks as c')
        .leftJoin('packs as p', 'p.id', 'c.pack')
        .select(['c.hash', 'c.size', 'c.pack', 'c.pack_offset', 'c.store', 'p.store as pack_store', 'c.stored_size'])
        .where('c.hash', 'in', part)
        .execute();
      for (const row of rows) out.set(row.hash, toLocation(row));
    }
    return out;
  }

  /**
   * Removes from the index up to `limit` chunks that no manifest and no live upload session
   * references and that are older than `cutoff`; returns what the chunk store must delete
   * (after {@link guard}: a writer on some node may be storing the chunk again right now).
   */
  async collectGarbage(cutoff: number, limit: number): Promise<GcVictims> {
    return this.meta.durable(async (trx) => {
      const rows = await trx
        .selectFrom('chunks as c')
        .select(['c.hash'])
        .where('c.refs', '<=', 0)
        .where('c.created_at', '<', cutoff)
        .where(({ not, exists, selectFrom }) => not(exists(selectFrom('upload_entries as e').select('e.hash').whereRef('e.hash', '=', 'c.hash'))))
        .limit(limit)
        .execute();
      const victims: GcVictims = { chunks: [], packs: [] };
      const stores: Record<string, string> = {};
      // Packs no chunk points into any more: every chunk of theirs was since stored again
      // elsewhere (a newer copy is the indexed one), or none was ever new.
      const empty = await trx
        .selectFrom('packs as p')
        .select(['p.id', 'p.store'])
        .where('p.created_at', '<', cutoff)
        .where(({ not, exists, selectFrom }) => not(exists(selectFrom('chunks as c').select('c.hash').whereRef('c.pack', '=', 'p.id'))))
        .limit(limit)
        .execute();
      for (const p of empty) {
        await trx.deleteFrom('packs').where('id', '=', p.id).execute();
        victims.packs.push(p.id);
        if (p.store) stores[p.id] = p.store;
      }
      const deleted: { hash: string; pack: string | null; store: string | null }[] = [];
      for (const part of batches(rows.map((r) => r.hash))) {
        // The conditions again, in the DELETE: on PostgreSQL another node may have committed
        // a reference (or stored the chunk anew) since the SELECT; a row a concurrent
        // transaction changed is re-checked against them once that transaction ends.
        const gone = await trx
          .deleteFrom('chunks')
          .where('hash', 'in', part)
          .where('refs', '<=', 0)
          .where('created_at', '<', cutoff)
          .where(({ not, exists, selectFrom }) => not(exists(selectFrom('upload_entries as e').select('e.hash').whereRef('e.hash', '=', 'chunks.hash'))))
          .returning(['hash', 'pack', 'store'])
          .execute();
        deleted.push(...gone);
        if (gone.length > 0) await trx.deleteFrom('chunk_owners').where('hash', 'in', gone.map((g) => g.hash)).execute();
      }
      if (deleted.length === 0) {
        if (Object.keys(stores).length > 0) victims.stores = stores;
        return victims;
      }
      const packs = [...new Set(deleted.filter((r) => r.pack !== null).map((r) => r.pack as string))];
      for (const id of packs) {
        const left = await trx.selectFrom('chunks').select('hash').where('pack', '=', id).limit(1).executeTakeFirst();
        if (!left) {
          const pack = await trx.selectFrom('packs').select('store').where('id', '=', id).executeTakeFirst();
          await trx.deleteFrom('packs').where('id', '=', id).execute();
          victims.packs.push(id);
          if (pack?.store) stores[id] = pack.store;
        }
      }
      victims.chunks = deleted.filter((r) => r.pack === null).map((r) => r.hash);
      for (const r of deleted) if (r.pack === null && r.store) stores[r.hash] = r.store;
      if (Object.keys(stores).length > 0) victims.stores = stores;
      return victims;
    });
  }
}
