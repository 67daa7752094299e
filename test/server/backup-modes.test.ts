/**
 * The backup's copy of the metadata database (password and token hashes, webhook secrets) is
 * never readable by other local users, not even while it is being written: it used to be made
 * with the umask's 0644 by SQLite's backup and narrowed to 0600 only at the end, and a local
 * user who opened it meanwhile kept the descriptor. The copy is watched at the moment SQLite's
 * backup has just finished, before anything else runs.
 */
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backupServer } from '../../src/server/backup.js';
import { MetaStore } from '../../src/store/meta-store.js';

let work: string;
let meta: MetaStore;
let umask: number;
beforeAll(async () => {
  umask = process.umask(0o022);
  work = mkdtempSync(join(tmpdir(), 'ferry-backup-modes-'));
  mkdirSync(join(work, 'data'), { mode: 0o700 });
  meta = await MetaStore.openSqlite(join(work, 'data', 'meta.db'));
});
afterAll(async () => {
  await meta?.close();
  process.umask(umask);
  rmSync(work, { recursive: true, force: true });
});

describe('backup file modes', () => {
  it('the copy of meta.db is 0600 while SQLite writes it, in a directory that others may read', async () => {
    const dir = join(work, 'given');
    mkdirSync(dir, { mode: 0o755 });
    const seen: number[] = [];
    const watched = Object.create(meta) as MetaStore;
    watched.backupTo = async (file: string) => {
      await meta.backupTo(file);
      seen.push(statSync(file).mode & 0o777);
    };
    const manifest = await backupServer(watched, join(work, 'data'), dir, []);
    expect(manifest.files.map((f) => f.path)).toContain('meta.db');
    expect(seen).toEqual([0o600]);
    expect(statSync(join(dir, 'meta.db')).mode & 0o777).toBe(0o600);
  });
});
