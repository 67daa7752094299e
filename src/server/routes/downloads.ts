/**
 * Downloads (docs/protocol.md, "Downloads"): whole files with Range and ETag, manifests for
 * delta and parallel downloads, single chunks. Every chunk is verified before its bytes
 * leave; a chunk found corrupt after the headers went out cuts the connection, so a client
 * sees a short body, never wrong bytes.
 *
 * A chunk is served only in the context of a file the caller may read (`?path=`), and only
 * if that file's manifest holds it: chunk hashes are not capabilities, and the store's
 * dedup across users must not turn into a way to read (or probe) someone else's files.
 */
import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { IsADirectoryError, NotFoundError, RangeNotSatisfiableError, ValidationError } from '../../core/errors.js';
import { assertSha256Hex, chunkOffsets, type ChunkRef } from '../../core/manifest.js';
import { normalizePath } from '../../core/path.js';
import { API_PREFIX, type ManifestResponse } from '../../core/protocol.js';
import type { ChunkStore } from '../../store/chunk-store.js';
import { authOf, type ServerContext } from '../app.js';
import { authorize, isAdmin, toUserPath } from '../authz.js';
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

/**
 * Which chunks a manifest holds, for the chunk route: a download of an N-chunk file makes
 * N chunk requests, and decoding the manifest for each would cost O(N²). Manifests are
 * immutable (named by their hash), so entries never go stale; the cache is bounded by the
 * total number of chunk hashes it holds (about 100 bytes each) and drops the least recently
 * used manifests first.
 */
export class ManifestChunkSets {
  private readonly sets = new Map<string, Set<string>>();
  private held = 0;

  constructor(private readonly maxHashes = 200_000) {}

  async has(manifest: string, hash: string, load: () => Promise<readonly ChunkRef[]>): Promise<boolean> {
    let set = this.sets.get(manifest);
    if (set) {
      this.sets.delete(manifest); // re-inserted below: Map order is recency
    } else {
      set = new Set((await load()).map((c) => c.hash));
      this.held += set.size;
      for (const [k, v] of this.sets) {
        if (this.held <= this.maxHashes) break;
        this.sets.delete(k);
        this.held -= v.size;
      }
    }
    this.sets.set(manifest, set);
    return set.has(hash);
  }
}

export interface ServeFileOptions {
  head: boolean;
  /** Content-Disposition to send (share links offer the file as a download). */
  disposition?: string;
  /** Called once the headers are decided and the body is about to go (share links count uses here). */
  beforeBody?: (range: { start: number; end: number; size: number; partial: boolean }) => Promise<void>;
}

/**
 * Sends the file at a server path: ETag, Last-Modified, Range, HEAD, verified chunks. Shared
 * by `GET /api/v1/files/*` and the share-link routes.
 */
export async function sendFile(ctx: ServerContext, request: FastifyRequest, reply: FastifyReply, serverPath: string, shownPath: string, options: ServeFileOptions): Promise<FastifyReply> {
  const { head } = options;
  const path = shownPath;
  const { entry, chunks } = await ctx.meta.fileContent(serverPath).catch((err: unknown) => {
    if (err instanceof IsADirectoryError) throw new IsADirectoryError(`${path} is a directory: list it with ${API_PREFIX}/list${path}`);
    if (err instanceof NotFoundError) throw new NotFoundError(`${path}: no such file or directory`, { details: { path } });
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
  // Stored bytes are never a page of ours: a browser must not sniff, render or script them.
  reply.header('x-content-type-options', 'nosniff');
  reply.header('content-security-policy', "sandbox; default-src 'none'");
  if (options.disposition) reply.header('content-disposition', options.disposition);
  reply.header('content-length', String(end - start + 1));
  if (range) {
    reply.status(206);
    reply.header('content-range', `bytes ${start}-${end}/${size}`);
  }
  if (!head) await options.beforeBody?.({ start, end, size, partial: range !== undefined });
  if (head || size === 0) return reply.send();
  const offsets = chunkOffsets(chunks);
  // The first chunk is read before the headers go out: if it is corrupt the client gets a
  // proper 500 with FERRY_ERR_CHUNK_CORRUPT instead of a cut connection.
  const first = await ctx.chunks.read(chunks[chunkAt(offsets, start)].hash);
  return reply.send(Readable.from(fileBytes(ctx.chunks, chunks, offsets, start, end, first), { objectMode: false }));
}

export function registerDownloadRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const chunkSets = new ManifestChunkSets();
  const serveFile = (request: FastifyRequest, reply: FastifyReply, head: boolean) => {
    const path = wildcardPath(request);
    return sendFile(ctx, request, reply, authorize(authOf(request), 'read', path), path, { head });
  };
  app.get(`${API_PREFIX}/files/*`, (request, reply) => serveFile(request, reply, false));
  app.head(`${API_PREFIX}/files/*`, (request, reply) => serveFile(request, reply, true));

  app.get(`${API_PREFIX}/manifests/*`, async (request, reply) => {
    const auth = authOf(request);
    const { entry, chunks } = await ctx.meta.fileContent(authorize(auth, 'read', wildcardPath(request)));
    const etag = `"${entry.hash}"`;
    reply.header('etag', etag);
    if (etagMatches(request.headers['if-none-match'], etag)) return reply.status(304).send();
    const res: ManifestResponse = { path: toUserPath(auth, entry.path), size: entry.size, hash: entry.hash!, mtime: entry.mtime, chunking: ctx.config.chunking, chunks };
    if (entry.mode !== undefined) res.mode = entry.mode;
    return res;
  });

  app.get<{ Params: { hash: string }; Querystring: { path?: string } }>(`${API_PREFIX}/chunks/:hash`, async (request, reply) => {
    const auth = authOf(request);
    const hash = assertSha256Hex(request.params.hash, 'chunk hash');
    const filePath = request.query.path;
    if (filePath !== undefined) {
      const server = authorize(auth, 'read', normalizePath(filePath));
      const entry = await ctx.meta.stat(server); // one row: the file's manifest hash, no manifest read
      if (entry.type !== 'file') throw new IsADirectoryError(`${filePath} is a directory`, { details: { path: filePath } });
      const inFile = await chunkSets.has(entry.hash!, hash, async () => (await ctx.meta.fileContent(server)).chunks);
      if (!inFile) throw new NotFoundError(`chunk ${hash} is not part of ${filePath}`, { details: { path: filePath } });
    } else if (isAdmin(auth) && auth.home === '/' && auth.pathPrefix === null) {
      // An unrestricted admin may read every file anyway: any chunk of some file will do.
      if (!(await ctx.meta.isChunkReferenced(hash))) throw new NotFoundError(`chunk ${hash} not found`);
    } else {
      throw new ValidationError(`name the file the chunk belongs to: ${API_PREFIX}/chunks/${hash}?path=/file/path`);
    }
    const buf = await ctx.chunks.read(hash);
    reply.header('etag', `"${hash}"`);
    reply.header('cache-control', 'private, max-age=31536000, immutable');
    reply.type('application/octet-stream');
    return reply.send(buf);
  });
}
