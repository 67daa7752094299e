/**
 * The defender's bans in the metadata database, so that the nodes sharing it (PostgreSQL)
 * share them: a ban one node makes refuses the address on every node, an admin's unban
 * through any node lifts it everywhere (src/server/shared-bans.ts keeps each node's memory
 * in step). Only bans are here, not the failures that lead to them: those are counted per
 * node, in memory (docs/cluster.md says why).
 */
import { sql, type Kysely } from 'kysely';
import type { BansTable, Database } from './meta-schema.js';

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
}
