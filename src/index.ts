/**
 * Ferry as a library: the storage contract and backends, the chunker, the client SDK and the
 * sync engine. `import { FerryClient, LocalBackend, chunkFile } from 'ferry'`.
 *
 * Light on purpose: nothing here loads Fastify, a database, the AWS SDK or ssh2 at import,
 * and its declarations do not name their types either (a consumer's `tsc` would read them all).
 * Those are their own entries (`ferry/server`, `ferry/s3`, `ferry/sftp`), types included
 * (`RunningServer`, `ServerConfig`, `S3BackendOptions`, `SftpBackendOptions`); opening a
 * remote by name (`openBackend('s3:bucket/x')`) loads its backend when called.
 * `ferry/client` is the SDK alone.
 */
export * from './core/errors.js';
export * from './core/path.js';
export * from './core/storage.js';
export * from './core/manifest.js';
export * from './core/protocol.js';
export * from './core/units.js';
export { VERSION } from './core/version.js';

export { chunkFile, type ChunkFileOptions, type ChunkRecord } from './algo/chunk-file.js';
export { chunkStream, type ChunkStreamOptions, type StreamChunk } from './algo/chunk-stream.js';
export { GEAR, chunkLengths, type CdcParams } from './algo/fastcdc.js';

export { LocalBackend, type LocalBackendOptions } from './backends/local/local-backend.js';
export * from './backends/decorators/index.js';
export { MemoryBackend, type MemoryBackendOptions } from './backends/memory/memory-backend.js';
export { BackendRegistry } from './backends/registry.js';
export type { BackendDefinition, BackendOptions, BackendOptionSpec, RemoteSpec } from './backends/definition.js';
export { BACKENDS, defaultRegistry, openBackend, openRemote, parseRemote, redactOptions, redactRemote } from './remotes/index.js';

export * from './client/index.js';


export * from './core/storage-bulk.js';
export { FerryBackend, type FerryBackendOptions } from './client/ferry-backend.js';
export { ferryBackendDefinition, parseFerrySpec } from './client/ferry-definition.js';
export * from './sync/index.js';
