/**
 * The Ferry server: a Fastify app over a metadata store and a chunk store.
 *
 * `startServer(config)` opens the stores under the data directory, bootstraps the admin
 * token, listens (HTTPS with HTTP/2 and HTTP/1.1 by ALPN when TLS is configured), and
 * starts the background sweepers (expired upload sessions, expired files, chunk GC).
 *
 * Every request passes, in this order: routing (a path no route serves ends at the
 * not-found handler, without authentication), the global IP allow/deny lists, the defender
 * (banned addresses), the per-address rate limit, authentication (unless the route is public
 * or there is none; Bearer tokens, and on WebDAV routes HTTP Basic too), the per-token rate
 * limit. Authorization is per route, through ./authz.ts. The client's address is the
 * socket's, or behind a trusted proxy (`--trust-proxy`) the one it forwarded.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import pino from 'pino';
import { AuthInvalidError, BannedError, ConfigError, FerryError, ForbiddenError, UnavailableError, ValidationError, isFerryError } from '../core/errors.js';
import { normalizePath } from '../core/path.js';
import { REQUEST_ID_HEADER, type Capabilities } from '../core/protocol.js';
import type { StorageBackend, SweptLeftovers } from '../core/storage.js';
import { AuditStore } from '../store/audit-store.js';
import { AuthStore } from '../store/auth-store.js';
import { WebhookStore } from '../store/webhook-store.js';
import { QuarantineStore } from '../store/quarantine-store.js';
import { VersionStore } from '../store/version-store.js';
import { ChunkStore, type ChunkRoute } from '../store/chunk-store.js';
import { MetaStore } from '../store/meta-store.js';
import { ShareStore } from '../store/share-store.js';
import { SshKeyStore } from '../store/ssh-key-store.js';
import { LocalBackend } from '../backends/local/local-backend.js';
import { withRetry } from '../backends/decorators/retry.js';
import { openBackend, redactRemote } from '../backends/registry.js';
import { AuditLog, type Front } from './audit.js';
import { CommandHooks } from './hooks.js';
import { DownloadAudit } from './download-audit.js';
import { WebhookDispatcher } from './webhooks.js';
import { Authenticator, basicUserName, defenderEventOf } from './auth.js';
import { toServerPath, toUserError, type AuthContext } from './authz.js';
import { capabilitiesOf, limitsOf, redactDbUrl, type ServerConfig } from './config.js';
import { SETTINGS_BY_KEY } from './settings.js';
import { Defender } from './defender.js';
import { errorHandler, notFoundPage, toHttpError, writeClientError } from './http-errors.js';
import { IpPolicy } from './ip-filter.js';
import { createRateLimiters, type RateLimiters } from './limits.js';
import { ServerMetrics } from './metrics.js';
import { weakSecretReason } from './secret-strength.js';
import { QuotaGuard } from './quota.js';
import { registerAdminRoutes } from './routes/admin.js';
import { registerWebhookRoutes } from './routes/webhooks.js';
import { registerMaintenanceRoutes } from './routes/maintenance.js';
import { registerVersionRoutes } from './routes/versions.js';
import { registerApiDocRoutes } from './routes/api-docs.js';
import { installApiSchemas } from './openapi.js';
import { registerAuthRoutes } from './routes/auth.js';
import { registerDownloadRoutes } from './routes/downloads.js';
import { registerNamespaceRoutes } from './routes/namespace.js';
import { registerSharePublicRoutes } from './routes/share-public.js';
import { registerArchiveRoutes } from './routes/archives.js';
import { registerFileUploadRoutes } from './routes/file-uploads.js';
import { registerWebAppRoutes, type WebApp } from './routes/web-app.js';
import { SHARE_TOKEN_PREFIX, ShareGate } from './share-gate.js';
import { registerShareRoutes } from './routes/shares.js';
import { registerSshKeyRoutes } from './routes/ssh-keys.js';
import { registerSystemRoutes } from './routes/system.js';
import { registerTokenRoutes } from './routes/tokens.js';
import { registerUploadRoutes } from './routes/uploads.js';
import { registerUserRoutes } from './routes/users.js';
import type { SftpFront } from './sftp/ssh-server.js';
import { Dav, registerDavRoutes } from './dav/index.js';
import { registerTusRoutes } from './tus/routes.js';
import { TusUploads } from './tus/uploads.js';
import { loadTls, type TlsMaterial } from './tls.js';
import { lockDataDir } from './data-lock.js';
import { ConnectionTracker } from './connections.js';
import { SlowClientGuard } from './slow-clients.js';
import type { Http2SecureServer } from 'node:http2';

declare module 'fastify' {
  interface FastifyRequest {
    auth?: AuthContext;
  }
  interface FastifyContextConfig {
    /** Reachable without a token (health, capabilities). */
    public?: boolean;
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
  metrics: ServerMetrics;
  auth: Authenticator;
  users: AuthStore;
  shares: ShareStore;
  /** Users' SSH public keys (the SFTP front's logins). */
  sshKeys: SshKeyStore;
  auditStore: AuditStore;
  audit: AuditLog;
  defender: Defender;
  quota: QuotaGuard;
  limiters: RateLimiters;
  /** How share links are found, checked and unlocked (../share-gate.ts). */
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
  /** Every route the app serves (`GET /api/v1/stat/*`, ...), recorded as they are added. */
  endpoints: string[];
  /**
   * Deletes expired sessions and unreferenced chunks now, and leftovers of interrupted chunk
   * writes older than the grace time (unless `leftovers` is false); returns what went.
   */
  collectGarbage(graceMs?: number, options?: { leftovers?: boolean }): Promise<{ uploads: number; chunks: number; packs: number; leftovers: SweptLeftovers }>;
  /** Deletes expired upload sessions (native and tus, with their tails) and WebDAV locks; returns the sessions removed. */
  expireSessions(): Promise<number>;
  /**
   * Audits an authentication failure (bad token, wrong password, wrong share password) and
   * scores it for the defender, which may ban the address.
   */
  reportAuthFailure(request: FastifyRequest, err: unknown, who?: { userName?: string; event?: string }): Promise<void>;
  /** Deletes files past their TTL now (audited); returns their paths. */
  sweepExpiredFiles(): Promise<string[]>;
  /** Takes the live-changeable `keys` of `next` (SIGHUP); see RunningServer.reload. */
  applyLive(next: ServerConfig, keys: readonly string[]): void;
  /** Set by RunningServer.drain: not ready, no new upload sessions; requests in flight finish. */
  draining: boolean;
  /** Why this node should get no traffic now (draining, the database or a chunk store not answering); undefined: ready. */
  unreadiness(): Promise<string | undefined>;
}

/** How long a readiness probe waits for the database and the chunk stores. */
const READY_PROBE_MS = 3000;

/**
 * The ServerConfig fields behind a setting: found by applying one of its examples to an
 * empty object, so a new live setting needs nothing here, only its entry in settings.ts.
 */
function fieldsOf(key: string): string[] {
  const s = SETTINGS_BY_KEY.get(key);
  if (!s?.live) return [];
  const probe = {} as ServerConfig;
  s.apply(probe, s.kind.fromText(s.examples[0]));
  return Object.keys(probe);
}

/** The authenticated identity of a request that passed the auth hook. */
export function authOf(request: FastifyRequest): AuthContext {
  if (!request.auth) throw new Error('route reached without authentication');
  return request.auth;
}

export interface BuildOptions {
  config: ServerConfig;
  meta: MetaStore;
  /** The default chunk store. */
  backend: StorageBackend;
  /** Path prefixes whose new chunks go elsewhere (`--store /archive=...`). */
  routes?: ChunkRoute[];
  logger?: pino.Logger;
  tls?: TlsMaterial;
}

export async function buildApp(options: BuildOptions): Promise<{ app: FastifyInstance; ctx: ServerContext }> {
  const { config, meta, backend } = options;
  const now = config.now ?? Date.now;
  const metrics = new ServerMetrics();
  const quarantine = new QuarantineStore(meta.db);
  const chunks = new ChunkStore({
    backend,
    routes: options.routes,
    meta,
    maxChunkSize: config.chunking.maxSize,
    durable: config.durable,
    events: {
      stored: (bytes) => {
        metrics.chunksReceived.inc();
        metrics.chunkBytesReceived.inc(bytes);
      },
      deduplicated: () => metrics.chunksDeduplicated.inc(),
      served: (bytes) => {
        metrics.chunksServed.inc();
        metrics.chunkBytesServed.inc(bytes);
      },
      corrupt: (hash, where) => {
        metrics.chunksCorrupt.inc();
        app.log.error({ hash, object: where }, 'chunk failed verification');
      },
      retireFailed: (hash, err) => app.log.warn({ hash, err }, 'a superseded copy of a chunk could not be deleted'),
    },
  });
  const users = new AuthStore(meta);
  const auth = new Authenticator(meta, users, {
    now,
    sessionKey: config.sessionKey ?? randomBytes(32),
    accessTtlMs: config.accessTokenTtlMs,
    refreshTtlMs: config.refreshTokenTtlMs,
    scryptCost: config.scryptCost,
  });
  const logger = options.logger ?? pino({ level: config.logLevel }, config.logDestination ?? process.stdout);
  let globalIps = new IpPolicy(config.ipAllow, config.ipDeny);

  const fastifyOptions = {
    loggerInstance: logger as FastifyBaseLogger,
    // Our own one-line access log replaces Fastify's two lines per request.
    logController: new LogController({ disableRequestLogging: true }),
    exposeHeadRoutes: false,
    bodyLimit: 8 * 1024 * 1024,
    genReqId: () => randomBytes(8).toString('hex'),
    requestIdHeader: false as const,
    routerOptions: { maxParamLength: 8192, ignoreDuplicateSlashes: true },
    // X-Forwarded-For (and -Proto, -Host) count only from the configured proxies; request.ip
    // is then the address they forwarded, everywhere request.ip is used (IP lists, rate
    // limits, the defender, audit, logs). Without --trust-proxy the headers are ignored.
    trustProxy: config.trustProxy.length > 0 ? [...config.trustProxy] : false,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } },
    // Requests the router refuses (a URL that is not valid percent-encoding, a parameter
    // past maxParamLength) never reach the hooks: they get our error format here, and the
    // address checks all the same (a banned address is told it is banned).
    frameworkErrors: ((err: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
      reply.header(REQUEST_ID_HEADER, request.id);
      errorHandler(addressRefusal(request.ip) ?? err, request, reply);
    }) as never,
    // What Node's HTTP parser refuses (a bad header, an unknown method, garbage) is answered
    // on the socket, in our error format too.
    clientErrorHandler: writeClientError as never,
  };
  // A missing Host is checked in onRequest instead, so that it gets a JSON error (HTTP/1 server only).
  const http1Options = { http: { requireHostHeader: false } };
  // With TLS: HTTP/2 and HTTP/1.1 on one port, chosen by ALPN (allowHTTP1). Route modules are
  // typed against the HTTP/1 server; the request and reply APIs they use are the same.
  const app = (
    options.tls
      ? Fastify({ ...fastifyOptions, http2: true, https: { allowHTTP1: true, cert: options.tls.cert, key: options.tls.key } })
      : Fastify({ ...fastifyOptions, ...http1Options })
  ) as unknown as FastifyInstance;
  if (options.tls) {
    const tracker = new ConnectionTracker(app.server as unknown as Http2SecureServer);
    app.addHook('preClose', async () => tracker.closeAll());
  }
  const guard = new SlowClientGuard(app.server as unknown as Http2SecureServer, config.connections, {
    refused: (address) => {
      metrics.connectionsRefused.inc();
      app.log.warn({ ip: address, max: config.connections.maxPerAddress }, 'connection refused: too many from this address');
    },
    cut: (address, why) => {
      metrics.slowClientsCut.inc({ phase: why });
      app.log.warn({ ip: address, phase: why }, why === 'head' ? 'connection closed: request head too slow' : 'request cut: body too slow');
    },
  });
  app.addHook('onClose', async () => guard.close());

  // Route schemas (validation) and the OpenAPI document, before any route is added.
  await installApiSchemas(app);

  // The authorization matrix test checks it covers each of these.
  const endpoints: string[] = [];
  app.addHook('onRoute', (r) => {
    for (const m of Array.isArray(r.method) ? r.method : [r.method]) endpoints.push(`${m} ${r.url}`);
  });

  const auditStore = new AuditStore(meta.db);
  const audit = new AuditLog(auditStore, app.log, now);
  const versions = new VersionStore(meta, () => ({ versions: config.versions, trashDays: config.trashDays }), now);
  meta.setRetention(versions);
  meta.setAdmission(() => {
    if (ctx.draining) throw new UnavailableError('this node is shutting down: start the upload again (through another node)', { retryAfterMs: 1000 });
  });
  const webhookStore = new WebhookStore(meta.db);
  const webhooks = new WebhookDispatcher(webhookStore, config, app.log, now, metrics);
  const hooks = new CommandHooks(config, chunks, app.log);
  audit.onRecord((e) => {
    webhooks.enqueue(e).catch((err: unknown) => app.log.error({ err, event: e.event }, 'could not queue a webhook delivery'));
    hooks.dispatch(e);
  });
  app.addHook('onClose', async () => webhooks.close());
  const defender = new Defender(config.defender, now);
  const makeLimiters = () =>
    createRateLimiters(config.rateLimit, now, (request) => {
      const ban = defender.record(request.ip, 'limit');
      if (ban) {
        // The subject is a request, or an SSH connection ({ip}) the SFTP front checks.
        const who = request.auth ? { userId: request.auth.userId, userName: request.auth.userName, tokenId: request.auth.tokenId } : {};
        const http = 'raw' in request ? (request as FastifyRequest) : null;
        void audit.record(http, { event: 'defender.ban', ok: true, target: ban.ip, ip: request.ip, ...who, details: { until: ban.until, reason: 'rate limit' } });
      }
    });
  const limiters = makeLimiters();

  // Chunk and pack bodies are streamed by their handlers, never buffered by a parser.
  app.addContentTypeParser(['application/octet-stream', '*'], (_req, payload: Readable, done) => done(null, payload));

  /** Audits an authentication failure and scores it for the defender (maybe banning). */
  const reportAuthFailure = async (request: FastifyRequest, err: unknown, who: { userName?: string; event?: string } = {}): Promise<void> => {
    const event = defenderEventOf(err);
    if (!event && !isFerryError(err, 'FERRY_ERR_FORBIDDEN')) return; // no credentials at all is not an attack
    await audit.record(request, {
      event: who.event ?? 'auth.failure',
      ok: false,
      userName: who.userName ?? null,
      details: { reason: err instanceof Error ? err.message : String(err), ...(isFerryError(err) ? err.details : {}) },
    });
    if (!event) return;
    const ban = defender.record(request.ip, event);
    if (ban) await audit.record(request, { event: 'defender.ban', ok: true, target: ban.ip, userName: who.userName ?? null, details: { until: ban.until } });
  };

  const ctx = {
    config,
    capabilities: capabilitiesOf(config),
    limits: limitsOf(config),
    meta,
    chunks,
    metrics,
    auth,
    users,
    shares: new ShareStore(meta),
    sshKeys: new SshKeyStore(meta),
    auditStore,
    audit,
    downloads: new DownloadAudit(audit, now),
    versions,
    quarantine,
    webhookStore,
    webhooks,
    hooks,
    defender,
    quota: new QuotaGuard(meta, config),
    limiters,
    now,
    reportAuthFailure,
    endpoints,
    async expireSessions() {
      const uploads = await meta.expireUploads();
      await tus.sweep();
      await dav.store.expireLocks(now());
      return uploads;
    },
    async collectGarbage(graceMs = config.gcGraceMs, options = {}) {
      const uploads = await ctx.expireSessions();
      const gc = await chunks.collectGarbage(graceMs, now());
      metrics.gcDeleted.inc(gc.chunks + gc.packs);
      // A write in progress keeps touching its temporary file: one untouched for the grace
      // time belongs to a write that died.
      const cutoff = Date.now() - graceMs;
      const leftovers = options.leftovers === false ? { count: 0, bytes: 0 } : await chunks.sweepLeftovers(() => cutoff);
      return { uploads, ...gc, leftovers };
    },
    draining: false,
    async unreadiness() {
      if (ctx.draining) return 'this node is shutting down (draining)';
      const signal = AbortSignal.timeout(READY_PROBE_MS);
      const timeout = new Promise<never>((_, reject) => signal.addEventListener('abort', () => reject(new Error(`no answer within ${READY_PROBE_MS} ms`)), { once: true }));
      try {
        await Promise.race([meta.getSetting('ready-probe'), timeout]);
      } catch (err) {
        return `the metadata database does not answer: ${(err as Error).message}`;
      }
      try {
        await Promise.race([chunks.probe(signal), timeout]);
      } catch (err) {
        return `a chunk store does not answer: ${(err as Error).message}`;
      }
      return undefined;
    },
    applyLive(next, keys) {
      // The config object is shared by reference (quota guard, routes read it per request):
      // changing its fields in place is what makes them live.
      const target = config as unknown as Record<string, unknown>;
      const source = next as unknown as Record<string, unknown>;
      for (const key of keys) for (const field of fieldsOf(key)) target[field] = source[field];
      if (keys.includes('logLevel')) app.log.level = config.logLevel;
      if (keys.includes('ipAllow') || keys.includes('ipDeny')) globalIps = new IpPolicy(config.ipAllow, config.ipDeny);
      if (keys.some((k) => k.startsWith('rateLimit'))) ctx.limiters = makeLimiters();
      ctx.limits = limitsOf(config);
      ctx.capabilities = capabilitiesOf(config);
    },
    async sweepExpiredFiles() {
      await versions.expire();
      const removed: string[] = [];
      for (;;) {
        const batch = await meta.removeExpired(500);
        removed.push(...batch);
        for (const path of batch) await audit.record(null, { event: 'file.expire', ok: true, target: path });
        if (batch.length < 500) return removed;
      }
    },
  } as Omit<ServerContext, 'shareGate'> as ServerContext;
  ctx.shareGate = new ShareGate(ctx);
  let webApp: WebApp | undefined;

  const dav = new Dav(ctx);
  const tus = new TusUploads(ctx);

  app.setErrorHandler(async (thrown: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    // Messages are written with server paths; the caller reads their own (home-relative) ones.
    const err = (request.auth && thrown instanceof FerryError ? toUserError(request.auth, thrown) : thrown) as FastifyError;
    // A refusal in the middle of a streamed body (a quota hit): the rest is not read, so the
    // connection cannot carry another request. Say so, and it closes once the answer is out
    // (otherwise a client still sending waits on a full socket, and close() on it).
    if (!request.raw.complete && request.raw.httpVersionMajor === 1 && !reply.sent) reply.header('connection', 'close');
    // Refusals of authenticated requests are security events; 401s are audited where they happen.
    if (request.auth && isFerryError(err, 'FERRY_ERR_FORBIDDEN')) {
      await audit.record(request, { event: 'access.denied', ok: false, target: `${request.method} ${request.url.split('?')[0]}`, details: { reason: err.message } });
    }
    if (isFerryError(err, 'FERRY_ERR_QUOTA_EXCEEDED') || (isFerryError(err, 'FERRY_ERR_PAYLOAD_TOO_LARGE') && err.details?.max !== undefined)) {
      await audit.record(request, { event: 'quota.exceeded', ok: false, target: `${request.method} ${request.url.split('?')[0]}`, details: { reason: err.message, ...err.details } });
    }
    const q = request.query as Record<string, unknown> | undefined;
    if (request.routeOptions.config?.htmlErrors && webApp && /text\/html/.test(request.headers.accept ?? '') && q?.format === undefined && !reply.sent) {
      // A visitor's browser on a share link gets the app's page with the status (404, 410,
      // ...), which then shows the reason it asks for as JSON; curl still gets JSON.
      const { status, error } = toHttpError(err);
      if (error.retryAfterMs !== undefined) reply.header('retry-after', Math.ceil(error.retryAfterMs / 1000));
      reply.removeHeader('www-authenticate');
      reply.header('referrer-policy', 'no-referrer');
      return webApp.sendPage(reply, status);
    }
    errorHandler(err, request, reply);
  });
  // Routing comes before authentication: a path no route serves is 404 for everyone (what a
  // route answers about stored data still needs credentials). The routes are the public
  // protocol (docs/protocol.md), so this tells nothing that is not written down.
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0];
    const error = { code: 'FERRY_ERR_NOT_FOUND', message: `no route ${request.method} ${path}` };
    if (!path.startsWith('/api/') && /text\/html/.test(request.headers.accept ?? '')) {
      reply.header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'");
      return reply.status(404).type('text/html; charset=utf-8').send(notFoundPage(request.method, path));
    }
    return reply.status(404).send({ error });
  });

  /** Why requests from `ip` are refused before anything else (global lists, a ban), if they are. */
  const addressRefusal = (ip: string): Error | undefined => {
    if (!globalIps.permits(ip)) return new ForbiddenError(`this server does not accept requests from ${ip}`);
    const ban = defender.checkBanned(ip);
    if (ban) return new BannedError(`${ip} is banned until ${new Date(ban.until).toISOString()} after repeated authentication failures`, { retryAfterMs: ban.until - now() });
    return undefined;
  };

  app.addHook('onRequest', async (request, reply) => {
    reply.header(REQUEST_ID_HEADER, request.id);
    const refusal = addressRefusal(request.ip);
    if (refusal) throw refusal;
    await ctx.limiters.perIp(request);
    if (request.raw.httpVersion === '1.1' && request.headers.host === undefined) throw new ValidationError('an HTTP/1.1 request needs a Host header');
    const routeConfig = request.routeOptions.config;
    if (routeConfig?.public || request.is404) return;
    const ip = request.ip;
    const header = request.headers.authorization;
    try {
      const ticket = (request.query as Record<string, unknown> | undefined)?.ticket;
      if (header === undefined && routeConfig?.ticket && typeof ticket === 'string') {
        request.auth = await auth.verifyTicket(ticket, ip);
      } else if (header !== undefined && header.startsWith(`Bearer ${SHARE_TOKEN_PREFIX}`)) {
        if (!routeConfig?.shareUpload) throw new AuthInvalidError('a share upload token only sends files into its upload link');
        request.auth = await ctx.shareGate.uploadContext(header.slice('Bearer '.length).trim());
      } else {
        request.auth = await auth.verify(header, ip, routeConfig?.basicAuth ? { basic: () => ctx.limiters.authPerIp(request) } : undefined);
      }
    } catch (err) {
      // WebDAV clients show a login prompt (or retry with the credentials they hold) on this challenge.
      if (routeConfig?.basicAuth && isFerryError(err) && (err.code === 'FERRY_ERR_AUTH_REQUIRED' || err.code === 'FERRY_ERR_AUTH_INVALID')) {
        reply.header('www-authenticate', 'Basic realm="Ferry", charset="UTF-8"');
      }
      const userName = routeConfig?.basicAuth ? basicUserName(request.headers.authorization) : undefined;
      await reportAuthFailure(request, err, userName !== undefined ? { userName } : {});
      throw err;
    }
    await ctx.limiters.perToken(request);
  });

  // One access-log line per request (pino JSON). The request's logger carries `reqId`
  // already (a second one made every line hold the key twice).
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unknown';
    const status = reply.statusCode;
    const seconds = reply.elapsedTime / 1000;
    metrics.requests.labels(request.method, route, String(status)).inc();
    metrics.requestDuration.labels(request.method, route, String(status)).observe(seconds);
    const bytesIn = Number(request.headers['content-length'] ?? 0);
    const bytesOut = Number(reply.getHeader('content-length') ?? 0);
    if (request.auth) {
      if (bytesIn > 0) metrics.userTraffic.labels(request.auth.userName, 'in').inc(bytesIn);
      if (bytesOut > 0) metrics.userTraffic.labels(request.auth.userName, 'out').inc(bytesOut);
    }
    request.log.info(
      {
        front: request.routeOptions.config?.front ?? 'api',
        user: request.auth?.userName,
        path: loggedPath(request),
        tokenId: request.auth?.tokenId,
        ip: request.ip,
        method: request.method,
        route,
        status,
        bytesIn,
        bytesOut,
        ms: Math.round(reply.elapsedTime * 10) / 10,
      },
      'request',
    );
  });

  registerSystemRoutes(app, ctx);
  registerUploadRoutes(app, ctx);
  registerDownloadRoutes(app, ctx);
  registerNamespaceRoutes(app, ctx);
  registerAuthRoutes(app, ctx);
  registerUserRoutes(app, ctx);
  registerSshKeyRoutes(app, ctx);
  registerTokenRoutes(app, ctx);
  registerShareRoutes(app, ctx);
  registerAdminRoutes(app, ctx);
  registerDavRoutes(app, dav);
  registerTusRoutes(app, tus);
  registerFileUploadRoutes(app, ctx);
  registerArchiveRoutes(app, ctx);
  webApp = registerWebAppRoutes(app, ctx);
  registerSharePublicRoutes(app, ctx, webApp);
  registerWebhookRoutes(app, ctx);
  registerMaintenanceRoutes(app, ctx);
  registerVersionRoutes(app, ctx);
  registerApiDocRoutes(app);
  return { app, ctx };
}

export interface RunningServer {
  app: FastifyInstance;
  ctx: ServerContext;
  /** `http://host:port` actually bound (port 0 picks a free one). */
  url: string;
  /** The admin token generated at this start (first start without FERRY_ADMIN_TOKEN only). */
  generatedToken?: string;
  /** Where the generated admin token is kept (at later starts too, while the file exists). */
  tokenFile?: string;
  /** With TLS: the certificate's fingerprint (and the local CA with --tls-self-signed). */
  tls?: { fingerprint: string; caFile?: string; selfSigned: boolean; notice?: string };
  /** With --sftp-addr: where the SFTP front listens and its host keys. */
  sftp?: { host: string; port: number; hostKeys: { type: string; fingerprint: string; publicKey: string }[] };
  /**
   * Applies the `keys` of `next` that can change while serving (settings marked `live`):
   * TLS certificate files (new connections get the new certificate, open ones keep theirs),
   * limits, IP lists, the log level, hooks, retention. Throws (changing nothing) when the
   * new certificate cannot be read. Returns the keys it could not apply live (a certificate
   * for a server started without TLS, or with a self-signed one: those need a restart).
   */
  reload(next: ServerConfig, keys: readonly string[]): Promise<string[]>;
  /**
   * Starts a graceful shutdown (SIGTERM): /readyz answers 503 so load balancers stop sending
   * new work, new upload sessions are refused (503, FERRY_ERR_UNAVAILABLE, Retry-After), and
   * everything else goes on: chunk PUTs and commits of sessions already open, downloads.
   * `close()` then waits for the requests in flight.
   */
  drain(): void;
  close(): Promise<void>;
}

/**
 * The HMAC key of web-session tokens: FERRY_SESSION_KEY (base64, shared by every node of a
 * cluster), else `DATA/session-key`, made on the first start (mode 0600). Kept out of the
 * database on purpose: a leaked database or backup must not be enough to forge sessions.
 */
async function loadSessionKey(dataDir: string): Promise<Buffer> {
  const env = process.env.FERRY_SESSION_KEY;
  if (env) {
    const key = Buffer.from(env, 'base64');
    if (key.length < 32) throw new ConfigError('FERRY_SESSION_KEY must be at least 32 bytes, base64-encoded');
    return key;
  }
  const file = join(dataDir, 'session-key');
  try {
    const key = Buffer.from((await readFile(file, 'utf8')).trim(), 'base64');
    if (key.length >= 32) return key;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const key = randomBytes(32);
  await writeFile(file, key.toString('base64') + '\n', { mode: 0o600 });
  return key;
}

/**
 * The chunk stores of `config.store`: the `/` route (default: local disk under the data
 * directory, also what the remote `local` names) and the other prefixes. Remote backends are
 * wrapped in the retry decorator: their network hiccups are retried, not reported to clients.
 */
async function openChunkStores(config: ServerConfig, dataDir: string): Promise<{ backend: StorageBackend; routes: ChunkRoute[]; defaultInDataDir: boolean }> {
  const local = (): StorageBackend => new LocalBackend({ root: join(dataDir, 'store') });
  const open = async (remote: string): Promise<StorageBackend> => {
    if (remote === 'local') return local();
    const opened = await openBackend(remote, { remotes: config.remotes });
    if (!opened.features().persistent) throw new ConfigError(`--store ${redactRemote(remote)}: a chunk store must keep what it is given`);
    return opened instanceof LocalBackend ? opened : withRetry(opened);
  };
  const specs = config.store ?? [];
  const prefixes = new Set<string>();
  let backend: StorageBackend | undefined;
  const routes: ChunkRoute[] = [];
  try {
    for (const spec of specs) {
      if (prefixes.has(spec.prefix)) throw new ConfigError(`--store: the prefix ${spec.prefix} is given twice`);
      prefixes.add(spec.prefix);
      const opened = await open(spec.remote);
      if (spec.prefix === '/') backend = opened;
      else routes.push({ prefix: spec.prefix, backend: opened });
    }
  } catch (err) {
    await Promise.all([backend, ...routes.map((r) => r.backend)].map((b) => b?.close?.()));
    throw err;
  }
  const defaultRemote = specs.find((spec) => spec.prefix === '/')?.remote;
  return { backend: backend ?? local(), routes, defaultInDataDir: defaultRemote === undefined || defaultRemote === 'local' };
}

/**
 * The metadata store: SQLite under the data directory, or the PostgreSQL server `--db` names
 * (shared by every node). Nodes sharing a database must share the session key too (a web
 * session signed by one node is checked by the next), so a PostgreSQL node does not make one
 * of its own: it needs FERRY_SESSION_KEY (or `sessionKey` in the config file).
 */
async function openMetaStore(config: ServerConfig, dataDir: string): Promise<MetaStore> {
  if (config.db === undefined) return MetaStore.openSqlite(join(dataDir, 'meta.db'), { now: config.now });
  if (config.sessionKey === undefined && !process.env.FERRY_SESSION_KEY) {
    throw new ConfigError('--db postgres://… is for nodes that share one database: give them all the same FERRY_SESSION_KEY (openssl rand -base64 32), or web sessions made by one node fail on the others');
  }
  try {
    return await MetaStore.openPostgres(config.db, { now: config.now, poolSize: config.dbPool });
  } catch (err) {
    throw new ConfigError(`cannot use the metadata database ${redactDbUrl(config.db)}: ${(err as Error).message}`, { cause: err });
  }
}

/** Opens the stores under `config.dataDir`, listens, and starts the background sweepers. */
export async function startServer(config: ServerConfig): Promise<RunningServer> {
  if (config.adminToken !== undefined) {
    const weak = weakSecretReason(config.adminToken);
    if (weak) {
      throw new ConfigError(
        `FERRY_ADMIN_TOKEN is too weak to guard the server: ${weak}. Use a random one (openssl rand -hex 32), or leave it unset and Ferry makes one`,
      );
    }
  }
  const dataDir = resolve(config.dataDir);
  await mkdir(dataDir, { recursive: true, mode: 0o700 }).catch((err: unknown) => {
    throw new ConfigError(`cannot use the data directory ${dataDir}: ${(err as Error).message}`, { cause: err });
  });
  // Undone in reverse order when the start fails half-way, and by close().
  const undo: Array<() => Promise<unknown>> = [];
  const unwind = async (): Promise<void> => {
    for (const step of undo.splice(0).reverse()) await step().catch(() => {});
  };
  const lock = await lockDataDir(dataDir);
  undo.push(() => lock.release());
  try {
    const tls = await loadTls({ certFile: config.tlsCert, keyFile: config.tlsKey, selfSigned: config.tlsSelfSigned, dataDir, hostnames: [config.host, ...(config.tlsHostnames ?? [])] });
    const sessionKey = config.sessionKey ?? (await loadSessionKey(dataDir));
    const { backend, routes, defaultInDataDir } = await openChunkStores(config, dataDir);
    const stores = [backend, ...routes.map((r) => r.backend)];
    undo.push(() => Promise.all(stores.map((b) => b.close?.())));
    const meta = await openMetaStore(config, dataDir);
    undo.push(() => meta.close());
    const { app, ctx } = await buildApp({ config: { ...config, sessionKey }, meta, backend, routes, tls });
    // Background work of the chunk store (old copies being removed) ends before the metadata closes.
    undo.push(() => ctx.chunks.settled());
    undo.push(() => app.close());
    // What writes of a server that died left behind. Nothing can be writing into the store
    // under the (locked) data directory yet: all of it goes. Other stores may be shared with
    // other nodes: only what is older than the grace time.
    const started = Date.now();
    const leftovers = await ctx.chunks.sweepLeftovers((store) => (store === null && defaultInDataDir ? started : started - config.gcGraceMs));
    if (leftovers.count > 0) app.log.info(leftovers, 'removed leftovers of interrupted chunk writes');
    const timers = startSweepers(config, app, ctx);
    undo.push(async () => timers.forEach((t) => clearInterval(t)));

    const address = await app.listen({ host: config.host, port: config.port }).catch((err: unknown) => {
      throw listenError(err, config.host, config.port);
    });
    let sftp: SftpFront | undefined;
    if (config.sftp) {
      // Loaded only when SFTP is on: ssh2 is not part of every server's start.
      const { startSftpFront } = await import('./sftp/ssh-server.js');
      const { host, port } = config.sftp;
      sftp = await startSftpFront(ctx, { ...config.sftp, passwordAuth: config.sftp.passwordAuth || config.sftpPasswordAuth === true, dataDir, log: app.log }).catch((err: unknown) => {
        throw listenError(err, host, port, '--sftp-addr');
      });
      const front = sftp;
      undo.push(() => front.close());
    }
    // Only now: a start that failed to listen must not have shown (and used up) the token.
    const boot = await ctx.auth.bootstrap(dataDir, config.adminToken);
    ctx.webhooks.start();
    return {
      app,
      ctx,
      url: address,
      ...boot,
      // A getter: a reloaded certificate changes the fingerprint.
      ...(tls ? { get tls() { return { fingerprint: tls.fingerprint, caFile: tls.caFile, selfSigned: tls.selfSigned, ...(tls.notice ? { notice: tls.notice } : {}) }; } } : {}),
      ...(sftp ? { sftp: { host: sftp.host, port: sftp.port, hostKeys: sftp.hostKeys.map((k) => ({ type: k.type, fingerprint: k.fingerprint, publicKey: k.publicKey })) } } : {}),
      reload: (next, keys) => reloadLive(app, ctx, tls, dataDir, config, next, keys),
      drain: () => void (ctx.draining = true),
      close: unwind,
    };
  } catch (err) {
    await unwind();
    throw err;
  }
}

/** RunningServer.reload: the TLS certificate files here, the other live settings by the context. */
async function reloadLive(
  app: FastifyInstance,
  ctx: ServerContext,
  tls: Awaited<ReturnType<typeof loadTls>>,
  dataDir: string,
  config: ServerConfig,
  next: ServerConfig,
  keys: readonly string[],
): Promise<string[]> {
  const tlsKeys: string[] = keys.filter((k) => k === 'tlsCert' || k === 'tlsKey');
  if (tlsKeys.length > 0 && (!tls || tls.selfSigned)) {
    ctx.applyLive(next, keys.filter((k) => !tlsKeys.includes(k)));
    return tlsKeys;
  }
  if (tlsKeys.length > 0 && tls) {
    const fresh = await loadTls({ certFile: next.tlsCert, keyFile: next.tlsKey, dataDir, hostnames: [config.host] });
    if (!fresh) throw new ConfigError('tlsCert and tlsKey cannot be removed from a running HTTPS server: restart it');
    (app.server as unknown as { setSecureContext(o: { cert: string | Buffer; key: string | Buffer }): void }).setSecureContext({ cert: fresh.cert, key: fresh.key });
    tls.fingerprint = fresh.fingerprint;
  }
  ctx.applyLive(next, keys);
  return [];
}

/**
 * The file or directory a request is about, for the access log: the server path of a route
 * with a `*path` (files, stat, list, manifests, mkdir; within the link for a share link) or a JSON body naming one (moves, copies), as the operator
 * would look for it on disk or in the audit; undefined for other routes.
 */
function loggedPath(request: FastifyRequest): string | undefined {
  const rest = (request.params as Record<string, string> | undefined)?.['*'] ?? bodyPath(request.body);
  if (rest === undefined) return undefined;
  try {
    const path = normalizePath(rest);
    return request.auth ? toServerPath(request.auth, path) : path;
  } catch {
    return rest.slice(0, 512); // not a valid path (refused): as it came
  }
}

/** The `path` (or a move's or copy's `from`) of a JSON body: what an operation route is about. */
function bodyPath(body: unknown): string | undefined {
  if (!body || typeof body !== 'object' || Buffer.isBuffer(body)) return undefined;
  const { path, from } = body as { path?: unknown; from?: unknown };
  if (typeof path === 'string') return path;
  return typeof from === 'string' ? from : undefined;
}

/** Why the server cannot listen, as the operator's mistake it almost always is (exit 2, not "unexpected"). */
function listenError(err: unknown, host: string, port: number, option = '--addr'): Error {
  const code = (err as NodeJS.ErrnoException).code;
  const where = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  const why: Record<string, string> = {
    EADDRINUSE: `the port is in use (another server listens there): pick another ${option}, or stop that server`,
    EADDRNOTAVAIL: `${host} is not an address of this machine: use one of its addresses in ${option}, or 0.0.0.0 for all`,
    ENOTFOUND: `the host ${host} is unknown here`,
    EAI_AGAIN: `the host ${host} could not be resolved (DNS unavailable?)`,
    EACCES: 'permission denied (ports below 1024 need privileges)',
    EAFNOSUPPORT: 'this machine has no such address family (IPv6?)',
  };
  const text = code === undefined ? undefined : why[code];
  return text === undefined ? (err as Error) : new ConfigError(`cannot listen on ${where}: ${text}`, { cause: err });
}

/** How often background garbage collection also sweeps leftovers of interrupted writes. */
const LEFTOVER_SWEEP_EVERY_MS = 3600_000;

/** How long a node holds a sweep's lease unless it renews it (it does, every third of this, while it works). */
const SWEEP_LEASE_MS = 5 * 60_000;

/**
 * The background jobs: expired upload sessions, expired files, chunk garbage collection.
 * Each runs under a lease (src/store/leases.ts): when several nodes share the database, one
 * of them does each round and the others skip it. (Two collections at once would be safe,
 * only wasteful: see ChunkIndex.)
 */
function startSweepers(config: ServerConfig, app: FastifyInstance, ctx: ServerContext): NodeJS.Timeout[] {
  const timers: NodeJS.Timeout[] = [];
  const every = (ms: number, work: () => Promise<unknown>, what: string) => {
    if (ms <= 0) return;
    let running = false;
    const job = () => ctx.meta.leases.run(what, SWEEP_LEASE_MS, work);
    const t = setInterval(() => {
      if (running) return;
      running = true;
      job()
        .catch((err: unknown) => app.log.error({ err }, `${what} failed`))
        .finally(() => (running = false));
    }, ms);
    t.unref();
    timers.push(t);
  };
  every(config.sweepIntervalMs, async () => {
    const n = await ctx.expireSessions();
    if (n > 0) app.log.info({ expired: n }, 'expired upload sessions removed');
  }, 'upload sweep');
  every(config.ttlSweepIntervalMs, async () => {
    const removed = await ctx.sweepExpiredFiles();
    if (removed.length > 0) app.log.info({ expired: removed.length }, 'expired files removed');
  }, 'file TTL sweep');
  // Leftovers of interrupted writes are looked for at most hourly: it walks the whole store.
  let leftoversDue = Date.now() + LEFTOVER_SWEEP_EVERY_MS;
  every(config.gcIntervalMs, async () => {
    const leftovers = Date.now() >= leftoversDue;
    if (leftovers) leftoversDue = Date.now() + LEFTOVER_SWEEP_EVERY_MS;
    const r = await ctx.collectGarbage(undefined, { leftovers });
    if (r.chunks + r.packs + r.leftovers.count > 0) app.log.info(r, 'garbage collected');
  }, 'garbage collection');
  return timers;
}
