import { mkdtempSync, rmSync, symlinkSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { closeRemotes, keyOf, openRemotes, relOf, makeRemote, sameBackend } from './remote.js';
import { MemoryBackend } from '../backends/memory/index.js';

const dir = mkdtempSync(join(tmpdir(), 'ferry-remotes-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('remotes', () => {
  it('two local folders share one backend at their real common directory (moves become renames)', async () => {
    mkdirSync(join(dir, 'real', 'a'), { recursive: true });
    symlinkSync(join(dir, 'real'), join(dir, 'link'));
    const [a, b] = await openRemotes([join(dir, 'link', 'a'), join(dir, 'real', 'b')], { HOME: dir });
    expect(sameBackend(a, b)).toBe(true);
    expect(a.prefix).toBe('a');
    expect(b.prefix).toBe('b');
    expect(a.label).toBe(join(dir, 'link', 'a'));
    await closeRemotes([a, b]);
  });

  it('other remotes open on their own; keys and relative paths convert both ways', async () => {
    const [m, l] = await openRemotes(['memory:remote-test', join(dir, 'x')], { HOME: dir });
    expect(sameBackend(m, l)).toBe(false);
    const r = makeRemote(new MemoryBackend(), 'top/sub');
    expect(keyOf(r, 'f.txt')).toBe('top/sub/f.txt');
    expect(relOf(r, 'top/sub/d/f')).toBe('d/f');
    expect(relOf(r, 'top/subway')).toBeUndefined();
    expect(keyOf(makeRemote(new MemoryBackend()), 'f')).toBe('f');
  });

  it('ferry:/path and ferry://host:port/path are remote types', async () => {
    await expect(openRemotes(['ferry:/x'], { HOME: dir, FERRY_CONFIG: join(dir, 'none.json') })).rejects.toMatchObject({ code: 'FERRY_ERR_CONFIG' });
  });
});
