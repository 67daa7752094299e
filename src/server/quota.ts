/**
 * Per-user limits on uploads: quota (logical bytes and file count), largest file, live
 * upload sessions.
 *
 * Usage is logical: the sizes of the files under the user's home, whatever dedup saved on
 * disk (a user who stores the same 1 GiB twice uses 2 GiB of quota). Checks happen where
 * the facts are known: at session creation (the manifest gives the sizes, so an upload
 * that cannot fit is refused before a byte is sent), at each manifest append (streaming
 * uploads of unknown size), and again inside the commit transaction, where concurrent
 * sessions that each fit alone are caught. A commit refused there rolls back whole:
 * no file changes; the session stays (free some space, commit again) until it expires or
 * is aborted, and its chunks go with the next garbage collection.
 */
import { sql, type Transaction } from 'kysely';
import { PayloadTooLargeError, QuotaExceededError } from '../core/errors.js';
import { formatSize } from '../core/units.js';
import type { Database } from '../store/meta-schema.js';
import type { CommitCandidate, MetaStore } from '../store/meta-store.js';
import type { AuthContext } from './authz.js';
import type { ServerConfig } from './config.js';

export class QuotaGuard {
  constructor(
    private readonly meta: MetaStore,
    private readonly config: Pick<ServerConfig, 'maxFileSize' | 'maxUploadSessions'>,
  ) {}

  /** The largest file this user may store (the lower of the server's and the user's limits). */
  maxFileSize(auth: AuthContext): number | null {
    const a = this.config.maxFileSize;
    const b = auth.limits.maxFileSize;
    if (a === null) return b;
    if (b === null) return a;
    return Math.min(a, b);
  }

  checkFileSize(auth: AuthContext, path: string, size: number): void {
    const max = this.maxFileSize(auth);
    if (max !== null && size > max) {
      throw new PayloadTooLargeError(`${path}: ${formatSize(size)} is more than the largest file allowed (${formatSize(max)})`, { details: { path, size, max } });
    }
  }

  /** Before a session is created: session count, file sizes, and whether the files can fit. */
  async checkCreate(auth: AuthContext, files: { path: string; size?: number }[]): Promise<void> {
    const maxSessions = auth.limits.maxSessions ?? this.config.maxUploadSessions;
    if (maxSessions > 0 && (await this.meta.countUploads(auth.userId)) >= maxSessions) {
      throw new QuotaExceededError(`at most ${maxSessions} upload sessions at once: finish or abort one first`, { details: { limit: 'sessions', max: maxSessions } });
    }
    for (const f of files) if (f.size !== undefined) this.checkFileSize(auth, f.path, f.size);
    const known = files.filter((f): f is { path: string; size: number } => f.size !== undefined);
    await this.checkFits(undefined, auth, known);
  }

  /** After a manifest append: the file's announced bytes so far against the limits. */
  async checkGrowth(auth: AuthContext, path: string, bytesSoFar: number): Promise<void> {
    this.checkFileSize(auth, path, bytesSoFar);
    await this.checkFits(undefined, auth, [{ path, size: bytesSoFar }], 'so far');
  }

  /**
   * Before a copy: copies share their chunks, but the user's logical usage grows by the
   * whole source (dedup never lowers quota usage). Conservative: a file the copy replaces
   * is not credited back.
   */
  async checkCopy(auth: AuthContext, sourceServerPath: string): Promise<void> {
    const { quotaBytes, quotaFiles } = auth.limits;
    if (quotaBytes === null && quotaFiles === null) return;
    const entry = await this.meta.stat(sourceServerPath);
    const added = entry.type === 'file' ? { bytes: entry.size, files: 1 } : await this.meta.usage(sourceServerPath);
    const usage = await this.meta.usage(auth.home);
    if (quotaBytes !== null && usage.bytes + added.bytes > quotaBytes) {
      throw new QuotaExceededError(`quota exceeded: the copy would use ${formatSize(usage.bytes + added.bytes)} of ${formatSize(quotaBytes)}`, {
        details: { limit: 'bytes', quota: quotaBytes, used: usage.bytes, wouldUse: usage.bytes + added.bytes },
      });
    }
    if (quotaFiles !== null && usage.files + added.files > quotaFiles) {
      throw new QuotaExceededError(`quota exceeded: the copy would make ${usage.files + added.files} files, the limit is ${quotaFiles}`, {
        details: { limit: 'files', quota: quotaFiles, used: usage.files, wouldUse: usage.files + added.files },
      });
    }
  }

  /** The commit-time check, run inside the commit transaction (MetaStore.commitUpload's `check`). */
  commitCheck(auth: AuthContext): (trx: Transaction<Database>, files: CommitCandidate[]) => Promise<void> {
    return async (trx, files) => {
      for (const f of files) this.checkFileSize(auth, f.path, f.size);
      if (auth.limits.quotaBytes === null && auth.limits.quotaFiles === null) return;
      // Take the user's row lock first: on PostgreSQL two commits of one user then queue
      // here instead of both reading the old usage (SQLite serializes writers anyway).
      await trx.updateTable('users').set({ disabled: sql<number>`disabled` }).where('id', '=', auth.userId).execute();
      await this.checkFits(trx, auth, files);
    };
  }

  /** Usage after replacing/adding `files` (server paths) must stay within the quotas. */
  private async checkFits(trx: Transaction<Database> | undefined, auth: AuthContext, files: { path: string; size: number }[], soFar?: 'so far'): Promise<void> {
    const { quotaBytes, quotaFiles } = auth.limits;
    if (quotaBytes === null && quotaFiles === null) return;
    const usage = await this.meta.usage(auth.home, trx);
    const replaced = await this.meta.fileSizes(
      files.map((f) => f.path),
      trx,
    );
    let bytes = usage.bytes;
    let count = usage.files;
    for (const f of files) {
      const old = replaced.get(f.path);
      bytes += f.size - (old ?? 0);
      if (old === undefined) count++;
    }
    if (quotaBytes !== null && bytes > quotaBytes) {
      const what = files.length === 1 ? `${files[0].path} (${formatSize(files[0].size)}${soFar ? ' so far, size not announced' : ''})` : `${files.length} files of ${formatSize(files.reduce((a, f) => a + f.size, 0))}`;
      throw new QuotaExceededError(`quota exceeded: ${what} would bring the usage to ${formatSize(bytes)}, over the quota of ${formatSize(quotaBytes)} (${formatSize(usage.bytes)} used now)`, {
        details: { limit: 'bytes', quota: quotaBytes, used: usage.bytes, wouldUse: bytes },
      });
    }
    if (quotaFiles !== null && count > quotaFiles) {
      throw new QuotaExceededError(`quota exceeded: this would make ${count} files, the limit is ${quotaFiles}`, {
        details: { limit: 'files', quota: quotaFiles, used: usage.files, wouldUse: count },
      });
    }
  }
}
