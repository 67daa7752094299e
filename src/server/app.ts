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
import { chmod, readFile } from 'node:fs/promises';
import { replaceFile } from './replace-file.js';
import { join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import pino from 'pino';
import { logSinkFor } from './log-pretty.js';
import { AuthInvalidError, BannedError, ConfigError, FerryError, ForbiddenError, NoSpaceError, UnavailableError, ValidationError, isFerryError } from '../core/errors.js';
import { normalizePath } from '../core/path.js';
import { API_PREFIX, REQUEST_ID_HEADER } from '../core/protocol.js';
import type { StorageBackend } from '../core/storage.js';
import { formatSize, sizeFlagText } from '../core/units.js';
import { AuditStore } from '../store/audit-store.js';
import { AuthStore } from '../store/auth-store.js';
import { BanStore } from '../store/ban-store.js';
import { DavStore } from '../store/dav-store.js';
import { WebhookStore } from '../store/webhook-store.js';
import { QuarantineStore } from '../store/quarantine-store.js';
import { VersionStore } from '../store/version-store.js';
import { ChunkStore, type ChunkRoute } from '../store/chunk-store.js';
import { MetaStore } from '../store/meta-store.js';
import { ShareStore } from '../store/share-store.js';
import { SshKeyStore } from '../store/ssh-key-store.js';
import { LocalBackend, mkdirDurable } from '../backends/local/local-backend.js';
import { withRetry } from '../backends/decorators/retry.js';
import { EncryptedBackend, migrateToEncrypted, reencryptStore } from '../backends/decorators/encryption.js';
import { masterKeyFromText, openRing, readMasterKeyFile, refuseEncryptedWithoutKey, saveRing } from '../backends/decorators/key-ring.js';
import { openBackend, redactRemote } from '../remotes/index.js';
import { AuditLog, frontOf, quotaRefusal } from './audit.js';
import { CommandHooks } from './hooks.js';
import { DownloadAudit } from './download-audit.js';
import { WebhookDispatcher } from './webhooks.js';
import { Authenticator, basicUserName, defenderEventOf, type AdminTokenNotice } from './auth.js';
import type { RoutePlugin, ServerContext } from './context.js';
import { toServerPath, toUserError } from './authz.js';
import { capabilitiesOf, checkConfigFields, limitsOf, redactDbUrl, type ServerConfig } from './config.js';
import { SETTINGS_BY_KEY } from './settings.js';
import { Defender } from './defender.js';
import { SharedBans } from './shared-bans.js';
import { errorHandler, notFoundPage, toHttpError, writeClientError } from './http-errors.js';
import { plainPageHeaders } from './html.js';
import { continueOnFirstRead } from './expect-continue.js';
import { canonicalizeForwardedFor } from './forwarded-for.js';
import { IpPolicy } from './ip-filter.js';
import { createRateLimiters, type RateLimiters } from './limits.js';
import { ServerMetrics } from './metrics.js';
import { BodyMemory } from './chunk-bodies.js';
import { ingestMinimum } from './ingest.js';
import { weakSecretReason } from './secret-strength.js';
import { QuotaGuard } from './quota.js';
import { installApiSchemas, schemaCompilers } from './openapi.js';
import { SHARE_TOKEN_PREFIX, ShareGate, toVisitorError } from './share-gate.js';
import { adminRoutes } from './routes/admin.js';
import { apiDocRoutes } from './routes/api-docs.js';
import { archiveRoutes } from './routes/archives.js';
import { authRoutes } from './routes/auth.js';
import { downloadRoutes } from './routes/downloads.js';
import { fileUploadRoutes } from './routes/file-uploads.js';
import { maintenanceRoutes } from './routes/maintenance.js';
import { namespaceRoutes } from './routes/namespace.js';
import { sharePublicRoutes } from './routes/share-public.js';
import { shareRoutes } from './routes/shares.js';
import { sshKeyRoutes } from './routes/ssh-keys.js';
import { systemRoutes } from './routes/system.js';
import { tokenRoutes } from './routes/tokens.js';
import { uploadRoutes } from './routes/uploads.js';
import { userRoutes } from './routes/users.js';
import { versionRoutes } from './routes/versions.js';
import { noRouteError, WebApp, webAppRoutes } from './routes/web-app.js';
import { webhookRoutes } from './routes/webhooks.js';
import { DAV_METHODS, davRoutes } from './dav/index.js';
import { DAV_PREFIX } from './dav/paths.js';
import { tusRoutes } from './tus/routes.js';
import { TusUploads } from './tus/uploads.js';
import type { SftpFront } from './sftp/ssh-server.js';
import { loadTls, type TlsMaterial } from './tls.js';
import { dataDirAccessError, dataDirCreateError } from './data-dir-access.js';
import { lockDataDir } from './data-lock.js';
import { ConnectionTracker, trackSockets } from './connections.js';
import { handshakeTimeoutOf, SlowClientGuard } from './slow-clients.js';
import type { Http2SecureServer } from 'node:http2';
import { DiskReserve } from './disk-reserve.js';

export interface BuildOptions {
  config: ServerConfig;
  meta: MetaStore;
  /** The default chunk store. */
  backend: StorageBackend;
  /** Path prefixes whose new chunks go elsewhere (`--store /archive=...`). */
  routes?: ChunkRoute[];
  logger?: pino.Logger;
  tls?: TlsMaterial;
  /** The default chunk store is the data directory's own (`DATA/store`): this node alone writes it (see {@link storeClock}). */
  defaultInDataDir?: boolean;
}

/**
 * Every route module (a Fastify plugin given the context), in the order they are registered:
 * the native API, then the other fronts (WebDAV, tus, one-request uploads, zips, the web app
 * and share links), then operations and the API's own description.
 */
const ROUTES: readonly RoutePlugin[] = [
  systemRoutes,
  uploadRoutes,
  downloadRoutes,
  namespaceRoutes,
  authRoutes,
  userRoutes,
  sshKeyRoutes,
  tokenRoutes,
  shareRoutes,
  adminRoutes,
  davRoutes,
  tusRoutes,
  fileUploadRoutes,
  archiveRoutes,
  webAppRoutes,
  sharePublicRoutes,
  webhookRoutes,
  maintenanceRoutes,
  versionRoutes,
  apiDocRoutes,
];

/**
 * The app: the Fastify instance with its connection guards, request validation and the
 * OpenAPI document, the context every route module receives, the error and not-found
 * handlers, the request hooks (address checks, limits, authentication, the access log), then
 * the route modules.
 */
export async function buildApp(options: BuildOptions): Promise<{ app: FastifyInstance; ctx: ServerContext }> {
  const { config } = options;
  // The metadata store's clock: on PostgreSQL the database's, so that an expiry or a ban one
  // node writes means the same time on every node (src/store/meta-store.ts, openPostgres).
  const now = config.now ?? options.meta.now;
  const metrics = new ServerMetrics();
  const defender = new Defender(config.defender, now);
  const addresses = new AddressChecks(config, defender, now);
  const app = createFastify(options, metrics, addresses);
  // Route schemas (validation) and the OpenAPI document, before any route is added.
  await installApiSchemas(app);
  // Nodes sharing PostgreSQL share their bans and scores; on SQLite one process holds them all.
  const shared = options.meta.dialect === 'postgres' ? new SharedBans(defender, new BanStore(options.meta.db), app.log, now) : undefined;
  const scoreFailure: ServerContext['scoreFailure'] = shared ? (ip, event) => shared.record(ip, event) : async (ip, event) => defender.record(ip, event);
  const ctx = serverContext(options, app, { now, metrics, defender, scoreFailure, addresses });
  if (shared) {
    shared.start();
    app.addHook('onClose', () => shared.close());
  }
  setErrorHandling(app, ctx);
  addRequestHooks(app, ctx, addresses);
  for (const routes of ROUTES) await app.register(routes, { ctx });
  return { app, ctx };
}

/**
 * Why requests from an address are refused before anything else: the global allow and deny
 * lists (replaced when a reload changes them), a ban by the defender.
 */
class AddressChecks {
  private lists: IpPolicy;

  constructor(
    config: ServerConfig,
    private readonly defender: Defender,
    private readonly now: () => number,
  ) {
    this.lists = new IpPolicy(config.ipAllow, config.ipDeny);
  }

  setLists(config: ServerConfig): void {
    this.lists = new IpPolicy(config.ipAllow, config.ipDeny);
  }

  refusal(ip: string): Error | undefined {
    if (!this.lists.permits(ip)) return new ForbiddenError(`this server does not accept requests from ${ip}`);
    const ban = this.defender.checkBanned(ip);
    if (ban) return new BannedError(`${ip} is banned until ${new Date(ban.until).toISOString()} after repeated authentication failures`, { retryAfterMs: ban.until - this.now() });
    return undefined;
  }
}

/** The Fastify instance (HTTP/1.1, or HTTPS with HTTP/2 and HTTP/1.1), with its connection guards. */
/**
 * Requests at once on one HTTP/2 connection (what the server announces; nghttp2 refuses
 * streams past it). Node's default is 2^32-1: one connection held 20,000 requests whose
 * bodies never came (270 MB), and one address held 60,000 until the rate limit stopped it,
 * where HTTP/1.1 gives it `maxConnectionsPerIp` requests. 100 is RFC 9113's lowest
 * recommended value (nginx 128, Apache 100).
 */
export const MAX_HTTP2_STREAMS = 100;

/** The log of a server given nowhere to write it. */
const DISCARD = { write: (_line: string) => {} };

function createFastify(options: BuildOptions, metrics: ServerMetrics, addresses: AddressChecks): FastifyInstance {
  const { config } = options;
  // Silent unless told where to log (`ferry serve` says stdout): an embedding program's stdout is its own.
  const logger =
    options.logger ?? config.logger ?? (config.logDestination ? pino({ level: config.logLevel }, logSinkFor(config.logDestination, config.logFormat ?? 'auto')) : pino({ level: 'silent' }, DISCARD));
  const fastifyOptions = {
    loggerInstance: logger as FastifyBaseLogger,
    // Our own one-line access log replaces Fastify's two lines per request.
    logController: new LogController({ disableRequestLogging: true }),
    exposeHeadRoutes: false,
    bodyLimit: 8 * 1024 * 1024,
    genReqId: (req: object) => {
      const id = randomBytes(8).toString('hex');
      requestIds.set(req, id);
      return id;
    },
    requestIdHeader: false as const,
    routerOptions: { maxParamLength: 8192, ignoreDuplicateSlashes: true },
    // X-Forwarded-For (and -Proto, -Host) count only from the configured proxies; request.ip
    // is then the address they forwarded, everywhere request.ip is used (IP lists, rate
    // limits, the defender, audit, logs). Without --trust-proxy the headers are ignored.
    trustProxy: config.trustProxy.length > 0 ? [...config.trustProxy] : false,
    // Our lazily compiled validators (./openapi.ts): Fastify's ajv and fast-json-stringify compilers are never loaded.
    schemaController: schemaCompilers as never,
    // Requests the router refuses (a URL that is not valid percent-encoding, a parameter
    // past maxParamLength) never reach the hooks: they get our error format here, and the
    // address checks all the same (a banned address is told it is banned).
    frameworkErrors: ((err: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
      reply.header(REQUEST_ID_HEADER, request.id);
      errorHandler(addresses.refusal(request.ip) ?? err, request, reply);
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
      ? Fastify({ ...fastifyOptions, http2: true, https: { allowHTTP1: true, cert: options.tls.cert, key: options.tls.key, handshakeTimeout: handshakeTimeoutOf(config.connections), settings: { maxConcurrentStreams: MAX_HTTP2_STREAMS } } })
      : Fastify({ ...fastifyOptions, ...http1Options })
  ) as unknown as FastifyInstance;
  if (options.tls) {
    const tracker = new ConnectionTracker(app.server as unknown as Http2SecureServer);
    app.addHook('preClose', async () => tracker.closeAll());
  }
  continueOnFirstRead(app.server as unknown as Http2SecureServer);
  if (config.trustProxy.length > 0) canonicalizeForwardedFor(app.server as unknown as Http2SecureServer);
  const guard = new SlowClientGuard(app.server as unknown as Http2SecureServer, config.connections, {
    refused: (address) => {
      metrics.connectionsRefused.inc();
      app.log.warn({ ip: address, max: config.connections.maxPerAddress }, 'connection refused: too many from this address');
    },
    cut: (address, why, request) => {
      metrics.slowClientsCut.inc({ phase: why });
      // With the request's id, as its other lines have it (a head cut is no request yet).
      const reqId = request && requestIds.get(request);
      app.log.warn({ ...(reqId ? { reqId } : {}), ip: address, phase: why }, why === 'head' ? 'connection closed: request head too slow' : why === 'body' ? 'request cut: body too slow' : 'answer cut: the client took none of it');
    },
  });
  app.addHook('onClose', async () => guard.close());
  // Chunk and pack bodies are streamed by their handlers, never buffered by a parser.
  app.addContentTypeParser(['application/octet-stream', '*'], (_req, payload: Readable, done) => done(null, payload));
  // A bodiless POST or DELETE sent with `Content-Type: application/json` (many HTTP clients
  // set it on every request) is a request without a body, as it is without the header;
  // Fastify's own parser refuses it (FST_ERR_CTP_EMPTY_JSON_BODY). Bodies are parsed by it.
  const json = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => (body === '' ? done(null, undefined) : json(request, body as string, done)));
  return app;
}

/** The chunk store over the default backend and the routed ones, reporting to the metrics and the log. */
function chunkStoreOf(options: BuildOptions, app: FastifyInstance, metrics: ServerMetrics): ChunkStore {
  const { config, meta, backend } = options;
  return new ChunkStore({
    backend,
    routes: options.routes,
    meta,
    maxChunkSize: config.chunking.maxSize,
    durable: config.durable,
    unreferencedMinAgeMs: config.gcMinAgeMs,
    events: {
      stored: (bytes) => {
        metrics.chunksReceived.inc();
        metrics.chunkBytesReceived.inc(bytes);
      },
      deduplicated: () => metrics.chunksDeduplicated.inc(),
      encoded: (_plain, stored) => metrics.chunkStoredBytesWritten.inc(stored),
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
}

/** The rate limiters of `config.rateLimit`; hitting one counts for the defender (which may ban). */
function rateLimiters(config: ServerConfig, now: () => number, scoreFailure: ServerContext['scoreFailure'], audit: AuditLog): RateLimiters {
  return createRateLimiters(config.rateLimit, now, (request) => {
    void scoreFailure(request.ip, 'limit').then((ban) => {
      if (!ban) return;
      // The subject is a request, or an SSH connection ({ip}) the SFTP front checks.
      const who = request.auth ? { userId: request.auth.userId, userName: request.auth.userName, tokenId: request.auth.tokenId } : {};
      const http = 'raw' in request ? (request as FastifyRequest) : null;
      return audit.record(http, { event: 'defender.ban', ok: true, target: ban.ip, ip: request.ip, ...who, details: { until: ban.until, reason: 'rate limit' } });
    });
  });
}

/** ServerContext.reportAuthFailure: audits an authentication failure and scores it for the defender (maybe banning). */
function authFailureReporter(audit: AuditLog, scoreFailure: ServerContext['scoreFailure']): ServerContext['reportAuthFailure'] {
  return async (request, err, who = {}) => {
    const event = defenderEventOf(err);
    if (!event && !isFerryError(err, 'FERRY_ERR_FORBIDDEN')) return; // no credentials at all is not an attack
    await audit.record(request, {
      event: who.event ?? 'auth.failure',
      ok: false,
      userName: who.userName ?? null,
      details: { reason: err instanceof Error ? err.message : String(err), ...(isFerryError(err) ? err.details : {}) },
    });
    if (!event) return;
    const ban = await scoreFailure(request.ip, event);
    if (ban) await audit.record(request, { event: 'defender.ban', ok: true, target: ban.ip, userName: who.userName ?? null, details: { until: ban.until } });
  };
}

/** nginx's status for a request whose client went away before any answer: never sent, only logged and counted. */
const CLIENT_CLOSED_REQUEST = 499;

/**
 * The body memory budget, reported in the metrics. A compressed chunk reserves its frame and
 * the chunk (2 × the largest chunk), which must fit in what whole bodies may take.
 */
function bodyMemoryOf(config: ServerConfig, metrics: ServerMetrics): { bodies: BodyMemory; sendMemory: BodyMemory; ingestMemory: BodyMemory } {
  const bodies = new BodyMemory(config.bodyMemory);
  if (bodies.largestWhole < 2 * config.chunking.maxSize) {
    throw new ConfigError(`--body-memory ${formatSize(config.bodyMemory)} is too small for chunks of up to ${formatSize(config.chunking.maxSize)}: give it at least ${sizeFlagText((8 / 3) * config.chunking.maxSize)}`);
  }
  // As much again for chunks read for responses: its own budget, so that uploads and
  // downloads never wait for each other.
  // Lent only as reservations of a chunk each: one user (or link) always leaves a chunk's room.
  const sendMemory = new BodyMemory(config.bodyMemory, config.chunking.maxSize);
  // Streamed uploads (./ingest.ts) are cut by the server, which holds up to a chunking area
  // and a few chunks of each (12 MiB and up to 5 × 1-4 MiB by default): a budget of their own,
  // four times as large, one user always leaving the others room for one upload of unknown length.
  const ingestMemory = new BodyMemory(4 * config.bodyMemory, ingestMinimum(config.chunking));
  metrics.watchBodyMemory({ in: () => bodies.stats(), out: () => sendMemory.stats(), stream: () => ingestMemory.stats() });
  return { bodies, sendMemory, ingestMemory };
}

/** The stores and services of the routes, over the given metadata and chunk backends. */
function serverContext(
  options: BuildOptions,
  app: FastifyInstance,
  parts: { now: () => number; metrics: ServerMetrics; defender: Defender; scoreFailure: ServerContext['scoreFailure']; addresses: AddressChecks },
): ServerContext {
  const { config, meta } = options;
  const { now, metrics, defender, scoreFailure } = parts;
  const chunks = chunkStoreOf(options, app, metrics);
  const { bodies, sendMemory, ingestMemory } = bodyMemoryOf(config, metrics);
  const users = new AuthStore(meta);
  const auth = new Authenticator(meta, users, {
    now,
    sessionKey: config.sessionKey ?? randomBytes(32),
    accessTtlMs: config.accessTokenTtlMs,
    refreshTtlMs: config.refreshTokenTtlMs,
    scryptCost: config.scryptCost,
    maxTokensPerUser: () => config.maxTokensPerUser,
  });
  // The authorization matrix test checks it covers each of these.
  const endpoints: string[] = [];
  app.addHook('onRoute', (r) => {
    for (const m of Array.isArray(r.method) ? r.method : [r.method]) endpoints.push(`${m} ${r.url}`);
  });

  const auditStore = new AuditStore(meta.db);
  const audit = new AuditLog(auditStore, app.log, now);
  const versions = new VersionStore(meta, () => ({ versions: config.versions, trashDays: config.trashDays }), now);
  meta.setRetention(versions);
  meta.setChunkReader((hash) => chunks.read(hash));
  // A draining node opens no new upload sessions (whatever the front); those open finish.
  meta.setAdmission(() => {
    if (ctx.draining) throw new UnavailableError('this node is shutting down: start the upload again (through another node)', { retryAfterMs: 1000 });
    // The room left is kept for deletes (./disk-reserve.ts).
    if (ctx.disk.full) throw new NoSpaceError("the server's disk is full: upload again once files are deleted");
  });
  // Every audited event also goes to the webhooks that want it and the command hooks.
  const webhookStore = new WebhookStore(meta.db);
  const webhooks = new WebhookDispatcher(webhookStore, config, app.log, now, metrics);
  const hooks = new CommandHooks(config, chunks, app.log);
  audit.onRecord((e) => {
    webhooks.enqueue(e).catch((err: unknown) => app.log.error({ err, event: e.event }, 'could not queue a webhook delivery'));
    hooks.dispatch(e);
  });
  app.addHook('onClose', async () => webhooks.close());

  // The services below take the context itself: it is completed once they exist.
  // Sessions abandonUpload could not abort: expireSessions tries again.
  const abandoned = new Set<string>();
  const ctx = {
    config,
    capabilities: capabilitiesOf(config),
    limits: limitsOf(config),
    meta,
    chunks,
    bodies,
    sendMemory,
    ingestMemory,
    metrics,
    auth,
    users,
    shares: new ShareStore(meta),
    sshKeys: new SshKeyStore(meta),
    auditStore,
    audit,
    downloads: new DownloadAudit(audit, now),
    versions,
    quarantine: new QuarantineStore(meta.db),
    webhookStore,
    webhooks,
    hooks,
    davStore: new DavStore(meta),
    webApp: new WebApp(),
    defender,
    scoreFailure,
    quota: new QuotaGuard(meta, config),
    limiters: rateLimiters(config, now, scoreFailure, audit),
    now,
    reportAuthFailure: authFailureReporter(audit, scoreFailure),
    endpoints,
    expireSessions: () => expireSessions(ctx, abandoned),
    abandonUpload: (id) => ctx.meta.abortUpload(id).catch(() => void abandoned.add(id)),
    storeNow: storeClock(meta, options.defaultInDataDir === true),
    collectGarbage: (graceMs = config.gcGraceMs, opts = {}) => collectGarbage(ctx, graceMs, opts.leftovers !== false),
    applyLive: (next, keys) => applyLive(ctx, app, parts.addresses, next, keys),
    sweepExpiredFiles: () => sweepExpiredFiles(ctx),
    draining: false,
    disk: new DiskReserve(resolve(config.dataDir), app.log, (full) => metrics.dataDiskFull.set(full ? 1 : 0)),
    unreadiness: cachedReadiness(() => ctx, now),
  } as Omit<ServerContext, 'shareGate' | 'tus'> as ServerContext;
  ctx.shareGate = new ShareGate(ctx);
  ctx.tus = new TusUploads(ctx);
  return ctx;
}

/** ServerContext.expireSessions: abandoned and expired upload sessions (native and tus, with their tails) and WebDAV locks. */
async function expireSessions(ctx: ServerContext, abandoned: Set<string>): Promise<number> {
  for (const id of abandoned) {
    // Still failing (the disk still full): the sweep fails as the abort did, and tries again next time.
    await ctx.meta.abortUpload(id).catch((err: unknown) => {
      if (!isFerryError(err, 'FERRY_ERR_UPLOAD_NOT_FOUND')) throw err;
    });
    abandoned.delete(id);
  }
  const uploads = await ctx.meta.expireUploads();
  await ctx.tus.sweep();
  await ctx.davStore.expireLocks(ctx.now());
  return uploads;
}

/**
 * ServerContext.collectGarbage: expired sessions, unreferenced chunks and (unless told not
 * to) leftovers of interrupted writes and objects the index does not point at.
 */
async function collectGarbage(ctx: ServerContext, graceMs: number, leftovers: boolean): ReturnType<ServerContext['collectGarbage']> {
  const uploads = await ctx.expireSessions();
  // The cutoff on the clock chunk rows are written with (the database's on PostgreSQL).
  const gc = await ctx.chunks.collectGarbage(graceMs);
  ctx.metrics.gcDeleted.inc(gc.chunks + gc.packs);
  // A write in progress keeps touching its temporary file: one untouched for the grace
  // time belongs to a write that died.
  const swept = leftovers ? await ctx.chunks.sweepLeftovers((store) => ctx.storeNow(store) - graceMs) : { count: 0, bytes: 0 };
  // An upload stores its chunk's object before the row that points at it: an object without
  // a row younger than the grace time may be one on its way in.
  const unreferenced = leftovers ? await ctx.chunks.sweepUnreferenced(graceMs, { remove: true, storeNow: ctx.storeNow }) : { chunks: 0, packs: 0, bytes: 0 };
  return { uploads, ...gc, leftovers: swept, unreferenced };
}

/**
 * ServerContext.storeNow: the clock a chunk store's object times are judged by (a leftover of
 * an interrupted write, an object no row points at, each taken for dead past the grace time).
 * In the store under the data directory (`ownDefault`) only this node writes, with its own
 * clock. Another store may be shared by a cluster's nodes, and its objects are written by
 * whichever node: they are judged on the shared clock (the database's on PostgreSQL,
 * src/store/shared-clock.ts). On this node's clock, a node whose clock ran ahead of the
 * others' by more than the grace time deleted their writes in progress (2 h ahead with the 1 h
 * grace: a temporary file written now, test/server/leftovers.test.ts; a pack stored and not
 * yet indexed, test/deploy/cluster-clocks.test.ts).
 */
function storeClock(meta: MetaStore, ownDefault: boolean): (store: string | null) => number {
  return (store) => (store === null && ownDefault ? Date.now() : meta.sharedNow());
}

/** Each raw request's id (Fastify's `reqId`), for what reports on raw requests (the slow-client guard). */
const requestIds = new WeakMap<object, string>();

/** How often a full data disk is looked at for room (./disk-reserve.ts). */
const DISK_RECHECK_MS = 10_000;

/** How long a readiness probe waits for the database and the chunk stores. */
const READY_PROBE_MS = 3000;

/**
 * How long one probe's answer stands: /readyz is not rate-limited (a load balancer probes
 * from the address of real clients), so a flood of it must not drive a database read and a
 * request to every chunk store each; it costs one probe per READY_CACHE_MS instead.
 */
const READY_CACHE_MS = 1000;

/**
 * ServerContext.unreadiness: draining (said at once, never cached), or the last probe's
 * answer while it is younger than READY_CACHE_MS (concurrent callers share the probe in
 * flight), or a new probe. On the server's clock, so tests step it instead of sleeping.
 */
function cachedReadiness(ctxOf: () => ServerContext, now: () => number): ServerContext['unreadiness'] {
  let last: { at: number; answer: Promise<string | undefined> } | undefined;
  return (log) => {
    const ctx = ctxOf();
    if (ctx.draining) return Promise.resolve('this node is shutting down (draining)');
    const at = now();
    // A clock set back (at < last.at) probes again rather than trusting an answer from "the future".
    if (!last || at - last.at >= READY_CACHE_MS || at < last.at) last = { at, answer: unreadiness(ctx, log) };
    return last.answer;
  };
}

/** A readiness probe: the metadata database or a chunk store not answering within READY_PROBE_MS. */
async function unreadiness(ctx: ServerContext, log?: FastifyBaseLogger): Promise<string | undefined> {
  const signal = AbortSignal.timeout(READY_PROBE_MS);
  const timeout = new Promise<never>((_, reject) => signal.addEventListener('abort', () => reject(new Error(`no answer within ${READY_PROBE_MS} ms`)), { once: true }));
  try {
    await Promise.race([ctx.meta.getSetting('ready-probe'), timeout]);
  } catch (err) {
    // The answer is public: the cause (a host, a path) goes to the log only.
    log?.warn({ err }, 'not ready: the metadata database does not answer');
    return 'the metadata database does not answer';
  }
  await ctx.disk.check().catch((err: unknown) => log?.warn({ err }, "could not check the data directory's disk"));
  const full = ctx.disk.unreadiness();
  if (full !== undefined) return full;
  try {
    await Promise.race([ctx.chunks.probe(signal), timeout]);
  } catch (err) {
    log?.warn({ err }, 'not ready: a chunk store does not answer');
    return 'a chunk store does not answer';
  }
  return undefined;
}

/** ServerContext.sweepExpiredFiles: old versions, trash and audit entries past retention, then files past their TTL (audited). */
async function sweepExpiredFiles(ctx: ServerContext): Promise<string[]> {
  await ctx.versions.expire();
  const auditDays = ctx.config.auditDays;
  if (auditDays > 0) await ctx.auditStore.prune(ctx.now() - auditDays * 86_400_000);
  const removed: string[] = [];
  for (;;) {
    const batch = await ctx.meta.removeExpired(500);
    removed.push(...batch);
    for (const path of batch) await ctx.audit.record(null, { event: 'file.expire', ok: true, target: path });
    if (batch.length < 500) return removed;
  }
}

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

/** ServerContext.applyLive: takes the live-changeable `keys` of `next` (SIGHUP). */
function applyLive(ctx: ServerContext, app: FastifyInstance, addresses: AddressChecks, next: ServerConfig, keys: readonly string[]): void {
  const { config } = ctx;
  // The config object is shared by reference (quota guard, routes read it per request):
  // changing its fields in place is what makes them live.
  const target = config as unknown as Record<string, unknown>;
  const source = next as unknown as Record<string, unknown>;
  for (const key of keys) for (const field of fieldsOf(key)) target[field] = source[field];
  // A server with nowhere to log stays silent (its level is never one of the settings' levels).
  if (keys.includes('logLevel') && app.log.level !== 'silent') app.log.level = config.logLevel;
  if (keys.includes('ipAllow') || keys.includes('ipDeny')) addresses.setLists(config);
  if (keys.some((k) => k.startsWith('rateLimit'))) ctx.limiters = rateLimiters(config, ctx.now, ctx.scoreFailure, ctx.audit);
  ctx.limits = limitsOf(config);
  ctx.capabilities = capabilitiesOf(config);
}

/**
 * Errors in Ferry's JSON format (audited where they are security events), the web app's page
 * for a browser on a share link, and 404 for a path no route serves.
 */
function setErrorHandling(app: FastifyInstance, ctx: ServerContext): void {
  const { audit } = ctx;
  app.setErrorHandler(async (thrown: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    // Messages are written with server paths; the caller reads their own (home-relative) ones.
    // A drop box's visitor (a share upload token) reads them from the link's folder.
    const auth = request.auth;
    const err = (auth?.share ? toVisitorError(auth, thrown) : auth && thrown instanceof FerryError ? toUserError(auth, thrown) : thrown) as FastifyError;
    // A refusal in the middle of a streamed body (a quota hit): the rest is not read, so the
    // connection cannot carry another request. Say so, and it closes once the answer is out
    // (otherwise a client still sending waits on a full socket, and close() on it).
    if (!request.raw.complete && request.raw.httpVersionMajor === 1 && !reply.sent) reply.header('connection', 'close');
    // Refusals of authenticated requests are security events; 401s are audited where they happen.
    if (request.auth && isFerryError(err, 'FERRY_ERR_FORBIDDEN')) {
      await audit.record(request, { event: 'access.denied', ok: false, target: `${request.method} ${request.url.split('?')[0]}`, details: { reason: err.message } });
    }
    // A write refused for space (SQLite's and the file system's errors arrive untranslated).
    if (toHttpError(err).error.code === 'FERRY_ERR_NO_SPACE') await ctx.disk.sawFull(request.log);
    if (isFerryError(err, 'FERRY_ERR_QUOTA_EXCEEDED') || (isFerryError(err, 'FERRY_ERR_PAYLOAD_TOO_LARGE') && err.details?.max !== undefined)) {
      await audit.record(request, quotaRefusal(request, err));
    }
    // A drop box's page uploads through the session routes with the link's token.
    if (request.auth?.share) await ctx.shareGate.uploadRefused(request, request.auth.share.id, thrown);
    const q = request.query as Record<string, unknown> | undefined;
    if (request.routeOptions.config?.htmlErrors && /text\/html/.test(request.headers.accept ?? '') && q?.format === undefined && !reply.sent) {
      // A visitor's browser on a share link gets the app's page with the status (404, 410,
      // ...), which then shows the reason it asks for as JSON; curl still gets JSON.
      const { status, error } = toHttpError(err);
      if (error.retryAfterMs !== undefined) reply.header('retry-after', Math.ceil(error.retryAfterMs / 1000));
      reply.removeHeader('www-authenticate');
      reply.header('referrer-policy', 'no-referrer');
      return ctx.webApp.sendPage(reply, status);
    }
    errorHandler(err, request, reply);
  });
  // Routing comes before authentication: a path no route serves is 404 for everyone (what a
  // route answers about stored data still needs credentials). The routes are the public
  // protocol (docs/protocol.md), so this tells nothing that is not written down.
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0];
    // A method the share does not serve (POST, PATCH, REPORT...) is not a missing resource:
    // a WebDAV client takes 404 as "no such file" (RFC 9110 15.5.6: 405 with Allow).
    if (path === DAV_PREFIX || path.startsWith(`${DAV_PREFIX}/`)) {
      const error = { code: 'FERRY_ERR_METHOD_NOT_ALLOWED', message: `${request.method} is not a method of the WebDAV share (it serves OPTIONS, ${DAV_METHODS.join(', ')})` };
      return reply.status(405).header('allow', ['OPTIONS', ...DAV_METHODS].join(', ')).send({ error });
    }
    const error = noRouteError(request.method, path);
    if (!path.startsWith('/api/') && /text\/html/.test(request.headers.accept ?? '')) {
      plainPageHeaders(reply);
      return reply.status(404).send(notFoundPage(request.method, path));
    }
    return reply.status(404).send({ error });
  });
}

/**
 * What every request passes before its route: the address checks, the per-address limit,
 * authentication (unless the route is public: a Bearer token, a download ticket, a share
 * upload token, or on WebDAV routes HTTP Basic), the per-token limit; after it, one
 * access-log line.
 */
function addRequestHooks(app: FastifyInstance, ctx: ServerContext, addresses: AddressChecks): void {
  const { auth, metrics, reportAuthFailure } = ctx;
  addAccessLog(app, metrics); // first: a request refused or cut in the hooks below is logged too
  app.addHook('onRequest', async (request, reply) => {
    reply.header(REQUEST_ID_HEADER, request.id);
    const refused = addresses.refusal(request.ip);
    if (refused) throw refused;
    const routeConfig = request.routeOptions.config;
    // ctx.limiters, not a copy: a reload may replace them.
    if (!routeConfig?.unmetered) await ctx.limiters.perIp(request);
    if (request.raw.httpVersion === '1.1' && request.headers.host === undefined) throw new ValidationError('an HTTP/1.1 request needs a Host header');
    if (routeConfig?.public || request.is404) return;
    const ip = request.ip;
    const header = request.headers.authorization;
    try {
      const ticket = (request.query as Record<string, unknown> | undefined)?.ticket;
      if (header === undefined && routeConfig?.ticket && typeof ticket === 'string') {
        request.auth = await auth.verifyTicket(ticket, ip);
      } else if (header !== undefined && header.startsWith(`Bearer ${SHARE_TOKEN_PREFIX}`)) {
        if (!routeConfig?.shareUpload) throw new AuthInvalidError('a share upload token only sends files into its upload link');
        request.auth = await ctx.shareGate.uploadContext(request, header.slice('Bearer '.length).trim());
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

  app.addHook('onSend', async (request, reply, payload) => {
    // API answers hold tokens, share links' keys, listings and account details: no shared
    // proxy nor the browser's disk cache may keep them (a shared computer's cache outlives the
    // sign-out). Answers that are content, cached by ETag as docs/protocol.md promises (files,
    // manifests, chunks, archives), set their own Cache-Control first and keep it. WebDAV's
    // answers alike (PROPFIND listings, lock tokens; a file's GET is the API's download):
    // a browser may be the client, and a proxy between need not know the methods.
    const holdsPrivate = request.url.startsWith(API_PREFIX + '/') || request.routeOptions.config?.front === 'webdav';
    if (reply.getHeader('cache-control') === undefined && holdsPrivate) reply.header('cache-control', 'no-store');
    // A draining node closes each HTTP/1.1 connection as its response ends. Node's close() ends
    // the connections idle at that moment only: a load balancer's keep-alive connection, busy
    // at the SIGTERM and idle after, stayed open, and every drain behind nginx lasted until its
    // deadline (30 s), which then cut it (test/deploy/cluster-rolling.test.ts). HTTP/2 has no
    // such header (its sessions get a GOAWAY: ./connections.ts).
    if (ctx.draining && request.raw.httpVersionMajor === 1) reply.header('connection', 'close');
    return payload;
  });

}

/**
 * One access-log line per request (pino JSON), counted in the metrics. The request's logger
 * carries `reqId` already (a second one made every line hold the key twice). A response the
 * client cut short (an upload or download cancelled, a connection dropped) never finishes, so
 * Fastify's onResponse does not run for it: its line is written when the response closes,
 * with `cut: true` and, when no answer had begun, nginx's 499 (client closed request).
 */
function addAccessLog(app: FastifyInstance, metrics: ServerMetrics): void {
  const logged = new WeakSet<FastifyRequest>();
  const sent = new WeakMap<FastifyRequest, () => number>();
  const write = (request: FastifyRequest, reply: FastifyReply, cut: boolean): void => {
    if (logged.has(request)) return;
    logged.add(request);
    const route = request.routeOptions.url ?? 'unknown';
    const status = cut && !reply.raw.headersSent ? CLIENT_CLOSED_REQUEST : reply.statusCode;
    const seconds = reply.elapsedTime / 1000;
    metrics.requests.labels(request.method, route, String(status)).inc();
    metrics.requestDuration.labels(request.method, route, String(status)).observe(seconds);
    const bytesIn = Number(request.headers['content-length'] ?? 0);
    // What went out, not the length announced: a cut download sent less (and a HEAD nothing).
    const bytesOut = sent.get(request)?.() ?? 0;
    if (request.auth) {
      if (bytesIn > 0) metrics.userTraffic.labels(request.auth.userName, 'in').inc(bytesIn);
      if (bytesOut > 0) metrics.userTraffic.labels(request.auth.userName, 'out').inc(bytesOut);
    }
    request.log.info(
      {
        front: frontOf(request),
        user: request.auth?.userName,
        path: loggedPath(request),
        tokenId: request.auth?.tokenId,
        ip: request.ip,
        method: request.method,
        route,
        status,
        ...(cut ? { cut: true } : {}),
        bytesIn,
        bytesOut,
        ms: Math.round(reply.elapsedTime * 10) / 10,
      },
      'request',
    );
  };
  app.addHook('onRequest', async (request, reply) => {
    sent.set(request, countBodyBytes(reply.raw));
    reply.raw.once('close', () => {
      if (!reply.raw.writableFinished) write(request, reply, true);
    });
  });
  app.addHook('onResponse', async (request, reply) => write(request, reply, false));
}

/**
 * Counts the body bytes a response hands to its connection (its `write` and `end` wrapped);
 * the count read at the end leaves out what is still queued (a response cut short).
 */
function countBodyBytes(res: FastifyReply['raw']): () => number {
  let n = 0;
  const add = (chunk: unknown, encoding: unknown) => {
    if (typeof chunk === 'string') n += Buffer.byteLength(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8');
    else if (chunk instanceof Uint8Array) n += chunk.byteLength;
  };
  const { write, end } = res as { write: (...args: unknown[]) => boolean; end: (...args: unknown[]) => unknown };
  Object.assign(res, {
    write(this: unknown, chunk: unknown, ...rest: unknown[]) {
      add(chunk, rest[0]);
      return write.call(this, chunk, ...rest);
    },
    end(this: unknown, chunk?: unknown, ...rest: unknown[]) {
      if (typeof chunk !== 'function') add(chunk, rest[0]);
      return end.call(this, chunk, ...rest);
    },
  });
  return () => Math.max(0, n - (res.writableFinished ? 0 : res.writableLength));
}

export interface RunningServer {
  app: FastifyInstance;
  ctx: ServerContext;
  /** `http://host:port` actually bound (port 0 picks a free one). */
  url: string;
  /** Where the admin token is: given (`set`), in `tokenFile`, or kept elsewhere since that file went (`kept`). */
  adminToken: AdminTokenNotice['adminToken'];
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
   * TLS certificate files, read again whether or not their names changed (new connections
   * get the new certificate, open ones keep theirs),
   * limits, IP lists, the log level, hooks, retention. Throws (changing nothing) when the
   * new certificate cannot be read. Returns the keys it could not apply live (a certificate
   * for a server started without TLS, or with a self-signed one: those need a restart).
   */
  reload(next: ServerConfig, keys: readonly string[]): Promise<string[]>;
  /**
   * Starts a graceful shutdown (SIGTERM): /readyz answers 503 so load balancers stop sending
   * new work, new upload sessions are refused (503, FERRY_ERR_UNAVAILABLE, Retry-After), and
   * everything else goes on: chunk PUTs and commits of sessions already open, downloads.
   * `close()` then waits for the requests in flight, `drainTimeout` at most: then it closes
   * the connections still open (upload sessions stay: their uploads resume).
   */
  drain(): void;
  /**
   * Stops the server: waits for the requests and SFTP files in flight (`drainTimeout` at
   * most, as above), then closes the stores. `force: true` stops now: every open connection
   * is closed at once (an HTTP request or an SFTP file open for writing is aborted: its
   * upload session stays, to resume; nothing half-written becomes a file). Safe to call again
   * (a second call with `force` cuts a close that is waiting); each returns the one close.
   */
  close(options?: CloseOptions): Promise<void>;
}

export interface CloseOptions {
  /** Close every open connection at once instead of waiting for what is in flight. */
  force?: boolean;
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
  await replaceFile(file, key.toString('base64') + '\n', 0o600);
  return key;
}

/**
 * The chunk stores of `config.store`: the `/` route (default: local disk under the data
 * directory, also what the remote `local` names) and the other prefixes. Remote backends are
 * wrapped in the retry decorator: their network hiccups are retried, not reported to clients.
 */
async function openChunkStores(config: ServerConfig, dataDir: string): Promise<{ backend: StorageBackend; routes: ChunkRoute[]; defaultInDataDir: boolean }> {
  const local = async (): Promise<StorageBackend> => {
    // The files' bytes: the server's user only, as the data directory Ferry makes, even in
    // one made by hand with mode 0755 (the local backend's directories follow the umask).
    // Nobody else may write in it, so no link can be swapped in: no directory need be held open.
    const root = join(dataDir, 'store');
    await mkdirDurable(root, 0o700);
    await chmod(root, 0o700);
    return new LocalBackend({ root, pinDirs: false });
  };
  const open = async (remote: string): Promise<StorageBackend> => {
    if (remote === 'local') return local();
    const opened = await openBackend(remote, { remotes: config.remotes });
    if (!opened.features().persistent) throw new ConfigError(`--store ${redactRemote(remote)}: a chunk store must keep what it is given`);
    return opened.features().network ? withRetry(opened) : opened;
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
  const opened = { backend: backend ?? (await local()), routes, defaultInDataDir: defaultRemote === undefined || defaultRemote === 'local' };
  try {
    return await encryptChunkStores(config, opened);
  } catch (err) {
    await Promise.all([opened.backend, ...routes.map((r) => r.backend)].map((b) => b.close?.()));
    throw err;
  }
}

/**
 * With a master key (`--encryption-key-file`, FERRY_ENCRYPTION_KEY), every chunk store is
 * wrapped in the encryption decorator, its key ring opened (made on the first start); without
 * one, a store that is encrypted is refused rather than served as garbage.
 */
async function encryptChunkStores<T extends { backend: StorageBackend; routes: ChunkRoute[] }>(config: ServerConfig, opened: T): Promise<T> {
  const all = [opened.backend, ...opened.routes.map((r) => r.backend)];
  if (config.encryptionKeyFile === undefined && config.encryptionKey === undefined) {
    for (const b of all) await refuseEncryptedWithoutKey(b);
    return opened;
  }
  if (config.encryptionKeyFile !== undefined && config.encryptionKey !== undefined) {
    throw new ConfigError('give the encryption key once: encryptionKeyFile or FERRY_ENCRYPTION_KEY, not both');
  }
  const master = config.encryptionKey !== undefined ? masterKeyFromText(config.encryptionKey, 'FERRY_ENCRYPTION_KEY') : await readMasterKeyFile(config.encryptionKeyFile!);
  const wrap = async (b: StorageBackend): Promise<StorageBackend> => {
    const { ring, migrating } = await openRing(b, master);
    return new EncryptedBackend(b, ring, { migrating, saveRing: (r) => saveRing(b, r, master) });
  };
  return {
    ...opened,
    backend: await wrap(opened.backend),
    routes: await Promise.all(opened.routes.map(async (r) => ({ ...r, backend: await wrap(r.backend) }))),
  };
}

/** A node says with a lease of this name (and its holder id after it) which data key it writes a shared store's new objects with. */
const dataKeyLease = (store: string, keyId: string): string => `data-key:${store}:${keyId}:`;
const DATA_KEY_LEASE_MS = 180_000;

/**
 * Holds, while this node runs on PostgreSQL (with other nodes), a lease naming the data key it writes each encrypted store
 * with: a node that re-encrypts the store after a rekey keeps the old keys as long as another
 * node started before the rekey still writes under them (see `reencryptStore`). Returns a stop.
 */
async function announceDataKeys(stores: StorageBackend[], meta: MetaStore): Promise<() => Promise<void>> {
  const names = stores.filter((b): b is EncryptedBackend => b instanceof EncryptedBackend).map((b) => dataKeyLease(b.inner.name, b.dataKeysInUse.current) + meta.leases.holder);
  if (names.length === 0 || meta.dialect !== 'postgres') return async () => undefined;
  const renew = () => Promise.all(names.map((n) => meta.leases.acquire(n, DATA_KEY_LEASE_MS)));
  await renew();
  const timer = setInterval(() => void renew().catch(() => undefined), DATA_KEY_LEASE_MS / 3);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await Promise.all(names.map((n) => meta.leases.release(n)));
  };
}

/**
 * Background work on encrypted stores: encrypts the plain objects of stores that held some
 * when encryption was turned on (see `migrateToEncrypted`), then re-encrypts the objects of
 * retiring data keys after `ferry admin rekey --reencrypt` (see `reencryptStore`); reads and
 * writes work throughout. Returns a stop for shutdown.
 */
function startMigrations(stores: StorageBackend[], app: FastifyInstance, meta: MetaStore): () => Promise<void> {
  const ac = new AbortController();
  const runs = stores
    .filter((b): b is EncryptedBackend => b instanceof EncryptedBackend && (b.migrationPending || b.reencryptionPending))
    .map(async (b) => {
      const store = b.inner.name;
      if (b.migrationPending) {
        app.log.info({ store }, 'encrypting the plain objects of this store in the background');
        const done = await migrateToEncrypted(b, {
          signal: ac.signal,
          onProgress: (p) => app.log.info({ store, encrypted: p.encrypted, found: p.found }, 'encryption migration progress'),
        });
        app.log.info({ store, encrypted: done.encrypted }, 'encryption migration finished: no plain object is left');
      }
      if (b.reencryptionPending) {
        app.log.info({ store }, 're-encrypting the objects of retiring data keys in the background');
        const done = await reencryptStore(b, {
          signal: ac.signal,
          onProgress: (p) => app.log.info({ store, checked: p.checked, reencrypted: p.reencrypted, failed: p.failed, passes: p.passes }, 're-encryption progress'),
          afterEach: reencryptHold(),
          // Other nodes share only a PostgreSQL database (an SQLite data directory has one server).
          ...(meta.dialect === 'postgres'
            ? {
                othersWriting: async (retiring: string[]) => {
                  for (const id of retiring) if (await meta.leases.heldByOthers(dataKeyLease(store, id))) return true;
                  return false;
                },
              }
            : {}),
          onWait: () => app.log.warn({ store }, 're-encryption waits: another node started before the rekey still writes under the old data keys (restart it with the new key ring); they stay in the ring until it has'),
        });
        if (done.left === 0) {
          app.log.info({ store, reencrypted: done.reencrypted, left: 0, retired: done.retired }, 're-encryption finished: 0 objects left under the old data keys; they are retired from the key ring');
        } else {
          app.log.error({ store, left: done.left }, 're-encryption left objects that fail to decrypt (ferry admin check --read-data finds them); the old data keys stay until they are gone');
        }
      }
    })
    .map((run) => run.catch((err: unknown) => {
      if (!ac.signal.aborted) app.log.error({ err }, 'background encryption work failed; it starts over at the next start');
    }));
  return async () => {
    ac.abort();
    await Promise.all(runs);
  };
}

/**
 * The metadata store: SQLite under the data directory, or the PostgreSQL server `--db` names
 * (shared by every node). Nodes sharing a database must share the session key too (a web
 * session signed by one node is checked by the next), so a PostgreSQL node does not make one
 * of its own: it needs FERRY_SESSION_KEY (or `sessionKey` in the config file).
 */
async function openMetaStore(config: ServerConfig, dataDir: string): Promise<MetaStore> {
  if (config.db === undefined) return MetaStore.openSqlite(join(dataDir, 'meta.db'), { now: config.now });
  try {
    return await MetaStore.openPostgres(config.db, { now: config.now, poolSize: config.dbPool, queryTimeoutMs: config.dbQueryTimeoutMs });
  } catch (err) {
    throw new ConfigError(`cannot use the metadata database ${redactDbUrl(config.db)}: ${(err as Error).message}`, { cause: err });
  }
}

/** See openMetaStore: checked before anything is made in the data directory (a key file of its own among them). */
function requireSharedSessionKey(config: ServerConfig): void {
  if (config.db !== undefined && config.sessionKey === undefined && !process.env.FERRY_SESSION_KEY) {
    throw new ConfigError('--db postgres://… is for nodes that share one database: give them all the same FERRY_SESSION_KEY (openssl rand -base64 32), or web sessions made by one node fail on the others');
  }
}

/**
 * Test hook: FERRY_TEST_REENCRYPT_HOLD=<n> stops the re-encryption after n objects and waits
 * to be killed, so that a test can kill -9 the server at a known point.
 */
function reencryptHold(): ((p: { reencrypted: number }) => Promise<void>) | undefined {
  const at = Number(process.env.FERRY_TEST_REENCRYPT_HOLD);
  if (!Number.isInteger(at) || at <= 0) return undefined;
  return async (p) => {
    if (p.reencrypted < at) return;
    process.stderr.write(`holding after ${p.reencrypted} re-encrypted\n`);
    await new Promise(() => undefined);
  };
}

/** Opens the stores under `config.dataDir`, listens, and starts the background sweepers. */
export async function startServer(config: ServerConfig): Promise<RunningServer> {
  checkConfigFields(config);
  requireSharedSessionKey(config);
  if (config.adminToken !== undefined) {
    const weak = weakSecretReason(config.adminToken);
    if (weak) {
      throw new ConfigError(
        `FERRY_ADMIN_TOKEN is too weak to guard the server: ${weak}. Use a random one (openssl rand -hex 32), or leave it unset and Ferry makes one`,
      );
    }
  }
  const dataDir = resolve(config.dataDir);
  // Its entry made durable: the metadata and the store live in it.
  await mkdirDurable(dataDir, 0o700).catch((err: unknown) => {
    throw dataDirCreateError(err, dataDir);
  });
  // Undone in reverse order when the start fails half-way, and by close().
  const undo: Array<() => Promise<unknown>> = [];
  const unwind = async (): Promise<void> => {
    for (const step of undo.splice(0).reverse()) await step().catch(() => {});
  };
  const lock = await lockDataDir(dataDir).catch((err: unknown) => {
    throw dataDirAccessError(err, dataDir) ?? err;
  });
  undo.push(() => lock.release());
  try {
    const tls = await loadTls({ certFile: config.tlsCert, keyFile: config.tlsKey, selfSigned: config.tlsSelfSigned, dataDir, hostnames: [config.host, ...(config.tlsHostnames ?? [])] });
    const sessionKey = config.sessionKey ?? (await loadSessionKey(dataDir));
    const { backend, routes, defaultInDataDir } = await openChunkStores(config, dataDir);
    const stores = [backend, ...routes.map((r) => r.backend)];
    undo.push(() => Promise.all(stores.map((b) => b.close?.())));
    const meta = await openMetaStore(config, dataDir);
    undo.push(() => meta.close());
    const { app, ctx } = await buildApp({ config: { ...config, sessionKey }, meta, backend, routes, tls, defaultInDataDir });
    // An upgrade's one visible trace: which migrations this start ran (each runs once).
    if (meta.migrationsRun.length > 0) app.log.info({ migrations: meta.migrationsRun }, `metadata database schema brought up to date (${meta.migrationsRun.length} migrations run)`);
    // Background work of the chunk store (old copies being removed) ends before the metadata closes.
    undo.push(() => ctx.chunks.settled());
    undo.push(() => app.close());
    await ctx.disk.hold().catch((err: unknown) => app.log.warn({ err }, `could not write the disk reserve ${ctx.disk.file}: a full disk will refuse deletes too`));
    // What writes of a server that died left behind. Nothing can be writing into the store
    // under the (locked) data directory yet: all of it goes. Other stores may be shared with
    // other nodes: only what is older than the grace time.
    const started = Date.now();
    const leftovers = await ctx.chunks.sweepLeftovers((store) => (store === null && defaultInDataDir ? started : ctx.storeNow(store) - config.gcGraceMs));
    if (leftovers.count > 0) app.log.info(leftovers, 'removed leftovers of interrupted chunk writes');
    undo.push(await announceDataKeys(stores, meta));
    undo.push(startMigrations(stores, app, meta));
    const timers = startSweepers(config, app, ctx);
    undo.push(async () => timers.forEach((t) => clearInterval(t)));
    const connections = trackSockets(app.server);
    let closing: Promise<void> | undefined;

    const address = await app.listen({ host: config.host, port: config.port }).catch((err: unknown) => {
      throw listenError(err, config.host, config.port, config.addrOrigins?.addr);
    });
    const sftp = await startSftp(config, ctx, dataDir, app);
    if (sftp) undo.push(() => sftp.close());
    // Only now: a start that failed to listen must not have shown (and used up) the token.
    const boot = await ctx.auth.bootstrap(dataDir, config.adminToken);
    ctx.webhooks.start();
    const running: RunningServer = {
      app,
      ctx,
      url: address,
      ...boot,
      ...(sftp ? { sftp: { host: sftp.host, port: sftp.port, hostKeys: sftp.hostKeys.map((k) => ({ type: k.type, fingerprint: k.fingerprint, publicKey: k.publicKey })) } } : {}),
      reload: (next, keys) => reloadLive(app, ctx, tls, dataDir, config, next, keys),
      drain: () => void (ctx.draining = true),
      close: (options = {}) => {
        if (options.force) {
          const cut = connections.destroyAll();
          sftp?.cut();
          app.log.info({ connections: cut }, 'closing now (force): open connections closed (their upload sessions stay, to resume)');
        }
        closing ??= closeWithin(config.drainTimeoutMs, unwind, () => {
          const cut = connections.destroyAll();
          sftp?.cut();
          app.log.warn({ connections: cut, drainTimeoutMs: config.drainTimeoutMs }, 'drain deadline passed: open connections closed (their upload sessions stay, to resume)');
        });
        return closing;
      },
    };
    // A getter (defined, not spread, which would copy its value once): a reloaded certificate changes the fingerprint.
    if (tls) Object.defineProperty(running, 'tls', { enumerable: true, get: () => ({ fingerprint: tls.fingerprint, caFile: tls.caFile, selfSigned: tls.selfSigned, ...(tls.notice ? { notice: tls.notice } : {}) }) });
    return running;
  } catch (err) {
    await unwind();
    throw dataDirAccessError(err, dataDir) ?? err;
  }
}

/**
 * Runs `close` (which waits for the requests in flight); if it has not finished after `ms`
 * (0: no limit), calls `cut`, which ends the connections it waits for.
 */
async function closeWithin(ms: number, close: () => Promise<void>, cut: () => void): Promise<void> {
  const timer = ms > 0 ? setTimeout(cut, ms) : undefined;
  try {
    await close();
  } finally {
    clearTimeout(timer);
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
  // Certificate files are read again at every reload, their names changed or not: a
  // certificate renewed in place (certbot, acme.sh) is what a reload is mostly for.
  if (tls && !tls.selfSigned) {
    const fresh = await loadTls({ certFile: next.tlsCert, keyFile: next.tlsKey, dataDir, hostnames: [config.host], refuseInvalid: true });
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

/** The SFTP front with --sftp-addr (ssh2 is loaded only then: it is not part of every start). */
async function startSftp(config: ServerConfig, ctx: ServerContext, dataDir: string, app: FastifyInstance): Promise<SftpFront | undefined> {
  if (!config.sftp) return undefined;
  const { startSftpFront } = await import('./sftp/ssh-server.js');
  const { host, port } = config.sftp;
  return startSftpFront(ctx, { ...config.sftp, passwordAuth: config.sftp.passwordAuth || config.sftpPasswordAuth === true, dataDir, log: app.log }).catch((err: unknown) => {
    throw listenError(err, host, port, config.addrOrigins?.sftpAddr ?? '--sftp-addr');
  });
}

/**
 * Why the server cannot listen, as the operator's mistake it almost always is (exit 2, not
 * "unexpected"); `option` names where the address was given (ServerConfig.addrOrigins).
 */
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
  // A full data disk is looked at every 10 s (no lease: it is this node's disk, and a lease writes).
  const disk = setInterval(() => void ctx.disk.check().catch((err: unknown) => app.log.warn({ err }, "could not check the data directory's disk")), DISK_RECHECK_MS);
  disk.unref();
  timers.push(disk);
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
    if (r.chunks + r.packs + r.leftovers.count + r.unreferenced.chunks + r.unreferenced.packs > 0) app.log.info(r, 'garbage collected');
  }, 'garbage collection');
  return timers;
}
