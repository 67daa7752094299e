/** Health, readiness, capabilities, metrics and admin maintenance routes. */
import type { FastifyInstance } from 'fastify';
import { ValidationError } from '../../core/errors.js';
import { API_PREFIX } from '../../core/protocol.js';
import { authOf, type ServerContext } from '../context.js';
import { authorizeAdmin } from '../authz.js';

export function registerSystemRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.get('/healthz', { config: { public: true } }, async () => ({ status: 'ok' }));

  app.get('/readyz', { config: { public: true } }, async (_request, reply) => {
    try {
      await ctx.meta.getSetting('ready-probe');
      return { status: 'ready' };
    } catch {
      return reply.status(503).send({ error: { code: 'FERRY_ERR_UNAVAILABLE', message: 'the metadata store does not answer' } });
    }
  });

  app.get(`${API_PREFIX}/capabilities`, { config: { public: true } }, async () => ctx.capabilities);

  app.get('/metrics', async (request, reply) => {
    requireAdmin(request);
    const s = await ctx.meta.stats();
    ctx.metrics.uploadsActive.set(s.uploads);
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

export function requireAdmin(request: Parameters<typeof authOf>[0]): void {
  authorizeAdmin(authOf(request));
}
