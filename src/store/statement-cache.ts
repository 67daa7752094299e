/**
 * Prepared statements reused by SQL text, for Kysely's SqliteDialect.
 *
 * The dialect calls `prepare(sql)` for every query it runs; with better-sqlite3 that parses
 * and plans the SQL each time, which cost about as much as running the small lookups and
 * inserts of a chunk upload (8% of the server's CPU for a 1 GiB `ferry put`). The wrapper
 * here hands back the statement prepared earlier for the same text, least recently used
 * ones evicted past `capacity` (queries with `in (?, ?, ...)` lists of every length would
 * otherwise grow the cache without bound).
 *
 * Reuse is safe because better-sqlite3 runs a statement to completion and resets it on
 * every `all`/`run` (bindings included), and SQLite re-prepares a statement by itself when
 * the schema changed under it. The one state that is not reset at once is an unfinished
 * `iterate()` (Kysely's `stream()`): such a statement is `busy`, and the same text asked
 * for meanwhile gets a statement of its own, not cached.
 */
import type { SqliteDatabase, SqliteStatement } from 'kysely';

/** The part of a better-sqlite3 Database (and of its statements) this needs. */
export interface PreparingDatabase {
  prepare(sql: string): SqliteStatement & { readonly busy: boolean };
  close(): void;
}

export const DEFAULT_STATEMENT_CACHE_SIZE = 256;

export class StatementCache implements SqliteDatabase {
  /** Insertion order is recency order: a hit moves its entry to the end. */
  private readonly statements = new Map<string, SqliteStatement & { readonly busy: boolean }>();
  /** Statements asked for (one per query run), for tests and benchmarks. */
  lookups = 0;
  /** Of those, the ones prepared (cache misses and busy statements). */
  prepared = 0;

  constructor(
    private readonly db: PreparingDatabase,
    private readonly capacity = DEFAULT_STATEMENT_CACHE_SIZE,
  ) {
    if (!(Number.isSafeInteger(capacity) && capacity > 0)) throw new RangeError(`statement cache capacity must be a positive integer, not ${capacity}`);
  }

  /** Statements held now. */
  get size(): number {
    return this.statements.size;
  }

  prepare(sql: string): SqliteStatement {
    this.lookups++;
    const cached = this.statements.get(sql);
    if (cached !== undefined) {
      if (cached.busy) {
        this.prepared++;
        return this.db.prepare(sql);
      }
      this.statements.delete(sql);
      this.statements.set(sql, cached);
      return cached;
    }
    // A statement that fails to prepare (a syntax error) throws here and is not cached.
    const stmt = this.db.prepare(sql);
    this.prepared++;
    this.statements.set(sql, stmt);
    if (this.statements.size > this.capacity) this.statements.delete(this.statements.keys().next().value as string);
    return stmt;
  }

  /** Closes the database (which finalizes every statement, cached or not). */
  close(): void {
    this.statements.clear();
    this.db.close();
  }
}
