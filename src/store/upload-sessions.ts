/**
 * Upload sessions: one job of the metadata store (src/store/meta-store.ts is the facade its
 * callers use; the contract is docs/metadata.md). A session is what a client declared (files,
 * their chunk lists, sealed or still growing), which of those chunks the store still lacks
 * (or their owner has not proven to hold), the bytes it reserves against its owner's quota,
 * and when it expires. Committing one is where sessions meet the namespace: Namespace.commitUpload (namespace.ts).
 * Sessions live in the database, so any node can continue one another node began.
 */
import { randomBytes } from 'node:crypto';
import { sql, type Kysely, type Transaction } from 'kysely';
import { UploadNotFoundError, UploadSealedError, ValidationError } from '../core/errors.js';
import { checkChunkEntries, type ChunkRef } from '../core/manifest.js';
import { isWithin } from '../core/path.js';
import type { AdminUpload, UploadFileSpec } from '../core/protocol.js';
import { batches } from './batches.js';
import type { ChunkIndex, MetaDb } from './chunk-index.js';
import type { Database, UploadEntriesTable, UploadFilesTable } from './meta-schema.js';
import { PreparedInsert } from './prepared-insert.js';
import { PreparedQuery } from './prepared-query.js';

type Db = Kysely<Database> | Transaction<Database>;

export interface UploadInfo {
  id: string;
  owner: string | null;
  /** A session whose chunks are proven by the session itself ({@link sessionProver}), not by its owner. */
  selfProving?: boolean;
  /** Deepest path containing every file of the session. */
  scope: string | null;
  expiresAt: number;
  files: number;
  sealed: boolean;
}

export interface NewUpload {
  owner: string | null;
  files: UploadFileSpec[];
  noOverwrite: boolean;
  ttlMs: number;
  /** A resumable streamed upload of one file (see findPartial). */
  partial?: boolean;
  /** A session that proves its chunks itself (see {@link sessionProver}): a drop-box visitor's or a path-limited token's. */
  selfProving?: SelfProvingKind;
  /** A drop-box visitor's streamed upload (not self-proving): counted with the visitors' sessions, not the owner's own ({@link UploadSessions.countUploads}). */
  visitorStream?: boolean;
}

/** Whose budget of live sessions a session counts in: its owner's own, or that of the visitors of the owner's upload links. */
export type SessionBudget = 'own' | 'visitors';

/**
 * A caller's check of an append of manifest entries (UploadSessions.appendEntries), run in
 * its transaction: `entries` added, and the file's `bytes` once they are (summed there).
 */
export type AppendCheck = (trx: Transaction<Database>, grown: { entries: number; bytes: number }) => Promise<void>;
const VISITOR_KINDS = ['visitor', 'visitor-stream'] as const;

/**
 * Sessions that prove their chunks themselves: `visitor`, a drop-box visitor's (who may
 * know nothing of the link owner's files); `scoped`, a token limited to a path prefix's
 * (who may know nothing of its user's files outside it).
 */
export type SelfProvingKind = 'visitor' | 'scoped';
const SELF_PROVING: readonly SelfProvingKind[] = ['visitor', 'scoped'];

function isSelfProving(kind: string | null): boolean {
  return (SELF_PROVING as readonly (string | null)[]).includes(kind);
}

const SESSION_PREFIX = 'upload:';

/**
 * Whose proofs of possession (chunk_owners rows) the chunks of a self-proving session
 * ({@link SelfProvingKind}) need: the session's own, under this name, never its owner's.
 * Dedup answers and the commit count only what this session was sent (or was given from
 * files its caller may read, see MetaStore.addChunkOwners), so "missing" never tells the
 * caller whether the owner stores some content elsewhere (a confirmation oracle through an
 * anonymous link or a narrow token). The rows go with the session.
 */
export function sessionProver(id: string): string {
  return SESSION_PREFIX + id;
}

/**
 * Ends a session's own proofs ({@link sessionProver}). `owner`: a committed `scoped`
 * session's owner, who sent those bytes through their own token and now holds them as
 * theirs (a visitor's bytes stay unproven for the link's owner).
 */
export async function dropSessionProofs(trx: Kysely<Database> | Transaction<Database>, id: string, owner?: string): Promise<void> {
  if (owner !== undefined) {
    await trx
      .insertInto('chunk_owners')
      .columns(['user_id', 'hash'])
      .expression((eb) => eb.selectFrom('chunk_owners').select([sql<string>`cast(${owner} as text)`.as('user_id'), 'hash']).where('user_id', '=', sessionProver(id)))
      .onConflict((oc) => oc.columns(['user_id', 'hash']).doNothing())
      .execute();
  }
  await trx.deleteFrom('chunk_owners').where('user_id', '=', sessionProver(id)).execute();
}

/** A resumable streamed upload, as its owner finds it again by path. */
export interface PartialUpload {
  id: string;
  path: string;
  /** The chunks received so far, in order (every one stored and proven by the owner). */
  chunks: ChunkRef[];
  size: number;
  createdAt: number;
  /** When the last chunks were recorded. */
  updatedAt: number;
}

/**
 * The statements of a chunk PUT, built and compiled once per store (see PreparedQuery): a GiB
 * upload runs it about 800 times.
 */
function hotQueries() {
  return {
    chunkPutContext: new PreparedQuery(2, (db: Kysely<Database>, id: string, hash: string) =>
      db
        .selectFrom('uploads as u')
        .select(['u.expires_at', 'u.owner', 'u.scope', 'u.kind'])
        .select((eb) => [
          eb
            .selectFrom('upload_entries as e')
            .innerJoin('upload_files as f', (join) => join.onRef('f.upload_id', '=', 'e.upload_id').onRef('f.idx', '=', 'e.file_idx'))
            .select('f.path')
            .whereRef('e.upload_id', '=', 'u.id')
            .where('e.hash', '=', hash)
            .orderBy('e.file_idx')
            .limit(1)
            .as('path'),
          eb
            .selectFrom('upload_entries as e')
            .select('e.size')
            .whereRef('e.upload_id', '=', 'u.id')
            .where('e.hash', '=', hash)
            .orderBy('e.file_idx')
            .limit(1)
            .as('declared'),
        ])
        .where('u.id', '=', id),
    ),
    insertFiles: new PreparedInsert<Database, UploadFilesTable>(['upload_id', 'idx', 'path', 'size', 'hash', 'mtime', 'mode', 'sealed', 'entry_count', 'ttl_ms'], 60, (db, rows) =>
      db.insertInto('upload_files').values(rows),
    ),
    insertEntries: new PreparedInsert<Database, UploadEntriesTable>(['upload_id', 'file_idx', 'seq', 'hash', 'size'], 150, (db, rows) => db.insertInto('upload_entries').values(rows)),
    // What every streamed file (an SFTP file, a WebDAV PUT) asks at least once or twice.
    ownSessions: new PreparedQuery(2, (db: Kysely<Database>, owner: string, now: number) =>
      db
        .selectFrom('uploads')
        .select(sql<number>`count(*)`.as('n'))
        .where('owner', '=', owner)
        .where('expires_at', '>', now)
        .where((eb) => eb.or([eb('kind', 'is', null), eb('kind', 'not in', VISITOR_KINDS)])),
    ),
    fileEntryCount: new PreparedQuery(2, (db: Kysely<Database>, id: string, idx: number) =>
      db.selectFrom('upload_files').select(['sealed', 'entry_count']).where('upload_id', '=', id).where('idx', '=', idx),
    ),
    partial: new PreparedQuery(3, (db: Kysely<Database>, owner: string, path: string, now: number) =>
      db
        .selectFrom('uploads as u')
        .innerJoin('upload_files as f', 'f.upload_id', 'u.id')
        .select(['u.id', 'u.created_at', 'u.updated_at'])
        .where('f.path', '=', path)
        .where('u.owner', '=', owner)
        .where('u.kind', '=', 'partial')
        .where('u.expires_at', '>', now)
        .orderBy('u.updated_at', 'desc')
        .orderBy('u.created_at', 'desc')
        .limit(1),
    ),
    partialsBefore: new PreparedQuery(3, (db: Kysely<Database>, owner: string, path: string, before: number) =>
      db
        .selectFrom('uploads as u')
        .innerJoin('upload_files as f', 'f.upload_id', 'u.id')
        .select('u.id')
        .where('f.path', '=', path)
        .where('u.owner', '=', owner)
        .where('u.kind', '=', 'partial')
        .where('u.updated_at', '<', before),
    ),
  };
}

/** What upload sessions need of the store that owns them. */
export interface SessionsDb extends MetaDb {
  /** Refuses new sessions by throwing (a draining server); see MetaStore.setAdmission. */
  readonly admission?: () => void;
  /** What the chunk index holds (missing chunks are those it lacks). */
  readonly chunkIndex: ChunkIndex;
}

export class UploadSessions {
  private readonly hot = hotQueries();

  constructor(private readonly meta: SessionsDb) {}

  /**
   * Creates a session. `check` runs first inside the creating transaction (limits that
   * count the owner's other sessions: two creations cannot both squeeze under them) and
   * returns the bytes the session reserves against its owner's quota.
   */
  async createUpload(u: NewUpload, options: { check?: (trx: Transaction<Database>) => Promise<number> } = {}): Promise<UploadInfo> {
    this.meta.admission?.();
    const id = newUploadId();
    const now = this.meta.now();
    const scope = commonAncestor(u.files.map((f) => f.path));
    // A batch of 10,000 small files: a few multi-row inserts, not three statements a file.
    await this.meta.db.transaction().execute(async (trx) => {
      const reserved = (await options.check?.(trx)) ?? 0;
      await trx
        .insertInto('uploads')
        .values({ id, owner: u.owner, scope, no_overwrite: u.noOverwrite ? 1 : 0, created_at: now, updated_at: now, expires_at: now + u.ttlMs, reserved_bytes: reserved, kind: u.partial ? 'partial' : (u.selfProving ?? (u.visitorStream ? 'visitor-stream' : null)) })
        .execute();
      const fileRows = u.files.map((f, idx) => ({
        upload_id: id,
        idx,
        path: f.path,
        size: f.size ?? null,
        hash: f.hash ?? null,
        mtime: f.mtime ?? null,
        mode: f.mode ?? null,
        sealed: f.chunks !== undefined && f.size !== undefined && f.hash !== undefined ? 1 : 0,
        entry_count: f.chunks?.length ?? 0,
        ttl_ms: f.ttlSeconds === undefined ? null : f.ttlSeconds * 1000,
      }));
      await this.hot.insertFiles.execute(trx, fileRows);
      const entryRows = u.files.flatMap((f, idx) => (f.chunks ?? []).map((c, seq) => ({ upload_id: id, file_idx: idx, seq, hash: c.hash, size: c.size })));
      await this.hot.insertEntries.execute(trx, entryRows);
    });
    return { id, owner: u.owner, ...(u.selfProving ? { selfProving: true } : {}), scope, expiresAt: now + u.ttlMs, files: u.files.length, sealed: u.files.every((f) => f.chunks !== undefined && f.size !== undefined && f.hash !== undefined) };
  }

  private async insertEntries(trx: Db, id: string, fileIdx: number, firstSeq: number, chunks: readonly ChunkRef[]): Promise<void> {
    const rows = chunks.map((c, i) => ({ upload_id: id, file_idx: fileIdx, seq: firstSeq + i, hash: c.hash, size: c.size }));
    await this.hot.insertEntries.execute(trx, rows);
    await trx
      .updateTable('upload_files')
      .set({ entry_count: firstSeq + chunks.length })
      .where('upload_id', '=', id)
      .where('idx', '=', fileIdx)
      .execute();
  }

  /** The live session `id`, touched (its expiry pushed back by `ttlMs`). */
  async getUpload(id: string, ttlMs?: number): Promise<UploadInfo> {
    const now = this.meta.now();
    const row = await this.meta.db.selectFrom('uploads').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row || Number(row.expires_at) <= now) throw new UploadNotFoundError(`upload ${id} not found (unknown, committed, aborted or expired)`, { details: { id } });
    let expiresAt = Number(row.expires_at);
    if (ttlMs !== undefined && now + ttlMs > expiresAt) {
      expiresAt = now + ttlMs;
      await this.meta.db.updateTable('uploads').set({ updated_at: now, expires_at: expiresAt }).where('id', '=', id).execute();
    }
    const files = await this.meta.db.selectFrom('upload_files').select(['sealed']).where('upload_id', '=', id).execute();
    return { id, owner: row.owner, ...(isSelfProving(row.kind) ? { selfProving: true } : {}), scope: row.scope, expiresAt, files: files.length, sealed: files.every((f) => f.sealed === 1) };
  }

  /**
   * Appends manifest entries to an unsealed file of a session; returns the distinct hashes
   * among them the store lacks. `check` runs in the append's transaction with the number of
   * entries added and the file's bytes with them (limits that count the owner's other
   * sessions' entries, the file's size and quota reservation): the sum is made once, here.
   */
  async appendEntries(id: string, fileIdx: number, chunks: readonly ChunkRef[], ttlMs: number, options: { check?: AppendCheck } = {}): Promise<string[]> {
    const up = await this.getUpload(id, ttlMs);
    await this.meta.db.transaction().execute(async (trx) => {
      const f = await trx.selectFrom('upload_files').select(['sealed', 'entry_count']).where('upload_id', '=', id).where('idx', '=', fileIdx).executeTakeFirst();
      if (!f) throw new ValidationError(`upload ${id} has no file #${fileIdx}`);
      if (f.sealed) throw new UploadSealedError(`upload ${id} file #${fileIdx} is sealed: its manifest was complete at creation`);
      // Counted in the transaction: appends at once cannot each pass on the same count.
      const had = await trx.selectFrom('upload_entries').select(sql<number>`coalesce(sum(size), 0)`.as('bytes')).where('upload_id', '=', id).where('file_idx', '=', fileIdx).executeTakeFirstOrThrow();
      const bytes = Number(had.bytes) + chunks.reduce((a, c) => a + c.size, 0);
      checkChunkEntries(Number(f.entry_count) + chunks.length, bytes, `upload ${id} file #${fileIdx}`);
      await options.check?.(trx, { entries: chunks.length, bytes });
      await this.insertEntries(trx, id, fileIdx, f.entry_count, chunks);
    });
    const hashes = chunks.map((c) => c.hash);
    const prover = up.selfProving ? sessionProver(id) : up.owner;
    const present = prover === null ? await this.meta.chunkIndex.presentChunks(hashes) : await this.meta.chunkIndex.ownedChunks(prover, hashes);
    return distinctHashes(chunks).filter((h) => !present.has(h));
  }

  /**
   * Appends entries to an unsealed file of a session inside the caller's transaction, after
   * its first `from` (CommitOptions.append: the commit of a streamed upload, whose entries
   * only it writes). FERRY_ERR_UPLOAD_SEALED for a sealed file, as {@link appendEntries}.
   */
  async appendEntriesIn(trx: Transaction<Database>, id: string, to: { fileIdx: number; from: number; chunks: readonly ChunkRef[] }): Promise<void> {
    const f = await this.hot.fileEntryCount.first(trx, id, to.fileIdx);
    if (!f) throw new ValidationError(`upload ${id} has no file #${to.fileIdx}`);
    if (f.sealed) throw new UploadSealedError(`upload ${id} file #${to.fileIdx} is sealed: its manifest was complete at creation`);
    if (Number(f.entry_count) !== to.from) throw new ValidationError(`upload ${id} file #${to.fileIdx} has ${Number(f.entry_count)} entries, not ${to.from}`);
    await this.insertEntries(trx, id, to.fileIdx, to.from, to.chunks);
  }

  /** The server path of one file of a session and whether its manifest is sealed (undefined if the session has no such file). */
  async uploadFileInfo(id: string, fileIdx: number): Promise<{ path: string; sealed: boolean } | undefined> {
    const row = await this.meta.db.selectFrom('upload_files').select(['path', 'sealed']).where('upload_id', '=', id).where('idx', '=', fileIdx).executeTakeFirst();
    return row ? { path: row.path, sealed: row.sealed === 1 } : undefined;
  }

  /** How many manifest entries each file of a session has so far, in file order (a resuming client appends after them). */
  async entryCounts(id: string): Promise<number[]> {
    const rows = await this.meta.db.selectFrom('upload_files').select('entry_count').where('upload_id', '=', id).orderBy('idx').execute();
    return rows.map((r) => Number(r.entry_count));
  }

  /** The manifest entries of one file of a session, in order. */
  async uploadEntries(id: string, fileIdx: number): Promise<ChunkRef[]> {
    const rows = await this.meta.db.selectFrom('upload_entries').select(['hash', 'size']).where('upload_id', '=', id).where('file_idx', '=', fileIdx).orderBy('seq').execute();
    return rows.map((r) => ({ hash: r.hash, size: Number(r.size) }));
  }

  /** Bytes announced so far for one file of a session (sum of its manifest entries). */
  async uploadFileBytes(id: string, fileIdx: number): Promise<number> {
    const row = await this.meta.db
      .selectFrom('upload_entries')
      .select(sql<number>`coalesce(sum(size), 0)`.as('bytes'))
      .where('upload_id', '=', id)
      .where('file_idx', '=', fileIdx)
      .executeTakeFirstOrThrow();
    return Number(row.bytes);
  }

  /** Bytes reserved by a user's live sessions (see UploadsTable.reserved_bytes), leaving out session `except`. */
  async reservedBytes(owner: string, except?: string, db: Db = this.meta.db): Promise<number> {
    let q = db
      .selectFrom('uploads')
      .select(sql<number>`coalesce(sum(reserved_bytes), 0)`.as('bytes'))
      .where('owner', '=', owner)
      .where('expires_at', '>', this.meta.now());
    if (except !== undefined) q = q.where('id', '<>', except);
    return Number((await q.executeTakeFirstOrThrow()).bytes);
  }

  /** Sets what session `id` reserves against its owner's quota. */
  async setReservation(id: string, bytes: number, db: Db = this.meta.db): Promise<void> {
    await db.updateTable('uploads').set({ reserved_bytes: bytes }).where('id', '=', id).execute();
  }

  /**
   * Live upload sessions of a user: their own (`own`, the default), or those the visitors of
   * their upload links opened (`visitors`). The two are held to separate limits, so that
   * anyone holding a drop-box link cannot use up the sessions its owner uploads with.
   * `except`: a session left out (one the new session supersedes).
   */
  /**
   * Manifest entries the live sessions of `owner` hold in all, in one budget (as
   * {@link countUploads}), but those of `except`. They count in no quota until committed.
   */
  async pendingEntries(owner: string, db: Db, budget: SessionBudget, except?: string): Promise<number> {
    let q = db
      .selectFrom('upload_files as f')
      .innerJoin('uploads as u', 'u.id', 'f.upload_id')
      .select(sql<number>`coalesce(sum(f.entry_count), 0)`.as('n'))
      .where('u.owner', '=', owner)
      .where('u.expires_at', '>', this.meta.now());
    if (except !== undefined) q = q.where('u.id', '<>', except);
    const row = await q
      .where((eb) => (budget === 'visitors' ? eb('u.kind', 'in', VISITOR_KINDS) : eb.or([eb('u.kind', 'is', null), eb('u.kind', 'not in', VISITOR_KINDS)])))
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  async countUploads(owner: string, db: Db = this.meta.db, budget: SessionBudget = 'own', except?: string): Promise<number> {
    if (budget === 'own' && except === undefined) return Number((await this.hot.ownSessions.first(db as Kysely<Database>, owner, this.meta.now()))?.n ?? 0);
    let q = db
      .selectFrom('uploads')
      .select(sql<number>`count(*)`.as('n'))
      .where('owner', '=', owner)
      .where('expires_at', '>', this.meta.now());
    if (except !== undefined) q = q.where('id', '<>', except);
    const row = await q
      .where((eb) => (budget === 'visitors' ? eb('kind', 'in', VISITOR_KINDS) : eb.or([eb('kind', 'is', null), eb('kind', 'not in', VISITOR_KINDS)])))
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  /**
   * Aborts the live sessions visitors opened into `folder` (a server path) through the
   * owner's upload links: a revoked link leaves none of them behind. Returns how many.
   */
  async abortVisitorUploads(owner: string, folder: string): Promise<number> {
    const rows = await this.meta.db
      .selectFrom('uploads')
      .select(['id', 'scope'])
      .where('owner', '=', owner)
      .where('kind', 'in', VISITOR_KINDS)
      .where('expires_at', '>', this.meta.now())
      .execute();
    let n = 0;
    for (const r of rows) {
      if (r.scope === null || !isWithin(r.scope, folder)) continue;
      try {
        await this.abortUpload(r.id);
        n++;
      } catch (err) {
        if (!(err instanceof UploadNotFoundError)) throw err;
      }
    }
    return n;
  }

  /**
   * Distinct chunks of the session the store still lacks, or (for a session with an owner)
   * that its owner (a self-proving session: the session itself, {@link sessionProver}) has not
   * proven to hold. A commit needs none missing: naming a chunk hash is never enough to put
   * another user's bytes into one's own file.
   */
  async missingChunks(id: string, db: Db = this.meta.db): Promise<string[]> {
    const rows = await db
      .selectFrom('upload_entries as e')
      .innerJoin('uploads as u', 'u.id', 'e.upload_id')
      .leftJoin('chunks as c', 'c.hash', 'e.hash')
      .leftJoin('chunk_owners as o', (join) => join.onRef('o.hash', '=', 'e.hash').on('o.user_id', '=', sql<string>`case when u.kind in ('visitor', 'scoped') then ${sql.lit(SESSION_PREFIX)} || u.id else u.owner end`))
      .select('e.hash')
      .distinct()
      .where('e.upload_id', '=', id)
      .where((eb) => eb.or([eb('c.hash', 'is', null), eb.and([eb('u.owner', 'is not', null), eb('o.hash', 'is', null)])]))
      .execute();
    return rows.map((r) => r.hash);
  }

  /** For the pack route: FERRY_ERR_UPLOAD_NOT_FOUND unless the session lives; its owner, scope and expiry (see {@link extendUpload}). */
  async uploadOwner(id: string): Promise<{ owner: string | null; scope: string | null; expiresAt: number; selfProving: boolean }> {
    const row = await this.meta.db.selectFrom('uploads').select(['expires_at', 'owner', 'scope', 'kind']).where('id', '=', id).executeTakeFirst();
    if (!row || Number(row.expires_at) <= this.meta.now()) throw new UploadNotFoundError(`upload ${id} not found (unknown, committed, aborted or expired)`, { details: { id } });
    return { owner: row.owner, scope: row.scope, expiresAt: Number(row.expires_at), selfProving: isSelfProving(row.kind) };
  }

  /**
   * Everything a chunk PUT needs, in one query: the live session (FERRY_ERR_UPLOAD_NOT_FOUND
   * unless it lives) and its expiry (see {@link extendUpload}); `path`, the path of its
   * first file whose manifest has the chunk (undefined: none has it; the chunk store routes
   * the chunk's bytes by it); and `declared`, the size that manifest gives the chunk. The
   * caller checks the session is the caller's before using the rest.
   */
  async chunkPutContext(id: string, hash: string): Promise<{ owner: string | null; scope: string | null; selfProving: boolean; path: string | undefined; declared: number | undefined; expiresAt: number }> {
    const row = await this.hot.chunkPutContext.first(this.meta.db, id, hash);
    if (!row || Number(row.expires_at) <= this.meta.now()) throw new UploadNotFoundError(`upload ${id} not found (unknown, committed, aborted or expired)`, { details: { id } });
    return { owner: row.owner, scope: row.scope, selfProving: isSelfProving(row.kind), path: row.path ?? undefined, declared: row.declared === null || row.declared === undefined ? undefined : Number(row.declared), expiresAt: Number(row.expires_at) };
  }

  /**
   * Pushes a session's expiry back after a chunk it took, only when less than 90% of
   * `ttlMs` remains: a GiB of chunk PUTs costs a handful of writes, not one per chunk.
   * (Called after the chunk is stored: a refused request never keeps a session alive.)
   */
  async extendUpload(id: string, expiresAt: number, ttlMs: number): Promise<void> {
    const now = this.meta.now();
    if (expiresAt - now >= ttlMs * 0.9) return;
    await this.meta.db.updateTable('uploads').set({ updated_at: now, expires_at: now + ttlMs }).where('id', '=', id).execute();
  }


  /**
   * Of `chunks`, those the session's manifest does not mention (`strangers`), and those it
   * mentions only with another size (`mismatched`: a manifest must not claim a size the
   * bytes do not have, see {@link commitUpload}).
   */
  async chunksNotInUpload(id: string, chunks: readonly ChunkRef[]): Promise<{ strangers: string[]; mismatched: { hash: string; size: number; declared: number }[] }> {
    const declared = new Map<string, number[]>();
    for (const part of batches([...new Set(chunks.map((c) => c.hash))])) {
      const rows = await this.meta.db.selectFrom('upload_entries').select(['hash', 'size']).distinct().where('upload_id', '=', id).where('hash', 'in', part).execute();
      for (const r of rows) {
        const sizes = declared.get(r.hash);
        if (sizes) sizes.push(Number(r.size));
        else declared.set(r.hash, [Number(r.size)]);
      }
    }
    const strangers: string[] = [];
    const mismatched: { hash: string; size: number; declared: number }[] = [];
    for (const c of chunks) {
      const sizes = declared.get(c.hash);
      if (!sizes) strangers.push(c.hash);
      else if (!sizes.includes(c.size)) mismatched.push({ hash: c.hash, size: c.size, declared: sizes[0] });
    }
    return { strangers, mismatched };
  }

  /** The path of a session's first file (packs carry chunks of any of its files: they follow the first). */
  async uploadFirstPath(id: string): Promise<string | undefined> {
    const row = await this.meta.db.selectFrom('upload_files').select('path').where('upload_id', '=', id).orderBy('idx').limit(1).executeTakeFirst();
    return row?.path;
  }

  async abortUpload(id: string): Promise<void> {
    await this.meta.db.transaction().execute(async (trx) => {
      const r = await trx.deleteFrom('uploads').where('id', '=', id).executeTakeFirst();
      if (Number(r.numDeletedRows) === 0) throw new UploadNotFoundError(`upload ${id} not found`, { details: { id } });
      await trx.deleteFrom('upload_entries').where('upload_id', '=', id).execute();
      await trx.deleteFrom('upload_files').where('upload_id', '=', id).execute();
      await dropSessionProofs(trx, id);
    });
  }

  /**
   * The open (unexpired) upload sessions, newest first, of every user or of one (`ownerId`),
   * for `GET /api/v1/admin/uploads`: at most `limit`, with their files' count and declared
   * bytes, the first file's path and the owner's name.
   */
  async listUploads(options: { ownerId?: string; limit: number }): Promise<AdminUpload[]> {
    let q = this.meta.db
      .selectFrom('uploads as u')
      .leftJoin('users as us', 'us.id', 'u.owner')
      .leftJoin('tus_uploads as t', 't.id', 'u.id')
      .select(['u.id', 'u.kind', 'u.created_at', 'u.updated_at', 'u.expires_at', 'us.name as user', 't.id as tus'])
      .select((eb) => [
        eb.selectFrom('upload_files as f').select(sql<number>`count(*)`.as('n')).whereRef('f.upload_id', '=', 'u.id').as('files'),
        eb.selectFrom('upload_files as f').select(sql<number>`coalesce(sum(f.size), 0)`.as('b')).whereRef('f.upload_id', '=', 'u.id').as('bytes'),
        eb.selectFrom('upload_files as f').select('f.path').whereRef('f.upload_id', '=', 'u.id').orderBy('f.idx').limit(1).as('path'),
        eb.selectFrom('upload_entries as e').select(sql<number>`coalesce(sum(e.size), 0)`.as('r')).whereRef('e.upload_id', '=', 'u.id').as('received'),
      ])
      .where('u.expires_at', '>', this.meta.now());
    if (options.ownerId !== undefined) q = q.where('u.owner', '=', options.ownerId);
    const rows = await q.orderBy('u.created_at', 'desc').orderBy('u.id').limit(options.limit).execute();
    return rows.map((r) => ({
      id: r.id,
      user: r.user ?? null,
      kind: r.tus ? 'tus' : r.kind === 'partial' ? 'partial' : 'native',
      path: r.path ?? null,
      files: Number(r.files ?? 0),
      // A partial upload declares no size: what it holds is what was received.
      bytes: Number((r.kind === 'partial' && !r.tus ? r.received : r.bytes) ?? 0),
      createdAt: Number(r.created_at),
      updatedAt: Number(r.updated_at),
      expiresAt: Number(r.expires_at),
    }));
  }

  /** Deletes sessions whose expiry has passed. Returns how many. */
  async expireUploads(): Promise<number> {
    const now = this.meta.now();
    const expired = await this.meta.db.selectFrom('uploads').select('id').where('expires_at', '<=', now).execute();
    for (const { id } of expired) {
      await this.meta.db.transaction().execute(async (trx) => {
        await trx.deleteFrom('upload_entries').where('upload_id', '=', id).execute();
        await trx.deleteFrom('upload_files').where('upload_id', '=', id).execute();
        await trx.deleteFrom('uploads').where('id', '=', id).execute();
        await dropSessionProofs(trx, id);
      });
    }
    return expired.length;
  }

  /**
   * The owner's newest live partial upload of `path` (a resumable streamed upload that has
   * not been committed: SFTP's interrupted `put`), with the chunks it holds so far.
   */
  async findPartial(owner: string, path: string): Promise<PartialUpload | undefined> {
    const row = await this.hot.partial.first(this.meta.db, owner, path, this.meta.now());
    if (!row) return undefined;
    const entries = await this.meta.db.selectFrom('upload_entries').select(['hash', 'size']).where('upload_id', '=', row.id).orderBy('file_idx').orderBy('seq').execute();
    const chunks = entries.map((e) => ({ hash: e.hash, size: Number(e.size) }));
    return { id: row.id, path, chunks, size: chunks.reduce((a, c) => a + c.size, 0), createdAt: Number(row.created_at), updatedAt: Number(row.updated_at) };
  }

  /**
   * Deletes the owner's partial uploads of `path` that were last written before `before`
   * (abandoned ones a newer upload of the path supersedes; one still being written is left
   * alone), except `except`. Returns how many went; their chunks go with the next GC.
   */
  async dropPartials(owner: string, path: string, options: { before?: number; except?: string } = {}): Promise<number> {
    if (options.before !== undefined && options.except === undefined) return this.abortAll((await this.hot.partialsBefore.execute(this.meta.db, owner, path, options.before)).rows.map((r) => r.id));
    let q = this.meta.db
      .selectFrom('uploads as u')
      .innerJoin('upload_files as f', 'f.upload_id', 'u.id')
      .select('u.id')
      .where('f.path', '=', path)
      .where('u.owner', '=', owner)
      .where('u.kind', '=', 'partial');
    if (options.before !== undefined) q = q.where('u.updated_at', '<', options.before);
    if (options.except !== undefined) q = q.where('u.id', '!=', options.except);
    return this.abortAll((await q.execute()).map((r) => r.id));
  }

  private async abortAll(ids: string[]): Promise<number> {
    for (const id of ids) await this.abortUpload(id).catch(() => undefined); // gone already: fine
    return ids.length;
  }
}

/** The deepest path that is, or is an ancestor of, every one of `paths` (normalized). */
export function commonAncestor(paths: readonly string[]): string {
  if (paths.length === 0) return '/';
  let common = paths[0].split('/');
  for (const p of paths.slice(1)) {
    const segs = p.split('/');
    let i = 0;
    while (i < common.length && i < segs.length && common[i] === segs[i]) i++;
    common = common.slice(0, i);
  }
  return common.length <= 1 ? '/' : common.join('/');
}

/** Distinct hashes of a chunk list, in order of first appearance. */
export function distinctHashes(chunks: readonly ChunkRef[]): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const c of chunks) {
    if (!seen.has(c.hash)) {
      seen.add(c.hash);
      out.push(c.hash);
    }
  }
  return out;
}

/**
 * A session id: 128 random bits in base64url, never starting with `-` (one id in 64 did, and
 * `ferry admin uploads abort -Xy…` then read it as an option).
 */
export function newUploadId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}
