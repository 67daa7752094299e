/**
 * FerryApi: every route of the native protocol (docs/protocol.md) as a method, in code that
 * runs in Node.js and in browsers alike (it imports nothing of Node). The Node SDK's
 * FerryClient (./client.ts) is a FerryApi over undici with local-file transfers on top; the
 * web app is a FerryApi over fetch with Blob transfers on top (./blob-upload.ts). One
 * protocol client, two platforms: what differs is only the transport (./wire.ts) and the
 * SHA-256 implementation (./hashing.ts).
 *
 * `B` is the type of the byte buffers handed back: `Uint8Array`, or `Buffer` in Node.js
 * (its transport allocates Buffers, and Node callers use Buffer's methods on them).
 */
import { AuthInvalidError, AuthRequiredError, ChunkCorruptError, HashMismatchError, NetworkError, PreconditionFailedError, ProtocolError, isFerryError, throwIfAborted, type FerryError } from '../core/errors.js';
import type { ChunkRef } from '../core/chunk-refs.js';
import { normalizePath, trimTrailingSlashes } from '../core/path.js';
import { MAX_PARALLEL, intBetween } from '../core/option-values.js';
import {
  API_PREFIX,
  encodePathForUrl,
  PACK_FRAME_HEADER_BYTES,
  type AppendChunksResponse,
  type ChunkBatchRequest,
  type Capabilities,
  type ChunkPutResponse,
  type ChunkFramesResponse,
  CHUNK_FRAME_HEADER_BYTES,
  type CommitRequest,
  type CommitResponse,
  type CreateUploadRequest,
  type Entry,
  type ListResponse,
  type ManifestResponse,
  type PackPutResponse,
  type UploadStatus,
} from '../core/protocol.js';
import { concatBytes, fromHex, toHex, type Sha256 } from './hashing.js';
import { ZstdFrameScanner } from './zstd-frames.js';
import type { HttpCore, RequestSpec, WireResponse } from './wire.js';

/** `/api/v1/<route><encoded path>` for a Ferry path. */
export function route(name: string, path: string): string {
  return `${API_PREFIX}/${name}${encodePathForUrl(normalizePath(path))}`;
}

/** The token source of a FerryClient made with `token` and no `tokenSource`: a program's own, with no `ferry login` behind it. */
export const SDK_TOKEN_SOURCE = 'FerryClient';

/** Where a refused token came from, and what to fix, by config `sources.token` (or login's own). */
const TOKEN_SOURCES: Record<string, [string, string]> = {
  [SDK_TOKEN_SOURCE]: ['given to FerryClient', 'check the `token` option (FerryClient.fromConfig reads a saved login or FERRY_TOKEN)'],
  option: ['`token`', 'check `token`'],
  '--token': ['--token', 'check --token'],
  env: ['FERRY_TOKEN', 'check FERRY_TOKEN'],
  file: ['saved login', 'run `ferry login URL` again'],
  login: ['saved login', 'run `ferry login URL` again'],
};

/**
 * A token that came with a location `NAME:/path`: `login:NAME` saved by `ferry login URL
 * --name NAME`, `remote:NAME` a named remote's `token=`. Without this they read as `--token`,
 * which the user never gave.
 */
function namedTokenSource(source: string): [string, string] | undefined {
  const [kind, name] = [source.slice(0, source.indexOf(':')), source.slice(source.indexOf(':') + 1)];
  if (kind === 'login') return [`the login saved as ${name}:`, `run \`ferry login URL --name ${name}\` again (with -u and your user name for a password login)`];
  if (kind === 'remote') return [`the token of the remote ${name}`, `give the remote ${name} a valid token (ferry remote add ${name} ferry server=URL token=T, after ferry remote rm ${name})`];
  return undefined;
}

/** Errors {@link explainAuth} made: explaining one again would say it twice. */
const explained = new WeakSet<FerryError>();

/**
 * Message helper for auth failures: the server's reason (expired, revoked...) and which
 * setting to fix; `server` (when known) is named in the login to run again, so that the user
 * need not remember the URL they saved.
 */
export function explainAuth(err: FerryError, tokenSource: string | undefined, server?: string): FerryError {
  // A password the request carried was refused (`details.password`), not the token.
  if (explained.has(err) || err.details?.password === true) return err;
  let out: FerryError = err;
  if (err.code === 'FERRY_ERR_AUTH_INVALID') {
    const [where, fix] = (tokenSource && (TOKEN_SOURCES[tokenSource] ?? namedTokenSource(tokenSource))) || [tokenSource, 'run `ferry login` again or check FERRY_TOKEN'];
    const reason = err.message && err.message !== err.code ? `: ${err.message.replace(/\.$/, '')}` : '';
    const fixHere = server ? fix.replace('ferry login URL', `ferry login ${server}`) : fix;
    const head = tokenSource === SDK_TOKEN_SOURCE ? `the token ${where} was refused` : `the server refused the token${where ? ` (${where})` : ''}`;
    out = new AuthInvalidError(`${head}${reason}; ${fixHere}`, { cause: err, details: err.details });
  } else if (err.code === 'FERRY_ERR_AUTH_REQUIRED') {
    out = new AuthRequiredError('the server wants a token: run `ferry login URL --token T` or set FERRY_TOKEN', { cause: err, details: err.details });
  }
  explained.add(out);
  return out;
}

/** Options of {@link FerryApi.move} and {@link FerryApi.copy}. */
export interface MoveOptions {
  /** Replace an existing destination file (the server's default: true). */
  overwrite?: boolean;
  /**
   * The destination's ETag as last read (`"<hash>"`, {@link etagOfHash}): the move or copy
   * replaces it only if it still holds that, else FERRY_ERR_PRECONDITION_FAILED
   * (`details.etag`: its ETag now, null when nothing is there). Decided by the server in
   * the move's own transaction. Only if nothing is there: `overwrite: false` (FERRY_ERR_ALREADY_EXISTS).
   */
  ifMatch?: string;
  /**
   * This client gives every name below an end-to-end folder its new encrypted name after
   * the move (src/client/e2e/rename.ts); without it the server refuses moves and copies in
   * a vault (FERRY_ERR_E2E_NEEDS_KEY).
   */
  reencrypt?: boolean;
  signal?: AbortSignal;
}

export interface FerryApiOptions {
  http: HttpCore;
  sha: Sha256;
  /** Default chunks in flight for transfers (default 4). */
  parallel?: number;
  /** Where the token came from, for error messages ("env", "file", ...); with it, auth failures say what to fix. */
  tokenSource?: string;
  /** Rewrite auth failures into CLI advice (`ferry login ...`); off for the web app. */
  explainAuthFailures?: boolean;
  /** Told about things worth a warning (skipped symlinks, ...). */
  onWarning?: (message: string) => void;
}

const seg = (s: string): string => encodeURIComponent(s);

/** The If-Match header of a conditional write (src/core/write-conditions.ts), none without an ETag. */
const ifMatchHeader = (etag: string | undefined): Record<string, string> | undefined => (etag === undefined ? undefined : { 'if-match': etag });

/** Where a ranged run of {@link FerryApi.getChunkRun} stands, across its attempts. */
interface RunState {
  path: string;
  chunks: readonly ChunkRef[];
  /** Chunks handed over. */
  done: number;
  /** Where chunks[done] starts in the file. */
  start: number;
  /** The run's last byte. */
  end: number;
  /** A chunk that arrived damaged once (-1: none). */
  damaged: number;
  /** (the caller's, given the transport's buffers: Buffers in Node) */
  onChunk: (index: number, pieces: Uint8Array[]) => Promise<void>;
  signal?: AbortSignal;
  /** With `lent`: the run's largest chunk size and the buffers (of at least that size) free for reuse. */
  lent?: { largest: number; free: Uint8Array[] };
  /** Told each chunk's bytes as they travelled (its zstd frame, or its plain bytes). */
  onWire?: WireCounter;
}

/**
 * Whether every chunk of a run arrived, verified and handed over. A failure after the last
 * byte (the connection closing before the response was marked complete, as when the server
 * stops or restarts; seen in most restarts under backpressure) then costs nothing, and must
 * not be retried: the next attempt would ask for an empty range, `bytes=end+1-end` (416 at
 * the end of the file, the whole file anywhere else).
 */
function runComplete(st: RunState, err: unknown): boolean {
  return st.done === st.chunks.length && !(err instanceof ProtocolError);
}

/**
 * What a chunk sent as a delta replaces (FerryApi.putChunk): chunks of the file at `path` on
 * the server, in file order; the delta copies from their bytes back to back. More than one
 * (at most MAX_DELTA_BASES) only with the server's feature `chunk-delta-bases`.
 */
/**
 * Told the bytes of a chunk body as they crossed the network (a zstd frame or a delta at its
 * encoded size), once the request that carried them succeeded: what transfers count as
 * `TransferResult.wireBytes`.
 */
export type WireCounter = (bytes: number) => void;

export interface DeltaBase {
  hashes: string[];
  path: string;
}

/** Chunks smaller than this are sent whole: a delta's round trip for the signature costs more than it saves. */
const MIN_DELTA_BYTES = 64 * 1024;
/** Answers to a delta after which the chunk is sent whole (base gone or not readable, delta refused). */
const DELTA_FALLBACK = new Set<string>(['FERRY_ERR_NOT_FOUND', 'FERRY_ERR_FORBIDDEN', 'FERRY_ERR_ENCODING_INVALID', 'FERRY_ERR_ENCODING_UNSUPPORTED', 'FERRY_ERR_HASH_MISMATCH', 'FERRY_ERR_CHUNK_CORRUPT', 'FERRY_ERR_VALIDATION']);

/**
 * A chunk's bytes already compressed: one zstd frame of `size` plain bytes, made as this
 * client's own compression would make it (level 3; src/algo/chunk-file.ts's workers make
 * them). Sent as it is where the server takes zstd, decompressed otherwise.
 */
export class ZstdChunk {
  constructor(
    readonly frame: Uint8Array,
    readonly size: number,
  ) {}
}

/** A chunk's bytes as the upload calls take them. */
export type ChunkBody = Uint8Array | Blob | ZstdChunk;

export class FerryApi<B extends Uint8Array = Uint8Array> {
  readonly http: HttpCore;
  readonly sha: Sha256;
  readonly parallel: number;
  readonly onWarning: (message: string) => void;
  private readonly tokenSource?: string;
  private readonly explain: boolean;
  private caps?: Promise<Capabilities>;
  /** Buffers of ranged runs read with `lent`, kept for the next runs (see {@link runBuffer}). */
  private readonly spareRunBuffers: Uint8Array[] = [];

  constructor(options: FerryApiOptions) {
    this.http = options.http;
    this.sha = options.sha;
    // Checked as FerryClient's is (the web app's `parallel: 0` was quietly 1, 2.5 was 2).
    this.parallel = options.parallel === undefined ? 4 : intBetween('parallel', options.parallel, 1, MAX_PARALLEL);
    this.tokenSource = options.tokenSource;
    this.explain = options.explainAuthFailures ?? true;
    this.onWarning = options.onWarning ?? (() => {});
  }

  /** Runs a call and rewrites auth failures into messages that say what to fix. */
  protected async call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw this.explainFailure(err);
    }
  }

  /**
   * `err` with an auth failure rewritten to say which token was refused and what to fix, as
   * this client's own calls say it; for requests made through `http` directly (the account
   * and admin calls), by the caller that made them. Any other error is returned as it is.
   */
  explainFailure(err: unknown): unknown {
    return this.explain && isFerryError(err) ? explainAuth(err, this.tokenSource, this.http.base.origin + trimTrailingSlashes(this.http.base.pathname)) : err;
  }

  // ---- discovery ----------------------------------------------------------------------

  /** The server's capabilities (chunking parameters, limits); fetched once per client. */
  capabilities(options: { signal?: AbortSignal } = {}): Promise<Capabilities> {
    if (!this.caps) {
      this.caps = this.http.json<Capabilities>({ method: 'GET', path: `${API_PREFIX}/capabilities`, auth: false, signal: options.signal }).then((c) => {
        if (!c || c.server !== 'ferry' || !c.chunking || !c.limits) throw new ProtocolError(`${this.http.base.origin} does not look like a Ferry server`);
        if (!c.protocols?.includes(1)) throw new ProtocolError(`${this.http.base.origin} does not speak protocol v1 (it offers ${JSON.stringify(c.protocols)})`);
        return c;
      });
      this.caps.catch(() => (this.caps = undefined)); // do not cache a failure
    }
    return this.caps;
  }

  // ---- namespace ----------------------------------------------------------------------

  /** One entry. FERRY_ERR_NOT_FOUND when absent. */
  stat(path: string, options: { signal?: AbortSignal } = {}): Promise<Entry> {
    return this.call(() => this.http.json<Entry>({ method: 'GET', path: route('stat', path), signal: options.signal }));
  }

  /**
   * Like {@link stat}, but undefined when absent: `ifExists=true` makes the server answer
   * 204 rather than 404 (which browsers log as errors); older servers answer 404.
   */
  async statIfExists(path: string, options: { signal?: AbortSignal } = {}): Promise<Entry | undefined> {
    try {
      return await this.call(() => this.http.json<Entry | undefined>({ method: 'GET', path: route('stat', path), query: { ifExists: 'true' }, signal: options.signal }));
    } catch (err) {
      if (isFerryError(err, 'FERRY_ERR_NOT_FOUND')) return undefined;
      throw err;
    }
  }

  /**
   * Entries of a directory (all descendants with `recursive`), sorted by path, fetched
   * page by page as the caller iterates. Listing a file is FERRY_ERR_NOT_A_DIRECTORY.
   * With `chunks` (servers with the `list-chunks` feature), entries of files small enough
   * for {@link getChunkBatch} carry their chunk lists (`chunkList`).
   */
  async *list(path: string, options: { recursive?: boolean; pageSize?: number; chunks?: boolean; signal?: AbortSignal } = {}): AsyncIterable<Entry> {
    let cursor: string | undefined;
    do {
      const page: ListResponse = await this.call(() =>
        this.http.json<ListResponse>({
          method: 'GET',
          path: route('list', path),
          query: { recursive: options.recursive ? 'true' : undefined, chunks: options.chunks ? 'true' : undefined, limit: options.pageSize, cursor },
          signal: options.signal,
        }),
      );
      // A page (up to the server's limit of entries) is in hand: an abort still stops it here.
      for (const e of page.entries) {
        throwIfAborted(options.signal);
        yield e;
      }
      cursor = page.next;
    } while (cursor);
  }

  /**
   * The digest of the recursive listing of `path` (servers with the `list-digest` feature;
   * core/tree-digest.ts), or undefined when the server gave none. Listing a file is
   * FERRY_ERR_NOT_A_DIRECTORY.
   */
  async listDigest(path: string, options: { signal?: AbortSignal } = {}): Promise<string | undefined> {
    const res: ListResponse = await this.call(() =>
      this.http.json<ListResponse>({ method: 'GET', path: route('list', path), query: { recursive: 'true', digest: 'true' }, signal: options.signal }),
    );
    return typeof res.digest === 'string' ? res.digest : undefined;
  }

  /** Creates a directory (with `parents`, also its parents, and succeeds if it exists). */
  mkdir(path: string, options: { parents?: boolean; signal?: AbortSignal } = {}): Promise<Entry> {
    return this.call(() =>
      this.http.json<Entry>({
        method: 'POST',
        path: route('mkdir', path),
        query: { parents: options.parents ? 'true' : undefined },
        // with parents the call is idempotent, so any failure may be retried
        retry: options.parents ? 'always' : 'unprocessed',
        signal: options.signal,
      }),
    );
  }

  /** Moves or renames a file or directory on the server (no bytes copied). */
  move(from: string, to: string, options: MoveOptions = {}): Promise<Entry> {
    return this.call(() =>
      this.http.json<Entry>({
        method: 'POST',
        path: `${API_PREFIX}/move`,
        json: { from: normalizePath(from), to: normalizePath(to), overwrite: options.overwrite, ...(options.reencrypt ? { reencrypt: true } : {}) },
        headers: ifMatchHeader(options.ifMatch),
        signal: options.signal,
      }),
    );
  }

  /** Copies a file or tree on the server, by reference (no bytes copied). */
  copy(from: string, to: string, options: MoveOptions = {}): Promise<Entry> {
    return this.call(() =>
      this.http.json<Entry>({
        method: 'POST',
        path: `${API_PREFIX}/copy`,
        json: { from: normalizePath(from), to: normalizePath(to), overwrite: options.overwrite, ...(options.reencrypt ? { reencrypt: true } : {}) },
        headers: ifMatchHeader(options.ifMatch),
        signal: options.signal,
      }),
    );
  }

  /**
   * Removes a file, an empty directory, or (with `recursive`) a tree. With `ifMatch` (the
   * file's ETag as last read), only if it still holds that: FERRY_ERR_PRECONDITION_FAILED otherwise.
   */
  async remove(path: string, options: { recursive?: boolean; ifMatch?: string; signal?: AbortSignal } = {}): Promise<void> {
    await this.call(() =>
      this.http.json<void>({
        method: 'DELETE',
        path: route('files', path),
        query: { recursive: options.recursive ? 'true' : undefined },
        headers: ifMatchHeader(options.ifMatch),
        retry: 'unprocessed',
        signal: options.signal,
      }),
    );
  }

  /** A file's manifest (chunk list, size, hash, mtime, mode). */
  manifest(path: string, options: { signal?: AbortSignal } = {}): Promise<ManifestResponse> {
    return this.call(() => this.http.json<ManifestResponse>({ method: 'GET', path: route('manifests', path), signal: options.signal }));
  }

  // ---- upload sessions (the building blocks of uploads) ---------------------------------

  createUpload(body: CreateUploadRequest, options: { signal?: AbortSignal } = {}): Promise<UploadStatus> {
    // A retry after an ambiguous failure at worst leaves an orphan session, which expires.
    return this.call(() => this.http.json<UploadStatus>({ method: 'POST', path: `${API_PREFIX}/uploads`, json: body, retry: 'always', signal: options.signal }));
  }

  /** Appends manifest entries. Not idempotent: only retried when the server surely did not act. */
  appendChunks(id: string, chunks: ChunkRef[], options: { file?: number; signal?: AbortSignal } = {}): Promise<AppendChunksResponse> {
    return this.call(() =>
      this.http.json<AppendChunksResponse>({
        method: 'POST',
        path: `${API_PREFIX}/uploads/${seg(id)}/chunks`,
        json: { file: options.file, chunks },
        retry: 'unprocessed',
        signal: options.signal,
      }),
    );
  }

  /**
   * Sends one chunk's bytes (idempotent; retried). A Blob (a slice of a picked file) is sent
   * without being read into memory. Bytes in memory go zstd-compressed when this client can
   * compress ({@link zstd}), the server takes it (feature `zstd`) and it pays.
   */
  putChunk(id: string, hash: string, data: ChunkBody, options: { signal?: AbortSignal; base?: DeltaBase; signatures?: Promise<Uint8Array[] | undefined>; onWire?: WireCounter } = {}): Promise<ChunkPutResponse> {
    return this.call(async () => {
      if (options.base && data instanceof Uint8Array) {
        const signatures = options.signatures ?? this.deltaSignatures(data.length, options.base, options.signal);
        const sent = await this.putChunkDelta(id, hash, data, options.base, signatures, options.signal, options.onWire);
        if (sent) return sent;
      }
      const { body, z } = await this.wireBody(data);
      const length = body instanceof Uint8Array ? body.length : body.size;
      const answer = await this.http.json<ChunkPutResponse>({
        method: 'PUT',
        path: `${API_PREFIX}/uploads/${seg(id)}/chunks/${hash}`,
        body: () => body as Uint8Array<ArrayBuffer> | Blob,
        contentLength: length,
        ...(z ? { headers: { 'content-encoding': 'zstd' } } : {}),
        retry: 'always',
        signal: options.signal,
      });
      options.onWire?.(length);
      return answer;
    });
  }

  /**
   * Sends several whole chunks in one request (feature `chunk-frames`; idempotent, retried):
   * frames `hash | u32 size | u32 length | bytes`, each zstd-compressed as {@link putChunk}
   * would send it. The caller checks the feature first, and {@link chunkFrames}.
   */
  putChunkFrames(id: string, chunks: ReadonlyArray<{ hash: string; data: ChunkBody }>, options: { signal?: AbortSignal; onWire?: WireCounter } = {}): Promise<ChunkFramesResponse> {
    return this.call(async () => {
      const parts: Array<Uint8Array<ArrayBuffer> | Blob> = [];
      let length = 0;
      for (const c of chunks) {
        const size = c.data instanceof Uint8Array ? c.data.length : c.data.size;
        const { body } = await this.wireBody(c.data);
        const bytes = body instanceof Uint8Array ? body.length : body.size;
        const head = new Uint8Array(CHUNK_FRAME_HEADER_BYTES);
        fromHex(c.hash, head, 0);
        const view = new DataView(head.buffer);
        view.setUint32(32, size);
        view.setUint32(36, bytes);
        parts.push(head, body as Uint8Array<ArrayBuffer> | Blob);
        length += CHUNK_FRAME_HEADER_BYTES + bytes;
      }
      const answer = await this.http.json<ChunkFramesResponse>({
        method: 'POST',
        path: `${API_PREFIX}/uploads/${seg(id)}/chunk-frames`,
        body: () => framesBody(parts),
        contentLength: length,
        retry: 'always',
        signal: options.signal,
      });
      options.onWire?.(length);
      return answer;
    });
  }


  /** Sends a pack of small chunks (frames `hash | u32 size | data`); idempotent. Compressed as {@link putChunk}, the pack as a whole. */
  putPack(id: string, pack: Uint8Array | Blob, options: { signal?: AbortSignal; onWire?: WireCounter } = {}): Promise<PackPutResponse> {
    return this.call(async () => {
      const z = await this.compressed(pack);
      const length = z ? z.length : pack instanceof Uint8Array ? pack.length : pack.size;
      const answer = await this.http.json<PackPutResponse>({
        method: 'POST',
        path: `${API_PREFIX}/uploads/${seg(id)}/packs`,
        body: () => z ?? pack,
        contentLength: length,
        ...(z ? { headers: { 'content-encoding': 'zstd' } } : {}),
        retry: 'always',
        signal: options.signal,
      });
      options.onWire?.(length);
      return answer;
    });
  }

  /**
   * Whether uploads send whole chunks several to a request where the server takes them
   * (feature `chunk-frames`): the Node client and the web app (a browser sends the frames
   * as one Blob of its headers and file slices, nothing copied). False: one PUT per chunk.
   */
  chunkFrames = true;

  /**
   * Deltas between versions of a chunk (src/algo/chunk-delta.ts), when the platform has
   * them (the Node client): `make` gives the delta rebuilding `target` from the base a
   * signature describes, `apply` rebuilds a chunk of `size` bytes from a base and a delta.
   */
  deltas?: {
    /** `signatures`: of one base, or of several taken as one (their bytes back to back). */
    make(target: Uint8Array, signatures: readonly Uint8Array[], maxBase: number): Uint8Array;
    signature(base: Uint8Array): Uint8Array;
    apply(base: Uint8Array, delta: Uint8Array, size: number): Uint8Array;
  };

  /**
   * The server's signature of each chunk of `base` (about 3 KiB per MiB), for a delta of a
   * chunk of `size` bytes ({@link putChunk}), asked for at once: one round trip's wait, not
   * one per base. Resolves undefined when no delta will be tried (a chunk too small, a server
   * without `chunk-delta`, or without `chunk-delta-bases` for several bases, a base gone or
   * not readable): the chunk then goes whole. A sender may ask ahead of the chunk's turn and
   * hand the promise to `putChunk`, so that the server works on the next signatures while
   * the client makes the deltas of the current ones.
   */
  async deltaSignatures(size: number, base: DeltaBase, signal?: AbortSignal): Promise<Uint8Array[] | undefined> {
    if (!this.deltas || size < MIN_DELTA_BYTES) return undefined;
    const caps = await this.capabilities({ signal });
    if (!caps.features.includes('chunk-delta')) return undefined;
    if (base.hashes.length > 1 && !caps.features.includes('chunk-delta-bases')) return undefined;
    try {
      return await Promise.all(
        base.hashes.map((h) =>
          this.http.request(
            { method: 'GET', path: `${API_PREFIX}/chunks/${h}/signature`, query: { path: normalizePath(base.path) }, signal },
            (res) => this.http.readExact(res, Number(res.headers['content-length']), signal),
          ),
        ),
      );
    } catch (err) {
      if (isFerryError(err) && DELTA_FALLBACK.has(err.code)) return undefined;
      throw err;
    }
  }

  /**
   * Sends a chunk as a delta against `base`, the chunks it replaces in the version of the
   * file on the server (feature `chunk-delta`; more than one with `chunk-delta-bases`), made
   * from their `signatures` ({@link deltaSignatures}). Resolves undefined when there are no
   * signatures, a delta would not save at least half the chunk, or the server will not take
   * one (a base is gone, or no longer in the file): the caller then sends the chunk itself.
   * Never the only try: a delta that fails to verify on the server is sent again whole.
   */
  private async putChunkDelta(id: string, hash: string, data: Uint8Array, base: DeltaBase, signatures: Promise<Uint8Array[] | undefined>, signal?: AbortSignal, onWire?: WireCounter): Promise<ChunkPutResponse | undefined> {
    const sigs = await signatures;
    if (!sigs || !this.deltas) return undefined;
    const caps = await this.capabilities({ signal });
    try {
      const delta = this.deltas.make(data, sigs, 2 * caps.limits.maxChunkSize);
      if (delta.length > data.length / 2) return undefined;
      const answer = await this.http.json<ChunkPutResponse>({
        method: 'PUT',
        path: `${API_PREFIX}/uploads/${seg(id)}/chunks/${hash}`,
        body: () => delta,
        contentLength: delta.length,
        headers: { 'content-encoding': 'x-ferry-delta', 'x-ferry-delta-base': base.hashes.join(',') },
        retry: 'always',
        signal,
      });
      onWire?.(delta.length);
      return answer;
    } catch (err) {
      if (isFerryError(err) && DELTA_FALLBACK.has(err.code)) return undefined;
      throw err;
    }
  }

  /**
   * zstd for chunk bodies, when the platform has it (the Node client; browsers send raw
   * bytes and the server compresses at rest): `compress` gives one frame with its content
   * size, or undefined when compressing would not pay; `decompress` the plain bytes of a
   * frame of exactly `size` bytes (anything else throws).
   */
  protected zstd?: { compress(data: Uint8Array): Uint8Array | undefined; decompress(frame: Uint8Array, size: number, into?: Uint8Array): Uint8Array };

  /** Whether chunk bodies (and whole files, `Accept-Encoding: zstd`) may travel zstd-compressed both ways with this server. */
  async speaksZstd(signal?: AbortSignal): Promise<boolean> {
    if (!this.zstd) return false;
    const caps = await this.capabilities({ signal });
    return caps.features.includes('zstd');
  }

  private async compressed(data: Uint8Array | Blob): Promise<Uint8Array | undefined> {
    if (!(data instanceof Uint8Array) || !(await this.speaksZstd())) return undefined;
    return this.zstd!.compress(data);
  }

  /** A chunk's body as it goes on the wire; `z`: a zstd frame. */
  private async wireBody(data: ChunkBody): Promise<{ body: Uint8Array | Blob; z: boolean }> {
    if (data instanceof ZstdChunk) {
      if (await this.speaksZstd()) return { body: data.frame, z: true };
      if (!this.zstd) throw new ProtocolError('a chunk came compressed to a client without zstd');
      return { body: this.zstd.decompress(data.frame, data.size), z: false };
    }
    const z = await this.compressed(data);
    return z ? { body: z, z: true } : { body: data, z: false };
  }

  /** A body of `size` plain bytes that may come zstd-compressed (when {@link speaksZstd} asked for it), decompressed. */
  private async readMaybeEncoded(res: WireResponse, size: number, signal?: AbortSignal, onWire?: WireCounter): Promise<Uint8Array> {
    const coding = String(res.headers['content-encoding'] ?? '').toLowerCase();
    if (coding === '' || coding === 'identity') {
      const data = await this.http.readExact(res, size, signal);
      onWire?.(size);
      return data;
    }
    if (coding !== 'zstd' || !this.zstd) throw new ProtocolError(`the server answered in Content-Encoding ${coding}, which was not asked for`);
    const length = Number(res.headers['content-length']);
    if (!Number.isSafeInteger(length) || length < 1 || length > size) throw new ProtocolError(`a zstd answer of ${String(res.headers['content-length'])} bytes for ${size} plain bytes`);
    const frame = await this.http.readExact(res, length, signal);
    onWire?.(length);
    try {
      return this.zstd.decompress(frame, size);
    } catch (err) {
      // Damaged on the way (the caller fetches once more) or a server bug.
      throw new HashMismatchError(`a zstd answer did not decode: ${(err as Error).message}`, { cause: err, retryable: true });
    }
  }

  uploadStatus(id: string, options: { signal?: AbortSignal } = {}): Promise<UploadStatus> {
    return this.call(() => this.http.json<UploadStatus>({ method: 'GET', path: `${API_PREFIX}/uploads/${seg(id)}`, signal: options.signal }));
  }

  /**
   * Commits a session. Only retried when the server surely did not act; see upload-flow.ts for
   * the rest. `ifMatch` (a one-file session): only if the file still has that ETag, else
   * FERRY_ERR_PRECONDITION_FAILED, and the session stays open.
   */
  commitUpload(id: string, body: CommitRequest = {}, options: { signal?: AbortSignal; ifMatch?: string } = {}): Promise<CommitResponse> {
    return this.call(() =>
      this.http.json<CommitResponse>({
        method: 'POST',
        path: `${API_PREFIX}/uploads/${seg(id)}/commit`,
        json: body,
        headers: ifMatchHeader(options.ifMatch),
        retry: 'unprocessed',
        signal: options.signal,
      }),
    );
  }

  async abortUpload(id: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    await this.call(() => this.http.json<void>({ method: 'DELETE', path: `${API_PREFIX}/uploads/${seg(id)}`, retry: 'always', signal: options.signal }));
  }

  // ---- downloads (building blocks) ---------------------------------------------------

  /**
   * One chunk's bytes, verified against its hash and size. A body that does not match is
   * fetched again (it was damaged on the way); a second mismatch is FERRY_ERR_HASH_MISMATCH.
   * `path` names the file the chunk is read through: the server serves a chunk only as part
   * of a file the caller may read (an unrestricted admin may leave it out).
   */
  async getChunk(hash: string, size: number, options: { signal?: AbortSignal; path?: string; onWire?: WireCounter } = {}): Promise<B> {
    const query = options.path === undefined ? undefined : { path: normalizePath(options.path) };
    const headers = (await this.speaksZstd(options.signal)) ? { 'accept-encoding': 'zstd' } : undefined;
    for (let attempt = 0; ; attempt++) {
      const data = await this.call(() =>
        this.http.request({ method: 'GET', path: `${API_PREFIX}/chunks/${hash}`, query, headers, signal: options.signal }, (res) => this.readMaybeEncoded(res, size, options.signal, options.onWire)),
      );
      if ((await this.sha.digest([data])) === hash) return data as B;
      if (attempt >= 1) throw new HashMismatchError(`chunk ${hash} arrived damaged twice`);
    }
  }

  /**
   * One chunk as a delta against `base`, bytes the caller holds (the chunk at the same
   * place in an older local copy; feature `chunk-delta`): the client sends the base's
   * signature, the server answers the edited pieces, and the chunk rebuilt is verified
   * against its hash. Resolves undefined when deltas are not available or the rebuilt bytes
   * do not verify: the caller fetches the chunk itself.
   */
  async getChunkDelta(hash: string, size: number, base: Uint8Array, options: { path: string; signal?: AbortSignal; onWire?: WireCounter }): Promise<B | undefined> {
    if (!this.deltas) return undefined;
    const caps = await this.capabilities({ signal: options.signal });
    if (!caps.features.includes('chunk-delta')) return undefined;
    const sig = this.deltas.signature(base);
    try {
      const delta = await this.call(() =>
        this.http.request(
          { method: 'POST', path: `${API_PREFIX}/chunks/${hash}/delta`, query: { path: normalizePath(options.path) }, body: () => sig, contentLength: sig.length, retry: 'always', signal: options.signal },
          (res) => this.http.readExact(res, Number(res.headers['content-length']), options.signal),
        ),
      );
      options.onWire?.(delta.length);
      const data = this.deltas.apply(base, delta, size);
      return (await this.sha.digest([data])) === hash ? (data as B) : undefined;
    } catch (err) {
      if (isFerryError(err) && DELTA_FALLBACK.has(err.code)) return undefined;
      if (err instanceof Error && !isFerryError(err)) return undefined; // a malformed delta
      throw err;
    }
  }

  /**
   * Chunks that lie back to back in a file, through one ranged `GET /files/*path` starting
   * at `offset` (where the first of them starts). Each chunk is verified once its bytes are
   * in and handed to `onChunk` as the pieces it came in (in order, the caller's to keep;
   * with `lent`, only until the promise `onChunk` returns settles: the buffers are reused).
   * The request carries `If-Range` with `fileHash` (the manifest's): a file replaced since
   * its manifest was read is FERRY_ERR_PRECONDITION_FAILED, never a mix of versions. A
   * failed attempt is resumed at the first chunk not yet handed over, and a run that keeps
   * making progress keeps being resumed. A chunk damaged on the way is fetched once more;
   * damaged again, it is FERRY_ERR_HASH_MISMATCH. A chunk the server finds corrupt cuts its
   * answer short (docs/protocol.md), so the attempt resumed at that chunk gets
   * FERRY_ERR_CHUNK_CORRUPT.
   *
   * The pieces are hashed in this thread rather than gathered into one buffer for a hash
   * worker: in Node the copy into shared memory cost about half of what moving the hash
   * saved (measured). Read straight into a chunk's buffer (Node over plain http), a chunk is
   * one buffer already; hashing it on a worker from shared memory was tried twice and not
   * kept: it moves the hash's 0.6 s per GiB off this thread, but on two cores shared with the
   * server the sum of the CPU is what bounds the time, and it did not come down (issue-15-speed.md,
   * "The download's hash on a worker thread").
   */
  async getChunkRun(
    path: string,
    fileHash: string,
    offset: number,
    chunks: readonly ChunkRef[],
    onChunk: (index: number, pieces: B[]) => Promise<void>,
    options: { signal?: AbortSignal; lent?: boolean; onWire?: WireCounter } = {},
  ): Promise<void> {
    const { signal } = options;
    // Chunks as zstd frames where the server has them compressed (feature range-zstd).
    const frames = this.zstd !== undefined && (await this.capabilities({ signal })).features.includes('range-zstd');
    let end = offset - 1;
    let largest = 0;
    for (const c of chunks) {
      end += c.size;
      largest = Math.max(largest, c.size);
    }
    const st: RunState = {
      path,
      chunks,
      done: 0,
      start: offset,
      end,
      damaged: -1,
      onChunk: onChunk as RunState['onChunk'],
      signal,
      lent: options.lent ? { largest, free: [] } : undefined,
      onWire: options.onWire,
    };
    const spec: RequestSpec = {
      method: 'GET',
      path: route('files', path),
      // Every chunk is verified here, so the server need not hash it too; once one arrived
      // damaged, the server verifies again (it then reports and handles a corrupt chunk).
      headers: () => ({
        range: `bytes=${st.start}-${end}`,
        'if-range': `"${fileHash}"`,
        ...(st.damaged < 0 ? { 'x-ferry-verified-by': 'client' } : {}),
        ...(frames ? { 'x-ferry-range-encoding': 'zstd' } : {}),
      }),
      signal,
      bulk: true,
    };
    const consume = async (res: WireResponse): Promise<void> => {
      if (res.statusCode !== 206) {
        await res.body.dump();
        throw new PreconditionFailedError(`${path} changed on the server while it was being downloaded; run again`);
      }
      const range = /^bytes (\d+)-(\d+)\//.exec(String(res.headers['content-range']));
      if (!range || Number(range[1]) !== st.start || Number(range[2]) !== end) throw new ProtocolError(`${path}: asked for bytes ${st.start}-${end}, got ${String(res.headers['content-range'])}`);
      try {
        const coding = String(res.headers['content-encoding'] ?? '').toLowerCase();
        if (coding === 'zstd' && frames) await this.readRunFrames(st, res);
        else if (coding !== '' && coding !== 'identity') throw new ProtocolError(`the server answered a ranged read in Content-Encoding ${coding}, which was not asked for`);
        else await (res.body.readInto ? this.readRunInto(st, res) : this.readRunPieces(st, res));
      } catch (err) {
        if (runComplete(st, err)) return;
        throw err;
      }
      if (st.done < chunks.length) throw new NetworkError(`${path}: short body, ${end - st.start + 1} of ${end - offset + 1} bytes missing`);
    };
    try {
      await this.runAttempts(st, spec, consume);
    } finally {
      if (st.lent) for (const b of st.lent.free) this.giveRunBuffer(b);
    }
  }

  /** The attempts of {@link getChunkRun}: again from the first chunk not handed over, while they make progress. */
  private async runAttempts(st: RunState, spec: RequestSpec, consume: (res: WireResponse) => Promise<void>): Promise<void> {
    const { chunks, path, signal } = st;
    for (;;) {
      const before = st.done;
      try {
        await this.call(() => this.http.request(spec, consume));
        return;
      } catch (err) {
        if (runComplete(st, err)) return; // all here (see runComplete)
        // The retries of one request are spent; a run that got further since starts afresh.
        if (st.done > before && isFerryError(err) && err.retryable && !signal?.aborted) continue;
        if (isFerryError(err, 'FERRY_ERR_CHUNK_CORRUPT') && st.done < chunks.length) {
          const c = chunks[st.done];
          throw new ChunkCorruptError(
            `${path}: chunk ${c.hash} (bytes ${st.start}-${st.start + c.size - 1}) is damaged in the server's store (${st.damaged === st.done ? 'it arrived damaged, and ' : ''}the server's own check fails too); uploading the file again from a good copy repairs it`,
            { cause: err, details: { ...err.details, path, hash: c.hash, offset: st.start } },
          );
        }
        throw err;
      }
    }
  }

  /**
   * A buffer of at least `size` bytes for a run read with `lent`: a spare one, else a new one
   * of `size` rounded up to a power of two (the runs of a file then need a few sizes, and the
   * spares fit the next runs). Fresh buffers for each run cost page faults and peak memory:
   * 25-30 MB more peak RSS for `ferry get` of 1 GiB and about 0.08 s of user CPU (measured).
   */
  private runBuffer(size: number): Uint8Array {
    const spare = this.spareRunBuffers;
    const i = spare.findIndex((b) => b.length >= size);
    if (i >= 0) return spare.splice(i, 1)[0];
    return this.http.alloc(2 ** Math.ceil(Math.log2(Math.max(size, 64 * 1024))));
  }

  /** Keeps a run's buffer for the next runs: two per request in flight at most, the largest. */
  private giveRunBuffer(buf: Uint8Array): void {
    const spare = this.spareRunBuffers;
    spare.push(buf);
    spare.sort((a, b) => b.length - a.length);
    if (spare.length > 2 * this.parallel) spare.length = 2 * this.parallel;
  }

  /** Verifies the next chunk of a run, given as `pieces`, and hands it over (see {@link getChunkRun}). */
  private async handOver(st: RunState, pieces: Uint8Array[], wire?: number): Promise<void> {
    const chunk = st.chunks[st.done];
    if ((await this.sha.digest(pieces)) !== chunk.hash) {
      const twice = st.damaged === st.done;
      st.damaged = st.done;
      // The first time a retryable error: the request is made again from this chunk on.
      throw new HashMismatchError(`chunk ${chunk.hash} of ${st.path} arrived damaged${twice ? ' twice' : ''}`, { retryable: !twice });
    }
    st.onWire?.(wire ?? chunk.size);
    await st.onChunk(st.done, pieces);
    st.done++;
    st.start += chunk.size;
  }

  /**
   * A run's body as zstd frames, one per chunk (feature range-zstd): each frame, once whole,
   * is decompressed (with `lent`, into one reused buffer of the run's largest chunk), verified
   * and handed over. A frame that does not decode counts as a chunk that arrived damaged.
   */
  private async readRunFrames(st: RunState, res: WireResponse): Promise<void> {
    const scanner = new ZstdFrameScanner();
    let parts: Uint8Array[] = [];
    let bytes = 0;
    let plain: Uint8Array | undefined;
    for await (const piece of res.body) {
      for (let at = 0; at < piece.length; ) {
        if (st.done === st.chunks.length) throw new ProtocolError(`${st.path}: the server sent more than the chunks asked for`);
        const end = scanner.next(piece, at);
        const part = piece.subarray(at, end < 0 ? piece.length : end);
        parts.push(part);
        bytes += part.length;
        // A frame never takes much more than its chunk (zstd's bound; raw blocks add 3 bytes per 128 KiB).
        if (bytes > st.chunks[st.done].size + (st.chunks[st.done].size >> 7) + 1024) throw new ProtocolError(`${st.path}: a zstd frame of chunk ${st.chunks[st.done].hash} runs past any size it could have`);
        if (end < 0) break;
        at = end;
        const frame = concatBytes(parts);
        const chunk = st.chunks[st.done];
        if (st.lent) plain ??= st.lent.free.pop() ?? this.runBuffer(st.lent.largest);
        let data: Uint8Array;
        try {
          data = this.zstd!.decompress(frame, chunk.size, plain);
        } catch (err) {
          const twice = st.damaged === st.done;
          st.damaged = st.done;
          throw new HashMismatchError(`chunk ${chunk.hash} of ${st.path} arrived damaged${twice ? ' twice' : ''} (${(err as Error).message})`, { retryable: !twice });
        }
        const wire = bytes;
        parts = [];
        bytes = 0;
        await this.handOver(st, [data], wire);
      }
      await this.received(piece.length, st.signal);
    }
    if (plain && st.lent) st.lent.free.push(plain);
    if (!scanner.atBoundary) throw new NetworkError(`${st.path}: the answer ended inside a zstd frame`);
  }

  /** A run's body as it arrives: hashed chunk by chunk in the pieces it came in, each verified chunk handed over. */
  private async readRunPieces(st: RunState, res: WireResponse): Promise<void> {
    let pieces: Uint8Array[] = [];
    let fill = 0;
    for await (const piece of res.body) {
      for (let at = 0; at < piece.length; ) {
        if (st.done === st.chunks.length) throw new ProtocolError(`${st.path}: the server sent more than the bytes asked for`);
        const chunk = st.chunks[st.done];
        const n = Math.min(chunk.size - fill, piece.length - at);
        pieces.push(at === 0 && n === piece.length ? piece : piece.subarray(at, at + n));
        fill += n;
        at += n;
        if (fill < chunk.size) continue;
        await this.handOver(st, pieces);
        pieces = [];
        fill = 0;
      }
      await this.received(piece.length, st.signal);
    }
  }

  /**
   * The same, for a transport that reads the body straight into buffers it is given
   * (./raw-http.ts): each chunk's bytes land in a buffer of the chunk's size, which is
   * verified and handed over whole; no copy, no buffer per socket read. With `lent`, two
   * buffers of the run's largest chunk serve every chunk (one being filled, one being handed
   * over): a GiB no longer allocates a GiB of buffers, and the collector no longer runs for
   * them (0.10 s of a 256 MiB download's CPU, measured).
   */
  private async readRunInto(st: RunState, res: WireResponse): Promise<void> {
    const take = (size: number): { buf: Uint8Array; whole?: Uint8Array } => {
      if (!st.lent) return { buf: this.http.alloc(size) };
      const whole = st.lent.free.pop() ?? this.runBuffer(st.lent.largest);
      return { buf: whole.subarray(0, size), whole };
    };
    let next = st.done; // the chunk being filled
    let cur = take(st.chunks[next].size);
    let fill = 0;
    // The last hand-over begun: a failed read waits for it (its write may still be in the
    // file system's threads), so that a next attempt starts where it left off.
    let handing: Promise<void> | undefined;
    const handOver = async (got: { buf: Uint8Array; whole?: Uint8Array }): Promise<void> => {
      await this.handOver(st, [got.buf]);
      if (got.whole) st.lent!.free.push(got.whole);
    };
    const reading = res.body.readInto!({
      room: () => {
        if (next === st.chunks.length) throw new ProtocolError(`${st.path}: the server sent more than the bytes asked for`);
        return cur.buf.subarray(fill);
      },
      filled: (n) => {
        fill += n;
        const limited = this.received(n, st.signal);
        if (fill < st.chunks[next].size) return limited;
        // Reading waits while the chunk is verified and handed over: it is st.done's.
        const got = cur;
        fill = 0;
        if (++next < st.chunks.length) cur = take(st.chunks[next].size);
        handing = limited ? limited.then(() => handOver(got)) : handOver(got);
        return handing;
      },
    });
    try {
      await reading;
    } catch (err) {
      await handing?.catch(() => {});
      throw err;
    }
  }

  /** Accounts for bytes of a response body read outside {@link HttpCore.readExact} (Node's bandwidth limit). */
  protected received(_bytes: number, _signal?: AbortSignal): void | Promise<void> {}

  /**
   * Many chunks in one request (`POST /chunks/batch`, servers with the `chunks-batch`
   * feature): for many small files, one round trip instead of one per file. `chunks` must
   * be distinct and within the server's `limits.maxChunksPerBatch` and `limits.maxBatchBytes`.
   * `paths` names the files they belong to (at most `maxChunksPerBatch`): the server serves
   * a chunk only as part of a file the caller may read (an unrestricted admin may leave it out).
   * Every chunk is verified against its hash and size; a damaged answer is fetched once
   * more, then FERRY_ERR_HASH_MISMATCH. Chunks the server does not serve fail the whole
   * call with FERRY_ERR_NOT_FOUND (`details.missing` names them). Resolves to the bytes by
   * hash: slices of one buffer the size of the batch.
   */
  async getChunkBatch(chunks: readonly ChunkRef[], options: { paths?: readonly string[]; signal?: AbortSignal; onWire?: WireCounter } = {}): Promise<Map<string, B>> {
    let total = 0;
    for (const c of chunks) total += PACK_FRAME_HEADER_BYTES + c.size;
    const body: ChunkBatchRequest = { hashes: chunks.map((c) => c.hash) };
    if (options.paths) body.paths = options.paths.map((p) => normalizePath(p));
    const headers = (await this.speaksZstd(options.signal)) ? { 'accept-encoding': 'zstd' } : undefined;
    for (let attempt = 0; ; attempt++) {
      const answer = await this.call(() =>
        this.http.request({ method: 'POST', path: `${API_PREFIX}/chunks/batch`, json: body, headers, retry: 'always', signal: options.signal }, (res) =>
          this.readMaybeEncoded(res, total, options.signal, options.onWire),
        ),
      );
      const view = new DataView(answer.buffer, answer.byteOffset, answer.byteLength);
      const out = new Map<string, B>();
      let o = 0;
      for (const c of chunks) {
        const data = answer.subarray(o + PACK_FRAME_HEADER_BYTES, o + PACK_FRAME_HEADER_BYTES + c.size) as B;
        // The frame must be the one asked for, in its place, and its bytes must match.
        if (toHex(answer.subarray(o, o + 32)) !== c.hash || view.getUint32(o + 32) !== c.size || (await this.sha.digest([data])) !== c.hash) break;
        out.set(c.hash, data);
        o += PACK_FRAME_HEADER_BYTES + c.size;
      }
      if (out.size === chunks.length) return out;
      if (attempt >= 1) throw new HashMismatchError(`a batch of ${chunks.length} chunks arrived damaged twice`);
    }
  }

  /** A whole (small) file's bytes through `GET /files/*path`; `size` must be known (from a listing). */
  async getFileBytes(path: string, size: number, options: { signal?: AbortSignal } = {}): Promise<B> {
    return this.call(() => this.http.request({ method: 'GET', path: route('files', path), signal: options.signal }, (res) => this.http.readExact(res, size, options.signal))) as Promise<B>;
  }

  /** Closes the connections. */
  async close(): Promise<void> {
    await this.http.close();
  }
}

export { seg as encodeSegment };

/**
 * A body of chunk frames: its parts one after the other, none copied (Node sends each with
 * its own write), or a Blob of them where a part is a Blob or the platform has no Buffer (a
 * browser, whose fetch takes Blobs).
 */
function framesBody(parts: ReadonlyArray<Uint8Array<ArrayBuffer> | Blob>): Blob | AsyncIterable<Uint8Array> {
  if (typeof Buffer !== 'function' || parts.some((p) => p instanceof Blob)) return new Blob([...parts]);
  return (async function* () {
    for (const p of parts) yield p as Uint8Array;
  })();
}
