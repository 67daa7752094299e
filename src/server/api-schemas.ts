/**
 * The request schemas of every route (TypeBox, JSON Schema underneath), keyed by
 * `METHOD URL` as Fastify registers the route. They are what validates requests (a request
 * that violates one gets 400 FERRY_ERR_VALIDATION before its handler runs) and what
 * `GET /api/v1/openapi.json` is generated from by @fastify/swagger: there is no second,
 * hand-kept description to drift. A route registered without an entry here fails
 * test/server/openapi.test.ts. The build turns them into JSON (scripts/route-schemas.mjs),
 * which is what a server reads at start (./route-schemas.ts): TypeBox runs at build time.
 *
 * Handlers keep their own checks of meaning (paths, limits, permissions); the schemas
 * check shape and types. Response schemas are documentation only (the serializer is plain
 * JSON.stringify: a response schema must never drop a field a client relies on).
 */
import { OptionalKind, Type, type TSchema } from '@sinclair/typebox';
import type { FastifySchema } from 'fastify';
import type { RouteSchemaTable } from './route-schemas.js';
import { HOOK_EVENTS } from './settings.js';

export { describedElsewhere } from './route-schemas.js';

const Num = () => Type.Number({ minimum: 0 });
const Int = (o: { minimum?: number; maximum?: number; description?: string } = {}) => Type.Integer({ minimum: 0, ...o });
/** Fields the handlers read with `optionalInt`: absent, null or an integer. */
const OptInt = (o: { minimum?: number; description?: string } = {}) => Type.Optional(Type.Union([Int(o), Type.Null()]));
const Hash = Type.String({ pattern: '^[0-9a-f]{64}$', description: 'SHA-256, 64 lowercase hex digits' });
// Paths are checked for meaning by the handlers (FERRY_ERR_PATH_INVALID): here only their type.
const PathStr = Type.String({ description: "a path relative to the caller's home, `/` separated" });
const Bool = Type.Boolean();
const Strings = Type.Array(Type.String());
// Hashes inside requests are checked by the handlers, whose code for a bad one is the more
// precise FERRY_ERR_HASH_INVALID; the schema checks the rest of the shape.
const HashField = Type.Unknown({ description: 'SHA-256, 64 lowercase hex digits (a bad one: FERRY_ERR_HASH_INVALID)' });
const ChunkRef = Type.Object({ hash: HashField, size: Int({ minimum: 1 }) }, { additionalProperties: true, required: ['hash', 'size'] });
const FileSpec = {
  size: OptInt({ description: 'bytes' }),
  hash: Type.Optional(Type.Union([Type.String(), Type.Null()], { description: 'the whole-file hash (sha256-tree-v1)' })),
  mtime: OptInt({ description: 'ms since the epoch' }),
  mode: OptInt(),
  chunks: Type.Optional(Type.Array(ChunkRef)),
  ttlSeconds: OptInt({ minimum: 1, description: 'the file is deleted this long after the commit' }),
};
/** `limit` and `cursor` of the listings paged by keyset (tokens, share links). */
const KeysetPage = {
  limit: Type.Optional(Type.String({ pattern: '^[0-9]+$', description: 'at most this many (1 to maxListLimit, its default)' })),
  cursor: Type.Optional(Type.String({ description: 'the `next` of the page before' })),
};
const TusId = Type.Object({ id: Type.String({ description: 'the upload id (from Location)' }) });
const Wild = Type.Object({ '*': Type.String({ description: 'the path, after the route prefix' }) });
const Id = (name: string, description: string) => Type.Object({ [name]: Type.String({ description }) });
const Obj = (props: Record<string, TSchema>, description?: string) => Type.Object(props, { additionalProperties: true, ...(description ? { description } : {}) });
// A body whose handler refuses fields it does not know (a misspelt limit must not be ignored),
// naming the field: said in the description (the schema stays open, so the handler answers).
const Closed = (props: Record<string, TSchema>) => Obj(props, 'other fields are refused (400 FERRY_ERR_VALIDATION, details.field)');
const Error = Obj({ error: Obj({ code: Type.String({ description: 'stable code: FERRY_ERR_...' }), message: Type.String() }) }, "Ferry's error format");
const Entry = Obj({ path: Type.String(), name: Type.String(), type: Type.Union([Type.Literal('file'), Type.Literal('dir')]), size: Int(), mtime: Int(), hash: Type.Optional(Type.String()) }, 'a file or directory');
const Any = (description: string) => Obj({}, description);
/** A success without a body (204): documented with no content. */
const NoBody = (description: string) => Type.Null({ description });
/** File bytes, not JSON. */
const Bytes = (description: string) => Type.Unsafe<string>({ description, content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } } });
const Zip = Type.Unsafe<string>({ description: 'the zip archive', content: { 'application/zip': { schema: { type: 'string', format: 'binary' } } } });
const Permission = Type.String({ description: 'list, read, write, mkdir, delete, share' });

type Tag = 'system' | 'uploads' | 'downloads' | 'namespace' | 'auth' | 'users' | 'tokens' | 'shares' | 'admin' | 'webhooks' | 'versions' | 'trash' | 'tus' | 'web';

interface Spec {
  tag: Tag;
  summary: string;
  description?: string;
  public?: boolean;
  params?: TSchema;
  querystring?: TSchema;
  body?: TSchema;
  /**
   * Status -> schema (documentation). Routes under /api/ and /metrics also get `4XX`: Ferry's
   * error format (schemaOf); a route without an entry is documented as answering 200.
   */
  response?: Record<number, TSchema>;
}

const r = (s: Spec): Spec => s;

/** `METHOD URL` -> schema. */
export const ROUTE_SPECS: Record<string, Spec> = {
  // ---------------------------------------------------------------- system
  'GET /healthz': r({ tag: 'system', summary: 'Liveness', public: true, response: { 200: Obj({ status: Type.Literal('ok') }) } }),
  'GET /readyz': r({ tag: 'system', summary: "Readiness: the metadata database and every chunk store answer, the data directory's disk is not full, and the node is not draining (SIGTERM)", public: true, response: { 200: Obj({ status: Type.Literal('ready') }), 503: Error } }),
  'HEAD /healthz': r({ tag: 'system', summary: 'The status of GET /healthz, without the body (for monitors that probe with HEAD)', public: true }),
  'HEAD /readyz': r({ tag: 'system', summary: 'The status of GET /readyz, without the body (for load balancers that probe with HEAD)', public: true }),
  'GET /api/v1/capabilities': r({ tag: 'system', summary: 'Protocol versions, features, hash, chunking parameters and limits', public: true, response: { 200: Any('Capabilities') } }),
  'GET /metrics': r({ tag: 'system', summary: 'Prometheus metrics (admin token or the metrics-only token)', response: { 200: Type.String({ description: 'Prometheus text format' }) } }),
  'GET /api/v1/openapi.json': r({ tag: 'system', summary: 'This OpenAPI 3.1 document', public: true, response: { 200: Any('OpenAPI document') } }),
  'GET /api/v1/docs': r({ tag: 'system', summary: 'A browsable API reference (HTML)', public: true, response: { 200: Type.String({ description: 'HTML' }) } }),
  'GET /api/v1/docs/:asset': r({ tag: 'system', summary: "The reference page's script, style sheet and icon", public: true, params: Type.Object({ asset: Type.Union([Type.Literal('app.js'), Type.Literal('style.css'), Type.Literal('favicon.svg')]) }) }),
  'GET /api/v1/admin/stats': r({ tag: 'admin', summary: 'Counts of files, bytes, chunks, upload sessions', response: { 200: Obj({ files: Int(), logicalBytes: Int(), chunks: Int(), storedBytes: Int(), encodedBytes: Int(), uploads: Int(), dedupRatio: Num(), compressionRatio: Num() }) } }),
  'POST /api/v1/admin/gc': r({ tag: 'admin', summary: 'Collect garbage now', body: Type.Optional(Obj({ graceSeconds: Type.Optional(Type.Number({ minimum: 0 })) })), response: { 200: Obj({ uploads: Int(), chunks: Int(), packs: Int(), leftovers: Obj({ count: Int(), bytes: Int() }), unreferenced: Obj({ chunks: Int(), packs: Int(), bytes: Int() }) }) } }),

  // ---------------------------------------------------------------- uploads
  'POST /api/v1/uploads': r({
    tag: 'uploads',
    summary: 'Open an upload session: one file (path) or a batch (files); answers the chunks the server lacks',
    body: Obj({ path: Type.Optional(PathStr), files: Type.Optional(Type.Array(Obj({ path: PathStr, ...FileSpec }), { minItems: 1 })), noOverwrite: Type.Optional(Bool), ...FileSpec }),
    response: { 201: Obj({ id: Type.String(), missing: Type.Array(Hash) }), 400: Error, 413: Error },
  }),
  'GET /api/v1/uploads/:id': r({ tag: 'uploads', summary: 'What the session still lacks (resume)', params: Id('id', 'upload session id'), response: { 200: Obj({ id: Type.String(), missing: Type.Array(Hash), entries: Type.Array(Int(), { description: 'manifest entries each file has so far (a resumed streamed manifest goes on after them)' }) }) } }),
  'POST /api/v1/uploads/:id/chunks': r({ tag: 'uploads', summary: "Append manifest entries to a session's file (streamed uploads)", params: Id('id', 'upload session id'), body: Obj({ file: OptInt(), chunks: Type.Array(ChunkRef) }) }),
  'PUT /api/v1/uploads/:id/chunks/:hash': r({ tag: 'uploads', summary: "One chunk's bytes (application/octet-stream), verified against its hash; idempotent. `Content-Encoding: zstd` (feature zstd): one zstd frame; `Content-Encoding: x-ferry-delta` (feature chunk-delta): a delta against the base chunk named in `X-Ferry-Delta-Base`, or up to 16 comma-separated in file order (feature chunk-delta-bases)", params: Type.Object({ id: Type.String(), hash: Type.String({ description: 'the chunk SHA-256 (checked by the handler: FERRY_ERR_HASH_INVALID)' }) }), response: { 200: Any('stored or already present'), 400: Obj({ error: Obj({ code: Type.String(), message: Type.String() }) }, 'FERRY_ERR_HASH_MISMATCH (the bytes are not the hash), FERRY_ERR_SIZE_MISMATCH, FERRY_ERR_CHUNK_NOT_IN_UPLOAD') } }),
  'POST /api/v1/uploads/:id/chunk-frames': r({
    tag: 'uploads',
    summary: 'Several whole chunks in one body (feature chunk-frames): frames `32-byte hash | u32 BE size | u32 BE length | bytes`, the length smaller than the size for one zstd frame; each verified and stored as a chunk PUT; at most limits.maxPackBytes',
    params: Id('id', 'upload session id'),
    response: { 200: Obj({ chunks: Type.Array(Obj({ hash: Hash, size: Int(), stored: Bool })) }), 400: Error, 413: Error, 415: Error },
  }),
  'POST /api/v1/uploads/:id/packs': r({ tag: 'uploads', summary: 'Many small chunks in one body of frames (hash | u32 size | bytes)', params: Id('id', 'upload session id') }),
  'POST /api/v1/uploads/:id/commit': r({
    tag: 'uploads',
    summary: 'Commit the session atomically (the pre-upload hook may reject it: 422 FERRY_ERR_UPLOAD_REJECTED); a one-file session takes `If-Match: "<hash>"` / `If-None-Match: *`, decided in the commit (412 FERRY_ERR_PRECONDITION_FAILED)',
    params: Id('id', 'upload session id'),
    body: Type.Optional(Type.Union([Obj({ size: OptInt(), hash: Type.Optional(HashField), mtime: OptInt(), mode: OptInt() }), Type.Null()])),
    response: { 200: Obj({ files: Type.Array(Entry) }), 409: Error, 412: Error, 413: Error, 422: Error },
  }),
  'DELETE /api/v1/uploads/:id': r({ tag: 'uploads', summary: 'Abort a session', params: Id('id', 'upload session id'), response: { 204: NoBody('aborted'), 404: Error } }),

  // ---------------------------------------------------------------- downloads
  'GET /api/v1/files/*': r({ tag: 'downloads', summary: "A file's bytes: Range, If-Range, ETag (the file hash), If-None-Match; `?version=ID`: an old version's", params: Wild, response: { 200: Bytes('the bytes'), 206: Bytes('a range'), 304: NoBody('not modified (If-None-Match)'), 404: Error, 416: Error } }),
  'HEAD /api/v1/files/*': r({ tag: 'downloads', summary: 'The headers of GET /files', params: Wild }),
  'GET /api/v1/zip/*': r({ tag: 'downloads', summary: 'A file or folder as a zip archive, streamed (`?name=`; takes `?ticket=`)', params: Wild, response: { 200: Zip } }),
  'GET /api/v1/zip': r({ tag: 'downloads', summary: 'Several files and folders as one zip (`?path=/a&path=/b&name=`; takes `?ticket=`)', response: { 200: Zip } }),
  'POST /api/v1/zip': r({ tag: 'downloads', summary: 'Several files and folders as one zip', body: Obj({ paths: Strings, name: Type.Optional(Type.String()) }), response: { 200: Zip } }),
  // The body is the file (never parsed): no body schema.
  'PUT /api/v1/files/*': r({ tag: 'uploads', summary: 'One-request upload: the body becomes the file (`curl -T`); `?overwrite=false&mtime=&ttl=&share=1`; `If-Match: "<hash>"` / `If-None-Match: *` decided in the commit (412)', params: Wild, response: { 201: Entry, 409: Error, 412: Error, 413: Error, 415: Error } }),
  'POST /api/v1/files/*': r({ tag: 'uploads', summary: 'One-request upload of a multipart form (`curl -F file=@x`) into a directory', params: Wild, response: { 201: Any('the file, or `{files}` for several') } }),
  'POST /api/v1/files': r({ tag: 'uploads', summary: 'One-request upload of a multipart form into the home directory', response: { 201: Any('the file, or `{files}` for several') } }),
  'GET /api/v1/manifests/*': r({ tag: 'downloads', summary: "A file's manifest, for delta and parallel downloads", params: Wild, response: { 200: Obj({ path: Type.String(), size: Int(), hash: Type.String(), mtime: Int(), chunks: Type.Array(ChunkRef) }) } }),
  'GET /api/v1/chunks/:hash': r({ tag: 'downloads', summary: 'One chunk, verified; `path` names the file it is read for', params: Type.Object({ hash: Type.String() }), querystring: Type.Object({ path: Type.Optional(Type.String()) }), response: { 200: Bytes("the chunk's bytes (zstd when asked for and stored so)"), 404: Error } }),
  'GET /api/v1/chunks/:hash/signature': r({ tag: 'downloads', summary: "A chunk's delta signature (feature chunk-delta): what a client needs to send the chunk replacing it as a delta", params: Type.Object({ hash: Type.String() }), querystring: Type.Object({ path: Type.Optional(Type.String()) }) }),
  'POST /api/v1/chunks/:hash/delta': r({ tag: 'downloads', summary: 'A chunk as a delta against a base the client holds, described by its signature (the body, application/octet-stream; feature chunk-delta)', params: Type.Object({ hash: Type.String() }), querystring: Type.Object({ path: Type.Optional(Type.String()) }) }),
  'POST /api/v1/chunks/batch': r({ tag: 'downloads', summary: 'Many chunks in one answer (frames)', body: Obj({ hashes: Type.Array(HashField, { minItems: 1 }), paths: Type.Optional(Type.Array(Type.String())) }) }),

  // ---------------------------------------------------------------- namespace
  'GET /api/v1/stat': r({ tag: 'namespace', summary: 'Your root', response: { 200: Entry } }),
  'GET /api/v1/stat/*': r({ tag: 'namespace', summary: 'One entry; `?ifExists=true`: 204 rather than 404 when nothing is there', params: Wild, querystring: Obj({ ifExists: Type.Optional(Type.String()) }), response: { 200: Entry, 204: NoBody('nothing there (ifExists=true)'), 404: Error } }),
  'GET /api/v1/list': r({ tag: 'namespace', summary: 'List your root', querystring: Obj({ limit: Type.Optional(Type.String({ pattern: '^[0-9]+$' })), cursor: Type.Optional(Type.String()), recursive: Type.Optional(Type.String()), chunks: Type.Optional(Type.String()), digest: Type.Optional(Type.String()) }) }),
  'GET /api/v1/list/*': r({ tag: 'namespace', summary: 'List a directory (paged; recursive=true for a tree)', params: Wild, querystring: Obj({ limit: Type.Optional(Type.String({ pattern: '^[0-9]+$' })), cursor: Type.Optional(Type.String()), recursive: Type.Optional(Type.String()), chunks: Type.Optional(Type.String()), digest: Type.Optional(Type.String()) }), response: { 200: Obj({ path: Type.String(), entries: Type.Array(Entry), next: Type.Optional(Type.String()), digest: Type.Optional(Type.String()) }) } }),
  'POST /api/v1/mkdir/*': r({ tag: 'namespace', summary: 'Make a directory (parents=true for the chain)', params: Wild, querystring: Obj({ parents: Type.Optional(Type.String()) }), response: { 201: Entry } }),
  'POST /api/v1/move': r({ tag: 'namespace', summary: 'Move a file or a tree (no bytes copied); `If-Match` / `If-None-Match: *` on the destination (412)', body: Obj({ from: PathStr, to: PathStr, overwrite: Type.Optional(Bool), reencrypt: Type.Optional(Bool) }), response: { 200: Entry, 409: Error, 412: Error } }),
  'POST /api/v1/copy': r({ tag: 'namespace', summary: 'Copy by reference (manifests shared); `If-Match` / `If-None-Match: *` on the destination (412)', body: Obj({ from: PathStr, to: PathStr, overwrite: Type.Optional(Bool), reencrypt: Type.Optional(Bool) }), response: { 200: Entry, 409: Error, 412: Error } }),
  'DELETE /api/v1/files/*': r({ tag: 'namespace', summary: 'Delete (to the trash when the server keeps one); `If-Match: "<hash>"` decided in the delete (412)', params: Wild, querystring: Obj({ recursive: Type.Optional(Type.String()) }), response: { 204: NoBody('deleted'), 404: Error, 409: Error, 412: Error } }),

  // ---------------------------------------------------------------- auth
  'POST /api/v1/auth/login': r({ tag: 'auth', summary: 'Password login that creates an API token', public: true, body: Obj({ user: Type.String(), password: Type.String(), tokenName: Type.Optional(Type.String()), expiresInSeconds: OptInt({ minimum: 1 }) }), response: { 201: Any('CreatedToken'), 401: Error } }),
  'POST /api/v1/auth/session': r({ tag: 'auth', summary: 'Password login that starts a web session', public: true, body: Obj({ user: Type.String(), password: Type.String() }), response: { 201: Any('WebSession'), 401: Error } }),
  'POST /api/v1/auth/refresh': r({ tag: 'auth', summary: 'Rotate a web session', public: true, body: Obj({ refreshToken: Type.Optional(Type.String({ description: "absent: the web app's HttpOnly cookie (same origin only)" })), ifSession: Type.Optional(Type.Boolean({ description: 'without refreshToken and with no cookie: 204 (no session) rather than 401' })) }), response: { 200: Any('WebSession'), 204: NoBody('no session to refresh (ifSession)'), 401: Error } }),
  'POST /api/v1/auth/logout': r({ tag: 'auth', summary: 'End the credential of this request', response: { 204: NoBody('ended') } }),
  'POST /api/v1/auth/ticket': r({
    tag: 'auth',
    summary: 'A short-lived read-only credential for one path, for URLs a browser opens itself (`?ticket=`: downloads, previews, zips)',
    body: Type.Optional(Obj({ path: Type.Optional(PathStr) })),
    response: { 200: Any('DownloadTicket') },
  }),
  'GET /api/v1/me': r({ tag: 'auth', summary: 'Who you are, your limits and usage', response: { 200: Any('MeResponse') } }),
  'POST /api/v1/me/password': r({ tag: 'auth', summary: 'Change your password', body: Obj({ newPassword: Type.String(), currentPassword: Type.Optional(Type.String()) }), response: { 204: NoBody('changed') } }),

  // ---------------------------------------------------------------- users, tokens, shares
  'GET /api/v1/users': r({ tag: 'users', summary: 'All users (admin)' }),
  'POST /api/v1/users': r({
    tag: 'users',
    summary: 'Add a user (admin)',
    body: Closed({ name: Type.String(), role: Type.Optional(Type.String()), home: Type.Optional(Type.String()), password: Type.Optional(Type.String()), grants: Type.Optional(Type.Array(Obj({ path: Type.String(), permissions: Type.Array(Permission) }))), quotaBytes: OptInt(), quotaFiles: OptInt(), maxFileSize: OptInt(), maxSessions: OptInt(), ipAllow: Type.Optional(Type.Union([Strings, Type.Null()])), ipDeny: Type.Optional(Type.Union([Strings, Type.Null()])) }),
    response: { 201: Any('UserInfo'), 409: Error },
  }),
  'GET /api/v1/users/:name': r({ tag: 'users', summary: 'One user with usage (admin)', params: Id('name', 'user name') }),
  'GET /api/v1/users/:name/keys': r({ tag: 'users', summary: "A user's SSH public keys, for the SFTP front (the admin, or the user with a full token)", params: Id('name', 'user name') }),
  'POST /api/v1/users/:name/keys': r({
    tag: 'users',
    summary: "Add SSH public keys (authorized_keys lines) to a user's SFTP logins",
    params: Id('name', 'user name'),
    body: Obj({ keys: Type.String({ description: 'one or more authorized_keys lines' }) }),
    response: { 201: Type.Array(Any('SshKeyInfo')) },
  }),
  'DELETE /api/v1/users/:name/keys/:id': r({ tag: 'users', summary: 'Remove one SSH key', params: Type.Object({ name: Type.String(), id: Type.String() }), response: { 204: NoBody('removed'), 404: Error } }),
  'PATCH /api/v1/users/:name': r({ tag: 'users', summary: 'Change limits, role, home, disabled (admin)', params: Id('name', 'user name'), body: Closed({ role: Type.Optional(Type.String()), home: Type.Optional(Type.String()), grants: Type.Optional(Type.Array(Obj({ path: Type.String(), permissions: Type.Array(Permission) }))), disabled: Type.Optional(Bool), quotaBytes: OptInt(), quotaFiles: OptInt(), maxFileSize: OptInt(), maxSessions: OptInt(), ipAllow: Type.Optional(Type.Union([Strings, Type.Null()])), ipDeny: Type.Optional(Type.Union([Strings, Type.Null()])) }) }),
  'DELETE /api/v1/users/:name': r({ tag: 'users', summary: 'Remove a user (admin)', params: Id('name', 'user name'), response: { 204: NoBody('removed'), 404: Error } }),
  'PUT /api/v1/users/:name/password': r({ tag: 'users', summary: "Set a user's password (admin)", params: Id('name', 'user name'), body: Obj({ password: Type.String() }), response: { 204: NoBody('set') } }),
  'PUT /api/v1/users/:name/grants': r({ tag: 'users', summary: 'Grant permissions at a path (admin)', params: Id('name', 'user name'), body: Obj({ path: Type.String(), permissions: Type.Array(Permission) }) }),
  'GET /api/v1/tokens': r({ tag: 'tokens', summary: 'Your tokens, newest first (all=true, user=NAME: admin); with limit or cursor a page {entries, next?}, else all as an array', querystring: Obj({ all: Type.Optional(Type.String()), user: Type.Optional(Type.String()), ...KeysetPage }) }),
  'POST /api/v1/tokens': r({ tag: 'tokens', summary: 'Create a token (scopes, path prefix, expiry)', body: Closed({ name: Type.String(), user: Type.Optional(Type.String()), scopes: Type.Optional(Type.Union([Strings, Type.String()])), pathPrefix: Type.Optional(Type.Union([Type.String(), Type.Null()])), expiresInSeconds: OptInt({ minimum: 1 }) }), response: { 201: Any('CreatedToken') } }),
  'DELETE /api/v1/tokens/:id': r({
    tag: 'tokens',
    summary: 'Revoke a token and the share links it made (keepShares=true: keep them)',
    params: Id('id', 'token id'),
    querystring: Obj({ keepShares: Type.Optional(Type.String()) }),
    response: { 200: Any('RevokedToken'), 404: Error },
  }),
  'GET /api/v1/shares': r({ tag: 'shares', summary: 'Your share links, newest first (all=true: admin); with limit or cursor a page {entries, next?}, else all as an array', querystring: Obj({ all: Type.Optional(Type.String()), ...KeysetPage }) }),
  'POST /api/v1/shares': r({ tag: 'shares', summary: 'Create a download or upload link', body: Closed({ path: PathStr, kind: Type.Optional(Type.Union([Type.Literal('download'), Type.Literal('upload')])), name: Type.Optional(Type.String()), password: Type.Optional(Type.String()), expiresInSeconds: OptInt({ minimum: 1 }), maxUses: OptInt({ minimum: 1 }), maxBytes: OptInt({ minimum: 1 }) }), response: { 201: Any('CreatedShare') } }),
  'DELETE /api/v1/shares/:id': r({ tag: 'shares', summary: 'Revoke a share link', params: Id('id', 'share id'), response: { 204: NoBody('revoked'), 404: Error } }),
  'GET /s/:key': r({ tag: 'shares', summary: 'A share link: the file, or an upload page / listing', public: true, params: Id('key', 'the link key') }),
  'HEAD /s/:key': r({ tag: 'shares', summary: 'The headers of a share link', public: true, params: Id('key', 'the link key') }),
  'GET /s/:key/*': r({ tag: 'shares', summary: 'A file inside a shared directory', public: true, params: Type.Object({ key: Type.String(), '*': Type.String() }) }),
  'HEAD /s/:key/*': r({ tag: 'shares', summary: 'The headers of a file inside a shared directory', public: true, params: Type.Object({ key: Type.String(), '*': Type.String() }) }),
  'POST /s/:key/unlock': r({ tag: 'shares', summary: "A password-protected link's unlock form: `{password}` gives a cookie for the link's pages", public: true, params: Id('key', 'the link key') }),
  'PUT /s/:key/*': r({ tag: 'shares', summary: 'Upload a file through an upload link (the raw body)', public: true, params: Type.Object({ key: Type.String(), '*': Type.String() }), response: { 201: Obj({ name: Type.String(), size: Int(), hash: Type.String() }) } }),

  // ---------------------------------------------------------------- admin
  'GET /api/v1/admin/audit': r({
    tag: 'admin',
    summary: 'The audit log, newest first (file operations and security events)',
    querystring: Obj({ since: Type.Optional(Type.String({ pattern: '^[0-9]+$' })), before: Type.Optional(Type.String({ pattern: '^[0-9]+$' })), user: Type.Optional(Type.String()), path: Type.Optional(Type.String()), event: Type.Optional(Type.String()), limit: Type.Optional(Type.String({ pattern: '^[0-9]+$' })) }),
    response: { 200: Obj({ entries: Type.Array(Any('AuditEntry')), next: Type.Optional(Int()) }) },
  }),
  'GET /api/v1/admin/bans': r({ tag: 'admin', summary: 'Addresses banned now' }),
  'DELETE /api/v1/admin/bans/:ip': r({ tag: 'admin', summary: 'Lift a ban', params: Id('ip', 'the address'), response: { 204: NoBody('lifted'), 404: Error } }),
  'POST /api/v1/admin/sweep': r({ tag: 'admin', summary: 'Delete files past their TTL, expired versions and trash now' }),
  'GET /api/v1/admin/uploads': r({
    tag: 'admin',
    summary: "Open upload sessions, newest first (everyone's, or one user's)",
    querystring: Obj({ user: Type.Optional(Type.String({ description: "only this user's sessions (404 for an unknown user)" })), limit: Type.Optional(Type.String({ pattern: '^[0-9]+$', description: 'at most this many (1 to 10000, default 1000)' })) }),
    response: {
      200: Type.Array(
        Obj({
          id: Type.String(),
          user: Type.Union([Type.String(), Type.Null()]),
          kind: Type.Union([Type.Literal('native'), Type.Literal('partial'), Type.Literal('tus')]),
          path: Type.Union([Type.String(), Type.Null()]),
          files: Int(),
          bytes: Int(),
          createdAt: Int(),
          updatedAt: Int(),
          expiresAt: Int(),
        }),
      ),
      404: Error,
    },
  }),
  'DELETE /api/v1/admin/uploads/:id': r({ tag: 'admin', summary: "Abort anyone's upload session (native, streamed or tus): what it received is dropped", params: Id('id', 'upload session id'), response: { 204: NoBody('aborted'), 404: Error } }),
  'POST /api/v1/admin/backup': r({ tag: 'admin', summary: 'Online backup of metadata and secrets into a directory on the server', body: Obj({ dir: Type.String({ minLength: 1 }) }), response: { 200: Any('BackupManifest'), 409: Error } }),
  'POST /api/v1/admin/check': r({ tag: 'admin', summary: 'Integrity check (NDJSON: progress lines, then the report)', body: Type.Optional(Obj({ readData: Type.Optional(Bool), quarantine: Type.Optional(Bool) })) }),
  'POST /api/v1/admin/webhooks': r({ tag: 'webhooks', summary: 'Add a webhook (the answer is the only time its secret is shown)', body: Obj({ url: Type.String({ minLength: 1 }), events: Type.Array(Type.Union(HOOK_EVENTS.map((e) => Type.Literal(e))), { minItems: 1 }), secret: Type.Optional(Type.String({ minLength: 16 })) }), response: { 201: Any('CreatedWebhook') } }),
  'GET /api/v1/admin/webhooks': r({ tag: 'webhooks', summary: 'Webhooks (no secrets)' }),
  'DELETE /api/v1/admin/webhooks/:id': r({ tag: 'webhooks', summary: 'Remove a webhook and its queue', params: Id('id', 'webhook id'), response: { 204: NoBody('removed'), 404: Error } }),
  'GET /api/v1/admin/webhook-deliveries': r({ tag: 'webhooks', summary: 'The delivery log, newest first', querystring: Obj({ webhook: Type.Optional(Type.String()), limit: Type.Optional(Type.String({ pattern: '^[0-9]+$' })) }) }),

  // ---------------------------------------------------------------- tus 1.0.0 (https://tus.io/protocols/resumable-upload; docs/protocol.md)
  // Headers carry the protocol (Tus-Resumable, Upload-Length, Upload-Offset, Upload-Metadata, ...); PATCH bodies are the bytes.
  'OPTIONS /api/v1/tus': r({ tag: 'tus', summary: 'Discovery: version, extensions, largest upload', public: true, response: { 204: NoBody('Tus-Version, Tus-Extension, Tus-Max-Size headers') } }),
  'OPTIONS /api/v1/tus/': r({ tag: 'tus', summary: 'Discovery (the same, with a trailing slash)', public: true, response: { 204: NoBody('Tus-Version, Tus-Extension, Tus-Max-Size headers') } }),
  'OPTIONS /api/v1/tus/:id': r({ tag: 'tus', summary: 'Discovery (the same, on an upload URL)', public: true, params: TusId, response: { 204: NoBody('Tus-Version, Tus-Extension, Tus-Max-Size headers') } }),
  'POST /api/v1/tus': r({ tag: 'tus', summary: 'Create an upload (creation, creation-with-upload, creation-defer-length, concatenation); 201 with Location', response: { 201: NoBody('created: Location, Upload-Offset') } }),
  'POST /api/v1/tus/': r({ tag: 'tus', summary: 'Create an upload (the same, with a trailing slash)', response: { 201: NoBody('created: Location, Upload-Offset') } }),
  'HEAD /api/v1/tus/:id': r({ tag: 'tus', summary: "An upload's offset and length", params: TusId, response: { 200: NoBody('Upload-Offset, Upload-Length'), 404: NoBody('no such upload') } }),
  'PATCH /api/v1/tus/:id': r({ tag: 'tus', summary: 'Bytes at Upload-Offset (application/offset+octet-stream; Upload-Checksum sha1/sha256/md5)', params: TusId, response: { 204: NoBody('stored: the new Upload-Offset') } }),
  'DELETE /api/v1/tus/:id': r({ tag: 'tus', summary: 'Terminate an upload', params: TusId, response: { 204: NoBody('terminated') } }),
  'POST /api/v1/tus/:id': r({ tag: 'tus', summary: 'PATCH, HEAD or DELETE for clients that can only POST (X-HTTP-Method-Override)', params: TusId, response: { 200: NoBody('as HEAD'), 204: NoBody('as PATCH or DELETE') } }),

  // ---------------------------------------------------------------- the web app
  'GET /': r({ tag: 'web', summary: "The web app's page (it asks this API for everything)", public: true, response: { 200: Type.String({ description: 'HTML' }) } }),
  'GET /*': r({ tag: 'web', summary: "The web app's page for any other path outside /api/ (client-side routes), and its /assets/*", public: true, params: Wild }),

  // ---------------------------------------------------------------- versions and trash
  'GET /api/v1/versions/*': r({
    tag: 'versions',
    summary: "A file's old versions, newest first, and the retention rule of its path (paged: `next` is the `cursor` of the following page)",
    params: Wild,
    querystring: Obj({ limit: Type.Optional(Type.String({ pattern: '^[0-9]+$', description: 'at most this many (1 to maxListLimit, its default)' })), cursor: Type.Optional(Type.String({ pattern: '^[0-9]+$', description: 'the `next` of the page before' })) }),
    response: {
      200: Obj({
        path: Type.String(),
        versions: Type.Array(Any('an old version: id, path, hash, size, mtime, mode (when known), createdAt, replacedAt')),
        policy: Obj(
          {
            enabled: Type.Boolean({ description: 'false: versioning is off for this path (keep and days both 0), so no version is kept when it is overwritten' }),
            keep: Int({ description: 'versions kept at most (0: no count limit)' }),
            days: Int({ description: 'days a version is kept at most (0: no age limit)' }),
          },
          "the server's retention rule for this path (the deepest `versions.paths` entry containing it, else the server's)",
        ),
        next: Type.Optional(Type.String({ description: 'there may be more: ask again with cursor=next' })),
      }),
      404: Error,
    },
  }),
  'POST /api/v1/versions/restore': r({ tag: 'versions', summary: 'Make an old version current (by id, or the one current at a time)', body: Obj({ path: PathStr, version: Type.Optional(Type.Union([Int({ minimum: 1 }), Type.String()])), at: Type.Optional(Int()) }), response: { 200: Entry, 404: Error } }),
  'GET /api/v1/trash': r({
    tag: 'trash',
    summary: 'Trashed files at or below a path, newest first (paged: `next` is the `cursor` of the following page)',
    querystring: Obj({ path: Type.Optional(Type.String()), limit: Type.Optional(Type.String({ pattern: '^[0-9]+$', description: 'at most this many (1 to maxListLimit, its default)' })), cursor: Type.Optional(Type.String({ pattern: '^[0-9]+$', description: 'the `next` of the page before' })), batch: Type.Optional(Type.String({ description: "only the files one delete put in the trash (an entry's `batch`)" })) }),
    response: { 200: Obj({ entries: Type.Array(Any('a trashed file: id, batch, path, hash (where the caller may read), size, mtime, deletedAt')), next: Type.Optional(Type.String({ description: 'there may be more: ask again with cursor=next' })) }) },
  }),
  'POST /api/v1/trash/restore': r({ tag: 'trash', summary: 'Put a trashed file back (or elsewhere with `to`)', body: Obj({ id: Type.Union([Int({ minimum: 1 }), Type.String()]), to: Type.Optional(PathStr), reencrypt: Type.Optional(Type.Boolean()) }), response: { 200: Entry, 409: Error } }),
  'DELETE /api/v1/trash': r({
    tag: 'trash',
    summary: "Empty the trash at or below a path (an admin's path that holds other users' homes takes `allUsers=true`: 400 FERRY_ERR_ALL_USERS_REQUIRED without)",
    querystring: Obj({
      path: Type.Optional(Type.String()),
      before: Type.Optional(Type.String({ pattern: '^[0-9]+$' })),
      allUsers: Type.Optional(Type.Union([Type.Literal('true'), Type.Literal('false')], { description: "`true`: an admin empties other users' trash too, where `path` holds their homes" })),
    }),
  }),
};

/**
 * Every route's Fastify schema as plain JSON (what the server reads at start, ./route-schemas.ts),
 * with the routes whose body is `Type.Optional` listed apart: JSON drops TypeBox's symbols.
 */
export function buildRouteSchemaTable(): RouteSchemaTable {
  const schemas: Record<string, FastifySchema> = {};
  const optionalBodies: string[] = [];
  for (const [key, spec] of Object.entries(ROUTE_SPECS)) {
    const [method, url] = key.split(' ') as [string, string];
    schemas[key] = schemaOf(method, url)!;
    if ((spec.body as (TSchema & Record<symbol, unknown>) | undefined)?.[OptionalKind] === 'Optional') optionalBodies.push(key);
  }
  // Through JSON text, as the build writes it: no symbols, no object shared between routes.
  return JSON.parse(JSON.stringify({ schemas, optionalBodies })) as RouteSchemaTable;
}

/** The Fastify schema of a route (undefined: the route is not described, which the OpenAPI test refuses). */
function schemaOf(method: string, url: string): FastifySchema | undefined {
  const spec = ROUTE_SPECS[`${method} ${url}`];
  if (!spec) return undefined;
  const schema: FastifySchema & Record<string, unknown> = { tags: [spec.tag], summary: spec.summary, operationId: operationIdOf(method, url) };
  if (spec.description) schema.description = spec.description;
  if (spec.public) schema.security = [];
  if (spec.params) schema.params = spec.params;
  if (spec.querystring) schema.querystring = spec.querystring;
  if (spec.body) schema.body = spec.body;
  // Every API route can answer a 4xx in the error format (validation, authentication,
  // permission, not found, rate limit...) and a 5xx (a store unavailable, no space, a corrupt
  // chunk): said once here rather than on each entry.
  const errors = url.startsWith('/api/') || url === '/metrics';
  if (spec.response || errors) schema.response = { ...(spec.response ?? { 200: Type.Unsafe({ description: 'success' }) }), ...(errors ? { '4xx': Error, '5xx': Error } : {}) };
  return schema;
}

/** `GET /api/v1/files/*` -> `getFiles`; stable names for generated clients. */
function operationIdOf(method: string, url: string): string {
  const words = url
    .replace(/^\/api\/v1/, '')
    .split(/[/\-*:.]+/)
    .filter(Boolean)
    .map((w) => w[0].toUpperCase() + w.slice(1));
  return method.toLowerCase() + words.join('') + (url.endsWith('*') ? 'Path' : url.length > 1 && url.endsWith('/') ? 'Slash' : '');
}
