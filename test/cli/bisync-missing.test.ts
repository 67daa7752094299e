/**
 * `ferry bisync` refuses a side that does not exist, as rclone bisync does, before it changes
 * anything: exit 3 (FERRY_ERR_NOT_FOUND) naming the side. Before, `--resync` with a mistyped
 * path1 made that folder and filled it with path2, and a later run with a side gone read it as
 * every file deleted (with --force: deleted them on the other side). A first `--resync` still
 * makes a missing path2: that is its documented first run (`ferry bisync ./notes ferry:/notes --resync`).
 */
import { mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ok, startWorld, type E2EWorld } from '../helpers/e2e.js';

let world: E2EWorld;
const local = (...p: string[]) => join(world.dir, ...p);
const ferry = (args: string[]) => world.ferry([...args, '--state-dir', local('state')], { cwd: world.dir });
const exists = (p: string) => stat(p).then(() => true, () => false);

beforeAll(async () => {
  world = await startWorld();
  await mkdir(local('here'));
  await writeFile(local('here', 'a.txt'), 'a\n');
  ok(await world.ferry(['put', '-r', local('here'), '/there'], { cwd: world.dir }));
}, 60_000);

afterAll(async () => {
  await world?.close();
});

describe('bisync with a side that does not exist', () => {
  it('--resync with a missing local path1 is refused, and makes nothing', async () => {
    const r = await ferry(['bisync', '--resync', local('typo'), 'ferry:/there']);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`path1 ${local('typo')} does not exist`);
    expect(r.stderr).toContain('FERRY_ERR_NOT_FOUND');
    expect(await exists(local('typo'))).toBe(false);
  });

  it('--resync with a missing path1 on the server is refused, and makes nothing', async () => {
    const r = await ferry(['bisync', '--resync', 'ferry:/nowhere', local('here')]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/path1 \S*nowhere does not exist/);
    expect((await world.ferry(['ls', '/nowhere'], { cwd: world.dir })).code).toBe(3);
    expect(await readdir(local('here'))).toEqual(['a.txt']);
  });

  it('--resync makes a missing path2 (the first run); a later run with a side gone is refused', async () => {
    await mkdir(local('mine'));
    await writeFile(local('mine', 'm.txt'), 'm\n');
    ok(await ferry(['bisync', '--resync', local('mine'), local('copy')]));
    expect(await readdir(local('copy'))).toEqual(['m.txt']);
    ok(await ferry(['bisync', local('mine'), local('copy')]));
    await rm(local('copy'), { recursive: true });
    const gone2 = await ferry(['bisync', '--force', local('mine'), local('copy')]);
    expect(gone2.code).toBe(3);
    expect(gone2.stderr).toContain(`path2 ${local('copy')} does not exist`);
    expect(await readdir(local('mine'))).toEqual(['m.txt']);
    ok(await ferry(['bisync', '--resync', local('mine'), local('copy')]));
    await rm(local('mine'), { recursive: true });
    const gone1 = await ferry(['bisync', '--force', local('mine'), local('copy')]);
    expect(gone1.code).toBe(3);
    expect(gone1.stderr).toContain(`path1 ${local('mine')} does not exist`);
    expect(await readdir(local('copy'))).toEqual(['m.txt']);
  });

  it('--resync of an empty path1 makes the missing path2 too (no copy made it), so the next run works', async () => {
    await mkdir(local('blank'));
    ok(await ferry(['bisync', '--resync', '--dry-run', local('blank'), 'ferry:/fresh']));
    expect((await world.ferry(['ls', '/fresh'], { cwd: world.dir })).code).toBe(3);
    ok(await ferry(['bisync', '--resync', local('blank'), 'ferry:/fresh']));
    ok(await world.ferry(['stat', '/fresh'], { cwd: world.dir }));
    await writeFile(local('blank', 'x.txt'), 'x\n');
    ok(await ferry(['bisync', local('blank'), 'ferry:/fresh']));
    expect((await world.ferry(['cat', '/fresh/x.txt'], { cwd: world.dir })).stdout).toBe('x\n');
    ok(await ferry(['bisync', '--resync', local('blank'), local('blank-copy')]));
    expect(await readdir(local('blank-copy'))).toEqual(['x.txt']);
    await mkdir(local('void'));
    ok(await ferry(['bisync', '--resync', local('void'), local('void-copy')]));
    ok(await ferry(['bisync', local('void'), local('void-copy')]));
    expect(await readdir(local('void-copy'))).toEqual([]);
  });

  it('two existing folders (one empty) resync as before', async () => {
    await mkdir(local('empty'));
    ok(await ferry(['bisync', '--resync', local('empty'), 'ferry:/there']));
    expect(await readdir(local('empty'))).toEqual(['a.txt']);
  });
});
