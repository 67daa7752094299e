/**
 * Names the server allows and the local disk allows too, but not with `.ferry-part` after
 * them: a 250-byte name plus the 11-byte suffix is over the 255 bytes of ext4, XFS or APFS, and
 * `ferry get` of such a file, alone or in `get -r`, failed with "name too long" though its
 * name fits (sync, whose temporary names are short, worked). The part of such a name is now a
 * shortened one (src/client/part-file.ts, partPathOf). Real CLI, real `ferry serve`, the
 * disk of this machine.
 */
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorld, type E2EWorld } from '../helpers/e2e.js';

let w: E2EWorld;
/** 250 bytes in 125 two-byte characters, and 255 one-byte ones: the longest name. */
const NAMES = ['é'.repeat(125), 'a'.repeat(251) + '.txt'];

beforeAll(async () => {
  w = await startWorld();
  await mkdir(join(w.dir, 'src'));
  for (const name of NAMES) {
    expect(Buffer.byteLength(name)).toBeGreaterThan(255 - '.ferry-part'.length);
    await writeFile(join(w.dir, 'src', name), `the file named ${name.slice(0, 3)}\n`);
  }
  const put = await w.ferry(['put', '-r', join(w.dir, 'src') + '/', '/long/']);
  expect(put.code, put.stderr).toBe(0);
}, 60_000);

afterAll(async () => {
  await w?.close();
});

describe('files whose names leave no room for .ferry-part', () => {
  it('come down by get into a folder, and leave no part file', async () => {
    const dest = join(w.dir, 'one');
    await mkdir(dest);
    for (const name of NAMES) {
      const r = await w.ferry(['get', `/long/${name}`, dest + '/']);
      expect(r.code, r.stderr).toBe(0);
      expect(await readFile(join(dest, name), 'utf8')).toBe(`the file named ${name.slice(0, 3)}\n`);
    }
    expect((await readdir(dest)).sort()).toEqual([...NAMES].sort());
  });

  it('come down by get -r', async () => {
    const dest = join(w.dir, 'tree');
    const r = await w.ferry(['get', '-r', '/long', dest]);
    expect(r.code, r.stderr).toBe(0);
    expect((await readdir(dest)).sort()).toEqual([...NAMES].sort());
    for (const name of NAMES) expect(await readFile(join(dest, name), 'utf8')).toBe(`the file named ${name.slice(0, 3)}\n`);
  });
});
