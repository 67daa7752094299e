/** Rows per multi-row statement: keeps bound parameters far below SQLite's 32766 (and PostgreSQL's 65535). */
export const BATCH = 400;

export function* batches<T>(items: readonly T[], size = BATCH): Generator<T[]> {
  for (let i = 0; i < items.length; i += size) yield items.slice(i, i + size);
}
