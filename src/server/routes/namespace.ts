/**
 * The namespace (docs/protocol.md, "Namespace"): stat, list, mkdir, move, copy, delete.
 * Paths are the caller's (relative to their home); ../authz.ts decides and translates.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { isFerryError, ValidationError } from '../../core/errors.js';
import { normalizePath, parentPath } from '../../core/path.js';
import { API_PREFIX, type Entry, type ListResponse } from '../../core/protocol.js';
import { authOf, type RoutePlugin, type ServerContext } from '../context.js';
import { authorize, authorizeMove, authorizeTree, can, toServerPath, toUserEntry, toUserPath, type AuthContext } from '../authz.js';
import { TreeDigestBuilder } from '../../core/tree-digest.js';
import { checkWriteCondition } from '../../core/write-conditions.js';
import { bodyPath, wildcardPath, writeConditionOf } from '../validate.js';

type Query = Record<string, string | undefined>;

function flag(q: Query, name: string): boolean {
  const v = q[name];
  if (v === undefined) return false;
  if (v === '' || v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  throw new ValidationError(`${name} must be true or false`);
}

export const namespaceRoutes: RoutePlugin = async (app, { ctx }) => {
  app.get(`${API_PREFIX}/stat`, (request, reply) => stat(ctx, request, reply));
  app.get(`${API_PREFIX}/stat/*`, (request, reply) => stat(ctx, request, reply));
  app.get(`${API_PREFIX}/list`, (request) => list(ctx, request));
  app.get(`${API_PREFIX}/list/*`, (request) => list(ctx, request));
  app.post(`${API_PREFIX}/mkdir/*`, (request, reply) => mkdir(ctx, request, reply));
  app.post(`${API_PREFIX}/move`, (request) => moveOrCopy(ctx, request, 'move'));
  app.post(`${API_PREFIX}/copy`, (request) => moveOrCopy(ctx, request, 'copy'));
  app.delete(`${API_PREFIX}/files/*`, (request, reply) => remove(ctx, request, reply));
};

/**
 * `ifExists=true` answers a path with nothing there `204` instead of `404`: a browser logs
 * every 404 as an error in its console, and the web app asks for end-to-end markers that
 * are mostly absent at every level of every folder it opens.
 */
async function stat(ctx: ServerContext, request: FastifyRequest, reply: FastifyReply) {
  const auth = authOf(request);
  const server = authorize(auth, 'list', wildcardPath(request));
  const ifExists = flag(request.query as Query, 'ifExists');
  try {
    return toUserEntry(auth, await ctx.meta.stat(server));
  } catch (err) {
    if (!ifExists || !isFerryError(err, 'FERRY_ERR_NOT_FOUND')) throw err;
    return reply.code(204).send();
  }
}

async function list(ctx: ServerContext, request: FastifyRequest): Promise<ListResponse> {
  const { meta, limits } = ctx;
  const auth = authOf(request);
  const path = wildcardPath(request);
  const dir = authorize(auth, 'list', path);
  const q = request.query as Query;
  if (flag(q, 'digest')) return listDigest(ctx, auth, path, dir, q);
  let limit = limits.maxListLimit;
  if (q.limit !== undefined) {
    limit = Number(q.limit);
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > limits.maxListLimit) throw new ValidationError(`limit must be an integer from 1 to ${limits.maxListLimit}`);
  }
  const cursor = q.cursor === undefined ? undefined : toServerPath(auth, normalizePath(q.cursor));
  const recursive = flag(q, 'recursive');
  // chunks=true: small files come with their chunk lists, for POST /chunks/batch.
  const chunkListsUpTo = flag(q, 'chunks') ? limits.maxBatchBytes : undefined;
  const page = await meta.list(dir, { recursive, limit, cursor, chunkListsUpTo });
  let entries = page.entries.map((e) => toUserEntry(auth, e));
  // A recursive listing does not reach into sub-trees whose grant withholds 'list'.
  if (recursive) entries = entries.filter((e) => can(auth, 'list', parentPath(e.path)));
  // Chunk hashes tell what a file holds: only for files the caller may read.
  if (chunkListsUpTo !== undefined) for (const e of entries) if (e.chunkList && !can(auth, 'read', e.path)) delete e.chunkList;
  const res: ListResponse = { path, entries };
  if (page.next !== undefined) res.next = toUserPath(auth, page.next);
  return res;
}

/**
 * `digest=true` (feature `list-digest`): the digest of the recursive listing (core/tree-digest.ts)
 * instead of its entries: the same rows, the same grants, every page, read in path order and
 * never held together. Paths in it are relative to the listed directory.
 */
async function listDigest(ctx: ServerContext, auth: AuthContext, path: string, dir: string, q: Query): Promise<ListResponse> {
  if (!flag(q, 'recursive')) throw new ValidationError('digest=true needs recursive=true');
  if (q.limit !== undefined || q.cursor !== undefined || flag(q, 'chunks')) throw new ValidationError('digest=true takes no limit, cursor or chunks');
  const digest = new TreeDigestBuilder();
  const skip = dir === '/' ? 1 : dir.length + 1;
  await ctx.meta.forEachInTree(dir, (row) => {
    // The recursive listing's rule: no reaching into sub-trees whose grant withholds 'list'.
    if (!can(auth, 'list', parentPath(toUserPath(auth, row.path)))) return;
    digest.add(row.path.slice(skip), row.type === 'dir' ? undefined : { size: row.size, mtime: row.mtime });
  });
  const value = digest.digest();
  return value === undefined ? { path, entries: [] } : { path, entries: [], digest: value };
}

async function mkdir(ctx: ServerContext, request: FastifyRequest, reply: FastifyReply) {
  const auth = authOf(request);
  const server = authorize(auth, 'mkdir', wildcardPath(request));
  const entry = await ctx.meta.mkdir(server, { parents: flag(request.query as Query, 'parents') });
  await ctx.audit.record(request, { event: 'file.mkdir', ok: true, target: server, path: server });
  return reply.status(201).send(toUserEntry(auth, entry));
}

async function moveOrCopy(ctx: ServerContext, request: FastifyRequest, op: 'move' | 'copy') {
  const auth = authOf(request);
  const body = request.body as Record<string, unknown> | null;
  if (body === null || typeof body !== 'object') throw new ValidationError('the body must be {from, to}');
  const from = bodyPath(body.from, 'from');
  const to = bodyPath(body.to, 'to');
  if (body.overwrite !== undefined && typeof body.overwrite !== 'boolean') throw new ValidationError('overwrite must be a boolean');
  if (to === '/' || (op === 'move' && from === '/')) throw new ValidationError('your root cannot be moved or replaced');
  if (body.reencrypt !== undefined && typeof body.reencrypt !== 'boolean') throw new ValidationError('reencrypt must be a boolean');
  const overwrite = body.overwrite as boolean | undefined;
  // An end-to-end client says it encrypts the names for their new place (src/store/vault-guard.ts, checkRename).
  const reencrypt = body.reencrypt === true;
  // Moving takes the source away (delete), copying reads it; either writes the destination
  // (and a move never makes readable what was not: authorizeMove).
  const { src, dst } = op === 'move' ? authorizeMove(auth, from, to) : { src: authorizeTree(auth, 'read', from), dst: authorizeTree(auth, 'write', to) };
  if (op === 'copy') await ctx.quota.checkCopy(auth, src);
  // Checked again in the copy's transaction: copies at once all passed the check before it.
  const within = op === 'copy' ? ctx.quota.copyCheck(auth, src) : undefined;
  // If-Match / If-None-Match are about the destination (what the move or copy replaces), decided in its transaction.
  const condition = writeConditionOf(request);
  const expect = condition ? { expect: (current: Entry | undefined) => checkWriteCondition(condition, to, current) } : {};
  const entry = op === 'move' ? await ctx.meta.move(src, dst, { overwrite, reencrypt, ...expect }) : await ctx.meta.copy(src, dst, { overwrite, reencrypt, maxEntries: ctx.config.maxCopyEntries, ...(within ? { within } : {}), ...expect });
  // The path is the source: "what happened to /x" finds the move that took it away.
  await ctx.audit.record(request, { event: `file.${op}`, ok: true, target: dst, path: src, details: { from: src, to: dst, type: entry.type } });
  return toUserEntry(auth, entry);
}

async function remove(ctx: ServerContext, request: FastifyRequest, reply: FastifyReply) {
  const auth = authOf(request);
  const path = wildcardPath(request);
  if (path === '/') throw new ValidationError('your root cannot be deleted');
  const server = authorizeTree(auth, 'delete', path);
  const recursive = flag(request.query as Query, 'recursive');
  const condition = writeConditionOf(request);
  const removed = await ctx.meta.remove(server, { recursive, ...(condition ? { expect: (current: Entry | undefined) => checkWriteCondition(condition, path, current) } : {}) });
  await ctx.audit.record(request, { event: 'file.delete', ok: true, target: server, path: server, details: { recursive, ...removed } });
  return reply.status(204).send();
}
