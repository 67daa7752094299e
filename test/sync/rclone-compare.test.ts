/**
 * Ferry against Debian's rclone between two local folders: for generated trees and edits,
 * `ferry sync/copy` and `rclone sync/copy` leave identical destinations (paths, sizes,
 * contents, mtimes), and `ferry check --combined` marks the same files as `rclone check --combined`;
 * filter rules select the files `rclone lsf -R` lists with them (rclone's walk does not enter
 * a directory its directory rules exclude, which decides more than the file patterns).
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BASE_MTIME,
  childEnv,
  copyDir,
  ensureCommand,
  generateTree,
  putFile,
  runFerry,
  runProgram,
  setMtime,
  snapshotDir,
} from '../helpers/local-trees.js';

const work = mkdtempSync(join(tmpdir(), 'ferry-vs-rclone-'));
const env = childEnv(work, { RCLONE_CONFIG: join(work, 'rclone.conf') });
beforeAll(() => {
  // rclone is the reference these tests compare against: without it they prove nothing, so
  // they fail (CI installs it: .ci/debian-packages; as root it is installed here if missing).
  if (!ensureCommand('rclone')) throw new Error('rclone is not installed and could not be installed (apt-get install rclone): the comparison cannot run');
  writeFileSync(join(work, 'rclone.conf'), '');
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Edits of a source tree that exercise every comparison rule. */
function editSource(src: string, names: string[]): void {
  const [a, b, c, d, e, f, g, h] = names.filter((n) => !n.endsWith('.tmp'));
  putFile(src, a, 'grown: a different size now', BASE_MTIME + 5_000_000); // size differs
  const sameSize = readFileSync(join(src, b));
  putFile(src, b, Buffer.from(sameSize.map((x) => x ^ 0xff)), BASE_MTIME + 7_000_000); // same size, new content, new time
  setMtime(src, c, BASE_MTIME + 9_000_000); // only the time changed
  const sneaky = readFileSync(join(src, d));
  const st = Math.round(statSync(join(src, d)).mtimeMs);
  putFile(src, d, Buffer.from(sneaky.map((x) => x ^ 0x0f)), st); // same size, same time, new content: both skip it
  rmSync(join(src, e));
  renameSync(join(src, f), join(src, 'renamed-' + f.replace(/\//g, '_')));
  putFile(src, 'brand/new/file.txt', 'new file', BASE_MTIME + 1);
  putFile(src, g, '', BASE_MTIME + 3); // emptied
  void h;
}

/** Edits on the destination side: extras, a newer file. */
function editDestination(dst: string, names: string[]): void {
  putFile(dst, 'only-in-dest.txt', 'extra', BASE_MTIME);
  putFile(dst, 'deep/only/in/dest.bin', 'extra2', BASE_MTIME);
  const last = names.filter((n) => !n.endsWith('.tmp')).at(-1)!;
  putFile(dst, last, 'newer on the destination', BASE_MTIME + 99_000_000);
}

interface Scenario {
  name: string;
  command: 'sync' | 'copy';
  flags: string[];
  /** Edit the source and destination after the first full sync (else: first sync into an empty destination). */
  edited: boolean;
}

const SCENARIOS: Scenario[] = [
  { name: 'first sync into an empty folder', command: 'sync', flags: [], edited: false },
  { name: 'sync after edits on both sides', command: 'sync', flags: [], edited: true },
  { name: 'copy after edits on both sides', command: 'copy', flags: [], edited: true },
  { name: 'sync --checksum', command: 'sync', flags: ['--checksum'], edited: true },
  { name: 'sync --size-only', command: 'sync', flags: ['--size-only'], edited: true },
  { name: 'copy --update', command: 'copy', flags: ['--update'], edited: true },
  { name: 'sync --ignore-existing', command: 'sync', flags: ['--ignore-existing'], edited: true },
  { name: 'sync --exclude *.tmp', command: 'sync', flags: ['--exclude', '*.tmp'], edited: true },
  { name: 'sync --exclude *.tmp --delete-excluded', command: 'sync', flags: ['--exclude', '*.tmp', '--delete-excluded'], edited: true },
  { name: 'copy --include with --max-size', command: 'copy', flags: ['--include', '*.{txt,bin}', '--max-size', '10k'], edited: false },
  // A bare number is KiB for rclone's size flags: read as bytes, --delete-excluded would
  // delete nearly every file rclone keeps.
  { name: 'sync --max-size 10 (KiB) --delete-excluded', command: 'sync', flags: ['--max-size', '10', '--delete-excluded'], edited: true },
  { name: 'copy --min-size 5 (KiB)', command: 'copy', flags: ['--min-size', '5'], edited: false },
];

describe('ferry vs rclone between local folders', () => {
  let seed = 1;
  it.each(SCENARIOS)('$name', async (s) => {
    const dir = join(work, `case-${seed}`);
    const src = join(dir, 'src');
    const names = generateTree(src, seed++, 40);
    const dstFerry = join(dir, 'dst-ferry');
    const dstRclone = join(dir, 'dst-rclone');
    if (s.edited) {
      copyDir(src, dstFerry);
      editSource(src, names);
      editDestination(dstFerry, names);
      copyDir(dstFerry, dstRclone);
    }
    const f = await runFerry([s.command, src, dstFerry, ...s.flags], env);
    expect(f.stderr).not.toMatch(/error/i);
    expect(f.code).toBe(0);
    const r = await runProgram('rclone', [s.command, src, dstRclone, ...s.flags], env);
    expect(r.code, r.stderr).toBe(0);
    expect(snapshotDir(dstFerry)).toEqual(snapshotDir(dstRclone));
  });

  it('ferry check --combined agrees with rclone check --combined', async () => {
    const dir = join(work, 'check');
    const src = join(dir, 'src');
    const dst = join(dir, 'dst');
    const names = generateTree(src, 77, 40);
    copyDir(src, dst);
    editSource(src, names);
    editDestination(dst, names);
    const f = await runFerry(['check', src, dst, '--combined'], env);
    const r = await runProgram('rclone', ['check', src, dst, '--combined', '-'], env);
    expect(f.code).toBe(1);
    expect(r.code).toBe(1);
    const lines = (text: string) => text.split('\n').filter((l) => /^[=*+!-] /.test(l)).sort();
    expect(lines(f.stdout)).toEqual(lines(r.stdout));
    expect(lines(f.stdout).some((l) => l.startsWith('*'))).toBe(true);
    // Identical trees: both say so, exit 0.
    copyDir(src, dst);
    expect((await runFerry(['check', src, dst], env)).code).toBe(0);
    expect((await runProgram('rclone', ['check', src, dst], env)).code).toBe(0);
  });

  it('ferry check --download agrees with rclone check --download', async () => {
    const dir = join(work, 'check-dl');
    const src = join(dir, 'src');
    const dst = join(dir, 'dst');
    const names = generateTree(src, 78, 20);
    copyDir(src, dst);
    editSource(src, names);
    const f = await runFerry(['check', src, dst, '--combined', '--download'], env);
    const r = await runProgram('rclone', ['check', src, dst, '--combined', '-', '--download'], env);
    const lines = (text: string) => text.split('\n').filter((l) => /^[=*+!-] /.test(l)).sort();
    expect(lines(f.stdout)).toEqual(lines(r.stdout));
  });
});

/** A tree where a pattern can match at the root, deeper down, or only below a directory the walk skips. */
const FILTER_TREE = ['top', 'a.txt', 'a/f1', 'a/b/f2', 'a/b/c/f8.txt', 'ab/f6', 'b/a/f7', 'x/a.txt', 'x/a/f4', 'x/a/c/f3', 'x/y/f5', 'x/y/a/b/f9'];

/** Filter flags, each run through `rclone lsf -R` and `ferry copy` on FILTER_TREE. */
const FILTER_CASES: string[][] = [
  ['--include', 'a/**'],
  ['--include', '/a/**'],
  ['--include', '**/a/**'],
  ['--include', 'a/*'],
  ['--include', '*/a/*'],
  ['--include', 'a/b/*'],
  ['--include', 'c/f3'],
  ['--include', 'f3'],
  ['--include', 'a/**/f2'],
  ['--include', 'x/**/f3'],
  ['--include', 'a/c/**'],
  ['--include', '/x/a/**'],
  ['--include', '{a,x}/**'],
  ['--include', 'x/{a,y}/*'],
  ['--include', 'a{/b,}/*'],
  ['--include', '*.txt'],
  ['--include', 'x/*.txt'],
  ['--include', 'a/'],
  ['--include', 'a/*', '--include', 'a/b/*'],
  ['--exclude', 'a/**'],
  ['--exclude', 'a/'],
  ['--exclude', 'x/*'],
  ['--exclude', '*'],
  ['--filter', '+ a/', '--filter', '+ *1', '--filter', '- **'],
  ['--filter', '+ a/', '--filter', '- *'],
  ['--filter', '+ *.txt', '--filter', '- *'],
  ['--filter', '- x/', '--filter', '+ **/f3'],
  ['--filter', '+ x/a/c/f3', '--filter', '- *'],
  ['--filter', '- /x/a/'],
  ['--include', 'A/**', '--ignore-case'],
];

describe('filters select the files rclone selects', () => {
  const src = join(work, 'filter-src');
  beforeAll(() => {
    for (const rel of FILTER_TREE) putFile(src, rel, rel);
  });

  it.each(FILTER_CASES.map((flags) => ({ flags, name: flags.join(' ') })))('$name', async ({ flags }) => {
    const r = await runProgram('rclone', ['lsf', '-R', '--files-only', ...flags, src], env);
    expect(r.code, r.stderr).toBe(0);
    const dst = join(work, 'filter-dst');
    rmSync(dst, { recursive: true, force: true });
    const f = await runFerry(['copy', src, dst, ...flags], env);
    expect(f.code, f.stderr).toBe(0);
    const rcloneFiles = r.stdout.split('\n').filter((l) => l !== '').sort();
    expect(Object.keys(snapshotDir(dst)).sort()).toEqual(rcloneFiles);
  });

  it('sync with an include removes the same empty destination directories as rclone', async () => {
    const flags = ['--include', 'a/**'];
    const dsts = [join(work, 'filter-sync-ferry'), join(work, 'filter-sync-rclone')];
    for (const dst of dsts) {
      rmSync(dst, { recursive: true, force: true });
      for (const dir of ['a/gone', 'x/a/empty', 'q']) mkdirSync(join(dst, dir), { recursive: true });
    }
    expect((await runFerry(['sync', src, dsts[0], ...flags], env)).code).toBe(0);
    expect((await runProgram('rclone', ['sync', src, dsts[1], ...flags], env)).code).toBe(0);
    const dirsOf = (root: string) => (readdirSync(root, { recursive: true, withFileTypes: true }) as Array<{ name: string; parentPath: string; isDirectory(): boolean }>)
      .filter((e) => e.isDirectory())
      .map((e) => join(e.parentPath, e.name).slice(root.length + 1))
      .sort();
    expect(dirsOf(dsts[0])).toEqual(dirsOf(dsts[1]));
    expect(snapshotDir(dsts[0])).toEqual(snapshotDir(dsts[1]));
  });
});
