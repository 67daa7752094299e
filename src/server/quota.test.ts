import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuthStore } from '../store/auth-store.js';
import { MetaStore } from '../store/meta-store.js';
import type { AuthContext } from './authz.js';
import { QuotaGuard } from './quota.js';

let dir: string;
let meta: MetaStore;
let guard: QuotaGuard;

const ann: AuthContext = {
  kind: 'token',
  userId: 'u1',
  userName: 'ann',
  role: 'user',
  home: '/ann',
  tokenId: 't1',
  scopes: new Set(),
  pathPrefix: null,
  grants: [],
  limits: { quotaBytes: 1000, quotaFiles: null, maxFileSize: null, maxSessions: 2 },
};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ferry-quota-'));
  meta = await MetaStore.openSqlite(join(dir, 'meta.db'));
  await new AuthStore(meta).ensureUser({ id: 'u1', name: 'ann', role: 'user', password_hash: null, home: '/ann', created_at: 1 });
  await meta.mkdir('/ann', { parents: true });
  guard = new QuotaGuard(meta, { maxFileSize: null, maxUploadSessions: 10, maxPendingEntries: 0, davPropertyBytes: null });
});
afterAll(async () => {
  await meta?.close();
  await rm(dir, { recursive: true, force: true });
});

const changes = async (): Promise<number> => (await sql<{ n: number }>`select total_changes() as n`.execute(meta.db)).rows[0].n;

describe('QuotaGuard on SQLite', () => {
  it('checks sessions and bytes without writing (no row lock: one connection runs one transaction at a time)', async () => {
    const before = await changes();
    await guard.checkCreate(ann, [{ path: '/ann/a', size: 600 }]);
    // The lock was a write of the user's row: a WAL page for every check, two per SFTP file.
    expect(await changes()).toBe(before);
  });

  it('still refuses what does not fit, counting live sessions and what they reserve', async () => {
    const create = (path: string, size: number) =>
      meta.createUpload({ owner: 'u1', files: [{ path, size }], noOverwrite: false, ttlMs: 60_000 }, { check: guard.createCheck(ann, [{ path, size }]) });
    await create('/ann/a', 600);
    await expect(create('/ann/b', 600)).rejects.toMatchObject({ code: 'FERRY_ERR_QUOTA_EXCEEDED', details: { limit: 'bytes' } });
    await create('/ann/c', 300);
    await expect(guard.checkCreate(ann, [{ path: '/ann/d', size: 1 }])).rejects.toMatchObject({ code: 'FERRY_ERR_QUOTA_EXCEEDED', details: { limit: 'sessions', max: 2 } });
  });
});
