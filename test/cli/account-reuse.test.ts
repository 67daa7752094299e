/**
 * A removed account's trash and old versions do not pass to a later account of the same
 * name (security audit, tenth round). Both are kept by path, and `ferry user rm` keeps the
 * user's files: the admin removed carl, deleted /users/carl, made a new carl, and the new
 * one listed and restored the old one's deleted file and read its old version. An account
 * whose home is not `/` now sees the trash and old versions under its home only from its
 * own creation on, at every door (the CLI here, over the API the web app uses too); the
 * admin, whose root holds every home, still lists and restores what the old carl left.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ok, startWorld, type E2EWorld } from '../helpers/e2e.js';

let w: E2EWorld;
let carl: Record<string, string>;
let oldTrashId = 0;
let oldVersionId = 0;
let oldVersionAt = 0;

interface TrashRow { id: number; path: string }
interface VersionRow { id: number; createdAt: number }

async function tokenOf(name: string): Promise<Record<string, string>> {
  const made = JSON.parse(ok(await w.ferry(['token', 'create', '--user', name, '--json'])).stdout) as { token: string };
  return { FERRY_TOKEN: made.token };
}

const trashOf = async (env: Record<string, string>, path = '/'): Promise<TrashRow[]> => JSON.parse(ok(await w.ferry(['trash', 'ls', path, '--json'], { env })).stdout) as TrashRow[];
const versionsOf = async (env: Record<string, string>, path: string): Promise<VersionRow[]> => {
  const out = JSON.parse(ok(await w.ferry(['versions', path, '--json'], { env })).stdout) as VersionRow[] | { versions: VersionRow[] };
  return Array.isArray(out) ? out : out.versions;
};

beforeAll(async () => {
  w = await startWorld({ extraArgs: ['--trash-days', '7', '--versions', '{"keep": 5}'] });
  ok(await w.ferry(['user', 'add', 'carl']));
  const old = await tokenOf('carl');
  await writeFile(join(w.dir, 'v1.txt'), 'old carl, first draft');
  await writeFile(join(w.dir, 'v2.txt'), 'old carl, second draft');
  await writeFile(join(w.dir, 'diary.txt'), 'old carl diary');
  ok(await w.ferry(['put', join(w.dir, 'v1.txt'), '/notes.txt'], { env: old }));
  ok(await w.ferry(['put', join(w.dir, 'v2.txt'), '/notes.txt'], { env: old }));
  ok(await w.ferry(['put', join(w.dir, 'diary.txt'), '/diary.txt'], { env: old }));
  ok(await w.ferry(['rm', '/diary.txt'], { env: old }));
  oldTrashId = (await trashOf(old))[0].id;
  [{ id: oldVersionId, createdAt: oldVersionAt }] = await versionsOf(old, '/notes.txt');
  // The admin removes carl, deletes the home (its files go to the trash too), makes a new carl.
  ok(await w.ferry(['user', 'rm', 'carl']));
  ok(await w.ferry(['rm', '-r', '/users/carl']));
  ok(await w.ferry(['user', 'add', 'carl']));
  carl = await tokenOf('carl');
});
afterAll(async () => {
  await w?.close();
});

describe('a new account of a removed name', () => {
  it("lists none of the old account's trash", async () => {
    expect(await trashOf(carl)).toEqual([]);
  });

  it("cannot restore the old account's trash by id (not found, exit 3), and the entry stays", async () => {
    const r = await w.ferry(['trash', 'restore', String(oldTrashId)], { env: carl });
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toContain(`nothing in the trash with id ${oldTrashId}`);
    expect((await trashOf({}, '/users/carl')).map((t) => t.id)).toContain(oldTrashId);
  });

  it("neither lists nor reads nor restores the old account's versions", async () => {
    await writeFile(join(w.dir, 'mine.txt'), 'new carl');
    ok(await w.ferry(['put', join(w.dir, 'mine.txt'), '/notes.txt'], { env: carl }));
    expect(await versionsOf(carl, '/notes.txt')).toEqual([]);
    const got = await w.ferry(['get', '--version', String(oldVersionId), '/notes.txt', join(w.dir, 'stolen.txt')], { env: carl });
    expect(got.code, got.stderr).toBe(3);
    const restored = await w.ferry(['restore', '/notes.txt', '--version', String(oldVersionId)], { env: carl });
    expect(restored.code, restored.stderr).toBe(3);
    const at = await w.ferry(['restore', '/notes.txt', '--at', new Date(oldVersionAt).toISOString()], { env: carl });
    expect(at.code, at.stderr).not.toBe(0);
    expect(ok(await w.ferry(['cat', '/notes.txt'], { env: carl })).stdout).toBe('new carl');
  });

  it("cannot empty the old account's trash either", async () => {
    ok(await w.ferry(['trash', 'empty'], { env: carl }));
    expect((await trashOf({}, '/users/carl')).map((t) => t.id)).toContain(oldTrashId);
  });

  it('sees its own history as before', async () => {
    await writeFile(join(w.dir, 'mine2.txt'), 'new carl, again');
    ok(await w.ferry(['put', join(w.dir, 'mine2.txt'), '/notes.txt'], { env: carl }));
    const versions = await versionsOf(carl, '/notes.txt');
    expect(versions).toHaveLength(1);
    ok(await w.ferry(['rm', '/notes.txt'], { env: carl }));
    const trash = await trashOf(carl);
    expect(trash.map((t) => t.path)).toEqual(['/notes.txt']);
    ok(await w.ferry(['trash', 'restore', String(trash[0].id)], { env: carl }));
    expect(ok(await w.ferry(['cat', '/notes.txt'], { env: carl })).stdout).toBe('new carl, again');
  });

  it("leaves the old account's trash and versions to the admin", async () => {
    const trash = await trashOf({}, '/users/carl');
    expect(trash.map((t) => t.path)).toEqual(expect.arrayContaining(['/users/carl/diary.txt']));
    expect((await versionsOf({}, '/users/carl/notes.txt')).map((v) => v.id)).toContain(oldVersionId);
    ok(await w.ferry(['trash', 'restore', String(oldTrashId), '--to', '/kept/diary.txt']));
    ok(await w.ferry(['get', '/kept/diary.txt', join(w.dir, 'kept.txt')]));
    expect(await readFile(join(w.dir, 'kept.txt'), 'utf8')).toBe('old carl diary');
    ok(await w.ferry(['trash', 'empty', '/users/carl', '--all-users', '--yes']));
    expect(await trashOf({}, '/users/carl')).toEqual([]);
  });
});
