/**
 * WebDAV state in the metadata store: dead properties and write locks.
 *
 * Dead properties belong to a file or directory the way its mtime does: they follow it
 * through moves and copies and go with it when it is deleted, whichever front does that
 * (the namespace transactions of MetaStore call the `davRows*` functions below). Replacing
 * a file's content keeps them, as it keeps the file's creation time. Their bytes (UTF-8 of
 * namespace, name and value) count in the usage of the home they lie in
 * ({@link deadPropBytes}), so the quota bounds them as it bounds files.
 *
 * Locks are on paths (RFC 4918 locks a URL's resource). They matter only to WebDAV
 * requests: the other fronts do not take or honour them (as Apache's mod_dav locks do not
 * bind shell users). A lock on a path that is deleted or moved away goes with it.
 * Expired locks are ignored at once and deleted by {@link DavStore.expireLocks}.
 */
import { sql, type Expression, type ExpressionBuilder, type Kysely, type SqlBool, type Transaction } from 'kysely';
import type { Database, DavLocksTable } from './meta-schema.js';
import type { MetaStore } from './meta-store.js';
import { subtreeEnd, subtreeStart } from './path-range.js';

/** The advisory lock WebDAV lock requests take turns under on PostgreSQL (with 0 as its second key): 'DAVL'. */
const DAV_LOCK_KEY = 0x4441564c;

type Db = Kysely<Database> | Transaction<Database>;

/** `path` is `root` or lies below it. */
function selfOrBelow<T extends 'dav_props' | 'dav_locks'>(eb: ExpressionBuilder<Database, T>, root: string): Expression<SqlBool> {
  const col = 'path' as never;
  return eb.or([eb(col, '=', root as never), eb.and([eb(col, '>', subtreeStart(root) as never), eb(col, '<', subtreeEnd(root) as never)])]);
}

/**
 * The UTF-8 bytes of a property row (namespace, name, value). `octet_length`, not `length`:
 * SQLite counts a text's characters by reading it (1 s for 2 GB of properties), its bytes
 * from the row's header; PostgreSQL has it too.
 */
const ROW_BYTES = sql<number>`octet_length(ns) + octet_length(name) + octet_length(value)`;

/** Inside a namespace transaction: `root` and everything below it were deleted. */
export async function davRowsRemoved(trx: Db, root: string): Promise<void> {
  await trx.deleteFrom('dav_props').where((eb) => selfOrBelow(eb, root)).execute();
  await trx.deleteFrom('dav_locks').where((eb) => selfOrBelow(eb, root)).execute();
}

/** Inside a namespace transaction: the rows of `span` (path order, `to` excluded) are deleted (a step of a recursive delete). */
export async function davRowsRemovedSpan(trx: Db, span: { from: string; to: string }): Promise<void> {
  await trx.deleteFrom('dav_props').where('path', '>=', span.from).where('path', '<', span.to).execute();
  await trx.deleteFrom('dav_locks').where('path', '>=', span.from).where('path', '<', span.to).execute();
}

/** Inside a namespace transaction: `from` (a file or a tree) now lives at `to`. Locks stay behind (RFC 4918 7.7), that is, they go. */
export async function davRowsMoved(trx: Db, from: string, to: string): Promise<void> {
  await davRowsRemoved(trx, to);
  // As MetaStore.move: the cut is computed in SQL (length() counts characters there).
  await trx
    .updateTable('dav_props')
    .set({ path: sql<string>`${to} || substr(path, length(${from}) + 1)` })
    .where((eb) => selfOrBelow(eb, from))
    .execute();
  await trx.deleteFrom('dav_locks').where((eb) => selfOrBelow(eb, from)).execute();
}

/** Inside a namespace transaction: `from` (a file or a tree) was copied to `to`; its dead properties come along, its locks do not. */
export async function davRowsCopied(trx: Db, from: string, to: string, options: { depth0?: boolean } = {}): Promise<void> {
  await davRowsRemoved(trx, to);
  await trx
    .insertInto('dav_props')
    .columns(['path', 'ns', 'name', 'value'])
    .expression(
      trx
        .selectFrom('dav_props')
        .select([sql<string>`${to} || substr(path, length(${from}) + 1)`.as('path'), 'ns', 'name', 'value'])
        .where((eb) => (options.depth0 ? eb('path', '=', from) : selfOrBelow(eb, from))),
    )
    .execute();
}

/**
 * What a property row costs the metadata store, as the per-user cap on dead properties
 * (`davPropertyBytes`) counts it: its path, namespace, name and value, and 64 bytes for the
 * row and its index entry. Unlike {@link ROW_BYTES} (the quota's measure, what the user
 * sent as values) it grows with every row, so many empty properties on long paths fill it.
 */
const ROW_FOOTPRINT = sql<number>`octet_length(path) + ${ROW_BYTES} + 64`;

/** The {@link ROW_FOOTPRINT} of the dead properties of `root` and everything below it. */
export async function deadPropFootprint(db: Db, root: string): Promise<number> {
  let q = db.selectFrom('dav_props').select(sql<number>`coalesce(sum(${ROW_FOOTPRINT}), 0)`.as('n'));
  if (root !== '/') q = q.where((eb) => selfOrBelow(eb, root));
  return Number((await q.executeTakeFirstOrThrow()).n);
}

/**
 * Bytes the dead properties of `root` and everything below it hold (namespace, name and
 * value, UTF-8): they count into their owner's quota like file bytes (MetaStore.usage). A
 * copy duplicates them (file bytes it shares), so outside the quota a user could double them
 * with each COPY of a folder: 12 COPYs of one file with 16 MB of properties made 2.5 GB.
 */
export async function deadPropBytes(db: Db, root: string): Promise<number> {
  let q = db.selectFrom('dav_props').select(sql<number>`coalesce(sum(${ROW_BYTES}), 0)`.as('n'));
  if (root !== '/') q = q.where((eb) => selfOrBelow(eb, root));
  return Number((await q.executeTakeFirstOrThrow()).n);
}

export interface DeadProp {
  ns: string;
  name: string;
  /** XML content, self-contained. */
  value: string;
}

export type PropPatch = { op: 'set'; ns: string; name: string; value: string } | { op: 'remove'; ns: string; name: string };

export type LockRow = DavLocksTable;

/** Rows per `IN (...)` list. */
const BATCH = 400;

/** Bytes of dead properties read at once for a listing (a resource's own may pass it alone: at most 256 of 64 KiB). */
export const PROPS_BATCH_BYTES = 4 * 1024 * 1024;

export class DavStore {
  private readonly db: Kysely<Database>;

  constructor(private readonly meta: MetaStore) {
    this.db = meta.db;
  }

  /** Dead properties of each of `paths` (paths without any are absent). */
  async props(paths: readonly string[]): Promise<Map<string, DeadProp[]>> {
    const out = new Map<string, DeadProp[]>();
    const unique = [...new Set(paths)];
    for (let i = 0; i < unique.length; i += BATCH) {
      const rows = await this.db.selectFrom('dav_props').selectAll().where('path', 'in', unique.slice(i, i + BATCH)).orderBy('path').orderBy('ns').orderBy('name').execute();
      for (const r of rows) {
        let list = out.get(r.path);
        if (!list) out.set(r.path, (list = []));
        list.push({ ns: r.ns, name: r.name, value: r.value });
      }
    }
    return out;
  }

  /**
   * Dead properties of `paths`, in their order, a batch of paths at a time whose properties
   * hold at most about `budget` bytes. A PROPFIND of a listing reads them so: read for a
   * whole page of 1,000 members at once, 32 files with 16 MB of properties each took the
   * server from 115 to 824 MB, and a page of such files would take 16 GB.
   */
  async *propsInBatches(paths: readonly string[], budget = PROPS_BATCH_BYTES): AsyncGenerator<{ paths: string[]; props: Map<string, DeadProp[]> }> {
    const sizes = new Map<string, number>();
    for (let i = 0; i < paths.length; i += BATCH) {
      const rows = await this.db
        .selectFrom('dav_props')
        .select(['path', sql<number>`sum(${ROW_BYTES})`.as('n')])
        .where('path', 'in', paths.slice(i, i + BATCH))
        .groupBy('path')
        .execute();
      for (const r of rows) sizes.set(r.path, Number(r.n));
    }
    let batch: string[] = [];
    let bytes = 0;
    const take = async () => {
      const out = { paths: batch, props: await this.props(batch.filter((p) => sizes.has(p))) };
      batch = [];
      bytes = 0;
      return out;
    };
    for (const p of paths) {
      const n = sizes.get(p) ?? 0;
      if (batch.length > 0 && bytes + n > budget) yield await take();
      batch.push(p);
      bytes += n;
    }
    if (batch.length > 0) yield await take();
  }

  /**
   * Applies a PROPPATCH in document order, all or nothing, and with `mtime` sets the
   * file's modification time in the same transaction. `before` runs first inside it (the
   * caller's locks); `check` runs after the changes, before the commit, with the number of
   * properties the path would have and how many bytes they grew by (the caller's limits:
   * throwing undoes the patch).
   */
  async patch(
    path: string,
    ops: readonly PropPatch[],
    options: { mtime?: number; before?: (trx: Transaction<Database>) => Promise<void>; check?: (trx: Transaction<Database>, after: { count: number; grew: number }) => Promise<void> } = {},
  ): Promise<void> {
    await this.meta.durable(async (trx) => {
      if (options.before) await options.before(trx);
      const measure = async () => {
        const row = await trx.selectFrom('dav_props').select([sql<number>`count(*)`.as('n'), sql<number>`coalesce(sum(${ROW_BYTES}), 0)`.as('bytes')]).where('path', '=', path).executeTakeFirstOrThrow();
        return { count: Number(row.n), bytes: Number(row.bytes) };
      };
      const before = options.check ? await measure() : undefined;
      for (const op of ops) {
        await trx.deleteFrom('dav_props').where('path', '=', path).where('ns', '=', op.ns).where('name', '=', op.name).execute();
        if (op.op === 'set') await trx.insertInto('dav_props').values({ path, ns: op.ns, name: op.name, value: op.value }).execute();
      }
      if (options.check) {
        const after = await measure();
        await options.check(trx, { count: after.count, grew: after.bytes - before!.bytes });
      }
      if (options.mtime !== undefined) await this.meta.setMtime(path, options.mtime, trx);
    });
  }

  /** Copies only `from`'s own dead properties to `to` (a Depth: 0 COPY of a collection). */
  async copyOwnProps(from: string, to: string): Promise<void> {
    await this.meta.durable((trx) => davRowsCopied(trx, from, to, { depth0: true }));
  }

  // ---------------------------------------------------------------- locks

  /**
   * Live locks that cover `path`: on it, or on an ancestor with depth infinity; with
   * `below`, also locks on anything inside it (an operation on the whole tree).
   */
  async locksCovering(path: string, now: number, options: { below?: boolean } = {}): Promise<LockRow[]> {
    return this.locksCoveringIn(this.db, path, now, options.below ?? false);
  }

  async lockByToken(token: string, now: number): Promise<LockRow | undefined> {
    const row = await this.db.selectFrom('dav_locks').selectAll().where('token', '=', token).executeTakeFirst();
    return row && Number(row.expires_at) > now ? row : undefined;
  }

  async countLocks(userId: string, now: number): Promise<number> {
    return this.countLocksIn(this.db, userId, now);
  }

  private async countLocksIn(trx: Db, userId: string, now: number): Promise<number> {
    const row = await trx.selectFrom('dav_locks').select(sql<number>`count(*)`.as('n')).where('user_id', '=', userId).where('expires_at', '>', now).executeTakeFirstOrThrow();
    return Number(row.n);
  }

  /**
   * Inserts a lock unless a live lock conflicting with it exists, or its user already holds
   * `maxPerUser` live locks (both checked in the same transaction: two clients locking at
   * once cannot both win, and many LOCKs sent at once cannot pass the limit together).
   * Returns the conflicting locks (empty when the lock was taken), or `'limit'`.
   */
  async insertLock(row: LockRow, conflicts: (existing: LockRow[]) => LockRow[], maxPerUser: number): Promise<LockRow[] | 'limit'> {
    return this.meta.durable(async (trx) => {
      // PostgreSQL runs two such transactions side by side (READ COMMITTED): each found no
      // conflict and both inserted, two exclusive locks on one file granted by two nodes at
      // once. Lock requests take turns under one advisory lock (the two-key form: a key space
      // of its own, apart from the chunks' one-key locks); they are rare. SQLite serializes writers.
      if (this.meta.dialect !== 'sqlite') await sql`select pg_advisory_xact_lock(${DAV_LOCK_KEY}, 0)`.execute(trx);
      const existing = await this.locksCoveringIn(trx, row.path, row.created_at, row.infinite === 1);
      const blocking = conflicts(existing);
      if (blocking.length === 0 && (await this.countLocksIn(trx, row.user_id, row.created_at)) >= maxPerUser) return 'limit';
      if (blocking.length === 0) await trx.insertInto('dav_locks').values(row).execute();
      return blocking;
    });
  }

  private async locksCoveringIn(trx: Db, path: string, now: number, below: boolean): Promise<LockRow[]> {
    const ancestors: string[] = [];
    for (let i = path.indexOf('/', 1); i !== -1; i = path.indexOf('/', i + 1)) ancestors.push(path.slice(0, i));
    if (path !== '/') ancestors.unshift('/');
    return trx
      .selectFrom('dav_locks')
      .selectAll()
      .where('expires_at', '>', now)
      .where((eb) => {
        const any = [eb('path', '=', path)];
        if (ancestors.length > 0) any.push(eb.and([eb('path', 'in', ancestors), eb('infinite', '=', 1)]));
        if (below) any.push(eb.and([eb('path', '>', subtreeStart(path)), eb('path', '<', subtreeEnd(path))]));
        return eb.or(any);
      })
      .orderBy('path')
      .execute();
  }

  async refreshLock(token: string, timeoutMs: number, now: number): Promise<LockRow | undefined> {
    await this.db.updateTable('dav_locks').set({ timeout_ms: timeoutMs, expires_at: now + timeoutMs }).where('token', '=', token).where('expires_at', '>', now).execute();
    return this.lockByToken(token, now);
  }

  async deleteLock(token: string): Promise<boolean> {
    const r = await this.meta.durable((trx) => trx.deleteFrom('dav_locks').where('token', '=', token).executeTakeFirst());
    return Number(r.numDeletedRows) > 0;
  }

  /** Deletes locks that have expired; returns how many. */
  async expireLocks(now: number): Promise<number> {
    const r = await this.db.deleteFrom('dav_locks').where('expires_at', '<=', now).executeTakeFirst();
    return Number(r.numDeletedRows);
  }
}
