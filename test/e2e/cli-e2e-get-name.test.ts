/**
 * `ferry get` of an end-to-end file into a folder names the local file by the name the file
 * has now (its stored name decrypted, as `ls` shows it and as it was asked for), not by the
 * name sealed in its header when it was put: `ferry mv` renames the entry and leaves the
 * header alone, so the sealed name goes stale. Before, `get /vault/new.txt DIR/` after
 * `mv /vault/old.txt /vault/new.txt` wrote DIR/old.txt, replacing a local old.txt that had
 * nothing to do with it. The same for a `put --encrypt` file outside a vault, one by one and
 * through `get -r` of its plain folder. Real CLI, real `ferry serve`.
 *
 * And what README's "End-to-end encryption" says is not caught: a server that serves one of
 * the user's own encrypted files, whole, in place of another (here two entries' contents
 * swapped in the server's database) gives a valid file under the user's key, so `get`
 * writes the other file's bytes and exits 0; so does an older version of the same file put
 * back. A file's contents are not bound to its name.
 */
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorld, type E2EWorld } from '../helpers/e2e.js';

let w: E2EWorld;
let keyFile: string;

const ferry = (args: string[]) => w.ferry([...args, '--e2e-key-file', keyFile]);

async function ok(args: string[]): Promise<string> {
  const r = await ferry(args);
  expect(r.code, `${args.join(' ')}\n${r.stderr}`).toBe(0);
  return r.stdout;
}

beforeAll(async () => {
  w = await startWorld();
  keyFile = join(w.dir, 'key');
  expect((await w.ferry(['admin', 'keygen', keyFile])).code).toBe(0);
  await mkdir(join(w.dir, 'src'));
  await writeFile(join(w.dir, 'src', 'draft.txt'), 'the renamed file\n');
  await writeFile(join(w.dir, 'src', 'memo.txt'), 'the encrypted memo\n');
}, 60_000);

afterAll(async () => {
  await w?.close();
});

describe('get of a renamed end-to-end file into a folder', () => {
  it('in a vault: the file is written under its new name, and a local file of the old name is left alone', async () => {
    await ok(['mkdir', '--e2e', '/vault']);
    await ok(['put', join(w.dir, 'src', 'draft.txt'), '/vault/']);
    await ok(['mv', '/vault/draft.txt', '/vault/final.txt']);
    expect((await ok(['ls', '/vault'])).split('\n')).toContain('final.txt');

    const dest = join(w.dir, 'out-vault');
    await mkdir(dest);
    await writeFile(join(dest, 'draft.txt'), 'a local draft, not the server file\n');
    await ok(['get', '/vault/final.txt', `${dest}/`]);
    expect((await readdir(dest)).sort()).toEqual(['draft.txt', 'final.txt']);
    expect(await readFile(join(dest, 'final.txt'), 'utf8')).toBe('the renamed file\n');
    expect(await readFile(join(dest, 'draft.txt'), 'utf8')).toBe('a local draft, not the server file\n');
  });

  it('outside a vault (put --encrypt), by get and by get -r of its folder', async () => {
    await ok(['mkdir', '/docs']);
    await ok(['put', '--encrypt', join(w.dir, 'src', 'memo.txt'), '/docs/']);
    await ok(['mv', '/docs/memo.txt', '/docs/memo-2026.txt']);

    const one = join(w.dir, 'out-one');
    await mkdir(one);
    await ok(['get', '/docs/memo-2026.txt', one]);
    expect(await readdir(one)).toEqual(['memo-2026.txt']);
    expect(await readFile(join(one, 'memo-2026.txt'), 'utf8')).toBe('the encrypted memo\n');

    const tree = join(w.dir, 'out-tree');
    await ok(['get', '-r', '/docs', tree]);
    expect(await readdir(tree)).toEqual(['memo-2026.txt']);
    expect(await readFile(join(tree, 'memo-2026.txt'), 'utf8')).toBe('the encrypted memo\n');
  });
});

describe('a hostile server swapping two whole encrypted files', () => {
  it('is not detected: each is a valid file under the key (README, "Never wrong bytes")', async () => {
    await ok(['mkdir', '--e2e', '/swapped']);
    await writeFile(join(w.dir, 'src', 'a.txt'), 'the contents of a\n');
    await writeFile(join(w.dir, 'src', 'b.txt'), 'the contents of b, longer\n');
    await ok(['put', join(w.dir, 'src', 'a.txt'), '/swapped/']);
    await ok(['put', join(w.dir, 'src', 'b.txt'), '/swapped/']);
    const db = new Database(join(w.dir, 'data', 'meta.db'));
    try {
      const rows = db.prepare("SELECT path, size, manifest FROM files WHERE parent = '/swapped' AND name LIKE '%.fe2e'").all() as { path: string; size: number; manifest: string }[];
      expect(rows).toHaveLength(2);
      const set = db.prepare('UPDATE files SET size = ?, manifest = ? WHERE path = ?');
      db.transaction(() => {
        set.run(rows[1]!.size, rows[1]!.manifest, rows[0]!.path);
        set.run(rows[0]!.size, rows[0]!.manifest, rows[1]!.path);
      })();
    } finally {
      db.close();
    }
    const dest = join(w.dir, 'out-swapped');
    await mkdir(dest);
    await ok(['get', '/swapped/a.txt', join(dest, 'a.txt')]);
    expect(await readFile(join(dest, 'a.txt'), 'utf8')).toBe('the contents of b, longer\n');
  });

  it('nor is a roll back to an older version of the same file', async () => {
    await ok(['mkdir', '--e2e', '/rolled']);
    await writeFile(join(w.dir, 'src', 'c.txt'), 'version one\n');
    await ok(['put', join(w.dir, 'src', 'c.txt'), '/rolled/']);
    const db = new Database(join(w.dir, 'data', 'meta.db'));
    try {
      const row = (path: string) => db.prepare('SELECT size, manifest FROM files WHERE path = ?').get(path) as { size: number; manifest: string };
      const stored = (db.prepare("SELECT path FROM files WHERE parent = '/rolled' AND name LIKE '%.fe2e'").get() as { path: string }).path;
      const old = row(stored);
      // The server drops a manifest no file names; a hostile one keeps it (its chunks wait for the collection's grace).
      const manifest = db.prepare('SELECT * FROM manifests WHERE hash = ?').get(old.manifest) as Record<string, unknown>;
      await writeFile(join(w.dir, 'src', 'c.txt'), 'version two, the current one\n');
      await ok(['put', join(w.dir, 'src', 'c.txt'), '/rolled/']);
      expect(row(stored).manifest).not.toBe(old.manifest);
      const cols = Object.keys(manifest);
      db.prepare(`INSERT OR IGNORE INTO manifests (${cols.join(', ')}) VALUES (${cols.map((c) => '@' + c).join(', ')})`).run(manifest);
      db.prepare('UPDATE files SET size = ?, manifest = ? WHERE path = ?').run(old.size, old.manifest, stored);
    } finally {
      db.close();
    }
    expect(await ok(['cat', '/rolled/c.txt'])).toBe('version one\n');
  });
});
