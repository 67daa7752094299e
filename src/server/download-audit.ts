/**
 * Downloads in the audit log, once per transfer: a client fetches one file as a whole GET,
 * as several ranged GETs (resumed or parallel), or as its manifest and then chunk by chunk.
 * Each of those first requests records `file.download`; the same token (or share link)
 * fetching the same content of the same path again within DOWNLOAD_WINDOW_MS is the same
 * transfer and is not recorded again. Chunk requests that name no file are not downloads of
 * a file (they serve sync's dedup) and are not recorded.
 */
import type { FastifyRequest } from 'fastify';
import type { AuditLog } from './audit.js';

const DOWNLOAD_WINDOW_MS = 10 * 60_000;
const MAX_REMEMBERED = 20_000;

export interface DownloadFacts {
  /** Server path. */
  path: string;
  hash: string;
  size: number;
  /** How: `file` (GET /files), `manifest`, `chunk`, `batch`, `share`. */
  via: string;
  /** The first range asked for (`bytes=START-END`), when partial. */
  range?: string;
  /** Whose download, when the request has no authenticated identity (share links). */
  as?: { userId: string; userName: string; tokenId: string };
}

/**
 * Keys seen within DOWNLOAD_WINDOW_MS, in memory (per node; the oldest forgotten first past
 * MAX_REMEMBERED): what makes a repeated request of one transfer one audit entry.
 */
export class OnceWithin {
  private readonly seen = new Map<string, number>();

  constructor(private readonly now: () => number) {}

  /** Whether `key` was not seen in the window (and remembers it now if so). */
  first(key: string): boolean {
    const now = this.now();
    const last = this.seen.get(key);
    if (last !== undefined && now - last < DOWNLOAD_WINDOW_MS) return false;
    this.seen.delete(key);
    this.seen.set(key, now);
    if (this.seen.size > MAX_REMEMBERED) this.seen.delete(this.seen.keys().next().value!);
    return true;
  }
}

export class DownloadAudit {
  private readonly once: OnceWithin;

  constructor(
    private readonly audit: AuditLog,
    now: () => number,
  ) {
    this.once = new OnceWithin(now);
  }

  async record(request: FastifyRequest, d: DownloadFacts): Promise<void> {
    const who = d.as?.tokenId ?? request.auth?.tokenId ?? request.ip;
    if (!this.once.first(`${who}\0${d.path}\0${d.hash}`)) return;
    await this.audit.record(request, {
      event: 'file.download',
      ok: true,
      path: d.path,
      target: d.path,
      ...(d.as ? { userId: d.as.userId, userName: d.as.userName, tokenId: d.as.tokenId } : {}),
      details: { size: d.size, hash: d.hash, via: d.via, ...(d.range ? { range: d.range } : {}) },
    });
  }
}
