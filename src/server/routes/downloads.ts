/**
 * Downloads (docs/protocol.md, "Downloads"): whole files with Range and ETag, manifests for
 * delta and parallel downloads, single chunks, batches of chunks for many small files.
 * Every chunk is verified before its bytes leave; a chunk found corrupt after the headers
 * went out cuts the connection, so a client sees a short body, never wrong bytes.
 */
import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { IsADirectoryError, NotFoundError, PayloadTooLargeError, RangeNotSatisfiableError, ValidationError } from '../../core/errors.js';
import { assertSha256Hex, chunkOffsets, type ChunkRef } from '../../core/manifest.js';
import { API_PREFIX, PACK_FRAME_HEADER_BYTES, type ManifestResponse } from '../../core/protocol.js';
import type { ChunkStore } from '../../store/chunk-store.js';
import { authOf, type ServerContext } from '../app.js';
import { unreadableChunks } from '../chunk-access.js';
import { etagMatches, parseRange } from '../range.js';
import { wildcardPath } from '../validate.js';

/** Chunks read (and verified) ahead of the one being sent: overlaps disk and hashing with the socket. */
const READ_AHEAD = 3;

/** Index of the chunk holding byte `pos` (offsets has n+1 entries). */
function chunkAt(offsets: number[], pos: number): number {
  let lo = 0;
  let hi = offsets.length - 2;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (offsets[mid] <= pos) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** Verified bytes of `[start, end]` (inclusive) of a file, chunk by chunk, reading ahead. */
async function* fileBytes(store: ChunkStore, chunks: ChunkRef[], offsets: number[], start: number, end: number, first?: Buffer): AsyncGenerator<Buffer> {
  const firstIdx = chunkAt(offsets, start);
  const lastIdx = chunkAt(offsets, end);
  const window: Promise<Buffer>[] = [];
  let next = firstIdx;
  const launch = (): void => {
    const p = next === firstIdx && first ? Promise.resolve(first) : store.read(chunks[next].hash);
    p.catch(() => undefined); // awaited below; avoid an unhandled rejection while it waits its turn
    window.push(p);
    next++;
  };
  while (window.length < READ_AHEAD && next <= lastIdx) launch();
  for (let i = firstIdx; i <= lastIdx; i++) {
    const buf = await window.shift()!;
    if (next <= lastIdx) launch();
    const from = i === firstIdx ? start - offsets[i] : 0;
    const to = i === lastIdx ? end - offsets[i] + 1 : buf.length;
    yield from === 0 && to === buf.length ? buf : buf.subarray(from, to);
  }
}

export function registerDownloadRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const serveFile = async (request: FastifyRequest, reply: FastifyReply, head: boolean) => {
    const path = wildcardPath(request);
    const { entry, chunks } = await ctx.meta.fileContent(path).catch((err: unknown) => {
      if (err instanceof IsADirectoryError) throw new IsADirectoryError(`${path} is a directory: list it with ${API_PREFIX}/list${path}`);
      throw err;
    });
    const etag = `"${entry.hash}"`;
    reply.header('etag', etag);
    reply.header('last-modified', new Date(entry.mtime).toUTCString());
    reply.header('accept-ranges', 'bytes');
    reply.header('cache-control', 'private, no-cache');
    if (etagMatches(request.headers['if-none-match'], etag)) return reply.status(304).send();

    const size = entry.size;
    let range = parseRange(request.headers.range, size);
    const ifRange = request.headers['if-range'];
    if (ifRange !== undefined && ifRange !== etag) range = undefined;
    if (range === 'unsatisfiable') {
      reply.header('content-range', `bytes */${size}`);
      throw new RangeNotSatisfiableError(`the file has ${size} bytes`);
    }
    const start = range ? range.start : 0;
    const end = range ? range.end : size - 1;
    reply.type('application/octet-stream');
    reply.header('content-length', String(end - start + 1));
    if (range) {
      reply.status(206);
      reply.header('content-range', `bytes ${start}-${end}/${size}`);
    }
    if (head || size === 0) return reply.send();
    const offsets = chunkOffsets(chunks);
    // The first chunk is read before the headers go out: if it is corrupt the client gets a
    // proper 500 with FERRY_ERR_CHUNK_CORRUPT instead of a cut connection.
    const first = await ctx.chunks.read(chunks[chunkAt(offsets, start)].hash);
    return reply.send(Readable.from(fileBytes(ctx.chunks, chunks, offsets, start, end, first), { objectMode: false }));
  };

  app.get(`${API_PREFIX}/files/*`, (request, reply) => serveFile(request, reply, false));
  app.head(`${API_PREFIX}/files/*`, (request, reply) => serveFile(request, reply, true));

  app.get(`${API_PREFIX}/manifests/*`, async (request, reply) => {
    const path = wildcardPath(request);
    const { entry, chunks } = await ctx.meta.fileContent(path);
    const etag = `"${entry.hash}"`;
    reply.header('etag', etag);
    if (etagMatches(request.headers['if-none-match'], etag)) return reply.status(304).send();
    const res: ManifestResponse = { path: entry.path, size: entry.size, hash: entry.hash!, mtime: entry.mtime, chunking: ctx.config.chunking, chunks };
    if (entry.mode !== undefined) res.mode = entry.mode;
    return res;
  });

  app.get<{ Params: { hash: string } }>(`${API_PREFIX}/chunks/:hash`, async (request, reply) => {
    const hash = assertSha256Hex(request.params.hash, 'chunk hash');
    if ((await unreadableChunks(ctx, authOf(request), [hash])).length > 0) throw new NotFoundError(`chunk ${hash} not found`);
    const buf = await ctx.chunks.read(hash);
    reply.header('etag', `"${hash}"`);
    reply.header('cache-control', 'private, max-age=31536000, immutable');
    reply.type('application/octet-stream');
    return reply.send(buf);
  });

  /**
   * Many chunks in one answer (small files: one request for hundreds of them). Every chunk
   * is read and verified before the first byte goes out, so an unknown, unreadable or
   * corrupt chunk is a proper error status; the limits keep that buffer small.
   */
  app.post(`${API_PREFIX}/chunks/batch`, async (request, reply) => {
    const hashes = batchHashes(request.body, ctx.limits.maxChunksPerBatch ?? 0);
    const notFound = (missing: string[]) =>
      new NotFoundError(`${missing.length} of the ${hashes.length} chunks asked for are not found (first: ${missing[0]})`, {
        details: { missing: missing.slice(0, 100), count: missing.length },
      });
    const denied = await unreadableChunks(ctx, authOf(request), hashes);
    if (denied.length > 0) throw notFound(denied);
    const where = await ctx.meta.chunkLocations(hashes);
    // (garbage collection may have taken one since the access check)
    const gone = hashes.filter((h) => !where.has(h));
    if (gone.length > 0) throw notFound(gone);
    const locations = hashes.map((h) => where.get(h)!);
    const bytes = locations.reduce((a, l) => a + l.size, 0);
    const maxBytes = ctx.limits.maxBatchBytes ?? 0;
    if (bytes > maxBytes) throw new PayloadTooLargeError(`these chunks hold ${bytes} bytes; a batch may hold at most ${maxBytes}`, { details: { bytes, maxBytes } });
    // A client that hangs up stops the reads (the request itself is over once its body is parsed).
    const controller = new AbortController();
    reply.raw.once('close', () => {
      if (!reply.raw.writableFinished) controller.abort();
    });
    const data = await ctx.chunks.readMany(locations, controller.signal);
    reply.type('application/octet-stream');
    reply.header('content-length', String(bytes + PACK_FRAME_HEADER_BYTES * hashes.length));
    reply.header('cache-control', 'private, no-cache');
    return reply.send(Readable.from(frames(hashes, data), { objectMode: false }));
  });
}

/** The validated hash list of a batch request: distinct, well-formed, not too many. */
function batchHashes(body: unknown, max: number): string[] {
  const hashes = (body as { hashes?: unknown } | null | undefined)?.hashes;
  if (!Array.isArray(hashes) || hashes.length === 0) throw new ValidationError('the body must be {hashes: [chunk hash, ...]} with at least one hash');
  if (hashes.length > max) throw new PayloadTooLargeError(`at most ${max} chunks per batch, not ${hashes.length}`, { details: { max } });
  const out = hashes.map((h, i) => assertSha256Hex(h, `hashes[${i}]`));
  if (new Set(out).size !== out.length) throw new ValidationError('a batch names the same chunk twice');
  return out;
}

/** `hash | u32 size | data` per chunk. */
function* frames(hashes: string[], data: Buffer[]): Generator<Buffer> {
  for (let i = 0; i < hashes.length; i++) {
    const head = Buffer.allocUnsafe(PACK_FRAME_HEADER_BYTES);
    head.write(hashes[i], 0, 32, 'hex');
    head.writeUInt32BE(data[i].length, 32);
    yield head;
    yield data[i];
  }
}
