/** Health, readiness, capabilities, metrics and admin maintenance routes. */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { ValidationError } from '../../core/errors.js';
import { API_PREFIX } from '../../core/protocol.js';
import { authOf, type ServerContext } from '../app.js';
import { authorizeAdmin } from '../authz.js';

export function registerSystemRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.get('/healthz', { config: { public: true } }, async () => ({ status: 'ok' }));

  // Readiness, for load balancers: 503 while this node drains for a shutdown, or cannot reach
  // the metadata database or a chunk store (each probed with a time limit).
  app.get('/readyz', { config: { public: true } }, async (_request, reply) => {
    const why = await ctx.unreadiness();
    if (why === undefined) return { status: 'ready' };
    return reply.status(503).header('retry-after', '1').send({ error: { code: 'FERRY_ERR_UNAVAILABLE', message: why } });
  });

  app.get(`${API_PREFIX}/capabilities`, { config: { public: true } }, async () => ctx.capabilities);

  // Public to the auth hook so that the metrics-only token (`metricsToken`, FERRY_METRICS_TOKEN)
  // can be checked here: a Prometheus scraper then holds a secret that opens nothing else.
  // Any other credential must be an admin's.
  app.get('/metrics', { config: { public: true } }, async (request, reply) => {
    if (!isMetricsToken(ctx.config.metricsToken, request.headers.authorization)) {
      try {
        request.auth = await ctx.auth.verify(request.headers.authorization, request.ip);
      } catch (err) {
        await ctx.reportAuthFailure(request, err);
        throw err;
      }
      await ctx.limiters.perToken(request);
      requireAdmin(request);
    }
    await refreshStorageGauges(ctx);
    reply.type(ctx.metrics.registry.contentType);
    return ctx.metrics.registry.metrics();
  });

  app.get(`${API_PREFIX}/admin/stats`, async (request) => {
    requireAdmin(request);
    return ctx.meta.stats();
  });

  // Bodies are validated by hand, not with JSON schemas: the first schema makes Fastify
  // load and compile ajv, about 60 ms of every start-up.
  app.post(`${API_PREFIX}/admin/gc`, async (request) => {
    requireAdmin(request);
    const grace = (request.body as { graceSeconds?: unknown } | undefined)?.graceSeconds;
    if (grace !== undefined && (typeof grace !== 'number' || !(grace >= 0))) throw new ValidationError('graceSeconds must be a number >= 0');
    return ctx.collectGarbage(grace === undefined ? undefined : grace * 1000);
  });
}

/** Constant-time check of `Bearer <metrics token>` (hashes compared: equal lengths, no early exit). */
export function isMetricsToken(expected: string | undefined, header: string | undefined): boolean {
  if (!expected || !header?.startsWith('Bearer ')) return false;
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(header.slice(7).trim()), digest(expected));
}

/** Storage used and each user's volume, read at scrape time (aggregate queries, one per user). */
async function refreshStorageGauges(ctx: ServerContext): Promise<void> {
  const s = await ctx.meta.stats();
  const m = ctx.metrics;
  m.uploadsActive.set(s.uploads);
  m.storedBytes.set(s.storedBytes);
  m.storedChunks.set(s.chunks);
  m.logicalBytes.set(s.logicalBytes);
  m.files.set(s.files);
  m.userBytes.reset();
  m.userFiles.reset();
  for (const u of await ctx.users.listUsers()) {
    const usage = await ctx.meta.usage(u.home);
    m.userBytes.labels(u.name).set(usage.bytes);
    m.userFiles.labels(u.name).set(usage.files);
  }
}

export function requireAdmin(request: Parameters<typeof authOf>[0]): void {
  authorizeAdmin(authOf(request));
}
