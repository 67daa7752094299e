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
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { Capabilities } from '../core/protocol.js';
import type { SweptLeftovers } from '../core/storage.js';
import type { AuditStore } from '../store/audit-store.js';
import type { AuthStore } from '../store/auth-store.js';
import type { ChunkStore } from '../store/chunk-store.js';
import type { MetaStore } from '../store/meta-store.js';
import type { ShareStore } from '../store/share-store.js';
import type { AuditLog } from './audit.js';
import type { Authenticator } from './auth.js';
import type { AuthContext } from './authz.js';
import type { limitsOf, ServerConfig } from './config.js';
import type { Defender } from './defender.js';
import type { RateLimiters } from './limits.js';
import type { ServerMetrics } from './metrics.js';
import type { QuotaGuard } from './quota.js';

declare module 'fastify' {
  interface FastifyRequest {
    auth?: AuthContext;
  }
  interface FastifyContextConfig {
    /** Reachable without a token (health, capabilities). */
    public?: boolean;
  }
}

/** What every route module receives. */
export interface ServerContext {
  config: ServerConfig;
  capabilities: Capabilities;
  limits: ReturnType<typeof limitsOf>;
  meta: MetaStore;
  chunks: ChunkStore;
  metrics: ServerMetrics;
  auth: Authenticator;
  users: AuthStore;
  shares: ShareStore;
  auditStore: AuditStore;
  audit: AuditLog;
  defender: Defender;
  quota: QuotaGuard;
  limiters: RateLimiters;
  now: () => number;
  /** Every route the app serves (`GET /api/v1/stat/*`, ...), recorded as they are added. */
  endpoints: string[];
  /**
   * Deletes expired sessions and unreferenced chunks now, and leftovers of interrupted chunk
   * writes older than the grace time (unless `leftovers` is false); returns what went.
   */
  collectGarbage(graceMs?: number, options?: { leftovers?: boolean }): Promise<{ uploads: number; chunks: number; packs: number; leftovers: SweptLeftovers }>;
  /**
   * Audits an authentication failure (bad token, wrong password, wrong share password) and
   * scores it for the defender, which may ban the address.
   */
  reportAuthFailure(request: FastifyRequest, err: unknown, who?: { userName?: string; event?: string }): Promise<void>;
  /** Deletes files past their TTL now (audited); returns their paths. */
  sweepExpiredFiles(): Promise<string[]>;
}

/** A route module: a Fastify plugin given the server's context. */
export type RoutePlugin = FastifyPluginAsync<{ ctx: ServerContext }>;

/** The authenticated identity of a request that passed the auth hook. */
export function authOf(request: FastifyRequest): AuthContext {
  if (!request.auth) throw new Error('route reached without authentication');
  return request.auth;
}
