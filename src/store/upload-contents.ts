/** What an upload session will commit, file by file (for checks that run before the commit). */
import type { Kysely } from 'kysely';
import type { ChunkRef } from '../core/manifest.js';
import type { Database } from './meta-schema.js';

export interface PendingFile {
  path: string;
  size: number;
  chunks: ChunkRef[];
}

/** The paths of the session's files as they were asked for, in order. */
export async function pendingPaths(db: Kysely<Database>, uploadId: string): Promise<string[]> {
  return (await db.selectFrom('upload_files').select('path').where('upload_id', '=', uploadId).orderBy('idx').execute()).map((f) => f.path);
}

/** The session's files and their chunk lists, in order. */
export async function pendingFiles(db: Kysely<Database>, uploadId: string): Promise<PendingFile[]> {
  const files = await db.selectFrom('upload_files').select(['idx', 'path']).where('upload_id', '=', uploadId).orderBy('idx').execute();
  const out: PendingFile[] = [];
  for (const f of files) {
    const chunks = await db.selectFrom('upload_entries').select(['hash', 'size']).where('upload_id', '=', uploadId).where('file_idx', '=', f.idx).orderBy('seq').execute();
    out.push({ path: f.path, size: chunks.reduce((n, c) => n + c.size, 0), chunks });
  }
  return out;
}
