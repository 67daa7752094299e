/**
 * Compression stream wrappers: gzip (Node's zlib) and zstd (zstd-napi: Node 20's zlib has no
 * zstd). Both are Transforms with backpressure, so a compressed object streams into a backend
 * (`backend.write(key, compress(source, 'zstd'))`) and out of one
 * (`decompress(await backend.read(key), 'zstd')`) without being held whole in memory.
 * Corrupt input fails the stream with FERRY_ERR_VALIDATION.
 */
import { PassThrough, Readable, type Transform } from 'node:stream';
import { createGunzip, createGzip, constants as zlib } from 'node:zlib';
import { CompressStream, DecompressStream } from 'zstd-napi';
import { ValidationError } from '../../core/errors.js';

export type Codec = 'gzip' | 'zstd';

export const CODECS: readonly Codec[] = ['gzip', 'zstd'];

/** File name suffix of each codec, for keys (`log.ndjson.zst`). */
export const CODEC_SUFFIX: Readonly<Record<Codec, string>> = { gzip: '.gz', zstd: '.zst' };

export interface CompressOptions {
  /** gzip 1..9 (default 6), zstd 1..19 (default 3). */
  level?: number;
}

/** The codec's compressing Transform. */
export function compressor(codec: Codec, options: CompressOptions = {}): Transform {
  switch (codec) {
    case 'gzip':
      return createGzip({ level: options.level ?? zlib.Z_DEFAULT_COMPRESSION });
    case 'zstd':
      return new CompressStream({ compressionLevel: options.level ?? 3, checksumFlag: true });
    default:
      throw new ValidationError(`unknown codec ${JSON.stringify(codec)}; known: ${CODECS.join(', ')}`);
  }
}

/** The codec's decompressing Transform; corrupt input fails it with FERRY_ERR_VALIDATION. */
export function decompressor(codec: Codec): Transform {
  switch (codec) {
    case 'gzip':
      return createGunzip();
    case 'zstd':
      return new DecompressStream();
    default:
      throw new ValidationError(`unknown codec ${JSON.stringify(codec)}; known: ${CODECS.join(', ')}`);
  }
}

/** Translates a codec's error (zlib's Z_DATA_ERROR, zstd's "Unknown frame descriptor", a truncated frame). */
function corrupt(codec: Codec, err: Error): Error {
  return new ValidationError(`${codec}: the compressed data is corrupt or truncated (${err.message})`, { cause: err });
}

/**
 * Pipes `source` through `transform` into the returned stream, which fails (with the
 * translated error) whenever either side fails; destroying it stops both.
 */
function through(source: Readable | AsyncIterable<Uint8Array>, transform: Transform, translate: (err: Error) => Error): Readable {
  const input = source instanceof Readable ? source : Readable.from(source, { objectMode: false });
  const out = new PassThrough();
  // Listeners of our own rather than stream.pipeline: a codec may fail in its flush, after
  // pipeline has already reported success for its writable side.
  input.once('error', (err) => {
    transform.destroy();
    if (!out.destroyed) out.destroy(err);
  });
  transform.once('error', (err) => {
    input.destroy();
    if (!out.destroyed) out.destroy(translate(err));
  });
  out.once('close', () => {
    if (!out.readableEnded) {
      input.destroy();
      transform.destroy();
    }
  });
  input.pipe(transform).pipe(out);
  return out;
}

/** A stream of `source` compressed with `codec`. */
export function compress(source: Readable | AsyncIterable<Uint8Array>, codec: Codec, options: CompressOptions = {}): Readable {
  return through(source, compressor(codec, options), (err) => err);
}

/** A stream of `source` decompressed with `codec`. */
export function decompress(source: Readable | AsyncIterable<Uint8Array>, codec: Codec): Readable {
  return through(source, decompressor(codec), (err) => (err instanceof ValidationError ? err : corrupt(codec, err)));
}

/** The codec a key's suffix names, if any. */
export function codecOfKey(key: string): Codec | undefined {
  return CODECS.find((c) => key.endsWith(CODEC_SUFFIX[c]));
}
