/**
 * Upload sessions (docs/protocol.md, "Uploads"): create with a manifest (whole, partial or
 * none), append manifest entries, send the missing chunks (one per PUT, or many small ones
 * in a pack), commit atomically, or abort.
 *
 * A session belongs to the user who created it: to anyone else its id does not exist. Dedup
 * is per user: `missing` lists the chunks this user has not sent yet, and every chunk body
 * is read, verified and stored the same way whether or not the server already holds the
 * chunk (proof of possession, and no answer or timing that depends on other users' data).
 * So knowing a chunk's hash never lets one user learn whether another stores it, nor
 * commit it into a file.
 *
 * A drop box's page (an upload share link) uses these routes too, with a share upload token
 * (../share-gate.ts): its files are named relative to the link's folder, one name each,
 * never replace anything, and each committed file counts as one use of the link.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Readable } from 'node:stream';
import {
  ChunkNotInUploadError,
  EncodingUnsupportedError,
  isFerryError,
  NotFoundError,
  ForbiddenError,
  GoneError,
  PayloadTooLargeError,
  SizeMismatchError,
  UploadNotFoundError,
  ValidationError,
} from '../../core/errors.js';
import { assertSha256Hex, validateChunkList } from '../../core/manifest.js';
import {
  API_PREFIX,
  CHUNK_FRAME_HEADER_BYTES,
  MAX_CHUNK_FRAMES_PER_REQUEST,
  MAX_DELTA_BASES,
  type AppendChunksResponse,
  type ChunkFramesResponse,
  type ChunkPutResponse,
  type CommitResponse,
  type Entry,
  type UploadFileSpec,
  type UploadStatus,
} from '../../core/protocol.js';
import { checkWriteCondition, type WriteCondition } from '../../core/write-conditions.js';
import { distinctHashes, sessionProver, type SelfProvingKind, type UploadInfo } from '../../store/meta-store.js';
import { commitSession } from '../commit.js';
import { authOf, type RoutePlugin, type ServerContext } from '../context.js';
import { authorize, authorizeScope, can, toUserEntry, toUserPath, withinPrefix, type AuthContext } from '../authz.js';
import { baseName, isWithin, joinPath } from '../../core/path.js';
import { visitorFileName } from '../share-gate.js';
import { pendingPaths } from '../../store/upload-contents.js';
import { isLimitRefusal } from '../quota.js';
import { checkLinkBytes } from '../link-bytes.js';
import { ChunkAccess } from '../chunk-access.js';
import { partyOf, readWholeBody } from '../chunk-bodies.js';
import { optionalInt, validateFileSpec, writeConditionOf } from '../validate.js';
import { MAX_TTL_SECONDS } from '../../core/option-values.js';
import { ChunkFrameReader } from '../chunk-frames.js';

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

/**
 * The Content-Encoding of a chunk or pack body: none (`identity`) or `zstd` (one zstd frame
 * with its content size; capabilities feature `zstd`). Anything else is 415
 * FERRY_ERR_ENCODING_UNSUPPORTED rather than bytes taken for what they are not.
 */
function bodyEncoding(request: FastifyRequest, delta = false): 'zstd' | 'delta' | undefined {
  const value = String(request.headers['content-encoding'] ?? '').trim().toLowerCase();
  if (value === '' || value === 'identity') return undefined;
  if (value === 'zstd') return 'zstd';
  if (delta && value === DELTA_ENCODING) return 'delta';
  throw new EncodingUnsupportedError(`Content-Encoding ${JSON.stringify(value)} is not taken here: send ${delta ? `zstd, ${DELTA_ENCODING}` : 'zstd'} or no encoding`);
}

/** Content-Encoding of a chunk PUT whose body is a delta (../../algo/chunk-delta.ts) against the chunks named in {@link DELTA_BASE_HEADER}. */
const DELTA_ENCODING = 'x-ferry-delta';
/** The base chunks of a delta, comma-separated, in the order the delta addresses their bytes (feature `chunk-delta-bases`; one before it). */
const DELTA_BASE_HEADER = 'x-ferry-delta-base';

/** The bases named in {@link DELTA_BASE_HEADER}: 1 to MAX_DELTA_BASES chunk hashes. */
function deltaBasesOf(request: FastifyRequest): string[] {
  const value = String(request.headers[DELTA_BASE_HEADER] ?? '');
  const bases = value.split(',').map((h) => assertSha256Hex(h.trim(), DELTA_BASE_HEADER));
  if (bases.length > MAX_DELTA_BASES) throw new ValidationError(`a delta may name at most ${MAX_DELTA_BASES} bases, not ${bases.length}`);
  return bases;
}

/** Whether one of `bases` may not serve as a delta base for a chunk of the upload to `path` (see the chunk PUT). */
async function deltaBaseRefused(ctx: ServerContext, auth: AuthContext, bases: readonly string[], path: string): Promise<boolean> {
  try {
    return (await new ChunkAccess(ctx).unreadable(auth, bases, [toUserPath(auth, path)])).length > 0;
  } catch (err) {
    if (isFerryError(err, 'FERRY_ERR_FORBIDDEN') || isFerryError(err, 'FERRY_ERR_NOT_FOUND')) return true;
    throw err;
  }
}


/**
 * A visitor's file name (`/name`, relative to the upload link's folder) as the owner's path.
 * One segment only: a drop box receives files, it does not make folders.
 */
function shareTarget(auth: AuthContext, path: string): string {
  return joinPath(auth.share!.root, visitorFileName(path, 'an upload link takes file names, not paths'));
}

/** Refuses a drop-box session whose announced sizes already pass what the link has left (see ../link-bytes.ts). */
async function checkVisitorBytes(ctx: ServerContext, shareId: string, files: UploadFileSpec[]): Promise<void> {
  const row = await ctx.shares.byId(shareId);
  if (row) checkLinkBytes(row, files.reduce((a, f) => a + (f.size ?? 0), 0));
}

/** A committed entry as a visitor sees it: its name in the link's folder, nothing of the owner's tree. */
function shareEntry<E extends { path: string; name: string }>(entry: E): E {
  return { ...entry, path: '/' + entry.name };
}

export const uploadRoutes: RoutePlugin = async (app, { ctx }) => {
  // Every route here also takes a share upload token (drop boxes).
  const opts = { config: { shareUpload: true } };
  app.post(`${API_PREFIX}/uploads`, opts, (request, reply) => createUpload(ctx, request, reply));
  app.get(`${API_PREFIX}/uploads/:id`, opts, (request) => getUpload(ctx, request));
  app.post(`${API_PREFIX}/uploads/:id/chunks`, opts, (request) => appendChunks(ctx, request));
  app.put(`${API_PREFIX}/uploads/:id/chunks/:hash`, opts, (request) => putChunk(ctx, request));
  app.post(`${API_PREFIX}/uploads/:id/packs`, opts, (request) => putPack(ctx, request));
  app.post(`${API_PREFIX}/uploads/:id/chunk-frames`, opts, (request) => putChunkFrames(ctx, request));
  app.post(`${API_PREFIX}/uploads/:id/commit`, opts, (request) => commit(ctx, request));
  app.delete(`${API_PREFIX}/uploads/:id`, opts, (request, reply) => abort(ctx, request, reply));
};

/**
 * The sessions a caller makes prove their own chunks (sessionProver) when the caller may
 * see only part of the owner's files: a drop-box visitor, a token limited to a path prefix.
 * "Already yours" then never tells them what the owner stores elsewhere.
 */
function selfProvingKind(auth: AuthContext): SelfProvingKind | undefined {
  if (auth.share) return 'visitor';
  return auth.pathPrefix !== null ? 'scoped' : undefined;
}

/** Whose proofs of possession a chunk sent to session `id` makes and its dedup answers read. */
function proverOf(id: string, up: { owner: string | null; selfProving?: boolean }): string {
  return up.selfProving ? sessionProver(id) : up.owner!;
}

/**
 * Whether the session is the caller's and within their token's reach; anyone else's does
 * not exist. Nor does a session of the owner's that counts the owner's chunks, to a caller
 * whose sessions prove their own (its dedup answers would tell what the owner stores).
 */
function checkOwner(auth: AuthContext, id: string, up: Pick<UploadInfo, 'owner' | 'scope' | 'selfProving'>): void {
  const gone = () => new UploadNotFoundError(`upload ${id} not found (unknown, committed, aborted or expired)`, { details: { id } });
  if (up.owner !== auth.userId) throw gone();
  // A token limited to a path prefix only touches sessions that write inside it (the
  // commit re-checks every file; this keeps the rest of the session out of its reach too).
  if (auth.pathPrefix !== null && up.scope !== null) {
    const scope = isWithin(up.scope, auth.home) ? toUserPath(auth, up.scope) : null;
    if (scope === null || !withinPrefix(auth, scope)) throw new ForbiddenError(`upload ${id} writes outside this token's path prefix ${auth.pathPrefix}`);
  }
  if (selfProvingKind(auth) !== undefined && !up.selfProving) throw gone();
}

/** The caller's own live session, touched unless told not to. */
async function ownUpload(ctx: ServerContext, auth: AuthContext, id: string, touch = true): Promise<UploadInfo> {
  authorizeScope(auth, 'write');
  const up = await ctx.meta.getUpload(id, touch ? ctx.config.uploadTtlMs : undefined);
  checkOwner(auth, id, up);
  return up;
}

/** The same for the pack route, not touched (no file rows read). */
async function ownUploadLight(ctx: ServerContext, auth: AuthContext, id: string): Promise<{ owner: string | null; selfProving: boolean; expiresAt: number }> {
  authorizeScope(auth, 'write');
  const up = await ctx.meta.uploadOwner(id);
  checkOwner(auth, id, up);
  return up;
}

/**
 * For a self-proving session: the chunks of the files it replaces, where the caller may read
 * them, count as proven by the session (an edited file still sends only its changed chunks).
 * The caller could download those chunks anyway; the same statements run whatever the owner
 * stores elsewhere, so the answer depends only on files the caller may read.
 */
async function grantReadable(ctx: ServerContext, auth: AuthContext, id: string, paths: readonly string[], hashes: readonly string[]): Promise<void> {
  const readable = paths.filter((p) => can(auth, 'read', toUserPath(auth, p)));
  if (readable.length === 0 || hashes.length === 0) return;
  const manifests = new Set<string>();
  for (const e of (await ctx.meta.statMany(readable)).values()) if (e.type === 'file' && e.hash) manifests.add(e.hash);
  if (manifests.size === 0) return;
  const wanted = new Set(hashes);
  const given = new Set<string>();
  for (const list of (await ctx.meta.manifestChunkLists([...manifests])).values()) for (const c of list) if (wanted.has(c.hash)) given.add(c.hash);
  if (given.size > 0) await ctx.meta.addChunkOwners(sessionProver(id), [...given]);
}

async function createUpload(ctx: ServerContext, request: FastifyRequest, reply: FastifyReply) {
  const { meta, limits } = ctx;
  const ttl = ctx.config.uploadTtlMs;
  const auth = authOf(request);
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
  // Paths arrive relative to the caller's home; the session keeps server paths.
  files = files.map((f, i) => {
    const raw = body.files !== undefined ? (body.files as Record<string, unknown>[])[i] : body;
    const ttlSeconds = optionalInt(raw.ttlSeconds, body.files !== undefined ? `files[${i}].ttlSeconds` : 'ttlSeconds', 1);
    if (ttlSeconds !== undefined && ttlSeconds > MAX_TTL_SECONDS) throw new ValidationError(`ttlSeconds may be at most ${MAX_TTL_SECONDS} (ten years)`);
    const spec: UploadFileSpec = { ...f, path: authorize(auth, 'write', auth.share ? shareTarget(auth, f.path) : f.path) };
    // A visitor's file takes no mode of theirs (04777 was stored as asked, and clients that
    // keep modes made it executable and writable for all): it is stored without one.
    if (auth.share) delete spec.mode;
    if (ttlSeconds !== undefined) spec.ttlSeconds = ttlSeconds;
    return spec;
  });
  if (body.ttlSeconds !== undefined && body.files !== undefined) throw new ValidationError('in a batch, give ttlSeconds per file');
  const totalChunks = files.reduce((a, f) => a + (f.chunks?.length ?? 0), 0);
  if (totalChunks > limits.maxChunksPerRequest) {
    throw new PayloadTooLargeError(`at most ${limits.maxChunksPerRequest} chunk entries per request; append the rest with POST ${API_PREFIX}/uploads/:id/chunks`);
  }
  // A drop box never replaces a file, and takes no more than its byte cap (early refusal of sizes given now; the commit counts).
  const visitor = auth.share !== undefined;
  if (visitor) await checkVisitorBytes(ctx, auth.share!.id, files);
  const selfProving = selfProvingKind(auth);
  const up = await meta.createUpload({ owner: auth.userId, files, noOverwrite: body.noOverwrite === true || visitor, ttlMs: ttl, ...(selfProving ? { selfProving } : {}) }, { check: ctx.quota.createCheck(auth, files) });
  const all = files.flatMap((f) => f.chunks ?? []);
  if (up.selfProving) await grantReadable(ctx, auth, up.id, files.map((f) => f.path), all.map((c) => c.hash));
  // Chunks whose PUT was answered but that are not yet durable count as sent (grouped durability).
  await ctx.chunks.flushChunks(all.map((c) => c.hash));
  const present = await meta.ownedChunks(proverOf(up.id, up), all.map((c) => c.hash));
  const status: UploadStatus = { id: up.id, expiresAt: up.expiresAt, files: up.files, missing: distinctHashes(all).filter((h) => !present.has(h)), sealed: up.sealed };
  return reply.status(201).send(status);
}

async function getUpload(ctx: ServerContext, request: FastifyRequest) {
  const { meta } = ctx;
  const params = request.params as IdParams;
  const up = await ownUpload(ctx, authOf(request), params.id);
  // Chunks taken but not yet durable are indexed first: they are not missing.
  await ctx.chunks.flush();
  const status: UploadStatus = { id: up.id, expiresAt: up.expiresAt, files: up.files, missing: await meta.missingChunks(up.id), sealed: up.sealed, entries: await meta.uploadEntryCounts(up.id) };
  return status;
}

async function appendChunks(ctx: ServerContext, request: FastifyRequest) {
  const { meta, limits } = ctx;
  const ttl = ctx.config.uploadTtlMs;
  const params = request.params as IdParams;
  const auth = authOf(request);
  const id = params.id;
  // Not touched yet: only an append that is taken keeps the session alive.
  const up = await ownUpload(ctx, auth, id, false);
  const body = asObject(request.body);
  const file = optionalInt(body.file, 'file') ?? 0;
  validateChunkList(body.chunks, limits.maxChunkSize);
  const list = (body.chunks as { hash: string; size: number }[]).map((c) => ({ hash: c.hash, size: c.size }));
  if (list.length > limits.maxChunksPerRequest) throw new PayloadTooLargeError(`at most ${limits.maxChunksPerRequest} chunk entries per request`);
  // A streaming upload of unknown size is held to the size and quota limits as it grows:
  // its reservation grows with its manifest, counted with every other upload in flight, in
  // the append's transaction with the file's bytes it sums. (Only single-file sessions have
  // unsealed files, the only ones taking appends: the reservation is that file's.)
  const target = await meta.uploadFileInfo(id, file);
  if (up.selfProving && target !== undefined) await grantReadable(ctx, auth, id, [target.path], list.map((c) => c.hash));
  await ctx.chunks.flushChunks(list.map((c) => c.hash));
  let refused = false;
  const check = target === undefined ? undefined : ctx.quota.growthCheck(auth, id, target.path, () => (refused = true));
  try {
    const res: AppendChunksResponse = { missing: await meta.appendEntries(id, file, list, ttl, check ? { check } : {}) };
    return res;
  } catch (err) {
    if (refused) await meta.abortUpload(id).catch(() => undefined);
    throw err;
  }
}

async function putChunk(ctx: ServerContext, request: FastifyRequest) {
  const { limits } = ctx;
  const params = request.params as IdParams & { hash: string };
  const hash = assertSha256Hex(params.hash, 'chunk hash');
  const lengthHeader = request.headers['content-length'];
  if (lengthHeader === undefined) throw new ValidationError('a chunk PUT needs a Content-Length header');
  const length = Number(lengthHeader);
  if (!Number.isSafeInteger(length) || length < 1) throw new ValidationError('Content-Length must be a positive integer');
  if (length > limits.maxChunkSize) throw new PayloadTooLargeError(`a chunk may be at most ${limits.maxChunkSize} bytes`);
  const encoding = bodyEncoding(request, true);
  const bases = encoding === 'delta' ? deltaBasesOf(request) : undefined;
  const auth = authOf(request);
  authorizeScope(auth, 'write');
  const signal = closeSignal(request);
  const { answer, expiresAt } = await takeChunk(ctx, auth, params.id, { hash, length, ...(encoding ? { encoding } : {}), ...(bases ? { bases } : {}) }, signal, (buffer) => {
    const body = rawBody(request);
    return buffer ? readWholeBody(body, length, buffer) : Promise.resolve(body);
  });
  // Only a chunk taken keeps the session alive: refused requests do not extend it.
  await ctx.meta.extendUpload(params.id, expiresAt, ctx.config.uploadTtlMs);
  return answer;
}

/** Aborted when the request closes before its body was complete. */
function closeSignal(request: FastifyRequest): AbortSignal {
  const controller = new AbortController();
  request.raw.once('close', () => {
    if (!request.raw.complete) controller.abort();
  });
  return controller.signal;
}

/** A chunk body about to be read: its chunk, the bytes that carry it, and how (raw, zstd, a delta against `bases`). */
interface ChunkArrival {
  hash: string;
  length: number;
  encoding?: 'zstd' | 'delta';
  bases?: string[];
}

/**
 * One chunk of session `id`, checked before a byte of it is read (the session is the
 * caller's, its manifest holds the chunk at the size the body gives it, a delta's bases are
 * readable to the caller), then read within the body memory budget (`read`: into the lent
 * buffer when there is one, else as a stream), verified and stored (deferred durability).
 */
async function takeChunk(
  ctx: ServerContext,
  auth: AuthContext,
  id: string,
  arrival: ChunkArrival,
  signal: AbortSignal,
  read: (buffer: Buffer | undefined) => Promise<Buffer | Readable>,
): Promise<{ answer: ChunkPutResponse; expiresAt: number }> {
  const { hash, length, encoding, bases } = arrival;
  // One query: the session, the file that brings the chunk (its path routes the chunk
  // to its store, --store) and the size its manifest gives the chunk.
  const { path, declared, expiresAt, ...up } = await ctx.meta.chunkPutContext(id, hash);
  checkOwner(auth, id, up);
  if (path === undefined) {
    throw new ChunkNotInUploadError(`chunk ${hash} is not in upload ${id}'s manifest`);
  }
  // The manifest's sizes become the file's size, its quota use and its Content-Length:
  // a chunk is taken only with the size the manifest gave it (the commit re-checks all).
  // A compressed body is smaller than that; its frame must decode to exactly that size.
  const size = encoding ? (declared ?? 0) : length;
  if (encoding === 'zstd' && length >= size) throw new ValidationError(`a compressed chunk must be smaller than the chunk (${size} bytes); send it raw`);
  // A delta may copy only from a chunk of the file being replaced, and only for a caller
  // who may read that file: else it would open other files' bytes to whoever knows a hash.
  if (bases !== undefined && (await deltaBaseRefused(ctx, auth, bases, path))) {
    throw new NotFoundError(`chunk ${bases.join(', ')} is not part of ${toUserPath(auth, path)} as you may read it: send the chunk itself`, { details: { base: bases.join(',') } });
  }
  if (declared !== size) {
    throw new SizeMismatchError(`chunk ${hash} has ${declared} bytes in upload ${id}'s manifest; the body announces ${size}`, { details: { hash, declared, size } });
  }
  // Read, verified and written the same way whoever else stores the chunk; `stored` says
  // only whether it was already the caller's (the dedup oracle is closed, issue 10).
  // Deferred durability: the chunk is made durable and indexed with others in the
  // background, and the commit waits for it (ChunkStore.put, grouped durability).
  // Room in the body memory budget first (./../chunk-bodies.ts): meanwhile the body is not
  // read, and the client waits (TCP or HTTP/2 flow control). A compressed body or a delta is
  // read whole with the chunk it makes; a raw one goes whole into a reused buffer, or streams.
  // One user (or one drop box's visitors) never takes the whole budget: see BodyMemory.
  const party = partyOf(auth);
  const lease = encoding ? await ctx.bodies.reserve(length + size, signal, party) : await ctx.bodies.admitChunk(length, signal, party);
  let stored: boolean;
  try {
    const options = {
      owner: proverOf(id, up),
      path,
      defer: true,
      ...(encoding ? { encoding } : {}),
      ...(bases ? { bases } : {}),
      written: lease.release,
      gather: (bytes: number) => ctx.bodies.tryReserve(bytes, party)?.release,
    };
    stored = await ctx.chunks.put(hash, size, await read(lease.buffer), signal, options);
  } finally {
    lease.release();
  }
  ctx.metrics.chunkBodyBytesReceived.inc(size);
  ctx.metrics.chunkWireBytesReceived.inc(length);
  return { answer: { hash, size, stored }, expiresAt };
}

/**
 * Several whole chunks in one request (feature `chunk-frames`): each frame is checked, read,
 * verified and stored as a chunk PUT would be, one after the other. A refused frame fails the
 * request; the frames before it stay taken (their chunks are no longer in `missing`).
 */
async function putChunkFrames(ctx: ServerContext, request: FastifyRequest): Promise<ChunkFramesResponse> {
  const { limits } = ctx;
  const params = request.params as IdParams;
  const auth = authOf(request);
  authorizeScope(auth, 'write');
  const declared = Number(request.headers['content-length'] ?? 0);
  if (declared > limits.maxPackBytes) throw new PayloadTooLargeError(`a body of chunk frames may be at most ${limits.maxPackBytes} bytes`);
  if (bodyEncoding(request) !== undefined) throw new EncodingUnsupportedError('chunk frames carry their own encoding, frame by frame: send the body without a Content-Encoding');
  const signal = closeSignal(request);
  const reader = new ChunkFrameReader(rawBody(request), limits.maxPackBytes);
  const chunks: ChunkPutResponse[] = [];
  let expiresAt = 0;
  try {
    for (let frame = await reader.next(); frame !== undefined; frame = await reader.next()) {
      const { hash, size, length } = frame;
      if (chunks.length === MAX_CHUNK_FRAMES_PER_REQUEST) {
        throw new PayloadTooLargeError(`a request may carry at most ${MAX_CHUNK_FRAMES_PER_REQUEST} chunk frames; send the rest in another`);
      }
      assertSha256Hex(hash, 'chunk hash');
      if (length < 1 || length > size || size > limits.maxChunkSize) {
        throw new ValidationError(`chunk frame ${hash}: size ${size} and length ${length} must be 1 to ${limits.maxChunkSize}, the length at most the size`);
      }
      const encoding = length < size ? 'zstd' : undefined;
      const taken = await takeChunk(ctx, auth, params.id, { hash, length, ...(encoding ? { encoding } : {}) }, signal, (buffer) =>
        buffer ? reader.readInto(buffer, length) : Promise.resolve(reader.bytes(length)),
      );
      chunks.push(taken.answer);
      expiresAt = taken.expiresAt;
      ctx.metrics.chunkWireBytesReceived.inc(CHUNK_FRAME_HEADER_BYTES); // as a pack's frame headers count
    }
  } catch (err) {
    await reader.discard();
    throw err;
  }
  if (chunks.length > 0) await ctx.meta.extendUpload(params.id, expiresAt, ctx.config.uploadTtlMs);
  return { chunks };
}

async function putPack(ctx: ServerContext, request: FastifyRequest) {
  const { meta, chunks, limits } = ctx;
  const ttl = ctx.config.uploadTtlMs;
  const params = request.params as IdParams;
  const id = params.id;
  const auth = authOf(request);
  const { expiresAt, ...up } = await ownUploadLight(ctx, auth, id);
  const declared = Number(request.headers['content-length'] ?? 0);
  if (declared > limits.maxPackBytes) throw new PayloadTooLargeError(`a pack may be at most ${limits.maxPackBytes} bytes`);
  const encoding = bodyEncoding(request) as 'zstd' | undefined;
  const controller = new AbortController();
  request.raw.once('close', () => {
    if (!request.raw.complete) controller.abort();
  });
  const path = await meta.uploadFirstPath(id);
  const result = await chunks.putPack(
    rawBody(request),
    limits.maxPackBytes,
    controller.signal,
    async (frames) => {
      const { strangers, mismatched } = await meta.chunksNotInUpload(id, frames);
      if (strangers.length > 0) throw new ChunkNotInUploadError(`chunk ${strangers[0]} is not in upload ${id}'s manifest`, { details: { hashes: strangers.slice(0, 100) } });
      if (mismatched.length > 0) {
        const m = mismatched[0];
        throw new SizeMismatchError(`chunk ${m.hash} has ${m.declared} bytes in upload ${id}'s manifest; the pack holds ${m.size}`, { details: { hash: m.hash, declared: m.declared, size: m.size } });
      }
    },
    // Deferred: indexed with the other packs that arrive before the commit, which waits
    // for them (ChunkStore.putPack): one transaction for several instead of one each.
    { owner: proverOf(id, up), path, defer: true, ...(encoding ? { encoding } : {}) },
  );
  await meta.extendUpload(id, expiresAt, ttl);
  ctx.metrics.chunkBodyBytesReceived.inc(result.bytes);
  ctx.metrics.chunkWireBytesReceived.inc(declared);
  return result;
}

async function commit(ctx: ServerContext, request: FastifyRequest): Promise<CommitResponse> {
  const params = request.params as IdParams;
  const auth = authOf(request);
  const up = await ownUpload(ctx, auth, params.id);
  const condition = writeConditionOf(request);
  if (condition && auth.share) throw new ValidationError('a drop box never replaces a file: its uploads take no If-Match or If-None-Match');
  if (condition && up.files !== 1) throw new ValidationError(`If-Match and If-None-Match apply to one file: this session holds ${up.files}`);
  // A drop box counts one use per file received; given back if the commit fails.
  const uses = auth.share ? up.files : 0;
  for (let i = 0; i < uses; i++) {
    if (!(await ctx.shares.consumeUse(auth.share!.id, ctx.now()))) {
      for (let j = 0; j < i; j++) await ctx.shares.refundUse(auth.share!.id);
      throw new GoneError('this link has been used up');
    }
  }
  try {
    return await commitFiles(ctx, request, auth, uses, condition);
  } catch (err) {
    for (let j = 0; j < uses; j++) await ctx.shares.refundUse(auth.share!.id);
    throw err;
  }
}

/** The commit proper: the final size, hash, mtime and mode checked, then {@link commitSession}. */
async function commitFiles(ctx: ServerContext, request: FastifyRequest, auth: AuthContext, uses: number, condition: WriteCondition | undefined): Promise<CommitResponse> {
  const { meta } = ctx;
  const params = request.params as IdParams;
  const body = request.body === undefined || request.body === null ? {} : asObject(request.body);
  const final: { size?: number; hash?: string; mtime?: number; mode?: number } = {};
  const size = optionalInt(body.size, 'size');
  if (size !== undefined) final.size = size;
  if (body.hash !== undefined) final.hash = assertSha256Hex(body.hash, 'hash');
  const mtime = optionalInt(body.mtime, 'mtime');
  if (mtime !== undefined) final.mtime = mtime;
  const mode = optionalInt(body.mode, 'mode');
  if (mode !== undefined && !auth.share) final.mode = mode & 0o7777;
  const quotaCheck = ctx.quota.commitCheck(auth);
  // A visitor's file is named as they asked: a name taken in the folder is stored under
  // another (the store's commit), which would tell them it was taken.
  const asked = auth.share ? await pendingPaths(ctx.meta.db, params.id) : [];
  const files = await commitSession(ctx, request, auth, params.id, final, {
    // Inside the commit transaction: grants or the token may have changed since the
    // session was created, and the usage since it was counted (a copy, a lower quota).
    check: async (trx, candidates) => {
      for (const c of candidates) authorize(auth, 'write', toUserPath(auth, c.path));
      await quotaCheck(trx, candidates);
    },
    // Once the path's name is locked: of commits racing from one ETag, one replaces the file.
    ...(condition ? { expect: (path: string, current: Entry | undefined) => checkWriteCondition(condition, toUserPath(auth, path), current) } : {}),
  }).catch(async (err: unknown) => {
    // Refused for a limit: the session could only wait for its expiry, holding a
    // session slot and its quota reservation. It goes; its chunks stay the user's
    // until garbage collection (a re-run after freeing space sends nothing again).
    if (isLimitRefusal(err)) await meta.abortUpload(params.id).catch(() => undefined);
    throw err;
  });
  if (auth.share) {
    for (const f of files) {
      await ctx.audit.record(request, { event: 'share.use', ok: true, target: auth.share.id, path: f.path, details: { path: f.path, upload: true, size: f.size, uses } });
    }
    return { files: files.map((f, i) => shareEntry({ ...f, name: baseName(asked[i] ?? f.path) })) };
  }
  const res: CommitResponse = { files: files.map((f) => toUserEntry(auth, f)) };
  return res;
}

async function abort(ctx: ServerContext, request: FastifyRequest, reply: FastifyReply) {
  const { meta } = ctx;
  const params = request.params as IdParams;
  await ownUpload(ctx, authOf(request), params.id);
  await meta.abortUpload(params.id);
  return reply.status(204).send();
}
