/**
 * `ferry/server`: the server and its stores as a library (Fastify, Kysely, SQLite or
 * PostgreSQL). Its own entry so that `import ... from 'ferry'` or `'ferry/client'` never loads
 * them, nor makes a TypeScript user's compile read their types.
 */
export { startServer, buildApp, type CloseOptions, type RunningServer } from './server/app.js';
export type { ServerContext } from './server/context.js';
export { defaultConfig, type ServerConfig } from './server/config.js';
export { ChunkStore, type ChunkStoreOptions } from './store/chunk-store.js';
export { MetaStore } from './store/meta-store.js';
