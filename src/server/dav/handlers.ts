/**
 * The WebDAV methods' handlers, loaded by ./index.ts on the first WebDAV request (with the
 * XML parser and writer they need): a server nobody mounts over WebDAV never loads them.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ServerContext } from '../context.js';
import { Dav } from './context.js';
import { copyOrMove } from './copy-move.js';
import { del, get, mkcol, options, put } from './files.js';
import { lock, unlock } from './lock.js';
import { propfind, propfindServerRoot } from './propfind.js';
import { proppatch } from './proppatch.js';

type Handler = (dav: Dav, request: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply>;

export const HANDLERS: Record<string, Handler> = {
  GET: (dav, rq, rp) => get(dav, rq, rp, false),
  HEAD: (dav, rq, rp) => get(dav, rq, rp, true),
  PUT: put,
  DELETE: del,
  MKCOL: mkcol,
  COPY: (dav, rq, rp) => copyOrMove(dav, rq, rp, 'copy'),
  MOVE: (dav, rq, rp) => copyOrMove(dav, rq, rp, 'move'),
  PROPFIND: propfind,
  PROPPATCH: proppatch,
  LOCK: lock,
  UNLOCK: unlock,
};

export { options, propfindServerRoot };

/** The WebDAV front of a server: its state and the handler of each method. */
export function davFront(ctx: ServerContext): { dav: Dav; handlers: Record<string, Handler> } {
  return { dav: new Dav(ctx), handlers: HANDLERS };
}
