/**
 * The audit log of security events, append-only, in the metadata store (so every node of a
 * cluster writes to one log and `ferry admin audit` reads it from any of them). Appends are
 * not fsynced one by one (a flood of failed logins must not become a flood of fsyncs): the
 * last events before a power cut may be lost, never after a process crash.
 */
import type { Kysely } from 'kysely';
import type { AuditEntry } from '../core/protocol.js';
import type { Database } from './meta-schema.js';
import { PreparedInsert } from './prepared-insert.js';

export interface AuditRecord {
  at: number;
  event: string;
  ok: boolean;
  userId?: string | null;
  userName?: string | null;
  tokenId?: string | null;
  ip?: string | null;
  target?: string | null;
  details?: Record<string, unknown> | null;
  /** The file (server path) a file operation acted on. */
  path?: string | null;
  /** The way in: api, web, sftp, webdav, tus, share. */
  front?: string | null;
}

export interface AuditQuery {
  /** Entries at or after this time (ms). */
  since?: number;
  /** Entries with an id below this one (paging backwards). */
  before?: number;
  user?: string;
  /** Entries about this path or anything below it (server path). */
  path?: string;
  /** An event name, or a prefix ending in `.` (`auth.`). */
  event?: string;
  limit: number;
}

/** Rows per insert statement of {@link AuditStore.appendMany} (11 values each: well below SQLite's and PostgreSQL's limits on parameters). */
const APPEND_ROWS = 200;
/** Entries one statement of {@link AuditStore.prune} deletes at most. */
const PRUNE_ROWS = 10_000;

function auditRow(r: AuditRecord) {
  return {
    at: r.at,
    event: r.event,
    ok: r.ok ? 1 : 0,
    user_id: r.userId ?? null,
    user_name: r.userName ?? null,
    token_id: r.tokenId ?? null,
    ip: r.ip ?? null,
    target: r.target ?? null,
    details: r.details ? JSON.stringify(r.details) : null,
    path: r.path ?? null,
    front: r.front ?? null,
  };
}

export class AuditStore {
  /** The rows of {@link appendMany}, compiled once per batch size. */
  private readonly insertRows = new PreparedInsert<Database, ReturnType<typeof auditRow>>(
    ['at', 'event', 'ok', 'user_id', 'user_name', 'token_id', 'ip', 'target', 'details', 'path', 'front'],
    APPEND_ROWS,
    (db, rows) => db.insertInto('audit').values(rows),
  );

  constructor(private readonly db: Kysely<Database>) {}

  async append(r: AuditRecord): Promise<void> {
    await this.db.insertInto('audit').values(auditRow(r)).execute();
  }

  /**
   * Many entries in one transaction, many to a statement: a commit of 10,000 small files
   * records 10,000 `file.upload` events, which one insert each made 42% of the server's SQL
   * time for the tree (4.2 of 9.9 s, each its own transaction).
   */
  async appendMany(records: readonly AuditRecord[]): Promise<void> {
    if (records.length === 0) return;
    if (records.length === 1) return this.append(records[0]);
    await this.db.transaction().execute((trx) => this.insertRows.execute(trx, records.map(auditRow)));
  }

  /**
   * Deletes the entries recorded before `before` (ms), {@link PRUNE_ROWS} a statement so that
   * a first prune of a large log does not hold the database's write lock for long. Returns
   * how many went.
   */
  async prune(before: number): Promise<number> {
    let total = 0;
    for (;;) {
      const r = await this.db
        .deleteFrom('audit')
        .where('id', 'in', (eb) => eb.selectFrom('audit').select('id').where('at', '<', before).orderBy('id').limit(PRUNE_ROWS))
        .executeTakeFirst();
      const n = Number(r.numDeletedRows);
      total += n;
      if (n < PRUNE_ROWS) return total;
    }
  }

  /** Newest first. */
  async query(q: AuditQuery): Promise<{ entries: AuditEntry[]; next?: number }> {
    let sel = this.db.selectFrom('audit').selectAll();
    if (q.since !== undefined) sel = sel.where('at', '>=', q.since);
    if (q.before !== undefined) sel = sel.where('id', '<', q.before);
    if (q.user !== undefined) sel = sel.where('user_name', '=', q.user);
    if (q.path !== undefined && q.path !== '/') {
      const p = q.path;
      // The path or its subtree, as ranges (the byte order of paths; '0' follows '/').
      sel = sel.where((eb) => eb.or([eb('path', '=', p), eb.and([eb('path', '>', p + '/'), eb('path', '<', p + '0')])]));
    }
    if (q.event !== undefined) {
      // A prefix as a range ('/' follows '.'), not LIKE: no escaping rules differ between dialects.
      sel = q.event.endsWith('.') ? sel.where('event', '>=', q.event).where('event', '<', q.event.slice(0, -1) + '/') : sel.where('event', '=', q.event);
    }
    const rows = await sel.orderBy('id', 'desc').limit(q.limit + 1).execute();
    const more = rows.length > q.limit;
    const page = more ? rows.slice(0, q.limit) : rows;
    const entries: AuditEntry[] = page.map((r) => ({
      id: Number(r.id),
      at: Number(r.at),
      event: r.event,
      ok: r.ok === 1,
      user: r.user_name,
      tokenId: r.token_id,
      ip: r.ip,
      target: r.target,
      path: r.path,
      front: r.front,
      details: r.details ? (JSON.parse(r.details) as Record<string, unknown>) : null,
    }));
    return more ? { entries, next: entries[entries.length - 1].id } : { entries };
  }
}
