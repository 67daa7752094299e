import { mkdtempSync, rmSync, writeFileSync, readdirSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MemoryBackend } from '../backends/memory/index.js';
import { moveObject } from '../core/storage.js';
import { contents, instrument, memRemote, T0, writeTree, type TreeSpec } from '../../test/helpers/sync-trees.js';
import { bisync, conflictName, type BisyncOptions, type ConflictStrategy } from './bisync.js';
import { makeRemote, type Remote } from './remote.js';

const root = mkdtempSync(join(tmpdir(), 'ferry-bisync-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

/** A fresh pair of memory remotes, resynced, with its own state folder. */
async function pair(tree: TreeSpec, more: BisyncOptions = {}): Promise<{ p1: Remote; p2: Remote; opts: BisyncOptions }> {
  const opts: BisyncOptions = { stateRoot: join(root, String(n++)), ...more };
  const p1 = await memRemote(tree);
  const p2 = await memRemote();
  await bisync(p1, p2, { ...opts, resync: true });
  expect(await contents(p2)).toEqual(await contents(p1));
  return { p1, p2, opts };
}

const del = async (r: Remote, rel: string) => r.backend.delete(rel);

describe('bisync', () => {
  it('refuses to run without state, until resync (named as the option, not as the CLI flag)', async () => {
    const p1 = await memRemote({ a: 'A' });
    const p2 = await memRemote();
    await expect(bisync(p1, p2, { stateRoot: join(root, 'none') })).rejects.toThrow(/\. Run once with `resync: true`: it deletes nothing and overwrites nothing/);
  });

  it('refuses nested paths of one store (one inside the other, or the same folder), before anything is copied', async () => {
    const store = new MemoryBackend({ directories: 'real' });
    await store.write('top/a', Buffer.from('A'));
    for (const [one, two] of [
      ['top', 'top/in'],
      ['top/in', 'top'],
      ['top', 'top'],
    ]) {
      await expect(bisync(makeRemote(store, one), makeRemote(store, two), { stateRoot: join(root, 'nested'), resync: true })).rejects.toMatchObject({
        code: 'FERRY_ERR_USAGE',
        message: expect.stringMatching(/overlap/),
      });
    }
    const keys: string[] = [];
    for await (const e of store.list('', { recursive: true })) if (e.type === 'file') keys.push(e.key);
    expect(keys).toEqual(['top/a']);
  });

  it('--resync makes the union; the newer version keeps the name, the older is kept as a conflict copy', async () => {
    const p1 = await memRemote({ a: 'A1', both: ['one', T0 + 5000] });
    const p2 = await memRemote({ b: 'B2', both: ['two!', T0 + 9000] });
    const r = await bisync(p1, p2, { stateRoot: join(root, 'resync'), resync: true });
    const want = { a: 'A1', b: 'B2', both: 'two!', 'both.conflict1': 'one' };
    expect(await contents(p1)).toEqual(want);
    expect(await contents(p2)).toEqual(want);
    expect(r).toMatchObject({ copied1to2: 2, copied2to1: 2, conflicts: [{ path: 'both', resolution: "path2 wins, path1's kept as both.conflict1" }] });
    // The state records the result: the next run has nothing to do.
    expect(await bisync(p1, p2, { stateRoot: join(root, 'resync') })).toMatchObject({ copied1to2: 0, copied2to1: 0, deleted1: 0, deleted2: 0, conflicts: [] });
    await expect(bisync(p1, p2, { stateRoot: join(root, 'resync'), resync: true, resyncMode: 'bigger' as never })).rejects.toMatchObject({ code: 'FERRY_ERR_USAGE', message: expect.stringMatching(/unknown resync mode bigger; one of newer, older, larger, smaller, path1, path2/) });
  });

  it('propagates new and changed files both ways', async () => {
    const { p1, p2, opts } = await pair({ a: 'A', b: 'B' });
    await writeTree(p1, { a: ['A changed', T0 + 100], 'new1/x': 'X' });
    await writeTree(p2, { b: ['B changed', T0 + 100], new2: 'Y' });
    const r = await bisync(p1, p2, opts);
    const want = { a: 'A changed', b: 'B changed', 'new1/x': 'X', new2: 'Y' };
    expect(await contents(p1)).toEqual(want);
    expect(await contents(p2)).toEqual(want);
    expect(r).toMatchObject({ copied1to2: 2, copied2to1: 2, conflicts: [] });
    const again = await bisync(p1, p2, opts);
    expect(again).toMatchObject({ copied1to2: 0, copied2to1: 0, deleted1: 0, deleted2: 0 });
  });

  it('propagates deletions both ways', async () => {
    const { p1, p2, opts } = await pair({ a: 'A', b: 'B', c: 'C', d: 'D', e: 'E' });
    await del(p1, 'a');
    await del(p2, 'b');
    const r = await bisync(p1, p2, opts);
    expect(await contents(p1)).toEqual({ c: 'C', d: 'D', e: 'E' });
    expect(await contents(p2)).toEqual({ c: 'C', d: 'D', e: 'E' });
    expect(r).toMatchObject({ deleted1: 1, deleted2: 1 });
  });

  it('a change beats a deletion on the other side', async () => {
    const { p1, p2, opts } = await pair({ a: 'A', b: 'B', c: 'C' });
    await del(p1, 'a');
    await writeTree(p2, { a: ['A edited', T0 + 100] });
    await bisync(p1, p2, opts);
    expect(await contents(p1)).toEqual({ a: 'A edited', b: 'B', c: 'C' });
    expect(await contents(p2)).toEqual({ a: 'A edited', b: 'B', c: 'C' });
  });

  it('propagates renames on both sides as moves, not copies', async () => {
    const big = 'z'.repeat(50_000);
    const inner2 = instrument(new MemoryBackend());
    const opts: BisyncOptions = { stateRoot: join(root, 'renames') };
    const p1 = await memRemote({ 'docs/one.txt': big, 'two.txt': big + '2', keep: 'K' });
    const p2 = makeRemote(inner2.backend);
    await bisync(p1, p2, { ...opts, resync: true });
    await (p1.backend as MemoryBackend).move('docs/one.txt', 'docs/renamed.txt');
    await (inner2.backend as MemoryBackend).move('two.txt', 'moved/two.txt');
    inner2.bytesWritten = 0;
    const r = await bisync(p1, p2, opts);
    const want = { 'docs/renamed.txt': big, 'moved/two.txt': big + '2', keep: 'K' };
    expect(await contents(p1)).toEqual(want);
    expect(await contents(p2)).toEqual(want);
    expect(r.renamed).toBe(2);
    expect(inner2.bytesWritten).toBe(0);
    expect(r).toMatchObject({ copied1to2: 0, copied2to1: 0 });
  });

  const CONFLICTS: Array<[ConflictStrategy, Record<string, string>]> = [
    ['newer', { f: 'path2 newer!' }],
    ['older', { f: 'path1 older' }],
    ['larger', { f: 'path2 newer!' }],
    ['path1', { f: 'path1 older' }],
    ['path2', { f: 'path2 newer!' }],
    ['keep-both', { 'f.conflict1': 'path1 older', 'f.conflict2': 'path2 newer!' }],
  ];
  it.each(CONFLICTS)('conflict strategy %s', async (strategy, want) => {
    const { p1, p2, opts } = await pair({ f: 'base' }, { conflict: strategy });
    await writeTree(p1, { f: ['path1 older', T0 + 100] });
    await writeTree(p2, { f: ['path2 newer!', T0 + 200] });
    const r = await bisync(p1, p2, opts);
    expect(await contents(p1)).toEqual(want);
    expect(await contents(p2)).toEqual(want);
    expect(r.conflicts).toHaveLength(1);
    const again = await bisync(p1, p2, opts);
    expect(again.conflicts).toEqual([]);
  });

  it('keep-both on a tie under newer; suffix goes before the extension', async () => {
    const { p1, p2, opts } = await pair({ 'd/f.txt': 'base' }, { conflict: 'newer' });
    await writeTree(p1, { 'd/f.txt': ['one', T0 + 100] });
    await writeTree(p2, { 'd/f.txt': ['two!', T0 + 100] });
    await bisync(p1, p2, opts);
    const want = { 'd/f.conflict1.txt': 'one', 'd/f.conflict2.txt': 'two!' };
    expect(await contents(p1)).toEqual(want);
    expect(await contents(p2)).toEqual(want);
    expect(conflictName('a/b.tar.gz', 'x1')).toBe('a/b.tar.x1.gz');
    expect(conflictName('.bashrc', 'x1')).toBe('.bashrc.x1');
  });

  it('never deletes, renames away or renames for a conflict an end-to-end marker (.ferry-e2e), either way, and says so', async () => {
    const M = '{"ferryE2e":1}';
    const { p1, p2, opts } = await pair({ '.ferry-e2e': M, 'v/.ferry-e2e': M, 'w/.ferry-e2e': M, 'v/a': 'A', 'w/b': 'B', 'x/.ferry-e2e': M }, { force: true });
    const events: string[] = [];
    await del(p1, '.ferry-e2e'); // deleted on path1: kept on path2
    await del(p2, 'v/.ferry-e2e'); // deleted on path2: kept on path1
    await del(p2, 'v/a');
    await moveObject(p1.backend, 'w/.ferry-e2e', 'w/renamed.json'); // a rename: copied, not moved on path2
    await writeTree(p1, { 'x/.ferry-e2e': ['{"ferryE2e":1,"one":1}', T0 + 100] });
    await writeTree(p2, { 'x/.ferry-e2e': ['{"ferryE2e":1,"two":22}', T0 + 100] }); // a conflict: left alone, not renamed
    const r = await bisync(p1, p2, { ...opts, onEvent: (e) => events.push(`${e.action} ${e.reason ?? ''}`) });
    expect(await contents(p1)).toEqual({ 'v/.ferry-e2e': M, 'w/renamed.json': M, 'w/b': 'B', 'x/.ferry-e2e': '{"ferryE2e":1,"one":1}' });
    expect(await contents(p2)).toEqual({ '.ferry-e2e': M, 'w/.ferry-e2e': M, 'w/renamed.json': M, 'w/b': 'B', 'x/.ferry-e2e': '{"ferryE2e":1,"two":22}' });
    expect(r).toMatchObject({ deleted1: 1, deleted2: 0, renamed: 0, errors: [] });
    expect(r.conflicts).toEqual([{ path: 'x/.ferry-e2e', resolution: 'skipped' }]);
    expect(events).toContain('error kept 2 end-to-end markers (.ferry-e2e) deleted on path1: bisync never deletes one (ferry rm -r removes a whole end-to-end folder)');
    expect(events).toContain('error kept 1 end-to-end marker (.ferry-e2e) deleted on path2: bisync never deletes one (ferry rm -r removes a whole end-to-end folder)');
    // The next run has nothing to do: a kept marker is not a change to carry over.
    const again = await bisync(p1, p2, opts);
    expect(again).toMatchObject({ deleted1: 0, deleted2: 0, copied1to2: 0, copied2to1: 0, renamed: 0 });
  });

  it('skip leaves a conflict alone and reports it again', async () => {
    const { p1, p2, opts } = await pair({ f: 'base', g: 'G' }, { conflict: 'skip' });
    await writeTree(p1, { f: ['one', T0 + 100] });
    await writeTree(p2, { f: ['two', T0 + 200] });
    expect((await bisync(p1, p2, opts)).conflicts).toEqual([{ path: 'f', resolution: 'skipped' }]);
    expect(await contents(p1)).toEqual({ f: 'one', g: 'G' });
    expect(await contents(p2)).toEqual({ f: 'two', g: 'G' });
    expect((await bisync(p1, p2, opts)).conflicts).toHaveLength(1);
  });

  it('error stops before changing anything', async () => {
    const { p1, p2, opts } = await pair({ f: 'base', g: 'G' }, { conflict: 'error' });
    await writeTree(p1, { f: ['one', T0 + 100], new: 'N' });
    await writeTree(p2, { f: ['two', T0 + 200] });
    // It said "1 conflicts", and not what to do.
    await expect(bisync(p1, p2, opts)).rejects.toMatchObject({
      code: 'FERRY_ERR_PRECONDITION_FAILED',
      message: 'bisync: 1 conflict (changed on both sides): f; nothing was changed (settle by hand, or run with another `conflict` strategy: keep-both, newer, path1, path2, ...)',
    });
    expect(await contents(p2)).toEqual({ f: 'two', g: 'G' });
  });

  it('the same edit on both sides is no conflict', async () => {
    const { p1, p2, opts } = await pair({ f: 'base' });
    await writeTree(p1, { f: ['same edit', T0 + 100] });
    await writeTree(p2, { f: ['same edit', T0 + 100] });
    const r = await bisync(p1, p2, opts);
    expect(r.conflicts).toEqual([]);
    expect(await contents(p1)).toEqual({ f: 'same edit' });
  });

  it('--max-delete refuses when too much of a side disappeared', async () => {
    const { p1, p2, opts } = await pair({ a: '1', b: '2', c: '3', d: '4' }, { maxDelete: 50 });
    for (const k of ['a', 'b', 'c']) await del(p1, k);
    await expect(bisync(p1, p2, opts)).rejects.toThrow(/more than `maxDelete` 50%; nothing was changed \(check the side, or run with `force: true`\)$/);
    expect(await contents(p2)).toEqual({ a: '1', b: '2', c: '3', d: '4' });
    await bisync(p1, p2, { ...opts, force: true });
    expect(await contents(p2)).toEqual({ d: '4' });
  });

  it('--dry-run changes nothing and saves no state', async () => {
    const { p1, p2, opts } = await pair({ a: 'A' });
    await writeTree(p1, { b: 'B' });
    const r = await bisync(p1, p2, { ...opts, dryRun: true });
    expect(r.copied1to2).toBe(1);
    expect(await contents(p2)).toEqual({ a: 'A' });
    expect((await bisync(p1, p2, opts)).copied1to2).toBe(1);
  });

  it('--dry-run of a keep-both conflict between two folders of one backend: the plan runs on dry-run remotes without error', async () => {
    const store = new MemoryBackend();
    const p1 = makeRemote(store, 'one');
    const p2 = makeRemote(store, 'two');
    await writeTree(p1, { a: 'A', keep: 'K' });
    const opts: BisyncOptions = { stateRoot: join(root, 'dry-conflict') };
    await bisync(p1, p2, { ...opts, resync: true });
    await writeTree(p1, { a: ['from one', T0 + 100] });
    await writeTree(p2, { a: ['from two!', T0 + 200] });
    const events: string[] = [];
    const r = await bisync(p1, p2, { ...opts, dryRun: true, onEvent: (e) => events.push(`${e.action}${e.side ?? ''} ${e.path}${e.to ? ' ' + e.to : ''}`) });
    expect(r).toMatchObject({ errors: [], conflicts: [{ path: 'a', resolution: 'kept both: a.conflict1, a.conflict2' }], copied1to2: 1, copied2to1: 1 });
    expect(events).toEqual(['conflict a', 'rename1 a a.conflict1', 'rename2 a a.conflict2', 'copy2 a.conflict1', 'copy1 a.conflict2']);
    expect(await contents(p1)).toEqual({ a: 'from one', keep: 'K' });
    expect(await contents(p2)).toEqual({ a: 'from two!', keep: 'K' });
  });

  it('recovers a run interrupted in the middle (aborted) on the next run', async () => {
    const inner2 = new MemoryBackend();
    const opts: BisyncOptions = { stateRoot: join(root, 'interrupt'), transfers: 1 };
    const p1 = await memRemote({ a: 'A', b: 'B', c: 'C', d: 'D' });
    const p2 = makeRemote(inner2);
    await bisync(p1, p2, { ...opts, resync: true });
    await writeTree(p1, { a: ['A1', T0 + 1], b: ['B1', T0 + 1], e: 'E', f: 'F' });
    await del(p1, 'c');
    await writeTree(p2, { d: ['D2', T0 + 1] });
    // Abort after the second write reaches path2.
    const ac = new AbortController();
    let writes = 0;
    const flaky = instrument(inner2);
    const origWrite = flaky.backend.write.bind(flaky.backend);
    flaky.backend.write = async (...args: Parameters<typeof origWrite>) => {
      const info = await origWrite(...args);
      if (++writes === 2) ac.abort();
      return info;
    };
    await expect(bisync(p1, makeRemote(flaky.backend), { ...opts, signal: ac.signal })).rejects.toMatchObject({ code: 'FERRY_ERR_ABORTED' });
    const r = await bisync(p1, p2, opts);
    const want = { a: 'A1', b: 'B1', d: 'D2', e: 'E', f: 'F' };
    expect(await contents(p1)).toEqual(want);
    expect(await contents(p2)).toEqual(want);
    expect(r.conflicts).toEqual([]);
    expect(r.errors).toEqual([]);
  });

  it('takes over the stale lock of a killed run and says so; refuses a live one', async () => {
    const { p1, p2, opts } = await pair({ a: 'A' });
    const dir = join(opts.stateRoot!, readdirSync(opts.stateRoot!)[0]);
    writeFileSync(join(dir, 'lock'), JSON.stringify({ pid: 2 ** 22 + 12345, host: hostname(), started: 0 }));
    await writeTree(p1, { b: 'B' });
    const r = await bisync(p1, p2, opts);
    expect(r.recovered).toBe(true);
    expect(await contents(p2)).toEqual({ a: 'A', b: 'B' });
    writeFileSync(join(dir, 'lock'), JSON.stringify({ pid: process.ppid, host: hostname(), started: 0 }));
    await expect(bisync(p1, p2, opts)).rejects.toThrow(/another bisync/);
  });

  it('filters apply to both sides', async () => {
    const { p1, p2, opts } = await pair({ a: 'A' });
    const { Filter } = await import('./filter.js');
    await writeTree(p1, { 'x.tmp': 'T', b: 'B' });
    await bisync(p1, p2, { ...opts, filter: new Filter({ exclude: ['*.tmp'] }) });
    expect(await contents(p2)).toEqual({ a: 'A', b: 'B' });
  });
});
