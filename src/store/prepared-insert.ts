/**
 * A multi-row insert that Kysely builds and compiles once per row count, then runs with new
 * rows (see PreparedQuery, which it is made of).
 *
 * The batched inserts of a first sync of 10,000 small files (session files and entries,
 * chunks and their owners, manifests, file rows, audit rows: some 60,000 rows) spent about
 * 0.25 s of the server's 3.3 s of CPU in Kysely building and compiling each statement
 * (`values()` walks every value of every row; the compiler writes the SQL out again), more
 * than SQLite took to run many of them. Here statements take `maxRows` rows, the rest of a
 * batch goes in powers of two, so each insert has a few shapes, each built once per store,
 * and every other run only places the values.
 *
 * Every row must give every column of `columns` (undefined is refused: Kysely would write
 * `default` for it, a prepared shape cannot), and `build` must pass each row's values to
 * `values()` untouched, as PreparedQuery's `build` does its arguments.
 */
import type { Compilable, Kysely } from 'kysely';
import { PreparedQuery } from './prepared-query.js';

export class PreparedInsert<DB, R extends object> {
  /** By row count: `maxRows` and powers of two below it, so at most 1 + log2(maxRows) shapes. */
  private readonly shapes = new Map<number, PreparedQuery<DB, unknown[], unknown>>();

  /**
   * @param columns every column a row gives, in the order the values are bound
   * @param maxRows rows per statement at most (bound values: `maxRows` × columns, within SQLite's 32766 and PostgreSQL's 65535)
   * @param build the insert of `rows` (conflict clause and all)
   */
  constructor(
    private readonly columns: readonly (keyof R & string)[],
    private readonly maxRows: number,
    private readonly build: (db: Kysely<DB>, rows: R[]) => Compilable<unknown>,
  ) {
    if (!(Number.isSafeInteger(maxRows) && maxRows > 0)) throw new RangeError(`maxRows must be a positive integer, not ${maxRows}`);
  }

  /**
   * Inserts `rows` on `db` (always of one dialect, as PreparedQuery): `maxRows` to a
   * statement, the rest in statements of powers of two (57 rows: 32, 16, 8 and 1), so that
   * the remainders of batches of every size share a few shapes. Run it in a transaction
   * when the rows must go in together. Returns the rows inserted or updated (an
   * `on conflict do nothing` counts only those inserted).
   */
  async execute(db: Kysely<DB>, rows: readonly R[]): Promise<number> {
    let changed = 0;
    for (let at = 0; at < rows.length; ) {
      const left = rows.length - at;
      const count = left >= this.maxRows ? this.maxRows : 2 ** Math.floor(Math.log2(left));
      const result = await this.shape(count).execute(db, ...this.values(rows, at, count));
      changed += Number(result.numAffectedRows ?? 0n);
      at += count;
    }
    return changed;
  }

  /** The values of rows `from` to `from + count`, row after row, in column order. */
  private values(rows: readonly R[], from: number, count: number): unknown[] {
    const width = this.columns.length;
    const out = new Array<unknown>(count * width);
    for (let r = 0; r < count; r++) {
      const row = rows[from + r] as Record<string, unknown>;
      for (let c = 0; c < width; c++) {
        const v = row[this.columns[c]];
        if (v === undefined) throw new TypeError(`prepared insert: row ${from + r} gives no value for column ${this.columns[c]}`);
        out[r * width + c] = v;
      }
    }
    return out;
  }

  private shape(count: number): PreparedQuery<DB, unknown[], unknown> {
    let q = this.shapes.get(count);
    if (q === undefined) {
      const width = this.columns.length;
      q = new PreparedQuery<DB, unknown[], unknown>(count * width, (db, ...standIns) => {
        const rows = Array.from({ length: count }, (_, r) => Object.fromEntries(this.columns.map((col, c) => [col, standIns[r * width + c]])) as R);
        return this.build(db, rows);
      });
      this.shapes.set(count, q);
    }
    return q;
  }

  /** Shapes compiled so far (for tests). */
  get shapeCount(): number {
    return this.shapes.size;
  }
}
