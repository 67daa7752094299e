/** Health, readiness, capabilities, metrics and admin maintenance routes. */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ValidationError } from '../../core/errors.js';
import { API_PREFIX } from '../../core/protocol.js';
import { authOf, type RoutePlugin, type ServerContext } from '../context.js';
import { authorizeAdmin } from '../authz.js';

export const systemRoutes: RoutePlugin = async (app, { ctx }) => {
  // Liveness and readiness are not counted against the per-address rate limit: a monitor
  // probing from a client's address pushed that client over it, and a probe answered 429
  // reported a healthy server as down (a banned or denied address is still refused).
  // /healthz does no I/O; /readyz reads the database and asks every chunk store (an S3
  // request), but one answer stands for a second (ServerContext.unreadiness), so a flood
  // costs one probe a second. The capabilities still count: every client command asks for
  // them first, they are a client's traffic, not a probe's.
  // HEAD as well as GET: monitors and load balancers often probe with HEAD (a 404 there
  // reported the server down); Fastify's automatic HEAD routes are off (app.ts).
  const probe = { config: { public: true, unmetered: true } };
  const ready = (request: FastifyRequest, reply: FastifyReply) => readiness(ctx, request, reply);
  app.get('/healthz', probe, health);
  app.head('/healthz', probe, health);
  app.get('/readyz', probe, ready);
  app.head('/readyz', probe, ready);
  app.get(`${API_PREFIX}/capabilities`, { config: { public: true } }, async () => ctx.capabilities);
  app.get('/metrics', { config: { public: true } }, (request, reply) => metrics(ctx, request, reply));
  app.get(`${API_PREFIX}/admin/stats`, (request) => stats(ctx, request));
  app.post(`${API_PREFIX}/admin/gc`, (request) => collectGarbage(ctx, request));
};

async function health() {
  return { status: 'ok' };
}

// Readiness, for load balancers: 503 while this node drains for a shutdown, or cannot reach
// the metadata database or a chunk store (each probed with a time limit).
async function readiness(ctx: ServerContext, request: FastifyRequest, reply: FastifyReply) {
  const why = await ctx.unreadiness(request.log);
  if (why === undefined) return { status: 'ready' };
  return reply.status(503).header('retry-after', '1').send({ error: { code: 'FERRY_ERR_UNAVAILABLE', message: why } });
}

// Public to the auth hook so that the metrics-only token (`metricsToken`, FERRY_METRICS_TOKEN)
// can be checked here: a Prometheus scraper then holds a secret that opens nothing else.
// Any other credential must be an admin's.
async function metrics(ctx: ServerContext, request: FastifyRequest, reply: FastifyReply) {
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
  return ctx.metrics.scrape();
}

async function stats(ctx: ServerContext, request: FastifyRequest) {
  requireAdmin(request);
  return storageStats(ctx);
}

async function collectGarbage(ctx: ServerContext, request: FastifyRequest) {
  requireAdmin(request);
  const grace = (request.body as { graceSeconds?: unknown } | undefined)?.graceSeconds;
  if (grace !== undefined && (typeof grace !== 'number' || !(grace >= 0))) throw new ValidationError('graceSeconds must be a number >= 0');
  return ctx.collectGarbage(grace === undefined ? undefined : grace * 1000);
}

/** Constant-time check of `Bearer <metrics token>` (hashes compared: equal lengths, no early exit). */
export function isMetricsToken(expected: string | undefined, header: string | undefined): boolean {
  if (!expected || !header?.startsWith('Bearer ')) return false;
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(header.slice(7).trim()), digest(expected));
}

/**
 * The metadata store's counts with the dedup and compression ratios (1 for an empty store).
 * Chunks this node stored are indexed in groups (ChunkStore.seal); the counts wait for the
 * open group, so a chunk answered before this call is counted.
 */
export async function storageStats(ctx: ServerContext): Promise<Awaited<ReturnType<ServerContext['meta']['stats']>> & { dedupRatio: number; compressionRatio: number }> {
  await ctx.chunks.flush();
  const s = await ctx.meta.stats();
  const ratio = (a: number, b: number): number => (b > 0 ? Math.round((a / b) * 1000) / 1000 : 1);
  return { ...s, dedupRatio: ratio(s.logicalBytes, s.storedBytes), compressionRatio: ratio(s.storedBytes, s.encodedBytes) };
}

/** Storage used and each user's volume, read at scrape time (aggregate queries, one per user). */
async function refreshStorageGauges(ctx: ServerContext): Promise<void> {
  const s = await storageStats(ctx);
  const m = ctx.metrics;
  m.uploadsActive.set(s.uploads);
  m.storedBytes.set(s.storedBytes);
  m.encodedBytes.set(s.encodedBytes);
  m.dedupRatio.set(s.dedupRatio);
  m.compressionRatio.set(s.compressionRatio);
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

export function requireAdmin(request: FastifyRequest): void {
  authorizeAdmin(authOf(request));
}
