/**
 * The held-open directory (pinned-dir.ts) that the local backend and `get -r` both name their
 * files through: opened one name at a time without following links, it keeps naming the
 * directory it opened whatever is renamed or linked in its place afterwards. The commands
 * that use it are raced end to end in test/cli/dest-symlinks.test.ts and the backend's
 * operations in test/backends/local-races.test.ts.
 */
import { readdirSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LinkOnTheWayError, PINNABLE, pinDir, pinDirSync } from './pinned-dir.js';

let dir: string;
let root: string;
let outside: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ferry-pinned-'));
  root = join(dir, 'root');
  outside = join(dir, 'outside');
  await mkdir(join(root, 'a', 'b'), { recursive: true });
  await mkdir(outside);
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('pinDir (Linux: what Ferry runs on and is tested on)', () => {
  it('is available here', () => {
    expect(PINNABLE).toBe(true);
  });

  it('names entries through the directory it opened, even once a link to elsewhere is in its place', async () => {
    const pin = (await pinDir(root, ['a', 'b']))!;
    try {
      expect(pin.path).toBe(`/proc/self/fd/${pin.fd}`);
      await rename(join(root, 'a'), join(root, 'a-moved'));
      await symlink(outside, join(root, 'a'));
      await writeFile(join(pin.path, 'f'), 'pinned');
    } finally {
      pin.close();
    }
    expect(await readdir(outside)).toEqual([]);
    expect(await readFile(join(root, 'a-moved', 'b', 'f'), 'utf8')).toBe('pinned');
  });

  it('refuses a link on the way, first name, middle or last, naming it', async () => {
    await symlink(outside, join(root, 'first'));
    await symlink(outside, join(root, 'a', 'mid'));
    await symlink(outside, join(root, 'a', 'b', 'last'));
    for (const names of [['first'], ['first', 'x'], ['a', 'mid', 'x'], ['a', 'b', 'last']]) {
      const at = join(root, ...names.slice(0, names.findIndex((n) => ['first', 'mid', 'last'].includes(n)) + 1));
      const err = await pinDir(root, names).catch((e: unknown) => e);
      expect(err, names.join('/')).toBeInstanceOf(LinkOnTheWayError);
      expect((err as LinkOnTheWayError).path).toBe(at);
      expect(() => pinDirSync(root, names), names.join('/')).toThrow(expect.objectContaining({ code: expect.stringMatching(/^(ELOOP|ENOTDIR)$/) }));
    }
  });

  it('a file or a missing name on the way is the system error, with the path by name (never the /proc one)', async () => {
    await writeFile(join(root, 'a', 'file'), 'x');
    const err = await pinDir(root, ['a', 'file', 'x']).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ENOTDIR', path: join(root, 'a', 'file') });
    expect((err as Error).message).toContain(join(root, 'a', 'file'));
    expect((err as Error).message).not.toContain('/proc/');
    await expect(pinDir(root, ['a', 'none', 'x'])).rejects.toMatchObject({ code: 'ENOENT', path: join(root, 'a', 'none') });
    expect(() => pinDirSync(root, ['a', 'none'])).toThrow(expect.objectContaining({ code: 'ENOENT' }));
  });

  it('with create, makes the missing names one at a time, telling each parent; never in or through a link', async () => {
    const parents: string[] = [];
    const dirs: string[] = [];
    const made = async (parent: { fd: number }, dir: string) => {
      parents.push(readdirSync(`/proc/self/fd/${parent.fd}`).sort().join(','));
      dirs.push(dir);
    };
    const pin = (await pinDir(root, ['a', 'new', 'deeper'], { create: true, made }))!;
    pin.close();
    expect(await readdir(join(root, 'a', 'new', 'deeper'))).toEqual([]);
    // `a` after `new` was made in it, `new` after `deeper` was; each made directory by its path.
    expect(parents).toEqual(['b,new', 'deeper']);
    expect(dirs).toEqual([join(root, 'a', 'new'), join(root, 'a', 'new', 'deeper')]);
    // A name that exists as a link is not made through: outside stays empty.
    await symlink(outside, join(root, 'a', 'ln'));
    await expect(pinDir(root, ['a', 'ln', 'x'], { create: true })).rejects.toBeInstanceOf(LinkOnTheWayError);
    expect(await readdir(outside)).toEqual([]);
    // The root's first name made too (the root told as its parent).
    parents.length = 0;
    (await pinDir(root, ['top'], { create: true, made }))!.close();
    expect(parents).toEqual(['a,top']);
    expect(dirs.at(-1)).toBe(join(root, 'top'));
  });

  it('the root itself may be a link (the operator or the user named it)', async () => {
    await symlink(root, join(dir, 'root-link'));
    const pin = (await pinDir(join(dir, 'root-link'), ['a']))!;
    await writeFile(join(pin.path, 'g'), 'g');
    pin.close();
    const sync = pinDirSync(join(dir, 'root-link'), [])!;
    expect(readdirSync(sync.path)).toEqual(['a']);
    sync.close();
    sync.close(); // once: a second close does nothing
    expect(await readFile(join(root, 'a', 'g'), 'utf8')).toBe('g');
  });
});
