/**
 * Streamed uploads: a byte stream of any length becomes a file through the same upload
 * session, chunk store and atomic commit as the native chunk protocol.
 *
 * The native protocol's clients cut files themselves; every other way in (a share link's
 * `curl -T`, a one-request API upload, WebDAV `PUT`, SFTP, tus) hands the server a plain
 * stream. `ingestStream` cuts it with the server's own chunking parameters (so its chunks
 * dedup against CLI uploads of the same bytes), stores each chunk as the stream's owner
 * (the server cut and hashed these bytes itself: possession is proven), reserves quota
 * ahead of the bytes it stores and checks the largest-file limit as the file grows (see
 * ./quota.ts), and commits once the stream has ended.
 *
 * A reader never sees a part of the file: until the commit nothing at `path` changes, and
 * a stream that fails, is aborted or is refused leaves nothing visible (its session is
 * aborted; chunks no file references go with the next garbage collection).
 *
 * Resumable uploads (SFTP's `reput`): with `finish`, the session is a *partial upload* its
 * owner can find again by path (MetaStore.findPartial). Its entries are only ever chunks
 * already stored, recorded as they are stored, so whatever arrived before a client, the
 * connection or the server died is still there, uncommitted and invisible to readers; at
 * the end `finish` may keep it so instead of committing it. A later upload of the same
 * path passes those chunks as its `prefix` and sends only the rest.
 */
import { chunkAreaSize, chunkStream } from '../algo/chunk-stream.js';
import { AbortedError, EncodingUnsupportedError, InternalError, UnavailableError, ValidationError } from '../core/errors.js';
import { FileHasher, type ChunkRef, type ChunkingParams } from '../core/manifest.js';
import type { Entry } from '../core/protocol.js';
import { ChunkBuffers } from '../store/chunk-buffers.js';
import type { CommitOptions } from '../store/meta-store.js';
import type { FastifyRequest } from 'fastify';
import type { ServerContext } from './context.js';
import { commitSession } from './commit.js';
import type { AuthContext } from './authz.js';
import { partyOf, type BodyLease, type BodyMemory } from './chunk-bodies.js';

/** Manifest entries appended once per this many chunks. */
const APPEND_EVERY = 16;
/**
 * Chunks being written to the chunk store at once while the stream is cut further: cutting
 * and hashing (this thread, the hash workers) overlap the chunk writes and their fsyncs (the
 * thread pool). A durable write is two fsyncs (the chunk, its directory), tens of ms when
 * the disk is busy, and the stream waits for the oldest write once this many are out: with
 * 3, a GiB over SFTP ran at 20 MB/s on a loaded machine. Each holds its chunk's bytes: at
 * most this many maximum-size chunks in memory per upload.
 */
const STORES_IN_FLIGHT = 6;
/**
 * Shared buffers the chunks of streamed uploads are cut into, and hashed from on the worker
 * threads (see chunkStream's `buffers`): enough for one upload at full speed with its stores
 * in flight and the chunks being cut, or two at a time with a few each (beyond, chunks get
 * buffers of their own). Kept while the server is busy, like the chunk store's read buffers
 * (./../store/chunk-buffers.ts says why): 12 of 1–4 MiB, let go when it idles
 * ({@link dropSpareStreamBuffers}).
 */
const STREAM_BUFFERS = new ChunkBuffers(2 * STORES_IN_FLIGHT);

/** Lets go of the free shared buffers of streamed uploads (the server's idle settle; {@link ChunkBuffers.dropFree}); returns how many. */
export function dropSpareStreamBuffers(): number {
  return STREAM_BUFFERS.dropFree();
}

/**
 * Memory (ServerContext.ingestMemory, 4 × `--body-memory`). Each stream holds the part of the
 * chunking area its bytes fill (up to {@link chunkAreaSize}: 8 MiB by default) and the chunks
 * being stored. Nothing bounded that: 200 `curl -T` of 4 MiB at once took 8 MiB each and the
 * server peaked at ~300 MB. Now a stream is read only once the budget has room for what it
 * can fill of the area plus one chunk, sized by its announced length (a 100 KiB file: 200
 * KiB; no length: the whole area and a chunk), and stores more chunks at once only while
 * the budget has room for them ({@link STORES_IN_FLIGHT} at most). Until it is admitted its
 * body is not read: the socket stops being read (TCP flow control holds the sender back),
 * first come first served, one user holding at most what leaves one more upload's room to
 * the others (BodyMemory's parties). A wait longer than {@link INGEST_WAIT_MS} is refused
 * with FERRY_ERR_UNAVAILABLE (503, Retry-After), so that a server held up by slow senders
 * answers rather than hangs.
 */
export const INGEST_WAIT_MS = 60_000;
/** The Retry-After of that refusal. */
const INGEST_RETRY_MS = 5_000;
/** Reservations are made in steps of this (a 1-byte file reserves this for its area, and as much for its chunk). */
const RESERVE_STEP = 64 * 1024;

const roundUp = (n: number): number => Math.max(RESERVE_STEP, Math.ceil(n / RESERVE_STEP) * RESERVE_STEP);

/** What a stream of `declared` bytes (undefined: not announced) is admitted with: the area it can fill and one chunk. */
export function ingestAdmission(params: ChunkingParams, declared?: number): { area: number; chunk: number } {
  const area = chunkAreaSize(params);
  return { area: roundUp(Math.min(declared ?? area, area)), chunk: roundUp(Math.min(declared ?? params.maxSize, params.maxSize)) };
}

/** The admission of a stream of unknown length: what the ingest budget must always leave to another user. */
export function ingestMinimum(params: ChunkingParams): number {
  const { area, chunk } = ingestAdmission(params);
  return area + chunk;
}

/**
 * Waits for `bytes` of `memory` (first come first served; see the comment on
 * {@link INGEST_WAIT_MS}); FERRY_ERR_UNAVAILABLE after `waitMs` (Infinity: no limit), FERRY_ERR_ABORTED when
 * `signal` fires first.
 */
export async function admitIngest(memory: BodyMemory, bytes: number, party: string | undefined, signal?: AbortSignal, waitMs = INGEST_WAIT_MS): Promise<BodyLease> {
  // Most are admitted at once: no timer, no listener.
  if (signal?.aborted !== true) {
    const now = memory.tryReserve(bytes, party);
    if (now) return now;
  }
  const waiting = new AbortController();
  let timedOut = false;
  // Infinity: no time limit (setTimeout would take it for 1 ms).
  const timer = Number.isFinite(waitMs)
    ? setTimeout(() => {
        timedOut = true;
        waiting.abort();
      }, waitMs)
    : undefined;
  const hangUp = () => waiting.abort();
  signal?.addEventListener('abort', hangUp, { once: true });
  if (signal?.aborted) waiting.abort();
  try {
    return await memory.reserve(bytes, waiting.signal, party);
  } catch (err) {
    if (err instanceof AbortedError && timedOut) {
      throw new UnavailableError(`the server is busy with other uploads (waited ${Math.round(waitMs / 1000)} s for memory to receive this one): try again shortly`, {
        retryAfterMs: INGEST_RETRY_MS,
      });
    }
    throw err;
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', hangUp);
  }
}

/** What becomes of a resumable upload once its body has ended. */
export type IngestFinish = { keep: true } | { keep?: false; mtime?: number; mode?: number };
/** Quota reserved ahead of the bytes stored (one reservation per this much of a stream). */
const RESERVE_AHEAD = 64 * 1024 * 1024;

export interface IngestRequest {
  /** Whose quota, limits and chunks these are (already authorized to write `path`). */
  auth: AuthContext;
  /** Server path of the file to create or replace. */
  path: string;
  body: AsyncIterable<Uint8Array>;
  /** The length the sender announced, if any: a body of another length is refused. */
  declaredSize?: number;
  /** Fail with FERRY_ERR_ALREADY_EXISTS at commit when `path` exists. */
  noOverwrite?: boolean;
  /** A condition on what `path` holds, checked by the commit itself (CommitOptions.expect). */
  expect?: CommitOptions['expect'];
  mtime?: number;
  mode?: number;
  /** The committed file is deleted this long after the commit. */
  ttlMs?: number;
  /** The request it came in (audit: address, front). */
  request?: FastifyRequest;
  /** Aborting (e.g. the client hung up) fails the ingest and leaves nothing visible. */
  signal?: AbortSignal;
  /**
   * Chunks the file begins with, before the body's bytes: stored already and proven by
   * `auth`'s user (the chunks of a partial upload being resumed, the unchanged head of a
   * file being appended to). They must be chunks the server's chunker cut at content-defined
   * boundaries, so that the file's manifest is the one a whole upload would get.
   */
  prefix?: readonly ChunkRef[];
  /**
   * The caller's own partial upload this one continues (its chunks are `prefix`): it counts
   * neither against the session limit nor in flight when this session is created
   * (QuotaGuard.createCheck), and goes once this one is kept or committed.
   */
  supersedes?: string;
  /**
   * Makes the upload resumable (see the module comment) and is asked, once the body has
   * ended, what to do: keep the bytes as a partial upload, or commit them (with the final
   * mtime and mode, which win over `mtime` and `mode`).
   */
  finish?: () => IngestFinish;
  /**
   * Room the caller already took in `ctx.ingestMemory` for this stream (at least its
   * admission: {@link ingestMinimum} for an unknown length), instead of the ingest waiting for
   * it; null: none could be had without waiting, and the stream goes on unadmitted, storing
   * one chunk at a time. The ingest gives it back once it cuts no more. For SFTP, whose files
   * of one session arrive in order over one channel (src/server/sftp/ferry-fs.ts admitUpload).
   */
  admitted?: BodyLease | null;
}

/** A resumable upload kept uncommitted: its session and the chunks it holds, in order. */
export interface KeptUpload {
  id: string;
  size: number;
  chunks: ChunkRef[];
}

export type IngestResult = { entry: Entry; kept?: undefined } | { entry?: undefined; kept: KeptUpload };

/**
 * Refuses a file's bytes sent with a Content-Encoding (415 FERRY_ERR_ENCODING_UNSUPPORTED),
 * on every route that takes them as a stream (PUT /api/v1/files, forms, WebDAV PUT, tus,
 * upload links): the server used to store the gzip bytes as the file. Only none or
 * `identity` passes. Decoding gzip, br or zstd here was the alternative, rejected: no client
 * of ours sends it (upload sessions take zstd chunk bodies, ./routes/uploads.ts), the quota
 * admission and a declared size go by Content-Length, which a compressed body does not give,
 * and a decoder would need a bound on its expansion.
 */
export function refuseEncodedBody(request: Pick<FastifyRequest, 'headers'>): void {
  const value = String(request.headers['content-encoding'] ?? '').trim().toLowerCase();
  if (value === '' || value === 'identity') return;
  throw new EncodingUnsupportedError(`Content-Encoding ${JSON.stringify(value.slice(0, 64))} is not taken for a file's bytes: send them as they are (no Content-Encoding); compressed transfer is the upload sessions' zstd chunks (ferry put)`);
}

/** Cuts `body` into chunks, stores them and commits the file; returns the committed entry. */
export async function ingestStream(ctx: ServerContext, req: IngestRequest): Promise<Entry> {
  const result = await ingest(ctx, req);
  if (!result.entry) throw new InternalError('a streamed upload was kept although nothing asked for that');
  return result.entry;
}

/** {@link ingestStream}, for resumable uploads: the committed entry, or what was kept. */
export async function ingest(ctx: ServerContext, req: IngestRequest): Promise<IngestResult> {
  const { auth, signal } = req;
  // Here too, for a route that takes a body and did not look (see refuseEncodedBody).
  if (req.request) refuseEncodedBody(req.request);
  const started = ctx.now();
  const prefix = req.prefix ?? [];
  const party = partyOf(auth);
  const admission = ingestAdmission(ctx.config.chunking, req.declaredSize);
  const admitted =
    req.admitted !== undefined
      ? (req.admitted ?? { kind: 'reserved', release: () => undefined })
      : await admitIngest(ctx.ingestMemory, admission.area + admission.chunk, party, signal, ctx.ingestWaitMs);
  try {
    return await ingestAdmitted(ctx, req, started, prefix, (bytes) => ctx.ingestMemory.tryReserve(roundUp(bytes), party), () => admitted.release());
  } finally {
    admitted.release();
  }
}

/**
 * {@link ingest} once admitted: `room(bytes)` is room for a chunk of its own, when the budget
 * has it now; `giveBackRoom()` gives the admission back once no chunk is cut or stored any more.
 */
async function ingestAdmitted(
  ctx: ServerContext,
  req: IngestRequest,
  started: number,
  prefix: readonly ChunkRef[],
  room: (bytes: number) => BodyLease | undefined,
  giveBackRoom: () => void,
): Promise<IngestResult> {
  const { auth, path, signal } = req;
  const up = await ctx.meta.createUpload(
    {
      owner: auth.userId,
      files: [{ path, ...(prefix.length > 0 ? { chunks: [...prefix] } : {}), ...(req.ttlMs !== undefined ? { ttlSeconds: Math.ceil(req.ttlMs / 1000) } : {}) }],
      noOverwrite: req.noOverwrite ?? false,
      ttlMs: ctx.config.uploadTtlMs,
      partial: req.finish !== undefined,
      visitorStream: auth.share !== undefined,
    },
    { check: ctx.quota.createCheck(auth, [{ path, size: req.declaredSize, chunks: prefix }], req.supersedes) },
  );
  const hasher = new FileHasher();
  for (const c of prefix) hasher.add(c.hash, c.size);
  // The session's entries: chunks stored, in order (what a kept upload holds).
  const recorded: ChunkRef[] = [...prefix];
  try {
    if (req.declaredSize !== undefined && hasher.size > req.declaredSize) throw new ValidationError(`the body is longer than the ${req.declaredSize} bytes announced`);
    let pending: ChunkRef[] = [];
    // The size the session's quota reservation covers: a chunk is stored only once the
    // reservation covers it, so no byte past the quota reaches the store.
    let covered = req.declaredSize ?? hasher.size;
    const flush = async (): Promise<void> => {
      if (pending.length === 0) return;
      await ctx.meta.appendEntries(up.id, 0, pending, ctx.config.uploadTtlMs, { check: ctx.quota.entriesCheck(auth) });
      recorded.push(...pending);
      pending = [];
    };
    // Chunks being stored, in stream order; an entry is recorded once its chunk is stored.
    const storing: { ref: ChunkRef; done: Promise<unknown>; room?: BodyLease }[] = [];
    const settleFirst = async (): Promise<void> => {
      const first = storing.shift()!;
      await first.done.finally(() => first.room?.release());
      ctx.metrics.chunkBodyBytesReceived.inc(first.ref.size);
      pending.push(first.ref);
      if (pending.length >= APPEND_EVERY) await flush();
    };
    try {
      for await (const c of chunkStream(req.body, ctx.config.chunking, { signal, buffers: STREAM_BUFFERS })) {
        let done: Promise<unknown>;
        try {
          hasher.add(c.hash, c.size);
          if (req.declaredSize !== undefined && hasher.size > req.declaredSize) {
            throw new ValidationError(`the body is longer than the ${req.declaredSize} bytes announced`);
          }
          ctx.quota.checkFileSize(auth, path, hasher.size);
        } catch (err) {
          c.release?.();
          throw err;
        }
        try {
          if (hasher.size > covered) covered = await ctx.quota.reserveGrowth(auth, up.id, path, hasher.size, RESERVE_AHEAD);
          done = ctx.chunks.putOwnBytes(c.hash, c.data, signal, { owner: auth.userId, path });
        } catch (err) {
          c.release?.();
          throw err;
        }
        // The buffer goes back once the chunk is written (or failed); a failure is awaited
        // in order below and must not go unhandled while it waits.
        done.then(c.release, c.release).catch(() => undefined);
        done.catch(() => undefined);
        // The next chunk is cut into the admission's room for one chunk: this one, while it is
        // stored, needs room of its own, or it is stored (older ones first) before the next is cut.
        const stored = { ref: { hash: c.hash, size: c.size }, done, room: room(c.size) };
        storing.push(stored);
        while (storing.length >= STORES_IN_FLIGHT || (!stored.room && storing.includes(stored))) {
          await settleFirst();
          if (!stored.room && storing.includes(stored)) stored.room = room(c.size);
        }
      }
      while (storing.length > 0) await settleFirst();
    } finally {
      // On failure: let the stores in flight finish before the session goes (none is left writing).
      await Promise.allSettled(storing.map((s) => s.done));
      for (const s of storing) s.room?.release();
      giveBackRoom();
    }
    if (req.declaredSize !== undefined && hasher.size !== req.declaredSize) {
      throw new ValidationError(`the body had ${hasher.size} bytes, ${req.declaredSize} were announced`);
    }
    // The pre-upload hook reads the session's entries before the commit: they go in first.
    if (ctx.config.preUploadHook) await flush();
    return await finishIngest(ctx, req, started, up.id, hasher, recorded, pending, flush);
  } catch (err) {
    // A resumable upload keeps what it recorded unless it was refused (quota, size, a
    // conflict): a failure of the sender or the connection is what resuming is for.
    if (!(req.finish && recorded.length > 0 && resumableFailure(err))) await ctx.abandonUpload(up.id);
    throw err;
  }
}

/**
 * {@link ingestAdmitted} once every chunk is stored: the upload kept (to resume) or
 * committed. `unrecorded`: the last chunks, not yet in the session's entries; the commit
 * records them in its own transaction (a small file's one chunk: one transaction, not two),
 * `record()` does before the upload is kept.
 */
async function finishIngest(
  ctx: ServerContext,
  req: IngestRequest,
  started: number,
  uploadId: string,
  hasher: FileHasher,
  recorded: ChunkRef[],
  unrecorded: readonly ChunkRef[],
  record: () => Promise<void>,
): Promise<IngestResult> {
  const { auth, path } = req;
  const end = req.finish?.() ?? {};
  if (end.keep) {
    await record();
    // Nothing to resume from an empty one; superseded partials of the path (abandoned
    // before this upload began) go now.
    if (hasher.size === 0) await ctx.meta.abortUpload(uploadId);
    else {
      await ctx.meta.dropPartials(auth.userId, path, { before: started, except: uploadId });
      // While kept, it holds the quota its bytes take, not the room reserved ahead of them
      // (unless the quota shrank under it meanwhile: then it keeps what it had).
      await ctx.quota.reserveGrowth(auth, uploadId, path, hasher.size).catch(() => undefined);
    }
    return { kept: { id: uploadId, size: hasher.size, chunks: recorded } };
  }
  const mtime = end.mtime ?? req.mtime;
  const mode = end.mode ?? req.mode;
  // A resumable upload's front audits the upload itself (with what it received and where
  // a resume began); others are audited by the commit.
  const [entry] = await commitSession(
    ctx,
    req.request ?? null,
    auth,
    uploadId,
    { size: hasher.size, hash: hasher.digest(), mtime: mtime ?? ctx.now(), ...(mode !== undefined ? { mode } : {}) },
    { check: ctx.quota.commitCheck(auth), ...(req.expect ? { expect: req.expect } : {}), append: { fileIdx: 0, from: recorded.length, chunks: unrecorded } },
    undefined,
    req.finish === undefined,
  );
  if (req.finish) await ctx.meta.dropPartials(auth.userId, path, { before: started });
  return { entry };
}

/** Failures after which a resumable upload's bytes are worth keeping (not refusals of the upload itself). */
function resumableFailure(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'FERRY_ERR_ABORTED' || code === 'FERRY_ERR_IO' || code === 'FERRY_ERR_NETWORK' || code === 'FERRY_ERR_UNAVAILABLE' || code === 'FERRY_ERR_TIMEOUT';
}

/** An AbortSignal that fires when an HTTP request's connection closes before its body ended. */
export function abortOnHangUp(raw: { complete: boolean; once(event: 'close', f: () => void): unknown }): AbortSignal {
  const controller = new AbortController();
  raw.once('close', () => {
    if (!raw.complete) controller.abort();
  });
  return controller.signal;
}
