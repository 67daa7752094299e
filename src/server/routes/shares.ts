/**
 * Share links, managed by their owners (docs/protocol.md, "Share links"):
 *
 *   GET    /api/v1/shares          mine (admins: `?all=true`), newest first; with `limit` or
 *                                   `cursor` a page {entries, next?}, else all as an array
 *   POST   /api/v1/shares          CreateShareRequest -> 201 CreatedShare (URL shown once)
 *   DELETE /api/v1/shares/:id      revoke: the link answers 410 from the next request on
 *
 * Making a link needs 'share' on the path, plus 'read' for a download link or 'write' for
 * an upload link: a link never gives a visitor more than its owner holds. The URL carries a
 * 256-bit key; only its SHA-256 is stored. The password, if any, is stored as scrypt.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ForbiddenError, NotADirectoryError, NotFoundError, ValidationError } from '../../core/errors.js';
import { API_PREFIX, type CreatedShare, type ShareKind } from '../../core/protocol.js';
import type { ShareRow } from '../../store/share-store.js';
import { authOf, type RoutePlugin, type ServerContext } from '../context.js';
import { authorize, authorizeScope, isAdmin, toServerPath, withinPrefix, type AuthContext } from '../authz.js';
import { checkPasswordRules } from '../passwords.js';
import { shareInfo } from '../views.js';
import { bodyObject, bodyPath, keysetPageQuery, onlyFields, optionalInt, optionalLabel, optionalString, queryFlag } from '../validate.js';
import { trimTrailingSlashes } from '../../core/path.js';

/** A share link may live at most a year; one without an expiry lives until revoked (or its token expires: {@link linkExpiresAt}). */
export const MAX_SHARE_SECONDS = 365 * 86_400;

/**
 * When a link made now should expire: `seconds` from now (none: never), but never after the
 * token making it. A link is a credential too: a token that expires (or a leaked one, soon
 * revoked) must not leave links behind that outlive it, as it may not make longer-lived tokens.
 */
export async function linkExpiresAt(ctx: ServerContext, auth: AuthContext, seconds: number | undefined): Promise<number | null> {
  return ctx.auth.notAfterToken(auth, seconds === undefined ? null : ctx.now() + seconds * 1000);
}

export function shareKeyHash(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** The public base URL for links: `--public-url`, or what the client called us by. */
export function publicBase(ctx: ServerContext, request: FastifyRequest): string {
  if (ctx.config.publicUrl) return trimTrailingSlashes(ctx.config.publicUrl);
  return `${request.protocol}://${request.host}`;
}

export const shareRoutes: RoutePlugin = async (app, { ctx }) => {
  app.get(`${API_PREFIX}/shares`, (request) => listShares(ctx, request));
  app.post(`${API_PREFIX}/shares`, (request, reply) => createShare(ctx, request, reply));
  app.delete(`${API_PREFIX}/shares/:id`, (request, reply) => revokeShare(ctx, request, reply));
};

async function listShares(ctx: ServerContext, request: FastifyRequest) {
  const auth = authOf(request);
  authorizeScope(auth, 'share');
  const all = queryFlag(request.query, 'all');
  if (all && !isAdmin(auth)) throw new ForbiddenError("listing other users' links needs an admin token without a path prefix");
  const page = keysetPageQuery(request.query, ctx.limits.maxListLimit);
  if (page) {
    // A token limited to a path prefix sees only the links inside it.
    const { rows, next } = await ctx.shares.listPage(all ? undefined : auth.userId, { ...page, pathPrefix: all ? null : auth.pathPrefix });
    const entries = rows.map((s) => shareInfo(s, s.user_name, s.made_with_name));
    return next === undefined ? { entries } : { entries, next };
  }
  // The whole list as an array, for clients from before pages (bounded per user by maxSharesPerUser).
  const rows = await ctx.shares.list(all ? undefined : auth.userId);
  return rows.filter((s) => all || withinPrefix(auth, s.path)).map((s) => shareInfo(s, s.user_name, s.made_with_name));
}

async function createShare(ctx: ServerContext, request: FastifyRequest, reply: FastifyReply) {
  const auth = authOf(request);
  const body = bodyObject(request.body);
  onlyFields(body, ['path', 'kind', 'name', 'password', 'expiresInSeconds', 'maxUses', 'maxBytes']);
  const path = bodyPath(body.path, 'path');
  const kind = (body.kind ?? 'download') as ShareKind;
  if (kind !== 'download' && kind !== 'upload') throw new ValidationError('kind must be "download" or "upload"');
  const server = authorize(auth, 'share', path);
  authorize(auth, kind === 'download' ? 'read' : 'write', path);
  const entry = await ctx.meta.stat(server);
  if (kind === 'upload' && entry.type !== 'dir') throw new NotADirectoryError(`${path}: an upload link needs a directory`);
  const seconds = optionalInt(body.expiresInSeconds, 'expiresInSeconds', 1);
  if (seconds !== undefined && seconds > MAX_SHARE_SECONDS) throw new ValidationError(`expiresInSeconds may be at most ${MAX_SHARE_SECONDS}`);
  const maxUses = optionalInt(body.maxUses, 'maxUses', 1) ?? null;
  const maxBytes = optionalInt(body.maxBytes, 'maxBytes', 1) ?? null;
  if (maxBytes !== null && kind !== 'upload') throw new ValidationError('maxBytes is for upload links (kind "upload") only');
  const password = body.password === undefined || body.password === null ? undefined : checkPasswordRules(body.password);
  const key = randomBytes(32).toString('base64url');
  const now = ctx.now();
  const row: ShareRow = {
    id: 'sh_' + randomBytes(8).toString('hex'),
    key_hash: shareKeyHash(key),
    user_id: auth.userId,
    path,
    kind,
    name: optionalLabel(body.name, 'name', 200) ?? (entry.name || '/'),
    password_hash: password === undefined ? null : await ctx.auth.hashPassword(password, auth.userId),
    expires_at: await linkExpiresAt(ctx, auth, seconds),
    max_uses: maxUses,
    uses: 0,
    created_at: now,
    revoked_at: null,
    last_used_at: null,
    max_bytes: maxBytes,
    bytes_received: 0,
    target_type: entry.type,
    made_with: auth.tokenId,
  };
  await ctx.shares.insert(row, { max: ctx.config.maxSharesPerUser, now });
  await ctx.audit.record(request, { event: 'share.create', ok: true, target: row.id, details: { path: server, kind, expiresAt: row.expires_at, maxUses, maxBytes, password: password !== undefined } });
  const res: CreatedShare = { ...shareInfo(row, auth.userName, await tokenNameOf(ctx, auth)), url: `${publicBase(ctx, request)}/s/${key}` };
  return reply.status(201).send(res);
}

/** The name of the API token a request came with (null: a session, a password). */
export async function tokenNameOf(ctx: ServerContext, auth: AuthContext): Promise<string | null> {
  return auth.kind === 'token' ? ((await ctx.users.tokenById(auth.tokenId))?.name ?? null) : null;
}

/**
 * After an upload link is revoked: what its visitors left open goes with it (they hold
 * sessions of the owner's visitors' budget). How many uploads it aborted.
 */
export async function endVisitorUploads(ctx: ServerContext, s: ShareRow): Promise<number> {
  return s.kind === 'upload' ? ctx.meta.abortVisitorUploads(s.user_id, await shareFolder(ctx, s)) : 0;
}

/** The server path of a link's folder (its path is its owner's user path). */
async function shareFolder(ctx: ServerContext, s: ShareRow): Promise<string> {
  const owner = await ctx.users.userById(s.user_id);
  return owner ? toServerPath(owner, s.path) : s.path;
}

async function revokeShare(ctx: ServerContext, request: FastifyRequest, reply: FastifyReply) {
  const params = request.params as { id: string };
  const auth = authOf(request);
  authorizeScope(auth, 'share');
  const s = await ctx.shares.byId(params.id);
  if (!s || (s.user_id !== auth.userId && !isAdmin(auth))) throw new NotFoundError(`no share link ${params.id}`);
  if (!isAdmin(auth) && !withinPrefix(auth, s.path)) throw new ForbiddenError(`the link's path ${s.path} is outside this token's path prefix ${auth.pathPrefix}`);
  await ctx.shares.revoke(s.id, ctx.now());
  const aborted = await endVisitorUploads(ctx, s);
  await ctx.audit.record(request, { event: 'share.revoke', ok: true, target: s.id, details: { path: s.path, ...(aborted > 0 ? { uploadsAborted: aborted } : {}) } });
  return reply.status(204).send();
}
