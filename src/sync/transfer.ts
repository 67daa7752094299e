/**
 * Moving one file's bytes from a source remote to a destination remote, or many small files
 * at once where the source or the destination has a batch ability.
 *
 * One file: server-side copy when both remotes share a backend that has one; otherwise the
 * destination writes a body that opens the source's read when first pulled (a dry-run
 * destination releases it unread, so a dry run reads nothing), with the size and mtime
 * announced (writes are atomic: a failed transfer leaves the old file). The stored result
 * is checked: its size, the hashes both sides know for free, and its mtime (set afterwards
 * where the write could not carry it). The remotes are decorated (decorated.ts): retries of
 * single calls, the bandwidth limit and dry runs are theirs; what is retried here is the
 * whole copy; bytes a failed attempt counted are taken back from the progress.
 */
import { HashMismatchError, isFerryError, SizeMismatchError } from '../core/errors.js';
import type { ProgressTracker } from '../core/progress.js';
import { isRetriesSpent, retry, type RetryPolicy } from '../core/retry.js';
import { canCopy, canReadRange, canSetMtime, type ObjectInfo } from '../core/storage.js';
import { canReadBatch, canWriteBatch, type BatchWriteItem, type BatchWriteLimits, type TreeHashed } from '../core/storage-bulk.js';
import { forEachConcurrent } from '../client/concurrency.js';
import type { FileEntry, HashKind } from './hashes.js';
import { keyOf, sameBackend, type Remote } from './remote.js';

/** What copying between two (decorated) remotes needs. */
export interface CopyContext {
  src: Remote;
  dst: Remote;
  progress: ProgressTracker;
  /**
   * Retries of a whole file copy: what the retry decorator cannot repeat (a write whose body
   * is a stream) and what fails after the call (a copy that does not verify). An error the
   * decorator already retried is spent and not retried again.
   */
  retry: RetryPolicy;
  /** Destination mtimes closer than this to the source's are right (ms). */
  windowMs: number;
  signal?: AbortSignal;
  /** Flush each file to stable storage before it counts (local disk: fsync). */
  durable: boolean;
  /** `attempt` counts the retries, 1 for the first. */
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
async function fixMtime(ctx: CopyContext, rel: string, entry: FileEntry, info: ObjectInfo): Promise<void> {
  const b = ctx.dst.backend;
  if (entry.mtime === undefined || !b.features().mtime) return;
  if (info.mtime !== undefined && Math.abs(info.mtime - entry.mtime) < ctx.windowMs) return;
  if (canSetMtime(b)) await b.setMtime(keyOf(ctx.dst, rel), entry.mtime, { signal: ctx.signal });
}

/** The source's bytes, its read opened when the first piece is asked for; each piece counted. */
async function* lazyRead(remote: Remote, rel: string, onBytes: (n: number) => void, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
  const stream = await remote.backend.read(keyOf(remote, rel), { signal });
  try {
    for await (const piece of stream as AsyncIterable<Uint8Array>) {
      onBytes(piece.length);
      yield piece;
    }
  } finally {
    if (!stream.destroyed) stream.destroy();
  }
}

/** Options of the whole-copy retry loop. */
function copyRetry(ctx: CopyContext, rel: string) {
  return { policy: ctx.retry, signal: ctx.signal, onRetry: (err: unknown, attempt: number, delayMs: number) => ctx.onRetry?.(rel, err, attempt + 1, delayMs) };
}

/**
 * The source's mtime when its listing had none (S3 keeps times in each object's metadata,
 * which a listing does not carry): asked of the object itself, so that the copy keeps it.
 * Only where both sides keep times.
 */
async function listedOrOwnMtime(ctx: CopyContext, from: string, entry: FileEntry): Promise<FileEntry> {
  if (entry.mtime !== undefined || !ctx.src.backend.features().mtime || !ctx.dst.backend.features().mtime) return entry;
  const { mtime } = await ctx.src.backend.stat(from, { signal: ctx.signal });
  return mtime === undefined ? entry : { ...entry, mtime };
}

/** Copies one file from `ctx.src` at `rel` to `ctx.dst` at `toRel`. */
export async function copyFile(ctx: CopyContext, rel: string, listed: FileEntry, toRel = rel): Promise<ObjectInfo> {
  const from = keyOf(ctx.src, rel);
  const to = keyOf(ctx.dst, toRel);
  const { signal } = ctx;
  const entry = await listedOrOwnMtime(ctx, from, listed);
  return retry(async () => {
    let counted = 0;
    const count = (n: number) => {
      counted += n;
      ctx.progress.done(n);
    };
    try {
      let info: ObjectInfo;
      if (sameBackend(ctx.src, ctx.dst) && canCopy(ctx.src.backend)) {
        info = await ctx.src.backend.copy(from, to, { signal });
        count(entry.size);
      } else {
        const body = lazyRead(ctx.src, rel, count, signal);
        info = await ctx.dst.backend.write(to, body, { size: entry.size, mtime: entry.mtime, signal, durable: ctx.durable });
      }
      verify(rel, entry, info);
      await fixMtime(ctx, toRel, entry, info);
      return info;
    } catch (err) {
      ctx.progress.done(-counted);
      throw err;
    }
  }, copyRetry(ctx, rel));
}

/** Batches in flight at once: one reading while another uploads. */
const BATCHES_IN_FLIGHT = 3;
/** Files read at once for a batch. */
const READERS_PER_BATCH = 16;
/** Files a local source's reads go through between two turns of the event loop (ReadTurns). */
const FILES_PER_BREATH = 32;
/** Bytes per batch at most: small enough that the pipeline starts soon, large enough to amortize a session. */
const GROUP_BYTES = 32 * 1024 * 1024;

export interface BatchFile {
  rel: string;
  entry: FileEntry;
}

/**
 * What batches may hold when the source reads in batches, the destination writes in
 * batches, or both: the tighter of the two sides' limits (undefined: neither side can).
 */
export async function batchLimits(src: Remote, dst: Remote, signal?: AbortSignal): Promise<BatchWriteLimits | undefined> {
  const sides: BatchWriteLimits[] = [];
  let headroom: number | undefined;
  if (canWriteBatch(dst.backend)) {
    const w = await dst.backend.batchWriteLimits({ signal });
    sides.push(w);
    headroom = w.headroom;
  }
  if (canReadBatch(src.backend)) {
    const r = await src.backend.batchReadLimits({ signal });
    if (r.maxObjects > 0) sides.push(r);
  }
  if (sides.length === 0) return undefined;
  return {
    maxObjectSize: Math.min(...sides.map((l) => l.maxObjectSize)),
    maxObjects: Math.min(...sides.map((l) => l.maxObjects)),
    maxBytes: Math.min(...sides.map((l) => l.maxBytes)),
    ...(headroom ? { headroom } : {}),
  };
}

/**
 * Copies many small files where one side has a batch ability: a source that reads many
 * files in one request (a Ferry server), a destination that stores many in one (a Ferry
 * server), or both. Files are grouped within both sides' limits; each group is read (in one
 * request, or a few files at a time) and written (in one request, or file by file), and
 * each file's outcome reported. A group that fails as a whole after its retries is tried
 * file by file, so one bad file does not sink its neighbours.
 */
export async function copyBatch(
  ctx: CopyContext,
  files: readonly BatchFile[],
  onDone: (f: BatchFile, err?: unknown, info?: ObjectInfo) => void,
): Promise<void> {
  const limits = await batchLimits(ctx.src, ctx.dst, ctx.signal);
  if (!limits) throw new Error('copyBatch needs a source that reads or a destination that writes in batches');
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
  const b = ctx.dst.backend;
  // A batch writer is done with the items' bytes once it settles: a group's files are read into
  // one slab, which the next group reuses (GroupSlabs). Other destinations may keep what they
  // are given (the memory backend does), so their files keep buffers of their own.
  const room = limits.headroom ?? 0;
  const slabs = canWriteBatch(b) && !canReadBatch(ctx.src.backend) ? new GroupSlabs(BATCHES_IN_FLIGHT, Math.min(limits.maxBytes, GROUP_BYTES) + limits.maxObjects * Math.max(room, 1) + 1) : undefined;
  const reads = new ReadTurns(!ctx.src.backend.features().network);
  // Groups overlap: while one group's session uploads, the next group is read.
  await forEachConcurrent(
    groups,
    // Reading in batches makes groups small (a MiB): more of them keep the connections busy.
    canReadBatch(ctx.src.backend) ? BATCHES_IN_FLIGHT * 4 : BATCHES_IN_FLIGHT,
    async (group) => {
      const layout = slabs && slabLayout(group, room);
      const slab = layout && slabs!.take(layout.bytes);
      const items = await reads.run(() => readGroup(ctx, group, onDone, slab && { slab, at: layout!.at, room }, reads));
      const ready = group.filter((_, i) => items[i] !== undefined);
      const batch = items.filter((x): x is BatchWriteItem => x !== undefined);
      if (batch.length === 0) {
        if (slab) slabs!.give(slab);
        return;
      }
      if (!canWriteBatch(b)) {
        await forEachConcurrent(
          ready.keys(),
          READERS_PER_BATCH,
          async (i) => {
            try {
              onDone(ready[i], undefined, await writeOne(ctx, ready[i], batch[i].data));
            } catch (err) {
              if (isFerryError(err, 'FERRY_ERR_ABORTED')) throw err;
              onDone(ready[i], err);
            }
          },
          ctx.signal,
        );
        return;
      }
      let total = 0;
      for (const it of batch) total += it.data.length;
      try {
        const infos = await b.writeBatch(batch, { signal: ctx.signal });
        // Settled without a failure: nothing reads the slab any more (after one, it is dropped).
        if (slab) slabs!.give(slab);
        ctx.progress.done(total);
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
        // A failure of the transport, retried already (--retries), would fail each file alike.
        if (isRetriesSpent(err)) {
          for (const f of ready) onDone(f, err);
          return;
        }
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

/**
 * The bytes of a group's files: in one request from a source that reads in batches (file by
 * file if that fails), otherwise a few files at a time. A file that cannot be read is
 * reported through `onDone` and left undefined.
 */
async function readGroup(
  ctx: CopyContext,
  group: BatchFile[],
  onDone: (f: BatchFile, err?: unknown) => void,
  into?: { slab: Buffer; at: readonly number[]; room: number },
  turns?: ReadTurns,
): Promise<Array<BatchWriteItem | undefined>> {
  const items: Array<BatchWriteItem | undefined> = new Array(group.length);
  const item = (f: BatchFile, data: Buffer): BatchWriteItem => {
    // Read where the layout put it, with the writer's room before it.
    const placed = into !== undefined && into.room > 0 && data.buffer === into.slab.buffer;
    return { key: keyOf(ctx.dst, f.rel), data, mtime: f.entry.mtime, ...(placed ? { headroom: true } : {}) };
  };
  const src = ctx.src.backend;
  if (canReadBatch(src)) {
    try {
      const data = await src.readBatch(group.map((f) => keyOf(ctx.src, f.rel)), { signal: ctx.signal });
      group.forEach((f, i) => {
        if (data[i].length === f.entry.size) items[i] = item(f, data[i]);
        else onDone(f, new SizeMismatchError(`${f.rel}: read ${data[i].length} bytes, listed ${f.entry.size} (changed while syncing?)`, { retryable: true }));
      });
      return items;
    } catch (err) {
      if (isFerryError(err, 'FERRY_ERR_ABORTED')) throw err;
      // The batch failed as a whole (a file changed since the listing, a damaged chunk):
      // file by file below, so that only the files concerned fail.
    }
  }
  await forEachConcurrent(
    group.keys(),
    READERS_PER_BATCH,
    async (i) => {
      const f = group[i];
      try {
        const place = into && into.slab.subarray(into.at[i], into.at[i] + f.entry.size + 1);
        items[i] = item(f, await readAll(ctx.src, f.rel, f.entry.size, ctx.signal, place));
        await turns?.breathe();
      } catch (err) {
        if (isFerryError(err, 'FERRY_ERR_ABORTED')) throw err;
        onDone(f, err);
      }
    },
    ctx.signal,
  );
  return items;
}

/** Writes one file whose bytes are in memory (a batch read, a destination without batch writes). */
async function writeOne(ctx: CopyContext, f: BatchFile, data: Buffer): Promise<ObjectInfo> {
  const to = keyOf(ctx.dst, f.rel);
  return retry(async () => {
    const info = await ctx.dst.backend.write(to, data, { size: f.entry.size, mtime: f.entry.mtime, signal: ctx.signal, durable: ctx.durable });
    ctx.progress.done(data.length);
    verify(f.rel, f.entry, info);
    await fixMtime(ctx, f.rel, f.entry, info);
    return info;
  }, copyRetry(ctx, f.rel));
}

/**
 * The groups' reads, one after another when `inTurn`. A local source's small files are read
 * with blocking calls on this thread (readAll): groups in flight that read at once share the
 * thread, so each group's files were all read only when every group's were, and the server
 * waited for the first session until three groups had been read and hashed (0.4 s of a
 * 3 s first sync of 10,000 files: benchmarks/results/issue-15-speed.md, branch speed17).
 * Read in turn, the first group goes to the server after a third of that, and the next
 * groups are read while it uploads. A network source's reads wait on the network, not on
 * this thread: they overlap (`inTurn` false).
 */
export class ReadTurns {
  private last: Promise<unknown> = Promise.resolve();
  private files = 0;
  private breath: Promise<void> | undefined;

  constructor(private readonly inTurn: boolean) {}

  /**
   * Called by each reader after each file: every FILES_PER_BREATH files, a turn of the event
   * loop, which every reader waits for. Blocking reads settle their promises at once, so a
   * group's reads are one chain of microtasks, and the requests of the groups read before
   * (their session, packs, commit) would wait for the whole group otherwise; a pause of the
   * one reader that counted the 32nd file would leave the other readers going.
   */
  breathe(): Promise<void> | undefined {
    if (!this.inTurn) return undefined;
    if (this.breath) return this.breath;
    if (++this.files % FILES_PER_BREATH !== 0) return undefined;
    this.breath = new Promise<void>((resolve) =>
      setImmediate(() => {
        this.breath = undefined;
        resolve();
      }),
    );
    return this.breath;
  }

  /** Runs `read` once the reads started before it settled (at once when not in turn). */
  run<T>(read: () => Promise<T>): Promise<T> {
    if (!this.inTurn) return read();
    const mine = this.last.then(read);
    this.last = mine.catch(() => undefined);
    return mine;
  }
}

/**
 * Buffers that groups of small files are read into, one per group in flight, each reused by
 * a later group once the batch write of its files resolved. Files read into buffers of their
 * own (10,000 allocations of 1-64 KiB for the bench's tree) were freed only by the collector's
 * mark-compacts, and the allocator gave the memory back to the system and took it again:
 * with the packs' copies, 110-128 thousand page faults and a peak RSS of 345-400 MB for a
 * 333 MB tree (benchmarks/results/issue-15-speed.md, branch tree5a).
 */
export class GroupSlabs {
  private readonly free: Buffer[] = [];

  /** `keep` slabs at most, each of `capacity` bytes or the largest group's need. */
  constructor(
    private readonly keep: number,
    private readonly capacity: number,
  ) {}

  /** A slab of at least `need` bytes (its contents undefined). */
  take(need: number): Buffer {
    const i = this.free.findIndex((s) => s.length >= need);
    if (i >= 0) return this.free.splice(i, 1)[0];
    // readAll writes every byte it returns: no need to zero the slab first.
    return Buffer.allocUnsafeSlow(Math.max(need, this.capacity));
  }

  /** Gives back a slab once nothing reads it; kept unless `keep` are already. */
  give(slab: Buffer): void {
    if (this.free.length < this.keep) this.free.push(slab);
  }

  /** Slabs kept now, for tests. */
  get kept(): number {
    return this.free.length;
  }
}

/**
 * Where each file of a group goes in its slab: `room` bytes free for the writer (a pack frame's
 * header: BatchWriteItem.headroom), then the file's bytes. readAll reads one byte past the
 * listed size (to see a file that grew): that byte falls in the next file's room, or in one
 * spare byte where there is no room.
 */
export function slabLayout(group: readonly BatchFile[], room: number): { at: number[]; bytes: number } {
  const at: number[] = [];
  let end = 0;
  for (const f of group) {
    at.push(end + room);
    end += room + f.entry.size + (room > 0 ? 0 : 1);
  }
  return { at, bytes: end + 1 };
}

/**
 * A whole (small) file's bytes. `into`: at least `size + 1` bytes the file may be read into
 * (a backend may ignore it; the result is then a buffer of its own).
 */
export async function readAll(remote: Remote, rel: string, size: number, signal?: AbortSignal, into?: Buffer): Promise<Buffer> {
  if (canReadRange(remote.backend) && size > 0) {
    // One positional read: cheaper than a stream for small files.
    // Blocking calls where the backend has local files: a tree's small files are read one
    // after another, and the thread pool's round trips cost more than the reads (readRange).
    const data = await remote.backend.readRange(keyOf(remote, rel), 0, size + 1, { signal, blocking: true, into });
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
