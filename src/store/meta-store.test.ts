import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeMetaStore } from '../../test/conformance/meta-store.js';
import { MetaStore } from './meta-store.js';

describeMetaStore('sqlite', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ferry-meta-'));
  return { nodes: 'one', open: (now) => MetaStore.openSqlite(join(dir, 'meta.db'), { now }), cleanup: () => rm(dir, { recursive: true, force: true }) };
});
