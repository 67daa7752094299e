/** Server configuration: defaults, and what the limits and capabilities derive from it. */
import { ConfigError } from '../core/errors.js';
import { DEFAULT_CHUNKING, type ChunkingParams } from '../core/manifest.js';
import { MAX_PATH_BYTES, MAX_SEGMENT_BYTES, normalizePath } from '../core/path.js';
import type { NamedRemote } from '../backends/registry.js';
import type { Capabilities, ServerLimits } from '../core/protocol.js';
import { VERSION } from '../core/version.js';
import { DEFAULT_DEFENDER, type DefenderOptions } from './defender.js';
import type { LogFormat } from './log-pretty.js';
import type { ScryptCost } from './passwords.js';
import type { CommandHook, PreUploadHook, VersionPolicy } from './settings.js';
import { DEFAULT_CONNECTION_LIMITS, type ConnectionLimits } from './slow-clients.js';
import { DEFAULT_BODY_MEMORY } from './chunk-bodies.js';

/** Requests allowed per window; 0 turns a limit off. */
export interface RateLimits {
  windowMs: number;
  /** Every request, per client address (before authentication: a flood guard). */
  perIp: number;
  /** Authenticated requests, per token (or web session). */
  perToken: number;
  /** Password and share-password attempts, per address. */
  authPerIp: number;
  /** Wrong passwords per share link, all addresses together (refilling; absent: 10, 0: off). */
  sharePasswordPerLink?: number;
}

export interface ServerConfig {
  host: string;
  port: number;
  dataDir: string;
  /** Metadata in PostgreSQL (`postgres://…`); undefined: SQLite in `dataDir/meta.db`. */
  db?: string;
  /** Connections per node to PostgreSQL. */
  dbPool: number;
  /** A PostgreSQL query unanswered this long fails (503) and its connection is dropped; 0: no limit (`dbQueryTimeout`). */
  dbQueryTimeoutMs: number;
  /** An idle upload session is removed after this long. */
  uploadTtlMs: number;
  /** How often expired sessions are swept. */
  sweepIntervalMs: number;
  /** How often unreferenced chunks are garbage-collected (0: never automatically). */
  gcIntervalMs: number;
  /** An unreferenced chunk is kept at least this long (a client may be about to commit it). */
  gcGraceMs: number;
  /**
   * The youngest chunk or pack object without an index row that a sweep deletes, whatever the
   * grace (`ferry admin gc --grace 0s` too): another node sharing the store may be between
   * storing it and indexing it. A node stalled longer finds its write lapsed and asks again.
   */
  gcMinAgeMs: number;
  /**
   * How long a node's claim on a tus upload lasts unless renewed (every third of it while a
   * PATCH runs): after a node dies mid-PATCH, the others answer that upload 423 this long at most.
   */
  tusClaimMs: number;
  /**
   * On shutdown (SIGTERM), how long requests in flight may take to finish before the
   * connections still open are closed (SFTP's too; 0: no limit). Upload sessions are kept.
   */
  drainTimeoutMs: number;
  chunking: ChunkingParams;
  /** fsync chunk objects before acknowledging them. */
  durable: boolean;
  logLevel: string;
  /**
   * The form of the log written to `logDestination`: `json` (pino's lines), `pretty` (one
   * short line per event, for a person: ./log-pretty.ts), or `auto`, pretty when the
   * destination is a terminal (`isTTY`) and JSON otherwise (the default).
   */
  logFormat?: LogFormat;
  /** Admin token chosen by the operator (FERRY_ADMIN_TOKEN). */
  adminToken?: string;
  /** Encrypt the chunk stores at rest with the master key in this file (`--encryption-key-file`). */
  encryptionKeyFile?: string;
  /** The master key as text (FERRY_ENCRYPTION_KEY), instead of the file. */
  encryptionKey?: string;
  /** A token that opens `GET /metrics` and nothing else (for Prometheus; FERRY_METRICS_TOKEN). */
  metricsToken?: string;
  /**
   * Where the server's log (pino JSON lines) goes. Default: nowhere, so that a program
   * embedding the server (`startServer` of `ferry/server`) is silent unless it asks;
   * `ferry serve` logs to stdout. `logger` instead hands the lines to a pino logger of yours.
   */
  logDestination?: NodeJS.WritableStream;
  /**
   * Where the operator gave the listen addresses, as messages name them (`--addr`,
   * `FERRY_ADDR`, `addr in /etc/ferry.yaml:3`): a port in use is fixed where it was set.
   * Unset: the flags.
   */
  addrOrigins?: { addr: string; sftpAddr: string };
  /** A pino logger (or one with pino's methods and `child`) to log to, instead of `logDestination`. */
  logger?: import('pino').Logger;
  /** PEM files: serve HTTPS (HTTP/1.1 and HTTP/2 by ALPN). */
  tlsCert?: string;
  tlsKey?: string;
  /** Make (once) and use a self-signed certificate kept in the data directory. */
  tlsSelfSigned?: boolean;
  /** Extra names and addresses for the self-signed certificate (localhost and the listen address are always in). */
  tlsHostnames?: string[];
  /** Base URL printed in share links (default: from the request's Host header). */
  publicUrl?: string;
  /** Clock (tests move it forward instead of sleeping). */
  now?: () => number;
  /** HMAC key of web-session tokens; startServer reads FERRY_SESSION_KEY or DATA/session-key. */
  sessionKey?: Buffer;
  accessTokenTtlMs: number;
  refreshTokenTtlMs: number;
  scryptCost?: ScryptCost;
  rateLimit: RateLimits;
  defender: DefenderOptions;
  /**
   * Reverse proxies (CIDR) whose `X-Forwarded-For` names the client (`--trust-proxy`): a
   * request from one of them is taken to come from the address it forwarded, for the IP
   * lists, rate limits, the defender, audit and logs. From anywhere else the header is
   * ignored. Empty: the socket's peer address is the client, always.
   */
  trustProxy: string[];
  /** Global CIDR lists, checked before anything else. */
  ipAllow: string[];
  ipDeny: string[];
  /** Largest file anyone may upload (users may have a lower limit); null: none. */
  maxFileSize: number | null;
  /** Live upload sessions per user unless the user has their own limit. */
  maxUploadSessions: number;
  /** Live API tokens (not revoked, not expired) a user may hold; 0: no limit. */
  maxTokensPerUser: number;
  /** Live share links (not revoked, not expired, not used up) a user may hold; 0: no limit. */
  maxSharesPerUser: number;
  /**
   * Manifest entries a user's live upload sessions may hold in all (0: no limit): entries of
   * sessions never committed count in no quota (QuotaGuard.entriesCheck).
   */
  maxPendingEntries: number;
  /**
   * Room a user's WebDAV dead properties may take in the metadata store, all their files
   * together, whatever their quota (each property: path, namespace, name, value and 64
   * bytes); null: no cap.
   */
  davPropertyBytes: number | null;
  /** How often files past their TTL are deleted (0: never automatically). */
  ttlSweepIntervalMs: number;
  /**
   * Where chunks are kept: remotes by path prefix (`ferry serve --store`). Without a `/`
   * route the default store is local disk under `dataDir/store`; see ChunkStore for how
   * routes map onto shared, content-addressed chunks.
   */
  store?: StoreSpec[];
  /** Old versions kept on overwrite (both 0: off); per-path rules override. */
  versions: VersionPolicy;
  /** Days deleted files stay in the trash (0: deletes are final). */
  trashDays: number;
  /** Days audit entries are kept (0: for ever). */
  auditDays: number;
  webhookRetryDelayMs: number;
  webhookMaxAttempts: number;
  webhookTimeoutMs: number;
  /** Programs run on events, with the event as JSON on stdin. */
  hooks: CommandHook[];
  /** A program that sees each uploaded file before it commits, and may reject it. */
  preUploadHook?: PreUploadHook;
  /** Named remotes the store specs may use (`NAME:path`), as `ferry remote` keeps them. */
  remotes?: Readonly<Record<string, NamedRemote>>;
  /** The SFTP front (`--sftp-addr`); off when absent. */
  sftp?: SftpConfig;
  /** `--sftp-password-auth`: as `sftp.passwordAuth` (either turns password logins on). */
  sftpPasswordAuth?: boolean;
  /** Connections per address, request head and body timeouts (./slow-clients.ts). */
  connections: ConnectionLimits;
  /** Bytes that chunk bodies being received may take in memory, all requests together (./chunk-bodies.ts). */
  bodyMemory: number;
  /** Most files and folders one copy makes (default MAX_COPY_ENTRIES of the store; tests lower it). */
  maxCopyEntries?: number;
}

export interface SftpConfig {
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** Let users with a password log in with it over SSH (`--sftp-password-auth`); keys only otherwise. */
  passwordAuth: boolean;
  /** Time an SFTP connection has from when it is accepted to log in (default 60 s; tests shorten it). */
  loginGraceMs?: number;
}

/** The SFTP front's port when `--sftp-addr` names only a host. */
export const DEFAULT_SFTP_PORT = 2022;

/** One `--store` value: `[/prefix=]remote`. The remote `local` means disk under the data directory. */
export interface StoreSpec {
  prefix: string;
  remote: string;
}

/**
 * `/archive=s3:bucket/x` -> {prefix: '/archive', remote: 's3:bucket/x'}; a value without a
 * leading `/prefix=` is the default (`/`) route: `s3:bucket/prefix`, `sftp://host/dir`, `local`.
 */
export function parseStoreSpec(value: string): StoreSpec {
  const eq = value.indexOf('=');
  if (value.startsWith('/') && eq > 0) {
    const remote = value.slice(eq + 1);
    if (remote === '') throw new ConfigError(`--store ${value}: no remote after '='`);
    return { prefix: normalizePath(value.slice(0, eq)), remote };
  }
  return { prefix: '/', remote: value };
}

/** A database URL without its password, for messages and logs. */
export function redactDbUrl(url: string): string {
  // The password of the user part, and query parameters that carry one (node-postgres takes
  // `?password=` and `?sslpassword=` as well).
  return url.replace(/^([a-z]+:\/\/[^:@/]*):[^@/]*@/i, '$1:***@').replace(/([?&][^=&#]*pass[^=&#]*=)[^&#]*/gi, '$1***');
}

export const DEFAULT_PORT = 7373;

export function defaultConfig(overrides: Partial<ServerConfig> = {}): ServerConfig {
  return {
    host: '127.0.0.1',
    port: DEFAULT_PORT,
    dataDir: './ferry-data',
    dbPool: 10,
    dbQueryTimeoutMs: 60_000,
    uploadTtlMs: 24 * 3600_000,
    sweepIntervalMs: 60_000,
    gcIntervalMs: 10 * 60_000,
    gcGraceMs: 3600_000,
    gcMinAgeMs: 60_000,
    tusClaimMs: 15_000,
    drainTimeoutMs: 30_000,
    chunking: DEFAULT_CHUNKING,
    durable: true,
    logLevel: 'info',
    logFormat: 'auto',
    accessTokenTtlMs: 15 * 60_000,
    refreshTokenTtlMs: 30 * 24 * 3600_000,
    // Generous per-client ceilings: a parallel upload of 1 MiB chunks at LAN speed is several
    // hundred requests a second, and it must not trip them.
    rateLimit: { windowMs: 60_000, perIp: 60_000, perToken: 60_000, authPerIp: 30, sharePasswordPerLink: 10 },
    defender: DEFAULT_DEFENDER,
    trustProxy: [],
    ipAllow: [],
    ipDeny: [],
    maxFileSize: null,
    maxUploadSessions: 100,
    maxTokensPerUser: 1000,
    maxSharesPerUser: 10_000,
    maxPendingEntries: 500_000,
    davPropertyBytes: 256 * 1024 * 1024,
    ttlSweepIntervalMs: 60_000,
    versions: { keep: 0, days: 0, paths: {} },
    trashDays: 0,
    auditDays: 0,
    hooks: [],
    webhookRetryDelayMs: 5000,
    webhookMaxAttempts: 12,
    webhookTimeoutMs: 10_000,
    connections: DEFAULT_CONNECTION_LIMITS,
    bodyMemory: DEFAULT_BODY_MEMORY,
    ...overrides,
  };
}

/** Every field of ServerConfig (the compiler keeps this complete: a field added there must be added here). */
const CONFIG_FIELDS = {
  host: true, port: true, dataDir: true, db: true, dbPool: true, dbQueryTimeoutMs: true, uploadTtlMs: true, sweepIntervalMs: true, gcIntervalMs: true,
  gcGraceMs: true, gcMinAgeMs: true, tusClaimMs: true, drainTimeoutMs: true, chunking: true, durable: true, logLevel: true, logFormat: true, adminToken: true, encryptionKeyFile: true,
  encryptionKey: true, metricsToken: true, logDestination: true, addrOrigins: true, logger: true, tlsCert: true, tlsKey: true,
  tlsSelfSigned: true, tlsHostnames: true, publicUrl: true, now: true, sessionKey: true, accessTokenTtlMs: true,
  refreshTokenTtlMs: true, scryptCost: true, rateLimit: true, defender: true, trustProxy: true, ipAllow: true, ipDeny: true,
  maxFileSize: true, maxUploadSessions: true, maxTokensPerUser: true, maxSharesPerUser: true, maxPendingEntries: true,
  davPropertyBytes: true, ttlSweepIntervalMs: true, store: true, versions: true, trashDays: true, auditDays: true, webhookRetryDelayMs: true,
  webhookMaxAttempts: true, webhookTimeoutMs: true, hooks: true, preUploadHook: true, remotes: true, sftp: true,
  sftpPasswordAuth: true, connections: true, bodyMemory: true, maxCopyEntries: true,
} satisfies Record<keyof ServerConfig, true>;

/** The config file's and flags' names a program may reach for, and the fields that say it. */
const FIELD_FOR: Readonly<Record<string, string>> = {
  addr: '`host` and `port`',
  data: '`dataDir`',
  drainTimeout: '`drainTimeoutMs` (milliseconds)',
  dbQueryTimeout: '`dbQueryTimeoutMs` (milliseconds)',
  uploadTtl: '`uploadTtlMs` (milliseconds)',
  gcInterval: '`gcIntervalMs` (milliseconds)',
  gcGrace: '`gcGraceMs` (milliseconds)',
  gcMinAge: '`gcMinAgeMs` (milliseconds)',
  tusClaim: '`tusClaimMs` (milliseconds)',
};

/**
 * Refuses a field ServerConfig does not have (FERRY_ERR_CONFIG): a program's `addr` or `data`
 * (the config file's names) or a misspelt `dataDir` was dropped without a word, and the server
 * started on port 7373 with ./ferry-data in the working directory.
 */
export function checkConfigFields(config: object): void {
  for (const key of Object.keys(config)) {
    if (Object.hasOwn(CONFIG_FIELDS, key)) continue;
    const instead = FIELD_FOR[key] ? `; ServerConfig says it with ${FIELD_FOR[key]}` : '';
    throw new ConfigError(`unknown server setting \`${key}\`${instead} (the fields of the ServerConfig type, as defaultConfig() returns them)`, {
      details: { setting: key },
    });
  }
}

export function limitsOf(config: ServerConfig): ServerLimits {
  return {
    maxChunkSize: config.chunking.maxSize,
    packThreshold: config.chunking.minSize,
    maxPackBytes: 16 * 1024 * 1024,
    maxChunksPerRequest: 20_000,
    maxFilesPerUpload: 10_000,
    maxListLimit: 10_000,
    uploadTtlSeconds: Math.floor(config.uploadTtlMs / 1000),
    maxPathBytes: MAX_PATH_BYTES,
    maxSegmentBytes: MAX_SEGMENT_BYTES,
    maxFileSize: config.maxFileSize,
    // A batch is read and verified whole before its first byte is sent (so that a corrupt
    // chunk is a proper error status, not a cut connection): these bound that memory to
    // about what one GET of a maximum-size chunk takes.
    maxChunksPerBatch: 1024,
    maxBatchBytes: Math.max(4 * 1024 * 1024, config.chunking.maxSize),
  };
}

export function capabilitiesOf(config: ServerConfig): Capabilities {
  return {
    server: 'ferry',
    version: VERSION,
    protocols: [1],
    hash: 'sha256',
    fileHash: 'sha256-tree-v1',
    chunking: { ...config.chunking },
    limits: limitsOf(config),
    features: ['uploads', 'upload-append', 'packs', 'batch-uploads', 'range', 'manifests', 'chunks', 'move', 'copy', 'mkdir', 'delete', 'list-recursive', 'list-chunks', 'list-digest', 'chunks-batch', 'zstd', 'range-zstd', 'chunk-delta', 'chunk-delta-bases', 'chunk-frames', 'users', 'tokens', 'password-login', 'web-sessions', 'shares', 'upload-links', 'file-ttl', 'quotas', 'audit'],
  };
}
