/**
 * `ferry get -r` of a vault into a destination that holds a symbolic link where one of the
 * vault's folders goes (`DEST/sub -> ../outside`): nothing is made or written through it, as
 * for a plain `get -r` (test/cli/dest-symlinks.test.ts). Before, the vault's `sub/deep.txt`
 * was written to `outside/deep.txt` and the command exited 0. Real CLI, real `ferry serve`.
 */
import { mkdir, readdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorld, type E2EWorld } from '../helpers/e2e.js';

let w: E2EWorld;
let keyFile: string;

const ferry = (args: string[]) => w.ferry([...args, '--e2e-key-file', keyFile]);

beforeAll(async () => {
  w = await startWorld();
  keyFile = join(w.dir, 'key');
  expect((await w.ferry(['admin', 'keygen', keyFile])).code).toBe(0);
  const src = join(w.dir, 'src');
  await mkdir(join(src, 'sub'), { recursive: true });
  await writeFile(join(src, 'top.txt'), 'top of the vault\n');
  await writeFile(join(src, 'sub', 'deep.txt'), 'deep in the vault\n');
  expect((await ferry(['mkdir', '--e2e', '/vault'])).code).toBe(0);
  const put = await ferry(['put', '-r', `${src}/`, '/vault/']);
  expect(put.code, put.stderr).toBe(0);
}, 60_000);

afterAll(async () => {
  await w?.close();
});

/** A destination whose `sub` is a link to a folder outside it. */
async function trap(name: string): Promise<{ dest: string; outside: string }> {
  const dest = join(w.dir, name);
  const outside = join(w.dir, `${name}-outside`);
  await mkdir(dest);
  await mkdir(outside);
  await symlink(outside, join(dest, 'sub'));
  return { dest, outside };
}

describe('get -r of a vault into a destination holding a symbolic link', () => {
  it('refuses the linked folder and writes nothing outside the destination', async () => {
    const { dest, outside } = await trap('plain-run');
    const r = await ferry(['get', '-r', '/vault', dest]);
    expect(r.code, r.stderr).not.toBe(0);
    expect(r.stderr).toContain('is a symbolic link');
    expect(r.stderr).toContain('FERRY_ERR_PATH_INVALID');
    expect(await readdir(outside)).toEqual([]);
  });
});
