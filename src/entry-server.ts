/**
 * `ferry/server`: the server and its stores as a library (Fastify, Kysely, SQLite or
 * PostgreSQL). Its own entry so that `import ... from 'ferry'` or `'ferry/client'` never loads
 * them; `startServer` is also on the root entry, loading this on its first call.
 */
export { startServer, buildApp, type RunningServer } from './server/app.js';
export type { ServerContext } from './server/context.js';
export { defaultConfig, type ServerConfig } from './server/config.js';
export { ChunkStore, type ChunkStoreOptions } from './store/chunk-store.js';
export { MetaStore } from './store/meta-store.js';
