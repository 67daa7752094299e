/**
 * Share links in the metadata store. A link's key never is stored, only its SHA-256: the
 * database (or a backup of it) cannot be turned back into working URLs. Creation,
 * revocation and counted uses are durable: a one-time link stays used after a power cut.
 */
import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database, SharesTable } from './meta-schema.js';
import type { MetaStore } from './meta-store.js';

export type ShareRow = SharesTable;

export class ShareStore {
  private readonly db: Kysely<Database>;

  constructor(private readonly meta: MetaStore) {
    this.db = meta.db;
  }

  async insert(row: ShareRow): Promise<void> {
    await this.meta.durable((trx) => trx.insertInto('shares').values(row).execute());
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
    const r = await this.meta.durable((trx) => trx.updateTable('shares').set({ revoked_at: now }).where('id', '=', id).where('revoked_at', 'is', null).executeTakeFirst());
    return Number(r.numUpdatedRows) > 0;
  }

  /**
   * Counts one use if the link still has uses left: a single conditional UPDATE, so two
   * concurrent downloads of a one-time link cannot both get through. Returns whether it did.
   */
  async consumeUse(id: string, now: number): Promise<boolean> {
    const r = await this.meta.durable((trx) =>
      trx
        .updateTable('shares')
        .set({ uses: sql<number>`uses + 1`, last_used_at: now })
        .where('id', '=', id)
        .where('revoked_at', 'is', null)
        .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
        .where((eb) => eb.or([eb('max_uses', 'is', null), eb('uses', '<', eb.ref('max_uses'))]))
        .executeTakeFirst(),
    );
    return Number(r.numUpdatedRows) > 0;
  }

  /**
   * Inside the transaction that commits files through an upload link: counts their `bytes`
   * if they fit under the link's cap (a single conditional UPDATE, so concurrent commits
   * cannot both pass it; rolled back with a failed commit). Returns whether they fit.
   */
  static async takeBytes(trx: Transaction<Database>, id: string, bytes: number): Promise<boolean> {
    const r = await trx
      .updateTable('shares')
      .set({ bytes_received: sql<number>`bytes_received + ${bytes}` })
      .where('id', '=', id)
      .where((eb) => eb.or([eb('max_bytes', 'is', null), eb(sql<number>`bytes_received + ${bytes}`, '<=', eb.ref('max_bytes'))]))
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  /** Gives back a use counted for a transfer that then failed before any byte was stored or sent. */
  async refundUse(id: string): Promise<void> {
    await this.db.updateTable('shares').set({ uses: sql<number>`uses - 1` }).where('id', '=', id).where('uses', '>', 0).execute();
  }
}
