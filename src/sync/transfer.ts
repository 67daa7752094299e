/**
 * Moving one file's bytes from a source remote to a destination remote, or many small files
 * at once where the destination has a batch ability.
 *
 * One file: server-side copy when both remotes share a backend that has one; otherwise the
 * source's read stream goes, metered and rate-limited, into the destination's write with the
 * size and mtime announced (writes are atomic: a failed transfer leaves the old file). The
 * stored result is checked: its size, the hashes both sides know for free, and its mtime
 * (set afterwards where the write could not carry it). Retryable failures are tried again
 * with backoff; bytes a failed attempt counted are taken back from the progress.
 */
import { HashMismatchError, isFerryError, SizeMismatchError } from '../core/errors.js';
import { canCopy, canReadRange, canSetMtime, type ObjectInfo } from '../core/storage.js';
import { canWriteBatch, type BatchWriteItem, type TreeHashed } from '../core/storage-bulk.js';
import type { FileEntry, HashKind } from './hashes.js';
import { forEachLimit, metered, withRetries, type TokenBucket, type RetryPolicy } from './pace.js';
import type { ProgressTracker } from './progress.js';
import { keyOf, sameBackend, type Remote } from './remote.js';

export interface TransferContext {
  src: Remote;
  dst: Remote;
  limiter?: TokenBucket;
  progress: ProgressTracker;
  retry: RetryPolicy;
  /** Destination mtimes closer than this to the source's are right (ms). */
  windowMs: number;
  signal?: AbortSignal;
  /** Flush each file to stable storage before it counts (local disk: fsync). */
  durable: boolean;
  onRetry?: (path: string, err: unknown, attempt: number, delayMs: number) => void;
}

/** The hashes an ObjectInfo carries, by kind (backend hashes and the Ferry tree hash). */
export function hashesOf(info: ObjectInfo): Partial<Record<HashKind, string>> {
  const out: Partial<Record<HashKind, string>> = { ...(info.hashes ?? {}) };
  const tree = (info as TreeHashed).treeHash;
  if (tree !== undefined) out['ferry-tree'] = tree;
  return out;
}

/** Throws when the stored object does not match what was sent. */
function verify(rel: string, entry: FileEntry, info: ObjectInfo): void {
  if (info.size !== entry.size) {
    throw new SizeMismatchError(`${rel}: stored ${info.size} bytes, sent ${entry.size}`, { retryable: true });
  }
  const stored = hashesOf(info);
  for (const [kind, value] of Object.entries(stored) as Array<[HashKind, string]>) {
    const want = entry.hashes[kind];
    if (want !== undefined && value !== want) {
      // The source may have changed while it was read: worth another attempt.
      throw new HashMismatchError(`${rel}: ${kind} of the stored file does not match the source`, { retryable: true });
    }
  }
}

/** Sets the destination's mtime where the write did not leave it right. */
async function fixMtime(ctx: TransferContext, rel: string, entry: FileEntry, info: ObjectInfo): Promise<void> {
  const b = ctx.dst.backend;
  if (entry.mtime === undefined || !b.features().mtime) return;
  if (info.mtime !== undefined && Math.abs(info.mtime - entry.mtime) < ctx.windowMs) return;
  if (canSetMtime(b)) await b.setMtime(keyOf(ctx.dst, rel), entry.mtime, { signal: ctx.signal });
}

/** Copies one file from `ctx.src` at `rel` to `ctx.dst` at `toRel`. */
export async function copyFile(ctx: TransferContext, rel: string, entry: FileEntry, toRel = rel): Promise<ObjectInfo> {
  const from = keyOf(ctx.src, rel);
  const to = keyOf(ctx.dst, toRel);
  const { signal } = ctx;
  return withRetries(
    async () => {
      let counted = 0;
      try {
        let info: ObjectInfo;
        if (sameBackend(ctx.src, ctx.dst) && canCopy(ctx.src.backend)) {
          info = await ctx.src.backend.copy(from, to, { signal });
          counted = entry.size;
          ctx.progress.bytes(entry.size);
        } else {
          const stream = await ctx.src.backend.read(from, { signal });
          const body = metered(
            stream,
            (n) => {
              counted += n;
              ctx.progress.bytes(n);
            },
            ctx.limiter,
            signal,
          );
          info = await ctx.dst.backend.write(to, body, { size: entry.size, mtime: entry.mtime, signal, durable: ctx.durable });
        }
        verify(rel, entry, info);
        await fixMtime(ctx, toRel, entry, info);
        return info;
      } catch (err) {
        ctx.progress.bytes(-counted);
        throw err;
      }
    },
    ctx.retry,
    signal,
    (err, attempt, delay) => ctx.onRetry?.(rel, err, attempt, delay),
  );
}

/** Batches in flight at once: one reading while another uploads. */
const BATCHES_IN_FLIGHT = 3;
/** Files read at once for a batch. */
const READERS_PER_BATCH = 16;
/** Bytes per batch at most: small enough that the pipeline starts soon, large enough to amortize a session. */
const GROUP_BYTES = 32 * 1024 * 1024;

export interface BatchFile {
  rel: string;
  entry: FileEntry;
}

/**
 * Copies many small files into a destination with a batch ability: reads them (a few at a
 * time), hands them over in groups within the destination's limits, and reports each file's
 * outcome. A group that fails as a whole after its retries is tried file by file, so one bad
 * file does not sink its neighbours.
 */
export async function copyBatch(
  ctx: TransferContext,
  files: readonly BatchFile[],
  onDone: (f: BatchFile, err?: unknown, info?: ObjectInfo) => void,
): Promise<void> {
  const b = ctx.dst.backend;
  if (!canWriteBatch(b)) throw new Error('copyBatch needs a destination with writeBatch');
  const limits = await b.batchWriteLimits({ signal: ctx.signal });
  const groups: BatchFile[][] = [];
  let cur: BatchFile[] = [];
  let bytes = 0;
  for (const f of files) {
    if (cur.length > 0 && (cur.length >= limits.maxObjects || bytes + f.entry.size > Math.min(limits.maxBytes, GROUP_BYTES))) {
      groups.push(cur);
      cur = [];
      bytes = 0;
    }
    cur.push(f);
    bytes += f.entry.size;
  }
  if (cur.length > 0) groups.push(cur);
  // Groups overlap: while one group's session uploads, the next group is read.
  await forEachLimit(
    groups,
    BATCHES_IN_FLIGHT,
    async (group) => {
      const items: Array<BatchWriteItem | undefined> = new Array(group.length);
      await forEachLimit(
        group.keys(),
        READERS_PER_BATCH,
        async (i) => {
          const f = group[i];
          try {
            const data = await readAll(ctx.src, f.rel, f.entry.size, ctx.signal);
            items[i] = { key: keyOf(ctx.dst, f.rel), data, mtime: f.entry.mtime };
          } catch (err) {
            if (isFerryError(err, 'FERRY_ERR_ABORTED')) throw err;
            onDone(f, err);
          }
        },
        ctx.signal,
      );
      const ready = group.filter((_, i) => items[i] !== undefined);
      const batch = items.filter((x): x is BatchWriteItem => x !== undefined);
      if (batch.length === 0) return;
      let total = 0;
      for (const it of batch) total += it.data.length;
      try {
        if (ctx.limiter) await ctx.limiter.take(total, ctx.signal);
        const infos = await withRetries(() => b.writeBatch(batch, { signal: ctx.signal }), ctx.retry, ctx.signal);
        ctx.progress.bytes(total);
        for (let i = 0; i < ready.length; i++) {
          try {
            verify(ready[i].rel, ready[i].entry, infos[i]);
            await fixMtime(ctx, ready[i].rel, ready[i].entry, infos[i]);
            onDone(ready[i], undefined, infos[i]);
          } catch (err) {
            onDone(ready[i], err);
          }
        }
      } catch (err) {
        if (isFerryError(err, 'FERRY_ERR_ABORTED')) throw err;
        // One bad file must not sink its neighbours: one by one.
        for (const f of ready) {
          try {
            onDone(f, undefined, await copyFile(ctx, f.rel, f.entry));
          } catch (err1) {
            onDone(f, err1);
          }
        }
      }
    },
    ctx.signal,
  );
}

/** A whole (small) file's bytes. */
export async function readAll(remote: Remote, rel: string, size: number, signal?: AbortSignal): Promise<Buffer> {
  if (canReadRange(remote.backend) && size > 0) {
    // One positional read: cheaper than a stream for small files.
    const data = await remote.backend.readRange(keyOf(remote, rel), 0, size + 1, { signal });
    if (data.length !== size) throw new SizeMismatchError(`${rel}: read ${data.length} bytes, listed ${size} (changed while syncing?)`, { retryable: true });
    return data;
  }
  const stream = await remote.backend.read(keyOf(remote, rel), { signal });
  const parts: Buffer[] = [];
  let n = 0;
  for await (const piece of stream) {
    parts.push(piece as Buffer);
    n += (piece as Buffer).length;
  }
  const data = parts.length === 1 ? parts[0] : Buffer.concat(parts, n);
  if (data.length !== size) throw new SizeMismatchError(`${rel}: read ${data.length} bytes, listed ${size} (changed while syncing?)`, { retryable: true });
  return data;
}
