/**
 * Users' SSH public keys, with which they log in to the SFTP front (docs/protocol.md,
 * "Users, tokens, sessions"):
 *
 *   GET    /api/v1/users/:name/keys          SshKeyInfo[]
 *   POST   /api/v1/users/:name/keys          {keys: authorized_keys text} -> 201 SshKeyInfo[]
 *   DELETE /api/v1/users/:name/keys/:id      by id or fingerprint -> 204
 *
 * Who may: an admin, for anyone; a user, for their own keys. A key logs its holder in with
 * everything the user may do, so adding or removing one of one's own keys needs a credential
 * that can already do all of that (a token with all of the user's permissions and no path
 * prefix, or a web session), the rule for setting a first password; a read-only or narrowed
 * token cannot turn itself into a wider SSH login, an admin's no more than a user's. Listing
 * one's own keys needs any token.
 *
 * A key added with a token that expires expires with it (`expiresAt`), as a token's links and
 * tokens do: a key is a credential, and one made by a token that was to last an hour (or a
 * leaked `ferry login` token) must not log in for ever. Refusing expiring tokens instead would
 * refuse `ferry login`'s, the CLI's usual credential. A web session adds keys that last.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ForbiddenError, NotFoundError } from '../../core/errors.js';
import { API_PREFIX, type SshKeyInfo } from '../../core/protocol.js';
import type { UserRow } from '../../store/auth-store.js';
import type { SshKeyRow } from '../../store/ssh-key-store.js';
import { authOf, type RoutePlugin, type ServerContext } from '../context.js';
import { isAdmin, userPermissions, type AuthContext } from '../authz.js';
import { parseAuthorizedKeys } from '../sftp/authorized-keys.js';
import { bodyObject, requiredString } from '../validate.js';

export function sshKeyInfo(k: SshKeyRow): SshKeyInfo {
  return {
    id: k.id,
    type: k.type,
    bits: Number(k.bits),
    fingerprint: k.fingerprint,
    comment: k.comment,
    createdAt: Number(k.created_at),
    lastUsedAt: k.last_used_at === null ? null : Number(k.last_used_at),
    expiresAt: k.expires_at === null ? null : Number(k.expires_at),
  };
}

/** Whether the credential holds every permission of its user, everywhere in the home. */
function isFullCredential(auth: AuthContext): boolean {
  return [...userPermissions(auth)].every((p) => auth.scopes.has(p)) && auth.pathPrefix === null;
}

export const sshKeyRoutes: RoutePlugin = async (app, { ctx }) => {
  app.get(`${API_PREFIX}/users/:name/keys`, (request) => listKeys(ctx, request));
  app.post(`${API_PREFIX}/users/:name/keys`, (request, reply) => addKeys(ctx, request, reply));
  app.delete(`${API_PREFIX}/users/:name/keys/:id`, (request, reply) => removeKey(ctx, request, reply));
};

/** The user whose keys the request names, if the caller may act on them (`change`: add or remove). */
async function keyOwner(ctx: ServerContext, request: FastifyRequest, change: boolean): Promise<UserRow> {
  const auth = authOf(request);
  const name = (request.params as { name: string }).name;
  // isAdmin: not with a token narrowed to a prefix, which manages only its own keys.
  if (!isAdmin(auth) && name !== auth.userName) throw new ForbiddenError("another user's SSH keys need an admin token without a path prefix");
  // An admin's own keys too: a key logs the admin in with every permission over every home,
  // so an admin token narrowed to a prefix (or to reading) must not widen itself through one.
  if (change && name === auth.userName && !isFullCredential(auth)) {
    throw new ForbiddenError('adding or removing SSH keys needs a token with all of your permissions and no path prefix (an SSH key logs in with all of them)');
  }
  const user = await ctx.users.userByName(name);
  if (!user) throw new NotFoundError(`no user ${name}`, { details: { user: name } });
  return user;
}

async function listKeys(ctx: ServerContext, request: FastifyRequest) {
  const user = await keyOwner(ctx, request, false);
  return (await ctx.sshKeys.keysOf(user.id, ctx.now())).map(sshKeyInfo);
}

async function addKeys(ctx: ServerContext, request: FastifyRequest, reply: FastifyReply) {
  const user = await keyOwner(ctx, request, true);
  const text = requiredString(bodyObject(request.body).keys, 'keys', 2 * 1024 * 1024);
  const now = ctx.now();
  const expiresAt = await ctx.auth.notAfterToken(authOf(request), null);
  const rows: SshKeyRow[] = parseAuthorizedKeys(text).map((k) => ({
    id: randomBytes(8).toString('hex'),
    user_id: user.id,
    type: k.type,
    bits: k.bits,
    public_key: k.base64,
    fingerprint: k.fingerprint,
    comment: k.comment,
    created_at: now,
    last_used_at: null,
    expires_at: expiresAt,
  }));
  await ctx.sshKeys.addKeys(rows, now);
  for (const r of rows) {
    await ctx.audit.record(request, { event: 'user.key-add', ok: true, target: user.name, details: { id: r.id, type: r.type, bits: r.bits, fingerprint: r.fingerprint, comment: r.comment, expiresAt: r.expires_at } });
  }
  return reply.status(201).send(rows.map(sshKeyInfo));
}

async function removeKey(ctx: ServerContext, request: FastifyRequest, reply: FastifyReply) {
  const user = await keyOwner(ctx, request, true);
  const id = (request.params as { id: string }).id;
  const removed = await ctx.sshKeys.removeKey(user.id, id);
  if (!removed) throw new NotFoundError(`${user.name} has no SSH key ${id}`, { details: { id } });
  await ctx.audit.record(request, { event: 'user.key-remove', ok: true, target: user.name, details: { id: removed.id, fingerprint: removed.fingerprint } });
  return reply.status(204).send();
}
