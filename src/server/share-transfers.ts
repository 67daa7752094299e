/**
 * How a share link with a download limit (`--max-downloads N`, `maxUses`) counts downloads
 * when they come in pieces.
 *
 * The rule: a GET without Range (or whose Range is ignored: an If-Range that no longer
 * matches) is a new download and uses one of the link's downloads. A Range request is a
 * new download too, unless it continues one already counted for the same file content
 * (ETag), from the same address, within {@link TRANSFER_WINDOW_MS}: then it draws on that
 * download's byte budget instead, which is twice the file's size. So resuming, fetching in
 * parallel segments, or retrying a piece is free, while `curl -r 1-` in a loop (the bypass
 * of issue 10) soon counts again: a link with N downloads serves at most 2 N times the
 * file's bytes, whatever the requests look like.
 *
 * Bytes are charged as the server writes them: the budget is reserved for the whole range
 * when a request starts (so parallel requests cannot overdraw it), and what was not sent
 * (the client hung up) is given back when it ends. The slack of one extra file size covers
 * what a broken connection loses in socket buffers and what segmented downloaders overlap.
 *
 * The open transfers live in memory, per node: a continuation that reaches another node of
 * a cluster, or comes after a restart, counts as a new download (never the other way).
 */

/** How long a counted download may be continued by Range requests. */
export const TRANSFER_WINDOW_MS = 24 * 3600_000;
/** Open transfers remembered at most (the oldest are forgotten first: they then count again). */
const MAX_TRANSFERS = 20_000;

/** Bytes reserved for one response; `settle` with the bytes actually sent gives the rest back. */
export interface Reservation {
  settle(sent: number): void;
}

interface Transfer {
  left: number;
  expires: number;
}

export class ShareTransfers {
  private readonly open = new Map<string, Transfer>();

  constructor(
    private readonly now: () => number,
    private readonly windowMs = TRANSFER_WINDOW_MS,
    private readonly maxTransfers = MAX_TRANSFERS,
  ) {}

  /** The transfer key of a file of a link as one client fetches it. */
  static key(shareId: string, path: string, etag: string, address: string): string {
    return `${shareId}\u0000${path}\u0000${etag}\u0000${address}`;
  }

  /**
   * A Range request of `length` bytes: reserves them from the open transfer under `key` if
   * it has that much left; undefined if it has not (or there is none): count a new download
   * and call {@link start}.
   */
  continue(key: string, length: number): Reservation | undefined {
    const t = this.open.get(key);
    if (!t) return undefined;
    if (t.expires <= this.now()) {
      this.open.delete(key);
      return undefined;
    }
    if (t.left < length) return undefined;
    return this.reserve(t, length);
  }

  /** A counted download of a file of `size` bytes whose first response sends `length`: opens (or renews) the transfer. */
  start(key: string, size: number, length: number): Reservation {
    this.open.delete(key); // re-inserted last: Map order is age order for the pruning below
    if (this.open.size >= this.maxTransfers) this.prune();
    const t: Transfer = { left: 2 * size, expires: this.now() + this.windowMs };
    this.open.set(key, t);
    return this.reserve(t, length);
  }

  /** Forgets the transfer under `key` (its download was not counted after all). */
  drop(key: string): void {
    this.open.delete(key);
  }

  get size(): number {
    return this.open.size;
  }

  private reserve(t: Transfer, length: number): Reservation {
    t.left -= length;
    let settled = false;
    return {
      settle: (sent: number) => {
        if (settled) return;
        settled = true;
        t.left += Math.max(0, length - sent);
      },
    };
  }

  /** Drops expired transfers, then the oldest until there is room. */
  private prune(): void {
    const now = this.now();
    for (const [k, t] of this.open) if (t.expires <= now) this.open.delete(k);
    for (const k of this.open.keys()) {
      if (this.open.size < this.maxTransfers) break;
      this.open.delete(k);
    }
  }
}
