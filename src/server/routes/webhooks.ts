/**
 * Webhooks (admin only; README "Webhooks and hooks"):
 *
 *   POST   /api/v1/admin/webhooks              {url, events[], secret?} -> 201 CreatedWebhook
 *   GET    /api/v1/admin/webhooks              WebhookInfo[] (no secrets)
 *   DELETE /api/v1/admin/webhooks/:id          the webhook and its queue
 *   GET    /api/v1/admin/webhook-deliveries?webhook=ID&limit=N   the delivery log, newest first (404: no webhook ID)
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { NotFoundError, ValidationError } from '../../core/errors.js';
import { API_PREFIX, type CreatedWebhook, type WebhookDeliveryInfo, type WebhookInfo } from '../../core/protocol.js';
import { authOf, type RoutePlugin, type ServerContext } from '../context.js';
import { webhookUrlForLogs } from '../webhooks.js';
import { authorizeAdmin } from '../authz.js';

export const webhookRoutes: RoutePlugin = async (app, { ctx }) => {
  app.post(`${API_PREFIX}/admin/webhooks`, (request, reply) => createWebhook(ctx, request, reply));
  app.get(`${API_PREFIX}/admin/webhooks`, (request) => listWebhooks(ctx, request));
  app.delete(`${API_PREFIX}/admin/webhooks/:id`, (request, reply) => deleteWebhook(ctx, request, reply));
  app.get(`${API_PREFIX}/admin/webhook-deliveries`, (request) => deliveries(ctx, request));
};

async function createWebhook(ctx: ServerContext, request: FastifyRequest, reply: FastifyReply) {
  const auth = authOf(request);
  authorizeAdmin(auth);
  // A webhook sends every user's file events out for ever: not from a token that expires.
  await ctx.auth.requireLasting(auth, 'creating a webhook');
  const body = (request.body ?? {}) as Record<string, unknown>;
  if (typeof body.url !== 'string') throw new ValidationError('url must be a string');
  if (!Array.isArray(body.events) || body.events.some((e) => typeof e !== 'string')) throw new ValidationError('events must be a list of event names');
  if (body.secret !== undefined && typeof body.secret !== 'string') throw new ValidationError('secret must be a string');
  const hook = await ctx.webhooks.add(body.url, body.events as string[], body.secret as string | undefined);
  await ctx.audit.record(request, { event: 'webhook.create', ok: true, target: hook.id, details: { url: webhookUrlForLogs(hook.url), events: hook.events } });
  const res: CreatedWebhook = { id: hook.id, url: hook.url, events: hook.events, createdAt: hook.createdAt, secret: hook.secret };
  return reply.status(201).send(res);
}

// The whole URL, secret path and all: only admins list webhooks, and they must be able to
// tell which receiver each one sends to (and check it) after the answer to its creation is
// gone. The audit log and the server's log get only its origin (webhookUrlForLogs): they are
// kept, copied and shipped elsewhere long after the webhook is removed.
async function listWebhooks(ctx: ServerContext, request: FastifyRequest): Promise<WebhookInfo[]> {
  authorizeAdmin(authOf(request));
  return (await ctx.webhookStore.list()).map((h) => ({ id: h.id, url: h.url, events: h.events, createdAt: h.createdAt }));
}

async function deleteWebhook(ctx: ServerContext, request: FastifyRequest, reply: FastifyReply) {
  authorizeAdmin(authOf(request));
  const { id } = request.params as { id: string };
  if (!(await ctx.webhooks.remove(id))) throw new NotFoundError(`no webhook ${id}`);
  await ctx.audit.record(request, { event: 'webhook.delete', ok: true, target: id });
  return reply.status(204).send();
}

async function deliveries(ctx: ServerContext, request: FastifyRequest): Promise<WebhookDeliveryInfo[]> {
  authorizeAdmin(authOf(request));
  const q = request.query as Record<string, string | undefined>;
  const limit = q.limit === undefined ? 100 : Number(q.limit);
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > 10_000) throw new ValidationError('limit must be an integer from 1 to 10000');
  // A webhook's deliveries go with it (DELETE), so an id that names no webhook has no log:
  // say so rather than answer an empty one that reads as "nothing was sent".
  if (q.webhook !== undefined && !(await ctx.webhookStore.list()).some((h) => h.id === q.webhook)) throw new NotFoundError(`no webhook ${q.webhook}`);
  const rows = await ctx.webhookStore.log({ webhookId: q.webhook, limit });
  return rows.map((d) => ({
    id: d.id,
    webhookId: d.webhookId,
    event: d.event,
    status: d.status,
    attempts: d.attempts,
    lastStatus: d.lastStatus,
    lastError: d.lastError,
    createdAt: d.createdAt,
    nextAt: d.status === 'pending' ? d.nextAt : null,
    doneAt: d.doneAt,
    payload: JSON.parse(d.payload) as unknown,
  }));
}
