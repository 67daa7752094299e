/**
 * Zip downloads of folders and selections (docs/protocol.md, "Downloads"), streamed (../zip.ts):
 *
 *   GET  /api/v1/zip/*path                   the folder (or file) at path, as `<name>.zip`
 *   GET  /api/v1/zip?path=A&path=B[&name=N]  a selection (the web app's "download selected")
 *   POST /api/v1/zip {paths, name?}          the same for scripts with many paths
 *
 * The GET forms take a download ticket (`?ticket=`) instead of a token: a browser starts the
 * download itself and can send no Authorization header. Only what the caller may read goes
 * in; a folder's sub-folders without `list` are left out, like in a recursive listing.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { PayloadTooLargeError, ValidationError } from '../../core/errors.js';
import { normalizePath } from '../../core/path.js';
import { API_PREFIX } from '../../core/protocol.js';
import { authOf, type RoutePlugin, type ServerContext } from '../context.js';
import { authorize, type AuthContext } from '../authz.js';
import { memberName, sendZip, zipEntries, type ZipItem } from '../zip.js';
import { wildcardPath } from '../validate.js';

/** Most paths one selection may name. */
const MAX_SELECTION = 1000;

function items(auth: AuthContext, paths: readonly string[]): ZipItem[] {
  const seen = new Set<string>();
  const out: ZipItem[] = [];
  for (const p of paths) {
    const path = normalizePath(p);
    let name = memberName(path, 'files');
    // Two selected items of the same name (from different folders) must not collide.
    for (let i = 2; seen.has(name); i++) name = `${memberName(path, 'files')} (${i})`;
    seen.add(name);
    out.push({ server: authorize(auth, 'read', path), name });
  }
  return out;
}

function archiveName(raw: unknown, fallback: string): string {
  if (raw === undefined) return fallback;
  if (typeof raw !== 'string' || raw === '' || raw.length > 200 || /[/\\\u0000-\u001f]/.test(raw)) throw new ValidationError('name must be a plain file name');
  return raw.endsWith('.zip') ? raw : `${raw}.zip`;
}

function pathList(raw: unknown): string[] {
  const list = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
  if (list.length === 0 || list.some((p) => typeof p !== 'string' || p === '')) throw new ValidationError('name the files and folders to zip: path=/a&path=/b (or {"paths": [...]})');
  if (list.length > MAX_SELECTION) throw new PayloadTooLargeError(`at most ${MAX_SELECTION} paths in one archive`);
  return list as string[];
}

export const archiveRoutes: RoutePlugin = async (app, { ctx }) => {
  const byTicket = { config: { ticket: true } };
  app.get(`${API_PREFIX}/zip/*`, byTicket, (request, reply) => zipPath(ctx, request, reply));
  app.get(`${API_PREFIX}/zip`, byTicket, (request, reply) => zipSelection(ctx, request, reply));
  app.post(`${API_PREFIX}/zip`, (request, reply) => zipPosted(ctx, request, reply));
};

/** GET /zip/*path: the folder (or file) at path. */
function zipPath(ctx: ServerContext, request: FastifyRequest, reply: FastifyReply) {
  return sendArchive(ctx, request, reply, [wildcardPath(request)], (request.query as Record<string, unknown>).name);
}

/** GET /zip?path=A&path=B: a selection. */
function zipSelection(ctx: ServerContext, request: FastifyRequest, reply: FastifyReply) {
  const q = request.query as Record<string, unknown>;
  return sendArchive(ctx, request, reply, pathList(q.path), q.name);
}

/** POST /zip {paths, name?}: a selection too long for a URL. */
function zipPosted(ctx: ServerContext, request: FastifyRequest, reply: FastifyReply) {
  const body = request.body as { paths?: unknown; name?: unknown } | null;
  return sendArchive(ctx, request, reply, pathList(body?.paths), body?.name);
}

async function sendArchive(ctx: ServerContext, request: FastifyRequest, reply: FastifyReply, paths: string[], name: unknown) {
  const auth = authOf(request);
  const selection = items(auth, paths);
  const fallback = selection.length === 1 ? `${selection[0].name}.zip` : 'files.zip';
  return sendZip(ctx, request, reply, zipEntries(ctx, auth, selection), archiveName(name, fallback));
}
