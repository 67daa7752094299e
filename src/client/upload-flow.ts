/**
 * The upload of one file over an upload session (docs/protocol.md, "Uploads"), whatever
 * holds the file: a local file in Node.js (./put.ts) or a file a person picked in a
 * browser (./blob-upload.ts). Both run this code; only the {@link ChunkSource} differs.
 *
 * The server answers a manifest with the chunks it lacks, so dedup, resume and delta
 * upload are the same path: a new attempt re-chunks the file and sends only what is still
 * missing (chunks sent by an earlier, interrupted attempt already count as the user's); an
 * edited file shares most chunk boundaries with its old version and only the changed
 * chunks travel.
 */
import { PreconditionFailedError, UploadNotFoundError, isFerryError, throwIfAborted } from '../core/errors.js';
import { chunkOffsets, type ChunkingParams, type ChunkRef } from '../core/chunk-refs.js';
import { MAX_DELTA_BASES, type Capabilities, type CommitRequest, type CommitResponse, type Entry, type UploadStatus } from '../core/protocol.js';
import { retry } from '../core/retry.js';
import type { DeltaBase, FerryApi } from './api.js';
import { fileHashOf } from './hashing.js';
import { OldPlaces, replacedRun } from './replaced-chunks.js';
import { FileProgress } from './progress.js';
import { ChunkSender, isSessionLost, type TransferContext } from './transfer.js';
import { SessionKeeper, type PriorSession, type ResumeSpec } from './resume-session.js';

/** One chunk of a file: where it is and the SHA-256 of its bytes (the chunkers' record). */
export interface ChunkRecord {
  offset: number;
  size: number;
  hash: string;
  /**
   * The chunk as a zstd frame, made by the source's chunker (src/algo/chunk-file.ts,
   * `compress`): sent in place of the bytes `read` gives where the chunk goes whole. The
   * upload takes it off the record when it schedules the chunk, and releases it once sent
   * or not needed (the chunker holds only so many unreleased).
   */
  frame?: { readonly bytes: Uint8Array; release(): void };
}

/** A file to upload, as the upload flow sees it. */
export interface ChunkSource {
  /** For messages: the local path, or the picked file's name. */
  readonly name: string;
  readonly size: number;
  /**
   * The chunk records in file order, in batches (chunking may overlap sending), cut with the
   * server's parameters. `guide`: the chunks of the version being replaced, which a source
   * may use to find unchanged chunks faster (chunkFile's `guide`); the records must be the same.
   */
  chunks(params: ChunkingParams, signal: AbortSignal, guide?: readonly ChunkRef[]): AsyncIterable<ChunkRecord[]>;
  /** A chunk's bytes, read when a slot is free (a browser gives a Blob slice: no copy). */
  read(record: ChunkRecord): Promise<Uint8Array | Blob>;
  /** Bytes {@link read} gave whose request succeeded: nothing uses them any more (a source may reuse the memory). */
  sent?(data: Uint8Array | Blob): void;
  /** Throws FERRY_ERR_PRECONDITION_FAILED when the file changed since it was opened. */
  checkUnchanged(): Promise<void>;
}

/** What the commit records, and how. */
export interface UploadTarget {
  path: string;
  mtime: number;
  mode?: number;
  noOverwrite?: boolean;
  /** Replace the file only if it still has this ETag (the commit's If-Match; src/core/write-conditions.ts). */
  ifMatch?: string;
  ttlSeconds?: number;
}

export interface UploadHooks {
  /** A session was created or resumed (the web app records its id, to abort it if the page reloads). */
  onSession?(id: string): void;
  /** Keep the session for the next run, and continue the one an earlier run left (./resume-session.ts; the CLI's `put`). */
  resume?: ResumeSpec;
}

/**
 * Errors after which an upload session serves nothing more: the server refused what it would
 * record (the target exists under --no-clobber, a file or folder is in the way, a name it
 * refuses, a path the token may not write), not a transfer a rerun resumes (an interruption,
 * the network, the quota, a file that changed meanwhile). Each open session counts against
 * the user's `maxUploadSessions` until it expires (the upload TTL, a day by default): left
 * open, 100 refused `ferry put --no-clobber` locked the user out of uploading for that day.
 */
const SPENT_BY = new Set(['FERRY_ERR_ALREADY_EXISTS', 'FERRY_ERR_NOT_A_DIRECTORY', 'FERRY_ERR_IS_A_DIRECTORY', 'FERRY_ERR_PATH_INVALID', 'FERRY_ERR_FORBIDDEN']);

function isSpent(err: unknown): boolean {
  // A commit's If-Match refused by the server (`details.condition`; not a file that changed
  // here while it was read, which a rerun sends again): this session will not be committed.
  if (isFerryError(err, 'FERRY_ERR_PRECONDITION_FAILED')) return err.details?.condition !== undefined;
  return isFerryError(err) && SPENT_BY.has(err.code);
}

/** Aborts session `id` when `err` leaves it nothing to do (SPENT_BY); best effort, never with the operation's signal (it may be what failed). */
export async function abortSpentSession(client: Pick<FerryApi<Uint8Array>, 'abortUpload'>, id: string | undefined, err: unknown): Promise<void> {
  if (id === undefined || !isSpent(err)) return;
  await client.abortUpload(id, { signal: AbortSignal.timeout(10_000) }).catch(() => undefined);
}

/** Restarts of a file whose upload session vanished (expired, server lost it). */
export const MAX_SESSION_RESTARTS = 3;
/** Rounds of "commit says chunks are missing, send them, commit again". */
export const MAX_COMMIT_ROUNDS = 3;

const toRef = (r: { hash: string; size: number }) => ({ hash: r.hash, size: r.size });

function* slices<T>(items: readonly T[], size: number): Generator<T[]> {
  for (let i = 0; i < items.length; i += size) yield items.slice(i, i + size);
}

/**
 * Pulls the next batch while the caller works on the current one: chunking then overlaps
 * the manifest appends. (A chunker in worker threads runs ahead anyway; one in the calling
 * thread, a browser's, computes only when asked.) `first`: the source's first batch, asked
 * for already.
 */
async function* readAhead<T>(it: AsyncIterator<T>, first?: Promise<IteratorResult<T>>): AsyncGenerator<T> {
  let next = first ?? it.next();
  try {
    for (;;) {
      const r = await next;
      if (r.done) return;
      next = it.next();
      next.catch(() => undefined); // awaited on the next turn; no unhandled rejection meanwhile
      yield r.value;
    }
  } finally {
    await it.return?.();
  }
}

async function collect<T>(it: AsyncIterable<T[]>): Promise<T[]> {
  const out: T[] = [];
  for await (const batch of it) out.push(...batch);
  return out;
}

/**
 * Commits a session, surviving the case where the commit happened but its answer was lost:
 * after an ambiguous failure (a network error, a 5xx) it asks whether the session still
 * exists; if it does, it commits again; if it is gone, `verify` decides whether our commit
 * is what removed it (the remote file has our hash) or the session was lost (rethrown as
 * FERRY_ERR_UPLOAD_NOT_FOUND, which makes the caller start a new session).
 */
export async function commitSafely(
  client: FerryApi<Uint8Array>,
  id: string,
  body: CommitRequest,
  verify: () => Promise<CommitResponse | undefined>,
  signal?: AbortSignal,
  ifMatch?: string,
): Promise<CommitResponse> {
  return retry(
    async (attempt) => {
      if (attempt > 0) {
        // After an ambiguous failure: a session still open means our commit did not happen.
        try {
          await client.uploadStatus(id, { signal });
        } catch (err) {
          if (!isSessionLost(err)) throw err;
          const done = await verify();
          if (done) return done;
          throw new UploadNotFoundError('the upload session vanished before it was committed', { cause: err });
        }
      }
      return client.commitUpload(id, body, { signal, ...(ifMatch !== undefined ? { ifMatch } : {}) });
    },
    { policy: client.http.retryPolicy, signal, shouldRetry: (err) => isFerryError(err) && err.retryable },
  );
}

/**
 * Commits session `id` (see {@link commitSafely}) with the file's final facts. When the server
 * says chunks are missing (it lost some we sent, or never got them), `resend` queues each
 * again and the commit is retried, at most {@link MAX_COMMIT_ROUNDS} more times.
 */
async function commitRounds(
  client: FerryApi<Uint8Array>,
  active: ChunkSender,
  id: string,
  facts: CommitRequest & { hash: string },
  path: string,
  resend: (hash: string) => void,
  signal: AbortSignal,
  ifMatch?: string,
): Promise<CommitResponse> {
  const ours = async () => {
    const e = await client.statIfExists(path, { signal });
    return e && e.type === 'file' && e.hash === facts.hash ? { files: [e] } : undefined;
  };
  for (let round = 0; ; round++) {
    try {
      return await commitSafely(client, id, facts, ours, signal, ifMatch);
    } catch (err) {
      if (!isFerryError(err, 'FERRY_ERR_UPLOAD_INCOMPLETE') || round >= MAX_COMMIT_ROUNDS) throw err;
      const missing = (err.details?.missing as string[] | undefined) ?? (await client.uploadStatus(id, { signal })).missing;
      for (const h of missing) resend(h);
      await active.drain();
    }
  }
}

/**
 * Uploads one file, starting a new session when the current one is lost (at most
 * {@link MAX_SESSION_RESTARTS} times). Counts the file in `ctx.result` and its progress.
 */
export async function uploadFile(ctx: TransferContext<Uint8Array>, source: ChunkSource, target: UploadTarget, hooks: UploadHooks = {}): Promise<Entry> {
  const caps = await ctx.client.capabilities({ signal: ctx.signal });
  const progress = new FileProgress(ctx.progress);
  let known: ChunkRecord[] | undefined;
  for (let attempt = 0; ; attempt++) {
    try {
      const { entry, records, sent } = await uploadAttempt(ctx, caps, source, target, progress, known, (r) => (known = r), hooks);
      ctx.result.files += 1;
      ctx.result.bytes += source.size;
      ctx.result.chunks += records;
      ctx.result.bytesReused += Math.max(0, source.size - sent);
      ctx.progress.fileDone();
      return entry;
    } catch (err) {
      if (!isSessionLost(err) || attempt >= MAX_SESSION_RESTARTS) throw err;
      // The session expired or the server lost it: start a new one. Chunks the server
      // stored meanwhile count at once, so nothing already sent travels again.
      progress.reset();
    }
  }
}

/**
 * The chunk list of the file an upload replaces (one manifest request), or undefined when
 * there is none (a new path, a folder, a file the user may not read) or it cannot be had:
 * it only speeds things up (chunk guide, delta bases), so the upload goes on without it.
 */
async function previousChunks(client: FerryApi, caps: Capabilities, path: string, signal: AbortSignal): Promise<ChunkRef[] | undefined> {
  if (!caps.features.includes('manifests')) return undefined;
  try {
    return (await client.manifest(path, { signal })).chunks;
  } catch {
    // Not found, a folder, not readable, or the server unreachable (the next request says so).
    throwIfAborted(signal);
    return undefined;
  }
}

/**
 * For an upload over a file the server has (an edited version), the chunks each new chunk
 * replaces (./replaced-chunks.ts): the old chunk covering its middle, and with
 * `chunk-delta-bases` its neighbours that the new chunk's place overlaps too, together at
 * most twice the largest chunk. Chunks sent with bases may travel as deltas against them
 * (FerryApi.putChunk). Only for files with chunks above the pack threshold (small chunks
 * travel in packs) and servers with `chunk-delta`.
 */
function deltaBases(client: FerryApi, caps: Capabilities, path: string, size: number, old: readonly ChunkRef[] | undefined): (r: ChunkRecord) => { base?: DeltaBase } {
  const none = () => ({});
  if (!old || !wantsDeltas(client, caps) || size < caps.limits.packThreshold) return none;
  const offsets = chunkOffsets(old);
  const places = new OldPlaces(old, offsets);
  const most = caps.features.includes('chunk-delta-bases') ? MAX_DELTA_BASES : 1;
  return (r) => {
    const run = replacedRun(offsets, places.place(r.offset, r.hash), r.size, most, 2 * caps.limits.maxChunkSize, NEIGHBOUR_SLACK);
    const base = run && old[run.middle];
    if (!run || !base || base.hash === r.hash || base.size < caps.limits.packThreshold) return {};
    return { base: { hashes: old.slice(run.first, run.last + 1).map((c) => c.hash), path } };
  };
}

/**
 * A neighbour of the old chunk a new one replaces is a base too only when the new chunk's
 * place overlaps it by more than this (an edit that erased a cut). Less is an edit's own
 * bytes: at most this much more as literals, against reading, checking and signing a whole
 * neighbour on the server. Workload 8b (36 lines inserted in a tar): 46 bases asked for 24
 * edited chunks before, 24 after.
 */
const NEIGHBOUR_SLACK = 16 * 1024;

function wantsDeltas(client: FerryApi, caps: Capabilities): boolean {
  return client.deltas !== undefined && caps.features.includes('chunk-delta');
}

/** A chunker started ahead, its first batch asked for already. */
interface Early {
  it: AsyncIterator<ChunkRecord[]>;
  first: Promise<IteratorResult<ChunkRecord[]>>;
}

/**
 * Starts the chunking of an attempt. Small files (and retries that already know the chunk
 * list) get their whole list now, to announce it at creation: one request fewer, and the
 * server checks it at once. A large file's chunker starts, beside the requests that open
 * the session (its first batch takes the chunker's start-up, ~0.1-0.3 s of worker threads,
 * plus a read), going by the chunks of the version it replaces: the ranges that still
 * match are hashed instead of cut. Those chunks also serve as delta bases (`previous`).
 * An upload that may not replace a file (`noOverwrite`) has no version to go by: it commits
 * only where no file is, so the lookup is skipped (it was a 404, which a browser logs as an
 * error, for each new large file the web app sent).
 */
async function startChunking(
  client: FerryApi,
  caps: Capabilities,
  source: ChunkSource,
  target: UploadTarget,
  known: ChunkRecord[] | undefined,
  signal: AbortSignal,
): Promise<{ sealed?: ChunkRecord[]; early?: Early; previous: Promise<ChunkRef[] | undefined> }> {
  const small = source.size <= 4 * caps.chunking.maxSize;
  const path = target.path;
  const wantsPrevious = !known && !target.noOverwrite && source.size > 0 && (!small || (wantsDeltas(client, caps) && source.size >= caps.limits.packThreshold));
  const previous = wantsPrevious ? previousChunks(client, caps, path, signal) : Promise.resolve(undefined);
  previous.catch(() => undefined); // awaited later; no unhandled rejection if chunking fails first
  const sealed = known ?? (small ? await collect(source.chunks(caps.chunking, signal)) : undefined);
  if (sealed) return { sealed, previous };
  const it = source.chunks(caps.chunking, signal, await previous)[Symbol.asyncIterator]();
  const early = { it, first: it.next() };
  early.first.catch(() => undefined); // awaited by readAhead; no unhandled rejection meanwhile
  return { early, previous };
}

/**
 * For an upload that keeps its session across runs (`hooks.resume`): its keeper, and the
 * session a killed earlier run of it left, when this attempt can continue it. One made with
 * its whole manifest continues only for that same manifest (`sealedHash`: this attempt's, if
 * it announces the whole manifest at creation); the server checks the rest at the commit.
 */
async function priorSession(
  client: FerryApi<Uint8Array>,
  caps: Capabilities,
  hooks: UploadHooks,
  sealedHash: string | undefined,
  signal: AbortSignal,
): Promise<{ keeper?: SessionKeeper; prior?: PriorSession }> {
  if (!hooks.resume) return {};
  const keeper = new SessionKeeper(client, hooks.resume, `${hooks.resume.stamp}|${JSON.stringify(caps.chunking)}|${caps.limits.maxChunksPerRequest}`);
  const prior = await keeper.recall(signal);
  if (!prior?.sealed || (sealedHash !== undefined && prior.hash === sealedHash)) return { keeper, prior };
  await keeper.giveUp(prior.id);
  return { keeper };
}

/**
 * A record's frame as a chunk to send's fields, taken off the record: the records are kept
 * (the commit, later rounds), a frame goes with this send only.
 */
function takeFrame(r: ChunkRecord): { frame?: Uint8Array; release?: () => void } {
  const frame = r.frame;
  if (!frame) return {};
  delete r.frame;
  return { frame: frame.bytes, release: frame.release };
}

/**
 * One attempt: chunking and sending overlap. The session is created at once, chunk records
 * are appended as the chunker produces them, and the chunks the server lacks are read from
 * the source and sent `parallel` at a time (small ones in packs). Memory stays at about
 * `parallel` chunks whatever the file size. The commit records size, file hash, mtime and mode.
 */
async function uploadAttempt(
  ctx: TransferContext<Uint8Array>,
  caps: Capabilities,
  source: ChunkSource,
  target: UploadTarget,
  progress: FileProgress,
  known: ChunkRecord[] | undefined,
  onChunked: (records: ChunkRecord[]) => void,
  hooks: UploadHooks,
): Promise<{ entry: Entry; records: number; sent: number }> {
  const { client, signal } = ctx;
  const limits = caps.limits;
  let session: UploadStatus | undefined;
  let keeper: SessionKeeper | undefined;
  let prior: PriorSession | undefined;
  let active: ChunkSender | undefined;
  let early: Early | undefined;
  try {
    const start = await startChunking(client, caps, source, target, known, signal);
    const { sealed, previous } = start;
    early = start.early;
    const meta = {
      path: target.path,
      mtime: target.mtime,
      mode: target.mode,
      noOverwrite: target.noOverwrite ? true : undefined,
      ttlSeconds: target.ttlSeconds,
    };
    const records: ChunkRecord[] = [];
    const firstByHash = new Map<string, ChunkRecord>();
    let sentBytes = 0;
    const load = (r: ChunkRecord) => () => source.read(r);
    const sent = source.sent?.bind(source);
    const baseOf = deltaBases(client, caps, target.path, source.size, await previous);
    /** Queues what the server lacks; the rest counts as done now (dedup, resume). */
    const schedule = (batch: readonly ChunkRecord[], missing: ReadonlySet<string>) => {
      for (const r of batch) {
        if (!firstByHash.has(r.hash)) firstByHash.set(r.hash, r);
        const base = baseOf(r); // for every chunk, in file order: the unchanged ones place the edited ones
        const framed = takeFrame(r);
        if (missing.has(r.hash) && active!.add({ hash: r.hash, size: r.size, load: load(r), sent, progress, ...base, ...framed })) {
          sentBytes += r.size;
          continue;
        }
        framed.release?.();
        progress.done(r.size);
      }
    };

    const sealedHash = sealed && sealed.length <= limits.maxChunksPerRequest ? await fileHashOf(sealed, client.sha) : undefined;
    ({ keeper, prior } = await priorSession(client, caps, hooks, sealedHash, signal));
    const opened = (s: UploadStatus, hash?: string) => {
      if (!prior) void keeper?.remember(s.id, hash); // not waited for: SessionKeeper.remember says why
      hooks.onSession?.(s.id);
      return new ChunkSender(ctx, s.id, caps);
    };
    if (sealedHash !== undefined && (!prior || prior.sealed)) {
      session = prior ?? (await client.createUpload({ ...meta, size: source.size, hash: sealedHash, chunks: sealed!.map(toRef) }, { signal }));
      active = opened(session, sealedHash);
      records.push(...sealed!);
      schedule(sealed!, new Set(session.missing));
    } else {
      // The size is known: the server checks it against the limits at once, not as the
      // manifest grows (and says so with the file's real size).
      session = prior ?? (await client.createUpload({ ...meta, size: source.size }, { signal }));
      active = opened(session);
      // A resumed session holds the first `held` entries already (the same file, cut the
      // same way): those count with its `missing`; only what follows is appended.
      let held = prior?.entries?.[0] ?? 0;
      const heldMissing = new Set(prior?.missing);
      const batches: AsyncIterable<ChunkRecord[]> | Iterable<ChunkRecord[]> = sealed ? [sealed] : readAhead(early!.it, early!.first);
      for await (const batch of batches) {
        throwIfAborted(signal);
        const head = batch.slice(0, held);
        held -= head.length;
        records.push(...head);
        schedule(head, heldMissing);
        for (const part of slices(batch.slice(head.length), limits.maxChunksPerRequest)) {
          const { missing } = await client.appendChunks(session.id, part.map(toRef), { signal });
          records.push(...part);
          schedule(part, new Set(missing));
        }
      }
    }
    onChunked(records);
    await active.drain();

    // The file must not have changed since we chunked it, or the manifest lies.
    await source.checkUnchanged();
    let total = 0;
    for (const r of records) total += r.size;
    if (total !== source.size) throw new PreconditionFailedError(`${source.name} changed while it was being uploaded; run again`);

    const fileHash = await fileHashOf(records, client.sha);
    const resend = (h: string) => {
      const r = firstByHash.get(h);
      if (r) active!.add({ hash: r.hash, size: r.size, load: load(r), sent }, { force: true });
    };
    const facts = { size: source.size, hash: fileHash, mtime: meta.mtime, mode: meta.mode };
    const res = await commitRounds(client, active, session.id, facts, target.path, resend, signal, target.ifMatch);
    await keeper?.forget();
    return { entry: res.files[0], records: records.length, sent: sentBytes };
  } catch (err) {
    await keeper?.saved(); // what a re-run resumes is on disk before the process may end
    // Stops a chunker started early (a generator's `return` waits for the batch it is on);
    // once readAhead has pulled from it, it was closed there already and this is a no-op.
    await early?.it.return?.().catch(() => undefined);
    await active?.abandon(); // no request may still read the file once it is closed
    // A resumed session whose manifest is not this file's (the commit's size or hash check)
    // serves nothing more either: the next run starts afresh.
    const mismatch = prior !== undefined && (isFerryError(err, 'FERRY_ERR_HASH_MISMATCH') || isFerryError(err, 'FERRY_ERR_SIZE_MISMATCH'));
    if (keeper && session && (mismatch || isSpent(err))) await keeper.giveUp(session.id);
    else await abortSpentSession(client, session?.id, err);
    if (isFerryError(err, 'FERRY_ERR_HASH_MISMATCH')) {
      throw new PreconditionFailedError(`${source.name} changed while it was being uploaded (a chunk no longer matches); run again`, { cause: err });
    }
    throw err;
  }
}
