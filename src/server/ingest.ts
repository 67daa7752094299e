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
 */
import { Readable } from 'node:stream';
import { chunkStream } from '../algo/chunk-stream.js';
import { ValidationError } from '../core/errors.js';
import { FileHasher, type ChunkRef } from '../core/manifest.js';
import type { Entry } from '../core/protocol.js';
import type { FastifyRequest } from 'fastify';
import type { ServerContext } from './context.js';
import { commitSession } from './commit.js';
import type { AuthContext } from './authz.js';

/** Manifest entries appended once per this many chunks. */
const APPEND_EVERY = 16;
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
  mtime?: number;
  mode?: number;
  /** The committed file is deleted this long after the commit. */
  ttlMs?: number;
  /** The request it came in (audit: address, front). */
  request?: FastifyRequest;
  /** Aborting (e.g. the client hung up) fails the ingest and leaves nothing visible. */
  signal?: AbortSignal;
}

/** Cuts `body` into chunks, stores them and commits the file; returns the committed entry. */
export async function ingestStream(ctx: ServerContext, req: IngestRequest): Promise<Entry> {
  const { auth, path, signal } = req;
  const up = await ctx.meta.createUpload(
    {
      owner: auth.userId,
      files: [{ path, ...(req.ttlMs !== undefined ? { ttlSeconds: Math.ceil(req.ttlMs / 1000) } : {}) }],
      noOverwrite: req.noOverwrite ?? false,
      ttlMs: ctx.config.uploadTtlMs,
    },
    { check: ctx.quota.createCheck(auth, [{ path, size: req.declaredSize }]) },
  );
  try {
    const hasher = new FileHasher();
    let pending: ChunkRef[] = [];
    // The size the session's quota reservation covers: a chunk is stored only once the
    // reservation covers it, so no byte past the quota reaches the store.
    let covered = req.declaredSize ?? 0;
    const flush = async (): Promise<void> => {
      if (pending.length === 0) return;
      await ctx.meta.appendEntries(up.id, 0, pending, ctx.config.uploadTtlMs);
      pending = [];
    };
    for await (const c of chunkStream(req.body, ctx.config.chunking, { signal })) {
      hasher.add(c.hash, c.size);
      if (req.declaredSize !== undefined && hasher.size > req.declaredSize) {
        throw new ValidationError(`the body is longer than the ${req.declaredSize} bytes announced`);
      }
      ctx.quota.checkFileSize(auth, path, hasher.size);
      if (hasher.size > covered) covered = await ctx.quota.reserveGrowth(auth, up.id, path, hasher.size, RESERVE_AHEAD);
      await ctx.chunks.put(c.hash, c.size, Readable.from([c.data]), signal, { owner: auth.userId, path });
      ctx.metrics.chunkBodyBytesReceived.inc(c.size);
      pending.push({ hash: c.hash, size: c.size });
      if (pending.length >= APPEND_EVERY) await flush();
    }
    await flush();
    if (req.declaredSize !== undefined && hasher.size !== req.declaredSize) {
      throw new ValidationError(`the body had ${hasher.size} bytes, ${req.declaredSize} were announced`);
    }
    const [entry] = await commitSession(
      ctx,
      req.request ?? null,
      auth,
      up.id,
      { size: hasher.size, hash: hasher.digest(), mtime: req.mtime ?? ctx.now(), ...(req.mode !== undefined ? { mode: req.mode } : {}) },
      { check: ctx.quota.commitCheck(auth) },
    );
    return entry;
  } catch (err) {
    await ctx.meta.abortUpload(up.id).catch(() => undefined);
    throw err;
  }
}

/** An AbortSignal that fires when an HTTP request's connection closes before its body ended. */
export function abortOnHangUp(raw: { complete: boolean; once(event: 'close', f: () => void): unknown }): AbortSignal {
  const controller = new AbortController();
  raw.once('close', () => {
    if (!raw.complete) controller.abort();
  });
  return controller.signal;
}
