/**
 * The one way an upload session becomes files: the pre-upload hook sees each file first
 * (and may reject it), the metadata store commits atomically (with the caller's checks
 * inside its transaction), and each committed file is audited as `file.upload` (which is
 * also what webhooks and command hooks see).
 */
import type { FastifyRequest } from 'fastify';
import type { Entry } from '../core/protocol.js';
import type { CommitFinal, CommitOptions } from '../store/meta-store.js';
import { pendingFiles } from '../store/upload-contents.js';
import type { ServerContext } from './context.js';
import type { AuthContext } from './authz.js';
import type { Front } from './audit.js';

export async function commitSession(
  ctx: ServerContext,
  request: FastifyRequest | null,
  auth: AuthContext,
  id: string,
  final: CommitFinal,
  options: CommitOptions,
  /** The front, when not the request's route's (a tus upload's commit). */
  front?: Front,
  /** False when the caller audits the upload itself (the SFTP front, with what it received). */
  audit = true,
): Promise<Entry[]> {
  if (ctx.config.preUploadHook) await ctx.hooks.checkUpload(await pendingFiles(ctx.meta.db, id), auth.userName);
  // Chunk PUTs are acknowledged before their chunks are durable (grouped durability): they
  // are durable and indexed before the commit looks at the index, so a committed file never
  // references a chunk a crash could take away.
  await ctx.chunks.flush();
  const files = await ctx.meta.commitUpload(id, final, options);
  ctx.metrics.commits.inc(files.length);
  if (audit) {
    await ctx.audit.recordMany(
      request,
      files.map((f) => ({ event: 'file.upload', ok: true, userId: auth.userId, userName: auth.userName, tokenId: auth.tokenId, path: f.path, target: f.path, details: { size: f.size, hash: f.hash }, ...(front ? { front } : {}) })),
    );
  }
  return files;
}
