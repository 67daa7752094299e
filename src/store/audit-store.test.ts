import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { AuditStore, type AuditRecord } from './audit-store.js';
import { MetaStore } from './meta-store.js';

let dir: string;
let meta: MetaStore;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ferry-audit-'));
  meta = await MetaStore.openSqlite(join(dir, 'meta.db'));
});
afterEach(async () => {
  await meta.close();
  await rm(dir, { recursive: true, force: true });
});

it('appends many entries in order, every field of each kept, past one statement’s rows (a commit of many files)', async () => {
  const audit = new AuditStore(meta.db);
  // 250 rows: one statement of 200, then 32, 16 and 2.
  const records: AuditRecord[] = Array.from({ length: 250 }, (_, i) => ({
    at: 5000 + i,
    event: i === 7 ? 'file.delete' : 'file.upload',
    ok: i % 5 !== 0,
    userId: 'u1',
    userName: 'ana',
    tokenId: i % 2 ? 'tok' : null,
    ip: '127.0.0.1',
    target: null,
    details: i === 9 ? { size: 9, why: 'x' } : null,
    path: `/home/ana/f${i}`,
    front: 'api',
  }));
  await audit.appendMany(records);
  const { entries } = await audit.query({ limit: 1000 });
  expect(entries).toHaveLength(250);
  const oldestFirst = entries.reverse();
  expect(oldestFirst.map((e) => e.path)).toEqual(records.map((r) => r.path));
  expect(oldestFirst[9]).toMatchObject({ at: 5009, event: 'file.upload', ok: true, user: 'ana', tokenId: 'tok', ip: '127.0.0.1', target: null, path: '/home/ana/f9', front: 'api', details: { size: 9, why: 'x' } });
  expect(oldestFirst[10]).toMatchObject({ ok: false, tokenId: null, details: null });
  expect((await audit.query({ limit: 10, event: 'file.delete' })).entries.map((e) => e.path)).toEqual(['/home/ana/f7']);
});

it('appends one entry, and no entry for none', async () => {
  const audit = new AuditStore(meta.db);
  await audit.appendMany([]);
  await audit.appendMany([{ at: 1, event: 'auth.login', ok: false, userName: 'bob' }]);
  const { entries } = await audit.query({ limit: 10 });
  expect(entries).toEqual([expect.objectContaining({ at: 1, event: 'auth.login', ok: false, user: 'bob', tokenId: null, path: null, front: null })]);
});
