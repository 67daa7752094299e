/** Health, readiness, capabilities, metrics and admin maintenance routes. */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ValidationError } from '../../core/errors.js';
import { API_PREFIX } from '../../core/protocol.js';
import { authOf, type RoutePlugin, type ServerContext } from '../context.js';
import { authorizeAdmin } from '../authz.js';

export const systemRoutes: RoutePlugin = async (app, { ctx }) => {
  app.get('/healthz', { config: { public: true } }, health);
  app.get('/readyz', { config: { public: true } }, (_request, reply) => readiness(ctx, reply));
  app.get(`${API_PREFIX}/capabilities`, { config: { public: true } }, async () => ctx.capabilities);
  app.get('/metrics', (request, reply) => metrics(ctx, request, reply));
  app.get(`${API_PREFIX}/admin/stats`, (request) => stats(ctx, request));
  app.post(`${API_PREFIX}/admin/gc`, (request) => collectGarbage(ctx, request));
};

async function health() {
  return { status: 'ok' };
}

async function readiness(ctx: ServerContext, reply: FastifyReply) {
  try {
    await ctx.meta.getSetting('ready-probe');
    return { status: 'ready' };
  } catch {
    return reply.status(503).send({ error: { code: 'FERRY_ERR_UNAVAILABLE', message: 'the metadata store does not answer' } });
  }
}

async function metrics(ctx: ServerContext, request: FastifyRequest, reply: FastifyReply) {
  requireAdmin(request);
  const s = await ctx.meta.stats();
  ctx.metrics.uploadsActive.set(s.uploads);
  reply.type(ctx.metrics.registry.contentType);
  return ctx.metrics.registry.metrics();
}

async function stats(ctx: ServerContext, request: FastifyRequest) {
  requireAdmin(request);
  return ctx.meta.stats();
}

// Bodies are validated by hand, not with JSON schemas: the first schema makes Fastify
// load and compile ajv, about 60 ms of every start-up.
async function collectGarbage(ctx: ServerContext, request: FastifyRequest) {
  requireAdmin(request);
  const grace = (request.body as { graceSeconds?: unknown } | undefined)?.graceSeconds;
  if (grace !== undefined && (typeof grace !== 'number' || !(grace >= 0))) throw new ValidationError('graceSeconds must be a number >= 0');
  return ctx.collectGarbage(grace === undefined ? undefined : grace * 1000);
}

export function requireAdmin(request: FastifyRequest): void {
  authorizeAdmin(authOf(request));
}
