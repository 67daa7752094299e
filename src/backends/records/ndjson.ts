/**
 * NDJSON records (one JSON value per line, `\n`-separated, UTF-8; http://ndjson.org) to and
 * from any backend, streaming both ways: a writer batches lines into pieces of about
 * {@link BATCH_BYTES} for the backend, a reader parses lines as bytes arrive (a line split
 * across chunks, or a UTF-8 character split across them, is joined first). Blank lines are
 * skipped, as the format allows; a line that is not JSON fails with FERRY_ERR_VALIDATION
 * naming its line number.
 */
import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { ValidationError } from '../../core/errors.js';
import type { ObjectInfo, StorageBackend, WriteOptions } from '../../core/storage.js';
import { compress, decompress, type Codec } from './compression.js';

export const BATCH_BYTES = 64 * 1024;

/** Encodes records as NDJSON bytes, in batches. `undefined` and functions (not JSON) are refused. */
export async function* encodeNdjson(records: AsyncIterable<unknown> | Iterable<unknown>): AsyncGenerator<Buffer> {
  let batch: string[] = [];
  let bytes = 0;
  let n = 0;
  for await (const record of records) {
    n++;
    const line = JSON.stringify(record);
    if (line === undefined) throw new ValidationError(`record ${n} has no JSON form (${typeof record})`);
    batch.push(line, '\n');
    bytes += line.length + 1;
    if (bytes >= BATCH_BYTES) {
      yield Buffer.from(batch.join(''), 'utf8');
      batch = [];
      bytes = 0;
    }
  }
  if (batch.length > 0) yield Buffer.from(batch.join(''), 'utf8');
}

/** Parses NDJSON bytes into records, as they arrive. */
export async function* decodeNdjson(source: AsyncIterable<Uint8Array | string>): AsyncGenerator<unknown> {
  const decoder = new StringDecoder('utf8');
  let pending = '';
  let line = 0;
  const parse = (text: string): unknown => {
    line++;
    try {
      return JSON.parse(text);
    } catch (err) {
      throw new ValidationError(`NDJSON line ${line} is not JSON: ${(err as Error).message}`, { cause: err, details: { line } });
    }
  };
  for await (const chunk of source) {
    pending += typeof chunk === 'string' ? chunk : decoder.write(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
    let at = 0;
    for (let nl = pending.indexOf('\n'); nl !== -1; nl = pending.indexOf('\n', at)) {
      const text = pending.slice(at, nl);
      at = nl + 1;
      if (text.trim() === '') line++;
      else yield parse(text);
    }
    pending = pending.slice(at);
  }
  pending += decoder.end();
  if (pending.trim() !== '') yield parse(pending);
}

export interface RecordOptions extends WriteOptions {
  /** Compress the object with this codec (name the key accordingly: `.ndjson.zst`). */
  codec?: Codec;
}

/** Writes `records` as one NDJSON object under `key`, streaming. */
export function writeRecords(backend: StorageBackend, key: string, records: AsyncIterable<unknown> | Iterable<unknown>, options: RecordOptions = {}): Promise<ObjectInfo> {
  const { codec, ...write } = options;
  const body = codec ? compress(encodeNdjson(records), codec) : encodeNdjson(records);
  return backend.write(key, body, { ...write, size: codec ? undefined : write.size });
}

/** The records of the NDJSON object under `key`, parsed as it streams in. */
export async function* readRecords(backend: StorageBackend, key: string, options: { codec?: Codec; signal?: AbortSignal } = {}): AsyncGenerator<unknown> {
  const stream: Readable = await backend.read(key, { signal: options.signal });
  const bytes = options.codec ? decompress(stream, options.codec) : stream;
  try {
    yield* decodeNdjson(bytes);
  } finally {
    bytes.destroy();
  }
}
