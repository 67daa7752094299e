/**
 * Per-user limits on uploads: quota (logical bytes and file count), largest file, live
 * upload sessions.
 *
 * Usage is logical: the sizes of the files under the user's home, whatever dedup saved on
 * disk (a user who stores the same 1 GiB twice uses 2 GiB of quota).
 *
 * Bytes in flight count too. Every live session reserves what its commit would add to the
 * usage (`uploads.reserved_bytes`: the files' sizes, or for a file of unknown size the
 * manifest entries sent so far, less the files they replace), and a session is admitted,
 * or its manifest grows, only while usage + every live session's reservation stays within
 * the quota. A chunk body can only bring bytes its manifest announced (the size is checked
 * against the manifest), so nothing reaches the store beyond what was counted; streamed
 * uploads (share links, `ingestStream`) reserve ahead of the bytes they store. The commit
 * checks the real usage again inside its transaction (quotas lowered meanwhile, copies).
 *
 * A session refused for a limit while it is in flight (an append, or its commit) is
 * aborted: it would hold a session slot and its reservation for `--upload-ttl` otherwise.
 * Its chunks stay the user's until garbage collection, so the same upload re-run after
 * freeing space sends nothing again.
 */
import { sql, type Transaction } from 'kysely';
import { PayloadTooLargeError, QuotaExceededError, isFerryError } from '../core/errors.js';
import { formatSize } from '../core/units.js';
import type { Database } from '../store/meta-schema.js';
import { deadPropBytes, deadPropFootprint } from '../store/dav-store.js';
import type { AppendCheck, CommitCandidate, MetaStore } from '../store/meta-store.js';
import { takeLinkBytes } from './link-bytes.js';
import type { AuthContext } from './authz.js';
import type { ServerConfig } from './config.js';

/** A file of a new session, as the quota sees it. */
export interface QuotaFile {
  path: string;
  size?: number;
  chunks?: readonly { size: number }[];
}

/** Whether an error is a refusal by a per-user limit (quota, largest file): the session that hit it is aborted. */
export function isLimitRefusal(err: unknown): boolean {
  return isFerryError(err, 'FERRY_ERR_QUOTA_EXCEEDED') || isFerryError(err, 'FERRY_ERR_LINK_BYTES_EXCEEDED') || (isFerryError(err, 'FERRY_ERR_PAYLOAD_TOO_LARGE') && err.details?.max !== undefined);
}

/** A file's size as announced: its size, else the sum of its manifest entries so far. */
const announced = (f: QuotaFile): number => f.size ?? (f.chunks ?? []).reduce((a, c) => a + c.size, 0);

/** How long a measured dead-property footprint is grown rather than measured again (QuotaGuard.propertyFootprint). */
const FOOTPRINT_TTL_MS = 60_000;

export class QuotaGuard {
  /** By home: the last measured dead-property footprint, grown by the patches since, and when it was measured. */
  private readonly footprints = new Map<string, { bytes: number; at: number }>();

  constructor(
    private readonly meta: MetaStore,
    private readonly config: Pick<ServerConfig, 'maxFileSize' | 'maxUploadSessions' | 'maxPendingEntries' | 'davPropertyBytes'>,
  ) {}

  /** The largest file this user may store (the lower of the server's and the user's limits). */
  maxFileSize(auth: Pick<AuthContext, 'limits'>): number | null {
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

  /**
   * Before a session is created, outside any transaction: the checks of {@link createCheck},
   * for a caller that must refuse early (a share link before it counts a use).
   */
  async checkCreate(auth: AuthContext, files: QuotaFile[], supersedes?: string): Promise<void> {
    await this.meta.db.transaction().execute((trx) => this.createCheck(auth, files, supersedes)(trx));
  }

  /**
   * Inside the transaction that creates a session (MetaStore.createUpload's `check`): the
   * session count, file sizes, and whether usage + the bytes in flight + these files fit.
   * Returns the bytes the session reserves. `supersedes`: the caller's own session that the
   * new one continues and replaces (a resumed SFTP partial upload, whose chunks the new one
   * begins with): it counts neither as a session nor in flight, or a user at their limit
   * could never resume.
   */
  createCheck(auth: AuthContext, files: QuotaFile[], supersedes?: string): (trx: Transaction<Database>) => Promise<number> {
    return async (trx) => {
      const maxSessions = auth.limits.maxSessions ?? this.config.maxUploadSessions;
      const quota = auth.limits.quotaBytes !== null || auth.limits.quotaFiles !== null;
      // The user's row lock first, then the counts: with several nodes on PostgreSQL, two
      // creations read the counts one after the other, never both before either writes.
      if (maxSessions > 0 || quota || this.config.maxPendingEntries > 0) await this.lockUser(trx, auth);
      // A drop box's visitors count in a budget of their own: they never use up the owner's.
      if (maxSessions > 0 && (await this.meta.countUploads(auth.userId, trx, auth.share ? 'visitors' : 'own', supersedes)) >= maxSessions) {
        throw new QuotaExceededError(`at most ${maxSessions} upload sessions at once: finish or abort one first`, { details: { limit: 'sessions', max: maxSessions } });
      }
      await this.checkPendingEntries(trx, auth, files.reduce((n, f) => n + (f.chunks?.length ?? 0), 0), supersedes);
      const sized = files.map((f) => ({ path: f.path, size: announced(f) }));
      for (const f of sized) this.checkFileSize(auth, f.path, f.size);
      if (!quota) return 0;
      return this.checkFits(trx, auth, sized, await this.meta.reservedBytes(auth.userId, supersedes, trx));
    };
  }

  /**
   * The check of an append of manifest entries to a session, to run in its transaction
   * (MetaStore.appendEntries' `check`): the user's row lock, then their pending entries.
   */
  entriesCheck(auth: AuthContext): AppendCheck {
    return async (trx, { entries }) => {
      if (this.config.maxPendingEntries <= 0) return;
      await this.lockUser(trx, auth);
      await this.checkPendingEntries(trx, auth, entries);
    };
  }

  /**
   * The checks of an append to file `path` of session `id`, whose size is unknown (its
   * manifest grows with each append), in the append's transaction with the file's bytes
   * summed there: the largest file, then (with the user's row lock) the session's
   * reservation grown to cover the file ({@link reserveGrowth}), then the pending entries
   * ({@link entriesCheck}). `refused` is told when the file's growth is what was refused:
   * that session is aborted (this file module's header), one over the pending entries is not.
   */
  growthCheck(auth: AuthContext, id: string, path: string, refused: () => void): AppendCheck {
    return async (trx, { entries, bytes }) => {
      const quota = auth.limits.quotaBytes;
      try {
        this.checkFileSize(auth, path, bytes);
        if (quota !== null || this.config.maxPendingEntries > 0) await this.lockUser(trx, auth);
        if (quota !== null) await this.reserveIn(trx, auth, { id, path, bytes, ahead: 0 }, quota);
      } catch (err) {
        if (isLimitRefusal(err)) refused();
        throw err;
      }
      if (this.config.maxPendingEntries > 0) await this.checkPendingEntries(trx, auth, entries);
    };
  }

  /**
   * FERRY_ERR_QUOTA_EXCEEDED when `added` more entries would take the user's live sessions
   * (their own, or their upload links' visitors') past `maxPendingEntries`. Entries of
   * sessions never committed count in no quota: 100 sessions of 20,000 entries each, kept
   * for a day, were 2 million rows (about 1 GB) for any user. The caller holds the user's lock.
   */
  private async checkPendingEntries(trx: Transaction<Database>, auth: AuthContext, added: number, except?: string): Promise<void> {
    const max = this.config.maxPendingEntries;
    if (max <= 0 || added === 0) return;
    const pending = await this.meta.pendingEntries(auth.userId, trx, auth.share ? 'visitors' : 'own', except);
    if (pending + added > max) {
      throw new QuotaExceededError(`at most ${max} chunk entries in uploads not yet committed (${pending} now, ${added} more asked): finish or abort some first`, {
        details: { limit: 'entries', max, pending, added },
      });
    }
  }

  /**
   * A file of session `id` grew to `bytes` (a manifest append, or a streamed upload): checks
   * the largest file, and sets the session's reservation to cover `bytes` plus up to `ahead`
   * more (as much of it as fits). Returns the size the reservation covers (Infinity without
   * a bytes quota); FERRY_ERR_QUOTA_EXCEEDED when even `bytes` does not fit.
   */
  async reserveGrowth(auth: AuthContext, id: string, path: string, bytes: number, ahead = 0): Promise<number> {
    this.checkFileSize(auth, path, bytes);
    const quota = auth.limits.quotaBytes;
    if (quota === null) return Infinity;
    return this.meta.db.transaction().execute(async (trx) => {
      await this.lockUser(trx, auth);
      return this.reserveIn(trx, auth, { id, path, bytes, ahead }, quota);
    });
  }

  /** {@link reserveGrowth}'s reservation, in `trx` after the user's row lock. */
  private async reserveIn(trx: Transaction<Database>, auth: AuthContext, grown: { id: string; path: string; bytes: number; ahead: number }, quota: number): Promise<number> {
    const { id, path, bytes, ahead } = grown;
    const usage = await this.meta.usage(auth.home, trx);
    const old = (await this.replacedSizes(auth, [path], trx)).get(path) ?? 0;
    const others = await this.meta.reservedBytes(auth.userId, id, trx);
    const room = quota - usage.bytes - others + old;
    if (bytes > room) {
      const wouldUse = usage.bytes + others + bytes - old;
      throw new QuotaExceededError(
        `quota exceeded: ${formatSize(wouldUse)} of ${formatSize(quota)} with the uploads in progress (${formatSize(usage.bytes)} stored, ${formatSize(others)} in other uploads)`,
        { details: { limit: 'bytes', quota, used: usage.bytes, inFlight: others, wouldUse } },
      );
    }
    const covered = Math.min(bytes + ahead, room);
    await this.meta.setReservation(id, Math.max(0, covered - old), trx);
    return covered;
  }

  /**
   * Bytes held outside any session (an SFTP file spooled on disk until its CLOSE, when its
   * ingest reserves them): whether `bytesSoFar` for `path` still fits beside the usage and
   * every live session's reservation.
   */
  async checkGrowth(auth: AuthContext, path: string, bytesSoFar: number): Promise<void> {
    this.checkFileSize(auth, path, bytesSoFar);
    if (auth.limits.quotaBytes === null && auth.limits.quotaFiles === null) return;
    await this.meta.db.transaction().execute(async (trx) => {
      await this.checkFits(trx, auth, [{ path, size: bytesSoFar }], await this.meta.reservedBytes(auth.userId, undefined, trx));
    });
  }

  /**
   * Before a copy: the cap on the dead properties it duplicates. The quota is checked once,
   * in the copy's transaction ({@link copyCheck}).
   */
  async checkCopy(auth: AuthContext, sourceServerPath: string): Promise<void> {
    await this.checkCopiedProperties(auth, sourceServerPath);
  }

  /**
   * The quota check of a copy of `sourceServerPath`, to run inside the copy's transaction
   * (MoveOptions.within): the user's row lock first, then the counts. Copies share their
   * chunks, but the user's logical usage grows by the whole source (dedup never lowers
   * quota usage); conservative: a file the copy replaces is not credited back. Checked only
   * before the transaction, 20 copies at once of a 4 MB file by a user with a 10 MB quota on
   * PostgreSQL left them at 36 MB; checked before it as well, every copy measured the usage
   * twice. Undefined without a quota.
   */
  copyCheck(auth: AuthContext, sourceServerPath: string): ((db: Transaction<Database>) => Promise<void>) | undefined {
    const { quotaBytes, quotaFiles } = auth.limits;
    if (quotaBytes === null && quotaFiles === null) return undefined;
    return async (db) => {
      await this.lockUser(db, auth);
      const entry = await this.meta.stat(sourceServerPath, db);
      const added = entry.type === 'file' ? { bytes: entry.size + (await deadPropBytes(db, sourceServerPath)), files: 1 } : await this.meta.usage(sourceServerPath, db);
      const usage = await this.meta.usage(auth.home, db);
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
    };
  }

  /** The commit-time check, run inside the commit transaction (MetaStore.commitUpload's `check`). */
  commitCheck(auth: AuthContext): (trx: Transaction<Database>, files: CommitCandidate[]) => Promise<void> {
    return async (trx, files) => {
      for (const f of files) this.checkFileSize(auth, f.path, f.size);
      // A drop-box visitor's files also count against the link's byte cap (./link-bytes.ts).
      if (auth.share) await takeLinkBytes(trx, auth.share.id, files.reduce((a, f) => a + f.size, 0));
      if (auth.limits.quotaBytes === null && auth.limits.quotaFiles === null) return;
      await this.lockUser(trx, auth);
      await this.checkFits(trx, auth, files);
    };
  }

  /**
   * For a PROPPATCH: dead properties count in the usage (src/store/dav-store.ts), so a patch
   * that adds bytes must leave usage and the uploads in flight within the bytes quota.
   * `before` takes the user's row lock first in the patch's transaction (as every quota
   * check does, before the rows it writes); `check` runs after the patch with the bytes it
   * added (a patch that frees bytes always passes). Undefined without a bytes quota.
   */
  propertyCheck(auth: AuthContext, added: number):
    | { before(trx: Transaction<Database>): Promise<void>; check(trx: Transaction<Database>, grew: number): Promise<void> }
    | undefined {
    const quota = auth.limits.quotaBytes;
    const cap = this.propertyCap(auth);
    if (quota === null && cap === null) return undefined;
    return {
      before: (trx) => this.lockUser(trx, auth),
      check: async (trx, grew) => {
        if (cap !== null && added > 0) {
          const held = await this.propertyFootprint(trx, auth.home, added, cap);
          if (held > cap) throw propertyCapError(`these properties would make ${formatSize(held)}`, cap, held);
        }
        if (quota === null || grew <= 0) return;
        const usage = await this.meta.usage(auth.home, trx);
        const inFlight = await this.meta.reservedBytes(auth.userId, undefined, trx);
        if (usage.bytes + inFlight > quota) {
          throw new QuotaExceededError(`quota exceeded: these properties would use ${formatSize(usage.bytes + inFlight)} of ${formatSize(quota)} (properties count as stored bytes)`, {
            details: { limit: 'bytes', quota, used: usage.bytes - grew, inFlight, wouldUse: usage.bytes + inFlight },
          });
        }
      },
    };
  }

  /**
   * The cap on dead properties for this caller: none for admins, who are trusted with the
   * store and whose home (often `/`) holds everyone's properties.
   */
  private propertyCap(auth: AuthContext): number | null {
    return auth.role === 'admin' ? null : this.config.davPropertyBytes;
  }

  /**
   * The dead-property footprint of a home after a PROPPATCH that added at most `added` (see
   * ROW_FOOTPRINT), measured in `trx` after its rows were written. Measuring is a scan of the
   * user's properties (200,000 took 110-210 ms of the only thread), so a measure is kept for
   * {@link FOOTPRINT_TTL_MS} and grown by each patch's `added` (an upper bound: what a patch
   * replaces or removes is not taken off); only a sum that would pass the cap, or an old one,
   * is measured again. Another node's patches are seen at the next measure, so the cap may
   * be passed by what a cluster's other nodes add in that time: it bounds the store, it is no
   * exact accounting (the quota is, where there is one).
   */
  private async propertyFootprint(trx: Transaction<Database>, home: string, added: number, cap: number): Promise<number> {
    const now = Date.now();
    const known = this.footprints.get(home);
    if (known && now - known.at < FOOTPRINT_TTL_MS && known.bytes + added <= cap) {
      known.bytes += added;
      return known.bytes;
    }
    const bytes = await deadPropFootprint(trx, home);
    this.footprints.set(home, { bytes, at: now });
    return bytes;
  }

  /**
   * The server's cap on a user's dead properties (`davPropertyBytes`), whatever their quota:
   * the metadata store holds them, and a user without a quota could otherwise grow it
   * without end (a COPY duplicates them, sharing nothing). Checked before a copy, as the
   * quota is; a PROPPATCH checks inside its transaction ({@link propertyCheck}).
   */
  private async checkCopiedProperties(auth: AuthContext, sourceServerPath: string): Promise<void> {
    const cap = this.propertyCap(auth);
    if (cap === null) return;
    const added = await deadPropFootprint(this.meta.db, sourceServerPath);
    if (added === 0) return;
    this.footprints.delete(auth.home); // the copy adds rows outside propertyFootprint's sums
    const held = (await deadPropFootprint(this.meta.db, auth.home)) + added;
    if (held > cap) throw propertyCapError(`the copy's properties would make ${formatSize(held)}`, cap, held);
  }

  /**
   * Takes the user's row lock: on PostgreSQL two quota checks of one user then queue here.
   * Not on SQLite, whose one connection runs one transaction at a time (a write there was a
   * WAL page per check, two per file an SFTP client writes).
   */
  private async lockUser(trx: Transaction<Database>, auth: AuthContext): Promise<void> {
    if (this.meta.dialect === 'sqlite') return;
    await trx.updateTable('users').set({ disabled: sql<number>`disabled` }).where('id', '=', auth.userId).execute();
  }

  /**
   * Sizes of the files that `paths` would replace. A drop box's visitor replaces none (a
   * taken name is stored beside, MetaStore.commitUpload): crediting them would also answer
   * differently for a taken name, telling the visitor what the folder holds.
   */
  private async replacedSizes(auth: AuthContext, paths: string[], trx: Transaction<Database> | undefined): Promise<Map<string, number>> {
    return auth.share ? new Map() : this.meta.fileSizes(paths, trx);
  }

  /**
   * Usage after replacing/adding `files` (server paths), plus `inFlight` bytes reserved by
   * live sessions, must stay within the quotas. Returns the bytes these files add (what a
   * new session reserves).
   */
  private async checkFits(trx: Transaction<Database> | undefined, auth: AuthContext, files: { path: string; size: number }[], inFlight = 0): Promise<number> {
    const { quotaBytes, quotaFiles } = auth.limits;
    if (quotaBytes === null && quotaFiles === null) return 0;
    const usage = await this.meta.usage(auth.home, trx);
    const replaced = await this.replacedSizes(auth, files.map((f) => f.path), trx);
    let added = 0;
    let net = 0;
    let count = usage.files;
    for (const f of files) {
      const old = replaced.get(f.path);
      net += f.size - (old ?? 0);
      added += Math.max(0, f.size - (old ?? 0));
      if (old === undefined) count++;
    }
    const bytes = usage.bytes + inFlight + net;
    if (quotaBytes !== null && bytes > quotaBytes) {
      const others = inFlight > 0 ? `, ${formatSize(inFlight)} in other uploads` : '';
      const what = files.length === 1 ? `${files[0].path} (${formatSize(files[0].size)})` : `${files.length} files of ${formatSize(files.reduce((a, f) => a + f.size, 0))}`;
      throw new QuotaExceededError(`quota exceeded: ${what} would bring the usage to ${formatSize(bytes)}, over the quota of ${formatSize(quotaBytes)} (${formatSize(usage.bytes)} used now${others})`, {
        details: { limit: 'bytes', quota: quotaBytes, used: usage.bytes, inFlight, wouldUse: bytes },
      });
    }
    if (quotaFiles !== null && count > quotaFiles) {
      throw new QuotaExceededError(`quota exceeded: this would make ${count} files, the limit is ${quotaFiles}`, {
        details: { limit: 'files', quota: quotaFiles, used: usage.files, wouldUse: count },
      });
    }
    return added;
  }
}

function propertyCapError(what: string, cap: number, wouldUse: number): Error {
  return new QuotaExceededError(`too many WebDAV properties: ${what}, over the ${formatSize(cap)} a user may keep (the server's davPropertyBytes); remove some first`, {
    details: { limit: 'properties', max: cap, wouldUse },
  });
}
