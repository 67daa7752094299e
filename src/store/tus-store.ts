/**
 * tus uploads in the metadata store (table `tus_uploads`, see meta-schema.ts). The bytes of
 * an upload in progress are its upload session (same id) and a tail object in the chunk
 * store; this table holds what tus adds: the announced length, the metadata, the
 * concatenation role, and when it completed.
 */
import type { Kysely } from 'kysely';
import type { Database, TusUploadsTable } from './meta-schema.js';
import type { MetaStore } from './meta-store.js';

export type TusRow = TusUploadsTable;

export class TusStore {
  private readonly db: Kysely<Database>;

  constructor(private readonly meta: MetaStore) {
    this.db = meta.db;
  }

  async insert(row: TusRow): Promise<void> {
    await this.db.insertInto('tus_uploads').values(row).execute();
  }

  async get(id: string): Promise<TusRow | undefined> {
    return this.db.selectFrom('tus_uploads').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async update(id: string, patch: Partial<Omit<TusRow, 'id'>>): Promise<void> {
    await this.db.updateTable('tus_uploads').set(patch).where('id', '=', id).execute();
  }

  /** Marks an upload complete; its row is kept (HEAD still answers) until `keepUntil`. */
  async markDone(id: string, now: number, keepUntil: number): Promise<void> {
    await this.meta.durable((trx) => trx.updateTable('tus_uploads').set({ done_at: now, expires_at: keepUntil }).where('id', '=', id).execute());
  }

  async delete(id: string): Promise<void> {
    await this.db.deleteFrom('tus_uploads').where('id', '=', id).execute();
  }

  /** The ids of a user's uploads, in progress or done. */
  async idsOf(owner: string): Promise<string[]> {
    return (await this.db.selectFrom('tus_uploads').select('id').where('owner', '=', owner).execute()).map((r) => r.id);
  }

  /** Uploads whose expiry has passed (at most `limit`). */
  async expired(now: number, limit = 1000): Promise<TusRow[]> {
    return this.db.selectFrom('tus_uploads').selectAll().where('expires_at', '<=', now).limit(limit).execute();
  }
}
