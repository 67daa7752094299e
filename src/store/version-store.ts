/**
 * Old versions and the trash, in tables of their own (`versions`, `trash`). Each row holds
 * one reference on its manifest, and so on the manifest's chunks: an old version costs only
 * the chunks it does not share with other content, and garbage collection never takes a
 * chunk a version or a trashed file needs.
 *
 * MetaStore calls {@link VersionStore.departing} inside the transaction that overwrites or
 * deletes files (see RetentionHook): an overwrite keeps the old content as a version when
 * the path's policy says so, a delete moves files to the trash when `trashDays` > 0. A
 * version or trash row that goes (pruned past `keep`, past `days`, emptied, restored)
 * releases its reference.
 */
import { randomBytes } from 'node:crypto';
import { sql, type Kysely, type Transaction } from 'kysely';
import { NotFoundError, ValidationError } from '../core/errors.js';
import { isWithin } from '../core/path.js';
import type { Database } from './meta-schema.js';
import type { Entry } from '../core/protocol.js';
import type { DepartingFile, MetaStore, RetentionHook } from './meta-store.js';
import { addSpanManifestRefs, type FileContent, type PathSpan } from './namespace.js';

export interface RetentionRule {
  keep: number;
  days: number;
}

/** Versions kept per path (both 0: none), with per-subtree rules; and days in the trash. */
export interface RetentionPolicy {
  versions: RetentionRule & { paths: Record<string, RetentionRule> };
  trashDays: number;
}

export interface VersionInfo {
  id: number;
  path: string;
  hash: string;
  size: number;
  mtime: number;
  mode: number | null;
  /** When this content became current, and when it was replaced. */
  createdAt: number;
  replacedAt: number;
}

export interface TrashInfo {
  id: number;
  /** Files deleted together (a directory) share a batch. */
  batch: string;
  path: string;
  hash: string;
  size: number;
  mtime: number;
  mode: number | null;
  deletedAt: number;
  deletedBy: string | null;
}

const DAY_MS = 86_400_000;
const subtreeEnd = (p: string): string => (p === '/' ? '0' : p + '0');
const subtreeStart = (p: string): string => (p === '/' ? '/' : p + '/');

export class VersionStore implements RetentionHook {
  constructor(
    private readonly meta: MetaStore,
    /** Read on every call: SIGHUP may change it. */
    private readonly policy: () => RetentionPolicy,
    private readonly now: () => number,
  ) {}

  private get db(): Kysely<Database> {
    return this.meta.db;
  }

  /** The rule for a path: the deepest `paths` entry containing it, else the server's. */
  ruleFor(path: string): RetentionRule {
    const v = this.policy().versions;
    let best: string | undefined;
    for (const p of Object.keys(v.paths)) if (isWithin(path, p) && (best === undefined || p.length > best.length)) best = p;
    return best === undefined ? { keep: v.keep, days: v.days } : v.paths[best];
  }

  private versionsOn(): boolean {
    const v = this.policy().versions;
    return v.keep > 0 || v.days > 0 || Object.values(v.paths).some((r) => r.keep > 0 || r.days > 0);
  }

  /** RetentionHook: keeps departing content as versions (overwrite) or in the trash (delete). */
  async departing(trx: Transaction<Database>, files: readonly DepartingFile[], why: 'overwrite' | 'delete', now: number): Promise<void> {
    if (files.length === 0) return;
    if (why === 'delete') {
      if (this.policy().trashDays <= 0) return;
      const batch = randomBytes(8).toString('hex');
      for (let i = 0; i < files.length; i += 100) {
        const part = files.slice(i, i + 100);
        await trx.insertInto('trash').values(part.map((f) => ({ batch, path: f.path, manifest: f.manifest, size: f.size, mtime: f.mtime, mode: f.mode, deleted_at: now, deleted_by: null }))).execute();
      }
      await this.addRefs(trx, files.map((f) => f.manifest));
      return;
    }
    if (!this.versionsOn()) return;
    const kept = files.filter((f) => {
      const r = this.ruleFor(f.path);
      return r.keep > 0 || r.days > 0;
    });
    if (kept.length === 0) return;
    for (const f of kept) {
      await trx.insertInto('versions').values({ path: f.path, manifest: f.manifest, size: f.size, mtime: f.mtime, mode: f.mode, replaced_at: now, created_at: f.since }).execute();
    }
    await this.addRefs(trx, kept.map((f) => f.manifest));
    // Past `keep` for these paths: the oldest go now (in this transaction).
    for (const path of new Set(kept.map((f) => f.path))) {
      const { keep } = this.ruleFor(path);
      if (keep <= 0) continue;
      const extra = await trx.selectFrom('versions').select(['id', 'manifest']).where('path', '=', path).orderBy('id', 'desc').offset(keep).limit(1_000_000).execute();
      await this.dropVersions(trx, extra);
    }
  }

  /** RetentionHook: a step of a recursive delete puts its files into the trash (when on), in SQL. */
  async departingSpan(trx: Transaction<Database>, span: PathSpan, batch: string, now: number): Promise<void> {
    if (this.policy().trashDays <= 0) return;
    await trx
      .insertInto('trash')
      .columns(['batch', 'path', 'manifest', 'size', 'mtime', 'mode', 'deleted_at', 'deleted_by'])
      .expression(
        trx
          .selectFrom('files')
          .select([sql.val(batch).as('batch'), 'path', sql<string>`manifest`.as('manifest'), 'size', 'mtime', 'mode', sql.val(now).as('deleted_at'), sql<string | null>`null`.as('deleted_by')])
          .where('type', '=', 'file')
          .where('manifest', 'is not', null)
          .where('path', '>=', span.from)
          .where('path', '<', span.to)
          .orderBy('path'),
      )
      .execute();
    await addSpanManifestRefs(trx, span, 1);
  }

  private async addRefs(trx: Transaction<Database>, manifests: readonly string[]): Promise<void> {
    const counts = new Map<string, number>();
    for (const m of manifests) counts.set(m, (counts.get(m) ?? 0) + 1);
    for (const [m, n] of counts) await trx.updateTable('manifests').set((eb) => ({ refs: eb('refs', '+', n) })).where('hash', '=', m).execute();
  }

  private async dropVersions(trx: Transaction<Database>, rows: readonly { id: number; manifest: string }[]): Promise<void> {
    if (rows.length === 0) return;
    for (let i = 0; i < rows.length; i += 400) await trx.deleteFrom('versions').where('id', 'in', rows.slice(i, i + 400).map((r) => r.id)).execute();
    await this.meta.releaseManifests(trx, countOf(rows.map((r) => r.manifest)));
  }

  private async dropTrash(trx: Transaction<Database>, rows: readonly { id: number; manifest: string }[]): Promise<void> {
    if (rows.length === 0) return;
    for (let i = 0; i < rows.length; i += 400) await trx.deleteFrom('trash').where('id', 'in', rows.slice(i, i + 400).map((r) => r.id)).execute();
    await this.meta.releaseManifests(trx, countOf(rows.map((r) => r.manifest)));
  }

  /** The old versions of one file, newest first (`since`: only those replaced after it, ms). */
  async versions(path: string, since?: number): Promise<VersionInfo[]> {
    return (await this.versionPage(path, { since })).entries;
  }

  /**
   * One page of the old versions of one file, newest first (by id): at most `limit` (default:
   * all), and those older than `before` (an id, the `next` of the page before). `next` is
   * there when more may follow. `since` (ms): only the versions replaced after it (an
   * account's history begins with the account: AuthContext.historySince).
   */
  async versionPage(path: string, options: { limit?: number; before?: number; since?: number } = {}): Promise<{ entries: VersionInfo[]; next?: number }> {
    let q = this.db.selectFrom('versions').selectAll().where('path', '=', path).orderBy('id', 'desc');
    if (options.before !== undefined) q = q.where('id', '<', options.before);
    if (options.since !== undefined) q = q.where('replaced_at', '>', options.since);
    const limit = options.limit ?? Infinity;
    // One row past the page tells whether another page follows.
    const rows = await (options.limit === undefined ? q : q.limit(options.limit + 1)).execute();
    const entries = rows.slice(0, limit).map((r) => ({ id: Number(r.id), path: r.path, hash: r.manifest, size: Number(r.size), mtime: Number(r.mtime), mode: r.mode, createdAt: Number(r.created_at), replacedAt: Number(r.replaced_at) }));
    return rows.length > limit ? { entries, next: entries[entries.length - 1].id } : { entries };
  }

  /** The version of `path` that was current at `at` (undefined: the current file, or none). */
  async versionAt(path: string, at: number, since?: number): Promise<VersionInfo | undefined> {
    return (await this.versions(path, since)).find((v) => v.createdAt <= at && at < v.replacedAt);
  }

  /** The content of version `id` of `path`, as the file it was (FERRY_ERR_NOT_FOUND if `path` has no such version, or none replaced after `since`). */
  async versionContent(path: string, id: number, since?: number): Promise<FileContent> {
    const v = (await this.versions(path, since)).find((x) => x.id === id);
    if (!v) throw new NotFoundError(`${path} has no version ${id}`, { details: { path, version: id } });
    const chunks = (await this.meta.manifestChunkLists([v.hash])).get(v.hash);
    if (!chunks) throw new NotFoundError(`${path}: the manifest of version ${id} is missing`, { details: { path, version: id } });
    const entry: Entry = { path, name: path.slice(path.lastIndexOf('/') + 1), type: 'file', size: v.size, mtime: v.mtime, hash: v.hash, chunks: chunks.length };
    if (v.mode !== null) entry.mode = v.mode;
    return { entry, chunks };
  }

  /** Makes version `id` of `path` current again (the current content becomes a version in turn). */
  async restoreVersion(path: string, id: number, within?: (trx: Transaction<Database>) => Promise<void>, since?: number) {
    const v = (await this.versions(path, since)).find((x) => x.id === id);
    if (!v) throw new NotFoundError(`${path} has no version ${id}`, { details: { path, version: id } });
    return this.meta.restoreContent(path, { manifest: v.hash, size: v.size, mtime: v.mtime, mode: v.mode }, { within, from: path });
  }

  /**
   * One page of the trashed files at or below `root`, newest first (by id): at most `limit`,
   * and those older than `before` (an id, the `next` of the page before). `next` is there
   * when more may follow.
   */
  /** `batch`: only the files one delete put there (all of a folder deleted at once); `since` (ms): only those deleted after it. */
  async trash(root: string, options: { limit?: number; before?: number; batch?: string; since?: number } = {}): Promise<{ entries: TrashInfo[]; next?: number }> {
    const limit = options.limit ?? 10_000;
    let q = this.db.selectFrom('trash').selectAll();
    if (root !== '/') q = q.where((eb) => eb.or([eb('path', '=', root), eb.and([eb('path', '>', subtreeStart(root)), eb('path', '<', subtreeEnd(root))])]));
    if (options.before !== undefined) q = q.where('id', '<', options.before);
    if (options.batch !== undefined) q = q.where('batch', '=', options.batch);
    if (options.since !== undefined) q = q.where('deleted_at', '>', options.since);
    // One row past the page tells whether another page follows.
    const rows = await q.orderBy('id', 'desc').limit(limit + 1).execute();
    const entries = rows.slice(0, limit).map((r) => ({ id: Number(r.id), batch: r.batch, path: r.path, hash: r.manifest, size: Number(r.size), mtime: Number(r.mtime), mode: r.mode, deletedAt: Number(r.deleted_at), deletedBy: r.deleted_by }));
    return rows.length > limit ? { entries, next: entries[entries.length - 1].id } : { entries };
  }

  async trashEntry(id: number): Promise<TrashInfo> {
    const r = await this.db.selectFrom('trash').selectAll().where('id', '=', id).executeTakeFirst();
    if (!r) throw new NotFoundError(`nothing in the trash with id ${id}`, { details: { id } });
    return { id: Number(r.id), batch: r.batch, path: r.path, hash: r.manifest, size: Number(r.size), mtime: Number(r.mtime), mode: r.mode, deletedAt: Number(r.deleted_at), deletedBy: r.deleted_by };
  }

  /**
   * Puts a trashed file back at its path (or `to`); fails with FERRY_ERR_ALREADY_EXISTS if
   * a file is there. The trash row goes in the same transaction. In an end-to-end folder,
   * `to` other than its path needs `reencrypt` (the client computed its names with the key).
   */
  async restoreTrash(id: number, to: string | undefined, within?: (trx: Transaction<Database>) => Promise<void>, options: { reencrypt?: boolean } = {}) {
    const t = await this.trashEntry(id);
    return this.meta.restoreContent(
      to ?? t.path,
      { manifest: t.hash, size: t.size, mtime: t.mtime, mode: t.mode },
      {
        noOverwrite: true,
        from: t.path,
        reencrypt: options.reencrypt,
        within: async (trx) => {
          await within?.(trx);
          const row = await trx.selectFrom('trash').select(['id', 'manifest']).where('id', '=', id).executeTakeFirst();
          if (!row) throw new NotFoundError(`nothing in the trash with id ${id}`);
          // The restored file takes its own reference (putFiles) before this one goes.
          await trx.deleteFrom('trash').where('id', '=', id).execute();
          await trx.updateTable('manifests').set((eb) => ({ refs: eb('refs', '-', 1) })).where('hash', '=', row.manifest).execute();
        },
      },
    );
  }

  /**
   * Empties the trash at or below `root` (all of it, or what was deleted before `before`), but
   * the entries `keep` names by path and those deleted at or before `since` (ms). Returns files removed.
   */
  async emptyTrash(root: string, before?: number, keep?: (path: string) => boolean, since?: number): Promise<number> {
    let removed = 0;
    let after = 0;
    for (;;) {
      const batch = await this.meta.durable(async (trx) => {
        let q = trx.selectFrom('trash').select(['id', 'manifest', 'path']).where('id', '>', after);
        if (root !== '/') q = q.where((eb) => eb.or([eb('path', '=', root), eb.and([eb('path', '>', subtreeStart(root)), eb('path', '<', subtreeEnd(root))])]));
        if (before !== undefined) q = q.where('deleted_at', '<', before);
        if (since !== undefined) q = q.where('deleted_at', '>', since);
        const rows = await q.orderBy('id').limit(500).execute();
        const dropped = keep === undefined ? rows : rows.filter((r) => !keep(r.path));
        await this.dropTrash(trx, dropped.map((r) => ({ id: Number(r.id), manifest: r.manifest })));
        return { seen: rows.length, dropped: dropped.length, last: rows.length > 0 ? Number(rows[rows.length - 1].id) : after };
      });
      removed += batch.dropped;
      after = batch.last;
      if (batch.seen < 500) return removed;
    }
  }

  /**
   * Drops what the policy no longer keeps: versions older than their rule's `days`, trash
   * older than `trashDays` (run by the server's sweeper). Turning versions or the trash off
   * keeps what they hold (versions still age out by `days`; the trash empties by hand).
   */
  async expire(): Promise<{ versions: number; trash: number }> {
    const now = this.now();
    let versions = 0;
    let after = 0;
    for (;;) {
      const rows = await this.db.selectFrom('versions').select(['id', 'path', 'manifest', 'replaced_at']).where('id', '>', after).orderBy('id').limit(500).execute();
      if (rows.length === 0) break;
      after = Number(rows[rows.length - 1].id);
      const gone = rows.filter((r) => {
        const rule = this.ruleFor(r.path);
        return rule.days > 0 && Number(r.replaced_at) < now - rule.days * DAY_MS;
      });
      if (gone.length > 0) await this.meta.durable((trx) => this.dropVersions(trx, gone.map((r) => ({ id: Number(r.id), manifest: r.manifest }))));
      versions += gone.length;
    }
    // With the trash turned off (0), what is in it stays until `ferry trash empty`.
    const days = this.policy().trashDays;
    const trash = days > 0 ? await this.emptyTrash('/', now - days * DAY_MS) : 0;
    return { versions, trash };
  }
}

function countOf(items: readonly string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const x of items) m.set(x, (m.get(x) ?? 0) + 1);
  return m;
}

export function parseVersionId(v: unknown): number {
  // A string must be the digits alone: Number() would also take '0x1f', '1e3', ' 7' and '',
  // and a query string should name one version in one way.
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^[1-9][0-9]{0,15}$/.test(v) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n) || n < 1) throw new ValidationError("version must be a version id: a whole number, as the file's list of versions gives it");
  return n;
}
