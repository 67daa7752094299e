/**
 * Tables of the metadata store (Kysely types). Times are ms since the epoch; sizes bytes.
 *
 * - files: the namespace. One row per file or directory except the root, keyed by the
 *   normalized path; `parent` makes one directory's listing an index range scan, and a
 *   subtree is the path range (`/a/`, `/a0`) because '0' follows '/' in byte order.
 *   `name_fold` (the NFC form of a non-ASCII name) finds look-alike names, which are refused.
 * - manifests: content of files, keyed by file hash and shared by every file with the same
 *   content (`refs` = number of files pointing at it), chunk list in binary form.
 * - chunks: every stored chunk; `refs` = number of manifests that contain it (each
 *   manifest counts once however often the chunk repeats inside it); `pack` set when the
 *   chunk lives inside a pack object at `pack_offset`.
 * - uploads / upload_files / upload_entries: persisted upload sessions. Entries protect
 *   their chunks from garbage collection while the session lives; `reserved_bytes` is what
 *   a session counts against its owner's quota while it is in flight.
 * - users / tokens: authentication (only hashes of secrets are stored).
 * - grants: per-path permissions of a user (paths relative to the user's home).
 * - chunk_owners: which users proved possession of a chunk (sent its bytes). Dedup answers
 *   and commits count only a user's own chunks, so a chunk hash never opens another user's
 *   bytes and "do you have this chunk?" is not an oracle across users.
 * - shares: share links (only a hash of the link key is stored).
 * - web_sessions: refresh tokens of browser sessions (hash of the current one and of the
 *   one before, to detect a replayed refresh token).
 * - audit: security events (append-only).
 * - ssh_keys: users' SSH public keys for the SFTP front (public keys only).
 * - dav_props / dav_locks: WebDAV dead properties (they follow their file through moves,
 *   copies and deletes, whatever the front) and write locks.
 * - tus_uploads: tus uploads, each over the upload session of the same id while in progress.
 */
import type { Generated } from 'kysely';

export interface FilesTable {
  path: string;
  parent: string;
  name: string;
  /** NFC form of a name that is not plain ASCII, else NULL: where look-alike names meet (see MetaStore). */
  name_fold: string | null;
  type: 'file' | 'dir';
  size: number;
  mtime: number;
  mode: number | null;
  manifest: string | null;
  created_at: number;
  updated_at: number;
  expires_at: number | null;
}

export interface ManifestsTable {
  hash: string;
  size: number;
  chunk_count: number;
  chunks: Buffer;
  refs: number;
  created_at: number;
}

export interface ChunksTable {
  hash: string;
  size: number;
  pack: string | null;
  pack_offset: number | null;
  refs: number;
  created_at: number;
  /** The chunk store (route prefix) holding a loose chunk; NULL: the default store. */
  store: string | null;
  /**
   * Bytes of the chunk's object or pack entry as stored (header and zstd frame or raw
   * payload: src/store/chunk-codec.ts); NULL for chunks stored before that format, whose
   * objects are their `size` plain bytes.
   */
  stored_size: number | null;
}

export interface PacksTable {
  id: string;
  size: number;
  chunk_count: number;
  created_at: number;
  /** The chunk store (route prefix) holding the pack; NULL: the default store. */
  store: string | null;
}

export interface UploadsTable {
  id: string;
  owner: string | null;
  /** Deepest path containing every file of the session (authorization checks it cheaply). */
  scope: string | null;
  no_overwrite: number;
  created_at: number;
  updated_at: number;
  expires_at: number;
  /** null: a session of the native protocol; 'partial': a resumable streamed upload (see migration 0014-sftp); 'visitor': a drop-box visitor's, 'scoped': a path-limited token's (both prove their own chunks: upload-sessions.ts, sessionProver); 'visitor-stream': a drop-box visitor's streamed upload (`PUT /s/KEY/NAME`, its chunks proven by the owner as any stream's). Visitors' sessions count apart from their owner's own (UploadSessions.countUploads). */
  kind: 'partial' | 'visitor' | 'scoped' | 'visitor-stream' | null;
  /** Bytes the session may add to its owner's usage once committed (quota reservations; 0 without a quota). */
  reserved_bytes: number;
}

export interface UploadFilesTable {
  upload_id: string;
  idx: number;
  path: string;
  size: number | null;
  hash: string | null;
  mtime: number | null;
  mode: number | null;
  sealed: number;
  entry_count: number;
  /** TTL of the committed file (ms after the commit); null: kept. */
  ttl_ms: number | null;
}

export interface UploadEntriesTable {
  upload_id: string;
  file_idx: number;
  seq: number;
  hash: string;
  size: number;
}

export interface UsersTable {
  id: string;
  name: string;
  role: 'admin' | 'user';
  password_hash: string | null;
  home: string;
  created_at: number;
  disabled: number;
  quota_bytes: number | null;
  quota_files: number | null;
  max_file_size: number | null;
  max_sessions: number | null;
  /** Comma-separated CIDR lists; null or '' when empty. */
  ip_allow: string | null;
  ip_deny: string | null;
}

export interface GrantsTable {
  user_id: string;
  path: string;
  perms: string;
}

export interface ChunkOwnersTable {
  user_id: string;
  hash: string;
}

export interface SharesTable {
  id: string;
  key_hash: string;
  user_id: string;
  path: string;
  kind: 'download' | 'upload';
  name: string;
  password_hash: string | null;
  expires_at: number | null;
  max_uses: number | null;
  uses: number;
  created_at: number;
  revoked_at: number | null;
  last_used_at: number | null;
  /** An upload link's cap on the bytes visitors may send through it in all (migration 0022); null: none. */
  max_bytes: number | null;
  /** Bytes of the files committed through an upload link so far. */
  bytes_received: number;
  /** What the link was made for (migration 0026): it serves nothing else at its path; null: made before, unchecked. */
  target_type: 'file' | 'dir' | null;
  /**
   * The credential that made the link (migration 0030): an API token's id, `session:<id>` (the
   * web app), `password:<user id>` (HTTP Basic), as AuthContext.tokenId; null: made before.
   */
  made_with: string | null;
}

export interface WebSessionsTable {
  id: string;
  user_id: string;
  refresh_hash: string;
  prev_refresh_hash: string | null;
  created_at: number;
  refreshed_at: number;
  /** Refresh tokens stop working at this time (absolute). */
  expires_at: number;
  revoked_at: number | null;
  ip: string | null;
}

export interface AuditTable {
  id: Generated<number>;
  at: number;
  event: string;
  ok: number;
  user_id: string | null;
  user_name: string | null;
  token_id: string | null;
  ip: string | null;
  target: string | null;
  details: string | null;
  /** The file a file operation acted on (server path), for `ferry admin audit --path`. */
  path: string | null;
  /** The way in: api, web, sftp, webdav, tus, share. */
  front: string | null;
}

export interface WebhooksTable {
  id: string;
  url: string;
  /** Comma-separated hook events. */
  events: string;
  /** HMAC-SHA256 key of the signature header (kept: signing needs it). */
  secret: string;
  created_at: number;
}

export interface WebhookDeliveriesTable {
  id: Generated<number>;
  webhook_id: string;
  event: string;
  /** Deliveries with the same key are sent in id order (the file's path). */
  order_key: string;
  payload: string;
  /** pending | delivered | failed */
  status: string;
  attempts: number;
  next_at: number;
  last_status: number | null;
  last_error: string | null;
  created_at: number;
  done_at: number | null;
}

/** An old version of a file: a manifest kept by reference (it holds its chunks). */
export interface VersionsTable {
  id: Generated<number>;
  path: string;
  manifest: string;
  size: number;
  mtime: number;
  mode: number | null;
  /** When this content stopped being current (replaced). */
  replaced_at: number;
  /** When this content became current. */
  created_at: number;
}

/** A deleted file kept for `trashDays`; a directory delete is one batch. */
export interface TrashTable {
  id: Generated<number>;
  batch: string;
  path: string;
  manifest: string;
  size: number;
  mtime: number;
  mode: number | null;
  deleted_at: number;
  deleted_by: string | null;
}

export interface TokensTable {
  id: string;
  user_id: string;
  name: string;
  secret_hash: string;
  scopes: string;
  path_prefix: string | null;
  created_at: number;
  expires_at: number | null;
  last_used_at: number | null;
  revoked_at: number | null;
  /** 1: made by a password login (`ferry login`), ended by a password change; 0 (absent on insert): a named token. */
  from_login?: number;
}

export interface SshKeysTable {
  /** 16 random hex digits, unrelated to the key. */
  id: string;
  user_id: string;
  /** `ssh-ed25519`, `ecdsa-sha2-nistp256`, `ssh-rsa`, ... */
  type: string;
  bits: number;
  /** The public key blob (SSH wire form), base64. */
  public_key: string;
  /** `SHA256:` + unpadded base64 of SHA-256 of the blob, as ssh-keygen -l prints it. */
  fingerprint: string;
  comment: string;
  created_at: number;
  last_used_at: number | null;
  /** When the key stops logging in: the expiry of the token that added it; null: never. */
  expires_at: number | null;
}

/** A WebDAV dead property of the file or directory at `path`; `value` is its XML content, self-contained (namespaces declared). */
export interface DavPropsTable {
  path: string;
  /** Namespace URI ('' for none). */
  ns: string;
  name: string;
  value: string;
}

/** A WebDAV write lock on `path` (and, when `infinite`, everything below it). */
export interface DavLocksTable {
  /** `urn:uuid:…`, the lock token clients submit. */
  token: string;
  path: string;
  user_id: string;
  scope: 'exclusive' | 'shared';
  infinite: number;
  /** The client's DAV:owner XML, as sent. */
  owner: string | null;
  timeout_ms: number;
  created_at: number;
  expires_at: number;
}

/**
 * A tus upload. While in progress its bytes are the upload session with the same id (chunks
 * cut by the server) plus a tail object in the chunk store; `done_at` once the file is
 * committed (or, for a partial upload, complete and waiting for its final upload).
 */
export interface TusUploadsTable {
  id: string;
  owner: string;
  /** Server path the file goes to; null for a partial upload (concatenation). */
  path: string | null;
  /** Upload-Length; null while deferred. */
  length: number | null;
  /** The Upload-Metadata header as received. */
  metadata: string | null;
  /**
   * Concatenation: 'partial', or for a final upload `final;` and the ids of its parts in
   * order, space-separated (the Upload-Concat a HEAD answers with; rows made before the ids
   * were kept say 'final'); null for an ordinary upload.
   */
  concat: 'partial' | 'final' | `final;${string}` | null;
  mtime: number | null;
  /** TTL of the committed file (ms). */
  ttl_ms: number | null;
  created_at: number;
  expires_at: number;
  done_at: number | null;
}

export interface SettingsTable {
  key: string;
  value: string;
}

/** A chunk found corrupt or missing; its index row stays (files still reference it). */
export interface ChunkQuarantineTable {
  hash: string;
  /** corrupt | missing */
  reason: string;
  /** Where the damaged bytes were moved (loose chunks), for inspection. */
  object_key: string | null;
  at: number;
}

export interface Database {
  files: FilesTable;
  manifests: ManifestsTable;
  chunks: ChunksTable;
  packs: PacksTable;
  uploads: UploadsTable;
  upload_files: UploadFilesTable;
  upload_entries: UploadEntriesTable;
  users: UsersTable;
  tokens: TokensTable;
  settings: SettingsTable;
  grants: GrantsTable;
  chunk_owners: ChunkOwnersTable;
  shares: SharesTable;
  web_sessions: WebSessionsTable;
  audit: AuditTable;
  dav_props: DavPropsTable;
  dav_locks: DavLocksTable;
  tus_uploads: TusUploadsTable;
  webhooks: WebhooksTable;
  webhook_deliveries: WebhookDeliveriesTable;
  versions: VersionsTable;
  trash: TrashTable;
  chunk_quarantine: ChunkQuarantineTable;
  ssh_keys: SshKeysTable;
  leases: LeasesTable;
  chunk_writes: ChunkWritesTable;
  bans: BansTable;
  defender_failures: DefenderFailuresTable;
}

/** Work one node at a time does (src/store/leases.ts): who holds it, until when. */
export interface LeasesTable {
  name: string;
  /** The node: a random id per process. */
  holder: string;
  expires_at: number;
}

/** A chunk object being written on some node (PostgreSQL only; src/store/chunk-index.ts). */
export interface ChunkWritesTable {
  id: string;
  hash: string;
  started_at: number;
}

/** A defender ban, shared by the nodes of one database (src/store/ban-store.ts). */
/** A failure that scores toward a defender ban, on whichever node it happened (src/store/ban-store.ts). */
export interface DefenderFailuresTable {
  /** The address, normalized as a ban's. */
  ip: string;
  at: number;
  score: number;
}

export interface BansTable {
  /** The address, normalized (src/server/ip-filter.ts). */
  ip: string;
  since: number;
  until: number;
}
