/**
 * The WebDAV methods on resources themselves: OPTIONS, GET/HEAD, PUT, DELETE, MKCOL.
 *
 * GET and HEAD are the native download (src/server/routes/downloads.ts `sendFile`): Range,
 * ETag (the file's tree hash), every chunk verified. A collection answers GET with a small
 * HTML index.
 *
 * PUT goes through `ingestStream`, the one path of streamed uploads: the body is cut by
 * the server's chunker into content-addressed chunks (dedup with every other upload),
 * checked against quota and size limits as it grows, and committed atomically: a reader
 * sees the old file or the whole new one; a PUT cut short leaves nothing. The announced
 * length (Content-Length, or macOS Finder's X-Expected-Entity-Length on a chunked body)
 * must match what arrives. `X-OC-Mtime` (seconds, as ownCloud/Nextcloud clients and
 * rclone's `owncloud`/`nextcloud` vendors send it) sets the file's modification time.
 * Conditions on the file's content (If-Match, If-None-Match, the If header's entity tags)
 * are checked before the body is read and again by the commit, atomically with replacing
 * the file: of writers racing with one ETag, one wins and the others get 412.
 */
import { Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AlreadyExistsError, MethodNotAllowedError, NoParentError, PreconditionFailedError, NotFoundError, UnsupportedMediaTypeError, ValidationError } from '../../core/errors.js';
import { parentPath } from '../../core/path.js';
import type { Entry } from '../../core/protocol.js';
import { authorize, authorizeTree, toServerPath, toUserPath } from '../authz.js';
import { abortOnHangUp, ingestStream, refuseEncodedBody } from '../ingest.js';
import { escapeHtml, plainPageHeaders, plainPageStart } from '../html.js';
import { sendFile } from '../routes/downloads.js';
import { Dav, depthOf } from './context.js';
import { hrefOf } from './paths.js';

export const DAV_METHODS = ['OPTIONS', 'GET', 'HEAD', 'PUT', 'DELETE', 'PROPFIND', 'PROPPATCH', 'MKCOL', 'COPY', 'MOVE', 'LOCK', 'UNLOCK'];

/** OPTIONS: the share's abilities (class 1 and 2), no file information. */
export function options(reply: FastifyReply): FastifyReply {
  return reply
    .status(200)
    .header('dav', '1, 2')
    .header('ms-author-via', 'DAV')
    .header('allow', DAV_METHODS.join(', '))
    .header('accept-ranges', 'bytes')
    .header('content-length', '0')
    .send();
}

export async function get(dav: Dav, request: FastifyRequest, reply: FastifyReply, head: boolean): Promise<FastifyReply> {
  const { auth, path } = dav.target(request);
  const server = authorize(auth, 'read', path);
  const entry = await dav.entry(server);
  if (!entry) throw new NotFoundError(`${path}: no such file or directory`, { details: { path } });
  if (entry.type === 'file') return sendFile(dav.ctx, request, reply, server, path, { head, etagOf: Dav.etagOfHash });
  authorize(auth, 'list', path);
  plainPageHeaders(reply);
  if (head) return reply.send();
  const title = escapeHtml(path);
  async function* page(): AsyncGenerator<string> {
    yield `${plainPageStart(title)}<body><h1>${title}</h1><ul>`;
    if (path !== '/') yield `<li><a href="${escapeHtml(hrefOf(parentPath(path), true))}">..</a></li>`;
    let cursor: string | undefined;
    do {
      const list = await dav.ctx.meta.list(server, { limit: 1000, cursor });
      yield list.entries
        .map((e) => {
          const dir = e.type === 'dir';
          return `<li><a href="${escapeHtml(hrefOf(toUserPath(auth, e.path), dir))}">${escapeHtml(e.name)}${dir ? '/' : ''}</a></li>`;
        })
        .join('');
      cursor = list.next;
    } while (cursor !== undefined);
    yield '</ul></body></html>';
  }
  return reply.send(Readable.from(page(), { objectMode: false }));
}

/** The length the client announced, if any: Content-Length, else X-Expected-Entity-Length (Finder's chunked PUTs). */
function declaredLength(request: FastifyRequest): number | undefined {
  const chunked = request.headers['transfer-encoding'] !== undefined;
  const raw = chunked ? request.headers['x-expected-entity-length'] : request.headers['content-length'];
  if (raw === undefined) return undefined;
  const n = Number(Array.isArray(raw) ? raw[0] : raw);
  if (!Number.isSafeInteger(n) || n < 0) throw new ValidationError('the announced length is not a number of bytes');
  return n;
}

/**
 * A PUT's Content-Range (or Range), if any, must describe the whole file, and then gives its
 * length. RFC 9110 14.5: a partial PUT the server does not apply must be refused (400), never
 * stored as the whole file. Two clients send such headers:
 * - `curl -C - -T file` over HTTP cannot ask where to resume ("We don't support this now",
 *   lib/http.c, Curl_http_resume) and sends the whole file with `Content-Range: bytes
 *   0-(N-1)/N` (`bytes 0--1/0` for an empty one): that is a whole PUT.
 * - lftp's `reput` (4.9, Http.cc) sends only the rest of the file, marked with `Range:
 *   bytes=POS-(N-1)/N`. RFC 9110 14.2 has a server ignore Range where no range handling is
 *   defined, but ignoring it here would store the tail as the whole file: it is refused too.
 */
function rangeCoversWhole(request: FastifyRequest, declaredSize: number | undefined): number | undefined {
  const contentRange = request.headers['content-range'];
  const range = request.headers.range;
  if (contentRange === undefined && range === undefined) return declaredSize;
  if (contentRange !== undefined && range !== undefined) throw new ValidationError('PUT with both Content-Range and Range: send the whole file without them');
  const raw = String(contentRange ?? range).trim();
  const m = (contentRange !== undefined ? /^bytes 0-(-1|\d+)\/(\d+)$/ : /^bytes=0-(-1|\d+)\/(\d+)$/).exec(raw);
  const total = m ? Number(m[2]) : NaN;
  const whole = m !== null && Number.isSafeInteger(total) && Number(m[1]) === total - 1 && (declaredSize === undefined || declaredSize === total);
  if (!whole) throw new ValidationError(`PUT with ${contentRange !== undefined ? 'Content-Range' : 'Range'} "${raw}" (a partial update) is not supported: send the whole file`);
  return total;
}

/** X-OC-Mtime: seconds since the epoch (fractions allowed) -> ms. */
function ocMtime(request: FastifyRequest): number | undefined {
  const raw = request.headers['x-oc-mtime'];
  if (raw === undefined) return undefined;
  const s = Number(Array.isArray(raw) ? raw[0] : raw);
  if (!Number.isFinite(s) || s < 0 || s > 1e11) throw new ValidationError('X-OC-Mtime must be seconds since the epoch');
  return Math.round(s * 1000);
}

export async function put(dav: Dav, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  const { auth, path } = dav.target(request);
  if (path === '/') throw new MethodNotAllowedError('the root is a collection');
  const server = authorize(auth, 'write', path);
  const declaredSize = rangeCoversWhole(request, declaredLength(request));
  const mtime = ocMtime(request);
  const entry = await dav.entry(server);
  if (entry?.type === 'dir') throw new MethodNotAllowedError(`${path} is a collection`);
  const parent = await dav.entry(toServerPath(auth, parentPath(path)));
  if (parent?.type !== 'dir') throw new NoParentError(`${parentPath(path)}: no such collection (create it with MKCOL first)`);
  // The conditions hold now (fail fast, before a large body), and the commit decides: two
  // clients that both read one ETag and PUT with If-Match must not both replace the file.
  const condition = await dav.guard(request, auth, { path, entry, member: entry === undefined });
  refuseEncodedBody(request);
  const body = request.body as Readable | undefined;
  // Stopping early (a quota refusal) must not destroy the request: the client then reads the error.
  const source: AsyncIterable<Uint8Array> = body ? { [Symbol.asyncIterator]: () => body.iterator({ destroyOnReturn: false }) } : Readable.from([]);
  // If-None-Match: * was checked above, but a file may arrive while the body streams in: the
  // commit itself must then refuse to replace it (one racing PUT wins, the others get 412).
  const noOverwrite = request.headers['if-none-match']?.trim() === '*';
  const stored = await ingestStream(dav.ctx, {
    auth,
    path: server,
    body: source,
    ...(declaredSize !== undefined ? { declaredSize } : {}),
    ...(mtime !== undefined ? { mtime } : {}),
    ...(noOverwrite ? { noOverwrite } : {}),
    ...(condition ? { expect: (_path: string, current: Entry | undefined) => condition(current) } : {}),
    signal: abortOnHangUp(request.raw),
    request,
  }).catch(async (err: unknown) => {
    if (noOverwrite && err instanceof AlreadyExistsError && (await dav.entry(server))) throw new PreconditionFailedError('If-None-Match does not hold', { cause: err });
    throw err;
  });
  reply.header('etag', Dav.etagOfHash(stored.hash!));
  if (mtime !== undefined) reply.header('x-oc-mtime', 'accepted');
  return reply.status(entry ? 204 : 201).send();
}

export async function del(dav: Dav, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  const { auth, path } = dav.target(request);
  if (path === '/') throw new MethodNotAllowedError('the root cannot be deleted');
  const server = authorizeTree(auth, 'delete', path);
  const entry = await dav.entry(server);
  if (!entry) throw new NotFoundError(`${path}: no such file or directory`, { details: { path } });
  // RFC 4918 9.6.1: on a collection only `Depth: infinity` (a client must send no other). A
  // file has no members, so any Depth removes the same thing: lftp's `rm` sends `Depth: 0`.
  if (entry.type === 'dir' && depthOf(request, 'infinity') !== 'infinity') throw new ValidationError('DELETE removes a collection with everything in it: Depth must be infinity');
  await dav.guard(request, auth, { path, entry, tree: true, member: true });
  const removed = await dav.ctx.meta.remove(server, { recursive: true });
  await dav.ctx.audit.record(request, { event: 'file.delete', ok: true, target: server, path: server, details: { recursive: entry.type === 'dir', ...removed } });
  return reply.status(204).send();
}

export async function mkcol(dav: Dav, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  const { auth, path } = dav.target(request);
  // RFC 4918 9.3: a body we do not understand is 415 (none is defined for MKCOL here).
  const length = Number(request.headers['content-length'] ?? 0);
  if (length > 0 || request.headers['transfer-encoding'] !== undefined) throw new UnsupportedMediaTypeError('MKCOL takes no body');
  const server = authorize(auth, 'mkdir', path);
  if (path === '/' || (await dav.entry(server))) throw new MethodNotAllowedError(`${path} already exists`);
  const parent = await dav.entry(toServerPath(auth, parentPath(path)));
  if (parent?.type !== 'dir') throw new NoParentError(`${parentPath(path)}: no such collection`);
  await dav.guard(request, auth, { path, entry: undefined, member: true });
  await dav.ctx.meta.mkdir(server);
  await dav.ctx.audit.record(request, { event: 'file.mkdir', ok: true, target: server, path: server });
  return reply.status(201).send();
}
