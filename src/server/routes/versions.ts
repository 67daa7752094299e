/**
 * Old versions and the trash (README "Versions and trash"), paths relative to the caller's
 * home as everywhere:
 *
 *   GET    /api/v1/versions/*path?limit=N&cursor=C  {path, versions: [...], policy, next?} newest
 *                                         first (read); `next` (an id) is the cursor of the following page
 *   POST   /api/v1/versions/restore        {path, version} | {path, at} -> Entry (write)
 *   GET    /api/v1/trash?path=P&limit=N&cursor=C&batch=B  {entries: [...], next?} newest first (list);
 *                                         `next` (an id) is the cursor of the following page;
 *                                         `batch`: only the files one delete put there
 *   POST   /api/v1/trash/restore           {id, to?, reencrypt?} -> Entry (write at the target)
 *   DELETE /api/v1/trash?path=P&before=MS&allUsers=true  {files} (delete); `allUsers=true`: an
 *                                         admin's P may hold other users' homes (refused without)
 */
import type { FastifyRequest } from 'fastify';
import { AllUsersRequiredError, NotFoundError, ValidationError } from '../../core/errors.js';
import { homesReachedBy, isWithin, normalizePath, parentPath } from '../../core/path.js';
import { API_PREFIX } from '../../core/protocol.js';
import { parseVersionId, type TrashInfo, type VersionInfo } from '../../store/version-store.js';
import { authOf, type RoutePlugin, type ServerContext } from '../context.js';
import { authorize, authorizeReadableAt, can, mayKnowHash, toUserEntry, toUserPath, type AuthContext } from '../authz.js';
import { bodyPath, wildcardPath } from '../validate.js';

const userVersion = (auth: AuthContext, v: VersionInfo) => ({ id: v.id, path: toUserPath(auth, v.path), hash: v.hash, size: v.size, mtime: v.mtime, ...(v.mode !== null ? { mode: v.mode } : {}), createdAt: v.createdAt, replacedAt: v.replacedAt });
// The trash is listed with 'list': hashes only where the caller may read (authz mayKnowHash).
const userTrash = (auth: AuthContext, t: TrashInfo) => {
  const path = toUserPath(auth, t.path);
  return { id: t.id, batch: t.batch, path, ...(mayKnowHash(auth, path) ? { hash: t.hash } : {}), size: t.size, mtime: t.mtime, deletedAt: t.deletedAt };
};

function queryPath(request: FastifyRequest): string {
  const q = request.query as Record<string, string | undefined>;
  return q.path === undefined ? '/' : normalizePath(q.path);
}

export const versionRoutes: RoutePlugin = async (app, { ctx }) => {
  app.get(`${API_PREFIX}/versions/*`, (request) => listVersions(ctx, request));
  app.post(`${API_PREFIX}/versions/restore`, (request) => restoreVersion(ctx, request));
  app.get(`${API_PREFIX}/trash`, (request) => listTrash(ctx, request));
  app.post(`${API_PREFIX}/trash/restore`, (request) => restoreTrash(ctx, request));
  app.delete(`${API_PREFIX}/trash`, (request) => emptyTrash(ctx, request));
};

async function listVersions(ctx: ServerContext, request: FastifyRequest) {
  const auth = authOf(request);
  const path = wildcardPath(request);
  const server = authorize(auth, 'read', path);
  const page = await ctx.versions.versionPage(server, { ...pageQuery(ctx, request), since: auth.historySince });
  // No versions and no file: as any other route, a path that is not there is a 404.
  if (page.entries.length === 0) await ctx.meta.stat(server);
  // The rule for this path, so that a client can tell "versioning is off here" from "none yet".
  const { keep, days } = ctx.versions.ruleFor(server);
  const list = { path, versions: page.entries.map((v) => userVersion(auth, v)), policy: { enabled: keep > 0 || days > 0, keep, days } };
  return page.next === undefined ? list : { ...list, next: String(page.next) };
}

/** `limit` (1 to maxListLimit, its default) and `cursor` (the `next` of the page before, an id) of a paged listing. */
function pageQuery(ctx: ServerContext, request: FastifyRequest): { limit: number; before?: number } {
  const q = request.query as Record<string, string | undefined>;
  const max = ctx.limits.maxListLimit;
  const limit = q.limit === undefined ? max : Number(q.limit);
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > max) throw new ValidationError(`limit must be an integer from 1 to ${max}`);
  const before = q.cursor === undefined ? undefined : Number(q.cursor);
  if (before !== undefined && (!Number.isSafeInteger(before) || before < 1)) throw new ValidationError('cursor must be the next of the page before');
  return before === undefined ? { limit } : { limit, before };
}

async function restoreVersion(ctx: ServerContext, request: FastifyRequest) {
  const auth = authOf(request);
  const body = (request.body ?? {}) as Record<string, unknown>;
  const path = bodyPath(body.path, 'path');
  const server = authorize(auth, 'write', path);
  authorize(auth, 'read', path);
  let id: number;
  if (body.version !== undefined) id = parseVersionId(body.version);
  else if (typeof body.at === 'number' && Number.isSafeInteger(body.at)) {
    const v = await ctx.versions.versionAt(server, body.at, auth.historySince);
    if (!v) {
      // With versioning off here, no time will ever find one: say so, rather than only "none".
      const { keep, days } = ctx.versions.ruleFor(server);
      const why = keep > 0 || days > 0 ? '' : ' (versioning is off for this path: the server keeps no old versions; an admin sets "versions" in its config)';
      throw new NotFoundError(`${path} has no old version that was current at ${new Date(body.at).toISOString()}${why}`, { details: { path } });
    }
    id = v.id;
  } else throw new ValidationError('give version (an id from the list of versions) or at (ms since the epoch)');
  const check = ctx.quota.commitCheck(auth);
  const v = (await ctx.versions.versions(server, auth.historySince)).find((x) => x.id === id);
  const entry = await ctx.versions.restoreVersion(
    server,
    id,
    async (trx) => {
      if (v) await check(trx, [{ path: server, size: v.size }]);
    },
    auth.historySince,
  );
  await ctx.audit.record(request, { event: 'file.restore', ok: true, path: server, target: server, details: { version: id, size: entry.size, hash: entry.hash } });
  return toUserEntry(auth, entry);
}

async function listTrash(ctx: ServerContext, request: FastifyRequest) {
  const auth = authOf(request);
  const root = authorize(auth, 'list', queryPath(request));
  const batch = (request.query as Record<string, string | undefined>).batch;
  if (batch !== undefined && !/^[A-Za-z0-9_-]{1,64}$/.test(batch)) throw new ValidationError('batch must be the batch of a trash entry');
  const page = await ctx.versions.trash(root, { ...pageQuery(ctx, request), since: auth.historySince, ...(batch === undefined ? {} : { batch }) });
  // A page may come back shorter than `limit` (entries under a narrower grant are left out): follow `next`, not the count.
  const entries = page.entries.map((t) => userTrash(auth, t)).filter((t) => can(auth, 'list', parentPath(t.path)));
  return page.next === undefined ? { entries } : { entries, next: String(page.next) };
}

async function restoreTrash(ctx: ServerContext, request: FastifyRequest) {
  const auth = authOf(request);
  const body = (request.body ?? {}) as Record<string, unknown>;
  const id = parseVersionId(body.id);
  const t = await ctx.versions.trashEntry(id);
  // Someone else's trash is as invisible as their files, and so is a removed account's of the same home.
  const before = auth.historySince !== undefined && t.deletedAt <= auth.historySince;
  if (before || !isWithin(t.path, auth.home) || !can(auth, 'list', toUserPath(auth, t.path))) throw new NotFoundError(`nothing in the trash with id ${id}`, { details: { id } });
  const to = body.to === undefined ? toUserPath(auth, t.path) : bodyPath(body.to, 'to');
  if (body.reencrypt !== undefined && typeof body.reencrypt !== 'boolean') throw new ValidationError('reencrypt must be a boolean');
  const server = authorize(auth, 'write', to);
  // Restoring elsewhere must not make readable what was not (a file deleted from a folder the
  // caller may list but not read, restored into one where they may).
  authorizeReadableAt(auth, toUserPath(auth, t.path), to);
  const check = ctx.quota.commitCheck(auth);
  // An end-to-end client says it computed `to`'s names with the key (src/store/vault-guard.ts, checkRestore).
  const entry = await ctx.versions.restoreTrash(id, server, (trx) => check(trx, [{ path: server, size: t.size }]), { reencrypt: body.reencrypt === true });
  await ctx.audit.record(request, { event: 'file.restore', ok: true, path: server, target: server, details: { trash: id, from: t.path, size: t.size } });
  return toUserEntry(auth, entry);
}

async function emptyTrash(ctx: ServerContext, request: FastifyRequest) {
  const auth = authOf(request);
  const root = authorize(auth, 'delete', queryPath(request));
  const q = request.query as Record<string, string | undefined>;
  const before = q.before === undefined ? undefined : Number(q.before);
  if (before !== undefined && !Number.isSafeInteger(before)) throw new ValidationError('before must be a time in ms since the epoch');
  if (q.allUsers !== 'true') await refuseOthersTrash(ctx, auth, root);
  // What was deleted from where the caller may not delete (a narrower grant inside) stays.
  const files = await ctx.versions.emptyTrash(root, before, (path) => !can(auth, 'delete', toUserPath(auth, path)), auth.historySince);
  await ctx.audit.record(request, { event: 'trash.empty', ok: true, path: root, target: root, details: { files } });
  return { files };
}

/**
 * An admin's root holds every user's home (and their trash listing shows what everyone
 * deleted): emptying a scope that holds, or is inside, another user's home deletes what that
 * user deleted, for good. That takes `allUsers=true`. Without it the call is refused (400
 * FERRY_ERR_ALL_USERS_REQUIRED, naming what to add) rather than narrowed to the admin's own
 * home: a narrowed call would answer success for a request that meant everyone's, and the
 * web app, listing everyone's, would show entries left behind by an "Empty trash" that said
 * it was done. An older CLI sends `path=/` (its default) and never allUsers: it gets this
 * refusal, whose message it prints, instead of emptying every user's trash; a user's call (a
 * home holds no other home) is never refused.
 */
async function refuseOthersTrash(ctx: ServerContext, auth: AuthContext, root: string): Promise<void> {
  if (auth.role !== 'admin') return;
  const users = await ctx.users.listUsers();
  const reached = homesReachedBy(root, users.map((u) => u.home));
  // Users who share the caller's root (the built-in admin's `/`) have no trash apart from the caller's.
  const others = users.filter((u) => u.home !== auth.home && reached.has(u.home));
  if (others.length === 0) return;
  const names = others.slice(0, 3).map((u) => u.name).join(', ') + (others.length > 3 ? ', …' : '');
  const where = toUserPath(auth, root);
  throw new AllUsersRequiredError(
    `${where} holds the home of ${others.length} other user${others.length === 1 ? '' : 's'} (${names}): emptying its trash deletes what they deleted too; add allUsers=true to mean that (\`ferry trash empty --all-users\`), or name a folder of your own`,
    { details: { path: where, users: others.length } },
  );
}
