/**
 * `ferry sync/copy/move` leave local symbolic links out, as `put -r` does, and say so the
 * same way: one `ferry: warning: skipped PATH: symbolic link not followed` line per link,
 * however many times the run lists the folder; nothing with -q; nothing else changes.
 */
import { mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFerry } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';

let tmp: { path: string; cleanup: () => Promise<void> };
let env: Record<string, string>;

beforeAll(async () => {
  tmp = await tempDir('ferry-skipped-links-');
  env = { FERRY_CONFIG_DIR: path.join(tmp.path, 'config'), HOME: tmp.path };
});
afterAll(async () => {
  await tmp?.cleanup();
});

/** A source folder with one file, a link to it, a link to a folder and a dangling link. */
async function source(name: string): Promise<string> {
  const src = path.join(tmp.path, name);
  await mkdir(path.join(src, 'sub'), { recursive: true });
  await writeFile(path.join(src, 'sub', 'real.txt'), 'real');
  await symlink(path.join(src, 'sub', 'real.txt'), path.join(src, 'to-file'));
  await symlink(path.join(src, 'sub'), path.join(src, 'to-dir'));
  await symlink(path.join(src, 'nowhere'), path.join(src, 'sub', 'dangling'));
  return src;
}

const warnings = (stderr: string): string[] => stderr.split('\n').filter((l) => l.startsWith('ferry: warning:')).sort();

describe('local symbolic links in a sync source', () => {
  it('sync, copy and move warn once per link and copy only the real file', async () => {
    for (const mode of ['sync', 'copy', 'move']) {
      const src = await source(`src-${mode}`);
      const dst = path.join(tmp.path, `dst-${mode}`);
      const r = await runFerry([mode, src, dst], { env });
      expect(r.code, r.stderr).toBe(0);
      expect(warnings(r.stderr), mode).toEqual(
        ['sub/dangling', 'to-dir', 'to-file'].map((rel) => `ferry: warning: skipped ${src}/${rel}: symbolic link not followed`),
      );
      expect(await readdir(dst, { recursive: true }), mode).toEqual(expect.arrayContaining(['sub', path.join('sub', 'real.txt')]));
      expect((await readdir(dst, { recursive: true })).length, mode).toBe(2);
      expect(await readFile(path.join(dst, 'sub', 'real.txt'), 'utf8')).toBe('real');
      // move takes the real file away; the links it did not follow stay where they were.
      if (mode === 'move') expect((await readdir(src)).sort()).toEqual(['sub', 'to-dir', 'to-file']);
    }
  });

  it('-q: no warning', async () => {
    const src = await source('src-quiet');
    const r = await runFerry(['copy', '-q', src, path.join(tmp.path, 'dst-quiet')], { env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
  });
});

describe('local names no Ferry path can hold', () => {
  it('copy and check fail each file they cannot take (a newline, invalid UTF-8), escaped, as put -r does (exit 2)', async () => {
    const src = path.join(tmp.path, 'src-names');
    await mkdir(src, { recursive: true });
    await writeFile(path.join(src, 'ok.txt'), 'ok');
    await writeFile(path.join(src, 'bad\nname'), 'n');
    await writeFile(Buffer.concat([Buffer.from(src + '/bad'), Buffer.from([0xff]), Buffer.from('utf8')]), 'u');
    const dst = path.join(tmp.path, 'dst-names');
    for (const args of [['copy', src, dst], ['check', src, dst]]) {
      const r = await runFerry(args, { env });
      expect(r.code, r.stderr).toBe(2);
      expect(warnings(r.stderr), args[0]).toEqual([]);
      const failed = r.stderr.split('\n').filter((l) => l.startsWith(`ferry: ${src}/bad`)).sort();
      expect(failed, args[0]).toEqual([
        `ferry: ${src}/bad\\x0aname: invalid path "bad\\nname": contains a NUL or control character`,
        `ferry: ${src}/bad\uFFFDutf8: name is not valid UTF-8, which Ferry paths must be`,
      ]);
      expect(r.stderr).toMatch(/ferry: 2 files failed; first: .*\(FERRY_ERR_PATH_INVALID\)/);
    }
    expect(await readdir(dst)).toEqual(['ok.txt']);
  });

  it('ls of a local folder says what it leaves out too (those names, a link), and lists the rest', async () => {
    const dir = path.join(tmp.path, 'ls-names');
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'ok.txt'), 'ok');
    await writeFile(path.join(dir, 'bad\nname'), 'n');
    await symlink(path.join(dir, 'ok.txt'), path.join(dir, 'link'));
    const r = await runFerry(['ls', `local:${dir}`], { env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('ok.txt\n');
    expect(warnings(r.stderr)).toEqual([
      `ferry: warning: skipped local:${dir}/bad\\x0aname: invalid path "bad\\nname": contains a NUL or control character`,
      `ferry: warning: skipped local:${dir}/link: symbolic link not followed`,
    ]);
  });
});
