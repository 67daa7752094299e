/**
 * Pages of a listing ordered newest first by (created_at desc, id asc), for tokens and share
 * links: the `next` of a page is the last row's position, and the following page starts
 * after it, so rows made or removed between two requests neither repeat nor shift the rest
 * (an offset would). The cursor is `<created_at>.<id>`, opaque to clients.
 */
import { sql, type RawBuilder, type SqlBool } from 'kysely';
import { ValidationError } from '../core/errors.js';

export interface PageQuery {
  limit: number;
  /** The `next` of the page before. */
  after?: string;
}

export interface RowPage<T> {
  rows: T[];
  /** There while more may follow: the `after` of the next page. */
  next?: string;
}

const CURSOR = /^(\d{1,16})\.([A-Za-z0-9_-]{1,64})$/;

/** The cursor of a row; {@link parseCursor} takes it back. */
export function cursorOf(row: { created_at: number | string; id: string }): string {
  return `${Number(row.created_at)}.${row.id}`;
}

/** A cursor as it came from a client: FERRY_ERR_VALIDATION unless it is one {@link cursorOf} made. */
export function parseCursor(cursor: string): { at: number; id: string } {
  const m = CURSOR.exec(cursor);
  if (!m) throw new ValidationError('cursor must be the next of the page before');
  return { at: Number(m[1]), id: m[2] };
}

/** Rows after the cursor in (time desc, id asc) order. */
export function keysetAfter(timeColumn: string, idColumn: string, cursor: string): RawBuilder<SqlBool> {
  const { at, id } = parseCursor(cursor);
  const time = sql.ref(timeColumn);
  return sql<SqlBool>`(${time} < ${at} or (${time} = ${at} and ${sql.ref(idColumn)} > ${id}))`;
}

/**
 * Rows whose path column is `prefix` or lies below it (core/path isWithin), in SQL: by its
 * first characters, not by a range, which would follow the column's collation on PostgreSQL
 * (not byte order for a plain `text` column). Lengths in code points, as both databases count.
 */
export function withinPrefix(column: string, prefix: string): RawBuilder<SqlBool> {
  const head = prefix + '/';
  const c = sql.ref(column);
  return sql<SqlBool>`(${c} = ${prefix} or substr(${c}, 1, ${[...head].length}) = ${head})`;
}

/** The page of `rows` (read with `limit + 1`: one past the page tells whether more follow). */
export function pageOf<T extends { created_at: number | string; id: string }>(rows: T[], limit: number): RowPage<T> {
  if (rows.length <= limit) return { rows };
  const page = rows.slice(0, limit);
  return { rows: page, next: cursorOf(page[page.length - 1]) };
}
