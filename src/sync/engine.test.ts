import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MemoryBackend } from '../backends/memory/index.js';
import type { ObjectInfo } from '../core/storage.js';
import type { BatchWriteItem, BatchWriteLimits } from '../core/storage-bulk.js';
import { contents, instrument, memRemote, snapshot, T0, writeTree, type TreeSpec } from '../../test/helpers/sync-trees.js';
import { check, combinedLines } from './check.js';
import { copy, move, sync, type SyncEvent, type SyncMode, type SyncOptions } from './engine.js';
import { Filter } from './filter.js';
import { closeRemotes, makeRemote, openRemotes, subRemote, type Remote } from './remote.js';
import { bisync } from './bisync.js';

const run = { sync, copy, move };

interface Case {
  name: string;
  mode: SyncMode;
  src: TreeSpec;
  dst: TreeSpec;
  options?: SyncOptions;
  /** Expected destination contents. */
  want: Record<string, string>;
  /** Expected source contents afterwards (default: unchanged). */
  wantSrc?: Record<string, string>;
  /** Expected result counters (subset). */
  counts?: Record<string, unknown>;
}

const T1 = T0 + 60_000;

const CASES: Case[] = [
  { name: 'copy to an empty destination', mode: 'copy', src: { a: 'A', 'd/b': 'BB', 'd/e/c': 'CCC' }, dst: {}, want: { a: 'A', 'd/b': 'BB', 'd/e/c': 'CCC' }, counts: { transferred: 3, bytes: 6 } },
  { name: 'copy keeps destination extras', mode: 'copy', src: { a: 'A' }, dst: { x: 'X' }, want: { a: 'A', x: 'X' }, counts: { deleted: 0 } },
  { name: 'sync deletes destination extras', mode: 'sync', src: { a: 'A' }, dst: { x: 'X', 'd/y': 'Y' }, want: { a: 'A' }, counts: { deleted: 2 } },
  { name: 'equal size and time: skipped even if contents differ (default)', mode: 'sync', src: { a: 'new' }, dst: { a: 'old' }, want: { a: 'old' }, counts: { transferred: 0, unchanged: 1 } },
  { name: 'size differs: transferred', mode: 'sync', src: { a: 'newer' }, dst: { a: 'old' }, want: { a: 'newer' }, counts: { transferred: 1 } },
  { name: 'time differs, same content: only the time is set', mode: 'sync', src: { a: ['same', T1] }, dst: { a: ['same', T0] }, want: { a: 'same' }, counts: { transferred: 0, mtimeUpdated: 1 } },
  { name: 'time differs, different content: transferred', mode: 'sync', src: { a: ['new', T1] }, dst: { a: ['old', T0] }, want: { a: 'new' }, counts: { transferred: 1 } },
  { name: '--size-only ignores times and contents', mode: 'sync', src: { a: ['new', T1] }, dst: { a: ['old', T0] }, options: { compare: 'size-only' }, want: { a: 'old' }, counts: { transferred: 0 } },
  { name: '--ignore-times transfers equal files', mode: 'sync', src: { a: 'same' }, dst: { a: 'same' }, options: { compare: 'ignore-times' }, want: { a: 'same' }, counts: { transferred: 1, unchanged: 0 } },
  { name: '--checksum catches same size and time', mode: 'sync', src: { a: 'new' }, dst: { a: 'old' }, options: { compare: 'checksum' }, want: { a: 'new' }, counts: { transferred: 1 } },
  { name: '--checksum ignores times of equal files', mode: 'sync', src: { a: ['same', T1] }, dst: { a: ['same', T0] }, options: { compare: 'checksum' }, want: { a: 'same' }, counts: { transferred: 0, mtimeUpdated: 0 } },
  { name: '--update skips files newer on the destination', mode: 'copy', src: { a: ['src', T0] }, dst: { a: ['dest!', T1] }, options: { update: true }, want: { a: 'dest!' }, counts: { transferred: 0 } },
  { name: '--update transfers files older on the destination', mode: 'copy', src: { a: ['src', T1] }, dst: { a: ['dest!', T0] }, options: { update: true }, want: { a: 'src' }, counts: { transferred: 1 } },
  { name: '--update with equal times compares sizes', mode: 'copy', src: { a: ['new', T0] }, dst: { a: ['old', T0] }, options: { update: true }, want: { a: 'old' }, counts: { transferred: 0 } },
  { name: '--ignore-existing never touches existing files', mode: 'sync', src: { a: 'changed!', b: 'B' }, dst: { a: 'old' }, options: { ignoreExisting: true }, want: { a: 'old', b: 'B' }, counts: { transferred: 1 } },
  {
    name: '--include copies only matches; excluded destination files stay',
    mode: 'sync',
    src: { 'a.gz': 'gz', 'b.txt': 'txt', 'd/c.gz': 'gz2' },
    dst: { 'old.txt': 'keep', 'old.gz': 'del' },
    options: { filter: new Filter({ include: ['*.gz'] }) },
    want: { 'a.gz': 'gz', 'd/c.gz': 'gz2', 'old.txt': 'keep' },
  },
  {
    name: '--delete-excluded deletes excluded destination files',
    mode: 'sync',
    src: { 'a.gz': 'gz', 'b.txt': 'txt' },
    dst: { 'old.txt': 'del', 'old.gz': 'del' },
    options: { filter: new Filter({ include: ['*.gz'] }), deleteExcluded: true },
    want: { 'a.gz': 'gz' },
  },
  {
    name: '--exclude and --filter-from',
    mode: 'copy',
    src: { 'a.tmp': 't', 'cache/x': 'c', 'keep/a.tmp': 'k', b: 'b' },
    dst: {},
    options: { filter: new Filter({ filterFromText: ['+ /keep/**\n- *.tmp\n- cache/'] }) },
    want: { 'keep/a.tmp': 'k', b: 'b' },
  },
  { name: '--min-size / --max-size', mode: 'copy', src: { s: '1', m: '12345', l: '1234567890' }, dst: {}, options: { filter: new Filter({ minSize: 2, maxSize: 5 }) }, want: { m: '12345' } },
  {
    name: '--max-age keeps recent files only',
    mode: 'copy',
    src: { old: ['o', T0], recent: ['r', T0 + 10 * 86_400_000] },
    dst: {},
    options: { filter: new Filter({ maxAge: 2 * 86_400_000, now: T0 + 11 * 86_400_000 }) },
    want: { recent: 'r' },
  },
  {
    name: '--min-age keeps old files only',
    mode: 'copy',
    src: { old: ['o', T0], recent: ['r', T0 + 10 * 86_400_000] },
    dst: {},
    options: { filter: new Filter({ minAge: 2 * 86_400_000, now: T0 + 11 * 86_400_000 }) },
    want: { old: 'o' },
  },
  { name: '--max-delete refuses every deletion above it', mode: 'sync', src: { a: 'A' }, dst: { x: '1', y: '2', z: '3' }, options: { maxDelete: 2 }, want: { a: 'A', x: '1', y: '2', z: '3' }, counts: { deleted: 0 } },
  { name: '--max-delete allows up to it', mode: 'sync', src: { a: 'A' }, dst: { x: '1', y: '2' }, options: { maxDelete: 2 }, want: { a: 'A' }, counts: { deleted: 2 } },
  { name: '--dry-run changes nothing', mode: 'sync', src: { a: 'A', b: 'new!' }, dst: { b: 'old', x: 'X' }, options: { dryRun: true }, want: { b: 'old', x: 'X' }, counts: { transferred: 2, deleted: 1, dryRun: true } },
  { name: 'move removes sources after the copy', mode: 'move', src: { a: 'A', 'd/b': 'B' }, dst: {}, want: { a: 'A', 'd/b': 'B' }, wantSrc: {}, counts: { transferred: 2, sourceDeleted: 2 } },
  { name: 'move removes sources already identical on the destination', mode: 'move', src: { a: 'A' }, dst: { a: 'A' }, want: { a: 'A' }, wantSrc: {}, counts: { transferred: 0, sourceDeleted: 1 } },
  { name: 'move keeps sources skipped by --update', mode: 'move', src: { a: ['A', T0] }, dst: { a: ['BB', T1] }, options: { update: true }, want: { a: 'BB' }, wantSrc: { a: 'A' } },
  { name: 'move --dry-run changes nothing', mode: 'move', src: { a: 'A' }, dst: {}, options: { dryRun: true }, want: {}, wantSrc: { a: 'A' } },
  { name: 'nasty names travel', mode: 'sync', src: { 'naïve ☃/"q" it\'s?.txt': 'u', 'sp ace/#%&.bin': 'x' }, dst: {}, want: { 'naïve ☃/"q" it\'s?.txt': 'u', 'sp ace/#%&.bin': 'x' } },
];

describe('sync/copy/move on memory remotes', () => {
  it.each(CASES)('$name', async (c) => {
    const src = await memRemote(c.src);
    const dst = await memRemote(c.dst);
    const result = await run[c.mode](src, dst, c.options);
    expect(await contents(dst)).toEqual(c.want);
    expect(await contents(src)).toEqual(c.wantSrc ?? Object.fromEntries(Object.entries(c.src).map(([k, v]) => [k, typeof v === 'string' ? v : v[0]])));
    if (c.counts) expect(result).toMatchObject(c.counts);
    if (!c.options?.maxDelete) expect(result.errors).toEqual([]);
  });

  // A program's typo ran silently before: 'checksums' compared sizes and times, transfers 0 ran
  // one at a time, maxDelete -1 (rclone's "no limit") refused every deletion.
  it.each([
    ['sync', { compare: 'checksums' }, /`compare` must be one of 'default', 'checksum', 'size-only', 'ignore-times', not "checksums"/],
    ['copy', { transfers: 0 }, /`transfers` must be a whole number >= 1, not 0/],
    ['move', { checkers: 2.5 }, /`checkers` must be a whole number >= 1, not 2.5/],
    ['sync', { maxDelete: -1 }, /`maxDelete` must be a whole number >= 0, not -1/],
    ['check', { retries: Number.NaN }, /`retries` must be a whole number >= 0, not null/],
    ['bisync', { maxDelete: 150 }, /`maxDelete` is a percentage from 0 to 100, not 150/],
    ['bisync', { compare: 'mtime' }, /`compare` must be one of/],
  ] as const)('%s refuses %j before anything is listed or changed (FERRY_ERR_USAGE)', async (op, options, message) => {
    const src = await memRemote({ a: ['A', T0] });
    const dst = await memRemote({ a: ['B', T0], gone: 'G' });
    const listed: string[] = [];
    const spy = (r: Remote): Remote => ({ ...r, backend: new Proxy(r.backend, { get: (t, k) => (k === 'list' ? (...args: unknown[]) => (listed.push(String(args[0])), (t.list as (...a: unknown[]) => unknown)(...args)) : Reflect.get(t, k)) }) });
    const calls = { sync, copy, move, check, bisync: (a: Remote, b: Remote, o: object) => bisync(a, b, { ...o, resync: true, stateRoot: mkdtempSync(join(tmpdir(), 'bisync-state-')) }) };
    const err = await (calls[op] as (a: Remote, b: Remote, o: object) => Promise<unknown>)(spy(src), spy(dst), options).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'FERRY_ERR_USAGE', message: expect.stringMatching(message) });
    expect(listed).toEqual([]);
    expect(await contents(dst)).toEqual({ a: 'B', gone: 'G' });
  });

  it('takes every valid value of those options', async () => {
    for (const compare of ['default', 'checksum', 'size-only', 'ignore-times'] as const) {
      const dst = await memRemote({ old: 'O' });
      const result = await sync(await memRemote({ a: 'A' }), dst, { compare, transfers: 1, checkers: 1, retries: 0, maxDelete: 1 });
      expect({ compare, errors: result.errors, files: await contents(dst) }).toEqual({ compare, errors: [], files: { a: 'A' } });
    }
  });

  it('preserves modification times', async () => {
    const src = await memRemote({ a: ['A', T0 + 1234], 'd/b': ['B', T0 + 5678] });
    const dst = await memRemote();
    await sync(src, dst);
    expect(await snapshot(dst)).toEqual({ a: ['A', T0 + 1234], 'd/b': ['B', T0 + 5678] });
  });

  it('respects a coarse destination mtime precision (modify window): no re-transfer', async () => {
    const src = await memRemote({ a: ['A', T0 + 1234] });
    const coarse = instrument(new MemoryBackend(), { mtimePrecisionMs: 1000 });
    const dst = makeRemote(coarse.backend);
    const first = await sync(src, dst);
    expect(first.transferred).toBe(1);
    expect((await snapshot(dst)).a[1]).toBe(T0 + 1000);
    const again = await sync(src, dst);
    expect(again).toMatchObject({ transferred: 0, mtimeUpdated: 0, unchanged: 1 });
  });

  it('a second sync of an unchanged tree does nothing', async () => {
    const src = await memRemote({ a: 'A', b: 'B' });
    const dst = await memRemote();
    await sync(src, dst);
    const again = await sync(src, dst);
    expect(again).toMatchObject({ transferred: 0, deleted: 0, checked: 2, unchanged: 2 });
  });

  it('deletes nothing when a transfer failed', async () => {
    const inner = new MemoryBackend();
    const bad = instrument(inner, { failRead: { keys: ['b'] } });
    const src = makeRemote(bad.backend);
    await writeTree(src, { a: 'A', b: 'B' });
    const dst = await memRemote({ x: 'X' });
    const result = await sync(src, dst, { retries: 0 });
    expect(result.errors.map((e) => e.path)).toEqual(['b']);
    expect(result.deletesSkipped).toBe('not deleting 1 file because 1 error happened');
    expect(await contents(dst)).toEqual({ a: 'A', x: 'X' });
  });

  it('retries retryable failures with backoff', async () => {
    const bad = instrument(new MemoryBackend(), { failRead: { keys: ['a'], times: 2, retryable: true } });
    const src = makeRemote(bad.backend);
    await writeTree(src, { a: 'A' });
    const dst = await memRemote();
    const events: SyncEvent[] = [];
    const result = await sync(src, dst, { retries: 3, retryBaseMs: 1, onEvent: (e) => events.push(e) });
    expect(result.errors).toEqual([]);
    expect(events.filter((e) => e.action === 'retry')).toHaveLength(2);
    expect(await contents(dst)).toEqual({ a: 'A' });
  });

  it('gives up after --retries', async () => {
    const bad = instrument(new MemoryBackend(), { failRead: { keys: ['a'], retryable: true } });
    const src = makeRemote(bad.backend);
    await writeTree(src, { a: 'A' });
    const result = await sync(src, await memRemote(), { retries: 2, retryBaseMs: 1 });
    expect(result.errors).toHaveLength(1);
    expect(bad.calls.read).toBe(3);
  });

  it('--backup-dir receives replaced and deleted files', async () => {
    const store = new MemoryBackend();
    const dst = makeRemote(store, 'dst');
    const bak = subRemote(makeRemote(store), 'bak');
    await writeTree(dst, { a: 'old', gone: 'G', same: 'S' });
    const src = await memRemote({ a: 'newer', same: 'S' });
    const result = await sync(src, dst, { backupDir: bak });
    expect(await contents(dst)).toEqual({ a: 'newer', same: 'S' });
    expect(await contents(bak)).toEqual({ a: 'old', gone: 'G' });
    expect(result).toMatchObject({ backedUp: 2, deleted: 1, transferred: 1 });
  });

  it('--backup-dir on another backend copies then deletes', async () => {
    const src = await memRemote({ a: 'newer' });
    const dst = await memRemote({ a: 'old', gone: 'G' });
    const bak = await memRemote();
    await sync(src, dst, { backupDir: bak });
    expect(await contents(bak)).toEqual({ a: 'old', gone: 'G' });
  });

  it('--track-renames moves on the destination instead of copying', async () => {
    const big = 'x'.repeat(10_000);
    const src = await memRemote({ 'new/name.bin': big, other: 'o' });
    const inner = new MemoryBackend();
    const counted = instrument(inner);
    const dst = makeRemote(counted.backend);
    await writeTree(dst, { 'old/name.bin': big, other: 'o' });
    counted.bytesWritten = 0;
    const result = await sync(src, dst, { trackRenames: true });
    expect(result).toMatchObject({ renamed: 1, transferred: 0, deleted: 0 });
    expect(counted.bytesWritten).toBe(0);
    expect(await contents(dst)).toEqual({ 'new/name.bin': big, other: 'o' });
  });

  it('without --track-renames a rename is a copy and a delete', async () => {
    const src = await memRemote({ 'b.bin': 'same' });
    const dst = await memRemote({ 'a.bin': 'same' });
    const result = await sync(src, dst);
    expect(result).toMatchObject({ renamed: 0, transferred: 1, deleted: 1 });
  });

  it('move keeps a source whose copy does not verify', async () => {
    const src = await memRemote({ good: 'fine', bad: 'will be corrupted' });
    const dst = makeRemote(instrument(new MemoryBackend(), { corruptWrite: ['bad'] }).backend);
    const result = await move(src, dst, { retries: 1, retryBaseMs: 1 });
    expect(result.errors.map((e) => [e.path, e.code])).toEqual([['bad', 'FERRY_ERR_HASH_MISMATCH']]);
    expect(await contents(src)).toEqual({ bad: 'will be corrupted' });
  });

  it('move within one backend is a server-side move', async () => {
    const store = instrument(new MemoryBackend());
    const src = makeRemote(store.backend, 'out');
    const dst = makeRemote(store.backend, 'in');
    await writeTree(src, { a: 'A', 'd/b': 'B' });
    store.bytesRead = 0;
    const result = await move(src, dst);
    expect(result).toMatchObject({ transferred: 2, sourceDeleted: 2 });
    expect(store.calls.move).toBe(2);
    expect(store.bytesRead).toBe(0);
    expect(await contents(dst)).toEqual({ a: 'A', 'd/b': 'B' });
    expect(await contents(src)).toEqual({});
  });

  it('a missing source is FERRY_ERR_NOT_FOUND and the destination stays whole', async () => {
    const { LocalBackend } = await import('../backends/local/index.js');
    const { tmpdir } = await import('node:os');
    const missing = makeRemote(new LocalBackend({ root: `${tmpdir()}/ferry-no-such-dir-${process.pid}` }));
    const dst = await memRemote({ keep: 'K' });
    await expect(sync(missing, dst)).rejects.toMatchObject({ code: 'FERRY_ERR_NOT_FOUND' });
    const store = new MemoryBackend({ directories: 'real' });
    await expect(sync(makeRemote(store, 'typo'), dst)).rejects.toMatchObject({ code: 'FERRY_ERR_NOT_FOUND' });
    await expect(check(makeRemote(store, 'typo'), dst)).rejects.toMatchObject({ code: 'FERRY_ERR_NOT_FOUND' });
    expect(await contents(dst)).toEqual({ keep: 'K' });
  });

  it('refuses overlapping remotes', async () => {
    const store = new MemoryBackend();
    await expect(sync(makeRemote(store, 'a'), makeRemote(store, 'a/b'))).rejects.toThrow(/overlap/);
  });

  it('removes destination directories the source lacks (real directories)', async () => {
    const src = await memRemote({ 'keep/a': 'A' }, 'real');
    const dst = await memRemote({ 'keep/a': 'A', 'gone/deep/x': 'X' }, 'real');
    await (dst.backend as MemoryBackend).mkdir('empty/dir');
    await sync(src, dst);
    const dirs: string[] = [];
    for await (const e of dst.backend.list('', { recursive: true })) if (e.type === 'dir') dirs.push(e.key);
    expect(dirs.sort()).toEqual(['keep']);
  });

  it('reports progress and events', async () => {
    const src = await memRemote({ a: 'A', b: 'BB' });
    const dst = await memRemote({ x: 'X' });
    const phases = new Set<string>();
    let last: { filesDone: number; bytesDone: number; bytesTotal?: number } | undefined;
    const events: SyncEvent[] = [];
    await sync(src, dst, { onProgress: (p) => (phases.add(p.phase), (last = p)), onEvent: (e) => events.push(e) });
    expect([...phases]).toEqual(expect.arrayContaining(['comparing', 'transferring', 'deleting', 'done']));
    expect(last).toMatchObject({ filesDone: 2, bytesDone: 3, bytesTotal: 3 });
    expect(events.map((e) => `${e.action} ${e.path}`).sort()).toEqual(['copy a', 'copy b', 'delete x']);
  });

  it('stops on abort', async () => {
    const src = await memRemote({ a: 'A', b: 'B' });
    const ac = new AbortController();
    ac.abort();
    await expect(sync(src, await memRemote(), { signal: ac.signal })).rejects.toMatchObject({ code: 'FERRY_ERR_ABORTED' });
  });

  it('limits bandwidth without failing', async () => {
    const src = await memRemote({ a: 'x'.repeat(100_000) });
    const dst = await memRemote();
    const result = await sync(src, dst, { bwlimit: 10 * 1024 * 1024, transfers: 1 });
    expect(result.transferred).toBe(1);
    expect(await contents(dst)).toEqual({ a: 'x'.repeat(100_000) });
  });

  it('uses a batch ability for small files when the destination has one', async () => {
    const batches: number[] = [];
    class BatchyMemory extends MemoryBackend {
      async batchWriteLimits(): Promise<BatchWriteLimits> {
        return { maxObjectSize: 100, maxObjects: 2, maxBytes: 1000 };
      }
      async writeBatch(items: readonly BatchWriteItem[]): Promise<ObjectInfo[]> {
        batches.push(items.length);
        return Promise.all(items.map((it) => this.write(it.key, it.data, { mtime: it.mtime })));
      }
    }
    const batchy = new BatchyMemory();
    const src = await memRemote({ a: 'A', b: 'B', c: 'C', big: 'x'.repeat(500) });
    const dst = makeRemote(batchy);
    const result = await sync(src, dst);
    expect(result.transferred).toBe(4);
    expect(batches).toEqual([2, 1]);
    expect(await snapshot(dst)).toEqual(await snapshot(src));
  });
});

describe('check on memory remotes', () => {
  it('lists =, *, -, + like rclone --combined and fails on differences', async () => {
    const src = await memRemote({ same: 'S', diff: 'one', size: 'a', onlysrc: 'x' });
    const dst = await memRemote({ same: 'S', diff: 'two', size: 'ab', onlydst: 'y' });
    const r = await check(src, dst);
    expect(combinedLines(r)).toEqual(['* diff', '- onlydst', '+ onlysrc', '= same', '* size']);
    expect(r).toMatchObject({ ok: false, same: 1, differ: 2, missingOnDst: 1, missingOnSrc: 1, hashKind: 'md5' });
  });

  it('--download compares bytes', async () => {
    const src = await memRemote({ a: 'same', b: 'diff' });
    const dst = await memRemote({ a: 'same', b: 'DIFF' });
    const r = await check(src, dst, { download: true });
    expect(combinedLines(r)).toEqual(['= a', '* b']);
  });

  it('--one-way ignores destination extras', async () => {
    const r = await check(await memRemote({ a: 'A' }), await memRemote({ a: 'A', extra: 'E' }), { oneWay: true });
    expect(r.ok).toBe(true);
  });

  it('uses filters on both sides', async () => {
    const r = await check(await memRemote({ a: 'A', 'b.tmp': 'x' }), await memRemote({ a: 'A', 'c.tmp': 'y' }), { filter: new Filter({ exclude: ['*.tmp'] }) });
    expect(r.ok).toBe(true);
  });

  it('reports unreadable files with !', async () => {
    const bad = instrument(new MemoryBackend(), { failRead: { keys: ['a'] }, features: { hashes: [] }, hide: ['hash'] });
    const src = makeRemote(bad.backend);
    await writeTree(src, { a: 'A' });
    const r = await check(src, await memRemote({ a: 'A' }), { download: true });
    expect(combinedLines(r)).toEqual(['! a']);
    expect(r.ok).toBe(false);
  });

  it('tries a failing read again --retries times (3 by default, as sync)', async () => {
    const flaky = async (retries?: number) => {
      const bad = instrument(new MemoryBackend(), { failRead: { keys: ['a'], retryable: true }, features: { hashes: [] }, hide: ['hash'] });
      const src = makeRemote(bad.backend);
      await writeTree(src, { a: 'A' });
      const r = await check(src, await memRemote({ a: 'A' }), { download: true, ...(retries === undefined ? {} : { retries }) });
      return { lines: combinedLines(r), reads: bad.calls.read };
    };
    expect(await flaky(0)).toEqual({ lines: ['! a'], reads: 1 });
    expect(await flaky(1)).toEqual({ lines: ['! a'], reads: 2 });
    expect(await flaky()).toEqual({ lines: ['! a'], reads: 4 });
  });
});

describe('plan + do on the decorators', () => {
  it('a dry run prints the plan (onPlan), runs it on dry-run remotes: nothing read from the source, nothing changed', async () => {
    const srcStore = instrument(new MemoryBackend());
    const src = makeRemote(srcStore.backend);
    await writeTree(src, { a: 'A'.repeat(5000), 'd/b': 'B', same: 'S' });
    const dstStore = instrument(new MemoryBackend());
    const dst = makeRemote(dstStore.backend);
    await writeTree(dst, { same: 'S', extra: 'X' });
    srcStore.calls.read = 0;
    dstStore.calls.write = 0;
    dstStore.calls.delete = 0;
    const { planLines } = await import('./plan.js');
    let lines: string[] = [];
    const events: SyncEvent[] = [];
    const result = await move(src, dst, { dryRun: true, onPlan: (p) => (lines = planLines(p)), onEvent: (e) => events.push(e) });
    expect(lines).toEqual(['copy a', 'delete-source a', 'copy d/b', 'delete-source d/b', 'delete-source same']);
    expect(result).toMatchObject({ dryRun: true, transferred: 2, sourceDeleted: 3, errors: [] });
    expect(events.every((e) => e.dryRun)).toBe(true);
    expect([srcStore.calls.read, dstStore.calls.write, dstStore.calls.delete, srcStore.calls.delete ?? 0]).toEqual([0, 0, 0, 0]);
    expect(await contents(src)).toEqual({ a: 'A'.repeat(5000), 'd/b': 'B', same: 'S' });
    expect(await contents(dst)).toEqual({ same: 'S', extra: 'X' });
  });

  it('a dry run sees its own steps: a rename then its time fix report no error', async () => {
    const big = 'x'.repeat(10_000);
    const src = await memRemote({ 'new/name.bin': [big, T0 + 5000] });
    const dst = await memRemote({ 'old/name.bin': [big, T0] });
    const renamed = await sync(src, dst, { trackRenames: true, dryRun: true });
    expect(renamed).toMatchObject({ renamed: 1, errors: [] });
    expect(await contents(dst)).toEqual({ 'old/name.bin': big });
  });

  it('-vv: every storage call is reported, with its outcome and no data', async () => {
    const src = await memRemote({ a: 'hello' });
    const dst = await memRemote({ x: 'X' });
    const calls: string[] = [];
    await sync(src, dst, { onStorageCall: (e) => calls.push(`${e.op} ${e.key} ${e.ok}${e.bytes === undefined ? '' : ' ' + e.bytes}`) });
    expect(calls).toEqual(expect.arrayContaining(['list  true', 'write a true 5', 'delete x true']));
    expect(calls.join('\n')).not.toContain('hello');
  });

  it('retries of a call are the decorator’s; a file copy is not retried again on top (no multiplied attempts)', async () => {
    const bad = instrument(new MemoryBackend(), { failRead: { keys: ['a'], retryable: true } });
    const src = makeRemote(bad.backend);
    await writeTree(src, { a: 'A' });
    const events: SyncEvent[] = [];
    const result = await sync(src, await memRemote(), { retries: 3, retryBaseMs: 1, onEvent: (e) => events.push(e) });
    expect(bad.calls.read).toBe(4);
    expect(events.filter((e) => e.action === 'retry').map((e) => e.reason?.replace(/in \d+ ms/, 'in N ms'))).toEqual(['attempt 2 in N ms', 'attempt 3 in N ms', 'attempt 4 in N ms']);
    expect(result.errors.map((e) => e.path)).toEqual(['a']);
  });
});

describe('entries a listing leaves out', () => {
  it('a symbolic link not followed is in the result of sync, bisync and check, with no onSkip given', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-skipped-'));
    try {
      mkdirSync(join(dir, 'src', 'sub'), { recursive: true });
      writeFileSync(join(dir, 'src', 'a.txt'), 'A');
      symlinkSync(join(dir, 'src', 'a.txt'), join(dir, 'src', 'sub', 'link.txt'));
      const [src] = await openRemotes([join(dir, 'src')], { HOME: dir });
      expect(src.onSkip).toBeUndefined();
      const dst = await memRemote();
      const r = await sync(src, dst);
      expect(r.skipped).toEqual([{ path: 'sub/link.txt', reason: expect.stringMatching(/symbolic link/) }]);
      expect(r.errors).toEqual([]);
      expect(await contents(dst)).toEqual({ 'a.txt': 'A' });
      // Without links, nothing is skipped: the list is not filled by default.
      expect((await sync(dst, await memRemote())).skipped).toEqual([]);
      const b = await bisync(src, await memRemote(), { stateRoot: join(dir, 'state'), resync: true });
      expect(b.skipped).toEqual([{ path: 'sub/link.txt', reason: expect.stringMatching(/symbolic link/), side: 1 }]);
      // check says which side left it out, and a link it did not compare is not a difference.
      const c = await check(src, dst);
      expect(c.skipped).toEqual([{ path: 'sub/link.txt', reason: expect.stringMatching(/symbolic link/), side: 'src' }]);
      expect(c.ok).toBe(true);
      expect((await check(dst, src)).skipped).toEqual([{ path: 'sub/link.txt', reason: expect.stringMatching(/symbolic link/), side: 'dst' }]);
      await closeRemotes([src]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
