/**
 * A Ferry server as a StorageBackend (`ferry:/path`, `ferry://host:port/path`), so that the
 * sync engine and anything else written against the contract can use it like a disk.
 *
 * Keys map to server paths below `root`. Bytes travel through the chunk protocol: a write
 * chunks the data (FastCDC with the server's parameters) and sends only the chunks the
 * server lacks, so an unchanged or partly changed file costs little; copy and move are
 * server-side (no bytes); `setMtime` re-commits the file's manifest with a new time (no
 * bytes either).
 *
 * Bulk abilities (core/storage-bulk.ts), which the sync engine uses when present:
 * - `list` of a tree is the server's recursive listing: 10,000 entries with size, mtime and
 *   file hash per request;
 * - `writeBatch`: many small files in one upload session (their chunks in packs, one commit);
 * - `readBatch`: many small files' chunks in one `POST /chunks/batch`, from the chunk lists
 *   the last listing carried (servers with the `chunks-batch` feature);
 * - `treeHashParams`: entries carry the Ferry file hash (`treeHash`), which the other side of a
 *   comparison can compute from its own bytes;
 * - `treeDigest`: the digest of a recursive listing in one short answer (servers with the
 *   `list-digest` feature), so that a no-change sync need not fetch the listing.
 */
import { Readable } from 'node:stream';
import {
  NotFoundError,
  PathInvalidError,
  PreconditionFailedError,
  ProtocolError,
  RangeNotSatisfiableError,
  UnsupportedError,
  isFerryError,
  throwIfAborted,
} from '../core/errors.js';
import { fileHashOf, type ChunkingParams, type ChunkRef } from '../core/manifest.js';
import { isWithin, joinPath, normalizeKey, normalizePath, parentPath, relativePath, trimTrailingSlashes } from '../core/path.js';
import { E2E_MARKER_NAME, isE2eName } from '../core/e2e-layout.js';
import { markerIn } from './e2e/locate.js';
import { API_PREFIX, encodePathForUrl, PACK_FRAME_HEADER_BYTES, type Entry, type UploadFileSpec } from '../core/protocol.js';
import type {
  BackendFeatures,
  Copier,
  DirectoryMaker,
  DirEntry,
  Identifier,
  KeyIdentity,
  ListOptions,
  Mover,
  MtimeSetter,
  ObjectInfo,
  OpOptions,
  RangeReader,
  ReadOptions,
  StorageBackend,
  WriteBody,
  WriteOptions,
} from '../core/storage.js';
import { bodyChunks, checkSize, collectRange, discardBody, failOnAbort } from '../backends/shared.js';
import type { BatchReader, BatchReadLimits, BatchWriteItem, BatchWriteLimits, BatchWriter, TreeDigestSource, TreeHashed, TreeHashSource } from '../core/storage-bulk.js';
import { EMPTY_TREE_DIGEST } from '../core/tree-digest.js';
import { me } from './account-api.js';
import { FerryClient } from './client.js';
import { canBatch } from './get.js';
import { chunkBuffer } from '../algo/file-hash.js';
import { putStream } from './put.js';
import { Semaphore } from './concurrency.js';
import { ChunkSender, PackBuffers, TransferContext } from './transfer.js';

export interface FerryBackendOptions {
  client: FerryClient;
  /** Server path the keys are relative to (default `/`). */
  root?: string;
  /** Close the client with the backend (default true). */
  ownsClient?: boolean;
}

/** Bytes of small files in one batch session: a bound on memory, as putTree's batches. */
const BATCH_BYTES = 64 * 1024 * 1024;
/** Bytes of small files in one chunk batch: as getTree's, about a MiB. */
const READ_BATCH_BYTES = 1024 * 1024;
/** Chunk lists kept from listings for readBatch (about 150 bytes each); the oldest go first. */
const LISTED_MAX = 200_000;

type FerryInfo = ObjectInfo & TreeHashed;

function infoOf(key: string, e: Entry): FerryInfo {
  return { key, size: e.size, mtime: e.mtime, treeHash: e.hash };
}

/** The whole body, with the contract's size, abort and failure rules (the shared body loop). */
async function collectBody(body: WriteBody, what: string, size?: number, signal?: AbortSignal): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const piece of bodyChunks(body, { size, signal, what })) parts.push(Buffer.from(piece));
  return Buffer.concat(parts);
}

export class FerryBackend implements StorageBackend, Copier, Mover, MtimeSetter, DirectoryMaker, RangeReader, BatchWriter, BatchReader, TreeHashSource, TreeDigestSource, Identifier {
  readonly name: string;
  readonly client: FerryClient;
  readonly root: string;
  private readonly ownsClient: boolean;
  /** Chunk lists of small files from the listings, by key: what readBatch asks the server for. */
  private readonly listed = new Map<string, ChunkRef[]>();
  /**
   * The request slots of writeBatch's sessions, shared by the batches in flight (a sync runs
   * three), and their packs' bodies (up to 16 MiB each), one per slot, reused from one batch to
   * the next. With slots of their own, three batches had up to nine packs in flight, of which
   * three bodies were kept and the others left to the collector and allocated again
   * (benchmarks/results/issue-15-speed.md, branch tree5a).
   */
  private readonly batchSlots: Semaphore;
  private readonly packBuffers: PackBuffers;
  /** The user's home on the server (asked once, for identityOf). */
  private home?: Promise<string>;
  /** By server folder: the end-to-end folder (vault) it is in or is, if any (see {@link vaultOf}). */
  private readonly vaults = new Map<string, Promise<string | undefined>>();
  /**
   * Folders listed whole and recursively, and the folders those listings showed holding an
   * end-to-end marker: a folder inside such a tree (listed then, or made since) that held
   * none has none to ask for.
   */
  private readonly listedTrees = new Set<string>();
  private readonly marked = new Set<string>();

  constructor(options: FerryBackendOptions) {
    this.client = options.client;
    this.root = normalizePath(options.root ?? '/');
    this.ownsClient = options.ownsClient ?? true;
    this.batchSlots = new Semaphore(this.client.parallel);
    this.packBuffers = new PackBuffers(this.client.parallel);
    this.name = `ferry:${this.client.server}${this.root === '/' ? '' : this.root}`;
  }

  /** Copy, move and mtime changes are metadata operations; directories are real; hashes are Ferry file hashes (see treeHashParams). */
  features(): BackendFeatures {
    return {
      copy: true,
      move: true,
      rangeRead: true,
      hashes: [],
      mtime: true,
      setMtime: true,
      mtimePrecisionMs: 1,
      unknownSizeWrite: true,
      caseSensitive: true,
      retriesRequests: true,
      lookAlikeNames: 'refused',
      directories: 'real',
      persistent: true,
      network: true,
    };
  }

  /**
   * Identifier: the server's URL, and the key's server path (the user's home joined to the
   * path the user sees): two remote names for one server, or two users sharing a folder, compare equal.
   */
  async identityOf(key: string): Promise<KeyIdentity> {
    // Through `http` directly: a refused token is explained here, as the client's own calls are.
    this.home ??= me(this.client).then(
      (m) => m.home,
      (err: unknown) => {
        throw this.client.explainFailure(err);
      },
    );
    const [home, p] = [await this.home, this.pathOf(key)];
    const url = new URL(this.client.server);
    return { store: `ferry:${url.origin}${trimTrailingSlashes(url.pathname)}`, path: home === '/' ? p : p === '/' ? home : home + p };
  }

  /** The server path of a key ('' is the root). */
  private pathOf(key: string): string {
    const k = normalizeKey(key);
    return k === '' ? this.root : joinPath(this.root, k);
  }

  private objectPath(key: string): { k: string; path: string } {
    const k = normalizeKey(key);
    if (k === '') throw new PathInvalidError('the root is not an object');
    return { k, path: joinPath(this.root, k) };
  }

  /**
   * The key of a path the server listed. A path that is not normalized or not below the
   * root (`..`, another root) is refused: a hostile server must not steer where a sync
   * writes on the other side.
   */
  private keyOf(path: string): string {
    if (typeof path === 'string' && path !== this.root && normalizePath(path) === path && isWithin(path, this.root)) {
      return this.root === '/' ? path.slice(1) : path.slice(this.root.length + 1);
    }
    throw new PathInvalidError(`the server listed ${JSON.stringify(path)}, which is not a path inside ${this.root}: refused`);
  }

  /**
   * Refuses, before any request, a path with a plain name below an end-to-end folder (vault).
   * There the server knows only encrypted names, and a key here is a plain name from the
   * other side of a sync or check (a local file's): asking for it would hand the server the
   * name the vault hides. Stored (encrypted) names pass: copying a vault's ciphertext
   * elsewhere and back is fine.
   */
  private async sendable(path: string, signal?: AbortSignal): Promise<void> {
    const dir = await this.vaultOf(parentPath(path), signal);
    if (dir === undefined) return;
    const names = relativePath(path, dir).split('/');
    // The marker (.ferry-e2e) is the vault's own, at its top.
    if (names.every((n, i) => isE2eName(n) || (i === 0 && names.length === 1 && n === E2E_MARKER_NAME))) return;
    throw new UnsupportedError(`${path} lies in the end-to-end folder ${dir}, whose names are encrypted: it is not asked for by a plain name (the server would learn it); use ferry get/put/ls, which encrypt names, for what is in it`, { details: { path, vault: dir } });
  }

  /**
   * The vault a server folder is in or is: its parent's, else its own marker's (one small
   * request per folder, remembered; none for folders a recursive listing showed without a
   * marker). From the root down and never below a vault, so no plain name in one is asked for.
   */
  private inListedTree(dir: string): boolean {
    for (let d = dir; ; d = parentPath(d)) {
      if (this.listedTrees.has(d)) return true;
      if (d === '/') return false;
    }
  }

  private vaultOf(dir: string, signal?: AbortSignal): Promise<string | undefined> {
    if (dir === '/') return Promise.resolve(undefined);
    let found = this.vaults.get(dir);
    if (!found) {
      found = (async () => {
        const above = await this.vaultOf(parentPath(dir), signal);
        if (above !== undefined || (this.inListedTree(dir) && !this.marked.has(dir))) return above;
        return (await markerIn(this.client, dir, signal))?.marker.vault ? dir : undefined;
      })();
      found.catch(() => this.vaults.delete(dir));
      this.vaults.set(dir, found);
    }
    return found;
  }

  async stat(key: string, options: OpOptions = {}): Promise<FerryInfo> {
    const { k, path } = this.objectPath(key);
    await this.sendable(path, options.signal);
    const e = await this.client.stat(path, options);
    if (e.type !== 'file') throw new NotFoundError(`${k} is a directory`);
    return infoOf(k, e);
  }

  /**
   * The bytes, streamed from `GET /files` (verified chunk by chunk by the server); a range with
   * `Range`. A whole file comes zstd-compressed when it compressed at rest and the client
   * speaks zstd (the stored frames as they are: no work for the server), decompressed here.
   */
  async read(key: string, options: ReadOptions = {}): Promise<Readable> {
    const { k, path } = this.objectPath(key);
    const { offset = 0, length, signal } = options;
    await this.sendable(path, signal);
    const headers: Record<string, string> = {};
    if (offset === 0 && length === undefined && (await this.client.speaksZstd(signal))) headers['accept-encoding'] = 'zstd';
    if (offset > 0 || length !== undefined) {
      if (length === 0) {
        const st = await this.stat(k, { signal });
        if (offset > st.size) throw new RangeNotSatisfiableError(`${k}: offset ${offset} is past the end`);
        return Readable.from([]);
      }
      headers.range = `bytes=${offset}-${length === undefined ? '' : offset + length - 1}`;
    }
    try {
      const body = await this.client.http.request(
        { method: 'GET', path: `${API_PREFIX}/files${encodePathForUrl(path)}`, headers, signal, accept: [416] },
        async (res) => {
          if (res.statusCode === 416) {
            await res.body.dump();
            const st = await this.stat(k, { signal });
            if (offset === st.size) return Readable.from([]);
            throw new RangeNotSatisfiableError(`${k}: offset ${offset} is past the end (${st.size} bytes)`);
          }
          const body = res.body as unknown as Readable;
          const coding = String(res.headers['content-encoding'] ?? '').toLowerCase();
          if (coding === '' || coding === 'identity') return body;
          if (coding !== 'zstd' || headers['accept-encoding'] === undefined) {
            body.destroy();
            throw new ProtocolError(`${k}: the server answered in Content-Encoding ${coding}, which was not asked for`);
          }
          return decompressed(body);
        },
      );
      // undici destroys its body with a DOMException AbortError before any listener added
      // now could act: a stream of our own is failed first, with FERRY_ERR_ABORTED.
      return signal ? failOnAbort(Readable.from(body, { objectMode: false }), signal, k) : body;
    } catch (err) {
      if (isFerryError(err, 'FERRY_ERR_IS_A_DIRECTORY')) throw new NotFoundError(`${k} is a directory`, { cause: err });
      throw this.client.explainFailure(err);
    }
  }

  async readRange(key: string, offset: number, length: number, options: OpOptions = {}): Promise<Buffer> {
    return collectRange(this, key, offset, length, options.signal);
  }

  /**
   * Small bodies of known size go as a one-file batch session (sealed manifest, packs); others
   * are chunked as they stream (putStream), only chunks the server lacks being sent.
   */
  async write(key: string, body: WriteBody, options: WriteOptions = {}): Promise<FerryInfo> {
    let k: string;
    let path: string;
    try {
      ({ k, path } = this.objectPath(key));
      checkSize(options.size, k);
      throwIfAborted(options.signal);
      await this.sendable(path, options.signal);
    } catch (err) {
      discardBody(body);
      throw err;
    }
    const { signal, size } = options;
    const caps = await this.client.capabilities({ signal });
    if (size !== undefined && size <= caps.chunking.maxSize) {
      const data = await collectBody(body, k, size, signal);
      const [info] = await this.writeBatch([{ key: k, data, mtime: options.mtime }], { signal });
      return info as FerryInfo;
    }
    // Chunked as it streams; the server keeps the old file until the commit, which never
    // happens if the body fails, overruns or the signal aborts.
    await putStream(this.client, bodyChunks(body, { size, signal, what: k }), path, { mtime: options.mtime ?? Date.now(), signal });
    const e = await this.client.stat(path, { signal });
    return infoOf(k, e);
  }

  /** Deletes a file; a missing key or a directory is left as is (the contract's idempotent delete). */
  async delete(key: string, options: OpOptions = {}): Promise<void> {
    const { path } = this.objectPath(key);
    await this.sendable(path, options.signal);
    const e = await this.client.statIfExists(path, options);
    if (e === undefined || e.type !== 'file') return;
    try {
      await this.client.remove(path, options);
    } catch (err) {
      if (!isFerryError(err, 'FERRY_ERR_NOT_FOUND')) throw err;
    }
  }

  async *list(prefix: string, options: ListOptions = {}): AsyncIterable<DirEntry & TreeHashed> {
    const path = this.pathOf(prefix);
    await this.sendable(path, options.signal);
    try {
      // Chunk lists make later reads of small files cheap (batches); a listing nobody reads
      // from (a sync's destination) goes without them: a tenth of its bytes for small files.
      const chunks = options.willRead !== false && canBatch(await this.client.capabilities({ signal: options.signal }));
      // A whole recursive listing tells which folders hold an end-to-end marker (see vaultOf).
      const marked: string[] = [];
      for await (const e of this.client.list(path, { recursive: options.recursive, chunks, signal: options.signal })) {
        const key = this.keyOf(e.path);
        if (e.chunkList) this.remember(key, e.chunkList);
        if (e.name === E2E_MARKER_NAME) marked.push(parentPath(e.path));
        yield e.type === 'file' ? { key, type: 'file', size: e.size, mtime: e.mtime, treeHash: e.hash } : { key, type: 'dir', mtime: e.mtime };
      }
      if (options.recursive) {
        for (const d of marked) this.marked.add(d);
        this.listedTrees.add(path);
      }
    } catch (err) {
      if (isFerryError(err, 'FERRY_ERR_NOT_FOUND') || isFerryError(err, 'FERRY_ERR_NOT_A_DIRECTORY')) {
        // Nothing there: no marker either, in whatever is made there next.
        if (options.recursive && isFerryError(err, 'FERRY_ERR_NOT_FOUND')) this.listedTrees.add(path);
        return;
      }
      throw err;
    }
  }

  /** The server's digest of the recursive listing (`list-digest`); undefined from servers without it. */
  async treeDigest(prefix: string, options: OpOptions = {}): Promise<string | undefined> {
    const { signal } = options;
    if (!(await this.client.capabilities({ signal })).features.includes('list-digest')) return undefined;
    await this.sendable(this.pathOf(prefix), signal);
    try {
      return await this.client.listDigest(this.pathOf(prefix), { signal });
    } catch (err) {
      // As `list`: nothing there lists as nothing (and holds no end-to-end marker).
      if (isFerryError(err, 'FERRY_ERR_NOT_FOUND')) this.listedTrees.add(this.pathOf(prefix));
      if (isFerryError(err, 'FERRY_ERR_NOT_FOUND') || isFerryError(err, 'FERRY_ERR_NOT_A_DIRECTORY')) return EMPTY_TREE_DIGEST;
      throw err;
    }
  }

  async copy(from: string, to: string, options: OpOptions = {}): Promise<FerryInfo> {
    const a = this.objectPath(from);
    const b = this.objectPath(to);
    await this.sendable(a.path, options.signal);
    await this.sendable(b.path, options.signal);
    if (a.path === b.path) return this.stat(a.k, options);
    return infoOf(b.k, await this.client.copy(a.path, b.path, { overwrite: true, signal: options.signal }));
  }

  async move(from: string, to: string, options: OpOptions = {}): Promise<FerryInfo> {
    const a = this.objectPath(from);
    const b = this.objectPath(to);
    await this.sendable(a.path, options.signal);
    await this.sendable(b.path, options.signal);
    if (a.path === b.path) return this.stat(a.k, options);
    return infoOf(b.k, await this.client.move(a.path, b.path, { overwrite: true, signal: options.signal }));
  }

  /** Re-commits the file's manifest with the new time: every chunk is already there, no bytes travel. */
  async setMtime(key: string, mtime: number, options: OpOptions = {}): Promise<void> {
    const { path } = this.objectPath(key);
    const { signal } = options;
    await this.sendable(path, signal);
    const m = await this.client.manifest(path, { signal });
    const session = await this.client.createUpload({ path, size: m.size, hash: m.hash, mtime: Math.round(mtime), mode: m.mode, chunks: m.chunks }, { signal });
    if (session.missing.length > 0) {
      await this.client.abortUpload(session.id, { signal }).catch(() => {});
      throw new PreconditionFailedError(`${key}: chunks vanished while its time was being set; run again`);
    }
    await this.client.commitUpload(session.id, {}, { signal });
  }

  async mkdir(key: string, options: OpOptions = {}): Promise<void> {
    const path = this.pathOf(key);
    await this.sendable(path, options.signal);
    try {
      await this.client.mkdir(path, { parents: true, signal: options.signal });
    } catch (err) {
      if (isFerryError(err, 'FERRY_ERR_ALREADY_EXISTS')) {
        const e = await this.client.stat(path, options);
        if (e.type === 'dir') return;
      }
      throw err;
    }
  }

  async isDirectory(key: string, options: OpOptions = {}): Promise<boolean> {
    await this.sendable(this.pathOf(key), options.signal);
    return (await this.client.statIfExists(this.pathOf(key), options))?.type === 'dir';
  }

  async rmdir(key: string, options: OpOptions = {}): Promise<void> {
    const path = this.pathOf(key);
    await this.sendable(path, options.signal);
    const e = await this.client.statIfExists(path, options);
    // An object is not a directory: nothing to remove (as the local backend does).
    if (e === undefined || e.type !== 'dir') return;
    await this.client.remove(path, options);
  }

  async treeHashParams(options: OpOptions = {}): Promise<ChunkingParams> {
    return (await this.client.capabilities(options)).chunking;
  }

  private remember(key: string, chunks: ChunkRef[]): void {
    this.listed.delete(key); // re-inserted: Map order is age
    this.listed.set(key, chunks);
    if (this.listed.size > LISTED_MAX) this.listed.delete(this.listed.keys().next().value!);
  }

  /** Nothing (`maxObjects` 0) against a server without chunk batches. */
  async batchReadLimits(options: OpOptions = {}): Promise<BatchReadLimits> {
    const caps = await this.client.capabilities(options);
    if (!canBatch(caps)) return { maxObjectSize: 0, maxObjects: 0, maxBytes: 0 };
    const maxBytes = caps.limits.maxBatchBytes!;
    return { maxObjectSize: Math.min(caps.chunking.maxSize, maxBytes), maxObjects: caps.limits.maxChunksPerBatch!, maxBytes: Math.min(maxBytes, READ_BATCH_BYTES) };
  }

  /**
   * The files' chunks in one request, each verified, then each file's bytes put together.
   * Chunk lists come from the last listing (a key not listed costs a manifest request); a
   * file changed since then fails the batch (the server serves only chunks of the file as it is).
   */
  async readBatch(keys: readonly string[], options: OpOptions = {}): Promise<Buffer[]> {
    const { signal } = options;
    const files = await Promise.all(
      keys.map(async (key) => {
        const { k, path } = this.objectPath(key);
        await this.sendable(path, signal);
        return { path, chunks: this.listed.get(k) ?? (await this.client.manifest(path, { signal })).chunks };
      }),
    );
    const wanted = new Map<string, ChunkRef>();
    // The files the chunks are read through: one per distinct chunk at most.
    const paths: string[] = [];
    for (const f of files) {
      if (f.chunks.some((c) => !wanted.has(c.hash))) paths.push(f.path);
      for (const c of f.chunks) wanted.set(c.hash, c);
    }
    const data = wanted.size === 0 ? new Map<string, Buffer>() : await this.client.getChunkBatch([...wanted.values()], { paths, signal });
    return files.map((f) => (f.chunks.length === 1 ? data.get(f.chunks[0].hash)! : Buffer.concat(f.chunks.map((c) => data.get(c.hash)!))));
  }

  async batchWriteLimits(options: OpOptions = {}): Promise<BatchWriteLimits> {
    const caps = await this.client.capabilities(options);
    return { maxObjectSize: caps.chunking.maxSize, maxObjects: caps.limits.maxFilesPerUpload, maxBytes: BATCH_BYTES, headroom: PACK_FRAME_HEADER_BYTES };
  }

  /**
   * One upload session for all the files: manifests announced at once, the chunks the server
   * lacks sent in packs (small) or one by one, one commit that makes them all visible. Files of
   * one chunk with room for a frame header before them (`headroom`) are sent in file order, so
   * that the frames of adjacent ones make a pack where they are (ChunkSender: no copy).
   */
  async writeBatch(items: readonly BatchWriteItem[], options: OpOptions = {}): Promise<FerryInfo[]> {
    const { signal } = options;
    const caps = await this.client.capabilities({ signal });
    const data = new Map<string, Buffer>();
    const framed = new Set<string>();
    const specs: UploadFileSpec[] = items.map((it) => {
      const { path } = this.objectPath(it.key);
      const chunks = chunkBuffer(it.data, caps.chunking);
      // The bytes kept for a hash are the last file's that has it: framed only if that view is.
      const whole = it.headroom === true && chunks.length === 1;
      for (const c of chunks) {
        data.set(c.hash, c.data);
        if (whole) framed.add(c.hash);
        else framed.delete(c.hash);
      }
      const refs = chunks.map((c) => ({ hash: c.hash, size: c.size }));
      return { path, size: it.data.length, hash: fileHashOf(refs), mtime: it.mtime === undefined ? undefined : Math.round(it.mtime), mode: it.mode, chunks: refs };
    });
    for (const spec of specs) await this.sendable(spec.path, signal);
    const session = await this.client.createUpload(specs.length === 1 ? { ...specs[0] } : { files: specs }, { signal });
    const ctx = new TransferContext(this.client, { signal, slots: this.batchSlots, packBuffers: this.packBuffers });
    const sender = new ChunkSender(ctx, session.id, caps);
    const missing = new Set(session.missing);
    for (const spec of specs) {
      for (const c of spec.chunks!) {
        if (!missing.has(c.hash)) continue;
        const bytes = data.get(c.hash)!;
        // A repeated chunk is sent once (the sender skips it again).
        sender.add({ hash: c.hash, size: bytes.length, load: async () => bytes, framed: framed.has(c.hash) });
      }
    }
    await sender.drain();
    for (let round = 0; ; round++) {
      try {
        const res = await this.client.commitUpload(session.id, {}, { signal });
        const byPath = new Map(res.files.map((e) => [e.path, e]));
        return specs.map((s, i) => {
          const e = byPath.get(s.path);
          return e ? infoOf(normalizeKey(items[i].key), e) : { key: normalizeKey(items[i].key), size: s.size!, mtime: s.mtime, treeHash: s.hash };
        });
      } catch (err) {
        if (!isFerryError(err, 'FERRY_ERR_UPLOAD_INCOMPLETE') || round >= 2) throw err;
        const missing = (err.details?.missing as string[] | undefined) ?? (await this.client.uploadStatus(session.id, { signal })).missing;
        for (const h of missing) {
          const bytes = data.get(h);
          if (bytes) sender.add({ hash: h, size: bytes.length, load: async () => bytes }, { force: true });
        }
        await sender.drain();
      }
    }
  }

  private closed = false;

  /** Idempotent: the client is closed once. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.ownsClient) await this.client.close();
  }
}

/** A zstd body as its plain bytes (zstd-napi's stream, loaded on first use); an error on either side ends both. */
async function decompressed(body: Readable): Promise<Readable> {
  const { DecompressStream } = await import('zstd-napi');
  const plain = new DecompressStream();
  body.once('error', (err) => plain.destroy(err));
  plain.once('close', () => body.destroy());
  return body.pipe(plain);
}
