/**
 * What every route module receives: the server's stores and services ({@link ServerContext}),
 * and the authenticated identity of a request ({@link authOf}). A leaf of server/: route
 * modules import it, not the app that registers them.
 *
 * A route module is a Fastify plugin ({@link RoutePlugin}) that app.ts registers with the
 * context as its option; each endpoint has one named handler, a function of the module
 * taking the context first (`stat(ctx, request)`), so that a stack trace, a profile or a
 * reader finds the endpoint by name.
 */
import type { FastifyBaseLogger, FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { Capabilities } from '../core/protocol.js';
import type { SweptLeftovers } from '../core/storage.js';
import type { UnreferencedObjects } from '../store/chunk-store.js';
import type { AuditStore } from '../store/audit-store.js';
import type { AuthStore } from '../store/auth-store.js';
import type { ChunkStore } from '../store/chunk-store.js';
import type { MetaStore } from '../store/meta-store.js';
import type { SshKeyStore } from '../store/ssh-key-store.js';
import type { ShareStore } from '../store/share-store.js';
import type { DavStore } from '../store/dav-store.js';
import type { QuarantineStore } from '../store/quarantine-store.js';
import type { VersionStore } from '../store/version-store.js';
import type { WebhookStore } from '../store/webhook-store.js';
import type { AuditLog, Front } from './audit.js';
import type { Authenticator } from './auth.js';
import type { AuthContext } from './authz.js';
import type { limitsOf, ServerConfig } from './config.js';
import type { BanInfo, Defender, DefenderEvent } from './defender.js';
import type { DownloadAudit } from './download-audit.js';
import type { CommandHooks } from './hooks.js';
import type { RateLimiters } from './limits.js';
import type { ServerMetrics } from './metrics.js';
import type { QuotaGuard } from './quota.js';
import type { ShareGate } from './share-gate.js';
import type { TusUploads } from './tus/uploads.js';
import type { WebApp } from './routes/web-app.js';
import type { WebhookDispatcher } from './webhooks.js';
import type { BodyMemory } from './chunk-bodies.js';
import type { DiskReserve } from './disk-reserve.js';

declare module 'fastify' {
  interface FastifyRequest {
    auth?: AuthContext;
  }
  interface FastifyContextConfig {
    /** Reachable without a token (health, capabilities). */
    public?: boolean;
    /** Not counted against the per-address rate limit (`/healthz` and `/readyz` only: see ./routes/system.ts). */
    unmetered?: boolean;
    /** The front a route belongs to, for audit entries and logs (default `api`). */
    front?: Front;
    /**
     * Also accept HTTP Basic credentials (user name + password, or + an API token) besides
     * Bearer tokens, and answer 401s with a Basic challenge (WebDAV clients).
     */
    basicAuth?: boolean;
    /** A download ticket (`?ticket=`) may stand in for the Authorization header (GET downloads). */
    ticket?: boolean;
    /** A share upload token (`Bearer ferryl_…`) is accepted: the upload-session routes, for drop boxes. */
    shareUpload?: boolean;
  }
}

/** What every route module receives. */
export interface ServerContext {
  config: ServerConfig;
  capabilities: Capabilities;
  limits: ReturnType<typeof limitsOf>;
  meta: MetaStore;
  chunks: ChunkStore;
  /** The memory chunk bodies being received may take, all requests together (`--body-memory`). */
  bodies: BodyMemory;
  /** The same for chunks read for responses (./routes/downloads.ts budgetedLender). */
  sendMemory: BodyMemory;
  /** The memory streamed uploads take while they are cut and stored (./ingest.ts), all together: 4 × `--body-memory`. */
  ingestMemory: BodyMemory;
  /** How long a streamed upload waits for room in it before a 503 (./ingest.ts INGEST_WAIT_MS; tests shorten it). */
  ingestWaitMs?: number;
  metrics: ServerMetrics;
  auth: Authenticator;
  users: AuthStore;
  shares: ShareStore;
  /** Users' SSH public keys (the SFTP front's logins). */
  sshKeys: SshKeyStore;
  auditStore: AuditStore;
  audit: AuditLog;
  defender: Defender;
  /**
   * Scores a failure for the defender; the ban it tipped the address into, if any. Alone:
   * Defender.record; on nodes sharing PostgreSQL, over every node (SharedBans.record).
   */
  scoreFailure(ip: string, event: DefenderEvent): Promise<BanInfo | undefined>;
  quota: QuotaGuard;
  limiters: RateLimiters;
  /** How share links are found, checked and unlocked (./share-gate.ts). */
  shareGate: ShareGate;
  now: () => number;
  /** Records downloads in the audit log, once per transfer. */
  downloads: DownloadAudit;
  /** Old versions and the trash. */
  versions: VersionStore;
  /** Chunks `ferry admin check` found damaged, until an upload repairs them. */
  quarantine: QuarantineStore;
  webhookStore: WebhookStore;
  webhooks: WebhookDispatcher;
  hooks: CommandHooks;
  /** The tus front's uploads (./tus/uploads.ts): their sessions expire with the others. */
  tus: TusUploads;
  /** WebDAV's dead properties and locks (the locks expire with the sessions). */
  davStore: DavStore;
  /** The built web app: its page answers browsers (the app's routes, share links, their errors). */
  webApp: WebApp;
  /** Every route the app serves (`GET /api/v1/stat/*`, ...), recorded as they are added. */
  endpoints: string[];
  /** Now, on the clock a chunk store's object times are judged by (`store` null: the default store): see storeClock in ./app.ts. */
  storeNow(store: string | null): number;
  /**
   * Deletes expired sessions and unreferenced chunks now, and (unless `leftovers` is false:
   * both walk every store) leftovers of interrupted chunk writes and chunk and pack objects
   * the index does not point at, each older than the grace time; returns what went.
   */
  collectGarbage(graceMs?: number, options?: { leftovers?: boolean }): Promise<{ uploads: number; chunks: number; packs: number; leftovers: SweptLeftovers; unreferenced: UnreferencedObjects }>;
  /** Deletes expired upload sessions (native and tus, with their tails) and WebDAV locks; returns the sessions removed. */
  expireSessions(): Promise<number>;
  /**
   * Aborts an upload session nobody can go on with (a refused one-request upload: its id was
   * never given out). When that fails too (the metadata disk full), the next
   * {@link expireSessions} tries again: until then its chunks are held, and gc frees nothing.
   */
  abandonUpload(id: string): Promise<void>;
  /**
   * Audits an authentication failure (bad token, wrong password, wrong share password) and
   * scores it for the defender, which may ban the address.
   */
  reportAuthFailure(request: FastifyRequest, err: unknown, who?: { userName?: string; event?: string }): Promise<void>;
  /** Deletes files past their TTL now (audited); returns their paths. */
  sweepExpiredFiles(): Promise<string[]>;
  /** Takes the live-changeable `keys` of `next` (SIGHUP); see RunningServer.reload. */
  applyLive(next: ServerConfig, keys: readonly string[]): void;
  /** The room kept back on the data directory's disk for deletes, and whether that disk is full (./disk-reserve.ts). */
  disk: DiskReserve;
  /** Set by RunningServer.drain: not ready, no new upload sessions; requests in flight finish. */
  draining: boolean;
  /** Why this node should get no traffic now (draining, the database or a chunk store not answering); undefined: ready. The cause of a failed probe goes to `log`, not into the words. */
  unreadiness(log?: FastifyBaseLogger): Promise<string | undefined>;
}

/** A route module: a Fastify plugin given the server's context. */
export type RoutePlugin = FastifyPluginAsync<{ ctx: ServerContext }>;

/** The authenticated identity of a request that passed the auth hook. */
export function authOf(request: FastifyRequest): AuthContext {
  if (!request.auth) throw new Error('route reached without authentication');
  return request.auth;
}
