import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { LocalBackend } from '../../src/backends/local/local-backend.js';
import { describeStorageBackend } from '../conformance/storage-backend.js';

async function tempRoot(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'ferry-local-'));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

describeStorageBackend('local', async () => {
  const { dir, cleanup } = await tempRoot();
  // A root that does not exist yet: the first write creates it.
  return { backend: new LocalBackend({ root: path.join(dir, 'root') }), cleanup };
});

describeStorageBackend('local (followSymlinks)', async () => {
  const { dir, cleanup } = await tempRoot();
  return { backend: new LocalBackend({ root: dir, followSymlinks: true }), cleanup };
});
