/**
 * The tus front (https://tus.io/protocols/resumable-upload, 1.0.0): resumable uploads for
 * tus-js-client, Uppy and any other tus client, onto Ferry's upload sessions (./uploads.ts).
 *
 *   OPTIONS /api/v1/tus/         discovery (public): version, extensions, limits
 *   POST    /api/v1/tus/         creation (+ creation-with-upload, creation-defer-length,
 *                                concatenation: Upload-Concat partial / final;…)
 *   HEAD    /api/v1/tus/:id      the offset to resume from
 *   PATCH   /api/v1/tus/:id      bytes at Upload-Offset (409 when it is not the current one);
 *                                Upload-Checksum: sha1|md5|sha256|sha512 <base64> (460 on a mismatch)
 *   DELETE  /api/v1/tus/:id      termination
 *   POST    /api/v1/tus/:id      with X-HTTP-Method-Override: PATCH | DELETE | HEAD
 *
 * Written here rather than with @tus/server: its checksum and concatenation extensions are
 * not implemented (both are required here), its DataStore contract hands a store raw byte
 * ranges to write at offsets while Ferry stores content-defined chunks and commits whole
 * files, and it answers on the raw http response, bypassing Fastify's hooks that carry
 * authentication, rate limits, the defender, audit and the access log. The protocol side
 * is small (headers in, headers out); the storage side is Ferry's own either way.
 *
 * `Upload-Metadata` chooses where the file lands: `filename` (or `name`, or Uppy's
 * `relativePath`) inside `path` (a directory of the caller's; default their home), or
 * `path` alone as the whole path. `mtime` (ms) and `ttlSeconds` are honoured.
 *
 * Every answer carries `Tus-Resumable: 1.0.0`; CORS is open (`*`, no credentials: requests
 * carry a Bearer token a page must hold, never a cookie), so Uppy on another site works.
 */
import { Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AbortedError, PreconditionFailedError, UnsupportedMediaTypeError, ValidationError, isFerryError } from '../../core/errors.js';
import { API_PREFIX } from '../../core/protocol.js';
import { authOf, type RoutePlugin } from '../context.js';
import type { TusRow } from '../../store/tus-store.js';
import { parseMetadata, type Checksum, type TusUploads } from './uploads.js';
import { refuseEncodedBody } from '../ingest.js';

export const TUS_PATH = `${API_PREFIX}/tus`;
const VERSION = '1.0.0';
const EXTENSIONS = 'creation,creation-with-upload,creation-defer-length,termination,expiration,checksum,concatenation';
const OFFSET_TYPE = 'application/offset+octet-stream';
const EXPOSED = 'Location, Upload-Offset, Upload-Length, Upload-Defer-Length, Upload-Metadata, Upload-Expires, Upload-Concat, Tus-Resumable, Tus-Version, Tus-Extension, Tus-Max-Size, Tus-Checksum-Algorithm';
const ALLOWED_HEADERS = 'Authorization, Content-Type, Upload-Length, Upload-Offset, Upload-Defer-Length, Upload-Metadata, Upload-Concat, Upload-Checksum, Tus-Resumable, X-HTTP-Method-Override, X-Requested-With';

function header(request: FastifyRequest, name: string): string | undefined {
  const v = request.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** A non-negative integer header, or undefined when absent. */
function sizeHeader(request: FastifyRequest, name: string): number | undefined {
  const v = header(request, name);
  if (v === undefined) return undefined;
  if (!/^\d{1,16}$/.test(v.trim()) || !Number.isSafeInteger(Number(v))) throw new ValidationError(`${name} must be a number of bytes`);
  return Number(v);
}

/**
 * The Upload-Checksum algorithms, with their digest sizes. The checksum extension requires
 * sha1 ("The Server MUST support at least the SHA1 checksum algorithm"); md5, sha256 and
 * sha512 are what other tus clients offer. Each hashes one PATCH body, not the file.
 */
const CHECKSUM_ALGORITHMS: Readonly<Record<string, number>> = { sha1: 20, md5: 16, sha256: 32, sha512: 64 };
const CHECKSUM_LIST = Object.keys(CHECKSUM_ALGORITHMS).join(',');

/** Upload-Checksum: `<algorithm> <base64 digest>`, the algorithm one of {@link CHECKSUM_ALGORITHMS} (400 otherwise). */
function checksumOf(request: FastifyRequest): Checksum | undefined {
  const v = header(request, 'upload-checksum');
  if (v === undefined) return undefined;
  const m = /^\s*(\S+)\s+([A-Za-z0-9+/]+={0,2})\s*$/.exec(v);
  if (!m) throw new ValidationError('Upload-Checksum must read "<algorithm> <base64 digest>", such as "sha1 <base64 digest>"');
  const algorithm = m[1].toLowerCase();
  const size = Object.hasOwn(CHECKSUM_ALGORITHMS, algorithm) ? CHECKSUM_ALGORITHMS[algorithm] : undefined;
  if (size === undefined) throw new ValidationError(`checksum algorithm ${m[1]} is not supported (Tus-Checksum-Algorithm: ${CHECKSUM_LIST})`);
  const digest = Buffer.from(m[2], 'base64');
  if (digest.length !== size) throw new ValidationError(`a ${algorithm} checksum is ${size} bytes`);
  return { algorithm, digest };
}

function idsOf(concat: string): string[] {
  return concat
    .trim()
    .split(/\s+/)
    .filter(Boolean)
    .map((u) => {
      const path = new URL(u, 'http://tus.invalid').pathname;
      const m = new RegExp(`^${TUS_PATH}/([A-Za-z0-9_-]{1,64})$`).exec(path);
      if (!m) throw new ValidationError(`Upload-Concat: ${u} is not an upload of this server`);
      return m[1];
    });
}

function bodyOf(request: FastifyRequest): Readable {
  const body = request.body as Readable | undefined;
  return body && typeof body.pipe === 'function' ? body : Readable.from([]);
}

function hasBody(request: FastifyRequest): boolean {
  return Number(header(request, 'content-length') ?? 0) > 0 || header(request, 'transfer-encoding') !== undefined;
}

/** The tus routes under /api/v1/tus: each answer carries Tus-Resumable, and CORS for pages elsewhere. */
export const tusRoutes: RoutePlugin = async (app, { ctx }) => {
  const tus = ctx.tus;
  // Bodies are the upload's bytes: always the raw stream (this plugin's own parsers).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_req, payload, done) => done(null, payload));
  app.addHook('preHandler', async (request, reply) => {
    if (request.method === 'OPTIONS') return;
    if (header(request, 'tus-resumable') !== VERSION) {
      reply.header('tus-version', VERSION);
      throw new PreconditionFailedError(`this server speaks tus ${VERSION}: send Tus-Resumable: ${VERSION}`);
    }
  });
  app.addHook('onSend', async (request, reply, payload) => {
    reply.header('tus-resumable', VERSION);
    if (request.headers.origin !== undefined) reply.header('access-control-allow-origin', '*').header('access-control-expose-headers', EXPOSED);
    return payload;
  });
  const config = { front: 'tus' as const };
  const open = { config: { ...config, public: true } };
  for (const url of [TUS_PATH, `${TUS_PATH}/`, `${TUS_PATH}/:id`]) app.options(url, open, (request, reply) => discovery(tus, request, reply));
  app.post(TUS_PATH, { config }, (request, reply) => create(tus, request, reply));
  app.post(`${TUS_PATH}/`, { config }, (request, reply) => create(tus, request, reply));
  app.head(`${TUS_PATH}/:id`, { config }, (request, reply) => head(tus, request, reply));
  app.patch(`${TUS_PATH}/:id`, { config }, (request, reply) => patch(tus, request, reply));
  app.delete(`${TUS_PATH}/:id`, { config }, (request, reply) => terminate(tus, request, reply));
  app.post(`${TUS_PATH}/:id`, { config }, (request, reply) => override(tus, request, reply));
};

function expires(reply: FastifyReply, row: TusRow): void {
  if (row.done_at === null) reply.header('upload-expires', new Date(Number(row.expires_at)).toUTCString());
}

/** A client gone midway is not a server failure: what arrived is kept, the answer goes nowhere. */
async function settled<T>(work: Promise<T>): Promise<T> {
  return work.catch((err: unknown) => {
    if (isFerryError(err) || !(err instanceof Error)) throw err;
    throw new AbortedError('the upload request was interrupted; the bytes that arrived are kept', { cause: err });
  });
}

/** OPTIONS: the version, extensions and limits (public), with CORS preflight answers. */
async function discovery(tus: TusUploads, request: FastifyRequest, reply: FastifyReply) {
  reply.header('tus-version', VERSION).header('tus-extension', EXTENSIONS).header('tus-checksum-algorithm', CHECKSUM_LIST);
  const max = tus.maxSize();
  if (max !== null) reply.header('tus-max-size', String(max));
  if (request.headers.origin !== undefined) {
    reply.header('access-control-allow-methods', 'POST, HEAD, PATCH, DELETE, OPTIONS').header('access-control-allow-headers', ALLOWED_HEADERS).header('access-control-max-age', '86400');
  }
  return reply.status(204).send();
}

/** POST: creation (with an upload, deferred length, or the concatenation of partial uploads). */
async function create(tus: TusUploads, request: FastifyRequest, reply: FastifyReply) {
  const auth = authOf(request);
  const concat = header(request, 'upload-concat');
  const deferred = header(request, 'upload-defer-length');
  if (deferred !== undefined && deferred.trim() !== '1') throw new ValidationError('Upload-Defer-Length must be 1');
  const length = sizeHeader(request, 'upload-length');
  const isFinal = concat !== undefined && concat.startsWith('final;');
  if (concat !== undefined && concat !== 'partial' && !isFinal) throw new ValidationError('Upload-Concat must be partial or final;<upload URLs>');
  if (!isFinal && (length === undefined) === (deferred === undefined)) throw new ValidationError('send either Upload-Length or Upload-Defer-Length: 1');
  if (isFinal && (length !== undefined || hasBody(request))) throw new ValidationError('a final upload (concatenation) has no Upload-Length and no body');
  const rawMetadata = header(request, 'upload-metadata');
  const metadata = parseMetadata(rawMetadata);
  if (hasBody(request) && header(request, 'content-type')?.split(';')[0].trim().toLowerCase() !== OFFSET_TYPE) {
    throw new UnsupportedMediaTypeError(`a body sent with the creation must be ${OFFSET_TYPE}`);
  }
  if (hasBody(request)) refuseEncodedBody(request);
  const checksum = checksumOf(request);
  let row = await tus.create(auth, {
    ...(length !== undefined ? { length } : {}),
    metadata,
    ...(rawMetadata !== undefined ? { rawMetadata } : {}),
    ...(concat === 'partial' ? { concat: { kind: 'partial' as const } } : isFinal ? { concat: { kind: 'final' as const, parts: idsOf(concat!.slice(6)) } } : {}),
    request,
  });
  reply.header('location', `${TUS_PATH}/${row.id}`);
  if (hasBody(request)) {
    // creation-with-upload: the first bytes ride along.
    const state = await settled(tus.append(auth, row.id, 0, bodyOf(request), { request, ...(checksum ? { checksum } : {}) }));
    row = state.row;
    reply.header('upload-offset', String(state.offset));
  } else if (row.done_at !== null) reply.header('upload-offset', String(row.length));
  expires(reply, row);
  return reply.status(201).send();
}

/**
 * Most bytes of a final upload's Upload-Concat that a HEAD lists its parts in (about 55
 * parts). A proxy keeps an answer's headers in one buffer (nginx's `proxy_buffer_size`, 4 or
 * 8 KiB by default) and answers 502 past it: 500 parts came to 18 KB.
 */
export const UPLOAD_CONCAT_LISTED_BYTES = 2048;

/**
 * The Upload-Concat a HEAD answers with: "its value as received in the upload creation
 * request" (tus 1.0.0, concatenation), a final upload's parts as this server's URLs of them;
 * `final` alone past {@link UPLOAD_CONCAT_LISTED_BYTES}, as for final uploads made before
 * the parts were kept. No client reads the list back (tus-js-client and Uppy keep their own
 * part URLs to resume), and a HEAD that fails through a proxy would stop a resume.
 */
function uploadConcatOf(concat: NonNullable<TusRow['concat']>): string {
  if (!concat.startsWith('final;')) return concat;
  const listed = `final;${concat.slice('final;'.length).split(' ').map((id) => `${TUS_PATH}/${id}`).join(' ')}`;
  return listed.length <= UPLOAD_CONCAT_LISTED_BYTES ? listed : 'final';
}

/** HEAD: the offset to resume from. */
async function head(tus: TusUploads, request: FastifyRequest, reply: FastifyReply) {
  const { row, offset } = await tus.state(authOf(request), (request.params as { id: string }).id);
  reply.header('cache-control', 'no-store').header('upload-offset', String(offset));
  if (row.length !== null) reply.header('upload-length', String(row.length));
  else reply.header('upload-defer-length', '1');
  if (row.metadata !== null) reply.header('upload-metadata', row.metadata);
  if (row.concat !== null) reply.header('upload-concat', uploadConcatOf(row.concat));
  expires(reply, row);
  return reply.status(200).send();
}

/** PATCH: bytes at Upload-Offset. */
async function patch(tus: TusUploads, request: FastifyRequest, reply: FastifyReply) {
  if (header(request, 'content-type')?.split(';')[0].trim().toLowerCase() !== OFFSET_TYPE) throw new UnsupportedMediaTypeError(`a PATCH body must be ${OFFSET_TYPE}`);
  refuseEncodedBody(request);
  const offset = sizeHeader(request, 'upload-offset');
  if (offset === undefined) throw new ValidationError('PATCH needs Upload-Offset');
  const length = sizeHeader(request, 'upload-length');
  const checksum = checksumOf(request);
  const { row, offset: now } = await settled(
    tus.append(authOf(request), (request.params as { id: string }).id, offset, bodyOf(request), { request, ...(checksum ? { checksum } : {}), ...(length !== undefined ? { length } : {}) }),
  );
  reply.header('upload-offset', String(now));
  expires(reply, row);
  return reply.status(204).send();
}

/** DELETE: termination. */
async function terminate(tus: TusUploads, request: FastifyRequest, reply: FastifyReply) {
  await tus.terminate(authOf(request), (request.params as { id: string }).id);
  return reply.status(204).send();
}

/** POST to an upload: for clients behind proxies that allow only GET and POST (tus-js-client's overridePatchMethod). */
async function override(tus: TusUploads, request: FastifyRequest, reply: FastifyReply) {
  const method = header(request, 'x-http-method-override')?.trim().toUpperCase();
  if (method === 'PATCH') return patch(tus, request, reply);
  if (method === 'DELETE') return terminate(tus, request, reply);
  if (method === 'HEAD') return head(tus, request, reply);
  throw new ValidationError('POST to an upload needs X-HTTP-Method-Override: PATCH, DELETE or HEAD');
}
