/**
 * One-request uploads for terminals and scripts, without the CLI (docs/protocol.md,
 * "One-request uploads"):
 *
 *   PUT  /api/v1/files/*path     the body is the file (`curl -T file URL`; a body of unknown
 *                                length, chunked, works too: `... | curl -T - URL`)
 *   POST /api/v1/files/*dir      a multipart form (`curl -F file=@x URL/dir/`): each file
 *                                part becomes `dir/<its file name>`
 *
 * Both answer `201` with the file's entry (a form with several files: `{files: [...]}`) and,
 * with `?share=1` (`&expires=7d`, `&max-downloads=N`), a share link to it in `url`.
 *
 * The server cuts the stream into chunks itself (../ingest.ts): the file dedups against
 * every other upload, is verified chunk by chunk and appears atomically once the body has
 * ended; a request cut in the middle leaves nothing visible. Options: `overwrite=false`
 * (409 instead of replacing), `mtime=MS`, `ttl=7d` (the server deletes the file then). A PUT
 * takes If-Match / If-None-Match (../../core/write-conditions.ts), decided by the commit.
 */
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { NotADirectoryError, NotFoundError, PathInvalidError, ValidationError } from '../../core/errors.js';
import { joinPath, normalizePath, pathSegments } from '../../core/path.js';
import { API_PREFIX, type Entry } from '../../core/protocol.js';
import { parseDuration } from '../../core/units.js';
import { checkWriteCondition } from '../../core/write-conditions.js';
import type { ShareRow } from '../../store/share-store.js';
import { authOf, type RoutePlugin, type ServerContext } from '../context.js';
import { authorize, toUserEntry, type AuthContext } from '../authz.js';
import { abortOnHangUp, ingestStream, refuseEncodedBody } from '../ingest.js';
import { optionalQueryInt, queryFlag, wildcardPath, writeConditionOf } from '../validate.js';
import { linkExpiresAt, MAX_SHARE_SECONDS, publicBase, shareKeyHash } from './shares.js';
import { MAX_TTL_SECONDS } from '../../core/option-values.js';
import { onFirstUse } from '../lazy.js';

// The multipart parser, loaded by the first form (../lazy.ts).
const loadBusboy = onFirstUse(async () => (await import('busboy')).default);

/** Most file parts one form may carry. */
const MAX_FORM_FILES = 100;

interface UploadOptions {
  noOverwrite: boolean;
  mtime?: number;
  ttlMs?: number;
  share?: { expiresInSeconds?: number; maxUses?: number };
}

/** A duration from the query, within what the JSON API accepts for the same setting (1 s up to `maxSeconds`). */
function duration(value: string, name: string, maxSeconds: number): number {
  let ms: number;
  try {
    ms = parseDuration(value);
  } catch {
    throw new ValidationError(`${name} must be a duration like 90s, 15m, 24h or 7d`);
  }
  if (ms < 1000 || ms > maxSeconds * 1000) throw new ValidationError(`${name} must be from 1s to ${maxSeconds / 86_400}d`);
  return ms;
}

function uploadOptions(query: unknown): UploadOptions {
  const q = query as Record<string, string | undefined>;
  const out: UploadOptions = { noOverwrite: q.overwrite !== undefined && !queryFlag(q, 'overwrite') };
  out.mtime = optionalQueryInt(q, 'mtime', 0);
  if (q.ttl !== undefined) out.ttlMs = duration(q.ttl, 'ttl', MAX_TTL_SECONDS);
  if (queryFlag(q, 'share')) {
    out.share = {};
    if (q.expires !== undefined) out.share.expiresInSeconds = Math.ceil(duration(q.expires, 'expires', MAX_SHARE_SECONDS) / 1000);
    out.share.maxUses = optionalQueryInt(q, 'max-downloads', 1);
  }
  return out;
}

/** `?share=1` needs what `POST /api/v1/shares` needs for a download link: 'share' and 'read' on the file. */
function authorizeLink(auth: AuthContext, path: string): void {
  authorize(auth, 'share', path);
  authorize(auth, 'read', path);
}

/** A download link to a just-uploaded file (`?share=1`), as `POST /api/v1/shares` would make it. */
async function shareFile(ctx: ServerContext, request: FastifyRequest, auth: AuthContext, entry: Entry, spec: NonNullable<UploadOptions['share']>): Promise<string> {
  const path = toUserEntry(auth, entry).path;
  authorizeLink(auth, path);
  const key = randomBytes(32).toString('base64url');
  const now = ctx.now();
  const row: ShareRow = {
    id: 'sh_' + randomBytes(8).toString('hex'),
    key_hash: shareKeyHash(key),
    user_id: auth.userId,
    path,
    kind: 'download',
    name: entry.name,
    password_hash: null,
    expires_at: await linkExpiresAt(ctx, auth, spec.expiresInSeconds),
    max_uses: spec.maxUses ?? null,
    max_bytes: null,
    bytes_received: 0,
    target_type: 'file',
    made_with: auth.tokenId,
    uses: 0,
    created_at: now,
    revoked_at: null,
    last_used_at: null,
  };
  await ctx.shares.insert(row);
  await ctx.audit.record(request, { event: 'share.create', ok: true, target: row.id, details: { path: entry.path, kind: 'download', via: 'upload', expiresAt: row.expires_at, maxUses: row.max_uses } });
  return `${publicBase(ctx, request)}/s/${key}`;
}

export const fileUploadRoutes: RoutePlugin = async (app, { ctx }) => {
  // The body is the file, whatever its content type says (JSON included): never parsed here
  // (this plugin's own parsers: the API's routes keep theirs).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_req, payload, done) => done(null, payload));
  app.put(`${API_PREFIX}/files/*`, (request, reply) => putFile(ctx, request, reply));
  app.post(`${API_PREFIX}/files/*`, (request, reply) => postForm(ctx, request, reply));
  app.post(`${API_PREFIX}/files`, (request, reply) => postForm(ctx, request, reply));
};

/** A stored file as the caller sees it, with its share link when `?share=1` asked for one. */
async function answer(ctx: ServerContext, request: FastifyRequest, auth: AuthContext, entry: Entry, options: UploadOptions): Promise<Entry & { url?: string }> {
  const shown = toUserEntry(auth, entry);
  return options.share ? { ...shown, url: await shareFile(ctx, request, auth, entry, options.share) } : shown;
}

/** PUT /files/*path: the body is the file. */
async function putFile(ctx: ServerContext, request: FastifyRequest, reply: FastifyReply) {
  const auth = authOf(request);
  const path = wildcardPath(request);
  if (path === '/') throw new PathInvalidError('PUT needs a file path: /api/v1/files/dir/name');
  const options = uploadOptions(request.query);
  const server = authorize(auth, 'write', path);
  if (options.share) authorizeLink(auth, path);
  refuseEncodedBody(request);
  const header = request.headers['content-length'];
  const declared = header === undefined ? undefined : Number(header);
  if (declared !== undefined && !Number.isSafeInteger(declared)) throw new ValidationError('bad Content-Length');
  const condition = writeConditionOf(request);
  // Checked now to fail before a large body streams in; the commit decides, in its
  // transaction: of writers racing from one ETag, one replaces the file.
  if (condition) checkWriteCondition(condition, path, await ctx.meta.stat(server).catch((err: unknown) => (err instanceof NotFoundError ? undefined : Promise.reject(err))));
  const entry = await ingestStream(ctx, {
    auth,
    path: server,
    body: request.body as Readable,
    declaredSize: declared,
    noOverwrite: options.noOverwrite,
    mtime: options.mtime,
    ttlMs: options.ttlMs,
    ...(condition ? { expect: (_server: string, current: Entry | undefined) => checkWriteCondition(condition, path, current) } : {}),
    signal: abortOnHangUp(request.raw),
    request,
  });
  return reply.status(201).send(await answer(ctx, request, auth, entry, options));
}

/** POST /files/*dir: a multipart form, each file part into the directory. */
async function postForm(ctx: ServerContext, request: FastifyRequest, reply: FastifyReply) {
  const auth = authOf(request);
  const dir = wildcardPath(request);
  const options = uploadOptions(request.query);
  const type = String(request.headers['content-type'] ?? '');
  if (writeConditionOf(request)) throw new ValidationError('If-Match and If-None-Match apply to one file: PUT it to its path');
  if (!/^multipart\/form-data/i.test(type)) throw new ValidationError('POST to a directory takes a multipart form (curl -F file=@x); PUT a file to its path instead');
  refuseEncodedBody(request);
  const existing = await ctx.meta.stat(authorize(auth, 'write', dir)).catch(() => undefined);
  if (existing && existing.type !== 'dir') throw new NotADirectoryError(`${dir} is a file: POST a form to a directory`);
  const signal = abortOnHangUp(request.raw);
  const entries = await readForm(request, type, signal, async (name, stream) => {
    const path = joinPath(dir, name);
    const server = authorize(auth, 'write', path);
    if (options.share) authorizeLink(auth, path);
    const entry = await ingestStream(ctx, { auth, path: server, body: stream, noOverwrite: options.noOverwrite, mtime: options.mtime, ttlMs: options.ttlMs, signal, request });
    return answer(ctx, request, auth, entry, options);
  });
  if (entries.length === 0) throw new ValidationError('the form holds no file (send one with curl -F file=@PATH)');
  return reply.status(201).send(entries.length === 1 ? entries[0] : { files: entries });
}

/**
 * Reads a multipart form, handing each file part to `store` in order (busboy waits while a
 * file is stored: backpressure). A part's file name is reduced to its last segment and
 * validated as a Ferry name. Non-file fields are ignored. The first failure stops the form.
 */
async function readForm<T>(request: FastifyRequest, type: string, signal: AbortSignal, store: (name: string, stream: Readable) => Promise<T>): Promise<T[]> {
  const body = request.body as Readable;
  const busboy = await loadBusboy();
  if (signal.aborted) throw new ValidationError('the form was cut short');
  const parser = busboy({ headers: { 'content-type': type }, limits: { files: MAX_FORM_FILES, fields: 100, parts: MAX_FORM_FILES + 100 }, defParamCharset: 'utf8' });
  const out: T[] = [];
  let failure: unknown;
  let chain: Promise<void> = Promise.resolve();
  // A client that hangs up mid-form: the part being stored would wait for bytes forever.
  const open = new Set<Readable>();
  signal.addEventListener('abort', () => {
    const cut = new ValidationError('the form was cut short');
    for (const s of open) s.destroy(cut);
    parser.destroy(cut);
  }, { once: true });
  parser.on('file', (_field, stream, info) => {
    open.add(stream);
    stream.once('close', () => open.delete(stream));
    chain = chain.then(async () => {
      if (failure !== undefined) {
        stream.resume();
        return;
      }
      try {
        const raw = (info.filename ?? '').split(/[\\/]/).pop() ?? '';
        const segments = raw === '' ? [] : pathSegments('/' + raw);
        if (segments.length !== 1) throw new PathInvalidError('every file part needs a file name (curl -F file=@PATH sends it)');
        out.push(await store(normalizePath('/' + segments[0]).slice(1), stream));
      } catch (err) {
        failure ??= err;
        stream.resume(); // drain the rest of the part so that the form can end
      }
    });
  });
  parser.on('filesLimit', () => void (failure ??= new ValidationError(`at most ${MAX_FORM_FILES} files in one form`)));
  const ended = new Promise<void>((resolve, reject) => {
    parser.once('close', resolve);
    parser.once('error', reject);
    body.once('error', reject);
    body.once('aborted', () => reject(new ValidationError('the form was cut short')));
  });
  body.pipe(parser);
  try {
    await ended;
  } catch (err) {
    failure ??= err;
    // Parts waiting in the chain see the failure and stop; a part being stored fails with its stream.
  }
  await chain;
  if (failure !== undefined) throw failure;
  return out;
}

