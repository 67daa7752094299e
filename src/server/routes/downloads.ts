/**
 * Downloads (docs/protocol.md, "Downloads"): whole files with Range and ETag, manifests for
 * delta and parallel downloads, single chunks, batches of chunks for many small files.
 * Every chunk is verified before its bytes leave; a chunk found corrupt after the headers
 * went out cuts the connection, so a client sees a short body, never wrong bytes.
 *
 * A chunk is served only in the context of files the caller may read (`?path=`, or a
 * batch's `paths`), and only if their manifests hold it: ../chunk-access.ts decides.
 */
import type { OutgoingHttpHeaders } from 'node:http';
import { Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ChunkCorruptError, EncodingInvalidError, IsADirectoryError, NotFoundError, PayloadTooLargeError, RangeNotSatisfiableError, ValidationError, isFerryError } from '../../core/errors.js';
import { assertSha256Hex, chunkAt, chunkOffsets, type ChunkRef } from '../../core/manifest.js';
import { normalizePath } from '../../core/path.js';
import { API_PREFIX, PACK_FRAME_HEADER_BYTES, type ManifestResponse } from '../../core/protocol.js';
import type { ChunkStore, LentChunk } from '../../store/chunk-store.js';
import { parseVersionId } from '../../store/version-store.js';
import { authOf, type RoutePlugin, type ServerContext } from '../context.js';
import { authorize, toServerPath, toUserPath } from '../authz.js';
import { ChunkAccess } from '../chunk-access.js';
import { etagMatches, notModifiedSince, parseRange } from '../range.js';
import { contentDisposition, contentTypeFor } from '../mime.js';
import { chooseCoding, rawZstdFrame, streamingCompressor, type DownloadCoding } from '../content-coding.js';
import { compressChunk } from '../../store/chunk-codec.js';
import { DELTA_CDC, DeltaFormatError, makeDelta, signatureOf } from '../../algo/chunk-delta.js';
import { wildcardPath } from '../validate.js';
import { partyOf } from '../chunk-bodies.js';

/** Request header by which a client says it verifies every chunk of the answer against its hash (value `client`). */
export const VERIFIED_BY_HEADER = 'x-ferry-verified-by';
/**
 * A ranged read that takes its chunks as zstd frames (feature `range-zstd`): the request says
 * `zstd`; see {@link rangeCoding}. A header of its own, not `Accept-Encoding`: browsers and
 * curl send that with their ranges too, and must keep getting the bytes they asked for.
 */
export const RANGE_ENCODING_HEADER = 'x-ferry-range-encoding';

/** Chunks read (and verified) ahead of the one being sent: overlaps disk and hashing with the socket. */
const READ_AHEAD = 3;

/**
 * Lends chunks for a response within the server's memory budget for chunks being sent
 * (`ServerContext.sendMemory`, the size of `bodyMemory`): each chunk takes its size from the
 * budget until its buffer goes back. Only the chunk a response needs next may wait for
 * room (`wait`); a read-ahead is made only when room is free now (else undefined, and it is
 * made later as the next one), so a response never holds read-ahead memory while it waits,
 * and responses cannot wait on each other. Without this, 200 clients downloading at once
 * held up to 4 chunks per request: the server peaked at 560-900 MB (issue 15).
 */
export interface ChunkLender {
  lend(ref: ChunkRef, signal: AbortSignal | undefined, wait: boolean): Promise<LentChunk> | undefined;
}

export function budgetedLender(ctx: ServerContext, verify = true, party?: string): ChunkLender {
  return {
    lend(ref, signal, wait) {
      const now = wait ? undefined : ctx.sendMemory.tryReserve(ref.size, party);
      if (!wait && now === undefined) return undefined;
      return (async () => {
        const lease = now ?? (await ctx.sendMemory.reserve(ref.size, signal, party));
        try {
          const chunk = await ctx.chunks.lend(ref.hash, signal, { verify });
          return {
            ...chunk,
            release: () => {
              chunk.release();
              lease.release();
            },
          };
        } catch (err) {
          lease.release();
          throw err;
        }
      })();
    },
  };
}

/**
 * The chunks `from`..`to` (inclusive) of one response, lent in order: `first` (already read)
 * and then each from `store`, with up to {@link READ_AHEAD} read ahead of the one being sent.
 * Only the chunk needed next may wait for memory; while it waits nothing more is read ahead,
 * or the chunks after it would hold the very memory it waits for (its party's share). A
 * client gone (the response's 'close') ends the reads and any wait; {@link close} gives back
 * what was read ahead and never written.
 */
class ChunkWindow {
  private readonly stop = new AbortController();
  private readonly window: Promise<LentChunk>[] = [];
  private waiting = 0;
  private next: number;
  private readonly onClose = (): void => this.stop.abort();

  constructor(
    private readonly store: ChunkLender,
    private readonly chunks: ChunkRef[],
    private readonly from: number,
    private readonly to: number,
    private readonly first: LentChunk,
    private readonly res: FastifyReply['raw'],
  ) {
    this.next = from;
    res.once('close', this.onClose);
  }

  /** Reads ahead what memory allows now (never while the next chunk waits for room). */
  readAhead(): void {
    while (this.window.length < READ_AHEAD && this.next <= this.to && (this.window.length === 0 || this.waiting === 0) && this.launch(this.window.length === 0));
  }

  /** The next chunk in order (read now, waiting for memory, when none was read ahead); reads ahead again. */
  async take(): Promise<LentChunk> {
    if (this.window.length === 0) this.launch(true);
    const chunk = await this.window.shift()!;
    this.readAhead();
    return chunk;
  }

  /** Stops the reads and gives back every chunk read ahead and not taken. */
  close(): void {
    this.res.off('close', this.onClose);
    this.stop.abort();
    for (const p of this.window) p.then((c) => c.release(), () => undefined);
  }

  private launch(wait: boolean): boolean {
    const p = this.next === this.from ? Promise.resolve(this.first) : this.store.lend(this.chunks[this.next], this.stop.signal, wait);
    if (p === undefined) return false;
    if (wait) {
      this.waiting++;
      void p.then(() => this.waiting--, () => this.waiting--);
    }
    p.catch(() => undefined); // awaited by take(); no unhandled rejection while it waits its turn
    this.window.push(p);
    this.next++;
    return true;
  }
}

/**
 * Writes a whole file's verified chunks to `res` in a content coding and ends it; returns
 * the plain bytes sent. zstd: each chunk's stored frame as it is, or a raw-block frame
 * around a chunk stored raw (./content-coding.ts). gzip, br: the plain bytes through an
 * on-the-fly compressor. Reads ahead and fails like {@link writeFileBytes}.
 */
async function writeEncodedFile(
  store: ChunkLender,
  res: FastifyReply['raw'],
  chunks: ChunkRef[],
  coding: DownloadCoding,
  first: LentChunk,
  log: FastifyRequest['log'],
): Promise<{ sent: number; wire: number }> {
  const chunksOut = new ChunkWindow(store, chunks, 0, chunks.length - 1, first, res);
  const zip = coding === 'zstd' ? undefined : streamingCompressor(coding);
  const target = zip ?? res;
  if (zip) {
    zip.on('error', () => res.destroy());
    zip.pipe(res);
  }
  let sent = 0;
  // zstd: the bytes that went out; gzip and br: counted before the compressor (plain).
  let wire = 0;
  const result = () => ({ sent, wire });
  try {
    chunksOut.readAhead();
    for (let i = 0; i < chunks.length; i++) {
      const chunk = await chunksOut.take();
      checkChunkSize(chunk, chunks[i]);
      if (responseGone(res)) {
        chunk.release();
        return result();
      }
      const pieces = zip ? [chunk.data] : chunk.zstd ? [chunk.zstd] : rawZstdFrame(chunk.data);
      let flushed = true;
      for (let j = 0; j < pieces.length; j++) flushed = target.write(pieces[j], j === pieces.length - 1 ? () => chunk.release() : undefined);
      sent += chunk.data.length;
      for (const p of pieces) wire += p.length;
      if (!flushed && !(await drained(target as FastifyReply['raw']))) return result();
    }
    target.end();
    return result();
  } catch (err) {
    logCutShort(log, err, res);
    zip?.destroy();
    res.destroy();
    return result();
  } finally {
    chunksOut.close();
  }
}

/**
 * The coding to send a whole file in, for an `Accept-Encoding`: only when its chunks
 * compressed at rest by at least an eighth (else the plain bytes, with a Content-Length,
 * are as small and cheaper for both ends).
 */
async function fileCoding(ctx: ServerContext, accept: string | string[] | undefined, chunks: ChunkRef[], size: number): Promise<DownloadCoding | undefined> {
  if (accept === undefined || size === 0 || chooseCoding(accept, OFFERED_CODINGS) === undefined) return undefined;
  return (await compressedAtRest(ctx, chunks)) ? chooseCoding(accept, OFFERED_CODINGS) : undefined;
}

/**
 * Whether `[start, end]` of a file goes out as zstd frames, one per chunk (feature
 * `range-zstd`): when the request asks for it ({@link RANGE_ENCODING_HEADER}), the range
 * starts and ends on chunk boundaries, and its chunks compressed at rest by at least an
 * eighth. The answer is then the chunks `first..last` (indexes), each its stored frame or
 * a raw-block frame (./content-coding.ts): no compression work here.
 */
async function rangeCoding(ctx: ServerContext, request: FastifyRequest, chunks: ChunkRef[], offsets: number[], start: number, end: number): Promise<{ first: number; last: number } | undefined> {
  if (request.headers[RANGE_ENCODING_HEADER] !== 'zstd') return undefined;
  const first = chunkAt(offsets, start);
  const last = chunkAt(offsets, end);
  if (offsets[first] !== start || offsets[last] + chunks[last].size - 1 !== end) return undefined;
  const run = chunks.slice(first, last + 1);
  return (await compressedAtRest(ctx, run)) ? { first, last } : undefined;
}

/** Whether `chunks` take at most 7/8 of their plain size in the store. */
async function compressedAtRest(ctx: ServerContext, chunks: ChunkRef[]): Promise<boolean> {
  const where = await ctx.meta.chunkLocations(chunks.map((c) => c.hash));
  let stored = 0;
  let plain = 0;
  for (const loc of where.values()) {
    stored += loc.stored ?? loc.size;
    plain += loc.size;
  }
  return plain > 0 && stored <= plain * (7 / 8);
}

/** Codings offered for whole files, in the server's order of preference (zstd: no compression work, see ./content-coding.ts). */
const OFFERED_CODINGS: readonly DownloadCoding[] = ['zstd', 'br', 'gzip'];

/**
 * Writes the verified bytes of `[start, end]` (inclusive) of a file to `res` and ends it, chunk
 * by chunk, reading ahead; returns how many bytes it handed to `res`. Each chunk is read into a buffer lent by the chunk store, which
 * goes back once the response has flushed it (the write's callback: the bytes are with the
 * operating system, or the write failed) and not before. `first` is the chunk holding
 * `start`, already read. A chunk that fails here (corrupt, unreadable) cuts the connection:
 * the client sees a short body, never wrong bytes. A client that goes away stops the reads.
 */
async function writeFileBytes(
  store: ChunkLender,
  res: FastifyReply['raw'],
  chunks: ChunkRef[],
  offsets: number[],
  start: number,
  end: number,
  first: LentChunk,
  log: FastifyRequest['log'],
): Promise<number> {
  const firstIdx = chunkAt(offsets, start);
  const lastIdx = chunkAt(offsets, end);
  const chunksOut = new ChunkWindow(store, chunks, firstIdx, lastIdx, first, res);
  // Never more than the Content-Length sent: on an HTTP/1.1 keep-alive connection extra
  // bytes would be read as the next response (a desync an attacker could plant through a
  // share link). The manifest's sizes are verified at commit; this guards the rest.
  let left = end - start + 1;
  try {
    chunksOut.readAhead();
    for (let i = firstIdx; i <= lastIdx; i++) {
      const chunk = await chunksOut.take();
      checkChunkSize(chunk, chunks[i]);
      const from = i === firstIdx ? start - offsets[i] : 0;
      const to = i === lastIdx ? end - offsets[i] + 1 : chunk.data.length;
      if (responseGone(res)) {
        chunk.release();
        return end - start + 1 - left;
      }
      const piece = from === 0 && to === chunk.data.length ? chunk.data : chunk.data.subarray(from, to);
      if (piece.length > left) {
        chunk.release();
        throw new ChunkCorruptError(`refusing to send more than the ${end - start + 1} bytes announced`);
      }
      left -= piece.length;
      const flushed = res.write(piece, () => chunk.release());
      if (!flushed && !(await drained(res))) return end - start + 1 - left;
    }
    // A short body is cut, never ended as if it were whole.
    if (left !== 0) throw new ChunkCorruptError(`${left} of the ${end - start + 1} bytes announced are missing`);
    res.end();
    return end - start + 1;
  } catch (err) {
    logCutShort(log, err, res);
    res.destroy();
    return end - start + 1 - left;
  } finally {
    chunksOut.close();
  }
}

/**
 * A chunk must have the size its manifest gives it: offsets, Range arithmetic and
 * Content-Length all come from those sizes. (A commit checks them; a manifest stored
 * before that check existed may still lie.)
 */
function checkChunkSize(chunk: LentChunk, ref: ChunkRef): void {
  if (chunk.data.length === ref.size) return;
  chunk.release();
  throw new ChunkCorruptError(`chunk ${ref.hash} has ${chunk.data.length} bytes, the file's manifest says ${ref.size}`, { details: { hash: ref.hash } });
}

/**
 * Whether nothing written to `res` will go out any more. Its socket can be destroyed (the
 * client went away) before the response itself hears of it, and Node's OutgoingMessage then
 * drops a write without ever calling its callback: the chunk released there stayed lent,
 * its user's (or link's) share of the body memory shrank with every download cut that way
 * (a download manager's parallel ranges, a closed tab), until their downloads waited for
 * memory for good.
 */
/**
 * A download that stopped mid-way: the client leaving (its response gone, the chunk reads
 * aborted with it) is no failure of the server's, and the access log says `cut` already; a
 * chunk that failed on the way out is an error.
 */
function logCutShort(log: FastifyRequest['log'], err: unknown, res: FastifyReply['raw']): void {
  if (responseGone(res) || isFerryError(err, 'FERRY_ERR_ABORTED')) log.debug({ err }, 'download cut short: the client went away');
  else log.error({ err }, 'download cut short');
}

function responseGone(res: FastifyReply['raw']): boolean {
  const socket = res.socket;
  return res.destroyed || !socket || socket.destroyed || !socket.writable;
}

/** Resolves true on 'drain', false if the response closes first. */
function drained(res: FastifyReply['raw']): Promise<boolean> {
  if (res.destroyed) return Promise.resolve(false);
  return new Promise((resolve) => {
    const done = (ok: boolean) => {
      res.off('drain', onDrain);
      res.off('close', onClose);
      resolve(ok);
    };
    const onDrain = () => done(true);
    const onClose = () => done(false);
    res.on('drain', onDrain);
    res.on('close', onClose);
  });
}

export { ManifestChunkSets } from '../chunk-access.js';

export interface ServeFileOptions {
  head: boolean;
  /** Content-Disposition to send (share links offer the file as a download). */
  disposition?: string;
  /** The ETag of a file hash (default: the whole hash, quoted; WebDAV uses a shorter one). */
  etagOf?: (hash: string) => string;
  /**
   * A `Content-Type` other than `application/octet-stream`, for previews (../mime.ts never
   * names a type a browser would run). A PDF may then be framed by our own pages: Chrome's
   * viewer refuses sandboxed documents, and it runs a PDF's scripts in its own process, not
   * in our origin.
   */
  contentType?: string;
  /**
   * Called once the headers are decided and the body is about to go (share links count
   * uses here); what it returns is settled with the bytes written once the body is done,
   * and whether the response failed before its headers went out (nothing was served).
   */
  beforeBody?: (range: { start: number; end: number; size: number; partial: boolean; etag: string }) => Promise<{ settle(sent: number, failed: boolean): void } | void>;
  /** An old version of the file (an id from `GET /api/v1/versions/*`) instead of its content now. */
  version?: number;
  /** With `version`: only versions replaced after it (AuthContext.historySince). */
  historySince?: number;
  /**
   * The body's Cache-Control; `private, no-cache` unless told (a browser may keep the file and
   * revalidates it by ETag). A password link's files are `private, no-store`: what a browser
   * keeps on disk, anyone at that browser later reads without the password.
   */
  cacheControl?: 'private, no-cache' | 'private, no-store';
  /** Whose download this is for the audit log, when the request has no identity (share links). */
  auditAs?: { userId: string; userName: string; tokenId: string };
}

/**
 * Sends the file at a server path: ETag and Last-Modified (304 on a matching If-None-Match,
 * else on an If-Modified-Since of that date), Range, HEAD, verified chunks. Shared by
 * `GET /api/v1/files/*`, the share-link routes and WebDAV's GET.
 */
export async function sendFile(ctx: ServerContext, request: FastifyRequest, reply: FastifyReply, serverPath: string, shownPath: string, options: ServeFileOptions): Promise<FastifyReply> {
  const { head } = options;
  const path = shownPath;
  const content = options.version === undefined ? ctx.meta.fileContent(serverPath) : ctx.versions.versionContent(serverPath, options.version, options.historySince);
  const { entry, chunks } = await content.catch((err: unknown) => {
    if (err instanceof IsADirectoryError) throw new IsADirectoryError(`${path} is a directory: list it with ${API_PREFIX}/list${path}`);
    if (err instanceof NotFoundError && options.version !== undefined) throw new NotFoundError(`${path} has no version ${options.version}`, { details: { path, version: options.version } });
    if (err instanceof NotFoundError) throw new NotFoundError(`${path}: no such file or directory`, { details: { path } });
    throw err;
  });
  // A whole file (no Range) may go out compressed; each coding is its own representation,
  // with its own ETag.
  const coding = request.headers.range === undefined ? await fileCoding(ctx, request.headers['accept-encoding'], chunks, entry.size) : undefined;
  const plainEtag = options.etagOf ? options.etagOf(entry.hash!) : `"${entry.hash}"`;
  const etag = coding ? `${plainEtag.slice(0, -1)}-${coding}"` : plainEtag;
  reply.header('etag', etag);
  reply.header('vary', `accept-encoding, ${RANGE_ENCODING_HEADER}`);
  reply.header('last-modified', new Date(entry.mtime).toUTCString());
  reply.header('accept-ranges', 'bytes');
  reply.header('cache-control', options.cacheControl ?? 'private, no-cache');
  const ifNoneMatch = request.headers['if-none-match'];
  if (ifNoneMatch !== undefined ? etagMatches(ifNoneMatch, etag) : notModifiedSince(request.headers['if-modified-since'], entry.mtime)) return reply.status(304).send();

  const size = entry.size;
  let range = parseRange(request.headers.range, size);
  const ifRange = request.headers['if-range'];
  if (ifRange !== undefined && ifRange !== plainEtag) range = undefined;
  if (range === 'unsatisfiable') {
    reply.header('content-range', `bytes */${size}`);
    throw new RangeNotSatisfiableError(`the file has ${size} bytes`);
  }
  const start = range ? range.start : 0;
  const end = range ? range.end : size - 1;
  const offsets = chunkOffsets(chunks);
  // A ranged read may take its chunks as zstd frames (the native client's, feature range-zstd).
  const frames = range && !head && size > 0 ? await rangeCoding(ctx, request, chunks, offsets, start, end) : undefined;
  if (frames) reply.header('etag', `${plainEtag.slice(0, -1)}-zstd"`);
  reply.type(options.contentType ?? 'application/octet-stream');
  // Stored bytes are never a page of ours: a browser must not sniff, render or script them.
  reply.header('x-content-type-options', 'nosniff');
  if (options.contentType === 'application/pdf') reply.header('content-security-policy', "default-src 'none'; frame-ancestors 'self'");
  else reply.header('content-security-policy', "sandbox; default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'");
  if (options.disposition) reply.header('content-disposition', options.disposition);
  if (coding || frames) reply.header('content-encoding', coding ?? 'zstd');
  else reply.header('content-length', String(end - start + 1));
  if (range) {
    reply.status(206);
    reply.header('content-range', `bytes ${start}-${end}/${size}`);
  }
  const charge = head ? undefined : await options.beforeBody?.({ start, end, size, partial: range !== undefined, etag });
  if (!head) await ctx.downloads.record(request, { path: serverPath, hash: entry.hash!, size, via: options.auditAs ? 'share' : 'file', ...(range ? { range: `bytes=${start}-${end}` } : {}), ...(options.auditAs ? { as: options.auditAs } : {}) });
  let sent = 0;
  let failed = true;
  try {
    if (head || size === 0) {
      failed = false;
      return reply.send();
    }
    // The first chunk is read before the headers go out: if it is corrupt the client gets a
    // proper 500 with FERRY_ERR_CHUNK_CORRUPT instead of a cut connection.
    const firstRef = chunks[chunkAt(offsets, start)];
    // A client that verifies every chunk itself says so (the native client's ranged reads):
    // the bytes are then hashed once, there, not here too (see ChunkStore.lend).
    const verify = coding !== undefined || request.headers[VERIFIED_BY_HEADER] !== 'client';
    // Whose memory it is (see BodyMemory): a client that stops reading holds its chunks,
    // and one user or link's visitors must not hold them all. A share link's is its tokenId.
    const party = options.auditAs?.tokenId ?? (request.auth ? partyOf(request.auth) : undefined);
    const lender = budgetedLender(ctx, verify, party);
    // A client gone while its first chunk waits for memory stops waiting.
    const gone = new AbortController();
    reply.raw.once('close', () => gone.abort());
    const first = await lender.lend(firstRef, gone.signal, true)!;
    try {
      checkChunkSize(first, firstRef);
    } catch (err) {
      first.release();
      throw err;
    }
    // The body is written here, not by Fastify: each write's callback says when its buffer is
    // free again. (onResponse hooks still run when the response finishes.)
    reply.hijack();
    reply.raw.writeHead(reply.statusCode, reply.getHeaders() as OutgoingHttpHeaders);
    failed = false;
    if (coding || frames) {
      const w = await writeEncodedFile(lender, reply.raw, frames ? chunks.slice(frames.first, frames.last + 1) : chunks, coding ?? 'zstd', first, request.log);
      sent = w.sent;
      ctx.metrics.chunkWireBytesSent.inc(w.wire);
    } else {
      sent = await writeFileBytes(lender, reply.raw, chunks, offsets, start, end, first, request.log);
      ctx.metrics.chunkWireBytesSent.inc(sent);
    }
    return reply;
  } finally {
    charge?.settle(sent, failed);
  }
}

export const downloadRoutes: RoutePlugin = async (app, { ctx }) => {
  const access = new ChunkAccess(ctx);
  // `?ticket=` (a download ticket) may stand in for the Authorization header: browser downloads and previews.
  const byTicket = { config: { ticket: true } };
  app.get(`${API_PREFIX}/files/*`, byTicket, (request, reply) => getFile(ctx, request, reply, false));
  app.head(`${API_PREFIX}/files/*`, byTicket, (request, reply) => getFile(ctx, request, reply, true));
  app.get(`${API_PREFIX}/manifests/*`, (request, reply) => getManifest(ctx, request, reply));
  app.get(`${API_PREFIX}/chunks/:hash`, (request, reply) => getChunk(ctx, access, request, reply));
  app.get(`${API_PREFIX}/chunks/:hash/signature`, (request, reply) => getChunkSignature(ctx, access, request, reply));
  app.post(`${API_PREFIX}/chunks/:hash/delta`, (request, reply) => postChunkDelta(ctx, access, request, reply));
  app.post(`${API_PREFIX}/chunks/batch`, (request, reply) => getChunkBatch(ctx, access, request, reply));
};

/**
 * GET and HEAD of a file's bytes (Range, ETag: see {@link sendFile}). `?download=1`: an
 * attachment with the file's name and type; `?inline=1`: a preview; `?version=ID`: an old
 * version's bytes instead (README "Versions and trash").
 */
function getFile(ctx: ServerContext, request: FastifyRequest, reply: FastifyReply, head: boolean) {
  const path = wildcardPath(request);
  const q = request.query as Record<string, string | undefined>;
  const name = path.slice(path.lastIndexOf('/') + 1);
  const inline = q.inline !== undefined;
  const named = inline || q.download !== undefined;
  const auth = authOf(request);
  return sendFile(ctx, request, reply, authorize(auth, 'read', path), path, {
    head,
    version: q.version === undefined ? undefined : parseVersionId(q.version),
    historySince: auth.historySince,
    disposition: named ? contentDisposition(name, inline ? 'inline' : 'attachment') : undefined,
    contentType: named ? contentTypeFor(name) : undefined,
  });
}

/** Files read through chunk requests that name them (audited once per transfer). */
async function recordChunkDownloads(ctx: ServerContext, request: FastifyRequest, userPaths: readonly string[], via: string): Promise<void> {
  const auth = authOf(request);
  const entries = await ctx.meta.statMany(userPaths.map((p) => toServerPath(auth, normalizePath(p))));
  for (const e of entries.values()) if (e.type === 'file' && e.hash) await ctx.downloads.record(request, { path: e.path, hash: e.hash, size: e.size, via });
}

async function getManifest(ctx: ServerContext, request: FastifyRequest, reply: FastifyReply) {
  const auth = authOf(request);
  const { entry, chunks } = await ctx.meta.fileContent(authorize(auth, 'read', wildcardPath(request)));
  const etag = `"${entry.hash}"`;
  // Revalidated by ETag as the file itself is (the API's default is no-store).
  reply.header('etag', etag).header('cache-control', 'private, no-cache');
  if (etagMatches(request.headers['if-none-match'], etag)) return reply.status(304).send();
  // A manifest is fetched to download the file chunk by chunk: the start of a transfer.
  await ctx.downloads.record(request, { path: entry.path, hash: entry.hash!, size: entry.size, via: 'manifest' });
  const res: ManifestResponse = { path: toUserPath(auth, entry.path), size: entry.size, hash: entry.hash!, mtime: entry.mtime, chunking: ctx.config.chunking, chunks };
  if (entry.mode !== undefined) res.mode = entry.mode;
  return res;
}

async function getChunk(ctx: ServerContext, access: ChunkAccess, request: FastifyRequest, reply: FastifyReply) {
  const params = request.params as { hash: string };
  const query = request.query as { path?: string };
  const auth = authOf(request);
  const hash = assertSha256Hex(params.hash, 'chunk hash');
  const filePath = query.path;
  if ((await access.unreadable(auth, [hash], filePath === undefined ? undefined : [filePath])).length > 0) {
    throw new NotFoundError(filePath === undefined ? `chunk ${hash} not found` : `chunk ${hash} is not part of ${filePath}`, { details: filePath === undefined ? undefined : { path: filePath } });
  }
  const chunk = await ctx.chunks.lend(hash);
  if (filePath !== undefined) await recordChunkDownloads(ctx, request, [filePath], 'chunk');
  // A chunk stored compressed goes to a client that takes zstd as it is stored (no work).
  const body = chunk.zstd && chooseCoding(request.headers['accept-encoding'], ['zstd']) ? chunk.zstd : chunk.data;
  reply.header('etag', body === chunk.data ? `"${hash}"` : `"${hash}-zstd"`);
  reply.header('cache-control', 'private, max-age=31536000, immutable');
  reply.header('vary', 'accept-encoding');
  if (body !== chunk.data) reply.header('content-encoding', 'zstd');
  reply.header('content-length', String(body.length));
  reply.type('application/octet-stream');
  ctx.metrics.chunkWireBytesSent.inc(body.length);
  // Written here, not by Fastify: the write's callback says when the buffer is free again.
  reply.hijack();
  reply.raw.writeHead(reply.statusCode, reply.getHeaders() as OutgoingHttpHeaders);
  reply.raw.write(body, () => chunk.release());
  reply.raw.end();
  return reply;
}

/** The chunk at `:hash` (read and verified) for a caller who may read it through `?path=`, as the chunk GET checks. */
async function readableChunk(ctx: ServerContext, access: ChunkAccess, request: FastifyRequest, asBase = false): Promise<{ hash: string; data: Buffer }> {
  const auth = authOf(request);
  const hash = assertSha256Hex((request.params as { hash: string }).hash, 'chunk hash');
  const filePath = (request.query as { path?: string }).path;
  if ((await access.unreadable(auth, [hash], filePath === undefined ? undefined : [filePath])).length > 0) {
    throw new NotFoundError(filePath === undefined ? `chunk ${hash} not found` : `chunk ${hash} is not part of ${filePath}`, { details: filePath === undefined ? undefined : { path: filePath } });
  }
  return { hash, data: asBase ? await ctx.chunks.readBase(hash) : await ctx.chunks.read(hash) };
}

/**
 * A chunk's delta signature (../../algo/chunk-delta.ts): what a client that edited the
 * file needs to send the chunk replacing this one as a delta (feature `chunk-delta`).
 */
async function getChunkSignature(ctx: ServerContext, access: ChunkAccess, request: FastifyRequest, reply: FastifyReply) {
  // Read as a base: the delta that follows (PUT with x-ferry-delta-base) finds it in memory.
  const { data } = await readableChunk(ctx, access, request, true);
  const sig = signatureOf(data);
  reply.type('application/octet-stream');
  reply.header('cache-control', 'private, max-age=31536000, immutable');
  ctx.metrics.chunkWireBytesSent.inc(sig.length);
  return reply.send(sig);
}

/**
 * A chunk as a delta against a base the client holds, described by its signature (the
 * body): a download over an older local copy costs the edited pieces, not whole chunks.
 */
async function postChunkDelta(ctx: ServerContext, access: ChunkAccess, request: FastifyRequest, reply: FastifyReply) {
  const maxSig = 4 + (Math.ceil(ctx.config.chunking.maxSize / DELTA_CDC.minSize) + 1) * 12;
  const sig = await readBody(request, maxSig);
  const { data } = await readableChunk(ctx, access, request);
  let delta: Buffer;
  try {
    delta = makeDelta(data, sig, ctx.config.chunking.maxSize).delta;
  } catch (err) {
    if (err instanceof DeltaFormatError) throw new EncodingInvalidError(`the signature: ${err.message}`, { cause: err });
    throw err;
  }
  reply.type('application/octet-stream');
  reply.header('cache-control', 'private, no-cache');
  ctx.metrics.chunkWireBytesSent.inc(delta.length);
  return reply.send(delta);
}

/**
 * Many chunks in one answer (small files: one request for hundreds of them). Every chunk
 * is read and verified before the first byte goes out, so an unknown, unreadable or
 * corrupt chunk is a proper error status; the limits keep that buffer small.
 */
async function getChunkBatch(ctx: ServerContext, access: ChunkAccess, request: FastifyRequest, reply: FastifyReply) {
  const max = ctx.limits.maxChunksPerBatch ?? 0;
  const { hashes, paths } = batchRequest(request.body, max);
  const notFound = (missing: string[]) =>
    new NotFoundError(`${missing.length} of the ${hashes.length} chunks asked for are not found in the files named (first: ${missing[0]})`, {
      details: { missing: missing.slice(0, 100), count: missing.length },
    });
  const denied = await access.unreadable(authOf(request), hashes, paths);
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
  if (paths) await recordChunkDownloads(ctx, request, paths, 'batch');
  reply.type('application/octet-stream');
  reply.header('cache-control', 'private, no-cache');
  reply.header('vary', 'accept-encoding');
  // Small files that compressed at rest travel compressed too, to clients that take zstd:
  // the whole answer as one frame (small chunks compress far better together than alone).
  const encoded = locations.reduce((a, l) => a + (l.stored ?? l.size), 0);
  if (encoded <= bytes * (7 / 8) && chooseCoding(request.headers['accept-encoding'], ['zstd'])) {
    const plain = Buffer.concat([...frames(hashes, data)]);
    const frame = compressChunk(plain, 1);
    if (frame) {
      reply.header('content-encoding', 'zstd');
      reply.header('content-length', String(frame.length));
      ctx.metrics.chunkWireBytesSent.inc(frame.length);
      return reply.send(frame);
    }
    reply.header('content-length', String(plain.length));
    ctx.metrics.chunkWireBytesSent.inc(plain.length);
    return reply.send(plain);
  }
  reply.header('content-length', String(bytes + PACK_FRAME_HEADER_BYTES * hashes.length));
  ctx.metrics.chunkWireBytesSent.inc(bytes + PACK_FRAME_HEADER_BYTES * hashes.length);
  return reply.send(Readable.from(frames(hashes, data), { objectMode: false }));
}

/** A binary request body of at most `max` bytes, read whole. */
async function readBody(request: FastifyRequest, max: number): Promise<Buffer> {
  const body = request.body as Readable | Buffer | undefined;
  if (Buffer.isBuffer(body)) {
    if (body.length > max) throw new PayloadTooLargeError(`at most ${max} bytes here`);
    return body;
  }
  if (!body || typeof (body as Readable).pipe !== 'function') throw new ValidationError('send the body as application/octet-stream');
  const parts: Buffer[] = [];
  let n = 0;
  for await (const piece of body as AsyncIterable<Buffer>) {
    n += piece.length;
    if (n > max) throw new PayloadTooLargeError(`at most ${max} bytes here`);
    parts.push(piece);
  }
  return Buffer.concat(parts, n);
}


/** The validated body of a batch request: distinct, well-formed hashes, not too many; the files named. */
function batchRequest(body: unknown, max: number): { hashes: string[]; paths?: string[] } {
  const b = body as { hashes?: unknown; paths?: unknown } | null | undefined;
  const hashes = b?.hashes;
  if (!Array.isArray(hashes) || hashes.length === 0) throw new ValidationError('the body must be {paths: [file, ...], hashes: [chunk hash, ...]} with at least one hash');
  if (hashes.length > max) throw new PayloadTooLargeError(`at most ${max} chunks per batch, not ${hashes.length}`, { details: { max } });
  const out = hashes.map((h, i) => assertSha256Hex(h, `hashes[${i}]`));
  if (new Set(out).size !== out.length) throw new ValidationError('a batch names the same chunk twice');
  if (b?.paths === undefined) return { hashes: out };
  if (!Array.isArray(b.paths) || b.paths.length === 0 || b.paths.some((p) => typeof p !== 'string' || p === '')) throw new ValidationError('paths must be a non-empty array of file paths');
  if (b.paths.length > max) throw new PayloadTooLargeError(`at most ${max} files per batch, not ${b.paths.length}`, { details: { max } });
  return { hashes: out, paths: b.paths as string[] };
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
