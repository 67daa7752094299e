/**
 * A query shape that Kysely builds and compiles once, then runs with new values.
 *
 * Kysely builds an operation tree and compiles it to SQL on every execution. For the
 * primary-key lookups and small inserts of a chunk upload that is most of their cost: about
 * 40 of the 50 µs a chunk lookup took on SQLite, where running the prepared statement takes
 * 3 (benchmarks/chunk-put.ts measures the whole request). A PreparedQuery runs `build` once,
 * with stand-ins for its arguments, compiles the result for the database it is first run
 * on, and notes where each stand-in landed among the compiled parameters; every run then
 * sends the same SQL with the arguments put in those places.
 *
 * So `build` must hand each argument to Kysely as a bound value, untouched (it may use one
 * several times): no arithmetic on it, no branching on it, no array spread into `in (...)`.
 * An argument missing from the compiled parameters is refused when the query is compiled;
 * one branched on would go unnoticed, so keep `build` to a straight chain of calls.
 */
import { CompiledQuery, type Compilable, type Kysely, type QueryResult } from 'kysely';

/** Where a compiled parameter comes from: argument `i`, or a value fixed at build time. */
type Slot = { arg: number } | { fixed: unknown };

export class PreparedQuery<DB, A extends readonly unknown[], R> {
  private compiled: { sql: string; slots: Slot[] } | undefined;

  /**
   * @param arity how many arguments `build` takes (its stand-ins are made before it runs)
   * @param build the query, from the database and the arguments
   */
  constructor(
    private readonly arity: number,
    private readonly build: (db: Kysely<DB>, ...args: A) => Compilable<R>,
  ) {}

  /**
   * Runs the query on `db` (the store's Kysely instance or a transaction of it: the same
   * dialect every time, since the SQL is compiled for the first one).
   */
  async execute(db: Kysely<DB>, ...args: A): Promise<QueryResult<R>> {
    const { sql, slots } = (this.compiled ??= this.compile(db));
    const parameters = slots.map((s) => ('arg' in s ? args[s.arg] : s.fixed));
    return db.executeQuery<R>(CompiledQuery.raw(sql, parameters) as CompiledQuery<R>);
  }

  /** The first row, or undefined. */
  async first(db: Kysely<DB>, ...args: A): Promise<R | undefined> {
    return (await this.execute(db, ...args)).rows[0];
  }

  private compile(db: Kysely<DB>): { sql: string; slots: Slot[] } {
    // Values nobody would bind: NUL-led, and random per query.
    const tag = `\u0000ferry-arg-${Math.random().toString(36).slice(2)}-`;
    const standIns = Array.from({ length: this.arity }, (_, i) => `${tag}${i}`);
    const { sql, parameters } = this.build(db, ...(standIns as unknown as A)).compile();
    if (sql.includes(tag)) throw new Error(`prepared query: an argument was written into the SQL text, not bound: ${sql}`);
    const seen = new Array<number>(this.arity).fill(0);
    const slots = parameters.map((p): Slot => {
      const i = typeof p === 'string' && p.startsWith(tag) ? Number(p.slice(tag.length)) : -1;
      if (i < 0) return { fixed: p };
      seen[i]++;
      return { arg: i };
    });
    const lost = seen.indexOf(0);
    if (lost >= 0) throw new Error(`prepared query: argument ${lost} is not among the bound values (transformed on the way?): ${sql}`);
    return { sql, slots };
  }
}
