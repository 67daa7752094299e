/**
 * A file opened for writing over SFTP. Whatever the client does with it, the file changes
 * once, atomically, at CLOSE (through ingest(): chunks, dedup, quota, one commit), and a
 * reader never sees a part of it. Memory stays bounded whatever the file's size and the
 * order of the writes.
 *
 * Two ways to get there:
 *
 * - streaming (what OpenSSH, scp, rclone, FileZilla and WinSCP do: writes in offset order):
 *   each write at the next offset goes straight into the ingest (cut, hashed and stored
 *   while the transfer goes on); writes a little ahead of the next offset (several requests
 *   in flight, reordered) wait in memory, up to REORDER_BYTES, until the gap is filled.
 * - spooling (anything else: a write behind what was already streamed, reordering beyond
 *   that bound, a read or a truncation of the open file; sshfs does these): what was
 *   streamed so far is kept as a partial upload, and from then on writes land in a sparse
 *   spool file on disk (./spool.ts). At CLOSE the file's bytes (the spool where written,
 *   else the earlier content, else zeros) stream into one ingest and commit.
 *
 * Earlier content: a file opened without TRUNC keeps the bytes it had where they are not
 * written again (an append, `reput`/`put -a`, an edit in place), and a resumed partial
 * upload is earlier content too. Where that content begins with whole chunks that the new
 * file keeps unchanged, those chunks are reused as they are (the ingest's `prefix`): a
 * resumed 10 GiB upload re-reads one chunk, not 10 GiB. A resumed partial upload must go on
 * from its end: bytes between it and the writes would be zeros nobody sent, so such a file is
 * refused at CLOSE (see checkResumedWhole).
 *
 * If the session ends without CLOSE (the connection dropped, the client was killed), what
 * was streamed in order is kept as a resumable partial upload (invisible to readers) that
 * `reput` continues; what was spooled is dropped.
 */
import type { ChunkRef } from '../../core/manifest.js';
import { OffsetMismatchError, ValidationError } from '../../core/errors.js';
import type { Entry } from '../../core/protocol.js';
import type { ServerContext } from '../context.js';
import type { AuthContext } from '../authz.js';
import type { BodyLease } from '../chunk-bodies.js';
import { ingest, ingestMinimum, type IngestFinish, type IngestResult } from '../ingest.js';
import { ChunkContent } from './chunk-content.js';
import { PushBody } from './push-body.js';
import type { SftpFile } from './sftp-session.js';
import { attrsOf } from './attrs.js';
import type { Attrs } from './sftp-packets.js';
import type { SpoolDir, SpoolFile } from './spool.js';

/** Out-of-order bytes held in memory per file before it spools to disk. */
const REORDER_BYTES = 8 * 1024 * 1024;
/** Out-of-order writes held in memory per file before it spools to disk (each is a pass over the others). */
const REORDER_WRITES = 1024;
/**
 * Bytes of holes (zeros the server makes up: a write past the end, a size extended by
 * setstat) a file may have beyond those the client sent. Ferry stores files whole, so a hole
 * is cut, hashed and stored like sent bytes: one write of a byte at 1 TB was hours of CPU.
 */
export const HOLE_ALLOWANCE = 64 * 1024 * 1024;
/** Bytes queued between the WRITE requests and the chunker. */
const QUEUE_BYTES = 4 * 1024 * 1024;
/** The ingest memory a file's stream takes: a stream of unknown length's admission and the queue in front of it. */
export const streamRoom = (ctx: ServerContext): number => ingestMinimum(ctx.config.chunking) + QUEUE_BYTES;
/** Zeros for holes (a write past the end, a size extended by setstat). */
const ZEROS = Buffer.alloc(1024 * 1024);
/** The quota is checked against a spooled file's size every time it grows by this much. */
const SPOOL_QUOTA_STEP = 64 * 1024 * 1024;

export interface UploadEnv {
  ctx: ServerContext;
  /** The uploader, as they are now (a key revoked meanwhile fails the next call). */
  auth(): Promise<AuthContext>;
  /** The same check for every WRITE, done at most once a second. */
  recheck(): Promise<void>;
  /** A write or the commit was refused (quota, size, permission): for the audit log. */
  refused(err: unknown): Promise<void>;
  spool: SpoolDir;
  /**
   * Room in the server's ingest memory for one stream of `bytes` (waits for it; null: none to
   * be had without waiting, see FerryFs.admitUpload). Released by the ingest it is given to.
   */
  admit(bytes: number): Promise<BodyLease | null>;
  /** After the commit (audit, the session's view of open files). */
  committed(entry: Entry, upload: Upload): Promise<void>;
  /** After a CLOSE or an abandon, whatever happened. */
  ended(upload: Upload): void;
}

export interface UploadOptions {
  /** The uploader at OPEN: the limits each write is checked against. */
  auth: AuthContext;
  /** Server path. */
  path: string;
  /** Content kept where not written again (empty with TRUNC or for a new file). */
  base: ChunkContent;
  /** The base is the uploader's own partial upload (its chunks are theirs already). */
  baseIsOwn: boolean;
  /** The id of that partial upload, which this upload supersedes (see IngestRequest.supersedes). */
  partial?: string;
  /** APPEND: every write goes to the end, whatever its offset. */
  append: boolean;
  /** EXCL: fail at commit if the path exists by then. */
  noOverwrite: boolean;
  /** The file changes at CLOSE even if nothing is written (a new file, TRUNC). */
  mustCommit: boolean;
  /** Mode bits from OPEN's attributes. */
  mode?: number;
}

interface Pending {
  offset: number;
  data: Buffer;
}

interface Streaming {
  body: PushBody;
  result: Promise<IngestResult>;
  /** File offset of the next byte the ingest takes. */
  next: number;
  /** Writes ahead of `next`, sorted by offset, not overlapping. */
  pending: Pending[];
  pendingBytes: number;
  /** Set before the body ends: keep what was streamed instead of committing it. */
  keep: boolean;
}

export class Upload implements SftpFile {
  /** Logical size: the earlier content's, grown by writes and setstat. */
  size: number;
  /** Bytes the client sent (and copy-data wrote). */
  received = 0;
  /** Of those, bytes copy-data wrote, and the one file they came from (null: from several). */
  private copied = 0;
  private copiedFrom?: string | null;
  /** Where a resumed upload began (the earlier content's size at the first write). */
  resumedFrom = 0;
  private base: ChunkContent;
  private stream?: Streaming;
  private spool?: SpoolFile;
  private touched = false;
  private mtime?: number;
  private mode?: number;
  private failure: unknown;
  private done = false;
  private spoolQuotaAt = SPOOL_QUOTA_STEP;
  /** Size of the earlier content when the file was opened. */
  private readonly baseSize: number;

  constructor(
    private readonly env: UploadEnv,
    readonly opts: UploadOptions,
  ) {
    this.base = opts.base;
    this.size = opts.base.size;
    this.baseSize = opts.base.size;
    this.mode = opts.mode;
  }

  /** Refuses a size that would need more than {@link HOLE_ALLOWANCE} bytes of zeros beyond the earlier content and what the client sent. */
  private checkHoles(size: number): void {
    const most = this.baseSize + this.received + HOLE_ALLOWANCE;
    if (size > most) {
      throw new ValidationError(`${size} bytes would leave ${size - this.baseSize - this.received} bytes never sent (a hole): Ferry stores files whole and takes at most ${HOLE_ALLOWANCE} bytes of holes; write the bytes`, {
        details: { size, allowance: HOLE_ALLOWANCE },
      });
    }
  }

  get path(): string {
    return this.opts.path;
  }

  /**
   * The file this one is a copy of: all its bytes came from one file by copy-data (OpenSSH's
   * `cp`), none from the client and none kept from before; else undefined.
   */
  get copyOf(): string | undefined {
    const whole = this.copied > 0 && this.copied === this.received && this.baseSize === 0 && this.copied === this.size;
    return whole && this.copiedFrom ? this.copiedFrom : undefined;
  }

  async write(offset: number, data: Buffer, hold?: () => () => void, copiedFrom?: SftpFile): Promise<void> {
    this.check();
    await this.env.recheck();
    if (this.opts.append) offset = this.size;
    const end = offset + data.length;
    try {
      this.env.ctx.quota.checkFileSize(this.opts.auth, this.path, end);
      this.received += data.length;
      if (copiedFrom) {
        this.copied += data.length;
        this.copiedFrom = this.copiedFrom === undefined || this.copiedFrom === copiedFrom.origin ? (copiedFrom.origin ?? null) : null;
      }
      if (end > this.size) this.checkHoles(end);
      if (data.length === 0) return;
      this.touched = true;
      if (end > this.size) this.size = end;
      if (!this.stream && !this.spool) await this.startStream(offset);
      if (this.stream) await this.streamWrite(offset, data, hold);
      else await this.spoolWrite(offset, data);
    } catch (err) {
      const first = this.failure === undefined;
      this.failure ??= err;
      if (first) await this.env.refused(err);
      throw err;
    }
  }

  async read(offset: number, length: number): Promise<Buffer[] | null> {
    this.check();
    if (offset >= this.size) return null;
    await this.toSpool();
    const parts: Buffer[] = [];
    for await (const p of this.merged(offset, Math.min(this.size, offset + length))) parts.push(p);
    return parts;
  }

  async stat(): Promise<Attrs> {
    return attrsOf({ type: 'file', size: this.size, mtime: this.mtime ?? this.env.ctx.now(), mode: this.mode });
  }

  async setstat(attrs: Attrs): Promise<void> {
    this.check();
    if (attrs.mtime !== undefined) this.mtime = attrs.mtime * 1000;
    if (attrs.permissions !== undefined) this.mode = attrs.permissions & 0o7777;
    if (attrs.size !== undefined && attrs.size !== this.size) await this.resize(attrs.size);
  }

  async close(): Promise<void> {
    this.check();
    this.done = true;
    try {
      if (this.stream) await this.finishStream();
      else if (this.spool || this.touched || this.opts.mustCommit) await this.commitWhole();
      else if (this.mtime !== undefined || this.mode !== undefined) {
        // Opened for writing, never written: only attributes change (sshfs's utimens, `touch`).
        await this.env.ctx.meta.setAttributes(this.path, { mtime: this.mtime, mode: this.mode });
      }
    } catch (err) {
      await this.env.refused(err);
      throw err;
    } finally {
      await this.cleanUp();
    }
  }

  async abandon(): Promise<void> {
    if (this.done) return;
    this.done = true;
    try {
      if (this.stream && this.failure === undefined) {
        // What arrived in order stays, as a partial upload `reput` continues.
        const s = this.stream;
        s.keep = true;
        s.pending = [];
        s.body.end();
        await s.result.catch(() => undefined);
      }
    } finally {
      await this.cleanUp();
    }
  }

  private check(): void {
    if (this.failure !== undefined) throw this.failure;
    if (this.done) throw new Error('the file is closed');
  }

  private async cleanUp(): Promise<void> {
    if (this.stream && !this.stream.keep) this.stream.body.fail(new Error('the upload ended'));
    await this.spool?.remove();
    this.env.ended(this);
  }

  // ---------------------------------------------------------------- streaming

  /**
   * Starts the ingest for a first write at `offset`: the earlier content before it is kept
   * (its whole chunks as the ingest's prefix, the rest of its bytes fed again).
   */
  private async startStream(offset: number): Promise<void> {
    const headEnd = Math.min(offset, this.base.size);
    const { chunks, end } = this.prefixUpTo(headEnd);
    this.resumedFrom = headEnd;
    const auth = await this.env.auth();
    if (!this.opts.baseIsOwn && chunks.length > 0) {
      // Bytes of a file the uploader may read (checked at OPEN) become theirs to build on.
      await this.env.ctx.meta.addChunkOwners(auth.userId, chunks.map((c) => c.hash));
    }
    // Before a byte is queued: the WRITE waits (unanswered) for the memory the stream takes.
    const room = await this.env.admit(streamRoom(this.env.ctx));
    const body = new PushBody(QUEUE_BYTES);
    const s: Streaming = { body, next: end, pending: [], pendingBytes: 0, keep: false, result: Promise.resolve({ kept: { id: '', size: 0, chunks: [] } }) };
    s.result = ingest(this.env.ctx, {
      auth,
      path: this.path,
      body,
      prefix: chunks,
      ...(this.opts.partial ? { supersedes: this.opts.partial } : {}),
      noOverwrite: this.opts.noOverwrite,
      finish: (): IngestFinish => (s.keep ? { keep: true } : { mtime: this.mtime, mode: this.mode }),
      admitted: room,
    });
    s.result.catch((err: unknown) => {
      this.failure ??= err;
      body.fail(err);
    });
    this.stream = s;
    await this.feedFrom(end, headEnd);
  }

  /** The earlier content's leading whole chunks that end by `limit` (never its last chunk, cut by the end of the file, not by content). */
  private prefixUpTo(limit: number): { chunks: ChunkRef[]; end: number } {
    const head = this.base.head;
    if (!head || head.at !== 0 || head.from !== 0) return { chunks: [], end: 0 };
    const out: ChunkRef[] = [];
    let end = 0;
    for (let i = 0; i < head.chunks.length - 1; i++) {
      const next = end + head.chunks[i].size;
      if (next > limit || next > head.to) break;
      out.push(head.chunks[i]);
      end = next;
    }
    return { chunks: out, end };
  }

  private async streamWrite(offset: number, data: Buffer, hold?: () => () => void): Promise<void> {
    const s = this.stream!;
    const end = offset + data.length;
    const overlapsPending = s.pending.some((p) => p.offset < end && offset < p.offset + p.data.length);
    if (offset < s.next || overlapsPending) {
      await this.toSpool();
      return this.spoolWrite(offset, data);
    }
    if (offset > s.next) {
      // Kept until the gap fills: a copy (the session reuses `data`'s buffer).
      const at = s.pending.findIndex((p) => p.offset > offset);
      s.pending.splice(at === -1 ? s.pending.length : at, 0, { offset, data: Buffer.from(data) });
      s.pendingBytes += data.length;
      if (s.pendingBytes > REORDER_BYTES || s.pending.length > REORDER_WRITES) await this.toSpool();
      return;
    }
    await this.feed(data, hold?.());
    while (s.pending.length > 0 && s.pending[0].offset === s.next) {
      const p = s.pending.shift()!;
      s.pendingBytes -= p.data.length;
      await this.feed(p.data);
    }
  }

  private async feed(data: Buffer, done?: () => void): Promise<void> {
    const s = this.stream!;
    s.next += data.length;
    await s.body.push(data, done);
  }

  /** Feeds [from, to) of the file as it stands without further writes: earlier content, then zeros. */
  private async feedFrom(from: number, to: number): Promise<void> {
    const baseEnd = Math.min(to, this.base.size);
    if (from < baseEnd) for await (const piece of this.base.range(from, baseEnd)) await this.feed(piece);
    for (let at = Math.max(from, baseEnd); at < to; at += ZEROS.length) await this.feed(ZEROS.subarray(0, Math.min(ZEROS.length, to - at)));
  }

  private async finishStream(): Promise<void> {
    const s = this.stream!;
    this.checkResumedWhole(s);
    for (const p of s.pending) {
      await this.feedFrom(s.next, p.offset);
      await this.feed(p.data);
    }
    s.pending = [];
    await this.feedFrom(s.next, this.size);
    s.body.end();
    const r = await s.result;
    if (r.entry) await this.env.committed(r.entry, this);
  }

  /**
   * A resumed partial upload (`reput`) must go on where it ends: a client learns that end only
   * from STAT, and on several nodes the partial upload OPEN finds may be another, shorter one
   * (a stalled connection's, recorded since). Bytes between its end and the first write would
   * be zeros nobody sent, so the file is refused instead (the partial upload stays to resume).
   */
  private checkResumedWhole(s: Streaming): void {
    const gaps: [number, number][] = [];
    let at = s.next;
    for (const p of s.pending) {
      gaps.push([at, p.offset]);
      at = p.offset + p.data.length;
    }
    gaps.push([at, this.size]);
    this.refuseResumedGap(gaps);
  }

  /**
   * The same rule for a resumed upload that went to the spool file (out-of-order writes or
   * reads, as sshfs does): past the earlier content (the partial upload, and what was streamed
   * in order before the spool), every byte up to the size must have been written.
   */
  private checkResumedSpool(): void {
    const gaps: [number, number][] = [];
    let at = this.base.size;
    for (const [a, b] of this.spool ? this.spool.written.within(at, this.size) : []) {
      gaps.push([at, a]);
      at = b;
    }
    gaps.push([at, this.size]);
    this.refuseResumedGap(gaps);
  }

  /**
   * Refuses a resumed upload with bytes never sent past the partial upload's end (`gaps`: the
   * unsent ranges). Only a resume is held to this. A write past the end of a file written
   * afresh is legal and leaves zeros before it, as OpenSSH's sftp-server does (process_write:
   * lseek(2) to the offset asked, then write(2)) under POSIX's rule for lseek: "If data is
   * later written at this point, subsequent reads of data in the gap shall return bytes with
   * the value 0"; Ferry takes such holes within HOLE_ALLOWANCE.
   */
  private refuseResumedGap(gaps: [number, number][]): void {
    if (this.opts.partial === undefined) return;
    const gap = gaps.find(([from, to]) => Math.max(from, this.baseSize) < to);
    if (!gap) return;
    const from = Math.max(gap[0], this.baseSize);
    throw new OffsetMismatchError(
      `the interrupted upload this continues holds ${this.baseSize} bytes, but bytes ${from} to ${gap[1]} were never sent (another connection may have changed it since it was looked up): nothing was stored, resume again (reput)`,
      { details: { offset: this.baseSize } },
    );
  }

  // ---------------------------------------------------------------- spooling

  /**
   * From streaming (or nothing yet) to spooling: what was streamed is kept as a partial
   * upload and becomes the earlier content up to where it reached; writes waiting for a gap
   * move to the spool file.
   */
  private async toSpool(): Promise<void> {
    if (this.spool) return;
    this.spool = await this.env.spool.create();
    const s = this.stream;
    if (!s) return;
    this.stream = undefined;
    const reached = s.next;
    s.keep = true;
    s.body.end();
    const r = await s.result;
    if (r.kept && r.kept.size > 0) {
      this.base = ChunkContent.join(this.env.ctx.chunks, [{ chunks: r.kept.chunks, at: 0, from: 0, to: reached }], reached, this.base);
    }
    for (const p of s.pending) await this.spool.write(p.offset, p.data);
  }

  private async spoolWrite(offset: number, data: Buffer): Promise<void> {
    await this.spool!.write(offset, data);
    if (this.size >= this.spoolQuotaAt) {
      this.spoolQuotaAt = this.size + SPOOL_QUOTA_STEP;
      await this.env.ctx.quota.checkGrowth(this.opts.auth, this.path, this.size);
    }
  }

  private async resize(size: number): Promise<void> {
    this.env.ctx.quota.checkFileSize(this.opts.auth, this.path, size);
    if (size > this.size) this.checkHoles(size);
    this.touched = true;
    if (size < this.size) {
      await this.toSpool();
      this.spool!.truncate(size);
      this.base = this.base.truncated(size);
    }
    this.size = size;
  }

  /** The file's bytes in [from, to): the spool where written, else the earlier content, else zeros. */
  private async *merged(from: number, to: number): AsyncGenerator<Buffer> {
    let at = from;
    const written = this.spool ? this.spool.written.within(from, to) : [];
    for (const [a, b] of [...written, [to, to] as [number, number]]) {
      if (at < a) {
        const baseEnd = Math.min(a, this.base.size);
        if (at < baseEnd) yield* this.base.range(at, baseEnd);
        for (let z = Math.max(at, baseEnd); z < a; z += ZEROS.length) yield ZEROS.subarray(0, Math.min(ZEROS.length, a - z));
      }
      for (let p = a; p < b; p += ZEROS.length) yield await this.spool!.read(p, Math.min(ZEROS.length, b - p));
      at = b;
    }
  }

  /** CLOSE of a spooled file (or one only truncated or created): its whole content through one ingest. */
  private async commitWhole(): Promise<void> {
    this.checkResumedSpool();
    const auth = await this.env.auth();
    const firstWrite = this.spool ? this.spool.written.first : Infinity;
    const { chunks, end } = this.prefixUpTo(Math.min(firstWrite, this.base.size, this.size));
    if (!this.opts.baseIsOwn && chunks.length > 0) await this.env.ctx.meta.addChunkOwners(auth.userId, chunks.map((c) => c.hash));
    const room = await this.env.admit(streamRoom(this.env.ctx));
    const r = await ingest(this.env.ctx, {
      auth,
      path: this.path,
      body: this.merged(end, this.size),
      prefix: chunks,
      ...(this.opts.partial ? { supersedes: this.opts.partial } : {}),
      noOverwrite: this.opts.noOverwrite,
      finish: () => ({ mtime: this.mtime, mode: this.mode }),
      admitted: room,
    });
    if (r.entry) await this.env.committed(r.entry, this);
  }
}
