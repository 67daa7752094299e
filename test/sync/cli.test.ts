/** `ferry sync/copy/move/check/bisync` as a user runs them, against a real `ferry serve`. */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../helpers/server.js';
import { BASE_MTIME, FERRY_BIN, childEnv, generateTree, putFile, runFerry, runProgram, snapshotDir } from '../helpers/local-trees.js';

const work = mkdtempSync(join(tmpdir(), 'ferry-sync-cli-'));
let server: RunningServer;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  server = await startServer({ dataDir: join(work, 'data'), extraArgs: ['--no-fsync'] });
  env = childEnv(join(work, 'home'));
  const login = await runFerry(['login', server.url, '--token', server.adminToken], env);
  expect(login.code, login.stderr).toBe(0);
});
afterAll(async () => {
  await server?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe('a single file as the source (rclone: copy file dir/)', () => {
  it('local file into a local folder, up to the server and back down; a sync deletes nothing beside it', async () => {
    const dir = join(work, 'single');
    putFile(dir, 'report.txt', 'the report', BASE_MTIME);
    putFile(dir, 'other.txt', 'not asked for', BASE_MTIME);
    const local = await runFerry(['copy', join(dir, 'report.txt'), join(work, 'single-out') + '/'], env);
    expect(local.code, local.stderr).toBe(0);
    expect(readdirSync(join(work, 'single-out'))).toEqual(['report.txt']);
    // Into a subfolder of its own folder: no overlap.
    expect((await runFerry(['copy', join(dir, 'report.txt'), join(dir, 'sub')], env)).code).toBe(0);
    expect(readFileSync(join(dir, 'sub', 'report.txt'), 'utf8')).toBe('the report');
    const up = await runFerry(['copy', join(dir, 'report.txt'), 'ferry:/single/'], env);
    expect(up.code, up.stderr).toBe(0);
    putFile(join(work, 'single-down'), 'keep.txt', 'keep', BASE_MTIME);
    const down = await runFerry(['sync', 'ferry:/single/report.txt', join(work, 'single-down')], env);
    expect(down.code, down.stderr).toBe(0);
    expect(readdirSync(join(work, 'single-down')).sort()).toEqual(['keep.txt', 'report.txt']);
    // check takes a file source the same way: against the file of its name in DST.
    const checked = await runFerry(['check', join(dir, 'report.txt'), 'ferry:/single'], env);
    expect(checked.code, checked.stderr).toBe(0);
    expect(checked.stderr).toMatch(/1 matching, 0 differing, 0 missing on ferry:\/single, 0 missing on /);
    putFile(join(work, 'single-changed'), 'report.txt', 'the report, changed', BASE_MTIME);
    const changed = await runFerry(['check', join(work, 'single-changed', 'report.txt'), 'ferry:/single', '--combined'], env);
    expect(changed.code).toBe(1);
    expect(changed.stdout).toBe('* report.txt\n');
    const elsewhere = await runFerry(['check', join(dir, 'other.txt'), 'ferry:/single'], env);
    expect(elsewhere.code).toBe(1);
    expect(elsewhere.stdout).toBe('+ other.txt\n');
    // Onto itself is refused, as for folders.
    const self = await runFerry(['copy', join(dir, 'report.txt'), dir], env);
    expect(self.code).toBe(2);
    expect(self.stderr).toMatch(/overlap/);
  });
});

describe('a destination that is a file', () => {
  it('is refused once, exit 6, before anything is copied: a local file, a server file, a file source into a file', async () => {
    const dir = join(work, 'into-file');
    putFile(dir, 'src/a.txt', 'A', BASE_MTIME);
    putFile(dir, 'src/sub/b.txt', 'B', BASE_MTIME);
    putFile(dir, 'notes.txt', 'keep me', BASE_MTIME);
    expect((await runFerry(['copy', join(dir, 'notes.txt'), 'ferry:/into-file/'], env)).code).toBe(0);
    const runs = [
      ['sync', join(dir, 'src'), join(dir, 'notes.txt')],
      ['copy', join(dir, 'src'), 'ferry:/into-file/notes.txt'],
      ['move', join(dir, 'src'), 'ferry:/into-file/notes.txt', '--dry-run'],
      ['copy', join(dir, 'src', 'a.txt'), join(dir, 'notes.txt')],
    ];
    for (const args of runs) {
      const r = await runFerry(args, env);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(6);
      expect(r.stderr).toMatch(/notes\.txt is a file, not a folder: .*FERRY_ERR_NOT_A_DIRECTORY/);
      expect(r.stderr.split('\n').filter(Boolean)).toHaveLength(1);
    }
    expect(readFileSync(join(dir, 'notes.txt'), 'utf8')).toBe('keep me');
    expect(readdirSync(join(dir, 'src')).sort()).toEqual(['a.txt', 'sub']);
    const back = await runFerry(['cat', 'ferry:/into-file/notes.txt'], env);
    expect(back.stdout).toBe('keep me');
  });
});

describe('ferry sync/check against the logged-in server (ferry:/path)', () => {
  it('sync, check, --dry-run --json, then a real sync', async () => {
    const src = join(work, 'photos');
    generateTree(src, 5, 25);
    const up = await runFerry(['sync', src, 'ferry:/photos'], env);
    expect(up.code, up.stderr).toBe(0);
    expect(up.stderr).toMatch(/transferred 25 files/);
    const same = await runFerry(['check', src, 'ferry:/photos'], env);
    expect(same.code, same.stderr).toBe(0);
    expect(same.stdout).toBe('');
    expect(same.stderr).toMatch(/25 matching/);
    // -q: nothing but errors, for sync and check alike.
    const quiet = await runFerry(['sync', '-q', src, 'ferry:/photos'], env);
    expect(quiet.code, quiet.stderr).toBe(0);
    expect(quiet.stderr).toBe('');
    const quietCheck = await runFerry(['check', '--quiet', src, 'ferry:/photos'], env);
    expect([quietCheck.code, quietCheck.stderr, quietCheck.stdout]).toEqual([0, '', '']);

    putFile(src, 'a/changed.txt', 'a new file', BASE_MTIME);
    putFile(src, 'docs/extra.txt', 'another', BASE_MTIME);
    const diff = await runFerry(['check', src, 'ferry:/photos'], env);
    expect(diff.code).toBe(1);
    expect(diff.stdout.split('\n').filter(Boolean).sort()).toEqual(['+ a/changed.txt', '+ docs/extra.txt']);

    const dry = await runFerry(['sync', src, 'ferry:/photos', '--dry-run', '--json'], env);
    expect(dry.code, dry.stderr).toBe(0);
    const summary = JSON.parse(dry.stdout) as { dryRun: boolean; transferred: number; hashKind: string };
    expect(summary).toMatchObject({ dryRun: true, transferred: 2, hashKind: 'ferry-tree' });
    expect((await runFerry(['check', src, 'ferry:/photos'], env)).code).toBe(1);

    const real = await runFerry(['sync', src, 'ferry:/photos', '--json', '--transfers', '2', '--checkers', '4', '--retries', '1', '--bwlimit', '50M'], env);
    expect(real.code, real.stderr).toBe(0);
    expect(JSON.parse(real.stdout)).toMatchObject({ transferred: 2, errors: [] });
    expect((await runFerry(['check', src, 'ferry:/photos', '--download'], env)).code).toBe(0);
  });

  it('copy down with filters; move up; combined check output', async () => {
    const src = join(work, 'docs-src');
    putFile(src, 'a.txt', 'A', BASE_MTIME);
    putFile(src, 'b.log', 'B', BASE_MTIME);
    putFile(src, 'sub/c.txt', 'C', BASE_MTIME);
    expect((await runFerry(['copy', src, 'ferry:/docs'], env)).code).toBe(0);
    const down = join(work, 'docs-down');
    const r = await runFerry(['copy', 'ferry:/docs', down, '--include', '*.txt', '-v'], env);
    expect(r.code, r.stderr).toBe(0);
    expect(Object.keys(snapshotDir(down))).toEqual(['a.txt', 'sub/c.txt']);
    expect(snapshotDir(down)['a.txt'].mtimeMs).toBe(BASE_MTIME);
    expect(r.stderr).toMatch(/copy sub\/c.txt/);
    const combined = await runFerry(['check', 'ferry:/docs', down, '--combined'], env);
    expect(combined.stdout.split('\n').filter(Boolean).sort()).toEqual(['+ b.log', '= a.txt', '= sub/c.txt']);
    const outbox = join(work, 'outbox');
    putFile(outbox, 'letter.txt', 'dear', BASE_MTIME);
    const mv = await runFerry(['move', outbox, 'ferry:/inbox'], env);
    expect(mv.code, mv.stderr).toBe(0);
    expect(snapshotDir(outbox)).toEqual({});
  });

  it('bisync with ferry://host:port/path and the state under XDG_STATE_HOME', async () => {
    const notes = join(work, 'notes');
    putFile(notes, 'todo.md', 'one', BASE_MTIME);
    const remote = `ferry://${new URL(server.url).host}/notes`;
    const first = await runFerry(['bisync', notes, remote], env);
    expect(first.code).toBe(2);
    expect(first.stderr).toMatch(/--resync/);
    expect((await runFerry(['bisync', notes, remote, '--resync'], env)).code).toBe(0);
    const stateRoot = join(work, 'home', '.state', 'ferry', 'bisync');
    expect(readdirSync(stateRoot)).toHaveLength(1);
    expect(existsSync(join(stateRoot, readdirSync(stateRoot)[0], 'state.json'))).toBe(true);
    putFile(notes, 'todo.md', 'one, two', BASE_MTIME + 1000);
    putFile(notes, 'new.md', 'new', BASE_MTIME);
    const again = await runFerry(['bisync', notes, remote, '--json'], env);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ copied1to2: 2, copied2to1: 0, conflicts: [] });
    const back = join(work, 'notes-back');
    expect((await runFerry(['sync', 'ferry:/notes', back], env)).code).toBe(0);
    expect(readFileSync(join(back, 'todo.md'), 'utf8')).toBe('one, two');
  });

  it('--dry-run prints the plan and changes nothing; -v prints actions as they happen; -vv every storage call', async () => {
    const src = join(work, 'plan-src');
    const dst = join(work, 'plan-dst');
    putFile(src, 'new.txt', 'new', BASE_MTIME);
    putFile(dst, 'old.txt', 'old', BASE_MTIME);
    const dry = await runFerry(['sync', src, dst, '--dry-run'], env);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stderr.split('\n').filter((l) => l.startsWith('(dry run)'))).toEqual(['(dry run) copy new.txt', '(dry run) delete old.txt']);
    expect(readdirSync(dst)).toEqual(['old.txt']);
    const capped = await runFerry(['sync', src, dst, '--dry-run', '--max-delete', '0'], env);
    expect(capped.code).toBe(1);
    expect(capped.stderr.split('\n').filter((l) => l.startsWith('(dry run)'))).toEqual(['(dry run) copy new.txt', '(dry run) not deleting 1 file: more than --max-delete 0']);
    const verbose = await runFerry(['sync', src, dst, '-vv'], env);
    expect(verbose.code, verbose.stderr).toBe(0);
    expect(verbose.stderr).toMatch(/^copy new\.txt$/m);
    expect(verbose.stderr).toMatch(/^delete old\.txt$/m);
    // Two local folders share one backend (moves and copies are server-side): keys are the backend's.
    expect(verbose.stderr).toMatch(/^ferry: local:\S+ copy plan-src\/new\.txt -> plan-dst\/new\.txt [\d.]+ ms ok$/m);
    expect(verbose.stderr).toMatch(/^ferry: local:\S+ delete plan-dst\/old\.txt [\d.]+ ms ok$/m);
    expect(readdirSync(dst)).toEqual(['new.txt']);
  });

  it('usage errors exit 2 and help shows examples', async () => {
    expect((await runFerry(['sync', join(work, 'x'), 'nosuchtype:thing'], env)).code).toBe(2);
    expect((await runFerry(['sync', work, join(work, 'inside')], env)).code).toBe(2);
    const help = await runFerry(['sync', '--help'], env);
    expect(help.stdout).toMatch(/Examples:/);
    expect(help.stdout).toMatch(/--track-renames/);
    expect((await runFerry(['bisync', '--help'], env)).stdout).toMatch(/keep-both/);
  });
});

describe('a file whose name only changed Unicode form (NFC <-> NFD)', () => {
  it('sync renames it on the server (which refuses the two forms side by side) instead of failing on every run', async () => {
    const [nfc, nfd] = ['caf\u00e9', 'cafe\u0301'];
    const dir = join(work, 'forms');
    putFile(dir, `${nfc}.txt`, 'same bytes', BASE_MTIME);
    putFile(dir, `${nfc} 2.txt`, 'old bytes', BASE_MTIME);
    expect((await runFerry(['sync', dir, 'ferry:/forms'], env)).code).toBe(0);
    // The source now spells both names decomposed (as some macOS tools write them); one also changed.
    rmSync(join(dir, `${nfc}.txt`));
    rmSync(join(dir, `${nfc} 2.txt`));
    putFile(dir, `${nfd}.txt`, 'same bytes', BASE_MTIME);
    putFile(dir, `${nfd} 2.txt`, 'new bytes', BASE_MTIME + 1000);
    const run = await runFerry(['sync', dir, 'ferry:/forms', '-v'], env);
    expect(run.stderr).not.toMatch(/Unicode form \(NFD vs NFC\)|failed/);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toContain(`rename ${nfc}.txt -> ${nfd}.txt (same name in another Unicode form)`);
    const ls = await runFerry(['ls', '/forms'], env);
    expect(ls.stdout.split('\n').filter(Boolean).sort()).toEqual([`${nfd} 2.txt`, `${nfd}.txt`].sort());
    expect((await runFerry(['cat', `/forms/${nfd} 2.txt`], env)).stdout).toBe('new bytes');
    const check = await runFerry(['check', dir, 'ferry:/forms'], env);
    expect(check.code, check.stderr).toBe(0);
  });
});

describe('bisync state', () => {
  it('belongs to where the sides really are: ./docs typed in another folder, or another spelling, is not this pair', async () => {
    const here = join(work, 'bi-here');
    const there = join(work, 'bi-there');
    putFile(join(here, 'docs'), 'a.txt', 'a', BASE_MTIME);
    putFile(join(here, 'docs'), 'b.txt', 'b', BASE_MTIME);
    putFile(join(here, 'docs'), 'c.txt', 'c', BASE_MTIME);
    // Another folder that happens to have a docs/ with two of the three files.
    putFile(join(there, 'docs'), 'a.txt', 'a', BASE_MTIME);
    putFile(join(there, 'docs'), 'b.txt', 'b', BASE_MTIME);
    const inDir = (cwd: string, args: string[]) => runProgram('sh', ['-c', 'cd "$1" && shift && exec "$@"', 'sh', cwd, process.execPath, FERRY_BIN, ...args], env);
    const resync = await inDir(here, ['bisync', './docs', 'ferry:/bi-docs', '--resync']);
    expect(resync.code, resync.stderr).toBe(0);
    // Was measured against the first folder's state: c.txt read as deleted here, and was
    // deleted on the server (one file in three is under --max-delete's 50%).
    const elsewhere = await inDir(there, ['bisync', './docs', 'ferry:/bi-docs']);
    expect(elsewhere.code).toBe(2);
    expect(elsewhere.stderr).toMatch(/no bisync state .*--resync/);
    expect((await runFerry(['ls', '/bi-docs'], env)).stdout.split('\n').filter(Boolean).sort()).toEqual(['a.txt', 'b.txt', 'c.txt']);
    // One folder however it is written: the same state.
    for (const [cwd, path1, path2] of [[here, join(here, 'docs') + '/', 'ferry:/bi-docs/'], [work, './bi-here/docs', 'ferry:bi-docs']]) {
      const same = await inDir(cwd, ['bisync', path1, path2, '--json']);
      expect(same.code, same.stderr).toBe(0);
      expect(JSON.parse(same.stdout)).toMatchObject({ copied1to2: 0, copied2to1: 0, deleted1: 0, deleted2: 0 });
    }
  });
});

describe('bisync that fails', () => {
  it('leaves no empty state folder behind (no state yet, or a run that failed), and keeps a saved state', async () => {
    const one = join(work, 'bi-fail');
    putFile(one, 'a.txt', 'a', BASE_MTIME);
    const states = join(work, 'bi-fail-states');
    const first = await runFerry(['bisync', one, 'ferry:/bi-fail', '--state-dir', states], env);
    expect(first.code).toBe(2);
    expect(first.stderr).toMatch(/no bisync state .*--resync/);
    expect(readdirSync(states)).toEqual([]);
    expect((await runFerry(['bisync', one, 'ferry:/bi-fail', '--state-dir', states, '--resync'], env)).code).toBe(0);
    const [pair] = readdirSync(states);
    expect(readdirSync(join(states, pair))).toEqual(['state.json']);
    expect((await runFerry(['bisync', one, 'ferry:/bi-fail', '--state-dir', states], env)).code).toBe(0);
    expect(readdirSync(join(states, pair))).toEqual(['state.json']);
  });
});

describe('bisync of a file', () => {
  it('is refused, on either side (was a run over an empty "folder" that did nothing, exit 0)', async () => {
    const dir = join(work, 'bi-file');
    putFile(dir, 'one.txt', 'one', BASE_MTIME);
    expect((await runFerry(['put', join(dir, 'one.txt'), '/bi-file/one.txt'], env)).code).toBe(0);
    for (const [p1, p2, named] of [[join(dir, 'one.txt'), 'ferry:/bi-file-out', join(dir, 'one.txt')], [dir, 'ferry:/bi-file/one.txt', 'ferry:/bi-file/one.txt']]) {
      const r = await runFerry(['bisync', '--resync', p1, p2], env);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toContain(`${named} is a file: name the folder it is in`);
    }
    expect((await runFerry(['ls', '/bi-file-out'], env)).code).toBe(3);
  });
});

describe('bisync --dry-run', () => {
  it('says what it would do, not what it did, and changes nothing', async () => {
    const one = join(work, 'bi-dry-1');
    putFile(one, 'a.txt', 'a', BASE_MTIME);
    putFile(one, 'b.txt', 'b', BASE_MTIME);
    putFile(one, 'c.txt', 'c', BASE_MTIME);
    expect((await runFerry(['bisync', one, 'ferry:/bi-dry', '--resync'], env)).code).toBe(0);
    rmSync(join(one, 'a.txt'));
    putFile(one, 'd.txt', 'd', BASE_MTIME);
    const dry = await runFerry(['bisync', one, 'ferry:/bi-dry', '--dry-run'], env);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stderr).toMatch(/ferry bisync: would copy 1 to path2 and 0 to path1, would delete 1 on path2 and 0 on path1, would rename 0,/);
    expect((await runFerry(['ls', '/bi-dry'], env)).stdout.split('\n').filter(Boolean).sort()).toEqual(['a.txt', 'b.txt', 'c.txt']);
  });
});
