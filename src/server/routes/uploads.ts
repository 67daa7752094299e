/**
 * Upload sessions (docs/protocol.md, "Uploads"): create with a manifest (whole, partial or
 * none), append manifest entries, send the missing chunks (one per PUT, or many small ones
 * in a pack), commit atomically, or abort.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Readable } from 'node:stream';
import {
  ChunkNotInUploadError,
  PayloadTooLargeError,
  ValidationError,
} from '../../core/errors.js';
import { assertSha256Hex, validateChunkList } from '../../core/manifest.js';
import {
  API_PREFIX,
  type AppendChunksResponse,
  type ChunkPutResponse,
  type CommitResponse,
  type UploadFileSpec,
  type UploadStatus,
} from '../../core/protocol.js';
import { distinctHashes } from '../../store/meta-store.js';
import { authOf, type ServerContext } from '../app.js';
import { optionalInt, validateFileSpec } from '../validate.js';

type IdParams = { id: string };

function asObject(body: unknown): Record<string, unknown> {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new ValidationError('the body must be a JSON object');
  return body as Record<string, unknown>;
}

/** The unparsed body stream. A JSON content type would have been parsed (and consumed) already. */
function rawBody(request: FastifyRequest): Readable {
  const body = request.body as Readable | undefined;
  if (body && typeof body.pipe === 'function') return body;
  throw new ValidationError('chunk and pack bodies must be sent as application/octet-stream');
}

export function registerUploadRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const { meta, chunks, limits } = ctx;
  const ttl = ctx.config.uploadTtlMs;

  app.post(`${API_PREFIX}/uploads`, async (request, reply) => {
    const body = asObject(request.body);
    let files: UploadFileSpec[];
    if (body.files !== undefined) {
      if (!Array.isArray(body.files) || body.files.length === 0) throw new ValidationError('files must be a non-empty array');
      if (body.files.length > limits.maxFilesPerUpload) throw new PayloadTooLargeError(`at most ${limits.maxFilesPerUpload} files per upload session`);
      if (body.path !== undefined) throw new ValidationError('give either path (one file) or files (a batch), not both');
      files = body.files.map((f, i) => validateFileSpec(f, `files[${i}]`, limits.maxChunkSize));
      files.forEach((f, i) => {
        if (f.size === undefined || f.hash === undefined || f.chunks === undefined) {
          throw new ValidationError(`files[${i}]: in a batch every file needs size, hash and chunks`);
        }
      });
      const paths = new Set(files.map((f) => f.path));
      if (paths.size !== files.length) throw new ValidationError('a batch names the same path twice');
    } else {
      files = [validateFileSpec(body, 'upload', limits.maxChunkSize)];
    }
    const totalChunks = files.reduce((a, f) => a + (f.chunks?.length ?? 0), 0);
    if (totalChunks > limits.maxChunksPerRequest) {
      throw new PayloadTooLargeError(`at most ${limits.maxChunksPerRequest} chunk entries per request; append the rest with POST ${API_PREFIX}/uploads/:id/chunks`);
    }
    const up = await meta.createUpload({ owner: authOf(request).userId, files, noOverwrite: body.noOverwrite === true, ttlMs: ttl });
    const all = files.flatMap((f) => f.chunks ?? []);
    const present = await meta.presentChunks(all.map((c) => c.hash));
    const status: UploadStatus = { id: up.id, expiresAt: up.expiresAt, files: up.files, missing: distinctHashes(all).filter((h) => !present.has(h)), sealed: up.sealed };
    return reply.status(201).send(status);
  });

  app.get<{ Params: IdParams }>(`${API_PREFIX}/uploads/:id`, async (request) => {
    const up = await meta.getUpload(request.params.id, ttl);
    const status: UploadStatus = { id: up.id, expiresAt: up.expiresAt, files: up.files, missing: await meta.missingChunks(up.id), sealed: up.sealed };
    return status;
  });

  app.post<{ Params: IdParams }>(`${API_PREFIX}/uploads/:id/chunks`, async (request) => {
    const body = asObject(request.body);
    const file = optionalInt(body.file, 'file') ?? 0;
    validateChunkList(body.chunks, limits.maxChunkSize);
    const list = (body.chunks as { hash: string; size: number }[]).map((c) => ({ hash: c.hash, size: c.size }));
    if (list.length > limits.maxChunksPerRequest) throw new PayloadTooLargeError(`at most ${limits.maxChunksPerRequest} chunk entries per request`);
    const missing = await meta.appendEntries(request.params.id, file, list, ttl);
    const res: AppendChunksResponse = { missing };
    return res;
  });

  app.put<{ Params: IdParams & { hash: string } }>(`${API_PREFIX}/uploads/:id/chunks/:hash`, async (request) => {
    const hash = assertSha256Hex(request.params.hash, 'chunk hash');
    const lengthHeader = request.headers['content-length'];
    if (lengthHeader === undefined) throw new ValidationError('a chunk PUT needs a Content-Length header');
    const size = Number(lengthHeader);
    if (!Number.isSafeInteger(size) || size < 1) throw new ValidationError('Content-Length must be a positive integer');
    if (size > limits.maxChunkSize) throw new PayloadTooLargeError(`a chunk may be at most ${limits.maxChunkSize} bytes`);
    await meta.touchUpload(request.params.id, ttl);
    // The file that brings the chunk: its path routes a new chunk to its store (--store).
    const path = await meta.uploadChunkPath(request.params.id, hash);
    if (path === undefined) {
      throw new ChunkNotInUploadError(`chunk ${hash} is not in upload ${request.params.id}'s manifest`);
    }
    const controller = new AbortController();
    request.raw.once('close', () => {
      if (!request.raw.complete) controller.abort();
    });
    const stored = await chunks.put(hash, size, rawBody(request), controller.signal, path);
    const res: ChunkPutResponse = { hash, size, stored };
    return res;
  });

  app.post<{ Params: IdParams }>(`${API_PREFIX}/uploads/:id/packs`, async (request) => {
    const id = request.params.id;
    await meta.touchUpload(id, ttl);
    const declared = Number(request.headers['content-length'] ?? 0);
    if (declared > limits.maxPackBytes) throw new PayloadTooLargeError(`a pack may be at most ${limits.maxPackBytes} bytes`);
    const controller = new AbortController();
    request.raw.once('close', () => {
      if (!request.raw.complete) controller.abort();
    });
    const path = await meta.uploadFirstPath(id);
    const result = await chunks.putPack(
      rawBody(request),
      limits.maxPackBytes,
      controller.signal,
      async (hashes) => {
        const strangers = await meta.hashesNotInUpload(id, hashes);
        if (strangers.length > 0) throw new ChunkNotInUploadError(`chunk ${strangers[0]} is not in upload ${id}'s manifest`, { details: { hashes: strangers.slice(0, 100) } });
      },
      path,
    );
    return result;
  });

  app.post<{ Params: IdParams }>(`${API_PREFIX}/uploads/:id/commit`, async (request) => {
    const body = request.body === undefined || request.body === null ? {} : asObject(request.body);
    const final: { size?: number; hash?: string; mtime?: number; mode?: number } = {};
    const size = optionalInt(body.size, 'size');
    if (size !== undefined) final.size = size;
    if (body.hash !== undefined) final.hash = assertSha256Hex(body.hash, 'hash');
    const mtime = optionalInt(body.mtime, 'mtime');
    if (mtime !== undefined) final.mtime = mtime;
    const mode = optionalInt(body.mode, 'mode');
    if (mode !== undefined) final.mode = mode & 0o7777;
    const files = await meta.commitUpload(request.params.id, final);
    ctx.metrics.commits.inc(files.length);
    const res: CommitResponse = { files };
    return res;
  });

  app.delete<{ Params: IdParams }>(`${API_PREFIX}/uploads/:id`, async (request, reply) => {
    await meta.abortUpload(request.params.id);
    return reply.status(204).send();
  });
}
