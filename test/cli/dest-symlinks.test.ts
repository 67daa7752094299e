/**
 * A symbolic link to a directory planted inside a local destination is not written through
 * (rsync's default, without -K): `get -r` from a Ferry server, and `sync`, `copy` and `bisync`
 * into a local folder, fail the files below the link, name it, and write nothing outside the
 * destination; the other files go on. Before, `get -r` made `DEST/sub/...` through
 * `DEST/sub -> /elsewhere`: whoever could write in DEST could have files created and replaced
 * outside it.
 */
import { lstat, mkdir, readFile, readdir, rename, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ok, startWorld, type E2EWorld } from '../helpers/e2e.js';

let world: E2EWorld;
const ferry = (args: string[]) => world.ferry(args, { cwd: world.dir });
const local = (...p: string[]) => join(world.dir, ...p);

beforeAll(async () => {
  world = await startWorld();
  await mkdir(local('src', 'sub', 'deeper'), { recursive: true });
  await writeFile(local('src', 'top.txt'), 'top\n');
  await writeFile(local('src', 'sub', 'planted.txt'), 'would land outside\n');
  await writeFile(local('src', 'sub', 'deeper', 'deep.txt'), 'deep\n');
  ok(await ferry(['put', '-r', local('src'), '/tree']));
  // A tree whose folder holds many files: its download takes a while after the folder is made.
  await mkdir(local('many', 'sub'), { recursive: true });
  for (let i = 0; i < 300; i++) await writeFile(local('many', 'sub', `f${i}.txt`), `file ${i}\n`);
  ok(await ferry(['put', '-r', local('many'), '/many']));
}, 60_000);

afterAll(async () => {
  await world?.close();
});

/** A destination holding `sub -> outside/`, a directory beside it that the tree must not reach. */
async function plantedDest(name: string): Promise<{ dest: string; outside: string }> {
  const dest = local(name);
  const outside = local(`${name}-outside`);
  await mkdir(dest);
  await mkdir(outside);
  await symlink(outside, join(dest, 'sub'));
  return { dest, outside };
}


/**
 * Once the command running has made DEST/sub, renames it away and puts a link to `outside` in
 * its place. The command may make DEST/sub again between the two (its next file's folder):
 * then that one is moved away too.
 */
async function swapForLink(dest: string, outside: string): Promise<void> {
  const sub = join(dest, 'sub');
  for (;;) {
    const st = await lstat(sub).catch(() => undefined);
    if (st?.isDirectory()) break;
    await new Promise((r) => setImmediate(r));
  }
  for (let i = 0; ; i++) {
    await rename(sub, join(dest, `sub-moved-${i}`));
    try {
      await symlink(outside, sub);
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || i >= 100) throw err;
    }
  }
}
describe('a symlinked directory inside a local destination', () => {
  it('get -r refuses to write through it, names it, and downloads the rest', async () => {
    const { dest, outside } = await plantedDest('get');
    const r = await ferry(['get', '-r', '/tree', dest]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${join(dest, 'sub')} is a symbolic link`);
    expect(r.stderr).toContain('FERRY_ERR_PATH_INVALID');
    expect(await readdir(outside)).toEqual([]);
    expect(await readFile(join(dest, 'top.txt'), 'utf8')).toBe('top\n');
    // Without the link the same download goes through.
    ok(await ferry(['get', '-r', '/tree', local('get-plain')]));
    expect(await readFile(local('get-plain', 'sub', 'deeper', 'deep.txt'), 'utf8')).toBe('deep\n');
  });

  it('get -r through the sync engine (a filter) refuses it too', async () => {
    const { dest, outside } = await plantedDest('get-filtered');
    const r = await ferry(['get', '-r', '--include', '*.txt', '/tree', dest]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/sub.*symbolic link/);
    expect(await readdir(outside)).toEqual([]);
  });

  for (const command of ['sync', 'copy']) {
    it(`${command} into a local folder refuses it, and writes nothing outside`, async () => {
      const { dest, outside } = await plantedDest(command);
      const r = await ferry([command, 'ferry:/tree', dest]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/sub.*symbolic link/);
      expect(await readdir(outside)).toEqual([]);
      expect(await readFile(join(dest, 'top.txt'), 'utf8')).toBe('top\n');
    });
  }

  it('bisync with a local side refuses it, and writes nothing outside', async () => {
    const { dest, outside } = await plantedDest('bisync');
    const r = await ferry(['bisync', 'ferry:/tree', dest, '--resync', '--state-dir', local('bisync-state')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/sub.*symbolic link/);
    expect(await readdir(outside)).toEqual([]);
  });

  it('get -r does not write through a link planted after it made the folder (the race)', async () => {
    const dest = local('race');
    const outside = local('race-outside');
    await mkdir(outside);
    const run = ferry(['get', '-r', '/many', dest]);
    // As soon as get -r has made DEST/sub, swap it for a link to outside.
    await swapForLink(dest, outside);
    const r = await run;
    expect(await readdir(outside)).toEqual([]);
    // The files it could not write are failures that name the link (or it was done before the swap).
    if (r.code !== 0) expect(r.stderr).toMatch(/sub.*symbolic link/);
  });

  for (const command of ['sync', 'copy']) {
    it(`${command} into a local folder does not write through a link planted after it made the folder (the race)`, async () => {
      const dest = local(`race-${command}`);
      const outside = local(`race-${command}-outside`);
      await mkdir(outside);
      const run = ferry([command, 'ferry:/many', dest]);
      await swapForLink(dest, outside);
      const r = await run;
      expect(await readdir(outside)).toEqual([]);
      if (r.code !== 0) expect(r.stderr).toMatch(/sub.*symbolic link/);
    });
  }
});
