/**
 * The defender's bans in the metadata database, so that the nodes sharing it (PostgreSQL)
 * share them: a ban one node makes refuses the address on every node, an admin's unban
 * through any node lifts it everywhere (src/server/shared-bans.ts keeps each node's memory
 * in step). The failures that lead to a ban are here too (`defender_failures`), so an address
 * is scored over every node together, not per node (docs/cluster.md).
 */
import { sql, type Kysely } from 'kysely';
import type { BansTable, Database, DefenderFailuresTable } from './meta-schema.js';

export class BanStore {
  constructor(private readonly db: Kysely<Database>) {}

  /** Records a ban, or lengthens one already recorded (never shortens it). */
  async put(ban: BansTable): Promise<void> {
    await this.db
      .insertInto('bans')
      .values(ban)
      // greatest() is PostgreSQL's, max(a, b) SQLite's: a CASE is both engines'.
      .onConflict((oc) => oc.column('ip').doUpdateSet({ until: sql<number>`case when excluded.until > bans.until then excluded.until else bans.until end` }))
      .execute();
  }

  async remove(ip: string): Promise<void> {
    await this.db.deleteFrom('bans').where('ip', '=', ip).execute();
  }

  /** Every recorded ban, ended ones included (see {@link purge}). */
  async all(): Promise<BansTable[]> {
    const rows = await this.db.selectFrom('bans').select(['ip', 'since', 'until']).execute();
    return rows.map((r) => ({ ip: r.ip, since: Number(r.since), until: Number(r.until) }));
  }

  /** Deletes bans that ended before `before`. */
  async purge(before: number): Promise<void> {
    await this.db.deleteFrom('bans').where('until', '<', before).execute();
  }

  /**
   * Records a failure of `failure.ip`, and returns its score since `since` on every node (this
   * failure's included) and its ban, if one is recorded. Nodes recording failures of one
   * address at once each see at least their own and every one committed before.
   */
  async addFailure(failure: DefenderFailuresTable, since: number): Promise<{ total: number; ban?: BansTable }> {
    await this.db.insertInto('defender_failures').values(failure).execute();
    const { total } = await this.db
      .selectFrom('defender_failures')
      .select((eb) => eb.fn.coalesce(eb.fn.sum<number>('score'), sql<number>`0`).as('total'))
      .where('ip', '=', failure.ip)
      .where('at', '>', since)
      .executeTakeFirstOrThrow();
    const ban = await this.db.selectFrom('bans').select(['ip', 'since', 'until']).where('ip', '=', failure.ip).executeTakeFirst();
    return { total: Number(total), ...(ban ? { ban: { ip: ban.ip, since: Number(ban.since), until: Number(ban.until) } } : {}) };
  }

  /** Deletes failures recorded before `before` (out of every observation window). */
  async purgeFailures(before: number): Promise<void> {
    await this.db.deleteFrom('defender_failures').where('at', '<', before).execute();
  }
}
