/**
 * COPY and MOVE (RFC 4918 9.8, 9.9): the namespace operations of the metadata store, so no
 * byte is copied (copies share manifests and chunks) and each is one transaction.
 *
 * Overwrite: T (the default) replaces what is at the destination, a whole collection
 * included (RFC 4918 9.8.4), in the move's or copy's own transaction, but never one that holds the source (400, as Apache's mod_dav
 * refuses it); F makes an existing destination 412. Depth: COPY takes 0 (a
 * collection without its members) or infinity; MOVE only infinity. 201 when the destination
 * is new, 204 when it was replaced (also when what it replaced arrived after the request
 * looked: Overwrite: T replaces whatever is there at the time). Permissions are the native API's: COPY needs `read` on
 * the source tree, MOVE `delete` there; both need `write` on the destination (and `delete`
 * on what they replace); a COPY counts against the quota like an upload. Dead properties
 * come along (moved or copied with the files); locks do not. Each is audited (`file.move`,
 * `file.copy`) as the native API's are. A Destination on another server is 502
 * (./paths.ts, destinationPath).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AlreadyExistsError, NoParentError, NotFoundError, PreconditionFailedError, ValidationError } from '../../core/errors.js';
import { isWithin, parentPath } from '../../core/path.js';
import type { Entry } from '../../core/protocol.js';
import type { MoveOptions } from '../../store/meta-store.js';
import { authorizeMove, authorizeTree, toServerPath } from '../authz.js';
import { depthOf, overwriteOf, type Dav } from './context.js';
import { destinationPath } from './paths.js';

export async function copyOrMove(dav: Dav, request: FastifyRequest, reply: FastifyReply, op: 'copy' | 'move'): Promise<FastifyReply> {
  const { auth, path } = dav.target(request);
  const to = destinationPath(request.headers.destination as string | undefined, { hosts: [request.headers.host, request.host], publicUrl: dav.ctx.config.publicUrl });
  const overwrite = overwriteOf(request);
  const depth = depthOf(request, 'infinity');
  if (depth === '1' || (op === 'move' && depth !== 'infinity')) throw new ValidationError(`${op.toUpperCase()} takes Depth ${op === 'move' ? 'infinity' : '0 or infinity'}`);
  if (to === '/' || (op === 'move' && path === '/')) throw new ValidationError('your root cannot be moved or replaced');
  if (to === path) throw new ValidationError('the source and the destination are the same');
  if (isWithin(to, path)) throw new ValidationError(`cannot ${op} ${path} into itself`);

  // Moving takes the source away (delete), copying reads it; either writes the destination
  // (and a move never makes readable what was not: authorizeMove).
  const { src, dst } = op === 'move' ? authorizeMove(auth, path, to) : { src: authorizeTree(auth, 'read', path), dst: authorizeTree(auth, 'write', to) };
  const entry = await dav.entry(src);
  if (!entry) throw new NotFoundError(`${path}: no such file or directory`, { details: { path } });
  const existing = await dav.entry(dst);
  const parent = await dav.entry(toServerPath(auth, parentPath(to)));
  if (parent?.type !== 'dir') throw new NoParentError(`${parentPath(to)}: no such collection`);
  if (existing) {
    if (!overwrite) throw new PreconditionFailedError(`${to} exists and Overwrite is F`, { details: { path: to } });
    // Overwrite: T replaces the destination: never a collection that holds the source.
    if (isWithin(path, to)) throw new ValidationError(`cannot ${op} ${path} onto ${to}, which holds it`);
    authorizeTree(auth, 'delete', to);
  }
  const destination = { path: to, entry: existing, tree: true, member: true };
  await dav.guard(request, auth, { path, entry }, op === 'move' ? [{ path, entry, tree: true, member: true }, destination] : [destination]);
  if (op === 'copy') await dav.ctx.quota.checkCopy(auth, src);

  // The vault guard first: a Depth 0 COPY it refuses must not have deleted the destination
  // nor made a folder. (WebDAV cannot encrypt names again, so a move or
  // copy in a vault is refused: FERRY_ERR_E2E_NEEDS_KEY.)
  const maxEntries = dav.ctx.config.maxCopyEntries;
  await dav.ctx.meta.checkMoveOrCopy(op, src, dst, { maxEntries });
  const within = op === 'copy' ? dav.ctx.quota.copyCheck(auth, src) : undefined;
  const replaced = await place(dav, { op, src, dst, entry, existing, depth, overwrite, maxEntries, ...(within ? { within } : {}) }, () => authorizeTree(auth, 'delete', to));
  // Audited as the native API's move and copy are (routes/namespace.ts).
  await dav.ctx.audit.record(request, { event: `file.${op}`, ok: true, target: dst, path: src, details: { from: src, to: dst, type: entry.type } });
  return reply.status(replaced ? 204 : 201).send();
}

/**
 * Does the move or copy onto `dst`, replacing what is there when `overwrite`; returns
 * whether something was replaced. What is replaced (a file, a collection and all it holds)
 * is deleted in the move's or copy's own transaction, so one refused there (the quota's
 * check in it, after concurrent copies used the quota) leaves the destination as it was;
 * a replaced file becomes a version, a replaced collection goes to the trash as a delete's
 * would. Something that arrives at the destination after it was looked at is, with
 * Overwrite: T, replaced the same way (RFC 4918 9.9.3: T means replace; `mayDelete` checks
 * the permission to) and with F is RFC 4918's 412, as if it had been there (the store
 * refused to replace it).
 */
async function place(
  dav: Dav,
  p: { op: 'copy' | 'move'; src: string; dst: string; entry: Entry; existing: Entry | undefined; depth: string; overwrite: boolean; maxEntries: number | undefined; within?: MoveOptions['within'] },
  mayDelete: () => void,
): Promise<boolean> {
  const { meta } = dav.ctx;
  let existing = p.existing;
  for (let attempt = 1; ; attempt++) {
    const replace = existing !== undefined;
    try {
      if (p.depth === '0' && p.op === 'copy' && p.entry.type === 'dir') return await makeCollection(dav, p.src, p.dst, replace);
      const options = { overwrite: replace, replaceFolders: replace, maxEntries: p.maxEntries, ...(p.within ? { within: p.within } : {}) };
      return (await meta.place(p.op, p.src, p.dst, options)).replaced;
    } catch (err) {
      // A look-alike name stays a conflict; so does a destination refilled again and again.
      if (!(err instanceof AlreadyExistsError) || err.details?.reason === 'look-alike' || attempt >= PLACE_ATTEMPTS) throw err;
      if (!p.overwrite) throw new PreconditionFailedError(`${p.dst} exists and Overwrite is F`, { details: { path: p.dst }, cause: err });
      mayDelete();
      // What is there now (nothing, when another request just deleted it to make room for its own).
      existing = await dav.entry(p.dst);
    }
  }
}

/**
 * A Depth 0 COPY of a collection: an empty collection with the source's own properties,
 * replacing what is at `dst` when `replace` (deleted first: making a folder is refused by
 * nothing a quota counts). Whether something was replaced.
 */
async function makeCollection(dav: Dav, src: string, dst: string, replace: boolean): Promise<boolean> {
  const deleted = replace && (await dav.ctx.meta.remove(dst, { recursive: true }).then(() => true, ignoreNotFound));
  await dav.ctx.meta.mkdir(dst);
  await dav.store.copyOwnProps(src, dst);
  return deleted;
}

/**
 * Attempts of {@link place} at a destination others keep filling: each one after the first
 * follows a write that landed there (a collection made or moved there: a file is replaced in
 * the move's transaction, it never makes another round). Past them the answer is 409.
 */
const PLACE_ATTEMPTS = 8;

/** False for a destination already gone (another request deleted it); other failures are thrown. */
function ignoreNotFound(err: unknown): false {
  if (!(err instanceof NotFoundError)) throw err;
  return false;
}
