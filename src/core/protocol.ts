/**
 * The native HTTP protocol, version 1: the shapes both the server and the client speak.
 * The routes themselves are described in docs/protocol.md and served as OpenAPI at
 * `/api/v1/openapi.json`.
 *
 * Paths in URLs are Ferry paths with each segment percent-encoded (`encodePathForUrl`).
 */
import type { ChunkingParams, ChunkRef } from './manifest.js';

export const API_PREFIX = '/api/v1';
export const PROTOCOL_VERSION = 1;

/** Header of the server's request id, echoed on every response. */
export const REQUEST_ID_HEADER = 'x-request-id';

export interface Capabilities {
  server: 'ferry';
  version: string;
  protocols: number[];
  /** Chunk naming hash. */
  hash: 'sha256';
  /** How the file hash is derived from the chunk hashes (see core/manifest.ts). */
  fileHash: 'sha256-tree-v1';
  chunking: ChunkingParams;
  limits: ServerLimits;
  features: string[];
}

export interface ServerLimits {
  /** Largest chunk the server accepts (== chunking.maxSize). */
  maxChunkSize: number;
  /** Chunks smaller than this should travel in packs (POST .../packs). */
  packThreshold: number;
  /** Largest pack body in bytes. */
  maxPackBytes: number;
  /** Most chunk entries in one create/append request. */
  maxChunksPerRequest: number;
  /** Most files in one upload session. */
  maxFilesPerUpload: number;
  /** Entries per list page at most. */
  maxListLimit: number;
  /** Seconds an idle upload session lives. */
  uploadTtlSeconds: number;
  maxPathBytes: number;
  maxSegmentBytes: number;
  /** Largest file the server accepts from anyone (a user may have a lower limit); null: none. Absent from older servers. */
  maxFileSize?: number | null;
  /** Most chunks in one `POST /chunks/batch` (feature `chunks-batch`; absent on servers without it). */
  maxChunksPerBatch?: number;
  /**
   * Most chunk bytes (the sum of their sizes) in one `POST /chunks/batch`; with
   * `GET /list?chunks=true`, files up to this size carry their chunk lists.
   */
  maxBatchBytes?: number;
}

export type EntryType = 'file' | 'dir';

/** One file or directory, as list and stat report it. */
export interface Entry {
  path: string;
  name: string;
  type: EntryType;
  /** Bytes (0 for directories). */
  size: number;
  /** Modification time, ms since the epoch. */
  mtime: number;
  /** POSIX permission bits (e.g. 0o644), when recorded. */
  mode?: number;
  /** File hash (sha256-tree-v1); files only. */
  hash?: string;
  /** Number of chunks; files only. */
  chunks?: number;
  /** When the file is deleted by the TTL sweeper (ms since epoch); files uploaded with a TTL only. */
  expiresAt?: number;
  /**
   * The file's chunk list, in order: only in listings asked with `chunks=true`, and only
   * for files of at most `limits.maxBatchBytes` bytes (what a client fetches in batches).
   */
  chunkList?: ChunkRef[];
}

export interface ManifestResponse {
  path: string;
  size: number;
  hash: string;
  mtime: number;
  mode?: number;
  chunking: ChunkingParams;
  chunks: ChunkRef[];
}

export interface ListResponse {
  path: string;
  entries: Entry[];
  /** Pass as `cursor` to get the next page; absent on the last page. */
  next?: string;
  /**
   * With `digest=true` (feature `list-digest`): the digest of the whole recursive listing
   * (core/tree-digest.ts), and no entries. Absent when the server could not build one.
   */
  digest?: string;
}

/** One file of an upload session, as the client announces it. */
export interface UploadFileSpec {
  path: string;
  /** Total bytes; may be given at commit instead (streaming uploads of unknown size). */
  size?: number;
  /** File hash (sha256-tree-v1) the client computed; verified by the server. */
  hash?: string;
  mtime?: number;
  mode?: number;
  /** The manifest, in order. May be partial or absent, then appended with POST .../chunks. */
  chunks?: ChunkRef[];
  /** Delete the file this many seconds after the commit (`ferry put --ttl`). */
  ttlSeconds?: number;
}

export interface CreateUploadRequest {
  /** Single-file form. */
  path?: string;
  size?: number;
  hash?: string;
  mtime?: number;
  mode?: number;
  chunks?: ChunkRef[];
  ttlSeconds?: number;
  /** Batch form: several files committed together in one transaction. */
  files?: UploadFileSpec[];
  /** Fail the commit with FERRY_ERR_ALREADY_EXISTS instead of replacing existing files. Default false. */
  noOverwrite?: boolean;
}

export interface UploadStatus {
  id: string;
  /** When the session is removed if nothing touches it (ms since epoch). */
  expiresAt: number;
  files: number;
  /** Distinct chunks the server still lacks. */
  missing: string[];
  /** Whether every file's manifest is complete (no more appends expected). */
  sealed: boolean;
  /**
   * Manifest entries each file has so far, in file order (`GET /uploads/:id` only): a client
   * resuming a session whose manifest it was appending goes on after them.
   */
  entries?: number[];
}

export interface AppendChunksRequest {
  /** Index of the file in the session (default 0). */
  file?: number;
  chunks: ChunkRef[];
}

export interface AppendChunksResponse {
  /** Of the appended chunks, those the server lacks (distinct, in order of first appearance). */
  missing: string[];
}

export interface CommitRequest {
  /** Final facts of a single-file streaming session; checked against the manifest. */
  size?: number;
  hash?: string;
  mtime?: number;
  mode?: number;
}

export interface CommitResponse {
  files: Entry[];
}

export interface ChunkPutResponse {
  hash: string;
  size: number;
  /**
   * False when this user had sent the chunk before ("already yours"). Never depends on what
   * other users store: the body is stored either way.
   */
  stored: boolean;
}

/**
 * The answer of `POST /api/v1/uploads/:id/chunk-frames` (feature `chunk-frames`): one entry
 * per frame, in the order of the body, each as a chunk PUT answers.
 */
export interface ChunkFramesResponse {
  chunks: ChunkPutResponse[];
}

export interface PackPutResponse {
  /** Chunks of the pack new to this user. */
  stored: number;
  /** Frames whose chunk this user had sent before, or that repeat a frame of the same pack. */
  duplicates: number;
  bytes: number;
}

/**
 * `POST /api/v1/chunks/batch`: many chunks in one response, for many small files. The
 * answer is `application/octet-stream`, one frame per requested hash in request order,
 * framed like packs (`32-byte raw SHA-256 | uint32 big-endian size | data`).
 */
export interface ChunkBatchRequest {
  /**
   * The files the chunks belong to (the caller needs `read` on each; every hash must be in
   * the manifest of one of them). At most `limits.maxChunksPerBatch`. May be left out by an
   * unrestricted admin only.
   */
  paths?: string[];
  /** Distinct chunk hashes; at most `limits.maxChunksPerBatch`, sizes adding up to at most `limits.maxBatchBytes`. */
  hashes: string[];
}

export interface MoveCopyRequest {
  from: string;
  to: string;
  /** Replace an existing destination file. Default true for files; directories are never merged. */
  overwrite?: boolean;
}

export interface ErrorBody {
  error: { code: string; message: string; details?: Record<string, unknown> };
}

/**
 * Pack wire format (POST /api/v1/uploads/:id/packs, and the answer of POST
 * /api/v1/chunks/batch): a sequence of frames, each
 * `32-byte raw SHA-256 | uint32 big-endian size | size bytes of data`.
 * Many small chunks travel in one request (an upload's land in one pack object on the server).
 */
export const PACK_FRAME_HEADER_BYTES = 36;

/**
 * Chunk frames (POST /api/v1/uploads/:id/chunk-frames, feature `chunk-frames`): several whole
 * chunks in one request, each frame `32-byte raw SHA-256 | uint32 BE size | uint32 BE length
 * | length bytes`, where `length` equals `size` for the raw chunk, or is smaller for one zstd
 * frame of it (feature `zstd`). Each chunk is verified and stored as a chunk PUT stores it
 * (a loose object, not a pack); the body is at most `limits.maxPackBytes`.
 */
export const CHUNK_FRAME_HEADER_BYTES = 40;

/**
 * Frames one request of chunk frames may carry at most (the Node client sends up to 4). Each
 * frame costs the server what a chunk PUT does (session lookup, the chunk's write), so the
 * body's byte limit alone let one request of 1-byte frames cost as much as 400,000 PUTs.
 */
export const MAX_CHUNK_FRAMES_PER_REQUEST = 16;

/**
 * A chunk PUT as a delta (feature `chunk-delta-bases`) may name up to this many bases in
 * `X-Ferry-Delta-Base` (comma-separated; the delta copies from their bytes back to back),
 * together at most twice `limits.maxChunkSize`: an edit that erases a cut between two
 * chunks makes one new chunk out of both, and a delta against either alone would carry
 * the other's bytes.
 */
export const MAX_DELTA_BASES = 16;

/** Percent-encodes each segment of a normalized Ferry path for use in a URL. */
export function encodePathForUrl(path: string): string {
  return path
    .split('/')
    .map((s) => encodeURIComponent(s))
    .join('/');
}

// ---------------------------------------------------------------------------- security

/** Permission names (see core/permissions.ts). */
export type PermissionName = 'list' | 'read' | 'write' | 'delete' | 'mkdir' | 'share' | 'admin';

/** A per-path grant; `path` is relative to the user's home (`/` is the home itself). */
export interface GrantInfo {
  path: string;
  permissions: PermissionName[];
}

export interface UserLimits {
  /** Logical bytes the user's files may take (dedup'd bytes count in full); null: no limit. */
  quotaBytes: number | null;
  quotaFiles: number | null;
  /** Largest single file; null: the server's default. */
  maxFileSize: number | null;
  /** Live upload sessions at once; null: the server's default. */
  maxSessions: number | null;
}

export interface UserInfo extends UserLimits {
  id: string;
  name: string;
  role: 'admin' | 'user';
  /** Server path of the user's root: every path the user sends is relative to it. */
  home: string;
  disabled: boolean;
  hasPassword: boolean;
  grants: GrantInfo[];
  /** CIDR lists: when `ipAllow` is non-empty only those addresses may use the account. */
  ipAllow: string[];
  ipDeny: string[];
  createdAt: number;
}

/** `POST /api/v1/users`. */
export interface CreateUserRequest {
  name: string;
  password?: string;
  role?: 'admin' | 'user';
  /** Default `/users/<name>`. */
  home?: string;
  /** Default: `[{path: '/', permissions: list,read,write,delete,mkdir,share}]`. */
  grants?: GrantInfo[];
  quotaBytes?: number | null;
  quotaFiles?: number | null;
  maxFileSize?: number | null;
  maxSessions?: number | null;
  ipAllow?: string[];
  ipDeny?: string[];
}

/** `PATCH /api/v1/users/:name`: only the fields given change. */
export type UpdateUserRequest = Partial<Omit<CreateUserRequest, 'name' | 'password'>> & { disabled?: boolean };

/**
 * A page of `GET /api/v1/tokens` or `GET /api/v1/shares` (asked with `limit` or `cursor`),
 * newest first; `next` (the next page's `cursor`) while more may follow.
 */
export interface ListPage<T> {
  entries: T[];
  next?: string;
}

export interface TokenInfo {
  id: string;
  userName: string;
  name: string;
  scopes: PermissionName[];
  /** Relative to the user's home; null: the whole home. */
  pathPrefix: string | null;
  createdAt: number;
  expiresAt: number | null;
  lastUsedAt: number | null;
  revokedAt: number | null;
}

/** A user's SSH public key, for the SFTP front (`GET /api/v1/users/:name/keys`). */
export interface SshKeyInfo {
  /** 16 hex digits; `ferry user key rm NAME ID` (the fingerprint works too). */
  id: string;
  /** `ssh-ed25519`, `ecdsa-sha2-nistp256`, `ssh-rsa`, ... */
  type: string;
  bits: number;
  /** `SHA256:...`, as `ssh-keygen -l` prints it. */
  fingerprint: string;
  /** The comment of the authorized_keys line (often `user@host`). */
  comment: string;
  createdAt: number;
  lastUsedAt: number | null;
  /** When it stops logging in (the expiry of the token that added it); null: never. */
  expiresAt: number | null;
}

/** `POST /api/v1/users/:name/keys`: one or more authorized_keys lines. */
export interface AddSshKeysRequest {
  keys: string;
}

/** `POST /api/v1/tokens`. Scopes default to the caller's own; they can only narrow. */
export interface CreateTokenRequest {
  name: string;
  scopes?: PermissionName[];
  pathPrefix?: string;
  expiresInSeconds?: number;
  /** Admins only: a token for another user. */
  user?: string;
}

export interface CreatedToken extends TokenInfo {
  /** The secret, shown once: `ferry_<id>_<secret>`. */
  token: string;
}

/** `POST /api/v1/auth/login`: user + password -> an API token (the CLI's `ferry login`). */
export interface LoginRequest {
  user: string;
  password: string;
  /** Name of the token to create (default `ferry login`). */
  tokenName?: string;
  expiresInSeconds?: number;
}

/**
 * `POST /api/v1/auth/session` (user + password) and `/auth/refresh` (refreshToken). With
 * `cookie: true` (the web app) the refresh token travels in an HttpOnly cookie instead and
 * `refreshToken` is absent.
 */
export interface WebSession {
  /** Short-lived signed bearer token for API calls. */
  accessToken: string;
  accessExpiresAt: number;
  /** Single use: each refresh returns a new one and retires the old. Absent when kept in the cookie. */
  refreshToken?: string;
  refreshExpiresAt: number;
  user: { name: string; role: 'admin' | 'user' };
}

/** `POST /api/v1/auth/ticket`: a URL credential for downloads in a browser (read-only, below `path`, minutes). */
export interface DownloadTicket {
  ticket: string;
  expiresAt: number;
}

export interface Usage {
  bytes: number;
  files: number;
}

/** `GET /api/v1/me`. */
export interface MeResponse {
  user: string;
  role: 'admin' | 'user';
  home: string;
  tokenId: string;
  scopes: PermissionName[];
  pathPrefix: string | null;
  grants: GrantInfo[];
  usage: Usage;
  limits: UserLimits;
  uploadSessions: number;
  /** Days deleted files stay in the trash (0: deletes are final). Absent from older servers. */
  trashDays?: number;
}

export type ShareKind = 'download' | 'upload';

export interface ShareInfo {
  id: string;
  userName: string;
  /** Relative to the owner's home. */
  path: string;
  kind: ShareKind;
  name: string;
  hasPassword: boolean;
  expiresAt: number | null;
  /** Downloads (download links) or files received (upload links) allowed; null: unlimited. */
  maxUses: number | null;
  uses: number;
  /** Upload links: the bytes visitors may send through the link in all; null: no cap. */
  maxBytes: number | null;
  /** Upload links: the bytes of the files received through the link so far. */
  bytesReceived: number;
  createdAt: number;
  revokedAt: number | null;
  lastUsedAt: number | null;
  /**
   * What made the link: an API token (its id, and its name while the token is kept), a web
   * session, or a password (HTTP Basic); revoking the token revokes the links it made. Null:
   * made before the server recorded it (such links stay as they are when a token is revoked).
   */
  madeWith: ShareMadeWith | null;
}

/** `DELETE /api/v1/tokens/:id` (`?keepShares=true` keeps the links the token made). */
export interface RevokedToken {
  id: string;
  /** The live share links the token made, revoked with it (0 with keepShares). */
  sharesRevoked: number;
}

/** {@link ShareInfo.madeWith}. */
export type ShareMadeWith = { kind: 'token'; tokenId: string; tokenName: string | null } | { kind: 'session' } | { kind: 'password' };

/** `POST /api/v1/shares`. */
export interface CreateShareRequest {
  path: string;
  kind?: ShareKind;
  name?: string;
  password?: string;
  expiresInSeconds?: number;
  maxUses?: number;
  /** Upload links only: a cap on the bytes visitors may send through the link in all. */
  maxBytes?: number;
}

export interface CreatedShare extends ShareInfo {
  /** The public URL, shown once (only a hash of its key is stored). */
  url: string;
}

export interface AuditEntry {
  id: number;
  at: number;
  event: string;
  ok: boolean;
  user: string | null;
  tokenId: string | null;
  ip: string | null;
  target: string | null;
  /** The file a file operation acted on (server path). */
  path?: string | null;
  /** The way in: api, web, sftp, webdav, tus, share. */
  front?: string | null;
  details: Record<string, unknown> | null;
}

/** One open upload session, as `GET /api/v1/admin/uploads` lists it (admin). */
export interface AdminUpload {
  id: string;
  /** The owner's user name (null: a share link's upload, or a user since deleted). */
  user: string | null;
  /** `native` (the chunked protocol), `partial` (a resumable streamed upload: SFTP, WebDAV), `tus`. */
  kind: 'native' | 'partial' | 'tus';
  /** The path of its first file. */
  path: string | null;
  files: number;
  /** Sum of the files' declared sizes; a `partial` upload's (no size declared): the bytes received so far. */
  bytes: number;
  createdAt: number;
  updatedAt: number;
  expiresAt: number;
}

export interface AuditPage {
  entries: AuditEntry[];
  /** Pass as `before` for older entries; absent on the last page. */
  next?: number;
}

// ---------------------------------------------------------------- webhooks (admin)

export interface WebhookInfo {
  id: string;
  url: string;
  /** upload, download, delete, move, copy, mkdir, share, login, quota */
  events: string[];
  createdAt: number;
}

/** The answer to creating a webhook: the only time its secret is shown. */
export interface CreatedWebhook extends WebhookInfo {
  secret: string;
}

export interface WebhookDeliveryInfo {
  id: number;
  webhookId: string;
  event: string;
  /** pending, delivered or failed (given up) */
  status: string;
  attempts: number;
  lastStatus: number | null;
  lastError: string | null;
  createdAt: number;
  /** The next attempt (pending) or when it ended. */
  nextAt: number | null;
  doneAt: number | null;
  payload: unknown;
}
