/**
 * ChannelBackend: in-process streaming from a writer to readers, keyed like any backend (as
 * omnistorage's channel backend and Go channels): a pass-through backend that keeps nothing
 * (`features().persistent === false`).
 *
 * Semantics, per key:
 * - `read(key)` attaches a reader to the key and returns its stream at once; the stream
 *   carries the next write to that key. A reader never joins a write already under way.
 * - `write(key, body)` waits until at least one reader is attached (an unbuffered channel:
 *   nothing is sent into the void; the caller's signal bounds the wait), then hands every
 *   chunk to each of the readers attached when it started, and resolves when the body ended
 *   and every reader was given its last byte.
 * - Backpressure: the writer pulls the next chunk only when every reader has room (its stream
 *   buffer under `highWaterMark`), so memory stays bounded by the slowest reader.
 * - `offset`/`length` of a read are applied to what that reader receives.
 * - A write that fails (body error, size mismatch, abort) fails its readers' streams with the
 *   same error: a reader never mistakes a partial object for a whole one. A reader that goes
 *   away (destroyed, aborted) is dropped; the write carries on for the others.
 * - Nothing is stored: `stat` is FERRY_ERR_NOT_FOUND, `list` yields nothing, `delete` does nothing.
 * Keys are validated like every backend's.
 */
import { Readable } from 'node:stream';
import {
  AbortedError,
  ConfigError,
  FerryError,
  ferryErrorOf,
  NotFoundError,
  PathInvalidError,
  RangeNotSatisfiableError,
  throwIfAborted,
} from '../../core/errors.js';
import { normalizeKey } from '../../core/path.js';
import type { BackendFeatures, DirEntry, ListOptions, ObjectInfo, OpOptions, ReadOptions, StorageBackend, WriteBody, WriteOptions } from '../../core/storage.js';
import { bodyChunks, checkOffset, checkSize, discardBody } from '../shared.js';

export interface ChannelBackendOptions {
  /** Shares the channels with every backend of the same name in this process (`channel:name`). */
  name?: string;
  /** Bytes a reader's stream buffers before the writer waits for it (default 1 MiB). */
  highWaterMark?: number;
}

/** One attached reader: its stream, its range, and how far the write has got for it. */
class Reader {
  readonly stream: Readable;
  position = 0;
  done = false;
  #room?: () => void;

  constructor(
    readonly offset: number,
    readonly end: number,
    highWaterMark: number,
    onGone: (reader: Reader) => void,
  ) {
    this.stream = new Readable({
      highWaterMark,
      read: () => {
        const wake = this.#room;
        this.#room = undefined;
        wake?.();
      },
      destroy: (err, callback) => {
        this.done = true;
        onGone(this);
        const wake = this.#room;
        this.#room = undefined;
        wake?.();
        callback(err);
      },
    });
  }

  /** Hands on the part of `chunk` (at `at` in the object) that falls in this reader's range. */
  offer(chunk: Buffer, at: number): void {
    if (this.done) return;
    const from = Math.max(this.offset, at);
    const to = Math.min(this.end, at + chunk.length);
    if (from < to) this.stream.push(chunk.subarray(from - at, to - at));
    this.position = at + chunk.length;
    if (this.position >= this.end) this.finish(this.position);
  }

  /** Ends the stream cleanly once the object (of `size` bytes) is whole. */
  finish(size: number): void {
    if (this.done) return;
    this.done = true;
    if (this.offset > size) {
      this.stream.destroy(new RangeNotSatisfiableError(`offset ${this.offset} is past the end (${size} bytes)`, { details: { offset: this.offset, size } }));
      return;
    }
    this.stream.push(null);
  }

  fail(err: Error): void {
    if (this.done) return;
    this.done = true;
    this.stream.destroy(err);
  }

  /** Resolves when the stream has room again (or is gone). */
  async room(): Promise<void> {
    if (this.done || this.stream.readableLength < this.stream.readableHighWaterMark) return;
    await new Promise<void>((resolve) => (this.#room = resolve));
  }
}

class Channel {
  /** Readers waiting for the next write. */
  waiting = new Set<Reader>();
  #arrival: (() => void)[] = [];

  attach(reader: Reader): void {
    this.waiting.add(reader);
    for (const wake of this.#arrival.splice(0)) wake();
  }

  /** Resolves when a reader is waiting; FERRY_ERR_ABORTED when `signal` aborts first. */
  async readers(signal: AbortSignal | undefined, what: string): Promise<Reader[]> {
    while (this.waiting.size === 0) {
      throwIfAborted(signal);
      await new Promise<void>((resolve, reject) => {
        const onAbort = () => reject(new AbortedError(`${what}: aborted while waiting for a reader`, { cause: signal?.reason }));
        signal?.addEventListener('abort', onAbort, { once: true });
        this.#arrival.push(() => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        });
      });
    }
    const taken = [...this.waiting];
    this.waiting = new Set();
    return taken;
  }
}

export class ChannelBackend implements StorageBackend {
  static readonly #named = new Map<string, Map<string, Channel>>();

  readonly name: string;
  readonly #channels: Map<string, Channel>;
  readonly #highWaterMark: number;
  readonly #private: boolean;

  constructor(options: ChannelBackendOptions = {}) {
    const name = options.name ?? '';
    this.name = `channel:${name}`;
    this.#highWaterMark = options.highWaterMark ?? 1024 * 1024;
    if (!(this.#highWaterMark > 0)) throw new ConfigError('channel: highWaterMark must be a positive number of bytes');
    this.#private = name === '';
    if (name === '') {
      this.#channels = new Map();
    } else {
      const existing = ChannelBackend.#named.get(name) ?? new Map<string, Channel>();
      ChannelBackend.#named.set(name, existing);
      this.#channels = existing;
    }
  }

  /** Streams only: no copy, move, ranges served natively, hashes, mtimes or directories; nothing kept. */
  features(): BackendFeatures {
    return {
      copy: false,
      move: false,
      rangeRead: false,
      hashes: [],
      mtime: false,
      setMtime: false,
      mtimePrecisionMs: 0,
      unknownSizeWrite: true,
      caseSensitive: true,
      directories: 'virtual',
      persistent: false,
      network: false,
    };
  }

  #objectKey(key: string): string {
    const k = normalizeKey(key);
    if (k === '') throw new PathInvalidError('the root is a directory, not an object', { details: { reason: 'root' } });
    return k;
  }

  #channel(k: string): Channel {
    let channel = this.#channels.get(k);
    if (channel === undefined) {
      channel = new Channel();
      this.#channels.set(k, channel);
    }
    return channel;
  }

  /** Nothing is kept: FERRY_ERR_NOT_FOUND for every valid key. */
  async stat(key: string, options: OpOptions = {}): Promise<ObjectInfo> {
    const k = this.#objectKey(key);
    throwIfAborted(options.signal);
    throw new NotFoundError(`${k}: a channel keeps nothing to stat`);
  }

  /** Attaches a reader for the next write to `key`; its stream fails if `signal` aborts. */
  async read(key: string, options: ReadOptions = {}): Promise<Readable> {
    const k = this.#objectKey(key);
    const { offset = 0, length, signal } = options;
    checkOffset(offset, 'offset', k);
    checkOffset(length, 'length', k);
    throwIfAborted(signal);
    const channel = this.#channel(k);
    const reader = new Reader(offset, length === undefined ? Infinity : offset + length, this.#highWaterMark, (gone) => channel.waiting.delete(gone));
    if (signal) {
      const onAbort = () => reader.fail(new AbortedError(`${k}: read aborted`, { cause: signal.reason }));
      signal.addEventListener('abort', onAbort, { once: true });
      reader.stream.once('close', () => signal.removeEventListener('abort', onAbort));
    }
    channel.attach(reader);
    return reader.stream;
  }

  /** Waits for a reader, then streams the body to every reader attached, at the pace of the slowest. */
  async write(key: string, body: WriteBody, options: WriteOptions = {}): Promise<ObjectInfo> {
    let k: string;
    try {
      k = this.#objectKey(key);
      checkSize(options.size, k);
      throwIfAborted(options.signal);
    } catch (err) {
      discardBody(body);
      throw err;
    }
    let readers: Reader[];
    try {
      readers = await this.#channel(k).readers(options.signal, k);
    } catch (err) {
      discardBody(body);
      throw err;
    }
    let at = 0;
    try {
      for await (const chunk of bodyChunks(body, { size: options.size, signal: options.signal, what: k })) {
        const copy = Buffer.from(chunk); // the producer may reuse its buffer after the next pull
        for (const reader of readers) reader.offer(copy, at);
        at += copy.length;
        await Promise.all(readers.map((r) => r.room()));
      }
    } catch (err) {
      const failure = err instanceof FerryError ? err : ferryErrorOf('FERRY_ERR_INTERNAL', String(err), { cause: err });
      for (const reader of readers) reader.fail(failure);
      throw failure;
    }
    for (const reader of readers) reader.finish(at);
    return { key: k, size: at };
  }

  /** Nothing is kept: nothing to delete (the key is still validated). */
  async delete(key: string, options: OpOptions = {}): Promise<void> {
    this.#objectKey(key);
    throwIfAborted(options.signal);
  }

  /** Nothing is kept: an empty listing (the prefix is still validated). */
  async *list(prefix: string, options: ListOptions = {}): AsyncIterable<DirEntry> {
    normalizeKey(prefix);
    throwIfAborted(options.signal);
  }

  /** A private backend fails its readers still waiting: no write can reach them any more. Named channels stay open for the others. */
  async close(): Promise<void> {
    if (!this.#private) return;
    for (const channel of this.#channels.values()) {
      for (const reader of channel.waiting) reader.fail(new AbortedError('the channel backend was closed'));
    }
  }
}
