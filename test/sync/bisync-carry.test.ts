/**
 * Bisync pairs made by ferry 0.1.0, which kept their state under the two paths as typed, after
 * the upgrade that keys it by where the sides really are (src/sync/bisync-carry.ts), and the
 * resync a pair needs when its state cannot be carried over. Real local folders, a real
 * `ferry serve`, and the old state written where and as 0.1.0 wrote it: a folder named from the
 * labels (`pairId` of 0.1.0, copied below so that a change of today's naming cannot hide here)
 * holding `state.json` `{version: 1, path1, path2, listing1, listing2, savedAt}`, the format
 * today's ferry still writes (it is made by a run of today's ferry and moved there).
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, rmdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../helpers/server.js';
import { BASE_MTIME, FERRY_BIN, childEnv, putFile, runFerry, runProgram } from '../helpers/local-trees.js';

const work = mkdtempSync(join(tmpdir(), 'ferry-bisync-carry-'));
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

/** The folder name ferry 0.1.0 gave a pair: from the two paths as typed. */
function pairIdOf010(label1: string, label2: string): string {
  const clean = (s: string) => s.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^_+|_+$/g, '').slice(0, 40);
  const digest = createHash('sha256').update(`${label1}\n${label2}`).digest('hex').slice(0, 12);
  return `${clean(label1)}..${clean(label2)}-${digest}`;
}

/** Runs ferry in `cwd` (the paths as typed are relative to it). */
const inDir = (cwd: string, args: string[]) => runProgram('sh', ['-c', 'cd "$1" && shift && exec "$@"', 'sh', cwd, process.execPath, FERRY_BIN, ...args], env);

/** Makes a pair's state with a resync in `cwd`, then moves it to where 0.1.0 kept it; returns that folder. */
async function stateOf010(states: string, cwd: string, label1: string, label2: string): Promise<string> {
  const first = await inDir(cwd, ['bisync', label1, label2, '--resync', '--state-dir', states]);
  expect(first.code, first.stderr).toBe(0);
  const [made] = readdirSync(states);
  const state = JSON.parse(readFileSync(join(states, made, 'state.json'), 'utf8')) as Record<string, unknown>;
  expect(state).toMatchObject({ version: 1, path1: label1, path2: label2 });
  const old = join(states, pairIdOf010(label1, label2));
  mkdirSync(old);
  renameSync(join(states, made, 'state.json'), join(old, 'state.json'));
  rmdirSync(join(states, made));
  return old;
}

const serverNames = async (dir: string) => (await runFerry(['ls', dir], env)).stdout.split('\n').filter(Boolean).sort();

describe('a pair made by ferry 0.1.0', () => {
  it('with an absolute local path: carried over once, its deletions and both sides\' edits propagate', async () => {
    const local = join(work, 'abs');
    for (const name of ['a.txt', 'b.txt', 'c.txt', 'd.txt']) putFile(local, name, name, BASE_MTIME);
    const remote = `ferry://${new URL(server.url).host}/carry-abs`;
    const states = join(work, 'states-abs');
    const old = await stateOf010(states, work, local, remote);
    rmSync(join(local, 'a.txt')); // deleted here since the last run
    putFile(local, 'b.txt', 'b, edited', BASE_MTIME + 60_000);
    putFile(join(work, 'abs-staged'), 'c.txt', 'c, edited on the server', BASE_MTIME + 60_000);
    expect((await runFerry(['put', join(work, 'abs-staged', 'c.txt'), '/carry-abs/c.txt'], env)).code).toBe(0);

    const r = await runFerry(['bisync', local, remote, '--state-dir', states, '--json'], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`ferry: carried over the state saved by an older ferry (${old})`);
    expect(JSON.parse(r.stdout)).toMatchObject({ carriedOver: true, deleted1: 0, deleted2: 1, copied1to2: 1, copied2to1: 1, conflicts: [], errors: [] });
    expect(readdirSync(local).sort()).toEqual(['b.txt', 'c.txt', 'd.txt']);
    expect(await serverNames('/carry-abs')).toEqual(['b.txt', 'c.txt', 'd.txt']);
    expect((await runFerry(['cat', '/carry-abs/b.txt'], env)).stdout).toBe('b, edited');
    expect(readFileSync(join(local, 'c.txt'), 'utf8')).toBe('c, edited on the server');
    // Moved, not copied: the old folder is gone, and the next run says nothing of it.
    expect(existsSync(old)).toBe(false);
    const again = await runFerry(['bisync', local, remote, '--state-dir', states, '--json'], env);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).not.toContain('carried over');
    expect(JSON.parse(again.stdout)).toMatchObject({ carriedOver: false, deleted1: 0, deleted2: 0, copied1to2: 0, copied2to1: 0 });
  });

  it('with paths that depend on the folder and login (./docs, ferry:/docs): carried over when the folder holds what the state recorded; the next run propagates a deletion', async () => {
    const here = join(work, 'rel-here');
    for (const name of ['a.txt', 'b.txt', 'c.txt']) putFile(join(here, 'docs'), name, name, BASE_MTIME);
    const states = join(work, 'states-rel');
    const old = await stateOf010(states, here, './docs', 'ferry:/carry-rel');
    putFile(join(here, 'docs'), 'a.txt', 'a, edited', BASE_MTIME + 60_000);
    // A dry run says it would, and leaves the old state where it is.
    const dry = await inDir(here, ['bisync', './docs', 'ferry:/carry-rel', '--state-dir', states, '--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stderr).toContain(`ferry: would carry over the state saved by an older ferry (${old})`);
    expect(existsSync(join(old, 'state.json'))).toBe(true);
    const r = await inDir(here, ['bisync', './docs', 'ferry:/carry-rel', '--state-dir', states, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('carried over the state saved by an older ferry');
    expect(JSON.parse(r.stdout)).toMatchObject({ carriedOver: true, copied1to2: 1, deleted1: 0, deleted2: 0 });
    rmSync(join(here, 'docs', 'c.txt'));
    const next = await inDir(here, ['bisync', './docs', 'ferry:/carry-rel', '--state-dir', states, '--json']);
    expect(next.code, next.stderr).toBe(0);
    expect(JSON.parse(next.stdout)).toMatchObject({ carriedOver: false, deleted2: 1 });
    expect(await serverNames('/carry-rel')).toEqual(['a.txt', 'b.txt']);
  });

  it('is refused for another place: ./docs typed in another folder that lacks a file (copied with its times), or a folder where nothing is as recorded', async () => {
    const here = join(work, 'other-here');
    const there = join(work, 'other-there');
    for (const name of ['a.txt', 'b.txt', 'c.txt']) putFile(join(here, 'docs'), name, name, BASE_MTIME);
    // Another folder with a docs/ holding two of the three files, with the same times.
    for (const name of ['a.txt', 'b.txt']) putFile(join(there, 'docs'), name, name, BASE_MTIME);
    const states = join(work, 'states-other');
    const old = await stateOf010(states, here, './docs', 'ferry:/carry-other');
    const elsewhere = await inDir(there, ['bisync', './docs', 'ferry:/carry-other', '--state-dir', states]);
    expect(elsewhere.code).toBe(2);
    expect(elsewhere.stderr).toContain(`the state an older ferry saved for these paths as typed (${old}) was not used: path1 (./docs) lacks 1 of the files it recorded (c.txt)`);
    // What the asked-for resync does, said in full.
    expect(elsewhere.stderr).toContain('Run once with --resync: it deletes nothing and overwrites nothing');
    expect(elsewhere.stderr).toContain('the newer keeps the name (--resync-mode chooses another rule)');
    expect(await serverNames('/carry-other')).toEqual(['a.txt', 'b.txt', 'c.txt']);
    expect(existsSync(join(old, 'state.json'))).toBe(true); // kept for the folder it belongs to

    // An absolute path where every file is other than recorded (another disk at the same place).
    const disk = join(work, 'disk');
    putFile(disk, 'x.txt', 'x', BASE_MTIME);
    const diskStates = join(work, 'states-disk');
    await stateOf010(diskStates, work, disk, 'ferry:/carry-disk');
    putFile(disk, 'x.txt', 'another x', BASE_MTIME + 5_000);
    const replaced = await runFerry(['bisync', disk, 'ferry:/carry-disk', '--state-dir', diskStates], env);
    expect(replaced.code).toBe(2);
    expect(replaced.stderr).toContain(`was not used: none of the 1 files it recorded on path1 (${disk}) is there unchanged`);
    expect((await runFerry(['cat', '/carry-disk/x.txt'], env)).stdout).toBe('x');

    // A file gone from the server side: ferry://host/… is the files of whoever is logged in to that host.
    const kept = join(work, 'kept');
    for (const name of ['k.txt', 'l.txt']) putFile(kept, name, name, BASE_MTIME);
    const address = `ferry://${new URL(server.url).host}/carry-kept`;
    const keptStates = join(work, 'states-kept');
    await stateOf010(keptStates, work, kept, address);
    expect((await runFerry(['rm', '/carry-kept/l.txt'], env)).code).toBe(0);
    const serverGone = await runFerry(['bisync', kept, address, '--state-dir', keptStates], env);
    expect(serverGone.code).toBe(2);
    expect(serverGone.stderr).toContain(`was not used: path2 (${address}) lacks 1 of the files it recorded (l.txt)`);
    expect(readdirSync(kept).sort()).toEqual(['k.txt', 'l.txt']);

    // Without an old state the refusal says what a resync does too.
    const none = await runFerry(['bisync', join(work, 'abs-none'), 'ferry:/carry-none', '--state-dir', join(work, 'states-none')], env);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/no bisync state for .* \(looked in .*\)\. Run once with --resync: it deletes nothing and overwrites nothing/);
  });
});

describe('bisync --resync', () => {
  it("keeps path2's newer edit under its name and path1's version as a conflict copy, on both sides", async () => {
    const local = join(work, 'resync-local');
    putFile(local, 'notes.txt', 'path1, old', BASE_MTIME);
    putFile(local, 'only-here.txt', 'here', BASE_MTIME);
    const staged = join(work, 'resync-staged');
    putFile(staged, 'notes.txt', 'path2, edited later', BASE_MTIME + 60_000);
    expect((await runFerry(['put', join(staged, 'notes.txt'), '/resync-keep/notes.txt'], env)).code).toBe(0);
    const r = await runFerry(['bisync', local, 'ferry:/resync-keep', '--resync', '--state-dir', join(work, 'states-resync'), '--json'], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain("conflict notes.txt (resync newer: path2's version kept, path1's kept as notes.conflict1.txt)");
    expect(JSON.parse(r.stdout)).toMatchObject({ resync: true, deleted1: 0, deleted2: 0, conflicts: [{ path: 'notes.txt', resolution: "path2 wins, path1's kept as notes.conflict1.txt" }] });
    expect(readFileSync(join(local, 'notes.txt'), 'utf8')).toBe('path2, edited later');
    expect(readFileSync(join(local, 'notes.conflict1.txt'), 'utf8')).toBe('path1, old');
    expect(await serverNames('/resync-keep')).toEqual(['notes.conflict1.txt', 'notes.txt', 'only-here.txt']);
    expect((await runFerry(['cat', '/resync-keep/notes.conflict1.txt'], env)).stdout).toBe('path1, old');
    // --resync-mode path1: path1's version keeps the name; path2's is still kept.
    putFile(local, 'notes.txt', 'path1 again', BASE_MTIME);
    const p1 = await runFerry(['bisync', local, 'ferry:/resync-keep', '--resync', '--resync-mode', 'path1', '--state-dir', join(work, 'states-resync'), '--json'], env);
    expect(p1.code, p1.stderr).toBe(0);
    expect((await runFerry(['cat', '/resync-keep/notes.txt'], env)).stdout).toBe('path1 again');
    expect(readFileSync(join(local, 'notes.conflict2.txt'), 'utf8')).toBe('path2, edited later');
    const bad = await runFerry(['bisync', local, 'ferry:/resync-keep', '--resync', '--resync-mode', 'bigger'], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--resync-mode.*bigger.*newer, older, larger, smaller, path1, path2/);
  });
});
