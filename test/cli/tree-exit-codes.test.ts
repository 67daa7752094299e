/**
 * The tree commands agree on the exit code of a run where some files failed (the others went
 * on): `put -r`, `get -r`, `sync` and `copy` exit with the failures' own code when they all
 * share one (README "Exit codes": a directory in a file's way is a conflict, 6), and 1 when
 * they differ. Before, `put -r` and `get -r` exited with the first failure's code while
 * `sync`, `copy`, `move` and `bisync` always exited 1.
 */
import { mkdir, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ok, startWorld, type E2EWorld } from '../helpers/e2e.js';

let world: E2EWorld;
const ferry = (args: string[]) => world.ferry(args, { cwd: world.dir });
const local = (...p: string[]) => join(world.dir, ...p);

/** A local folder where `f.txt` is a directory (a file of that name cannot land there). */
async function dirInTheWay(name: string): Promise<string> {
  await mkdir(local(name, 'f.txt'), { recursive: true });
  await writeFile(local(name, 'f.txt', 'inner'), 'inner\n');
  return local(name);
}

beforeAll(async () => {
  world = await startWorld();
  await mkdir(local('src', 'sub'), { recursive: true });
  await writeFile(local('src', 'ok.txt'), 'ok\n');
  await writeFile(local('src', 'f.txt'), 'file\n');
  await writeFile(local('src', 'sub', 's.txt'), 'sub\n');
  ok(await ferry(['put', '-r', local('src'), '/down']));
}, 60_000);

afterAll(async () => {
  await world?.close();
});

describe('exit code of a tree run where some files failed', () => {
  it('uploads: put -r, sync and copy all exit 6 when a directory on the server is in a file\'s way', async () => {
    const runs: Array<[string, string[]]> = [
      ['/up-put', ['put', '-r', local('src'), '/up-put']],
      ['/up-sync', ['sync', local('src'), 'ferry:/up-sync']],
      ['/up-copy', ['copy', local('src'), 'ferry:/up-copy']],
    ];
    const codes: Record<string, number | null> = {};
    for (const [dir, args] of runs) {
      ok(await ferry(['put', '-r', await dirInTheWay(`way${dir}`), dir]));
      const r = await ferry(args);
      expect(r.stderr).toMatch(/f\.txt.*a directory exists there/);
      codes[args[0]] = r.code;
    }
    expect(codes).toEqual({ put: 6, sync: 6, copy: 6 });
  });

  it('downloads: get -r, sync and copy all exit 6 when a local directory is in a file\'s way', async () => {
    const codes: Record<string, number | null> = {};
    for (const args of [['get', '-r', '/down'], ['sync', 'ferry:/down'], ['copy', 'ferry:/down']]) {
      const r = await ferry([...args, await dirInTheWay(`dl-${args[0]}`)]);
      expect(r.stderr).toMatch(/f\.txt.*is a directory/);
      codes[args[0]] = r.code;
    }
    expect(codes).toEqual({ get: 6, sync: 6, copy: 6 });
  });

  it('failures of different kinds: 1, for get -r and sync alike', async () => {
    const codes: Record<string, number | null> = {};
    for (const args of [['get', '-r', '/down'], ['sync', 'ferry:/down']]) {
      const dest = await dirInTheWay(`mixed-${args[0]}`);
      await mkdir(local(`mixed-${args[0]}-outside`));
      await symlink(local(`mixed-${args[0]}-outside`), join(dest, 'sub')); // refused: exit 2 alone
      const r = await ferry([...args, dest]);
      expect(r.stderr).toMatch(/f\.txt.*is a directory/);
      expect(r.stderr).toMatch(/sub.*symbolic link/);
      codes[args[0]] = r.code;
    }
    expect(codes).toEqual({ get: 1, sync: 1 });
  });

  // README "Exit codes" said a --max-delete refusal is 1 for every tree command, untested:
  // bisync's (a share of a side, nothing changed) is 6, as its `--conflict error` refusal.
  it('a --max-delete refusal: sync 1 (its copies done), bisync 6 (nothing changed)', async () => {
    await mkdir(local('md-src'));
    await writeFile(local('md-src', 'new.txt'), 'new\n');
    await mkdir(local('md-dst'));
    for (const n of [1, 2, 3]) await writeFile(local('md-dst', `old${n}.txt`), `${n}\n`);
    const sync = await ferry(['sync', local('md-src'), local('md-dst'), '--max-delete', '1']);
    expect(sync.stderr).toMatch(/not deleting 3 files: more than --max-delete 1/);

    await mkdir(local('bi1'));
    for (const n of [1, 2, 3]) await writeFile(local('bi1', `f${n}.txt`), `${n}\n`);
    const state = ['--state-dir', local('bi-state')];
    ok(await ferry(['bisync', local('bi1'), local('bi2'), '--resync', ...state]));
    await Promise.all([1, 2].map((n) => rm(local('bi1', `f${n}.txt`))));
    const bisync = await ferry(['bisync', local('bi1'), local('bi2'), ...state]);
    expect(bisync.stderr).toMatch(/2 of 3 files \(67%\) were deleted on .*more than --max-delete 50%; nothing was changed/);
    expect((await readdir(local('bi2'))).sort()).toEqual(['f1.txt', 'f2.txt', 'f3.txt']);
    expect({ sync: sync.code, bisync: bisync.code }).toEqual({ sync: 1, bisync: 6 });
  });
});
