/**
 * The clock that times compared across nodes come from. Several nodes sharing PostgreSQL
 * compare times one node wrote with times another computes: a chunk row's `created_at` and a
 * write's `chunk_writes.started_at` (the writer's) against garbage collection's grace cutoff
 * (the collector's). With each node's own clock, a writer whose clock is behind the
 * collector's by more than the grace time has its fresh chunk, or the object it is writing,
 * taken for an old one and deleted. So on PostgreSQL these times are the database server's
 * clock, as lease times are (./leases.ts), read without a query per use: the database's time
 * is read at open and every {@link RESYNC_MS}, and in between carried forward by this node's
 * monotonic clock (so a step of the node's wall clock does not move it either). The error is
 * at most half a round trip to the database plus the monotonic clock's drift over a minute.
 *
 * One node (SQLite), or a node told to use its own clock: the node's `now()`.
 */
import { performance } from 'node:perf_hooks';
import { sql, type Kysely } from 'kysely';
import type { Database } from './meta-schema.js';

/** How often the database's time is read again. */
const RESYNC_MS = 60_000;

export class SharedClock {
  private at?: { database: number; tick: number };
  private timer?: NodeJS.Timeout;

  /**
   * @param tick the local clock carried forward between reads: the monotonic clock, or a
   *   test's fake `now` (its steps then move the shared time by as much)
   */
  private constructor(
    private readonly db: Kysely<Database> | undefined,
    private readonly tick: () => number,
  ) {}

  /** This node's `now()` as the shared time (one node, or nodes that trust their clocks). */
  static local(now: () => number): SharedClock {
    return new SharedClock(undefined, now);
  }

  /** The database server's time (PostgreSQL), read now and every minute until {@link stop}. */
  static async database(db: Kysely<Database>, now?: () => number): Promise<SharedClock> {
    const clock = new SharedClock(db, now ?? (() => performance.now()));
    await clock.sync();
    clock.timer = setInterval(() => void clock.sync().catch(() => undefined), RESYNC_MS).unref();
    return clock;
  }

  /** Now, in epoch milliseconds, on the shared clock. */
  now(): number {
    if (!this.at) return this.tick();
    return Math.round(this.at.database + (this.tick() - this.at.tick));
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private async sync(): Promise<void> {
    const before = this.tick();
    const r = await sql<{ ms: number }>`select (extract(epoch from clock_timestamp()) * 1000)::bigint as ms`.execute(this.db!);
    const after = this.tick();
    // The database's reading is taken as the middle of the round trip.
    this.at = { database: Number(r.rows[0].ms), tick: (before + after) / 2 };
  }
}
