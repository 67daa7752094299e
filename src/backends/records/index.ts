/** Records and compression over any backend: NDJSON, gzip/zstd streams, and the multi-writer. */
export { BATCH_BYTES, decodeNdjson, encodeNdjson, readRecords, writeRecords, type RecordOptions } from './ndjson.js';
export { CODEC_SUFFIX, CODECS, codecOfKey, compress, compressor, decompress, decompressor, type Codec, type CompressOptions } from './compression.js';
export { MultiWriter, type BackendOutcome, type MultiWriteMode, type MultiWriteReport, type MultiWriterOptions } from './multi-writer.js';
