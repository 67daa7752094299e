/**
 * The local side of `ferry get` and the standard streams, as cp(1) and scp(1) users expect:
 * a download's missing parent folder is an error (DEST ending in '/' has it made), a target
 * that cannot be replaced is named as the user typed it (not DEST.ferry-part), and `-` with
 * stdin or stdout closed (`<&-`, `>&-`) is refused instead of reading or writing /dev/null.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FERRY_BIN, cliEnv, type CliResult } from '../helpers/cli.js';
import { ok, startWorld, type E2EWorld } from '../helpers/e2e.js';

let world: E2EWorld;
const ferry = (args: string[], options: { input?: string } = {}) => world.ferry(args, { cwd: world.dir, ...options });
const local = (...names: string[]) => join(world.dir, ...names);

beforeAll(async () => {
  world = await startWorld();
  await writeFile(local('hello.txt'), 'hello\n');
  ok(await ferry(['put', local('hello.txt'), '/hello.txt']));
  ok(await ferry(['put', '-r', local('hello.txt'), '/tree/']));
}, 60_000);
afterAll(async () => {
  await world?.close();
});

/** The CLI under sh, so that a redirection can close fd 0 or 1 as a user's shell would. */
function underShell(args: string[], redirect: string): Promise<CliResult> {
  const quoted = [process.execPath, FERRY_BIN, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const child = spawn('sh', ['-c', `exec ${quoted} ${redirect}`], { env: cliEnv(world.env), cwd: world.dir, stdio: ['pipe', 'pipe', 'pipe'] });
  child.stdin.end();
  child.stdin.on('error', () => {});
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (d: Buffer) => out.push(d));
  child.stderr.on('data', (d: Buffer) => err.push(d));
  return new Promise((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString(), stdoutBytes: Buffer.concat(out) })),
  );
}

describe('ferry get: the destination folder', () => {
  it('a missing parent folder is an error naming it; nothing is made', async () => {
    const r = await ferry(['get', '/hello.txt', local('no', 'such', 'file.txt')]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`${local('no', 'such')}: no such local directory`);
    expect(existsSync(local('no'))).toBe(false);
    // A relative DEST is named as typed.
    const rel = await ferry(['get', '/hello.txt', 'typo/file.txt']);
    expect(rel.code).toBe(3);
    expect(rel.stderr).toContain('typo: no such local directory');
    // The hint for a file names the parent: `typo/file.txt/` (what it said before) made a
    // folder named file.txt with hello.txt inside (fifteenth round).
    expect(rel.stderr).toContain('make it first (mkdir -p typo), or end DEST with / to download into a folder made with its parents: typo/)');
    expect(rel.stderr).not.toContain('typo/file.txt/');
    ok(await ferry(['get', '/hello.txt', 'typo/']));
    expect(await readdir(local('typo'))).toEqual(['hello.txt']);
    // A tree: DEST itself is made (cp -r), its parent is not; its hint is DEST/.
    const tree = await ferry(['get', '-r', '/tree', local('gone', 'copy')]);
    expect(tree.code).toBe(3);
    expect(tree.stderr).toContain(`end DEST with / to have it made: ${local('gone', 'copy')}/`);
    expect(existsSync(local('gone'))).toBe(false);
    ok(await ferry(['get', '-r', '/tree', local('copy')]));
    expect(await readdir(local('copy'))).toEqual(['hello.txt']);
  });

  it('DEST ending in / is a folder: made with its parents, the file goes inside', async () => {
    ok(await ferry(['get', '/hello.txt', local('new', 'folder') + '/']));
    expect(await readFile(local('new', 'folder', 'hello.txt'), 'utf8')).toBe('hello\n');
    ok(await ferry(['get', '-r', '/tree', local('made', 'tree') + '/']));
    expect(await readdir(local('made', 'tree'))).toEqual(['hello.txt']);
  });

  it('a parent that is a file fails with exit 6, naming it', async () => {
    await writeFile(local('plain'), 'x');
    const r = await ferry(['get', '/hello.txt', local('plain', 'file.txt')]);
    expect(r.code).toBe(6);
    expect(r.stderr).toContain(`${local('plain')}: not a directory`);
  });

  it('a target that cannot be replaced is named as typed, never as DEST.ferry-part', async () => {
    const r = await ferry(['get', '/hello.txt', '/proc/version']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('/proc/version: cannot be replaced');
    expect(r.stderr).not.toContain('.ferry-part');
    const ro = await ferry(['get', '/hello.txt', '/proc/self/ro-target']);
    expect(ro.stderr).not.toContain('.ferry-part');
  });
});

describe('- with stdin or stdout closed', () => {
  it('put - with stdin closed is refused (exit 2) and uploads nothing; </dev/null still uploads an empty file', async () => {
    const r = await underShell(['put', '-', '/from-closed.txt'], '<&-');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('stdin is closed');
    expect((await ferry(['stat', '/from-closed.txt'])).code).toBe(3);
    ok(await underShell(['put', '-', '/from-null.txt'], '</dev/null'));
    expect(JSON.parse(ok(await ferry(['stat', '--json', '/from-null.txt'])).stdout).size).toBe(0);
  });

  it('get x - and cat with stdout closed are refused (exit 2); >/dev/null still works', async () => {
    for (const args of [['get', '/hello.txt', '-'], ['cat', '/hello.txt']]) {
      const r = await underShell(args, '>&-');
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toContain('stdout is closed');
      ok(await underShell(args, '>/dev/null'));
    }
  });
});
