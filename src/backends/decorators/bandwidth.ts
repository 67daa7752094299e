/**
 * Bandwidth limit decorator: bytes written and read through the backend pass a token bucket
 * (src/core/token-bucket.ts; one per direction, or one shared), so that the long-run rate
 * never exceeds the limit however many transfers run at once.
 */
import { Transform, type TransformCallback } from 'node:stream';
import { ConfigError } from '../../core/errors.js';
import type { StorageBackend, WriteBody } from '../../core/storage.js';
import { discardBody } from '../body.js';
import { decorate } from './decorate.js';
import { SLICE_BYTES, TokenBucket, type Clock } from '../../core/token-bucket.js';

export { TokenBucket, SLICE_BYTES } from '../../core/token-bucket.js';

export interface BandwidthOptions {
  /** Limit for both directions together, bytes per second. */
  bytesPerSecond?: number;
  /** Separate limits (override the shared one for their direction). */
  readBytesPerSecond?: number;
  writeBytesPerSecond?: number;
  clock?: Clock;
}

/**
 * Yields the body in slices, each after the bucket let it pass (one producer chunk at a time,
 * so a producer may still reuse its buffer once asked for the next). Ending early, or an abort
 * while the producer stalls, discards the body.
 */
async function* throttled(body: WriteBody, bucket: TokenBucket, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
  let finished = false;
  const onAbort = () => discardBody(body);
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const source: AsyncIterable<Uint8Array> | Iterable<Uint8Array> = body instanceof Uint8Array ? [body] : (body as AsyncIterable<Uint8Array>);
    for await (const chunk of source) {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      for (let at = 0; at < bytes.byteLength; at += SLICE_BYTES) {
        const slice = bytes.subarray(at, Math.min(bytes.byteLength, at + SLICE_BYTES));
        await bucket.take(slice.byteLength, signal);
        yield slice;
      }
    }
    finished = true;
  } finally {
    signal?.removeEventListener('abort', onAbort);
    if (!finished) discardBody(body);
  }
}

class ThrottledStream extends Transform {
  constructor(
    private readonly bucket: TokenBucket,
    private readonly signal?: AbortSignal,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    void (async () => {
      for (let at = 0; at < chunk.length; at += SLICE_BYTES) {
        const slice = chunk.subarray(at, Math.min(chunk.length, at + SLICE_BYTES));
        await this.bucket.take(slice.length, this.signal);
        this.push(slice);
      }
    })().then(() => callback(), callback);
  }
}

/** `inner`, with its reads and writes held to the given rates. */
export function withBandwidthLimit(inner: StorageBackend, options: BandwidthOptions): StorageBackend {
  const shared = options.bytesPerSecond === undefined ? undefined : new TokenBucket(options.bytesPerSecond, undefined, options.clock);
  const bucket = (rate: number | undefined) => (rate === undefined ? shared : new TokenBucket(rate, undefined, options.clock));
  const reads = bucket(options.readBytesPerSecond);
  const writes = bucket(options.writeBytesPerSecond);
  if (reads === undefined && writes === undefined) throw new ConfigError('a bandwidth limit needs bytesPerSecond, readBytesPerSecond or writeBytesPerSecond');
  return decorate(inner, inner.name, {
    call: (_call, run) => run(),
    body: (call, body) => (writes ? throttled(body, writes, call.signal) : body),
    stream: (call, stream) => {
      if (!reads) return stream;
      const limited = new ThrottledStream(reads, call.signal);
      stream.once('error', (err) => limited.destroy(err));
      limited.once('close', () => stream.destroy());
      return stream.pipe(limited);
    },
  });
}
