/**
 * The web app (web/, built by Vite into dist/web and shipped in the npm package), served by
 * the server itself: no CDN, no second process.
 *
 *   GET /                  the app's page (sign-in, then files)
 *   GET /assets/*          its scripts and styles: content-hashed names, cached for a year,
 *                          precompressed (brotli, gzip) at build time
 *   GET /*                 any other path outside /api/ is a page of the app (client-side
 *                          routing: /files/photos, /admin/users, ...); under /api/ it is a
 *                          JSON 404
 *
 * These are public (no token): the app holds no data, it asks the API for it. Its pages carry
 * a strict Content-Security-Policy: scripts only from our own files (no inline script, so
 * an injected tag cannot run), WebAssembly for the chunker, connections only to us, no
 * plugins, no framing by anyone (clickjacking), no Referer (share-link pages carry keys).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { API_PREFIX } from '../../core/protocol.js';
import type { RoutePlugin, ServerContext } from '../context.js';

export const APP_CSP = [
  "default-src 'self'",
  "script-src 'self' 'wasm-unsafe-eval'",
  "style-src 'self'",
  "img-src 'self' blob: data:",
  "media-src 'self' blob:",
  "connect-src 'self'",
  "frame-src 'self'",
  "worker-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.html': 'text/html; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.txt': 'text/plain; charset=utf-8',
  '.map': 'application/json',
};

/** A built file, held in memory (the whole app is a few hundred KiB). */
interface Asset {
  body: Buffer;
  type: string;
  /** Precompressed copies written by the build, when present. */
  br?: Buffer;
  gz?: Buffer;
}

/**
 * Where the built app is: `dist/web` of the package this module belongs to, found from the
 * module's own location (dist/src/server/routes when compiled, dist/bundle when bundled,
 * src/server/routes under the test runner).
 */
export function findAppDir(): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, 'dist', 'web');
    if (existsSync(join(candidate, 'index.html'))) return candidate;
    if (dir.endsWith('/dist') && existsSync(join(dir, 'web', 'index.html'))) return join(dir, 'web');
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return undefined;
}

function walk(root: string, dir = root, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(root, p, out);
    else out.push(relative(root, p));
  }
  return out;
}

/** The built files, by URL path; the index page is read once, at start. */
function loadApp(root: string): { index: Buffer; assets: Map<string, Asset> } {
  const files = new Set(walk(root));
  const assets = new Map<string, Asset>();
  for (const f of files) {
    if (f.endsWith('.br') || f.endsWith('.gz') || f === 'index.html' || f.startsWith('.vite')) continue;
    const ext = f.slice(f.lastIndexOf('.'));
    assets.set('/' + f.split('\\').join('/'), {
      body: readFileSync(join(root, f)),
      type: TYPES[ext] ?? 'application/octet-stream',
      br: files.has(f + '.br') ? readFileSync(join(root, f + '.br')) : undefined,
      gz: files.has(f + '.gz') ? readFileSync(join(root, f + '.gz')) : undefined,
    });
  }
  return { index: readFileSync(join(root, 'index.html')), assets };
}

/** The headers of every page of the app. */
export function appPageHeaders(reply: FastifyReply): void {
  reply.header('content-security-policy', APP_CSP);
  reply.header('x-frame-options', 'DENY');
  reply.header('x-content-type-options', 'nosniff');
  reply.header('referrer-policy', 'no-referrer');
  reply.header('cross-origin-opener-policy', 'same-origin');
  reply.header('permissions-policy', 'camera=(), microphone=(), geolocation=()');
  reply.header('cache-control', 'no-cache');
  reply.type('text/html; charset=utf-8');
}

/**
 * The built app, read once at start (from {@link findAppDir}); without a build every page
 * answers 503 saying how to build it.
 */
export class WebApp {
  private readonly built: { index: Buffer; assets: Map<string, Asset> } | undefined;

  constructor(dir = findAppDir()) {
    this.built = dir ? loadApp(dir) : undefined;
  }

  /** Answers with the app's page (a share link's page, an unknown path): `status` 200 unless told. */
  sendPage(reply: FastifyReply, status = 200): FastifyReply {
    if (!this.built) {
      reply.header('cache-control', 'no-store');
      return reply.status(503).type('text/plain; charset=utf-8').send('The web app is not built: run `npm run build` (it writes dist/web).\n');
    }
    appPageHeaders(reply);
    return reply.status(status).send(this.built.index);
  }

  /** A built file by its URL path (`/assets/index-3f2a.js`). */
  asset(path: string): Asset | undefined {
    return this.built?.assets.get(path);
  }
}

export const webAppRoutes: RoutePlugin = async (app, { ctx }) => {
  const pub = { config: { public: true } };
  app.get('/', pub, (_request, reply) => ctx.webApp.sendPage(reply));
  app.get('/*', pub, (request, reply) => appPath(ctx, request, reply));
};

/**
 * The JSON 404 of a path no route serves. A path with the API below a prefix
 * (`/ferry/api/v1/list/`) is a client given a server URL Ferry is not at: `details.apiPrefix`
 * says where the API is, so the client says the URL is wrong rather than "not found".
 */
export function noRouteError(method: string, path: string): { code: 'FERRY_ERR_NOT_FOUND'; message: string; details?: { apiPrefix: string } } {
  const misplaced = !path.startsWith('/api/') && path.includes(`${API_PREFIX}/`);
  if (!misplaced) return { code: 'FERRY_ERR_NOT_FOUND', message: `no route ${method} ${path}` };
  return { code: 'FERRY_ERR_NOT_FOUND', message: `no route ${method} ${path}: this server's API is at ${API_PREFIX}/`, details: { apiPrefix: API_PREFIX } };
}

/**
 * GET of any other path: an asset, a JSON 404 under /api/ (and, unless a browser navigates
 * there, for the API below a prefix), else the app's page (client-side routing).
 */
function appPath(ctx: ServerContext, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const path = request.url.split('?')[0];
  const browsing = /text\/html/.test(request.headers.accept ?? '');
  if (path === API_PREFIX || path.startsWith('/api/') || (!browsing && path.includes(`${API_PREFIX}/`))) {
    return reply.status(404).send({ error: noRouteError('GET', path) });
  }
  const asset = ctx.webApp.asset(path);
  if (asset) return sendAsset(request, reply, asset);
  if (path.startsWith('/assets/')) return reply.status(404).type('text/plain; charset=utf-8').send('not found\n');
  return ctx.webApp.sendPage(reply);
}

/** A built file, precompressed when the client takes it so. */
function sendAsset(request: FastifyRequest, reply: FastifyReply, asset: Asset): FastifyReply {
  const accept = String(request.headers['accept-encoding'] ?? '');
  let body = asset.body;
  if (asset.br && /\bbr\b/.test(accept)) {
    body = asset.br;
    reply.header('content-encoding', 'br');
  } else if (asset.gz && /\bgzip\b/.test(accept)) {
    body = asset.gz;
    reply.header('content-encoding', 'gzip');
  }
  reply.header('vary', 'accept-encoding');
  reply.header('x-content-type-options', 'nosniff');
  // Hashed names never change content: a year, immutable. Other files: revalidate.
  reply.header('cache-control', request.url.startsWith('/assets/') ? 'public, max-age=31536000, immutable' : 'no-cache');
  return reply.type(asset.type).send(body);
}
