/**
 * The Ferry server: a Fastify app over a metadata store and a chunk store.
 *
 * `startServer(config)` opens the stores under the data directory, bootstraps the admin
 * token, listens, and starts the background sweepers (expired upload sessions, chunk GC).
 */
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyRequest } from 'fastify';
import pino from 'pino';
import { ConfigError } from '../core/errors.js';
import { REQUEST_ID_HEADER, type Capabilities } from '../core/protocol.js';
import type { StorageBackend } from '../core/storage.js';
import { ChunkStore, type ChunkRoute } from '../store/chunk-store.js';
import { MetaStore } from '../store/meta-store.js';
import { LocalBackend } from '../backends/local/local-backend.js';
import { withRetry } from '../backends/decorators/retry.js';
import { openBackend, redactRemote } from '../backends/registry.js';
import { Authenticator, type AuthContext } from './auth.js';
import { capabilitiesOf, limitsOf, type ServerConfig } from './config.js';
import { errorHandler } from './http-errors.js';
import { ServerMetrics } from './metrics.js';
import { registerDownloadRoutes } from './routes/downloads.js';
import { registerNamespaceRoutes } from './routes/namespace.js';
import { registerSystemRoutes } from './routes/system.js';
import { registerUploadRoutes } from './routes/uploads.js';

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
  /** Deletes expired sessions and unreferenced chunks now; returns what went. */
  collectGarbage(graceMs?: number): Promise<{ uploads: number; chunks: number; packs: number }>;
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
}

export async function buildApp(options: BuildOptions): Promise<{ app: FastifyInstance; ctx: ServerContext }> {
  const { config, meta, backend } = options;
  const metrics = new ServerMetrics();
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
    },
  });
  const auth = new Authenticator(meta);
  const logger = options.logger ?? pino({ level: config.logLevel }, config.logDestination ?? process.stdout);

  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    // Our own one-line access log replaces Fastify's two lines per request.
    logController: new LogController({ disableRequestLogging: true }),
    exposeHeadRoutes: false,
    bodyLimit: 8 * 1024 * 1024,
    genReqId: () => randomBytes(8).toString('hex'),
    requestIdHeader: false,
    routerOptions: { maxParamLength: 8192, ignoreDuplicateSlashes: true },
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } },
  });

  // Chunk and pack bodies are streamed by their handlers, never buffered by a parser.
  app.addContentTypeParser(['application/octet-stream', '*'], (_req, payload: Readable, done) => done(null, payload));

  const ctx: ServerContext = {
    config,
    capabilities: capabilitiesOf(config),
    limits: limitsOf(config),
    meta,
    chunks,
    metrics,
    auth,
    async collectGarbage(graceMs = config.gcGraceMs) {
      const uploads = await meta.expireUploads();
      const gc = await chunks.collectGarbage(graceMs);
      metrics.gcDeleted.inc(gc.chunks + gc.packs);
      return { uploads, ...gc };
    },
  };

  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler((request, reply) => {
    void reply.status(404).send({ error: { code: 'FERRY_ERR_NOT_FOUND', message: `no route ${request.method} ${request.url.split('?')[0]}` } });
  });

  app.addHook('onRequest', async (request, reply) => {
    reply.header(REQUEST_ID_HEADER, request.id);
    if (request.routeOptions.config?.public) return;
    request.auth = await auth.verify(request.headers.authorization);
  });

  // One access-log line per request (pino JSON).
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unknown';
    const status = reply.statusCode;
    const seconds = reply.elapsedTime / 1000;
    metrics.requests.labels(request.method, route, String(status)).inc();
    metrics.requestDuration.labels(request.method, route, String(status)).observe(seconds);
    request.log.info(
      {
        reqId: request.id,
        user: request.auth?.userName,
        tokenId: request.auth?.tokenId,
        ip: request.ip,
        method: request.method,
        route,
        status,
        bytesIn: Number(request.headers['content-length'] ?? 0),
        bytesOut: Number(reply.getHeader('content-length') ?? 0),
        ms: Math.round(reply.elapsedTime * 10) / 10,
      },
      'request',
    );
  });

  registerSystemRoutes(app, ctx);
  registerUploadRoutes(app, ctx);
  registerDownloadRoutes(app, ctx);
  registerNamespaceRoutes(app, ctx);
  return { app, ctx };
}

export interface RunningServer {
  app: FastifyInstance;
  ctx: ServerContext;
  /** `http://host:port` actually bound (port 0 picks a free one). */
  url: string;
  /** The admin token generated at this start (first start without FERRY_ADMIN_TOKEN only). */
  generatedToken?: string;
  tokenFile?: string;
  close(): Promise<void>;
}

/**
 * The chunk stores of `config.store`: the `/` route (default: local disk under the data
 * directory, also what the remote `local` names) and the other prefixes. Remote backends are
 * wrapped in the retry decorator: their network hiccups are retried, not reported to clients.
 */
async function openChunkStores(config: ServerConfig, dataDir: string): Promise<{ backend: StorageBackend; routes: ChunkRoute[] }> {
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
  return { backend: backend ?? local(), routes };
}

/** Opens the stores under `config.dataDir`, listens, and starts the background sweepers. */
export async function startServer(config: ServerConfig): Promise<RunningServer> {
  const dataDir = resolve(config.dataDir);
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const { backend, routes } = await openChunkStores(config, dataDir);
  const stores = [backend, ...routes.map((r) => r.backend)];
  const meta = await MetaStore.openSqlite(join(dataDir, 'meta.db')).catch(async (err: unknown) => {
    await Promise.all(stores.map((b) => b.close?.()));
    throw err;
  });
  const { app, ctx } = await buildApp({ config, meta, backend, routes });
  const boot = await ctx.auth.bootstrap(dataDir, config.adminToken);

  const timers: NodeJS.Timeout[] = [];
  const every = (ms: number, job: () => Promise<unknown>, what: string) => {
    if (ms <= 0) return;
    let running = false;
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
    const n = await meta.expireUploads();
    if (n > 0) app.log.info({ expired: n }, 'expired upload sessions removed');
  }, 'upload sweep');
  every(config.gcIntervalMs, async () => {
    const r = await ctx.collectGarbage();
    if (r.chunks + r.packs > 0) app.log.info(r, 'garbage collected');
  }, 'garbage collection');

  const address = await app.listen({ host: config.host, port: config.port });
  let closed = false;
  return {
    app,
    ctx,
    url: address,
    ...boot,
    async close() {
      if (closed) return;
      closed = true;
      for (const t of timers) clearInterval(t);
      await app.close();
      await meta.close();
      await Promise.all(stores.map((b) => b.close?.()));
    },
  };
}
