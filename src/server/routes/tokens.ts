/**
 * API tokens (docs/protocol.md, "Users, tokens, sessions"):
 *
 *   GET    /api/v1/tokens            mine (admins: `?all=true` or `?user=NAME`), newest first;
 *                                     with `limit` or `cursor` a page {entries, next?}, else all as an array
 *   POST   /api/v1/tokens            CreateTokenRequest -> 201 CreatedToken (secret shown once)
 *   DELETE /api/v1/tokens/:id        revoke: effective on the next request, on every node
 *
 * A token can only make tokens that can do less: scopes within its own scopes and its
 * user's permissions, a path prefix within its own, an expiry no later than its own (for
 * other users too; an admin's token with a path prefix makes none for them). It can
 * only revoke tokens that could do no more than it. Admins manage everyone's tokens.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ForbiddenError, NotFoundError, ValidationError } from '../../core/errors.js';
import { isWithin, normalizePath } from '../../core/path.js';
import { parsePermissions, type Permission } from '../../core/permissions.js';
import { API_PREFIX, type CreatedToken, type RevokedToken } from '../../core/protocol.js';
import type { TokenRow, UserRow } from '../../store/auth-store.js';
import { authOf, type RoutePlugin, type ServerContext } from '../context.js';
import { isAdmin, userPermissions, type AuthContext } from '../authz.js';
import { tokenInfo } from '../views.js';
import { endVisitorUploads } from './shares.js';
import { bodyObject, keysetPageQuery, onlyFields, optionalInt, optionalString, queryFlag, requiredLabel, requiredString, stringList } from '../validate.js';

/** Ten years: tokens without a chosen expiry do not expire, longer ones are a typo. */
const MAX_TOKEN_SECONDS = 10 * 365 * 86_400;

/** Whether the caller's credential can already do everything `t` can (so may revoke it). */
function covers(auth: AuthContext, t: TokenRow): boolean {
  if (isAdmin(auth)) return true;
  const scopes = t.scopes === '*' ? null : parsePermissions(t.scopes);
  const scopeOk = scopes === null ? [...userPermissions(auth)].every((p) => auth.scopes.has(p)) : scopes.every((p) => auth.scopes.has(p));
  const prefixOk = auth.pathPrefix === null || (t.path_prefix !== null && isWithin(t.path_prefix, auth.pathPrefix));
  return scopeOk && prefixOk;
}

export const tokenRoutes: RoutePlugin = async (app, { ctx }) => {

  app.get(`${API_PREFIX}/tokens`, (request) => listTokens(ctx, request));
  app.post(`${API_PREFIX}/tokens`, (request, reply) => createToken(ctx, request, reply));
  app.delete(`${API_PREFIX}/tokens/:id`, (request, reply) => revokeToken(ctx, request, reply));
};

async function listTokens(ctx: ServerContext, request: FastifyRequest) {
  const { users } = ctx;
  const auth = authOf(request);
  const q = request.query as Record<string, string | undefined>;
  let userId: string | undefined = auth.userId;
  if (queryFlag(q, 'all') || q.user !== undefined) {
    if (!isAdmin(auth)) throw new ForbiddenError("listing other users' tokens needs an admin token without a path prefix");
    if (q.user !== undefined) {
      const u = await users.userByName(q.user);
      if (!u) throw new NotFoundError(`no user ${q.user}`);
      userId = u.id;
    } else {
      userId = undefined;
    }
  }
  // A token limited to a path prefix sees only the tokens inside it (as it sees only the links
  // inside it): the others' names and prefixes name what lies outside.
  const prefix = userId === auth.userId ? auth.pathPrefix : null;
  const page = keysetPageQuery(q, ctx.limits.maxListLimit);
  if (page) {
    const { rows, next } = await users.listTokensPage(userId, { ...page, pathPrefix: prefix });
    const entries = rows.map((t) => tokenInfo(t, t.user_name, t.user_role));
    return next === undefined ? { entries } : { entries, next };
  }
  // The whole list as an array, for clients from before pages (bounded per user by maxTokensPerUser).
  const rows = (await users.listTokens(userId)).filter((t) => prefix === null || (t.path_prefix !== null && isWithin(t.path_prefix, prefix)));
  return rows.map((t) => tokenInfo(t, t.user_name, t.user_role));
}

async function createToken(ctx: ServerContext, request: FastifyRequest, reply: FastifyReply) {
  const { users } = ctx;
  const auth = authOf(request);
  const body = bodyObject(request.body);
  onlyFields(body, ['name', 'user', 'scopes', 'pathPrefix', 'expiresInSeconds']);
  const name = requiredLabel(body.name, 'name', 200);
  let owner: UserRow | undefined = await users.userById(auth.userId);
  const forUser = optionalString(body.user, 'user', 64);
  if (forUser !== undefined && forUser !== auth.userName) {
    if (!isAdmin(auth)) throw new ForbiddenError('creating tokens for other users needs an admin token without a path prefix');
    owner = await users.userByName(forUser);
    if (!owner) throw new NotFoundError(`no user ${forUser}`);
  }
  if (!owner) throw new ForbiddenError('the account is gone');
  const other = owner.id !== auth.userId;
  const ownerPerms = userPermissions({ role: owner.role, grants: other ? (await ctx.auth.contextFor(owner, { kind: 'token', tokenId: '', scopes: '', pathPrefix: null })).grants : auth.grants });

  // Scopes: what was asked, or everything the caller may hand on.
  const requested = stringList(body.scopes, 'scopes');
  let scopes: Permission[];
  try {
    scopes = requested === undefined ? [...ownerPerms].filter((p) => other || auth.scopes.has(p)) : parsePermissions(requested);
  } catch (err) {
    throw new ValidationError((err as Error).message);
  }
  if (scopes.length === 0) throw new ValidationError('a token needs at least one scope');
  for (const p of scopes) {
    if (!ownerPerms.has(p)) throw new ForbiddenError(`${owner.name} does not hold '${p}', so no token of theirs can`);
    if (!other && !auth.scopes.has(p)) throw new ForbiddenError(`this token lacks '${p}', so it cannot give it to another`);
  }

  // Path prefix: within the caller's own.
  let prefix = body.pathPrefix === undefined || body.pathPrefix === null ? null : normalizePath(requiredString(body.pathPrefix, 'pathPrefix', 4096));
  if (prefix === '/') prefix = null;
  if (!other && auth.pathPrefix !== null) {
    if (prefix === null) prefix = auth.pathPrefix;
    else if (!isWithin(prefix, auth.pathPrefix)) throw new ForbiddenError(`the path prefix must lie within this token's own (${auth.pathPrefix})`);
  }

  // Expiry: never later than the caller's own token, whoever the new one is for (a token that
  // expires, or a leaked one, must not make another user's token that lasts for ever).
  const seconds = optionalInt(body.expiresInSeconds, 'expiresInSeconds', 60);
  if (seconds !== undefined && seconds > MAX_TOKEN_SECONDS) throw new ValidationError(`expiresInSeconds may be at most ${MAX_TOKEN_SECONDS}`);
  const asked = seconds === undefined ? null : ctx.now() + seconds * 1000;
  const expiresAt = await ctx.auth.notAfterToken(auth, asked);

  const { row, token } = await ctx.auth.createToken(owner, { name, scopes, pathPrefix: prefix, expiresAt });
  await ctx.audit.record(request, { event: 'token.create', ok: true, target: row.id, details: { user: owner.name, name, scopes, pathPrefix: prefix, expiresAt } });
  const res: CreatedToken = { ...tokenInfo(row, owner.name, owner.role), token };
  return reply.status(201).send(res);
}

async function revokeToken(ctx: ServerContext, request: FastifyRequest, reply: FastifyReply) {
  const params = request.params as { id: string };
  const { users } = ctx;
  const auth = authOf(request);
  const t = await users.tokenById(params.id);
  // Someone else's token does not exist for a non-admin.
  if (!t || (t.user_id !== auth.userId && !isAdmin(auth))) throw new NotFoundError(`no token ${params.id}`);
  if (!covers(auth, t)) throw new ForbiddenError('this token may not revoke a token that can do more than it');
  const keepShares = queryFlag(request.query, 'keepShares');
  const now = ctx.now();
  if (t.revoked_at === null) await users.revokeToken(t.id, now);
  // A leaked token's links are its exfiltration routes: they go with it unless asked to stay.
  // Asked again without keepShares, a revoked token's remaining links go then.
  const links = keepShares ? [] : await ctx.shares.revokeMadeWith(t.id, now);
  await ctx.audit.record(request, { event: 'token.revoke', ok: true, target: t.id, details: { name: t.name, sharesRevoked: links.length, ...(keepShares ? { keepShares: true } : {}) } });
  for (const s of links) {
    const aborted = await endVisitorUploads(ctx, s);
    await ctx.audit.record(request, { event: 'share.revoke', ok: true, target: s.id, details: { path: s.path, withToken: t.id, ...(aborted > 0 ? { uploadsAborted: aborted } : {}) } });
  }
  const res: RevokedToken = { id: t.id, sharesRevoked: links.length };
  return reply.status(200).send(res);
}
