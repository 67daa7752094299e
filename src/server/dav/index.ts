/**
 * The WebDAV front: `/dav/` is a share of each user's home, class 1 and 2 (RFC 4918), for
 * OS file managers (GNOME Files, macOS Finder, Windows, davfs2) and rclone's `webdav` remote.
 *
 * Written on Fastify rather than taken from a WebDAV server library: the maintained ones
 * (nephele, webdav-server v2) own their request handling (Express or raw http) and their
 * storage and permission models, so fitting them meant translating every request twice and
 * still re-checking each operation against Ferry's authorization, quotas and locks. Here a
 * handler is a few lines over what the native API already does: the same authorization
 * module, the same streamed-upload path (ingestStream: chunks, dedup, atomic commit), the
 * same download path (verified chunks, Range, ETag), the same namespace transactions.
 *
 * Authentication: HTTP Basic with the user's password (or one of their API tokens as the
 * password), or a Bearer token; a 401 carries a Basic challenge. Failed logins count for
 * the defender and the password rate limit like any other (src/server/app.ts). OPTIONS is
 * public: it tells only what the share can do.
 *
 * The front is a route module like the others ({@link davRoutes}, in app.ts's ROUTES); its
 * handlers take the front's context, {@link Dav} (the server's context plus the If header
 * and lock checks), first.
 */
import type { RoutePlugin } from '../context.js';
import { onFirstUse } from '../lazy.js';
import { DAV_PREFIX } from './paths.js';

/** Methods Fastify does not route by default, and whether they carry a body it should hand over. */
const EXTRA_METHODS: [string, boolean][] = [
  ['PROPFIND', true],
  ['PROPPATCH', true],
  ['LOCK', true],
  ['MKCOL', false],
  ['COPY', false],
  ['MOVE', false],
  ['UNLOCK', false],
];

/** The methods ./handlers.ts serves (./handlers.test.ts checks them against its table). */
export const DAV_METHODS = ['GET', 'HEAD', 'PUT', 'DELETE', 'MKCOL', 'COPY', 'MOVE', 'PROPFIND', 'PROPPATCH', 'LOCK', 'UNLOCK'];

/**
 * The WebDAV share at /dav/: every method of DAV_METHODS (and OPTIONS) on the prefix and below
 * it. The handlers (./handlers.ts) are loaded on the first WebDAV request.
 */
export const davRoutes: RoutePlugin = async (app, { ctx }) => {
  const front = onFirstUse(async () => (await import('./handlers.js')).davFront(ctx));
  // The router's methods are the server's (not this plugin's): added once for all.
  for (const [method, hasBody] of EXTRA_METHODS) {
    if (!app.supportedMethods.includes(method)) app.addHttpMethod(method, { hasBody });
  }
  // Bodies are files (PUT) or XML read by the handlers: always the raw stream, never parsed
  // here (this plugin's own parsers: the API's routes keep theirs).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_req, payload, done) => done(null, payload));
  const config = { front: 'webdav' as const, basicAuth: true };
  // Windows' WebDAV client (Map network drive, Add a network location) asks `OPTIONS /`
  // of the server before it looks at the share's URL, and gives up with 0x80070043 ("the
  // network name cannot be found") unless that answer announces WebDAV. So the server's
  // root answers OPTIONS as the share does: public, and telling no more than /dav/ does.
  app.route({ method: 'OPTIONS', url: '/', config: { ...config, public: true }, handler: async (_rq, rp) => (await import('./handlers.js')).options(rp) });
  // Clients given the server's address (cadaver, davfs2, Windows) PROPFIND it first: the root
  // is a collection holding the share, /dav/ (./propfind.ts).
  app.route({
    method: 'PROPFIND',
    url: '/',
    config,
    handler: async (rq, rp) => {
      const { dav } = await front();
      return (await import('./handlers.js')).propfindServerRoot(dav, rq, rp);
    },
  });
  for (const url of [DAV_PREFIX, `${DAV_PREFIX}/*`]) {
    app.route({ method: 'OPTIONS', url, config: { ...config, public: true }, handler: async (_rq, rp) => (await import('./handlers.js')).options(rp) });
    for (const method of DAV_METHODS) {
      app.route({
        method,
        url,
        config,
        handler: async (rq, rp) => {
          const { dav, handlers } = await front();
          return handlers[method](dav, rq, rp);
        },
      });
    }
  }
};
