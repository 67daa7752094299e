/**
 * `ferry trash empty` as the admin, whose root holds every user's home, emptied every
 * user's trash without a word. A PATH that holds another user's home now takes
 * --all-users, and then a yes on a terminal or --yes; a user's own `trash empty` and the
 * admin's on a folder of their own are as before.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ok, startWorld, type E2EWorld } from '../helpers/e2e.js';

let w: E2EWorld;
let ana: Record<string, string>;

/** How many entries `trash ls --json` shows for the admin (everyone's) or ana. */
async function trashCount(env: Record<string, string> = {}): Promise<number> {
  return (JSON.parse(ok(await w.ferry(['trash', 'ls', '--json'], { env })).stdout) as unknown[]).length;
}

beforeAll(async () => {
  w = await startWorld({ extraArgs: ['--trash-days', '7'] });
  ok(await w.ferry(['user', 'add', 'ana', '--password-stdin'], { input: 'ana-secret-pw-1x!\n' }));
  const made = JSON.parse(ok(await w.ferry(['token', 'create', '--user', 'ana', '--json'])).stdout) as { token: string };
  ana = { FERRY_TOKEN: made.token };
  await writeFile(join(w.dir, 'f.txt'), 'f');
  ok(await w.ferry(['put', join(w.dir, 'f.txt'), '/f.txt'], { env: ana }));
  ok(await w.ferry(['rm', '/f.txt'], { env: ana }));
  ok(await w.ferry(['put', join(w.dir, 'f.txt'), '/mine/a.txt']));
  ok(await w.ferry(['rm', '/mine/a.txt']));
});
afterAll(async () => {
  await w?.close();
});

describe('trash empty: whose trash', () => {
  it('the admin without --all-users: refused (exit 2), naming the users; nothing is deleted', async () => {
    const r = await w.ferry(['trash', 'empty']);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain('/ holds the home of 1 other user (ana): emptying it deletes their trash too; add --all-users');
    expect(await trashCount()).toBe(2);
    expect(await trashCount(ana)).toBe(1);
  });

  it('--all-users asks first: without a terminal it takes --yes', async () => {
    const r = await w.ferry(['trash', 'empty', '--all-users']);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain('add --yes');
    expect(await trashCount(ana)).toBe(1);
  });

  it("the admin's own folder needs neither", async () => {
    expect(ok(await w.ferry(['trash', 'empty', '/mine'])).stderr).toBe('removed 1 file from the trash\n');
    expect(await trashCount(ana)).toBe(1);
  });

  it("a user's own trash empty is as before; --all-users --yes empties everyone's", async () => {
    ok(await w.ferry(['put', join(w.dir, 'f.txt'), '/g.txt'], { env: ana }));
    ok(await w.ferry(['rm', '/g.txt'], { env: ana }));
    ok(await w.ferry(['put', join(w.dir, 'f.txt'), '/h.txt']));
    ok(await w.ferry(['rm', '/h.txt']));
    expect(ok(await w.ferry(['trash', 'empty', '/g.txt'], { env: ana })).stderr).toBe('removed 1 file from the trash\n');
    expect(await trashCount(ana)).toBe(1);
    expect(ok(await w.ferry(['trash', 'empty', '--all-users', '--yes'])).stderr).toBe('removed 2 files from the trash\n');
    expect(await trashCount()).toBe(0);
  });
});
