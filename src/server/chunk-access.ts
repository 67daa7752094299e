/**
 * Who may download which chunks: the one decision behind `GET /chunks/:hash` and
 * `POST /chunks/batch`.
 *
 * Today: any chunk that some file references (an upload in progress is not a download
 * source, and a chunk nobody references is garbage). Access control by user will replace
 * this function with "chunks of files the caller may read"; its callers already answer an
 * unreadable chunk exactly like an unknown one, so that a hash does not reveal whether
 * somebody else stores it.
 */
import type { AuthContext } from './auth.js';
import type { ServerContext } from './app.js';

/** Of `hashes`, those `auth` may not download (unknown ones included), in request order. */
export async function unreadableChunks(ctx: ServerContext, auth: AuthContext, hashes: readonly string[]): Promise<string[]> {
  void auth; // every authenticated caller may read every file today
  const readable = await ctx.meta.referencedChunks(hashes);
  return hashes.filter((h) => !readable.has(h));
}
