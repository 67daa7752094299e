/**
 * The earlier content a file being written over SFTP keeps where it is not written again:
 * the file itself when opened without truncation (an append, `reput`, an edit in place),
 * or the partial upload being resumed. It is a list of chunk lists laid end to end
 * (segments), read chunk by chunk from the chunk store, each chunk verified.
 */
import { chunkAt, chunkOffsets, type ChunkRef } from '../../core/manifest.js';
import type { ChunkStore } from '../../store/chunk-store.js';

export interface Segment {
  chunks: readonly ChunkRef[];
  /** File offset of the first byte of `chunks`. */
  at: number;
  /** The part of the file this segment supplies: [from, to). */
  from: number;
  to: number;
}

/** Chunks read ahead while a range streams. */
const READ_AHEAD = 2;

export class ChunkContent {
  private readonly segments: (Segment & { offsets: number[] })[];
  private cached?: { hash: string; data: Promise<Buffer> };

  constructor(
    private readonly store: ChunkStore,
    segments: readonly Segment[],
  ) {
    this.segments = segments.filter((s) => s.to > s.from).map((s) => ({ ...s, offsets: chunkOffsets(s.chunks).map((o) => o + s.at) }));
  }

  static empty(store: ChunkStore): ChunkContent {
    return new ChunkContent(store, []);
  }

  /** Bytes the content holds: the end of its last segment. */
  get size(): number {
    return this.segments.reduce((m, s) => Math.max(m, s.to), 0);
  }

  /** The first segment's chunks, for resuming: the chunk list a file of this content starts with. */
  get head(): Segment | undefined {
    return this.segments[0];
  }

  /** The same content cut at `at` bytes. */
  truncated(at: number): ChunkContent {
    return new ChunkContent(
      this.store,
      this.segments.map((s) => ({ ...s, to: Math.min(s.to, at) })),
    );
  }

  /** This content up to `at`, then `rest` from `at` on. */
  static join(store: ChunkStore, first: readonly Segment[], at: number, rest: ChunkContent): ChunkContent {
    return new ChunkContent(store, [...first.map((s) => ({ ...s, to: Math.min(s.to, at) })), ...rest.segments.map((s) => ({ chunks: s.chunks, at: s.at, from: Math.max(s.from, at), to: s.to }))]);
  }

  /** The bytes of [from, to) (which the segments must cover), in order, a chunk's worth at a time. */
  async *range(from: number, to: number): AsyncGenerator<Buffer> {
    const pieces = this.pieces(from, to);
    const loads: Promise<Buffer>[] = [];
    const start = (k: number) => {
      const p = this.chunk(pieces[k].hash);
      p.catch(() => undefined);
      loads[k] = p;
    };
    for (let k = 0; k < Math.min(READ_AHEAD + 1, pieces.length); k++) start(k);
    for (let k = 0; k < pieces.length; k++) {
      if (k + READ_AHEAD + 1 < pieces.length) start(k + READ_AHEAD + 1);
      const data = await loads[k];
      delete loads[k];
      yield data.subarray(pieces[k].from, pieces[k].to);
    }
  }

  /** Exactly [offset, offset + length) as one buffer. */
  async read(offset: number, length: number): Promise<Buffer> {
    const parts: Buffer[] = [];
    for await (const p of this.range(offset, offset + length)) parts.push(p);
    return parts.length === 1 ? parts[0] : Buffer.concat(parts);
  }

  /** Which chunk slices make up [from, to). */
  private pieces(from: number, to: number): { hash: string; from: number; to: number }[] {
    const out: { hash: string; from: number; to: number }[] = [];
    let pos = from;
    for (const s of this.segments) {
      if (pos >= to) break;
      if (s.to <= pos || s.from >= to) continue;
      if (s.from > pos) throw new Error(`content: no segment holds bytes ${pos}..${s.from}`);
      const end = Math.min(to, s.to);
      let i = chunkAt(s.offsets, pos);
      while (pos < end) {
        const cStart = s.offsets[i];
        const cEnd = s.offsets[i + 1];
        const take = Math.min(cEnd, end);
        out.push({ hash: s.chunks[i].hash, from: pos - cStart, to: take - cStart });
        pos = take;
        i++;
      }
    }
    if (pos < to) throw new Error(`content: no segment holds bytes ${pos}..${to}`);
    return out;
  }

  /** One chunk's verified bytes; the last one read is kept (reads of a few KiB each come in runs). */
  private chunk(hash: string): Promise<Buffer> {
    if (this.cached?.hash === hash) return this.cached.data;
    const data = this.store.read(hash);
    this.cached = { hash, data };
    data.catch(() => {
      if (this.cached?.data === data) this.cached = undefined;
    });
    return data;
  }
}

