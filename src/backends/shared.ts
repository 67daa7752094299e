/**
 * Helpers every backend shares, so that one rule behaves the same everywhere (the
 * conformance suite holds the backends to it):
 * - the write-body loop ({@link bodyChunks}): size checks, abort and body failures;
 * - argument checks ({@link checkSize}, {@link checkOffset});
 * - reading for backends whose only way to the bytes is `read()`: a range collected into
 *   one buffer ({@link collectRange}), a hash computed by streaming ({@link hashByReading}).
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { AbortedError, fromSystemError, SizeMismatchError, ValidationError, type FerryError } from '../core/errors.js';
import type { HashName, StorageBackend, WriteBody } from '../core/storage.js';

/**
 * Largest piece a whole-buffer body is handed out in: bounds one `write(2)` (Linux caps a
 * single call near 2 GiB anyway) and lets an abort land between pieces. Pieces are views, not copies.
 */
const MAX_PIECE = 4 << 20;

export interface BodyOptions {
  /** Exact size announced by the caller; a mismatch fails with FERRY_ERR_SIZE_MISMATCH. */
  size?: number;
  signal?: AbortSignal;
  /** Names the target in error messages. */
  what: string;
}

/** Validates an announced size: a non-negative safe integer, or absent. */
export function checkSize(size: number | undefined, what: string): void {
  if (size !== undefined && !(Number.isSafeInteger(size) && size >= 0)) {
    throw new ValidationError(`${what}: size must be a non-negative integer, got ${String(size)}`);
  }
}

function abortedError(signal: AbortSignal, what: string): FerryError {
  return new AbortedError(`${what}: write aborted`, { cause: signal.reason });
}

/**
 * `stream` (a read's body) destroyed with FERRY_ERR_ABORTED when `signal` aborts, as every
 * other call of the contract fails. Node's `addAbortSignal`, and a file stream's own
 * `signal`, destroy it with a bare `AbortError` (`ABORT_ERR`), which no FerryError check
 * recognises: an SDK caller that aborted a read of local, memory or S3 storage got that.
 */
export function failOnAbort<T extends Readable>(stream: T, signal: AbortSignal | undefined, what: string): T {
  if (!signal) return stream;
  const abort = () => stream.destroy(new AbortedError(`${what}: read aborted`, { cause: signal.reason }));
  if (signal.aborted) {
    abort();
    return stream;
  }
  signal.addEventListener('abort', abort, { once: true });
  stream.once('close', () => signal.removeEventListener('abort', abort));
  return stream;
}

function sizeMismatch(what: string, expected: number, got: number, overrun: boolean): FerryError {
  const message = overrun
    ? `${what}: the body is longer than the announced ${expected} bytes`
    : `${what}: the body ended after ${got} of the announced ${expected} bytes`;
  return new SizeMismatchError(message, { details: { expected, received: got } });
}

/** Tells the producer that nobody will read on: destroys a stream, returns an iterator. */
export function discardBody(body: WriteBody, iterator?: AsyncIterator<unknown>): void {
  if (body instanceof Readable) {
    if (!body.destroyed) body.destroy();
  } else if (iterator?.return) {
    // Not awaited: an async generator suspended in an `await` only runs `return()` once that
    // await settles, which for a stalled producer is never.
    iterator.return().catch(() => {});
  }
}

/**
 * Yields the body's bytes as Uint8Array chunks, enforcing `size` (an overrun fails at the
 * chunk that overruns, a shortfall at the end) and `signal` (an abort fails even a producer
 * that has stalled). Failures are FerryErrors: the body's own error is translated by
 * {@link fromSystemError} and kept as `cause`. Whatever way the loop ends early (error or the
 * consumer breaking out), the body is discarded (see {@link discardBody}).
 *
 * The chunks are the producer's buffers: a consumer that keeps one past its next pull copies it.
 */
export async function* bodyChunks(body: WriteBody, options: BodyOptions): AsyncGenerator<Uint8Array, void, undefined> {
  const { size, signal, what } = options;
  checkSize(size, what);
  if (signal?.aborted) {
    discardBody(body);
    throw abortedError(signal, what);
  }
  if (body instanceof Uint8Array) {
    if (size !== undefined && size !== body.byteLength) throw sizeMismatch(what, size, body.byteLength, body.byteLength > size);
    for (let at = 0; at < body.byteLength; at += MAX_PIECE) {
      if (signal?.aborted) throw abortedError(signal, what);
      yield body.subarray(at, Math.min(at + MAX_PIECE, body.byteLength));
    }
    if (signal?.aborted) throw abortedError(signal, what);
    return;
  }
  if (body == null || typeof (body as AsyncIterable<Uint8Array>)[Symbol.asyncIterator] !== 'function') {
    throw new ValidationError(`${what}: the body must be a Readable, an AsyncIterable of Uint8Array or a Uint8Array`);
  }

  const iterator = (body as AsyncIterable<unknown>)[Symbol.asyncIterator]();
  // An abort fails even a pull whose producer has stalled. Not `Promise.race([pull, aborted])`
  // with one `aborted` promise for the whole loop: every race leaves a reaction on that
  // promise which holds the race's result, so each piece read stayed reachable until the body
  // ended (a streamed 4 MiB chunk kept all its socket reads; issue 15, workload 6). The
  // listener rejects only the pull in progress, and forgets it once it settles.
  let failPull: ((err: Error) => void) | undefined;
  const onAbort = signal ? () => failPull?.(abortedError(signal, what)) : undefined;
  if (onAbort) signal!.addEventListener('abort', onAbort, { once: true });

  let received = 0;
  let finished = false;
  try {
    for (;;) {
      const pull = iterator.next();
      let step: IteratorResult<unknown>;
      try {
        if (onAbort) {
          step = await new Promise<IteratorResult<unknown>>((resolve, reject) => {
            failPull = reject;
            pull.then(resolve, reject);
            // The producer may have aborted while making this pull (inside next()).
            if (signal!.aborted) reject(abortedError(signal!, what));
          });
          failPull = undefined;
        } else {
          step = await pull;
        }
      } catch (err) {
        failPull = undefined;
        if (signal?.aborted) throw abortedError(signal, what);
        throw fromSystemError(err, `${what}: reading the body`);
      }
      if (step.done) {
        finished = true;
        break;
      }
      let chunk = step.value;
      if (typeof chunk === 'string') chunk = Buffer.from(chunk, 'utf8'); // a Readable with setEncoding()
      if (!(chunk instanceof Uint8Array)) {
        throw new ValidationError(`${what}: the body yielded a ${typeof chunk}, not bytes`);
      }
      received += chunk.byteLength;
      if (size !== undefined && received > size) throw sizeMismatch(what, size, received, true);
      if (chunk.byteLength > 0) yield chunk;
      if (signal?.aborted) throw abortedError(signal, what);
    }
  } finally {
    if (onAbort) signal?.removeEventListener('abort', onAbort);
    if (!finished) discardBody(body, iterator);
  }
  if (size !== undefined && received !== size) throw sizeMismatch(what, size, received, false);
  if (signal?.aborted) throw abortedError(signal, what);
}

/** Validates a read's `offset` or `length`: a non-negative safe integer, or absent. */
export function checkOffset(value: number | undefined, label: string, key: string): void {
  if (value !== undefined && !(Number.isSafeInteger(value) && value >= 0)) {
    throw new ValidationError(`${key}: ${label} must be a non-negative integer, got ${String(value)}`);
  }
}

/** `read(key, {offset, length})` collected into one buffer (shorter only when the object ends first). */
export async function collectRange(backend: StorageBackend, key: string, offset: number, length: number, signal?: AbortSignal): Promise<Buffer> {
  const parts: Buffer[] = [];
  let total = 0;
  for await (const chunk of await backend.read(key, { offset, length, signal })) {
    parts.push(chunk as Buffer);
    total += (chunk as Buffer).length;
  }
  return parts.length === 1 ? parts[0] : Buffer.concat(parts, total);
}

/** The object's hash, computed by reading it through. */
export async function hashByReading(backend: StorageBackend, key: string, algorithm: HashName, signal?: AbortSignal): Promise<string> {
  const hash = createHash(algorithm);
  for await (const chunk of await backend.read(key, { signal })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
