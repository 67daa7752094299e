/** The metadata conformance suite on a real PostgreSQL server: a private cluster, one database per test. */
import { afterAll, beforeAll } from 'vitest';
import { describeMetaStore } from '../conformance/meta-store.js';
import { MetaStore } from '../../src/store/meta-store.js';
import { startPostgres, type PostgresHandle } from '../helpers/postgres.js';

let pg: PostgresHandle;
beforeAll(async () => {
  pg = await startPostgres();
});
afterAll(async () => {
  await pg?.stop();
});

describeMetaStore('postgres', async () => {
  const url = await pg.createDatabase();
  return { nodes: 'many', open: (now) => MetaStore.openPostgres(url, { now, poolSize: 4 }), cleanup: async () => undefined };
});
