/**
 * COPY and MOVE (RFC 4918 9.8, 9.9): the namespace operations of the metadata store, so no
 * byte is copied (copies share manifests and chunks) and each is one transaction.
 *
 * Overwrite: T (the default) first deletes what is at the destination, a whole collection
 * included (RFC 4918 9.8.4), but never one that holds the source (400, as Apache's mod_dav
 * refuses it); F makes an existing destination 412. Depth: COPY takes 0 (a
 * collection without its members) or infinity; MOVE only infinity. 201 when the destination
 * is new, 204 when it was replaced. Permissions are the native API's: COPY needs `read` on
 * the source tree, MOVE `delete` there; both need `write` on the destination (and `delete`
 * on what they replace); a COPY counts against the quota like an upload. Dead properties
 * come along (moved or copied with the files); locks do not. Each is audited (`file.move`,
 * `file.copy`) as the native API's are.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AlreadyExistsError, NoParentError, NotFoundError, PreconditionFailedError, ValidationError } from '../../core/errors.js';
import { isWithin, parentPath } from '../../core/path.js';
import { authorizeMove, authorizeTree, toServerPath } from '../authz.js';
import { depthOf, overwriteOf, type Dav } from './context.js';
import { destinationPath } from './paths.js';

export async function copyOrMove(dav: Dav, request: FastifyRequest, reply: FastifyReply, op: 'copy' | 'move'): Promise<FastifyReply> {
  const { auth, path } = dav.target(request);
  const to = destinationPath(request.headers.destination as string | undefined);
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
    // Overwrite: T deletes the destination first: never a collection that holds the source.
    if (isWithin(path, to)) throw new ValidationError(`cannot ${op} ${path} onto ${to}, which holds it`);
    authorizeTree(auth, 'delete', to);
  }
  const destination = { path: to, entry: existing, tree: true, member: true };
  await dav.guard(request, auth, { path, entry }, op === 'move' ? [{ path, entry, tree: true, member: true }, destination] : [destination]);
  if (op === 'copy') await dav.ctx.quota.checkCopy(auth, src);

  const { meta } = dav.ctx;
  // The vault guard first: a MOVE or COPY it refuses must not have deleted the destination,
  // nor a Depth 0 COPY have made a folder. (WebDAV cannot encrypt names again, so a move or
  // copy in a vault is refused: FERRY_ERR_E2E_NEEDS_KEY.)
  await meta.checkMoveOrCopy(op, src, dst);
  // A file over a file is replaced in the move's own transaction, as any overwrite is (the
  // replaced content becomes a version); a collection on either side is deleted first.
  const replace = existing?.type === 'file' && entry.type === 'file';
  if (existing && !replace) await meta.remove(dst, { recursive: true });
  try {
    if (op === 'move') await meta.move(src, dst, { overwrite: replace });
    else if (depth === '0' && entry.type === 'dir') {
      await meta.mkdir(dst);
      await dav.store.copyOwnProps(src, dst);
    } else await meta.copy(src, dst, { overwrite: replace });
  } catch (err) {
    // Something arrived at the destination since it was found free: with Overwrite: F that
    // is RFC 4918's 412, as if it had been there (the store refused to replace it).
    if (!overwrite && err instanceof AlreadyExistsError && (await dav.entry(dst))) throw new PreconditionFailedError(`${to} exists and Overwrite is F`, { details: { path: to }, cause: err });
    throw err;
  }
  // Audited as the native API's move and copy are (routes/namespace.ts).
  await dav.ctx.audit.record(request, { event: `file.${op}`, ok: true, target: dst, path: src, details: { from: src, to: dst, type: entry.type } });
  return reply.status(existing ? 204 : 201).send();
}
