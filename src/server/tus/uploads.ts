/**
 * tus uploads on Ferry's upload sessions (the protocol side is in ./routes.ts).
 *
 * A tus upload is an unsealed upload session with the same id. Bytes arriving by PATCH are
 * cut by the server's chunker (the cuts a CLI upload of the same file makes, whatever the
 * PATCH boundaries: cuts depend only on the bytes since the last cut), stored as chunks of
 * their owner and appended to the session's manifest. The bytes after the last cut, not yet
 * a whole chunk, are the *tail*: kept in the chunk store under `tus/<id>/<T>` where T is
 * the number of bytes the manifest entries hold, so the offset is always
 *
 *     offset = bytes in the manifest entries + size of the tail object `tus/<id>/<that>`
 *
 * and a tail left behind by a crash between "entries appended" and "tail written" names an
 * older T and simply does not count: the offset falls back to a cut and the client sends
 * the rest again. Nothing is acknowledged before it is durable (chunks are fsynced, the
 * tail written atomically). The tail lives in the chunk store, not on one node's disk, so
 * an upload begun on one node can go on on another.
 *
 * When the last byte arrives the tail is cut as a file's end is and the session commits
 * atomically (quota, size limits and TTL as any upload); until then nothing is visible at
 * the path. A commit that fails (quota, a directory in the way) ends the upload for good
 * (its session is aborted), so a client never sees a complete offset for a file that was
 * not stored. Partial uploads (concatenation) complete without committing; a final upload
 * commits their manifests one after the other as one new file, then they go.
 *
 * One PATCH at a time per upload: a request for an upload that has one running interrupts
 * it (its client is presumably gone: tusd does the same), keeps what arrived, and goes on.
 * Nodes sharing a PostgreSQL database cannot interrupt each other's requests, so there a PATCH
 * (or a termination) also holds a claim on the upload, a lease `tus:<id>` (src/store/leases.ts),
 * and one arriving at another node meanwhile is refused with 423 (FERRY_ERR_LOCKED, Retry-After)
 * instead of appending the same bytes a second time after the first PATCH's.
 */
import type { FastifyRequest } from 'fastify';
import { createHash, randomBytes } from 'node:crypto';
import { addAbortSignal, Readable } from 'node:stream';
import { StreamChunker, type StreamChunk } from '../../algo/chunk-stream.js';
import { ChecksumMismatchError, ForbiddenError, IsADirectoryError, LockedError, NotFoundError, OffsetMismatchError, PathInvalidError, UploadNotFoundError, ValidationError } from '../../core/errors.js';
import { fileHashOf, type ChunkRef } from '../../core/manifest.js';
import { MAX_TTL_SECONDS } from '../../core/option-values.js';
import { isWithin, joinPath, normalizePath, parentPath } from '../../core/path.js';
import type { Entry } from '../../core/protocol.js';
import { checkWriteCondition, parseEtagList, type WriteCondition } from '../../core/write-conditions.js';
import type { CommitOptions } from '../../store/meta-store.js';
import { KeyedLock } from '../../store/keyed-lock.js';
import { TusStore, type TusRow } from '../../store/tus-store.js';
import type { ServerContext } from '../context.js';
import { authorize, authorizeScope, toServerPath, toUserPath, withinPrefix, type AuthContext } from '../authz.js';
import { commitSession } from '../commit.js';

/** Manifest entries are appended (and the quota checked) once per this many chunks. */
const APPEND_EVERY = 16;
/** Partial uploads one final upload may name: tus clients upload in a few parallel parts. */
const MAX_PARTS = 500;

export interface TusMetadata {
  [key: string]: string;
}

export interface CreateSpec {
  /** Upload-Length; undefined with Upload-Defer-Length: 1. */
  length?: number;
  metadata: TusMetadata;
  rawMetadata?: string;
  concat?: { kind: 'partial' } | { kind: 'final'; parts: string[] };
  /** The request it came in: the address the file's audit entry names. */
  request?: FastifyRequest;
}

/** An Upload-Checksum: a Node hash algorithm (sha1, md5, sha256, sha512) and the digest it must give. */
export interface Checksum {
  algorithm: string;
  digest: Buffer;
}

export interface AppendOptions {
  /** Upload-Checksum: the digest the body must have; nothing of a body that does not is kept. */
  checksum?: Checksum;
  /** Upload-Length given now (a deferred length). */
  length?: number;
  /** The request it came in: the address the file's audit entry names. */
  request?: FastifyRequest;
}

export interface UploadState {
  row: TusRow;
  offset: number;
}

const MAX_METADATA = 16 * 1024;

/** `key base64,key2 base64,flag` -> {key: value, flag: ''}. */
export function parseMetadata(raw: string | undefined): TusMetadata {
  const out: TusMetadata = {};
  if (raw === undefined || raw.trim() === '') return out;
  if (raw.length > MAX_METADATA) throw new ValidationError(`Upload-Metadata may have at most ${MAX_METADATA} characters`);
  for (const pair of raw.split(',')) {
    const [key, value, extra] = pair.trim().split(' ');
    if (!key || extra !== undefined || !/^[\x21-\x7e]+$/.test(key)) throw new ValidationError('Upload-Metadata must be "key base64value" pairs separated by commas');
    if (value !== undefined && !/^[A-Za-z0-9+/]*={0,2}$/.test(value)) throw new ValidationError(`Upload-Metadata ${key}: the value is not base64`);
    if (Object.hasOwn(out, key)) throw new ValidationError(`Upload-Metadata names ${key} twice`);
    out[key] = value === undefined ? '' : Buffer.from(value, 'base64').toString('utf8');
  }
  return out;
}

/**
 * Upload-Metadata `ifMatch` / `ifNoneMatch`: the conditions a one-request PUT takes as
 * If-Match / If-None-Match (docs/protocol.md, "Conditional writes"), for tus clients, which
 * set metadata but no headers of their own. Undefined without them.
 */
function conditionOf(metadata: TusMetadata): WriteCondition | undefined {
  const condition: WriteCondition = {};
  if (metadata.ifMatch !== undefined) condition.ifMatch = parseEtagList(metadata.ifMatch, 'If-Match');
  if (metadata.ifNoneMatch !== undefined) condition.ifNoneMatch = parseEtagList(metadata.ifNoneMatch, 'If-None-Match');
  return condition.ifMatch === undefined && condition.ifNoneMatch === undefined ? undefined : condition;
}

/** The commit's check of `condition` (in its transaction, CommitOptions.expect), none without one. */
function expectOf(auth: AuthContext, condition: WriteCondition | undefined): Pick<CommitOptions, 'expect'> {
  return condition ? { expect: (path: string, current: Entry | undefined) => checkWriteCondition(condition, toUserPath(auth, path), current) } : {};
}

/** Where a file lands: `path` (a directory, or the whole path without a name), then `relativePath`, `filename` or `name`. */
export function destinationOf(metadata: TusMetadata): string {
  const name = metadata.relativePath ?? metadata.filename ?? metadata.name;
  const base = metadata.path;
  if (name === undefined && base === undefined) throw new ValidationError('Upload-Metadata must name the file: filename (and optionally path, the directory)');
  const path = name === undefined ? normalizePath(base) : joinPath(normalizePath(base ?? '/'), name);
  if (path === '/') throw new PathInvalidError('the root is a directory: name a file');
  return path;
}

function intMeta(metadata: TusMetadata, key: string, min: number, max: number): number | undefined {
  const v = metadata[key];
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new ValidationError(`Upload-Metadata ${key} must be an integer from ${min} to ${max}`);
  return n;
}

export class TusUploads {
  readonly store: TusStore;
  private readonly locks = new KeyedLock();
  /** The PATCH running for each upload, to interrupt when another request for it arrives. */
  private readonly running = new Map<string, AbortController>();

  constructor(private readonly ctx: ServerContext) {
    this.store = new TusStore(ctx.meta);
  }

  /** The largest upload anyone may make (Tus-Max-Size); users may have lower limits. */
  maxSize(): number | null {
    return this.ctx.config.maxFileSize;
  }

  private get backend() {
    return this.ctx.chunks.backendOf(null);
  }

  private static tailKey(id: string, at: number): string {
    return `tus/${id}/${at}`;
  }

  // ---------------------------------------------------------------- creation

  async create(auth: AuthContext, spec: CreateSpec): Promise<TusRow> {
    authorizeScope(auth, 'write');
    const now = this.ctx.now();
    const ttlMs = this.ctx.config.uploadTtlMs;
    if (spec.concat?.kind === 'final') return this.concatenate(auth, spec, spec.concat.parts);
    const partial = spec.concat?.kind === 'partial';
    let server: string;
    const condition = conditionOf(spec.metadata);
    if (partial && condition) throw new ValidationError('a partial upload is never committed itself: give ifMatch / ifNoneMatch to the final upload');
    if (partial) {
      // Never committed: a name so that quota and chunk routing have a path, at the root of
      // what the creating token may write (its path prefix, or the home): the prefix check of
      // every later request (own) and what a final upload may make of it (partsFor) follow it.
      server = toServerPath(auth, joinPath(auth.pathPrefix ?? '/', `.ferry-tus-partial-${randomBytes(8).toString('hex')}`));
    } else {
      server = authorize(auth, 'write', destinationOf(spec.metadata));
      const existing = await this.ctx.meta.stat(server).catch(() => undefined);
      if (existing?.type === 'dir') throw new IsADirectoryError(`${toUserPath(auth, server)} is a directory`);
      // Checked now so that no byte is sent in vain; the commit decides (complete).
      if (condition) checkWriteCondition(condition, toUserPath(auth, server), existing);
    }
    const ttlSeconds = partial ? undefined : intMeta(spec.metadata, 'ttlSeconds', 1, MAX_TTL_SECONDS);
    const mtime = partial ? undefined : intMeta(spec.metadata, 'mtime', 0, 8.64e15);
    if (spec.length !== undefined) this.ctx.quota.checkFileSize(auth, server, spec.length);
    // In the creation's transaction, after the user's row lock: checked before it, creations at
    // once all passed (8 sessions for a user allowed 5, on PostgreSQL). It reserves nothing:
    // the bytes are reserved as they arrive (reserveGrowth).
    const check = this.ctx.quota.createCheck(auth, [{ path: server, ...(spec.length !== undefined ? { size: spec.length } : {}) }]);
    const up = await this.ctx.meta.createUpload(
      { owner: auth.userId, files: [{ path: server, ...(ttlSeconds !== undefined ? { ttlSeconds } : {}) }], noOverwrite: false, ttlMs },
      { check: async (trx) => ((await check(trx)), 0) },
    );
    const row: TusRow = {
      id: up.id,
      owner: auth.userId,
      path: server,
      length: spec.length ?? null,
      metadata: spec.rawMetadata ?? null,
      concat: partial ? 'partial' : null,
      mtime: mtime ?? null,
      ttl_ms: ttlSeconds === undefined ? null : ttlSeconds * 1000,
      created_at: now,
      expires_at: up.expiresAt,
      done_at: null,
    };
    await this.store.insert(row);
    // An empty file is complete as soon as it is announced.
    if (row.length === 0) await this.locks.run(row.id, () => this.complete(auth, row, spec.request));
    return (await this.store.get(row.id)) ?? row;
  }

  /** A final upload: the partial uploads' manifests, in order, committed as one file. */
  private async concatenate(auth: AuthContext, spec: CreateSpec, parts: string[]): Promise<TusRow> {
    if (parts.length === 0 || parts.length > MAX_PARTS) throw new ValidationError(`Upload-Concat: final needs 1 to ${MAX_PARTS} partial uploads, not ${parts.length}`);
    // A part named twice would count its bytes twice for one upload of them (450 times in one
    // HTTP/1.1 header, more in HTTP/2's); tus clients name each part once.
    const seen = new Set<string>();
    const twice = parts.find((id) => seen.size === seen.add(id).size);
    if (twice !== undefined) throw new ValidationError(`Upload-Concat names the partial upload ${twice} more than once; name each part once`);
    const target = destinationOf(spec.metadata);
    const server = authorize(auth, 'write', target);
    const chunks: ChunkRef[] = [];
    let size = 0;
    const rows = await this.partsFor(auth, parts, target);
    for (const row of rows) {
      chunks.push(...(await this.ctx.meta.uploadEntries(row.id, 0)));
      size += Number(row.length);
    }
    const ttlSeconds = intMeta(spec.metadata, 'ttlSeconds', 1, MAX_TTL_SECONDS);
    const mtime = intMeta(spec.metadata, 'mtime', 0, 8.64e15);
    await this.ctx.quota.checkCreate(auth, [{ path: server, size }]);
    const hash = fileHashOf(chunks);
    const up = await this.ctx.meta.createUpload({
      owner: auth.userId,
      files: [{ path: server, size, hash, chunks, ...(mtime !== undefined ? { mtime } : {}), ...(ttlSeconds !== undefined ? { ttlSeconds } : {}) }],
      noOverwrite: false,
      ttlMs: this.ctx.config.uploadTtlMs,
    });
    try {
      await commitSession(this.ctx, spec.request ?? null, auth, up.id, {}, { check: this.ctx.quota.commitCheck(auth), ...expectOf(auth, conditionOf(spec.metadata)) }, 'tus');
    } catch (err) {
      await this.ctx.meta.abortUpload(up.id).catch(() => undefined);
      throw err;
    }
    const now = this.ctx.now();
    const row: TusRow = {
      id: up.id,
      owner: auth.userId,
      path: server,
      length: size,
      metadata: spec.rawMetadata ?? null,
      concat: `final;${parts.join(' ')}`,
      mtime: mtime ?? null,
      ttl_ms: ttlSeconds === undefined ? null : ttlSeconds * 1000,
      created_at: now,
      expires_at: now + this.ctx.config.uploadTtlMs,
      done_at: now,
    };
    await this.store.insert(row);
    // The parts are spent: their sessions and rows go (RFC-like "MAY delete" of the tus spec).
    for (const p of rows) await this.discard(p);
    return row;
  }

  /**
   * The partial uploads a final upload to `target` (a user path) may join: the caller's own,
   * complete, inside the caller's path prefix, and made by a token that could write `target`
   * (a partial sits at the root of its creator's prefix: one made by a `/pub` token goes into
   * no file outside `/pub`). FERRY_ERR_VALIDATION / FERRY_ERR_FORBIDDEN.
   */
  private async partsFor(auth: AuthContext, parts: readonly string[], target: string): Promise<TusRow[]> {
    const rows: TusRow[] = [];
    for (const id of parts) {
      const row = await this.store.get(id);
      if (!row || row.owner !== auth.userId || row.concat !== 'partial') throw new ValidationError(`Upload-Concat names ${id}, which is not one of your partial uploads`);
      const placed = toUserPath(auth, TusUploads.placeOf(auth, row));
      if (!withinPrefix(auth, placed)) throw new ForbiddenError(`the partial upload ${id} was made outside this token's path prefix ${auth.pathPrefix}`, { details: { id } });
      const madeFor = parentPath(placed);
      if (!isWithin(target, madeFor)) throw new ForbiddenError(`the partial upload ${id} was made by a token limited to ${madeFor}: it goes into no file outside it, not ${target}`, { details: { id, path: target } });
      if (row.done_at === null) throw new ValidationError(`the partial upload ${id} is not complete`);
      rows.push(row);
    }
    return rows;
  }

  /** The server path an upload writes (a partial: where it was placed; from before placing, the home's root). */
  private static placeOf(auth: AuthContext, row: TusRow): string {
    return row.path ?? toServerPath(auth, '/.ferry-tus-partial');
  }

  // ---------------------------------------------------------------- state

  /** The caller's upload; anyone else's does not exist (404), as with upload sessions. */
  async own(auth: AuthContext, id: string): Promise<TusRow> {
    authorizeScope(auth, 'write');
    const row = /^[A-Za-z0-9_-]{1,64}$/.test(id) ? await this.store.get(id) : undefined;
    if (!row || row.owner !== auth.userId || Number(row.expires_at) <= this.ctx.now()) throw new UploadNotFoundError(`upload ${id} not found (unknown, terminated or expired)`, { details: { id } });
    if (auth.pathPrefix !== null && !withinPrefix(auth, toUserPath(auth, TusUploads.placeOf(auth, row)))) {
      throw new ForbiddenError(`upload ${id} writes outside this token's path prefix ${auth.pathPrefix}`);
    }
    return row;
  }

  /** HEAD: the upload and its offset (after interrupting a PATCH that may still hold it). */
  async state(auth: AuthContext, id: string): Promise<UploadState> {
    await this.own(auth, id);
    this.running.get(id)?.abort();
    return this.locks.run(id, async () => {
      const row = await this.own(auth, id);
      return { row, offset: await this.offsetOf(row) };
    });
  }

  private async offsetOf(row: TusRow): Promise<number> {
    if (row.done_at !== null) return Number(row.length);
    await this.ctx.meta.getUpload(row.id); // FERRY_ERR_UPLOAD_NOT_FOUND once its session has expired
    const entries = await this.ctx.meta.uploadFileBytes(row.id, 0);
    return entries + (await this.tailSize(row.id, entries));
  }

  private async tailSize(id: string, at: number): Promise<number> {
    try {
      return (await this.backend.stat(TusUploads.tailKey(id, at))).size;
    } catch (err) {
      if (err instanceof NotFoundError) return 0;
      throw err;
    }
  }

  private async readTail(id: string, at: number): Promise<Buffer> {
    try {
      const parts: Buffer[] = [];
      for await (const piece of await this.backend.read(TusUploads.tailKey(id, at))) parts.push(piece as Buffer);
      return Buffer.concat(parts);
    } catch (err) {
      if (err instanceof NotFoundError) return Buffer.alloc(0);
      throw err;
    }
  }

  /** Deletes every tail object of an upload (best effort: an orphan costs a few MiB until the upload's sweep). */
  private async dropTails(id: string, keep?: number): Promise<void> {
    try {
      for await (const e of this.backend.list(`tus/${id}`, { recursive: true })) {
        if (e.type === 'file' && e.key !== (keep === undefined ? '' : TusUploads.tailKey(id, keep))) await this.backend.delete(e.key);
      }
    } catch {
      // Listing or deleting failed: the sweep tries again when the upload expires.
    }
  }

  // ---------------------------------------------------------------- PATCH

  /**
   * Appends a PATCH body at `offset` (409 unless it is the current offset). Bytes that
   * arrived are kept even if the client goes away midway (tus lets it resume from the
   * offset a HEAD then reports); with a checksum, the body counts only whole and verified.
   */
  async append(auth: AuthContext, id: string, offset: number, body: AsyncIterable<Uint8Array> & Readable, options: AppendOptions = {}): Promise<UploadState> {
    await this.own(auth, id);
    this.running.get(id)?.abort();
    return this.locks.run(id, async () => {
      const controller = new AbortController();
      this.running.set(id, controller);
      try {
        return await this.claimed(id, async (hold) => this.appendLocked(auth, await this.own(auth, id), offset, addAbortSignal(controller.signal, body), options, hold));
      } finally {
        if (this.running.get(id) === controller) this.running.delete(id);
      }
    });
  }

  /**
   * Runs `fn` holding this node's claim on upload `id` across the nodes of a cluster (see the
   * file's comment); `hold` renews it and throws FERRY_ERR_LOCKED if it was lost (lapsed while
   * this node stalled, and taken by another). One node on SQLite has its in-process lock only.
   */
  private async claimed<T>(id: string, fn: (hold: () => Promise<void>) => Promise<T>): Promise<T> {
    const { meta } = this.ctx;
    if (meta.dialect === 'sqlite') return fn(async () => undefined);
    const name = `tus:${id}`;
    const busy = () => new LockedError('another node is receiving a PATCH of this upload: ask its offset again (HEAD) and retry when it ends', { retryAfterMs: 1000, details: { upload: id } });
    // The setting `tusClaim`: the PATCH holding the claim renews it every third of this while
    // it runs and before each write that moves the offset. So after a node dies mid-PATCH,
    // the others refuse the upload's PATCHes (423) for this long at most.
    const claimMs = this.ctx.config.tusClaimMs;
    const r = await meta.leases.run(name, claimMs, () =>
      fn(async () => {
        if (!(await meta.leases.acquire(name, claimMs))) throw busy();
      }),
    );
    if (!r.ran) throw busy();
    return r.result;
  }

  private async appendLocked(auth: AuthContext, row: TusRow, offset: number, body: Readable, options: AppendOptions, hold: () => Promise<void>): Promise<UploadState> {
    const { meta, quota } = this.ctx;
    if (row.concat !== null && row.concat !== 'partial') throw new ForbiddenError('a final upload (concatenation) takes no PATCH');
    const current = await this.offsetOf(row);
    if (offset !== current) throw new OffsetMismatchError(`Upload-Offset is ${offset}, the upload has ${current} bytes`, { details: { offset: current } });
    if (row.done_at !== null) {
      body.resume();
      return { row, offset: current };
    }
    const server = TusUploads.placeOf(auth, row);
    let length = row.length === null ? null : Number(row.length);
    if (options.length !== undefined) {
      if (length !== null && options.length !== length) throw new ValidationError(`Upload-Length is ${length} already`);
      if (options.length < current) throw new ValidationError(`Upload-Length ${options.length} is less than the ${current} bytes received`);
      await quota.reserveGrowth(auth, row.id, server, options.length);
      length = options.length;
      await this.store.update(row.id, { length });
    }

    const entriesBefore = await meta.uploadFileBytes(row.id, 0);
    const chunker = new StreamChunker(this.ctx.config.chunking);
    try {
      return await this.receive(auth, row, server, body, options, { current, length, entriesBefore, chunker, hold });
    } finally {
      chunker.release();
    }
  }

  /** The body of {@link appendLocked}: cut, store and append what arrives, keep the tail, complete at the end. */
  private async receive(
    auth: AuthContext,
    row: TusRow,
    server: string,
    body: Readable,
    options: AppendOptions,
    at: { current: number; length: number | null; entriesBefore: number; chunker: StreamChunker; hold: () => Promise<void> },
  ): Promise<UploadState> {
    const { meta, quota } = this.ctx;
    const { current, length, entriesBefore, chunker, hold } = at;
    const hasher = options.checksum ? createHash(options.checksum.algorithm) : undefined;
    let pending: ChunkRef[] = [];
    let flushed = entriesBefore;
    const put = async (c: StreamChunk) => {
      await this.ctx.chunks.put(c.hash, c.size, Readable.from([c.data]), undefined, { owner: auth.userId, path: server });
      pending.push({ hash: c.hash, size: c.size });
    };
    const flush = async () => {
      if (pending.length === 0) return;
      const bytes = pending.reduce((a, c) => a + c.size, 0);
      await quota.reserveGrowth(auth, row.id, server, flushed + bytes);
      await hold();
      await meta.appendEntries(row.id, 0, pending, this.ctx.config.uploadTtlMs, { check: quota.entriesCheck(auth) });
      flushed += bytes;
      pending = [];
    };
    for (const c of chunker.push(await this.readTail(row.id, entriesBefore))) await put(c);

    // Reading fails when the client goes away (or another request interrupts): keep what came.
    let received = 0;
    let interrupted: unknown;
    const pieces = body[Symbol.asyncIterator]();
    for (;;) {
      let next: IteratorResult<Buffer>;
      try {
        next = (await pieces.next()) as IteratorResult<Buffer>;
      } catch (err) {
        interrupted = err;
        break;
      }
      if (next.done) break;
      const piece = next.value;
      if (length !== null && current + received + piece.length > length) throw new ValidationError(`the body goes past Upload-Length (${length} bytes)`);
      received += piece.length;
      this.ctx.metrics.chunkBodyBytesReceived.inc(piece.length);
      quota.checkFileSize(auth, server, current + received);
      hasher?.update(piece);
      for (const c of chunker.push(piece)) {
        await put(c);
        // With a checksum nothing may count before the whole body is verified.
        if (!hasher && pending.length >= APPEND_EVERY) await flush();
      }
    }
    if (hasher) {
      if (interrupted !== undefined) throw interrupted;
      if (!hasher.digest().equals(options.checksum!.digest)) throw new ChecksumMismatchError('the body does not match Upload-Checksum: nothing of it was kept');
    }
    const done = length !== null && current + received === length;
    if (done) for (const c of chunker.finish()) await put(c);
    await flush();
    const rest = chunker.rest();
    await hold();
    if (!done && rest.length > 0) await this.backend.write(TusUploads.tailKey(row.id, flushed), rest, { size: rest.length, durable: this.ctx.config.durable });
    if (flushed !== entriesBefore || done) await this.dropTails(row.id, done ? undefined : flushed);
    if (done) return { row: await this.complete(auth, { ...row, length }, options.request), offset: length! };
    // The session's expiry moves on with every PATCH (a PATCH that only grows the tail appends no entry).
    const expiresAt = (await meta.getUpload(row.id, this.ctx.config.uploadTtlMs)).expiresAt;
    await this.store.update(row.id, { expires_at: expiresAt });
    const updated = { ...row, length, expires_at: expiresAt };
    if (interrupted !== undefined) throw interrupted;
    return { row: updated, offset: current + received };
  }

  /** All bytes are in: commit the file (or, for a partial upload, wait for the final one). */
  private async complete(auth: AuthContext, row: TusRow, request?: FastifyRequest): Promise<TusRow> {
    const now = this.ctx.now();
    const keepUntil = now + this.ctx.config.uploadTtlMs;
    if (row.concat !== 'partial') {
      // The target again at the commit, with the request that completes it (own() checked its prefix).
      authorize(auth, 'write', toUserPath(auth, row.path!));
      try {
        const condition = conditionOf(parseMetadata(row.metadata ?? undefined));
        await commitSession(this.ctx, request ?? null, auth, row.id, { size: Number(row.length), mtime: row.mtime === null ? now : Number(row.mtime) }, { check: this.ctx.quota.commitCheck(auth), ...expectOf(auth, condition) }, 'tus');
      } catch (err) {
        // Over for good: a complete offset must never stand for a file that was not stored.
        await this.discard(row);
        throw err;
      }
    }
    await this.store.markDone(row.id, now, keepUntil);
    return { ...row, done_at: now, expires_at: keepUntil };
  }

  // ---------------------------------------------------------------- termination and expiry

  /** DELETE: the upload goes, and with it everything it received (nothing was visible). */
  async terminate(auth: AuthContext, id: string): Promise<void> {
    await this.own(auth, id);
    this.running.get(id)?.abort();
    await this.locks.run(id, async () => this.claimed(id, async () => this.discard(await this.own(auth, id))));
  }

  /** An admin's abort (`DELETE /api/v1/admin/uploads/:id`): whoever owns it; false when it is not a tus upload. */
  async terminateAny(id: string): Promise<boolean> {
    if (!(await this.store.get(id))) return false;
    this.running.get(id)?.abort();
    await this.locks.run(id, async () => {
      const row = await this.store.get(id);
      if (row) await this.discard(row);
    });
    return true;
  }

  /** Removes an upload's session (if any), tails and row. */
  private async discard(row: TusRow): Promise<void> {
    await this.ctx.meta.abortUpload(row.id).catch(() => undefined);
    await this.dropTails(row.id);
    await this.store.delete(row.id);
  }

  /** A removed user's uploads: each goes as a DELETE would take it (a PATCH in flight is cut off). */
  async terminateAllOf(userId: string): Promise<void> {
    for (const id of await this.store.idsOf(userId)) await this.terminateAny(id);
  }

  /** Removes uploads past their expiry (their sessions have expired too); returns how many. */
  async sweep(): Promise<number> {
    const rows = await this.store.expired(this.ctx.now());
    for (const row of rows) await this.locks.run(row.id, () => this.discard(row));
    return rows.length;
  }
}
