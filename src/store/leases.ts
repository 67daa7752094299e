/**
 * Leases: work that must run on one node at a time however many share the database (garbage
 * collection, the sweeps of expired files and upload sessions). A lease is a row naming its
 * holder and when it lapses; taking it is one upsert that succeeds only when the row is
 * absent, lapsed, or already this holder's, so two nodes can never both hold it (the row is
 * the arbiter: its primary key on SQLite and PostgreSQL alike). A holder that dies simply
 * stops renewing; another node takes over once the lease lapses.
 *
 * A lease row rather than a PostgreSQL session advisory lock: an advisory lock pins one pooled
 * connection for as long as it is held and vanishes silently with that connection, and the
 * same code would not run on SQLite.
 *
 * Whose clock: on PostgreSQL a lease's times are the database server's (`clock_timestamp()`),
 * so nodes whose clocks disagree still agree when a lease lapses. With each node's own clock
 * (SQLite: one node, one clock; tests with a fake clock), a node whose clock ran ahead of the
 * holder's by more than the time left on the lease would take it while it is live: a holder
 * renewing every third of the lease's time leaves about two thirds of it, so skew up to 2/3 of
 * a lease's time (10 s for a tus claim of 15 s) was tolerated, and no more.
 */
import { randomBytes } from 'node:crypto';
import { sql, type Kysely, type RawBuilder } from 'kysely';
import type { Database } from './meta-schema.js';

/** Where lease times come from: the database server's clock (PostgreSQL), or this node's `now()`. */
export type LeaseClock = 'database' | (() => number);

export class Leases {
  /** This process, as a lease holder. */
  readonly holder = `${process.pid}-${randomBytes(6).toString('hex')}`;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly clock: LeaseClock,
  ) {}

  /** Now, in epoch milliseconds, as an SQL value: the database's clock or this node's. */
  private now(): RawBuilder<number> {
    if (this.clock === 'database') return sql<number>`(extract(epoch from clock_timestamp()) * 1000)::bigint`;
    return sql<number>`cast(${this.clock()} as bigint)`;
  }

  /**
   * Takes (or renews) the lease `name` for `ttlMs` if no other holder has it; returns whether
   * this holder has it now. The work it guards must end within `ttlMs` or renew it.
   */
  async acquire(name: string, ttlMs: number, holder = this.holder): Promise<boolean> {
    const now = this.now();
    const until = sql<number>`${now} + cast(${ttlMs} as bigint)`;
    const r = await this.db
      .insertInto('leases')
      .values({ name, holder, expires_at: until })
      .onConflict((oc) =>
        oc
          .column('name')
          .doUpdateSet({ holder, expires_at: until })
          .where((eb) => eb.or([eb('leases.expires_at', '<=', now), eb('leases.holder', '=', holder)])),
      )
      .executeTakeFirst();
    return Number(r.numInsertedOrUpdatedRows ?? 0n) > 0;
  }

  /** Gives the lease up early (only if this holder has it), so another node need not wait for it to lapse. */
  async release(name: string, holder = this.holder): Promise<void> {
    await this.db.deleteFrom('leases').where('name', '=', name).where('holder', '=', holder).execute();
  }

  /**
   * Runs `job` if the lease can be taken, renewing it every third of `ttlMs` while the job
   * runs and releasing it after; returns `{ ran: false }` when another node holds it.
   */
  async run<T>(name: string, ttlMs: number, job: () => Promise<T>): Promise<{ ran: true; result: T } | { ran: false }> {
    if (!(await this.acquire(name, ttlMs))) return { ran: false };
    // A renewal still on its way when the job ends would take the lease again after the
    // release (for a whole ttlMs, other nodes skipping the work meanwhile): the release waits for them.
    const renewals = new Set<Promise<unknown>>();
    const renew = setInterval(() => {
      const renewal: Promise<unknown> = this.acquire(name, ttlMs)
        .catch(() => undefined)
        .finally(() => renewals.delete(renewal));
      renewals.add(renewal);
    }, Math.max(1, Math.floor(ttlMs / 3)));
    renew.unref();
    try {
      return { ran: true, result: await job() };
    } finally {
      clearInterval(renew);
      await Promise.all(renewals);
      await this.release(name).catch(() => undefined);
    }
  }

  /** Whether a lease whose name begins with `prefix` is held, not lapsed, by another holder than `except`. */
  async heldByOthers(prefix: string, except = this.holder): Promise<boolean> {
    const pattern = prefix.replace(/[!%_]/g, (c) => `!${c}`) + '%';
    const row = await this.db
      .selectFrom('leases')
      .select('name')
      .where(sql<boolean>`name like ${pattern} escape '!'`)
      .where('holder', '!=', except)
      .where('expires_at', '>', this.now())
      .executeTakeFirst();
    return row !== undefined;
  }

  /** Who holds `name` and until when (undefined: nobody, or lapsed). */
  async holderOf(name: string): Promise<{ holder: string; expiresAt: number } | undefined> {
    const row = await this.db.selectFrom('leases').select(['holder', 'expires_at']).where('name', '=', name).where('expires_at', '>', this.now()).executeTakeFirst();
    return row ? { holder: row.holder, expiresAt: Number(row.expires_at) } : undefined;
  }
}
