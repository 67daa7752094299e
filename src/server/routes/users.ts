/**
 * User administration (admin only; docs/protocol.md, "Users, tokens, sessions"):
 *
 *   GET    /api/v1/users
 *   POST   /api/v1/users                    CreateUserRequest -> 201 UserInfo (home created)
 *   GET    /api/v1/users/:name
 *   PATCH  /api/v1/users/:name              UpdateUserRequest -> UserInfo
 *   DELETE /api/v1/users/:name              tokens, sessions, shares and uploads go; files stay
 *   PUT    /api/v1/users/:name/password     {password} (ends the user's web sessions)
 *   PUT    /api/v1/users/:name/grants       {path, permissions} (empty permissions: remove)
 */
import { randomBytes } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AlreadyExistsError, NotFoundError, ValidationError } from '../../core/errors.js';
import { isWithin, normalizePath } from '../../core/path.js';
import { DEFAULT_USER_PERMISSIONS, formatPermissions, parsePermissions } from '../../core/permissions.js';
import { API_PREFIX, type UserInfo } from '../../core/protocol.js';
import type { UserPatch, UserRow } from '../../store/auth-store.js';
import { authOf, type RoutePlugin, type ServerContext } from '../context.js';
import { authorizeAdmin } from '../authz.js';
import { CidrList } from '../ip-filter.js';
import { checkPasswordRules } from '../passwords.js';
import { userInfo } from '../views.js';
import { bodyObject, onlyFields, optionalLimit, requiredString, stringList } from '../validate.js';

const USER_NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;

function checkName(value: unknown): string {
  const name = requiredString(value, 'name', 64);
  if (!USER_NAME.test(name)) throw new ValidationError('a user name has 1 to 64 letters, digits, ".", "_", "@" or "-", starting with a letter or digit');
  return name;
}

function checkRole(value: unknown): 'admin' | 'user' | undefined {
  if (value === undefined) return undefined;
  if (value !== 'admin' && value !== 'user') throw new ValidationError('role must be "admin" or "user"');
  return value;
}

/** Grants from a request: normalized paths, known permissions; `admin` comes with the role only. */
function parseGrants(value: unknown): { path: string; perms: string }[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || value.length > 1000) throw new ValidationError('grants must be an array of {path, permissions}');
  const seen = new Set<string>();
  return value.map((g: unknown, i) => {
    const o = bodyObject(g);
    const path = normalizePath(requiredString(o.path, `grants[${i}].path`, 4096));
    if (seen.has(path)) throw new ValidationError(`grants name ${path} twice`);
    seen.add(path);
    return { path, perms: grantPerms(o.permissions, `grants[${i}].permissions`) };
  });
}

function grantPerms(value: unknown, what: string): string {
  if (!Array.isArray(value) && typeof value !== 'string') throw new ValidationError(`${what} must be a list of permissions`);
  let perms;
  try {
    perms = parsePermissions(value as string | string[]);
  } catch (err) {
    throw new ValidationError((err as Error).message);
  }
  if (perms.includes('admin')) throw new ValidationError(`${what}: 'admin' comes with the admin role, not with a grant`);
  return formatPermissions(perms);
}

type GrantSpec = { path: string; perms: string };

/** The permissions `grants` hold at `path`: those of the nearest grant at or above it (authz.ts). */
function permsAt(grants: readonly GrantSpec[], path: string): Set<string> {
  let nearest: GrantSpec | undefined;
  for (const g of grants) if (isWithin(path, g.path) && (!nearest || g.path.length > nearest.path.length)) nearest = g;
  return new Set(nearest ? nearest.perms.split(',').filter(Boolean) : []);
}

/**
 * Whether `next` gives a permission somewhere `prev` did not. Between two grant paths of
 * either list nothing changes, so comparing at every one of them is enough; removing a
 * narrower grant deeper down can widen (the one above then rules there).
 */
function widensGrants(prev: readonly GrantSpec[], next: readonly GrantSpec[]): boolean {
  for (const path of new Set([...prev, ...next].map((g) => g.path))) {
    const before = permsAt(prev, path);
    for (const p of permsAt(next, path)) if (!before.has(p)) return true;
  }
  return false;
}

/** Whether a limit goes up or is lifted (`null`): a restriction it lowers or sets is not. */
function raisesLimit(prev: number | null, next: number | null): boolean {
  return next === null ? prev !== null : prev !== null && next > Number(prev);
}

/** Whether new CIDR lists let the user in from somewhere the old ones did not (an entry compared as written). */
function widensIpLists(prev: Pick<UserRow, 'ip_allow' | 'ip_deny'>, patch: UserPatch): boolean {
  const list = (v: string | null | undefined) => (v ? v.split(',') : []);
  if (patch.ip_allow !== undefined) {
    const before = list(prev.ip_allow);
    const after = list(patch.ip_allow);
    // An empty allow list lets every address in.
    if (after.length === 0 ? before.length > 0 : before.length > 0 && after.some((c) => !before.includes(c))) return true;
  }
  if (patch.ip_deny !== undefined) {
    const after = list(patch.ip_deny);
    if (list(prev.ip_deny).some((c) => !after.includes(c))) return true;
  }
  return false;
}

function cidrs(value: unknown, what: string): string | null | undefined {
  const list = stringList(value, what);
  return list === undefined ? undefined : CidrList.serialize(list);
}

export const userRoutes: RoutePlugin = async (app, { ctx }) => {
  app.get(`${API_PREFIX}/users`, (request) => listUsers(ctx, request));
  app.post(`${API_PREFIX}/users`, (request, reply) => createUser(ctx, request, reply));
  app.get(`${API_PREFIX}/users/:name`, (request) => getUser(ctx, request));
  app.patch(`${API_PREFIX}/users/:name`, (request) => updateUser(ctx, request));
  app.delete(`${API_PREFIX}/users/:name`, (request, reply) => deleteUser(ctx, request, reply));
  app.put(`${API_PREFIX}/users/:name/password`, (request, reply) => setPassword(ctx, request, reply));
  app.put(`${API_PREFIX}/users/:name/grants`, (request) => setGrants(ctx, request));
};

async function info(ctx: ServerContext, u: UserRow): Promise<UserInfo> {
  return userInfo(u, await ctx.users.grantsOf(u.id));
}

async function find(ctx: ServerContext, name: string): Promise<UserRow> {
  const u = await ctx.users.userByName(name);
  if (!u) throw new NotFoundError(`no user ${name}`, { details: { user: name } });
  return u;
}

function admin(request: FastifyRequest) {
  const auth = authOf(request);
  authorizeAdmin(auth);
  return auth;
}

async function listUsers(ctx: ServerContext, request: FastifyRequest) {
  const { users } = ctx;
  admin(request);
  return Promise.all((await users.listUsers()).map((u) => info(ctx, u)));
}

async function createUser(ctx: ServerContext, request: FastifyRequest, reply: FastifyReply) {
  const { users } = ctx;
  const auth = admin(request);
  const body = bodyObject(request.body);
  onlyFields(body, ['name', 'role', 'home', 'password', 'grants', 'quotaBytes', 'quotaFiles', 'maxFileSize', 'maxSessions', 'ipAllow', 'ipDeny']);
  const name = checkName(body.name);
  if (await users.userByName(name)) throw new AlreadyExistsError(`user ${name} exists`, { details: { user: name } });
  const role = checkRole(body.role) ?? 'user';
  const home = body.home === undefined ? `/users/${name}` : normalizePath(requiredString(body.home, 'home', 4096));
  const password = body.password === undefined ? undefined : checkPasswordRules(body.password);
  if (password !== undefined) await ctx.auth.requireLasting(auth, 'creating a user with a password');
  if (role === 'admin') await ctx.auth.requireLasting(auth, 'creating an admin');
  const grants = parseGrants(body.grants) ?? [{ path: '/', perms: formatPermissions(DEFAULT_USER_PERMISSIONS) }];
  const row: UserRow = {
    id: 'u-' + randomBytes(8).toString('hex'),
    name,
    role,
    password_hash: password === undefined ? null : await ctx.auth.hashPassword(password, auth.userId),
    home,
    created_at: ctx.now(),
    disabled: 0,
    quota_bytes: optionalLimit(body.quotaBytes, 'quotaBytes') ?? null,
    quota_files: optionalLimit(body.quotaFiles, 'quotaFiles') ?? null,
    max_file_size: optionalLimit(body.maxFileSize, 'maxFileSize') ?? null,
    max_sessions: optionalLimit(body.maxSessions, 'maxSessions') ?? null,
    ip_allow: cidrs(body.ipAllow, 'ipAllow') ?? null,
    ip_deny: cidrs(body.ipDeny, 'ipDeny') ?? null,
  };
  await ctx.meta.mkdir(home, { parents: true });
  await users.createUser(row, grants);
  await ctx.audit.record(request, { event: 'user.create', ok: true, target: name, details: { role, home, grants } });
  return reply.status(201).send(await info(ctx, row));
}

async function getUser(ctx: ServerContext, request: FastifyRequest) {
  const params = request.params as { name: string };
  admin(request);
  const u = await find(ctx, params.name);
  const user = await info(ctx, u);
  // `limits` and `uploadSessions` as the user's own GET /api/v1/me has them (the server's
  // defaults filled in), so `ferry quota NAME` shows an admin what the user sees.
  const own = { quotaBytes: user.quotaBytes, quotaFiles: user.quotaFiles, maxFileSize: user.maxFileSize, maxSessions: user.maxSessions };
  return {
    ...user,
    usage: await ctx.meta.usage(u.home),
    limits: { ...own, maxFileSize: ctx.quota.maxFileSize({ limits: own }), maxSessions: own.maxSessions ?? ctx.config.maxUploadSessions },
    uploadSessions: await ctx.meta.countUploads(u.id),
  };
}

async function updateUser(ctx: ServerContext, request: FastifyRequest) {
  const { users } = ctx;
  const params = request.params as { name: string };
  const auth = admin(request);
  const u = await find(ctx, params.name);
  const body = bodyObject(request.body);
  onlyFields(body, ['role', 'home', 'grants', 'quotaBytes', 'quotaFiles', 'maxFileSize', 'maxSessions', 'ipAllow', 'ipDeny', 'disabled']);
  const patch: UserPatch = {};
  const role = checkRole(body.role);
  if (role !== undefined) patch.role = role;
  if (body.home !== undefined) patch.home = normalizePath(requiredString(body.home, 'home', 4096));
  const limits = { quota_bytes: 'quotaBytes', quota_files: 'quotaFiles', max_file_size: 'maxFileSize', max_sessions: 'maxSessions' } as const;
  for (const [column, field] of Object.entries(limits) as [keyof typeof limits, string][]) {
    const v = optionalLimit(body[field], field);
    if (v !== undefined) patch[column] = v;
  }
  const allow = cidrs(body.ipAllow, 'ipAllow');
  if (allow !== undefined) patch.ip_allow = allow;
  const deny = cidrs(body.ipDeny, 'ipDeny');
  if (deny !== undefined) patch.ip_deny = deny;
  if (body.disabled !== undefined) {
    if (typeof body.disabled !== 'boolean') throw new ValidationError('disabled must be a boolean');
    if (body.disabled && u.id === auth.userId) throw new ValidationError('you cannot disable yourself');
    patch.disabled = body.disabled ? 1 : 0;
  }
  if (patch.role === 'user' && u.id === auth.userId) throw new ValidationError('you cannot take the admin role from yourself');
  if (patch.role === 'admin' && u.role !== 'admin') await ctx.auth.requireLasting(auth, 'giving the admin role');
  // Enabling a disabled account gives its credentials back, for good.
  if (patch.disabled === 0 && u.disabled) await ctx.auth.requireLasting(auth, 'enabling a disabled user');
  const grants = parseGrants(body.grants);
  // Access to paths, and room to use it, outlive the token too: widening either needs a
  // lasting credential; narrowing (an incident answered with a short-lived token) does not.
  if (patch.home !== undefined && patch.home !== u.home) await ctx.auth.requireLasting(auth, "changing a user's home");
  if (grants !== undefined && widensGrants(await users.grantsOf(u.id), grants)) await ctx.auth.requireLasting(auth, 'widening grants');
  for (const column of Object.keys(limits) as (keyof typeof limits)[]) {
    const next = patch[column];
    if (next !== undefined && raisesLimit(u[column], next)) await ctx.auth.requireLasting(auth, `raising or lifting ${limits[column]}`);
  }
  if (widensIpLists(u, patch)) await ctx.auth.requireLasting(auth, "widening a user's address lists");
  if (patch.home !== undefined) await ctx.meta.mkdir(patch.home, { parents: true });
  await users.updateUser(u.id, patch);
  if (grants !== undefined) await users.replaceGrants(u.id, grants);
  if (patch.disabled === 1) await users.revokeUserSessions(u.id, ctx.now());
  await ctx.audit.record(request, { event: 'user.update', ok: true, target: u.name, details: { ...body } });
  return info(ctx, (await users.userById(u.id))!);
}

async function deleteUser(ctx: ServerContext, request: FastifyRequest, reply: FastifyReply) {
  const { users } = ctx;
  const params = request.params as { name: string };
  const auth = admin(request);
  const u = await find(ctx, params.name);
  if (u.id === auth.userId) throw new ValidationError('you cannot delete yourself');
  // Their tus uploads with their tails in the chunk store (the rows alone would go with the user).
  await ctx.tus.terminateAllOf(u.id);
  await users.deleteUser(u.id);
  await ctx.audit.record(request, { event: 'user.delete', ok: true, target: u.name, details: { home: u.home } });
  return reply.status(204).send();
}

async function setPassword(ctx: ServerContext, request: FastifyRequest, reply: FastifyReply) {
  const { users } = ctx;
  const params = request.params as { name: string };
  const auth = admin(request);
  const u = await find(ctx, params.name);
  const password = checkPasswordRules(bodyObject(request.body).password);
  await ctx.auth.requireLasting(auth, "setting a user's password");
  await users.updateUser(u.id, { password_hash: await ctx.auth.hashPassword(password, auth.userId) });
  // As a change of one's own password (routes/auth.ts): sessions and login tokens end, but
  // the presenting token (which is the user's own only when admins set their own password).
  await users.revokeUserSessions(u.id, ctx.now());
  const ended = await users.revokeLoginTokens(u.id, ctx.now(), auth.kind === 'token' ? auth.tokenId : undefined);
  await ctx.audit.record(request, { event: 'user.password', ok: true, target: u.name, details: { loginTokensRevoked: ended } });
  return reply.status(204).send();
}

async function setGrants(ctx: ServerContext, request: FastifyRequest) {
  const { users } = ctx;
  const params = request.params as { name: string };
  const auth = admin(request);
  const u = await find(ctx, params.name);
  const body = bodyObject(request.body);
  const path = normalizePath(requiredString(body.path, 'path', 4096));
  const perms = grantPerms(body.permissions ?? [], 'permissions');
  const prev = await users.grantsOf(u.id);
  const next = [...prev.filter((g) => g.path !== path), ...(perms === '' ? [] : [{ path, perms }])];
  if (widensGrants(prev, next)) await ctx.auth.requireLasting(auth, 'widening grants');
  await users.setGrant(u.id, path, perms);
  await ctx.audit.record(request, { event: 'user.grant', ok: true, target: u.name, details: { path, permissions: perms } });
  return info(ctx, u);
}
