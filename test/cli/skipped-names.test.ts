/**
 * A local name no Ferry path can hold (a newline, an ESC) is never skipped without a word.
 * `put -r` reports each as a file that failed and exits 2 (FERRY_ERR_PATH_INVALID); the tree
 * commands that walk a local tree through the stores do the same: `put -rn`, `get -r
 * local:DIR`, `rm -r[n] local:DIR` (which keeps, and no longer lists an rmdir for, a folder
 * that still holds one). Before, these three said nothing and exited 0. `sync`, `copy`, `move`
 * and `check` from a local folder agree (before: a warning and exit 0).
 */
import { mkdir, readdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ok, startWorld, type E2EWorld } from '../helpers/e2e.js';

// eslint-disable-next-line no-control-regex
const CONTROLS = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/;
let w: E2EWorld;

/** A tree with `ok.txt`, `a\nb` and `sub/e<ESC>f`. */
async function tree(name: string): Promise<string> {
  const dir = join(w.dir, name);
  await mkdir(join(dir, 'sub'), { recursive: true });
  await writeFile(join(dir, 'ok.txt'), 'ok');
  await writeFile(join(dir, 'a\nb'), 'x');
  await writeFile(join(dir, 'sub', 'e\u001bf'), 'y');
  return dir;
}

/** Each bad name on its own line, written out, then the summary: 2 files failed (or would). */
function expectReported(stderr: string, shownRoot: string, verb: 'failed' | 'would fail'): void {
  expect(stderr).not.toMatch(CONTROLS);
  const lines = stderr.trimEnd().split('\n');
  expect(lines.filter((l) => l.startsWith(`ferry: ${shownRoot}/a\\x0ab: invalid path`))).toHaveLength(1);
  expect(lines.filter((l) => l.startsWith(`ferry: ${shownRoot}/sub/e\\x1bf: invalid path`))).toHaveLength(1);
  expect(lines.at(-1)).toMatch(new RegExp(`^ferry: 2 files ${verb}; first: .*\\(FERRY_ERR_PATH_INVALID\\)$`));
}

beforeAll(async () => {
  w = await startWorld();
});
afterAll(async () => {
  await w?.close();
});

describe('names with control characters in a local tree', () => {
  it('put -rn reports each and exits 2, as put -r does; the other files are still listed', async () => {
    const src = await tree('put-n');
    const r = await w.ferry(['put', '-rn', src, '/dry']);
    expect(r.code, r.stderr).toBe(2);
    expectReported(r.stderr, src, 'would fail');
    expect(r.stderr).toContain('(dry run) copy ok.txt');
    const real = await w.ferry(['put', '-r', src, '/real']);
    expect(real.code).toBe(r.code);
  });

  it('get -r local:DIR reports each, gets the others and exits 2', async () => {
    const src = await tree('get-src');
    const out = join(w.dir, 'get-out');
    const r = await w.ferry(['get', '-r', `local:${src}`, out]);
    expect(r.code, r.stderr).toBe(2);
    expectReported(r.stderr, `local:${src}`, 'failed');
    expect(await readdir(out)).toEqual(['ok.txt']);
  });

  it('rm -rn local:DIR reports each and lists no rmdir for the folders that would keep them', async () => {
    const src = await tree('rm-n');
    const r = await w.ferry(['rm', '-rn', `local:${src}`]);
    expect(r.code, r.stderr).toBe(2);
    expectReported(r.stderr, `local:${src}`, 'would fail');
    expect(r.stderr).toContain(`(dry run) delete local:${src}/ok.txt`);
    expect(r.stderr).not.toContain('rmdir');
    expect((await readdir(src)).sort()).toEqual(['a\nb', 'ok.txt', 'sub']);
  });

  it('rm -r local:DIR removes what it can, reports each name it cannot, and keeps their folders', async () => {
    const src = await tree('rm-r');
    await mkdir(join(src, 'empty'));
    const r = await w.ferry(['rm', '-r', `local:${src}`]);
    expect(r.code, r.stderr).toBe(2);
    expectReported(r.stderr, `local:${src}`, 'failed');
    expect((await readdir(src)).sort()).toEqual(['a\nb', 'sub']);
    expect(await readdir(join(src, 'sub'))).toEqual(['e\u001bf']);
  });

  it('--json: each name in a JSON line with the name as it is', async () => {
    const src = await tree('json');
    const r = await w.ferry(['rm', '-rn', '--json', `local:${src}`]);
    expect(r.code).toBe(2);
    const paths = r.stderr
      .trimEnd()
      .split('\n')
      .filter((l) => l.startsWith('{')) // -n's plan lines are for people
      .map((l) => JSON.parse(l) as { error: { code: string; details: { path?: string } } })
      .filter((e) => e.error.details.path !== undefined);
    expect(paths.map((e) => e.error.code)).toEqual(['FERRY_ERR_PATH_INVALID', 'FERRY_ERR_PATH_INVALID']);
    expect(paths.map((e) => e.error.details.path).sort()).toEqual([`local:${src}/a\nb`, `local:${src}/sub/e\u001bf`]);
  });

  for (const command of ['sync', 'copy', 'move']) {
    it(`${command} from a local folder reports each, sends the others and exits 2`, async () => {
      const src = await tree(`${command}-src`);
      const r = await w.ferry([command, src, `ferry:/${command}-dst`]);
      expect(r.code, r.stderr).toBe(2);
      expectReported(r.stderr, src, 'failed');
      const listed = await w.ferry(['ls', '-R', `/${command}-dst`]);
      expect(listed.stdout).toContain('ok.txt');
      // The bad names stay where they are (move removes only what it sent).
      expect((await readdir(src)).sort()).toEqual(command === 'move' ? ['a\nb', 'sub'] : ['a\nb', 'ok.txt', 'sub']);
    });
  }

  it('bisync reports each, keeps the others in step and exits 2', async () => {
    const src = await tree('bisync-src');
    const r = await w.ferry(['bisync', src, 'ferry:/bisync-dst', '--resync', '--state-dir', join(w.dir, 'bisync-state')]);
    expect(r.code, r.stderr).toBe(2);
    expectReported(r.stderr, src, 'failed');
    expect(ok(await w.ferry(['cat', '/bisync-dst/ok.txt'])).stdout).toBe('ok');
  });

  it('sync -n says the bad names would fail, and exits 2', async () => {
    const src = await tree('sync-n');
    const r = await w.ferry(['sync', '-n', src, 'ferry:/sync-n-dst']);
    expect(r.code, r.stderr).toBe(2);
    expectReported(r.stderr, src, 'would fail');
  });

  it('check reports each (they cannot be compared) and exits 2 when the rest matches', async () => {
    const src = await tree('check-src');
    ok(await w.ferry(['copy', join(src, 'ok.txt'), 'ferry:/check-dst']));
    const r = await w.ferry(['check', src, 'ferry:/check-dst']);
    expect(r.code, r.stderr).toBe(2);
    expectReported(r.stderr, src, 'failed');
    // the summary counts them as errors (it said "0 errors" above "2 files failed")
    expect(r.stderr).toContain('ferry check: 1 matching, 0 differing, 0 missing on ferry:/check-dst, 0 missing on');
    expect(r.stderr).toMatch(/, 2 errors\n/);
    const json = await w.ferry(['check', '--json', src, 'ferry:/check-dst']);
    expect(json.code, json.stderr).toBe(2);
    expect(JSON.parse(json.stdout)).toMatchObject({ same: 1, errors: 2, ok: false });
  });

  it('a symbolic link is still only a warning (exit 0), as in put -r', async () => {
    const src = join(w.dir, 'links');
    await mkdir(src);
    await writeFile(join(src, 'ok.txt'), 'ok');
    await symlink(join(src, 'ok.txt'), join(src, 'link'));
    const r = ok(await w.ferry(['put', '-rn', src, '/links']));
    expect(r.stderr).toContain(`ferry: warning: skipped ${src}/link: symbolic link not followed`);
    expect(r.stderr).toMatch(/would put 1 file/);
  });
});
