import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { MemoryBackend } from '../backends/memory/memory-backend.js';
import { defaultRegistry } from '../remotes/index.js';
import { listPlace, mkdirPlace, openPlace, openPlaces, readPlace, removePlace, sizeOfPlace, statPlace, transferPlace } from './remote-fs.js';

const names = async (it: AsyncIterable<{ path: string; type: string }>) => {
  const out: string[] = [];
  for await (const e of it) out.push(e.type === 'dir' ? `${e.path}/` : e.path);
  return out;
};

describe('ls, stat, cat, size, rm, mkdir, mv, cp on a memory remote (in process: memory stores live in one process)', () => {
  afterEach(() => {
    MemoryBackend.forget('rfs-virtual');
    MemoryBackend.forget('rfs-real');
  });

  it('a virtual store: folders implied by keys', async () => {
    const place = await openPlace('memory:rfs-virtual', defaultRegistry);
    await place.backend.write('a/one.txt', Buffer.from('one'));
    await place.backend.write('a/b/two.txt', Buffer.from('two!'));
    expect(await names(listPlace(place, { recursive: true }))).toEqual(['/a/', '/a/b/', '/a/b/two.txt', '/a/one.txt']);
    expect(await names(listPlace({ ...place, key: 'a' }))).toEqual(['/a/b/', '/a/one.txt']);
    expect(await statPlace({ ...place, key: 'a/b' })).toMatchObject({ type: 'dir', name: 'b' });
    expect(await statPlace({ ...place, key: 'a/one.txt' })).toMatchObject({ type: 'file', size: 3 });
    await expect(statPlace({ ...place, key: 'nope' })).rejects.toMatchObject({ code: 'FERRY_ERR_NOT_FOUND' });
    expect(await sizeOfPlace(place)).toEqual({ files: 2, bytes: 7 });
    let text = '';
    for await (const c of await readPlace({ ...place, key: 'a/b/two.txt' })) text += c;
    expect(text).toBe('two!');
    await expect(readPlace({ ...place, key: 'a' })).rejects.toMatchObject({ code: 'FERRY_ERR_IS_A_DIRECTORY' });
    expect(await mkdirPlace({ ...place, key: 'c' }, {})).toBe('implied');
    const moved = await transferPlace({ ...place, key: 'a/one.txt' }, { ...place, key: 'a/b', label: 'memory:rfs-virtual/a/b' }, { move: true });
    // The entry's path is a location to pass back to ferry, not the backend's key.
    expect(moved).toMatchObject({ path: 'memory:rfs-virtual/a/b/one.txt', type: 'file' });
    await expect(removePlace({ ...place, key: 'a' }, {})).rejects.toMatchObject({ code: 'FERRY_ERR_DIRECTORY_NOT_EMPTY' });
    await removePlace({ ...place, key: 'a' }, { recursive: true });
    expect(await names(listPlace(place, { recursive: true }))).toEqual([]);
    await expect(removePlace(place, { recursive: true })).rejects.toMatchObject({ code: 'FERRY_ERR_USAGE' });
  });

  it('a store with real directories: mkdir, rm -r removes them too, cp -r of a tree, --no-clobber', async () => {
    const place = await openPlace('memory:rfs-real?directories=real', defaultRegistry);
    expect(await mkdirPlace({ ...place, key: 'd/e' }, { parents: true })).toBe('made');
    expect(await statPlace({ ...place, key: 'd/e' })).toMatchObject({ type: 'dir' });
    expect(await mkdirPlace({ ...place, key: 'd/e' }, { parents: true })).toBe('existed');
    await expect(mkdirPlace({ ...place, key: 'd/e' }, {})).rejects.toMatchObject({ code: 'FERRY_ERR_ALREADY_EXISTS' });
    await place.backend.write('d/e/f.txt', Buffer.from('f'));
    await expect(transferPlace({ ...place, key: 'd' }, { ...place, key: 'copy' }, {})).rejects.toMatchObject({ code: 'FERRY_ERR_USAGE' });
    await transferPlace({ ...place, key: 'd' }, { ...place, key: 'copy' }, { recursive: true });
    expect((await place.backend.stat('copy/e/f.txt')).size).toBe(1);
    await expect(transferPlace({ ...place, key: 'd/e/f.txt' }, { ...place, key: 'copy/e/f.txt' }, { noClobber: true })).rejects.toMatchObject({
      code: 'FERRY_ERR_ALREADY_EXISTS',
    });
    const dry: string[] = [];
    await removePlace({ ...place, key: 'd', label: 'memory:rfs-real/d/?directories=real' }, { recursive: true, dryRun: true, onAction: (l) => dry.push(l) });
    expect(dry).toEqual([
      '(dry run) delete memory:rfs-real/d/e/f.txt?directories=real',
      '(dry run) rmdir memory:rfs-real/d/e?directories=real',
      '(dry run) rmdir memory:rfs-real/d/?directories=real',
    ]);
    await removePlace({ ...place, key: 'd' }, { recursive: true });
    await expect(statPlace({ ...place, key: 'd' })).rejects.toMatchObject({ code: 'FERRY_ERR_NOT_FOUND' });
  });
});

describe('mv and cp never lose what they move onto itself', () => {
  const work = mkdtempSync(join(tmpdir(), 'ferry-rfs-'));
  afterAll(() => {
    rmSync(work, { recursive: true, force: true });
    MemoryBackend.forget('rfs-twice');
  });
  const twoPlaces = async (a: string, b: string) => {
    const [from, to] = await openPlaces([a, b], defaultRegistry);
    return { from, to, close: () => from.backend.close?.() };
  };

  it('two spellings of one local file or folder are one place: mv and cp onto it, or a folder into itself, are refused and nothing changes', async () => {
    mkdirSync(join(work, 'd', 'deep'), { recursive: true });
    writeFileSync(join(work, 'd', 'one'), '1');
    writeFileSync(join(work, 'd', 'deep', 'two'), '2');
    writeFileSync(join(work, 'f.txt'), 'the file');
    const refusals: Array<[string, string, boolean, RegExp]> = [
      [join(work, 'f.txt'), join(work, 'f.txt'), true, /are the same file/],
      [join(work, 'f.txt'), join(work, 'd', '..', 'f.txt'), true, /are the same file/],
      [join(work, 'f.txt'), join(work, 'f.txt'), false, /are the same file/],
      [join(work, 'd'), join(work, 'd', 'sub'), true, /into itself/],
      [join(work, 'd'), join(work, 'd', 'deep'), false, /into itself/],
    ];
    for (const [a, b, move, message] of refusals) {
      const { from, to, close } = await twoPlaces(a, b);
      expect(from.backend).toBe(to.backend);
      await expect(transferPlace(from, to, { move, recursive: true })).rejects.toMatchObject({ code: 'FERRY_ERR_VALIDATION', message: expect.stringMatching(message) });
      await close();
    }
    // Into its own folder (DEST/): the target is the file itself.
    const { from, to, close } = await twoPlaces(join(work, 'f.txt'), work + '/');
    await expect(transferPlace(from, to, { move: true, into: true })).rejects.toMatchObject({ code: 'FERRY_ERR_VALIDATION' });
    await close();
    expect(readFileSync(join(work, 'f.txt'), 'utf8')).toBe('the file');
    expect(readdirSync(join(work, 'd')).sort()).toEqual(['deep', 'one']);
    expect(readFileSync(join(work, 'd', 'deep', 'two'), 'utf8')).toBe('2');
  });

  it('a folder moved into itself through two backends of one store keeps what arrived: only emptied folders are removed', async () => {
    // Two backends over one store, as two spellings of one SFTP path would be.
    const a = await openPlace('memory:rfs-twice?directories=real', defaultRegistry);
    const b = await openPlace('memory:rfs-twice?directories=real', defaultRegistry);
    expect(a.backend).not.toBe(b.backend);
    await mkdirPlace({ ...a, key: 'd/e' }, { parents: true });
    await a.backend.write('d/one', Buffer.from('1'));
    await a.backend.write('d/e/two', Buffer.from('2'));
    await transferPlace({ ...a, key: 'd' }, { ...b, key: 'd/sub' }, { move: true });
    expect(await names(listPlace({ ...a, key: 'd' }, { recursive: true }))).toEqual(['/d/sub/', '/d/sub/e/', '/d/sub/e/two', '/d/sub/one']);
  });
});
