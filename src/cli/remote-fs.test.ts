import { afterEach, describe, expect, it } from 'vitest';
import { MemoryBackend } from '../backends/memory/memory-backend.js';
import { defaultRegistry } from '../remotes/index.js';
import { listPlace, mkdirPlace, openPlace, readPlace, removePlace, sizeOfPlace, statPlace, transferPlace } from './remote-fs.js';

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
    expect(await mkdirPlace({ ...place, key: 'c' }, {})).toBe('virtual');
    const moved = await transferPlace({ ...place, key: 'a/one.txt' }, { ...place, key: 'a/b' }, { move: true });
    expect(moved).toMatchObject({ path: '/a/b/one.txt', type: 'file' });
    await expect(removePlace({ ...place, key: 'a' }, {})).rejects.toMatchObject({ code: 'FERRY_ERR_DIRECTORY_NOT_EMPTY' });
    await removePlace({ ...place, key: 'a' }, { recursive: true });
    expect(await names(listPlace(place, { recursive: true }))).toEqual([]);
    await expect(removePlace(place, { recursive: true })).rejects.toMatchObject({ code: 'FERRY_ERR_USAGE' });
  });

  it('a store with real directories: mkdir, rm -r removes them too, cp -r of a tree, --no-clobber', async () => {
    const place = await openPlace('memory:rfs-real?directories=real', defaultRegistry);
    await mkdirPlace({ ...place, key: 'd/e' }, { parents: true });
    expect(await statPlace({ ...place, key: 'd/e' })).toMatchObject({ type: 'dir' });
    await expect(mkdirPlace({ ...place, key: 'd/e' }, {})).rejects.toMatchObject({ code: 'FERRY_ERR_ALREADY_EXISTS' });
    await place.backend.write('d/e/f.txt', Buffer.from('f'));
    await expect(transferPlace({ ...place, key: 'd' }, { ...place, key: 'copy' }, {})).rejects.toMatchObject({ code: 'FERRY_ERR_USAGE' });
    await transferPlace({ ...place, key: 'd' }, { ...place, key: 'copy' }, { recursive: true });
    expect((await place.backend.stat('copy/e/f.txt')).size).toBe(1);
    await expect(transferPlace({ ...place, key: 'd/e/f.txt' }, { ...place, key: 'copy/e/f.txt' }, { noClobber: true })).rejects.toMatchObject({
      code: 'FERRY_ERR_ALREADY_EXISTS',
    });
    const dry: string[] = [];
    await removePlace({ ...place, key: 'd' }, { recursive: true, dryRun: true, onAction: (l) => dry.push(l) });
    expect(dry).toEqual(['(dry run) delete d/e/f.txt', '(dry run) rmdir d/e', '(dry run) rmdir d']);
    await removePlace({ ...place, key: 'd' }, { recursive: true });
    await expect(statPlace({ ...place, key: 'd' })).rejects.toMatchObject({ code: 'FERRY_ERR_NOT_FOUND' });
  });
});
