/**
 * An end-to-end encrypted upload that reads its input once (docs/e2e.md, "How it is
 * uploaded"): stdin for `ferry put --encrypt -`, a local file for `ferry put --encrypt`, a
 * picked file in the web app. Shared by Node.js and browsers (imports nothing of Node).
 *
 * The stored file begins with a header that holds every chunk's key, known only once the
 * last chunk is cut, so the upload takes two sessions:
 *
 * 1. the gathering session: a single-file session of unknown size whose manifest grows with
 *    the ciphertext chunks as they are cut and encrypted; the ones the server lacks are sent
 *    at once, from memory, a few at a time (the chunker waits for room: memory stays at a
 *    few chunks per slot whatever the input's size). It is never committed.
 * 2. the commit session: header (split at the server's largest chunk) + the same ciphertext
 *    chunks, an ordinary upload (../upload-flow.ts). The server already holds every chunk
 *    but the header's, and they are this user's, so only the header travels; then the
 *    commit, and the gathering session is aborted.
 *
 * An input that ends within the first batch (small files: up to 64 chunks and `batchBytes`)
 * needs no gathering session: its ciphertext stays in memory and the commit session alone
 * sends it, as many requests as a plain upload.
 *
 * Garbage collection deletes a chunk only when no live session's manifest names it
 * (src/store/chunk-index.ts), so the chunks sent in step 1 are safe while the gathering
 * session lives, and the commit session names them all before the gathering session goes.
 * A put killed midway leaves the gathering session, which expires as any abandoned upload
 * does (`--upload-ttl`); its chunks then go with the next garbage collection after the
 * grace time. Nothing is visible before the commit. With `keepGathering` (the CLI's put of
 * a file) its id is kept, and the run after continues it: the same file under the same key
 * is the same ciphertext chunks, so the chunks the session already names are not appended
 * again, and of them only those it still lacks are sent.
 *
 * Quota: both sessions reserve the file's size for a moment. When the commit session is
 * refused for that (FERRY_ERR_QUOTA_EXCEEDED), the gathering session is aborted first and
 * the commit session created again: its chunks stay the user's (they are only unprotected
 * from a garbage collection for those few milliseconds, and one that took any is noticed:
 * the commit session lists it missing, and it is read again from a file, or the put fails
 * for a stream).
 */
import { FerryError, isFerryError, throwIfAborted, ferryErrorOf } from '../../core/errors.js';
import type { Capabilities, Entry } from '../../core/protocol.js';
import type { FerryApi } from '../api.js';
import { fromHex } from '../hashing.js';
import { ChunkSender, TransferContext } from '../transfer.js';
import { uploadFile, type ChunkRecord, type ChunkSource, type UploadHooks } from '../upload-flow.js';
import { SessionKeeper, type ResumeSpec } from '../resume-session.js';
import { E2E_CHUNK_OVERHEAD, encryptChunk, sealHeader, type E2eKeys, type KdfParams, type PlainChunkKey } from './format.js';

/** One plain chunk as the chunker hands it over: SHA-256 (hex) of `data`, its bytes. */
export interface PlainChunk {
  hash: string;
  size: number;
  data: Uint8Array;
  /** Gives `data`'s buffer back to the chunker's pool; called once nothing reads it. */
  release?: () => void;
}

export interface EncryptOnceTarget {
  keys: E2eKeys;
  /** The KDF parameters of the marker the keys come from (written into the header). */
  kdf: KdfParams;
  /** Where the stored file goes: its encrypted path (locate.ts, serverPathOf). */
  serverPath: string;
  /** The plain name and mtime sealed in the header's table (the size is counted as the input is read). */
  name: string;
  mtime: number;
}

export interface EncryptOnceOptions extends UploadHooks {
  noOverwrite?: boolean;
  /** Replace the stored file only if it still has this ETag (UploadTarget.ifMatch, decided at the commit). */
  ifMatch?: string;
  ttlSeconds?: number;
  /**
   * A plain chunk's bytes again, when the server lost a chunk it had taken (a crash before
   * it was durable) or a garbage collection took one: a file can be read again, a stream
   * cannot (then the put fails, saying so).
   */
  reread?: (offset: number, size: number) => Promise<Uint8Array>;
  /** Called before the commit: a file must not have changed since it was read. */
  checkUnchanged?: () => Promise<void>;
  /**
   * Memory: plain bytes gathered before their ciphertext names are appended in one request
   * (default four maximum chunks), and ciphertext held waiting for a slot (default enough
   * to keep every slot busy twice over). A browser page uses less.
   */
  batchBytes?: number;
  heldBytes?: number;
  /** Keep the gathering session for the next run, and continue the one an earlier run of this upload left (a file only: its chunks are read again). */
  keepGathering?: ResumeSpec;
}

/** A gathering session an earlier run left: its id, how many chunks it names, which of them it still lacks. */
interface PriorGathering {
  id: string;
  named: number;
  missing: Set<string>;
}

/** The chunking parameters for plain chunks: the server's, the maximum lowered by the tag, so every ciphertext still fits. */
export function plainChunking(caps: Capabilities): Capabilities['chunking'] {
  const maxSize = caps.chunking.maxSize - E2E_CHUNK_OVERHEAD;
  return { ...caps.chunking, maxSize, avgSize: Math.min(caps.chunking.avgSize, maxSize), minSize: Math.min(caps.chunking.minSize, maxSize) };
}

/** One chunk of the file: where its plain bytes were, their key (the header's table), the ciphertext's name. */
interface Piece {
  plainOffset: number;
  key: PlainChunkKey;
  stored: { hash: string; size: number };
}

/** Chunks encrypted at once: node:crypto and Web Crypto both work while the next ones are hashed. */
const ENCRYPT_AHEAD = 4;

/** What step 1 leaves: every piece in order, the plain size, and for an input that ended within its first batch, the ciphertexts. */
interface Gathered {
  pieces: Piece[];
  size: number;
  /** Ciphertexts by stored hash, when no gathering session was needed (small inputs). */
  inMemory?: Map<string, Uint8Array>;
}

/**
 * Step 1: the plain chunks, encrypted, appended to the gathering session (opened with the
 * first batch); those the server lacks are sent from memory. An input that ends within its
 * first batch (a small file) needs no gathering session: its ciphertexts stay in memory
 * for the commit session, one session as for a plain file.
 */
async function gather(
  ctx: TransferContext,
  caps: Capabilities,
  openSession: () => Promise<string>,
  plain: AsyncIterable<PlainChunk>,
  keys: E2eKeys,
  memory: Pick<EncryptOnceOptions, 'batchBytes' | 'heldBytes'>,
  prior?: PriorGathering,
): Promise<Gathered> {
  const { client, signal } = ctx;
  let session: { id: string; sender: ChunkSender } | undefined = prior && { id: prior.id, sender: new ChunkSender(ctx, prior.id, caps) };
  // Ciphertext held in memory waiting for a slot: enough to keep every slot busy, no more.
  const maxHeld = memory.heldBytes ?? Math.max(2 * ctx.parallel * caps.chunking.maxSize, 2 * caps.limits.maxPackBytes);
  const maxBatchBytes = memory.batchBytes ?? 4 * caps.chunking.maxSize;
  const batchMax = Math.min(64, caps.limits.maxChunksPerRequest);
  const pieces: Piece[] = [];
  let size = 0;
  let batch: Array<Promise<{ piece: Piece; ciphertext: Uint8Array }>> = [];
  let batchBytes = 0;
  let inMemory: Map<string, Uint8Array> | undefined;
  const flush = async (last: boolean) => {
    if (batch.length === 0) return;
    const sealed = await Promise.all(batch);
    batch = [];
    batchBytes = 0;
    if (last && !session) {
      inMemory = new Map();
      for (const { piece, ciphertext } of sealed) {
        pieces.push(piece);
        inMemory.set(piece.stored.hash, ciphertext);
      }
      return;
    }
    if (!session) {
      const id = await openSession();
      session = { id, sender: new ChunkSender(ctx, id, caps) };
    }
    const { id, sender } = session;
    // The first `prior.named` chunks the continued session names already: appended again, its manifest would name them twice.
    const named = prior ? Math.max(0, Math.min(sealed.length, prior.named - pieces.length)) : 0;
    const appended = sealed.slice(named).map((s) => s.piece.stored);
    const { missing } = appended.length > 0 ? await client.appendChunks(id, appended, { signal }) : { missing: [] };
    const lacking = new Set(missing);
    for (const { piece } of sealed.slice(0, named)) if (prior!.missing.has(piece.stored.hash)) lacking.add(piece.stored.hash);
    for (const { piece, ciphertext } of sealed) {
      pieces.push(piece);
      const { hash, size: n } = piece.stored;
      if (lacking.has(hash) && sender.add({ hash, size: n, load: async () => ciphertext }, { held: true })) continue;
      ctx.progress.done(n);
      ctx.result.bytesReused += piece.key.size;
    }
    await sender.waitForRoom(maxHeld);
  };
  const encrypt = async (c: PlainChunk, plainOffset: number) => {
    try {
      const e = await encryptChunk(keys, c.data, fromHex(c.hash));
      const storedHash = await client.sha.digest([e.ciphertext]);
      return { piece: { plainOffset, key: { hash: e.hash, key: e.key, size: e.size }, stored: { hash: storedHash, size: e.ciphertext.length } }, ciphertext: e.ciphertext };
    } finally {
      c.release?.();
    }
  };
  try {
    for await (const c of plain) {
      throwIfAborted(signal);
      const p = encrypt(c, size);
      p.catch(() => undefined); // awaited in flush
      batch.push(p);
      size += c.size;
      batchBytes += c.size;
      // A few in flight; the batch goes out (one append) at 64 chunks or maxBatchBytes.
      if (batch.length % ENCRYPT_AHEAD === 0) await Promise.all(batch.slice(-ENCRYPT_AHEAD));
      if (batch.length >= batchMax || batchBytes >= maxBatchBytes) await flush(false);
    }
    await flush(true);
    await session?.sender.drain();
  } catch (err) {
    await Promise.allSettled(batch);
    await session?.sender.abandon();
    throw err;
  }
  return { pieces, size, inMemory };
}

/** The stored file as the upload flow sees it: header parts, then the ciphertext chunks. */
async function storedSource(
  client: FerryApi,
  caps: Capabilities,
  name: string,
  header: Uint8Array,
  { pieces, inMemory }: Gathered,
  keys: E2eKeys,
  options: EncryptOnceOptions,
  sent: Set<string>,
): Promise<ChunkSource> {
  const records: ChunkRecord[] = [];
  const headerParts = new Map<number, Uint8Array>();
  const byOffset = new Map<number, Piece>();
  let at = 0;
  for (let o = 0; o < header.length; o += caps.chunking.maxSize) {
    const part = header.subarray(o, o + caps.chunking.maxSize);
    headerParts.set(at, part);
    records.push({ offset: at, size: part.length, hash: await client.sha.digest([part]) });
    at += part.length;
  }
  for (const p of pieces) {
    byOffset.set(at, p);
    records.push({ offset: at, size: p.stored.size, hash: p.stored.hash });
    at += p.stored.size;
  }
  return {
    name,
    size: at,
    chunks: async function* () {
      yield records;
    },
    read: async (r) => {
      const h = headerParts.get(r.offset);
      if (h) return h;
      const p = byOffset.get(r.offset)!;
      sent.add(p.stored.hash);
      const held = inMemory?.get(p.stored.hash);
      if (held) return held;
      if (!options.reread) {
        throw ferryErrorOf('FERRY_ERR_UPLOAD_INCOMPLETE', `the server no longer has a chunk this upload sent (a server restart or a garbage collection); the input was a stream and cannot be read again: run the put again`, {
          details: { missing: [p.stored.hash] },
        });
      }
      // The same ciphertext again (its key and IV follow from the plain bytes); bytes that
      // changed meanwhile give another one, which the server refuses against its name.
      return (await encryptChunk(keys, await options.reread(p.plainOffset, p.key.size), p.key.hash)).ciphertext;
    },
    checkUnchanged: async () => options.checkUnchanged?.(),
  };
}

/**
 * Uploads plain chunks (cut with {@link plainChunking}) end-to-end encrypted to
 * `target.serverPath`, reading each once. The server records the upload time and mode
 * 0600; the real name, size and mtime are in the sealed table. `ctx.result` counts the
 * plain bytes (`bytes`, `bytesReused`) and what travelled (`bytesTransferred`: ciphertext
 * and header).
 */
export async function uploadEncryptedOnce(ctx: TransferContext, plain: AsyncIterable<PlainChunk>, target: EncryptOnceTarget, options: EncryptOnceOptions = {}): Promise<Entry> {
  const { client, signal } = ctx;
  const caps = await client.capabilities({ signal });
  // Before any byte is read: a --no-clobber put over an existing file, or a folder in the way, fails now.
  const existing = await client.statIfExists(target.serverPath, { signal });
  if (existing?.type === 'dir') throw ferryErrorOf('FERRY_ERR_IS_A_DIRECTORY', `${target.serverPath} is a folder: give the file's name too`);
  if (existing && options.noOverwrite) throw ferryErrorOf('FERRY_ERR_ALREADY_EXISTS', `${target.serverPath} exists (\`noOverwrite\`)`);
  const spec = options.keepGathering;
  const keeper = spec && new SessionKeeper(client, spec, JSON.stringify([spec.stamp, plainChunking(caps)]));
  const prior = await priorGathering(keeper, signal);
  let gatheringId: string | undefined = prior?.id;
  const openGathering = async () => {
    const session = await client.createUpload({ path: target.serverPath, mtime: Date.now(), mode: 0o600 }, { signal });
    gatheringId = session.id;
    await keeper?.remember(session.id);
    options.onSession?.(session.id);
    return session.id;
  };
  const dropGathering = async () => {
    const id = gatheringId;
    if (id === undefined) return;
    gatheringId = undefined;
    // Not with the operation's signal: it may be the abort that brought us here.
    await client.abortUpload(id, { signal: AbortSignal.timeout(10_000) }).catch(() => undefined);
    await keeper?.forget();
  };
  try {
    const gathered = await gather(ctx, caps, openGathering, plain, target.keys, options, prior);
    const { pieces, size } = gathered;
    const header = await sealHeader(target.keys, target.kdf, { name: target.name, size, mtime: target.mtime }, pieces.map((p) => p.key));
    const sent = new Set<string>();
    const source = await storedSource(client, caps, target.name, header.bytes, gathered, target.keys, options, sent);
    // The commit session counts its own figures (every chunk but the header's is "reused"
    // there); only what it sent is added to ours.
    const commit = async () => {
      const sub = new TransferContext(client, { signal, slots: ctx.slots, parallel: ctx.parallel });
      try {
        return await uploadFile(sub, source, { path: target.serverPath, mtime: Date.now(), mode: 0o600, noOverwrite: options.noOverwrite, ...(options.ifMatch !== undefined ? { ifMatch: options.ifMatch } : {}), ttlSeconds: options.ttlSeconds }, options);
      } finally {
        ctx.result.bytesTransferred += sub.result.bytesTransferred;
        ctx.result.wireBytes += sub.result.wireBytes;
        ctx.result.chunksTransferred += sub.result.chunksTransferred;
        ctx.progress.transferred(sub.result.bytesTransferred);
      }
    };
    let entry: Entry;
    try {
      entry = await commit();
    } catch (err) {
      if (!isFerryError(err, 'FERRY_ERR_QUOTA_EXCEEDED') || gatheringId === undefined) throw err;
      // Both sessions reserved the file's size (or took two session slots): give the
      // gathering one's back and try once more.
      await dropGathering();
      entry = await commit();
    }
    await dropGathering();
    if (gathered.inMemory) {
      // Sent (or found on the server) by the commit session alone.
      for (const p of pieces) {
        ctx.progress.done(p.stored.size);
        if (!sent.has(p.stored.hash)) ctx.result.bytesReused += p.key.size;
      }
    }
    ctx.result.files += 1;
    ctx.result.bytes += size;
    ctx.result.chunks += pieces.length;
    ctx.progress.fileDone();
    return entry;
  } catch (err) {
    // A kept session stays for the next run (which continues or aborts it).
    if (!keeper) await dropGathering();
    throw err;
  }
}

/** The gathering session an earlier run of this upload left, if the server still gives it (else it is forgotten or aborted). */
async function priorGathering(keeper: SessionKeeper | undefined, signal: AbortSignal): Promise<PriorGathering | undefined> {
  const prior = await keeper?.recall(signal);
  if (!prior) return undefined;
  if (prior.sealed || prior.entries === undefined) return void (await keeper!.giveUp(prior.id));
  return { id: prior.id, named: prior.entries[0], missing: new Set(prior.missing) };
}
