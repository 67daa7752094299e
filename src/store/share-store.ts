/**
 * Share links in the metadata store. A link's key never is stored, only its SHA-256: the
 * database (or a backup of it) cannot be turned back into working URLs. Creation,
 * revocation and counted uses are durable: a one-time link stays used after a power cut.
 */
import { sql, type ExpressionBuilder, type Kysely, type Transaction } from 'kysely';
import { QuotaExceededError } from '../core/errors.js';
import { keysetAfter, pageOf, withinPrefix, type RowPage, type PageQuery } from './keyset-page.js';
import type { Database, SharesTable } from './meta-schema.js';
import type { MetaStore } from './meta-store.js';

export type ShareRow = SharesTable;
/** A link as listed: with its owner's name and the name of the token that made it (null: none, or gone). */
export type ListedShare = ShareRow & { user_name: string; made_with_name: string | null };

/** Links that still open at `now`: not revoked, not expired, uses left. */
function liveLink(now: number) {
  return (eb: ExpressionBuilder<Database, 'shares'>) =>
    eb.and([eb('revoked_at', 'is', null), eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]), eb.or([eb('max_uses', 'is', null), eb('uses', '<', eb.ref('max_uses'))])]);
}

export class ShareStore {
  private readonly db: Kysely<Database>;

  constructor(private readonly meta: MetaStore) {
    this.db = meta.db;
  }

  /**
   * Inserts a link if its owner holds fewer than `max` live ones (that still open: not
   * revoked, not expired, uses left; 0: no limit), else FERRY_ERR_QUOTA_EXCEEDED
   * (`details.limit` 'shares'). Once the owner's rows reach `max`, their dead links are
   * deleted (a revoked one then answers 404 rather than 410), so that the table holds at most
   * `max` rows per user however many were made.
   */
  async insert(row: ShareRow, limit: { max: number; now: number } = { max: 0, now: 0 }): Promise<void> {
    await this.meta.durable(async (trx) => {
      if (limit.max > 0) await this.makeRoom(trx, row.user_id, limit.max, limit.now);
      await trx.insertInto('shares').values(row).execute();
    });
  }

  private async makeRoom(trx: Transaction<Database>, userId: string, max: number, now: number): Promise<void> {
    // On PostgreSQL, two requests counting at once would each see room: one at a time per user.
    if (this.meta.dialect !== 'sqlite') await trx.selectFrom('users').select('id').where('id', '=', userId).forUpdate().execute();
    const count = async (live: boolean) => {
      let q = trx.selectFrom('shares').select((eb) => eb.fn.countAll<string | number>().as('n')).where('user_id', '=', userId);
      if (live) q = q.where(liveLink(now));
      return Number((await q.executeTakeFirstOrThrow()).n);
    };
    if ((await count(false)) >= max) await trx.deleteFrom('shares').where('user_id', '=', userId).where((eb) => eb.not(liveLink(now)(eb))).execute();
    if ((await count(true)) >= max) {
      throw new QuotaExceededError(`a user may have at most ${max} live share links (not revoked, not expired, not used up); revoke some first (ferry share rm ID)`, { details: { limit: 'shares', max } });
    }
  }

  async byKeyHash(keyHash: string): Promise<ShareRow | undefined> {
    return this.db.selectFrom('shares').selectAll().where('key_hash', '=', keyHash).executeTakeFirst();
  }

  async byId(id: string): Promise<ShareRow | undefined> {
    return this.db.selectFrom('shares').selectAll().where('id', '=', id).executeTakeFirst();
  }

  /** Links with their owner's name and the name of the token that made each (null: none, or gone). */
  private listQuery() {
    return this.db
      .selectFrom('shares as s')
      .innerJoin('users as u', 'u.id', 's.user_id')
      .leftJoin('tokens as t', 't.id', 's.made_with')
      .selectAll('s')
      .select(['u.name as user_name', 't.name as made_with_name']);
  }

  /**
   * Revokes the live links `credential` made (a token being revoked: its links go with it);
   * the links revoked, for the audit.
   */
  async revokeMadeWith(credential: string, now: number): Promise<ShareRow[]> {
    return this.meta.durable(async (trx) => {
      const live = await trx.selectFrom('shares').selectAll().where('made_with', '=', credential).where('revoked_at', 'is', null).execute();
      if (live.length > 0) await trx.updateTable('shares').set({ revoked_at: now }).where('made_with', '=', credential).where('revoked_at', 'is', null).execute();
      return live;
    });
  }

  /** Links of one user (or everyone's), newest first, with the owner's name. */
  async list(userId?: string): Promise<ListedShare[]> {
    let q = this.listQuery();
    if (userId !== undefined) q = q.where('s.user_id', '=', userId);
    return q.orderBy('s.created_at', 'desc').orderBy('s.id').execute();
  }

  /**
   * One page of {@link list}, newest first: at most `limit` links after `after` (the `next`
   * of the page before); `pathPrefix`: only links at or below it.
   */
  async listPage(userId: string | undefined, page: PageQuery & { pathPrefix?: string | null }): Promise<RowPage<ListedShare>> {
    let q = this.listQuery();
    if (userId !== undefined) q = q.where('s.user_id', '=', userId);
    if (page.pathPrefix != null) q = q.where(withinPrefix('s.path', page.pathPrefix));
    if (page.after) q = q.where(keysetAfter('s.created_at', 's.id', page.after));
    return pageOf(await q.orderBy('s.created_at', 'desc').orderBy('s.id').limit(page.limit + 1).execute(), page.limit);
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
