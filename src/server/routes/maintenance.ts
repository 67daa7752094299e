/**
 * Backup and check (admin only; README "Backup and check"):
 *
 *   POST /api/v1/admin/backup   {dir}  -> BackupManifest: metadata (SQLite backup API) and
 *                                          secrets into an empty directory on the server;
 *                                          507 FERRY_ERR_NO_SPACE (nothing left behind) when its disk fills
 *   POST /api/v1/admin/check    {readData?, quarantine?} -> NDJSON: {"progress": ...} lines
 *                                          while it runs, then one {"report": CheckReport}
 *
 * The check streams: it may read the whole store, longer than any client waits for headers.
 */
import { resolve } from 'node:path';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ValidationError, isFerryError } from '../../core/errors.js';
import { API_PREFIX } from '../../core/protocol.js';
import { checkIntegrity } from '../../store/integrity-check.js';
import { authOf, type RoutePlugin, type ServerContext } from '../context.js';
import { authorizeAdmin } from '../authz.js';
import { LEFT_OUT_FOR_EXPIRING, backupServer } from '../backup.js';
import { redactRemote } from '../../remotes/index.js';

const PROGRESS_EVERY_MS = 2000;

export const maintenanceRoutes: RoutePlugin = async (app, { ctx }) => {
  app.post(`${API_PREFIX}/admin/backup`, (request, reply) => backup(ctx, request, reply));
  app.post(`${API_PREFIX}/admin/check`, (request, reply) => check(ctx, request, reply));
};

/**
 * The chunk stores a backup does not hold, as `PREFIX=WHERE`: the local one (`local`, and `/`
 * when no store routes it) as its absolute directory, the others as `--store` names them with
 * their secrets redacted (the manifest goes to the admin's terminal and into the backup).
 */
function chunkStoresToCopy(ctx: ServerContext): string[] {
  const specs = ctx.config.store ?? [];
  const local = resolve(ctx.config.dataDir, 'store');
  const stores = specs.map((s) => `${s.prefix}=${s.remote === 'local' ? local : redactRemote(s.remote)}`);
  return specs.some((s) => s.prefix === '/') ? stores : [`/=${local}`, ...stores];
}

async function backup(ctx: ServerContext, request: FastifyRequest, reply: FastifyReply) {
  const auth = authOf(request);
  // A backup holds every user's metadata and the server's secrets (the session key signs every
  // web session): authorizeAdmin refuses a token narrowed to one folder.
  authorizeAdmin(auth);
  // The session key outlives a credential that expires (a `ferry login` token): such a
  // backup leaves it out rather than refuse the CLI's usual admin credential.
  const expiring = (await ctx.auth.notAfterToken(auth, null)) !== null;
  const body = (request.body ?? {}) as { dir?: unknown };
  if (typeof body.dir !== 'string' || body.dir === '') throw new ValidationError('dir must be an absolute directory path on the server');
  let manifest;
  try {
    manifest = await backupServer(ctx.meta, ctx.config.dataDir, body.dir, chunkStoresToCopy(ctx), { leftOut: expiring ? LEFT_OUT_FOR_EXPIRING : [] });
  } catch (err) {
    if (!isFerryError(err, 'FERRY_ERR_NO_SPACE')) throw err;
    // The admin's own directory is full, not the server's storage: they are told so in
    // words (a 5xx's message otherwise stays in the log), and that nothing was left there.
    request.log.error({ err }, 'backup failed: no space');
    await ctx.audit.record(request, { event: 'admin.backup', ok: false, target: resolve(body.dir), details: { reason: err.message } });
    return reply.status(507).send({ error: err.toJSON() });
  }
  await ctx.audit.record(request, { event: 'admin.backup', ok: true, target: resolve(body.dir), details: { files: manifest.files.length } });
  return manifest;
}

async function check(ctx: ServerContext, request: FastifyRequest, reply: FastifyReply) {
  authorizeAdmin(authOf(request));
  const body = (request.body ?? {}) as { readData?: unknown; quarantine?: unknown };
  if (body.readData !== undefined && typeof body.readData !== 'boolean') throw new ValidationError('readData must be a boolean');
  if (body.quarantine !== undefined && typeof body.quarantine !== 'boolean') throw new ValidationError('quarantine must be a boolean');
  const controller = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) controller.abort();
  });
  reply.hijack();
  reply.raw.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store', 'x-request-id': request.id });
  let last = Date.now();
  try {
    const report = await checkIntegrity(ctx.meta, ctx.chunks, ctx.quarantine, {
      readData: body.readData === true,
      quarantine: body.quarantine !== false,
      now: ctx.now(),
      unreferencedAge: ctx.config.gcGraceMs,
      storeNow: ctx.storeNow,
      signal: controller.signal,
      progress: (p) => {
        if (Date.now() - last < PROGRESS_EVERY_MS) return;
        last = Date.now();
        reply.raw.write(JSON.stringify({ progress: p }) + '\n');
      },
    });
    for (const p of report.problems) {
      if (p.quarantined) await ctx.audit.record(request, { event: 'file.quarantine', ok: true, target: p.hash, path: p.files[0]?.replace(/^(version|trash):/, '') ?? null, details: { kind: p.kind, files: p.files } });
    }
    reply.raw.end(JSON.stringify({ report }) + '\n');
  } catch (err) {
    request.log.error({ err }, 'check failed');
    reply.raw.end(JSON.stringify({ error: { code: 'FERRY_ERR_INTERNAL', message: err instanceof Error ? err.message : String(err) } }) + '\n');
  }
  return reply;
}
