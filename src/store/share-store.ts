/**
 * Share links in the metadata store. A link's key never is stored, only its SHA-256: the
 * database (or a backup of it) cannot be turned back into working URLs.
 */
import { sql, type Kysely } from 'kysely';
import type { Database, SharesTable } from './meta-schema.js';

export type ShareRow = SharesTable;

export class ShareStore {
  constructor(private readonly db: Kysely<Database>) {}

  async insert(row: ShareRow): Promise<void> {
    await this.db.insertInto('shares').values(row).execute();
  }

  async byKeyHash(keyHash: string): Promise<ShareRow | undefined> {
    return this.db.selectFrom('shares').selectAll().where('key_hash', '=', keyHash).executeTakeFirst();
  }

  async byId(id: string): Promise<ShareRow | undefined> {
    return this.db.selectFrom('shares').selectAll().where('id', '=', id).executeTakeFirst();
  }

  /** Links of one user (or everyone's), newest first, with the owner's name. */
  async list(userId?: string): Promise<(ShareRow & { user_name: string })[]> {
    let q = this.db.selectFrom('shares as s').innerJoin('users as u', 'u.id', 's.user_id').selectAll('s').select('u.name as user_name');
    if (userId !== undefined) q = q.where('s.user_id', '=', userId);
    return q.orderBy('s.created_at', 'desc').orderBy('s.id').execute();
  }

  async revoke(id: string, now: number): Promise<boolean> {
    const r = await this.db.updateTable('shares').set({ revoked_at: now }).where('id', '=', id).where('revoked_at', 'is', null).executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  /**
   * Counts one use if the link still has uses left: a single conditional UPDATE, so two
   * concurrent downloads of a one-time link cannot both get through. Returns whether it did.
   */
  async consumeUse(id: string, now: number): Promise<boolean> {
    const r = await this.db
      .updateTable('shares')
      .set({ uses: sql<number>`uses + 1`, last_used_at: now })
      .where('id', '=', id)
      .where('revoked_at', 'is', null)
      .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
      .where((eb) => eb.or([eb('max_uses', 'is', null), eb('uses', '<', eb.ref('max_uses'))]))
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  /** Gives back a use counted for a transfer that then failed before any byte was stored or sent. */
  async refundUse(id: string): Promise<void> {
    await this.db.updateTable('shares').set({ uses: sql<number>`uses - 1` }).where('id', '=', id).where('uses', '>', 0).execute();
  }
}
