/**
 * The memory chunk and pack bodies may take, all requests together: one budget of bytes
 * (`--body-memory`, default 16 MiB) that a body must get room in before the server reads a
 * byte of it.
 *
 * A chunk body arrives in socket reads of 16-64 KiB. Streamed through a hashing Transform
 * into the backend's write, every piece went through two streams and a MiB of staging per
 * chunk, all garbage (the profile of a 1 GiB upload: 0.76 s of the server's CPU in the
 * collector). Copied as it arrives into one buffer, the chunk is then hashed in one call and
 * written in one write(2). So a body gets, in this order of preference:
 *
 *   - whole: a reused buffer of its Content-Length (rounded up to {@link ROUND_BYTES}); the
 *     buffers are kept between requests, and the kept ones count against the budget too;
 *   - a stream window: {@link STREAM_WINDOW} bytes of the budget for a body that streams
 *     through the verifying pipeline (what its streams' high-water marks let them hold);
 *   - neither: it waits, first come first served, and its request is not read meanwhile.
 *     Node stops reading a socket once the request's buffer passes its high-water mark, so
 *     a waiting request holds at most the one socket read that carried its head (64 KiB),
 *     the rest stays in the kernel and in the client (TCP flow control; HTTP/2 windows).
 *     The slow-client guard does not count that wait against the client (./slow-clients.ts).
 *
 * Before this, 16 bodies were read whole and every other one streamed: 200 clients sending
 * 4 chunks each had 800 bodies in flight, each with its streams' buffers, and the server
 * peaked at 270-425 MB (issue 15, workload 6). Whole bodies may take only
 * `budget - budget/4`: the last quarter is for stream windows, so that slow senders holding
 * whole buffers can never stop everyone else (a slow stream holds only its window).
 *
 * Compressed and delta bodies are read whole by the chunk store (a zstd frame is decoded in
 * one call); they reserve their wire length plus the chunk's size before they are read.
 *
 * One party (a user, or a drop box's visitors: the caller names it) may hold at most the
 * budget less {@link partyReserve}: the rest is always there for the others. A client that
 * sends its bodies just above the slow-client floor (`--body-min-rate`) holds its room for
 * as long as they take (a 4 MiB chunk at 2 KB/s: half an hour); without a cap two dozen such
 * requests of one user stopped every other upload of the server. A party's waiters held
 * back by its own cap do not hold up the queue behind them.
 */
import type { Readable } from 'node:stream';
import { AbortedError, SizeMismatchError } from '../core/errors.js';

/**
 * What a streamed body's pipeline holds at most: request buffer, verifier, sampling head, write
 * stream. Not counted: the local backend's 256 KiB write staging each streamed body also uses
 * (../backends/local/local-backend.ts), reused across writes (8 MiB of spares at most).
 */
export const STREAM_WINDOW = 256 * 1024;
/** Whole-body buffers are allocated in steps of this, so that one serves chunks of similar sizes. */
const ROUND_BYTES = 256 * 1024;
/**
 * The default budget (`--body-memory`). It was 32 MiB; with 200 clients uploading at once the
 * half of it gave the server a peak RSS ~35 MB lower (206 against 243 MB, the bench's
 * workload 6) and a single client's 1 GiB upload or download no slower (issue 15).
 */
export const DEFAULT_BODY_MEMORY = 16 * 1024 * 1024;

/**
 * The party a request's bodies count to: its user, or for a share link's visitors the link
 * (`share:<id>`); none for an admin, whom the server trusts with all of it (SECURITY.md).
 */
export function partyOf(auth: { userId: string; role: string; share?: { id: string } }): string | undefined {
  if (auth.share) return `share:${auth.share.id}`;
  return auth.role === 'admin' ? undefined : `user:${auth.userId}`;
}

/** What one party's bodies always leave to the others: 1 MiB of the default budget (four stream windows), at least one window. */
export function partyReserve(budget: number): number {
  return Math.max(STREAM_WINDOW, Math.floor(budget / 16));
}

/** Room a body got: a whole buffer, a reservation (read whole by the chunk store), or a stream window. */
export interface BodyLease {
  /** A buffer of at least the asked length (whole bodies only); the body goes to its start. */
  readonly buffer?: Buffer;
  readonly kind: 'whole' | 'reserved' | 'stream';
  /** Gives the room back; idempotent. The buffer's bytes may be overwritten from then on. */
  release(): void;
}

export interface BodyMemoryStats {
  budget: number;
  /** Bytes taken now: whole buffers (lent and kept), reservations and stream windows. */
  held: number;
  /** The most `held` has been since the server started. */
  peak: number;
  /** Requests waiting for room now. */
  waiting: number;
  /** Requests that had to wait, since the server started. */
  waits: number;
}

interface Waiter {
  admit: () => BodyLease | undefined;
  /** Whether the waiter's own party holds all it may (then the waiters behind it go first). */
  capped: () => boolean;
  resolve: (lease: BodyLease) => void;
  reject: (err: Error) => void;
}

export class BodyMemory {
  /** Whole buffers and reservations may take this much; the rest of the budget is for stream windows. */
  private readonly wholeCap: number;
  private held = 0;
  private peak = 0;
  /** Bytes of whole buffers lent and of reservations: what {@link wholeCap} limits. */
  private wholeInUse = 0;
  /** Whole buffers not lent now, kept for the next bodies (part of {@link held}). */
  private readonly free: Buffer[] = [];
  private freeBytes = 0;
  private readonly queue: Waiter[] = [];
  private waits = 0;
  /** The most one party may hold: the budget less {@link partyReserve}. */
  private readonly partyCap: number;
  /** The most one party may hold in whole buffers and reservations. */
  private readonly partyWholeCap: number;
  /** Bytes each party's leases hold now, all and whole ones (parties with none are not kept). */
  private readonly parties = new Map<string, { held: number; whole: number }>();

  /**
   * `wholeRoom`: of the room for whole buffers and reservations, what one party always leaves
   * to the others (a budget lent only as reservations, for chunks of up to N bytes: N, so
   * that another's chunk always fits; by default none, the others streaming in windows).
   */
  constructor(readonly budget: number = DEFAULT_BODY_MEMORY, wholeRoom = 0) {
    if (!(budget >= 4 * STREAM_WINDOW)) throw new RangeError(`the body memory budget must be at least ${4 * STREAM_WINDOW} bytes`);
    this.wholeCap = budget - Math.floor(budget / 4);
    this.partyCap = budget - partyReserve(budget);
    this.partyWholeCap = this.wholeCap - wholeRoom;
  }

  /** The largest reservation {@link admit} can ever grant (bigger ones are refused at once). */
  get largestWhole(): number {
    return this.wholeCap;
  }

  stats(): BodyMemoryStats {
    return { budget: this.budget, held: this.held, peak: this.peak, waiting: this.queue.length, waits: this.waits };
  }

  /**
   * Room for a raw chunk body of `length` bytes: a whole buffer, else a stream window; waits
   * while there is room for neither. `signal` (the request closing) ends the wait with
   * FERRY_ERR_ABORTED. `party` (who the body is for) holds at most the budget less
   * {@link partyReserve}, all its leases together; unnamed, no such cap.
   */
  admitChunk(length: number, signal?: AbortSignal, party?: string): Promise<BodyLease> {
    return this.enqueue(
      () => this.whole(length, party) ?? (this.partyFits(party, STREAM_WINDOW, false) ? this.window(party) : undefined),
      () => !this.partyFits(party, STREAM_WINDOW, false),
      signal,
    );
  }

  /**
   * A reservation of `bytes` for a body the chunk store reads whole (a zstd frame and its
   * decoded chunk, a pack); waits for room. More than {@link largestWhole} is a RangeError:
   * the caller's limits must keep reservations within it.
   */
  reserve(bytes: number, signal?: AbortSignal, party?: string): Promise<BodyLease> {
    if (bytes > this.wholeCap) return Promise.reject(new RangeError(`${bytes} bytes of body memory asked, at most ${this.wholeCap} can be given`));
    return this.enqueue(() => (this.partyFits(party, bytes, true) ? this.reservation(bytes, party) : undefined), () => !this.partyFits(party, bytes, true), signal);
  }

  /** A reservation of `bytes` now, or undefined (never waits: a body already being read must not wait for others). */
  tryReserve(bytes: number, party?: string): BodyLease | undefined {
    return this.queue.every((w) => w.capped()) && this.partyFits(party, bytes, true) ? this.reservation(bytes, party) : undefined;
  }

  /** Whether `party` may take `bytes` more (`whole`: as a whole buffer or a reservation). */
  private partyFits(party: string | undefined, bytes: number, whole: boolean): boolean {
    if (party === undefined) return true;
    const p = this.parties.get(party);
    return (p?.held ?? 0) + bytes <= this.partyCap && (!whole || (p?.whole ?? 0) + bytes <= this.partyWholeCap);
  }

  private enqueue(admit: () => BodyLease | undefined, capped: () => boolean, signal?: AbortSignal): Promise<BodyLease> {
    if (signal?.aborted) return Promise.reject(new AbortedError('the request closed before its body was read'));
    if (this.queue.every((w) => w.capped())) {
      const lease = admit();
      if (lease) return Promise.resolve(lease);
    }
    this.waits++;
    return new Promise<BodyLease>((resolve, reject) => {
      const waiter: Waiter = { admit, capped, resolve, reject };
      this.queue.push(waiter);
      signal?.addEventListener(
        'abort',
        () => {
          const at = this.queue.indexOf(waiter);
          if (at < 0) return;
          this.queue.splice(at, 1);
          reject(new AbortedError('the request closed while it waited for memory'));
          this.drain();
        },
        { once: true },
      );
    });
  }

  /** Admits waiters in order while the first one fits, passing over those their own party's cap holds back. */
  private drain(): void {
    for (let i = 0; i < this.queue.length; ) {
      const waiter = this.queue[i];
      if (waiter.capped()) {
        i++;
        continue;
      }
      const lease = waiter.admit();
      if (!lease) return;
      this.queue.splice(i, 1);
      waiter.resolve(lease);
    }
  }

  private whole(length: number, party?: string): BodyLease | undefined {
    let best = -1;
    for (let i = 0; i < this.free.length; i++) {
      if (this.free[i].length >= length && (best < 0 || this.free[i].length < this.free[best].length)) best = i;
    }
    let buf: Buffer;
    if (best >= 0 && this.wholeInUse + this.free[best].length <= this.wholeCap && this.partyFits(party, this.free[best].length, true)) {
      buf = this.free.splice(best, 1)[0];
      this.freeBytes -= buf.length;
    } else {
      const size = Math.ceil(length / ROUND_BYTES) * ROUND_BYTES;
      if (this.wholeInUse + size > this.wholeCap || !this.partyFits(party, size, true) || !this.makeRoom(size)) return undefined;
      // Not from Node's shared pool, and not a SharedArrayBuffer: a dropped one is collected
      // like any other memory (V8 counts it towards starting a collection).
      buf = Buffer.allocUnsafeSlow(size);
      this.take(size);
    }
    this.wholeInUse += buf.length;
    return this.lease('whole', party, buf.length, () => {
      this.wholeInUse -= buf.length;
      this.free.push(buf);
      this.freeBytes += buf.length;
    }, buf);
  }

  private reservation(bytes: number, party?: string): BodyLease | undefined {
    if (this.wholeInUse + bytes > this.wholeCap || !this.makeRoom(bytes)) return undefined;
    this.take(bytes);
    this.wholeInUse += bytes;
    return this.lease('reserved', party, bytes, () => {
      this.wholeInUse -= bytes;
      this.held -= bytes;
    });
  }

  private window(party?: string): BodyLease | undefined {
    if (!this.makeRoom(STREAM_WINDOW)) return undefined;
    this.take(STREAM_WINDOW);
    return this.lease('stream', party, STREAM_WINDOW, () => {
      this.held -= STREAM_WINDOW;
    });
  }

  /**
   * Drops the whole buffers kept for the next bodies (up to three quarters of the budget),
   * for the collector to free: the server calls it when it idles after traffic.
   */
  dropKept(): void {
    this.held -= this.freeBytes;
    this.free.length = 0;
    this.freeBytes = 0;
  }

  /** Whether `bytes` more fit in the budget, dropping kept buffers (largest first) when that makes them fit. */
  private makeRoom(bytes: number): boolean {
    if (this.held - this.freeBytes + bytes > this.budget) return false;
    this.free.sort((a, b) => a.length - b.length);
    while (this.held + bytes > this.budget) {
      const dropped = this.free.pop()!;
      this.freeBytes -= dropped.length;
      this.held -= dropped.length;
    }
    return true;
  }

  private take(bytes: number): void {
    this.held += bytes;
    if (this.held > this.peak) this.peak = this.held;
  }

  /** A lease of `bytes` counted to `party` (when named) until it is released. */
  private lease(kind: BodyLease['kind'], party: string | undefined, bytes: number, giveBack: () => void, buffer?: Buffer): BodyLease {
    let released = false;
    const whole = kind === 'stream' ? 0 : bytes;
    if (party !== undefined) {
      const p = this.parties.get(party) ?? { held: 0, whole: 0 };
      this.parties.set(party, { held: p.held + bytes, whole: p.whole + whole });
    }
    return {
      kind,
      ...(buffer ? { buffer } : {}),
      release: () => {
        if (released) return;
        released = true;
        giveBack();
        if (party !== undefined) {
          const p = this.parties.get(party)!;
          if (p.held > bytes) this.parties.set(party, { held: p.held - bytes, whole: p.whole - whole });
          else this.parties.delete(party);
        }
        this.drain();
      },
    };
  }
}

/**
 * Reads a body of exactly `length` bytes into the start of `buf`. More or fewer bytes than
 * `length` reject with FERRY_ERR_SIZE_MISMATCH; a body cut short, FERRY_ERR_ABORTED. The rest
 * of a refused body is read and dropped, not destroyed: the HTTP layer still answers the request.
 */
export function readWholeBody(body: Readable, length: number, buf: Buffer): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    let n = 0;
    let failed = false;
    const fail = (err: Error): void => {
      if (failed) return;
      failed = true;
      reject(err);
    };
    body.on('data', (piece: Buffer) => {
      if (failed) return;
      if (n + piece.length > length) {
        fail(new SizeMismatchError(`the body holds more than the announced ${length} bytes`));
        return;
      }
      piece.copy(buf, n);
      n += piece.length;
    });
    body.once('end', () => {
      if (failed) return;
      if (n !== length) {
        fail(new SizeMismatchError(`${n} bytes arrived, ${length} announced`));
        return;
      }
      resolve(buf.subarray(0, length));
    });
    body.once('error', (err) => fail(err));
    body.once('close', () => {
      if (!body.readableEnded) fail(new AbortedError('the body ended before it was complete'));
    });
  });
}
