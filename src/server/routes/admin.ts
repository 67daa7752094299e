/**
 * Admin routes for the security machinery (admin only; docs/protocol.md, "Admin"):
 *
 *   GET    /api/v1/admin/audit?since=MS&before=ID&user=NAME&path=P&event=E&limit=N   newest first
 *   GET    /api/v1/admin/bans               addresses the defender bans now
 *   DELETE /api/v1/admin/bans/:ip           lift a ban
 *   POST   /api/v1/admin/sweep              delete files past their TTL now
 *   GET    /api/v1/admin/uploads?user=NAME&limit=N   open upload sessions, newest first
 *   DELETE /api/v1/admin/uploads/:id        abort anyone's session (native, partial or tus)
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { NotFoundError, ValidationError } from '../../core/errors.js';
import { normalizePath } from '../../core/path.js';
import { API_PREFIX, type AdminUpload, type AuditPage } from '../../core/protocol.js';
import { authOf, type RoutePlugin, type ServerContext } from '../context.js';
import { authorizeAdmin } from '../authz.js';

function intParam(q: Record<string, string | undefined>, name: string, min: number, max: number): number | undefined {
  const v = q[name];
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new ValidationError(`${name} must be an integer from ${min} to ${max}`);
  return n;
}

export const adminRoutes: RoutePlugin = async (app, { ctx }) => {
  app.get(`${API_PREFIX}/admin/audit`, (request) => auditLog(ctx, request));
  app.get(`${API_PREFIX}/admin/bans`, (request) => bans(ctx, request));
  app.delete(`${API_PREFIX}/admin/bans/:ip`, (request, reply) => unban(ctx, request, reply));
  app.post(`${API_PREFIX}/admin/sweep`, (request) => sweep(ctx, request));
  app.get(`${API_PREFIX}/admin/uploads`, (request) => listUploads(ctx, request));
  app.delete(`${API_PREFIX}/admin/uploads/:id`, (request, reply) => abortUpload(ctx, request, reply));
};

async function listUploads(ctx: ServerContext, request: FastifyRequest): Promise<AdminUpload[]> {
  authorizeAdmin(authOf(request));
  const q = request.query as Record<string, string | undefined>;
  let ownerId: string | undefined;
  if (q.user !== undefined) {
    const user = await ctx.users.userByName(q.user);
    if (!user) throw new NotFoundError(`no user named ${JSON.stringify(q.user)}`);
    ownerId = user.id;
  }
  return ctx.meta.listUploads({ ownerId, limit: intParam(q, 'limit', 1, 10_000) ?? 1000 });
}

async function abortUpload(ctx: ServerContext, request: FastifyRequest, reply: FastifyReply) {
  authorizeAdmin(authOf(request));
  const { id } = request.params as { id: string };
  // A tus upload also has tails and its own row: its front removes all of them.
  if (!(await ctx.tus.terminateAny(id))) await ctx.meta.abortUpload(id);
  await ctx.audit.record(request, { event: 'upload.abort', ok: true, target: id });
  return reply.status(204).send();
}

/** Bare file operations (`download`) name their audit events (`file.download`). */
const FILE_OPS = new Set(['upload', 'download', 'delete', 'move', 'copy', 'mkdir', 'restore', 'expire', 'quarantine']);
/**
 * The audit event (or `area.` prefix) a filter names. Every audit event is `area.what`, so
 * any other bare word would match nothing: it is refused (`login`, the hooks' name for
 * sign-ins, found nothing and looked like a quiet log), not answered with an empty page.
 */
export function auditEventName(event: string): string {
  if (FILE_OPS.has(event)) return `file.${event}`;
  if (event.includes('.')) return event;
  throw new ValidationError(
    `no audit event is named "${event}": give a full name (auth.login, share.use), a prefix ending in "." (auth.), or a file operation (${[...FILE_OPS].join(', ')})`,
    { details: { event } },
  );
}

async function auditLog(ctx: ServerContext, request: FastifyRequest): Promise<AuditPage> {
  authorizeAdmin(authOf(request));
  const q = request.query as Record<string, string | undefined>;
  return ctx.auditStore.query({
    since: intParam(q, 'since', 0, Number.MAX_SAFE_INTEGER),
    before: intParam(q, 'before', 1, Number.MAX_SAFE_INTEGER),
    user: q.user,
    path: q.path === undefined ? undefined : normalizePath(q.path),
    event: q.event === undefined ? undefined : auditEventName(q.event),
    limit: intParam(q, 'limit', 1, 10_000) ?? 1000,
  });
}

async function bans(ctx: ServerContext, request: FastifyRequest) {
  authorizeAdmin(authOf(request));
  return ctx.defender.bans();
}

async function unban(ctx: ServerContext, request: FastifyRequest, reply: FastifyReply) {
  authorizeAdmin(authOf(request));
  const { ip } = request.params as { ip: string };
  if (!ctx.defender.unban(ip)) throw new NotFoundError(`${ip} is not banned`);
  await ctx.audit.record(request, { event: 'defender.unban', ok: true, target: ip });
  return reply.status(204).send();
}

async function sweep(ctx: ServerContext, request: FastifyRequest) {
  authorizeAdmin(authOf(request));
  const removed = await ctx.sweepExpiredFiles();
  return { files: removed.length };
}
