import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LocalBackend } from '../backends/local/local-backend.js';
import { MemoryBackend } from '../backends/memory/memory-backend.js';
import { withRetry } from '../backends/decorators/retry.js';
import { relateKeys } from '../core/storage.js';
import { makeRemote } from './remote.js';
import { overlapsAcross, refuseOverlapAcross } from './same-store.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

/** A temp folder with `real/sub/f.txt` and `link` -> `real`. */
async function world(): Promise<string> {
  const d = await mkdtemp(path.join(tmpdir(), 'ferry-same-store-'));
  dirs.push(d);
  await mkdir(path.join(d, 'real', 'sub'), { recursive: true });
  await writeFile(path.join(d, 'real', 'sub', 'f.txt'), 'x');
  await symlink(path.join(d, 'real'), path.join(d, 'link'));
  return d;
}

describe('one store through two backend instances', () => {
  it('relateKeys: real paths of two local backends (one through a symlink) are compared, missing parts included', async () => {
    const d = await world();
    const [viaLink, real] = [new LocalBackend({ root: path.join(d, 'link') }), new LocalBackend({ root: d })];
    expect(await relateKeys(viaLink, 'sub/f.txt', real, 'real/sub/f.txt')).toBe('same');
    expect(await relateKeys(viaLink, 'sub', real, 'real/sub/new/deeper')).toBe('b-in-a');
    expect(await relateKeys(real, 'real/sub/f.txt', viaLink, '')).toBe('a-in-b');
    expect(await relateKeys(viaLink, 'sub/f.txt', real, 'real/sub/g.txt')).toBeUndefined();
    // Through a decorator too (the retry decorator forwards the ability).
    expect(await relateKeys(withRetry(viaLink), 'sub', real, 'real/sub')).toBe('same');
  });

  it('backends that cannot tell where a key is are never taken for one store', async () => {
    const [a, b] = [new MemoryBackend(), new MemoryBackend()];
    expect(await relateKeys(a, 'x', b, 'x')).toBeUndefined();
    expect(await relateKeys(a, 'x', a, 'x')).toBe('same');
  });

  it('overlapsAcross: remotes of two backends, folders or one-file remotes, nested or the same, refused as overlapping', async () => {
    const d = await world();
    const [viaLink, real] = [new LocalBackend({ root: path.join(d, 'link') }), new LocalBackend({ root: d })];
    expect(await overlapsAcross(makeRemote(viaLink, 'sub'), makeRemote(real, 'real'))).toBe(true);
    expect(await overlapsAcross(makeRemote(viaLink, ''), makeRemote(real, 'other'))).toBe(false);
    // A file copied into the folder beside it is fine; onto itself it is not.
    const file = { ...makeRemote(viaLink, 'sub'), only: 'f.txt' };
    expect(await overlapsAcross(file, { ...makeRemote(real, 'real'), only: 'f.txt' })).toBe(false);
    expect(await overlapsAcross(file, { ...makeRemote(real, 'real/sub'), only: 'f.txt' })).toBe(true);
    await expect(refuseOverlapAcross(makeRemote(viaLink, 'sub', 'L'), makeRemote(real, 'real/sub', 'R'))).rejects.toMatchObject({ code: 'FERRY_ERR_USAGE', message: 'L and R overlap: one is inside the other' });
    // One backend: keys compare in remote.ts's overlaps, not here.
    expect(await overlapsAcross(makeRemote(real, 'real'), makeRemote(real, 'real/sub'))).toBe(false);
  });
});
