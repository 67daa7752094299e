/**
 * Defender bans shared by the nodes of one PostgreSQL database. Each node's defender decides
 * and checks bans in memory (a check on every request must not cost a query); this keeps
 * those memories in step through the `bans` table (src/store/ban-store.ts):
 *
 * - a ban this node makes is written at once; an admin's unban here deletes the row;
 * - every `intervalMs` (2 s) the node reads the table: bans made elsewhere are adopted, and
 *   bans it knew to be in the table that are gone from it were lifted elsewhere: lifted here.
 *
 * So a ban reaches every node within about `intervalMs`, and so does an unban. What stays per
 * node: the scores that lead to a ban (failures are counted where they happen), and the
 * extension of a ban by each refused request. Rate limits are per node too (docs/cluster.md).
 */
import type { FastifyBaseLogger } from 'fastify';
import type { BanStore } from '../store/ban-store.js';
import type { Defender } from './defender.js';

/** How often a node reads the bans other nodes made or lifted. */
export const BAN_SYNC_MS = 2000;

export class SharedBans {
  /** Addresses whose ban this node knows to be in the table (a row found, or written by it). */
  private readonly recorded = new Set<string>();
  private timer?: NodeJS.Timeout;
  private syncing?: Promise<void>;

  constructor(
    private readonly defender: Defender,
    private readonly store: BanStore,
    private readonly log: FastifyBaseLogger,
    private readonly now: () => number,
    private readonly intervalMs = BAN_SYNC_MS,
  ) {}

  /** Publishes this node's bans and unbans from now on, and reads the others' every interval. */
  start(): void {
    this.defender.onChange((change) => {
      const write = change.kind === 'ban' ? this.store.put({ ip: change.ip, since: change.since, until: change.until }).then(() => this.recorded.add(change.ip)) : this.store.remove(change.ip).then(() => this.recorded.delete(change.ip));
      write.catch((err: unknown) => this.log.error({ err, ip: change.ip }, `could not share a defender ${change.kind} with the other nodes`));
    });
    this.timer = setInterval(() => {
      this.syncing ??= this.sync()
        .catch((err: unknown) => this.log.warn({ err }, 'could not read the bans of the other nodes'))
        .finally(() => (this.syncing = undefined));
    }, this.intervalMs);
    this.timer.unref();
  }

  /** One round: adopt the table's live bans, lift those that left it, purge long-ended rows. */
  async sync(): Promise<void> {
    // Only what was known to be recorded before the read may be taken for lifted: a ban
    // written meanwhile may be missing from it.
    const known = new Set(this.recorded);
    const rows = await this.store.all();
    const now = this.now();
    const present = new Set<string>();
    for (const row of rows) {
      present.add(row.ip);
      this.recorded.add(row.ip);
      if (row.until > now) this.defender.adopt(row.ip, row.since, row.until);
    }
    for (const ip of known) {
      if (present.has(ip)) continue;
      this.recorded.delete(ip);
      this.defender.forget(ip);
    }
    // A ban extended by refused requests runs at most maxBanMs past its start: rows ended
    // that long ago can go without lifting anything still in force on some node.
    await this.store.purge(now - this.defender.options.maxBanMs);
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.syncing;
  }
}
