/**
 * Ferry as a library: the storage contract and backends, the chunker, the stores, the
 * client SDK and the server. `import { FerryClient, LocalBackend, chunkFile } from 'ferry'`.
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

export { ChunkStore, type ChunkStoreOptions } from './store/chunk-store.js';
export { MetaStore } from './store/meta-store.js';

export * from './client/index.js';

export { startServer, buildApp, type RunningServer } from './server/app.js';
export type { ServerContext } from './server/context.js';
export { defaultConfig, type ServerConfig } from './server/config.js';

export { S3Backend, type S3BackendOptions } from './backends/s3/s3-backend.js';
export { SftpBackend, type SftpBackendOptions } from './backends/sftp/sftp-backend.js';

export * from './core/storage-bulk.js';
export { FerryBackend, type FerryBackendOptions } from './client/ferry-backend.js';
export { ferryBackendDefinition, parseFerrySpec } from './client/ferry-definition.js';
export * from './sync/index.js';
