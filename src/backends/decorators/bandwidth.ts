/**
 * Bandwidth limit decorator: bytes written and read through the backend pass a token bucket
 * (src/core/token-bucket.ts; one per direction, or one shared), so that the long-run rate
 * never exceeds the limit however many transfers run at once. Buckets may be shared with
 * other backends (`buckets`): one `--bwlimit` over both sides of a two-way sync.
 */
import { Readable } from 'node:stream';
import { ConfigError } from '../../core/errors.js';
import type { StorageBackend, WriteBody } from '../../core/storage.js';
import { discardBody } from '../shared.js';
import { decorate } from './decorate.js';
import { TokenBucket, type Clock } from '../../core/token-bucket.js';

export { TokenBucket } from '../../core/token-bucket.js';

export interface BandwidthOptions {
  /** Limit for both directions together, bytes per second. */
  bytesPerSecond?: number;
  /** Separate limits (override the shared one for their direction). */
  readBytesPerSecond?: number;
  writeBytesPerSecond?: number;
  /** Buckets to use instead of new ones (shared with other backends). */
  buckets?: { read?: TokenBucket; write?: TokenBucket };
  clock?: Clock;
}

/**
 * The body in slices, each after the bucket let it pass. Ending early, or an abort while
 * the producer stalls, discards the body.
 */
async function* throttled(body: WriteBody, bucket: TokenBucket, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
  let finished = false;
  const onAbort = () => discardBody(body);
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    yield* bucket.throttle(body as Uint8Array | AsyncIterable<Uint8Array>, signal);
    finished = true;
  } finally {
    signal?.removeEventListener('abort', onAbort);
    if (!finished) discardBody(body);
  }
}

/** `inner`, with its reads and writes held to the given rates. */
export function withBandwidthLimit(inner: StorageBackend, options: BandwidthOptions): StorageBackend {
  const shared = options.bytesPerSecond === undefined ? undefined : new TokenBucket(options.bytesPerSecond, undefined, options.clock);
  const bucket = (rate: number | undefined) => (rate === undefined ? shared : new TokenBucket(rate, undefined, options.clock));
  const reads = options.buckets?.read ?? bucket(options.readBytesPerSecond);
  const writes = options.buckets?.write ?? bucket(options.writeBytesPerSecond);
  if (reads === undefined && writes === undefined) throw new ConfigError('a bandwidth limit needs bytesPerSecond, readBytesPerSecond, writeBytesPerSecond or buckets');
  return decorate(inner, inner.name, {
    call: async (call, run) => {
      // Batches are whole buffers: their bytes pass the bucket before the request goes.
      if (call.op === 'writeBatch' && writes) await writes.take(call.bytes ?? 0, call.signal);
      return run();
    },
    body: (call, body) => (writes ? throttled(body, writes, call.signal) : body),
    stream: (call, stream) => {
      if (!reads) return stream;
      // Destroying the result returns the generator, which ends the iteration of `stream` (destroying it).
      const limited = Readable.from(reads.throttle(stream, call.signal), { objectMode: false });
      limited.once('close', () => stream.destroy());
      return limited;
    },
  });
}
