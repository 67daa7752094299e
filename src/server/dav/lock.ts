/**
 * LOCK and UNLOCK (RFC 4918 9.10, 9.11): exclusive and shared write locks, depth 0 or
 * infinity, with timeouts, refreshed by a LOCK without a body that names the lock's token.
 *
 * Locks live in the metadata store (every node of a cluster sees them; they survive a
 * restart) and bind WebDAV requests only (see src/store/dav-store.ts). A LOCK on a path
 * where nothing exists creates an empty file there (201), as RFC 4918 7.3 asks; if the lock
 * then cannot be taken, the empty file goes again.
 *
 * Timeouts: what the client asks (`Second-N`, `Infinite`), at most {@link MAX_LOCK_SECONDS};
 * clients refresh before the returned timeout runs out. A user holds at most
 * {@link MAX_LOCKS_PER_USER} live locks.
 *
 * Who may UNLOCK (RFC 4918 9.11 leaves it to the server): the lock's holder, an admin, and
 * the owner of where the lock is: a user whose home holds the holder's whole home (the holder
 * works inside that user's files; equal homes are co-owners). Refreshes keep a lock alive
 * without end, as in Apache's mod_dav, so without this a user given write access to a
 * folder could refuse its owner's WebDAV writes there for good. The owner finds the token
 * in `lockdiscovery` (PROPFIND), as cadaver's `steal` does; each such break is audited
 * (`lock.break`).
 */
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ForbiddenError, LockedError, LockTokenMismatchError, NoParentError, PreconditionFailedError, QuotaExceededError, ValidationError } from '../../core/errors.js';
import { isWithin, parentPath } from '../../core/path.js';
import type { LockRow } from '../../store/dav-store.js';
import { authorize, isAdmin, toServerPath, type AuthContext } from '../authz.js';
import { ingestStream } from '../ingest.js';
import { readXmlBody } from './body.js';
import { Dav, depthOf } from './context.js';
import { evaluateIf, submittedTokens } from './if-header.js';
import { activeLock } from './propfind.js';
import { DAV_NS, XML_HEADER, elements, firstElement, serializeContent } from './xml.js';

export const MAX_LOCK_SECONDS = 3600;
export const MAX_LOCKS_PER_USER = 1000;
const MAX_OWNER_BYTES = 4096;

/** The Timeout header in ms: the first value we understand, capped; absent means the cap. */
export function timeoutOf(header: string | undefined): number {
  for (const part of (header ?? '').split(',')) {
    const v = part.trim();
    if (/^infinite$/i.test(v)) return MAX_LOCK_SECONDS * 1000;
    const m = /^second-(\d{1,12})$/i.exec(v);
    if (m) return Math.max(1, Math.min(Number(m[1]), MAX_LOCK_SECONDS)) * 1000;
  }
  return MAX_LOCK_SECONDS * 1000;
}

function lockAnswer(reply: FastifyReply, lock: LockRow, body: string, status: number): FastifyReply {
  return reply
    .status(status)
    .header('lock-token', `<${lock.token}>`)
    .type('application/xml; charset=utf-8')
    .send(`${XML_HEADER}<D:prop xmlns:D="DAV:"><D:lockdiscovery>${body}</D:lockdiscovery></D:prop>`);
}

export async function lock(dav: Dav, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  const { auth, path } = dav.target(request);
  const server = authorize(auth, 'write', path);
  const info = await readXmlBody(request);
  const timeoutMs = timeoutOf(request.headers.timeout as string | undefined);
  if (!info) return refresh(dav, request, reply, timeoutMs);
  if (info.ns !== DAV_NS || info.local !== 'lockinfo') throw new ValidationError('a LOCK body must be a DAV:lockinfo element');
  const scopeEl = firstElement(info, DAV_NS, 'lockscope');
  const scope = scopeEl ? elements(scopeEl).find((e) => e.ns === DAV_NS && (e.local === 'exclusive' || e.local === 'shared'))?.local : undefined;
  if (scope !== 'exclusive' && scope !== 'shared') throw new ValidationError('lockinfo needs a lockscope of exclusive or shared');
  const typeEl = firstElement(info, DAV_NS, 'locktype');
  if (!typeEl || !firstElement(typeEl, DAV_NS, 'write')) throw new ValidationError('only write locks exist (locktype write)');
  const ownerEl = firstElement(info, DAV_NS, 'owner');
  const owner = ownerEl ? serializeContent(ownerEl) : null;
  if (owner !== null && Buffer.byteLength(owner) > MAX_OWNER_BYTES) throw new ValidationError(`the lock owner may have at most ${MAX_OWNER_BYTES} bytes`);
  const depth = depthOf(request, 'infinity');
  if (depth === '1') throw new ValidationError('a lock has Depth 0 or infinity');

  const now = dav.ctx.now();
  const entry = await dav.entry(server);
  const lists = dav.ifLists(request);
  if (lists) {
    const etag = Dav.etag(entry, auth);
    const state = async () => ({ tokens: new Set((await dav.locks(server)).map((l) => l.token)), ...(etag !== undefined ? { etag } : {}) });
    if (!(await evaluateIf(lists, state))) throw new PreconditionFailedError('the If header does not hold');
  }
  const conflicting = (existing: LockRow[]) => existing.filter((l) => scope === 'exclusive' || l.scope === 'exclusive');
  const conflictError = () => new LockedError(`${path} is already locked`, { details: { path, precondition: 'no-conflicting-lock' } });
  if (conflicting(await dav.locks(server, depth === 'infinity')).length > 0) throw conflictError();
  const tooMany = () => new QuotaExceededError(`at most ${MAX_LOCKS_PER_USER} locks at once: unlock some first`, { details: { limit: 'locks', max: MAX_LOCKS_PER_USER } });
  // Checked here before an unmapped URL is created, and again where the lock is inserted.
  if ((await dav.store.countLocks(auth.userId, now)) >= MAX_LOCKS_PER_USER) throw tooMany();

  let created = false;
  if (!entry) {
    // A lock on an unmapped URL creates an empty resource (RFC 4918 7.3), in an existing collection.
    const parent = await dav.entry(toServerPath(auth, parentPath(path)));
    if (parent?.type !== 'dir') throw new NoParentError(`${parentPath(path)}: no such collection`);
    await dav.requireTokens(auth, { path, entry, member: true }, lists ? submittedTokens(lists) : new Set());
    await ingestStream(dav.ctx, { auth, path: server, body: Readable.from([]), declaredSize: 0, noOverwrite: true });
    created = true;
  }
  const row: LockRow = {
    token: `urn:uuid:${randomUUID()}`,
    path: server,
    user_id: auth.userId,
    scope,
    infinite: depth === 'infinity' ? 1 : 0,
    owner,
    timeout_ms: timeoutMs,
    created_at: now,
    expires_at: now + timeoutMs,
  };
  const refused = await dav.store.insertLock(row, conflicting, MAX_LOCKS_PER_USER);
  if (refused === 'limit' || refused.length > 0) {
    if (created) await dav.ctx.meta.remove(server).catch(() => undefined);
    throw refused === 'limit' ? tooMany() : conflictError();
  }
  return lockAnswer(reply, row, activeLock(row, auth, now), created ? 201 : 200);
}

/** A LOCK without a body: refreshes the caller's lock(s) named in the If header that cover the resource. */
async function refresh(dav: Dav, request: FastifyRequest, reply: FastifyReply, timeoutMs: number): Promise<FastifyReply> {
  const { auth, server, path } = dav.target(request);
  const lists = dav.ifLists(request);
  if (!lists) throw new ValidationError('a LOCK without a body refreshes a lock: name its token in an If header');
  const tokens = submittedTokens(lists);
  const mine = (await dav.locks(server)).filter((l) => tokens.has(l.token) && l.user_id === auth.userId);
  if (mine.length === 0) throw new PreconditionFailedError(`no lock of yours named in the If header covers ${path}`, { details: { precondition: 'lock-token-matches-request-uri' } });
  const now = dav.ctx.now();
  const refreshed: LockRow[] = [];
  for (const l of mine) {
    const r = await dav.store.refreshLock(l.token, timeoutMs, now);
    if (r) refreshed.push(r);
  }
  if (refreshed.length === 0) throw new PreconditionFailedError('the lock expired');
  return lockAnswer(reply, refreshed[0], refreshed.map((l) => activeLock(l, auth, now)).join(''), 200);
}

export async function unlock(dav: Dav, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  const { auth, path } = dav.target(request);
  const server = authorize(auth, 'write', path);
  const header = request.headers['lock-token'];
  const m = /^\s*<([^>]+)>\s*$/.exec(Array.isArray(header) ? header[0] : (header ?? ''));
  if (!m) throw new ValidationError('UNLOCK needs a Lock-Token header: <token>');
  const found = await dav.store.lockByToken(m[1], dav.ctx.now());
  if (!found || !(found.path === server || (found.infinite === 1 && isWithin(server, found.path)))) {
    throw new LockTokenMismatchError(`${m[1]} is not a lock on ${path}`, { details: { precondition: 'lock-token-matches-request-uri' } });
  }
  const breaking = found.user_id !== auth.userId;
  if (breaking && !isAdmin(auth) && !(await ownsHolderHome(dav, auth, found.user_id))) {
    throw new ForbiddenError('this lock belongs to another user, who is not inside your home: only they or an admin can unlock it', { details: { path } });
  }
  await dav.store.deleteLock(found.token);
  if (breaking) await dav.ctx.audit.record(request, { event: 'lock.break', ok: true, target: found.path, path: found.path, details: { token: found.token, holder: found.user_id, scope: found.scope } });
  return reply.status(204).send();
}

/**
 * Whether `auth`'s home holds the whole home of the lock's holder (the holder works inside
 * this user's files). A holder that no longer exists holds nothing: their locks went with them.
 */
async function ownsHolderHome(dav: Dav, auth: AuthContext, holderId: string): Promise<boolean> {
  const holder = await dav.ctx.users.userById(holderId);
  return holder === undefined || isWithin(holder.home, auth.home);
}
