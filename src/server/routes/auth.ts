/**
 * Logins and the caller's own account (docs/protocol.md, "Users, tokens, sessions"):
 *
 *   POST /api/v1/auth/login     user + password -> a new API token (`ferry login`)
 *   POST /api/v1/auth/session   user + password -> web session (access + refresh token)
 *   POST /api/v1/auth/refresh   refresh token -> new access + refresh token (rotation)
 *   POST /api/v1/auth/logout    ends the presenting web session, or revokes the presenting token
 *   POST /api/v1/auth/ticket    a short read-only URL credential for browser downloads and previews
 *   GET  /api/v1/me             who am I, my grants, usage and limits
 *   POST /api/v1/me/password    change my password
 *
 * The three login routes are public; they are rate-limited per address (rateLimit.authPerIp:
 * every sign-in and ticket, a refresh only when it fails) and their failures feed the defender.
 *
 * The web app asks for its session with `cookie: true`: the refresh token then lives in an
 * HttpOnly, SameSite=Strict cookie (scripts never see it; other sites cannot make the
 * browser send it), and the access token only in the page's memory. A refresh from the
 * cookie must come from our own origin.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AuthInvalidError, AuthRequiredError, ForbiddenError, ValidationError } from '../../core/errors.js';
import { parsePermissions } from '../../core/permissions.js';
import { API_PREFIX, type CreatedToken, type DownloadTicket, type MeResponse, type WebSession } from '../../core/protocol.js';
import { authOf, type RoutePlugin, type ServerContext } from '../context.js';
import { authorize, grantsWithinPrefix, userPermissions } from '../authz.js';
import { clearCookie, readCookie, readCookies, sameOrigin, secureCookies, setCookie } from '../cookies.js';
import { bodyPath } from '../validate.js';
import { checkPasswordRules } from '../passwords.js';
import { grantInfo, tokenInfo } from '../views.js';
import { bodyObject, optionalInt, optionalLabel, optionalString, requiredString } from '../validate.js';

/** Longest-lived token a login may ask for: one year (default 90 days). */
const MAX_LOGIN_TOKEN_SECONDS = 365 * 86_400;
const DEFAULT_LOGIN_TOKEN_SECONDS = 90 * 86_400;
/**
 * The web app's refresh-token cookie. Where cookies can be `Secure` it is a `__Host-` one:
 * the browser then takes it only from this host itself (no `Domain`), so a sibling
 * subdomain cannot plant its own session's cookie beside ours (with a longer path it came
 * first, and the next page load of the victim's tab went on in the attacker's account).
 * The prefix requires `Path=/`; elsewhere (plain HTTP off loopback) it stays scoped to the
 * auth routes.
 */
function refreshCookie(ctx: ServerContext, request: FastifyRequest): { name: string; path: string } {
  return secureCookies(request, ctx.config.publicUrl) ? { name: '__Host-ferry_refresh', path: '/' } : { name: 'ferry_refresh', path: `${API_PREFIX}/auth` };
}
/** Download tickets live this long: enough for a video to be watched and seeked through. */
const TICKET_TTL_MS = 60 * 60_000;

/**
 * Largest body of the routes anyone may call before signing in (login, session, refresh): a
 * name, a password of at most 1,024 characters, a token name. The API's 8 MiB let anyone make
 * the server parse 6 MB of JSON objects for each attempt, 0.67 s of its one thread (700,000
 * keys), before the answer was a 400.
 */
const PUBLIC_BODY_LIMIT = 64 * 1024;

export const authRoutes: RoutePlugin = async (app, { ctx }) => {
  const pub = { config: { public: true }, bodyLimit: PUBLIC_BODY_LIMIT };

  app.post(`${API_PREFIX}/auth/login`, pub, (request, reply) => login(ctx, request, reply));
  app.post(`${API_PREFIX}/auth/session`, pub, (request, reply) => startSession(ctx, request, reply));
  app.post(`${API_PREFIX}/auth/refresh`, pub, (request, reply) => refresh(ctx, request, reply));
  app.post(`${API_PREFIX}/auth/logout`, (request, reply) => logout(ctx, request, reply));
  app.post(`${API_PREFIX}/auth/ticket`, (request, reply) => downloadTicket(ctx, request, reply));
  app.get(`${API_PREFIX}/me`, (request) => me(ctx, request));
  app.post(`${API_PREFIX}/me/password`, (request, reply) => changePassword(ctx, request, reply));
};

/** Checks user + password (rate-limited, audited, scored) and returns the user. */
async function passwordLogin(ctx: ServerContext, request: FastifyRequest, event: string) {
  await ctx.limiters.authPerIp(request);
  const body = bodyObject(request.body);
  const name = requiredString(body.user, 'user', 200);
  const password = requiredString(body.password, 'password', 1024);
  try {
    return { user: await ctx.auth.checkPassword(name, password, request.ip), body };
  } catch (err) {
    await ctx.reportAuthFailure(request, err, { userName: name, event });
    throw err;
  }
}

async function login(ctx: ServerContext, request: FastifyRequest, reply: FastifyReply) {
  const { user, body } = await passwordLogin(ctx, request, 'auth.login');
  const seconds = optionalInt(body.expiresInSeconds, 'expiresInSeconds', 60) ?? DEFAULT_LOGIN_TOKEN_SECONDS;
  if (seconds > MAX_LOGIN_TOKEN_SECONDS) throw new ValidationError(`expiresInSeconds may be at most ${MAX_LOGIN_TOKEN_SECONDS}`);
  const name = optionalLabel(body.tokenName, 'tokenName', 200) ?? 'ferry login';
  const { row, token } = await ctx.auth.createToken(user, { name, scopes: '*', pathPrefix: null, expiresAt: ctx.now() + seconds * 1000, fromLogin: true });
  await ctx.audit.record(request, { event: 'auth.login', ok: true, userId: user.id, userName: user.name, tokenId: row.id, target: row.id });
  await ctx.audit.record(request, { event: 'token.create', ok: true, userId: user.id, userName: user.name, tokenId: row.id, target: row.id, details: { name, via: 'login' } });
  const res: CreatedToken = { ...tokenInfo(row, user.name, user.role), token };
  return reply.status(201).send(res);
}

/** Moves the refresh token of a session answer into the cookie (web app). */
function intoCookie(ctx: ServerContext, request: FastifyRequest, reply: FastifyReply, session: WebSession): WebSession {
  const cookie = refreshCookie(ctx, request);
  setCookie(request, reply, cookie.name, session.refreshToken!, { path: cookie.path, maxAgeSeconds: (session.refreshExpiresAt - ctx.now()) / 1000, publicUrl: ctx.config.publicUrl });
  const { refreshToken: _kept, ...rest } = session;
  return rest;
}

async function startSession(ctx: ServerContext, request: FastifyRequest, reply: FastifyReply) {
  const { user, body } = await passwordLogin(ctx, request, 'auth.session');
  if (body.cookie !== undefined && typeof body.cookie !== 'boolean') throw new ValidationError('cookie must be a boolean');
  const session = await ctx.auth.startSession(user, request.ip);
  await ctx.audit.record(request, { event: 'auth.session', ok: true, userId: user.id, userName: user.name });
  return reply.status(201).send(body.cookie === true ? intoCookie(ctx, request, reply, session) : session);
}

/**
 * A refresh presents a 256-bit token, not a password: only a failed one counts against the
 * address's password attempts (rateLimit.authPerIp). The web app refreshes at every page load,
 * and counting each one put a person reloading pages, or an office behind one address, past
 * 30 a minute: the page then stayed at "Loading…" for the rest of the minute.
 */
async function refresh(ctx: ServerContext, request: FastifyRequest, reply: FastifyReply) {
  const body = request.body === undefined || request.body === null ? {} : bodyObject(request.body);
  const fromCookie = body.refreshToken === undefined;
  const cookie = refreshCookie(ctx, request);
  const cookies = fromCookie ? readCookies(request, cookie.name) : [];
  const presented = fromCookie ? cookies[0] : body.refreshToken;
  // The web app's first look at a page load: no cookie is no session, not a failure (a 401
  // is an error in the browser's console on every visit of a signed-out page).
  if (fromCookie && !presented && body.ifSession === true) return reply.status(204).send();
  try {
    if (fromCookie && !presented) throw new AuthRequiredError('no refresh token: sign in');
    if (fromCookie && !sameOrigin(request, ctx.config.publicUrl)) throw new ForbiddenError('a refresh from the session cookie must come from this server\'s own pages');
    // Two session cookies: one was set by another host of the parent domain (only the plain
    // `ferry_refresh` can be; a `__Host-` one comes from this host alone). Which is ours is
    // unknowable, and the planted one came first (longer path): refuse both rather than go
    // on in the other account.
    if (cookies.length > 1) throw new AuthInvalidError('two session cookies arrived, one set by another site of this domain: sign in again (serve Ferry over TLS to prevent this)');
    const { session, user } = await ctx.auth.refreshSession(presented);
    await ctx.audit.record(request, { event: 'auth.refresh', ok: true, userId: user.id, userName: user.name });
    return fromCookie ? intoCookie(ctx, request, reply, session) : session;
  } catch (err) {
    if (fromCookie) clearCookie(request, reply, cookie.name, cookie.path, ctx.config.publicUrl);
    await ctx.reportAuthFailure(request, err, { event: 'auth.refresh' });
    await ctx.limiters.authPerIp(request);
    throw err;
  }
}

async function logout(ctx: ServerContext, request: FastifyRequest, reply: FastifyReply) {
  const auth = authOf(request);
  if (auth.kind === 'session') await ctx.auth.endSession(auth.tokenId.slice('session:'.length));
  else await ctx.users.revokeToken(auth.tokenId, ctx.now());
  const cookie = refreshCookie(ctx, request);
  if (readCookie(request, cookie.name) !== undefined) clearCookie(request, reply, cookie.name, cookie.path, ctx.config.publicUrl);
  await ctx.audit.record(request, { event: 'auth.logout', ok: true, target: auth.tokenId });
  return reply.status(204).send();
}

async function downloadTicket(ctx: ServerContext, request: FastifyRequest, reply: FastifyReply): Promise<DownloadTicket> {
  const auth = authOf(request);
  const body = request.body === undefined || request.body === null ? {} : bodyObject(request.body);
  const path = body.path === undefined ? '/' : bodyPath(body.path, 'path');
  authorize(auth, 'read', path);
  reply.header('cache-control', 'no-store');
  return ctx.auth.issueTicket(auth, path, TICKET_TTL_MS);
}

async function me(ctx: ServerContext, request: FastifyRequest): Promise<MeResponse> {
  const auth = authOf(request);
  return {
    user: auth.userName,
    role: auth.role,
    home: auth.home,
    tokenId: auth.tokenId,
    // What the credential can use: its scopes within the user's own permissions (a web
    // session's `*` is not the admin scope for a user who is not an admin).
    scopes: parsePermissions([...auth.scopes].filter((p) => userPermissions(auth).has(p))),
    pathPrefix: auth.pathPrefix,
    grants: [...grantsWithinPrefix(auth)].sort((a, b) => (a.path < b.path ? -1 : 1)).map((g) => grantInfo({ path: g.path, perms: [...g.perms].join(',') })),
    usage: await ctx.meta.usage(auth.home),
    limits: { ...auth.limits, maxFileSize: ctx.quota.maxFileSize(auth), maxSessions: auth.limits.maxSessions ?? ctx.config.maxUploadSessions },
    uploadSessions: await ctx.meta.countUploads(auth.userId),
    trashDays: ctx.config.trashDays,
  };
}

async function changePassword(ctx: ServerContext, request: FastifyRequest, reply: FastifyReply) {
  const auth = authOf(request);
  await ctx.limiters.authPerIp(request);
  const body = bodyObject(request.body);
  const next = checkPasswordRules(body.newPassword, 'newPassword');
  const user = await ctx.users.userById(auth.userId);
  if (!user) throw new ForbiddenError('the account is gone');
  if (user.password_hash !== null) {
    // Proving the current password: a stolen token alone cannot take the account over.
    const current = requiredString(body.currentPassword, 'currentPassword', 1024);
    try {
      await ctx.auth.checkPassword(user.name, current, request.ip);
    } catch (err) {
      await ctx.reportAuthFailure(request, err, { event: 'user.password' });
      throw err;
    }
  } else {
    // No password yet: only a credential that can already do everything the user can.
    const full = [...userPermissions(auth)].every((p) => auth.scopes.has(p)) && auth.pathPrefix === null;
    if (!full) throw new ForbiddenError('setting a first password needs a token with all of your permissions and no path prefix');
    // A password does not expire: one set by a token that does would outlive it.
    if ((await ctx.auth.notAfterToken(auth, null)) !== null) {
      throw new ForbiddenError('setting a first password needs a token that does not expire (a password would outlive this one); ask an admin');
    }
  }
  await ctx.users.updateUser(user.id, { password_hash: await ctx.auth.hashPassword(next, user.id) });
  // What the old password opened ends: web sessions, and the tokens password logins made,
  // but the one making this change (it just proved the current password). Named tokens
  // stay, as GitHub keeps personal access tokens: scripts run on them, made on purpose.
  await ctx.users.revokeUserSessions(user.id, ctx.now());
  const ended = await ctx.users.revokeLoginTokens(user.id, ctx.now(), auth.kind === 'token' ? auth.tokenId : undefined);
  await ctx.audit.record(request, { event: 'user.password', ok: true, target: user.name, details: { loginTokensRevoked: ended } });
  return reply.status(204).send();
}
