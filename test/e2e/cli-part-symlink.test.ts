/**
 * A download is written to `DEST.ferry-part`, a name known in advance, and an interrupted
 * download's part is reused. Whoever else may write in DEST's folder (a group's shared
 * folder) could put a symbolic link under that name, and `ferry get` followed it: the
 * server's bytes went into the file it pointed at (the user's own `~/.bashrc`, say), which
 * then also took the download's mode (0600 became 0644). Now the part is never opened
 * through a link, a part that is not the user's own regular file with one name is replaced,
 * and times and mode are set on the open file: the file the link named stays as it was, and
 * DEST is the download. For `get`, `get -r`, `get --version` and a vault's file.
 */
import { chmod, link, lstat, mkdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ok, startWorld, type E2EWorld } from '../helpers/e2e.js';

const SECRET = 'the user own file, which no download may touch\n';
let w: E2EWorld;
let n = 0;

/** A file of the user's elsewhere (0600), and a fresh shared folder holding a link to it named `name`. */
async function planted(name: string): Promise<{ victim: string; shared: string }> {
  n += 1;
  const victim = join(w.dir, `victim-${n}.txt`);
  await writeFile(victim, SECRET);
  await chmod(victim, 0o600);
  const shared = join(w.dir, `shared-${n}`);
  await mkdir(join(shared, 'tree'), { recursive: true });
  await symlink(victim, join(shared, name));
  return { victim, shared };
}

async function untouched(victim: string): Promise<void> {
  expect(await readFile(victim, 'utf8')).toBe(SECRET);
  expect((await stat(victim)).mode & 0o777).toBe(0o600);
}

async function api(path: string, init: { method?: string; body?: string } = {}): Promise<Response> {
  return fetch(`${w.server.url}${path}`, { method: init.method ?? 'GET', headers: { authorization: `Bearer ${w.server.adminToken}` }, body: init.body });
}

beforeAll(async () => {
  w = await startWorld({ extraArgs: ['--versions', '{"keep": 5}'] });
  for (const [path, body] of [
    ['/doc.txt', 'version one\n'],
    ['/doc.txt', 'the current download\n'],
    ['/dir/small.txt', 'a small file of a tree\n'],
  ]) {
    expect((await api(`/api/v1/files${path}`, { method: 'PUT', body })).status).toBe(201);
  }
});
afterAll(async () => w?.close());

describe('a symbolic link planted where a download writes its part file', () => {
  it('is not followed by `ferry get` (the part reused)', async () => {
    const { victim, shared } = await planted('doc.txt.ferry-part');
    ok(await w.ferry(['get', '/doc.txt', join(shared, 'doc.txt')]));
    await untouched(victim);
    expect(await readFile(join(shared, 'doc.txt'), 'utf8')).toBe('the current download\n');
    expect((await lstat(join(shared, 'doc.txt'))).isFile()).toBe(true);
  });

  it('is not followed by `ferry get -r` (small files written whole)', async () => {
    const { victim, shared } = await planted('tree/small.txt.ferry-part');
    ok(await w.ferry(['get', '-r', '/dir', join(shared, 'tree')]));
    await untouched(victim);
    expect(await readFile(join(shared, 'tree', 'small.txt'), 'utf8')).toBe('a small file of a tree\n');
  });

  it('is not followed by `ferry get --version`', async () => {
    const { versions } = (await (await api('/api/v1/versions/doc.txt')).json()) as { versions: { id: number }[] };
    const id = versions[versions.length - 1].id;
    const { victim, shared } = await planted(`old.txt.v${id}.ferry-part`);
    ok(await w.ferry(['get', '--version', String(id), '/doc.txt', join(shared, 'old.txt')]));
    await untouched(victim);
    expect(await readFile(join(shared, 'old.txt'), 'utf8')).toBe('version one\n');
  });

  it("is not followed for a vault's file", async () => {
    const pass = join(w.dir, 'pass');
    await writeFile(pass, 'a passphrase for the part test\n');
    ok(await w.ferry(['mkdir', '--e2e', '/vault', '--passphrase-file', pass]));
    const local = join(w.dir, 'plain.txt');
    await writeFile(local, 'decrypted on the way down\n');
    ok(await w.ferry(['put', local, '/vault/', '--passphrase-file', pass]));
    const { victim, shared } = await planted('plain.txt.ferry-part');
    ok(await w.ferry(['get', '/vault/plain.txt', join(shared, 'plain.txt'), '--passphrase-file', pass]));
    await untouched(victim);
    expect(await readFile(join(shared, 'plain.txt'), 'utf8')).toBe('decrypted on the way down\n');
  });

  it('a link at DEST itself, to a file with the same bytes, is replaced, not given the mode', async () => {
    const tool = join(w.dir, 'tool.sh');
    await writeFile(tool, SECRET);
    await chmod(tool, 0o755);
    ok(await w.ferry(['put', tool, '/tools/tool.sh']));
    for (const args of [(dest: string) => ['get', '/tools/tool.sh', join(dest, 'tool.sh')], (dest: string) => ['get', '-r', '/tools', dest]]) {
      const { victim, shared } = await planted('tree/tool.sh');
      ok(await w.ferry(args(join(shared, 'tree'))));
      await untouched(victim);
      const got = await lstat(join(shared, 'tree', 'tool.sh'));
      expect(got.isFile()).toBe(true);
      expect(got.mode & 0o777).toBe(0o755);
    }
  });

  it('a part that is a second name of another file is not reused', async () => {
    n += 1;
    const victim = join(w.dir, `victim-${n}.txt`);
    await writeFile(victim, SECRET);
    await chmod(victim, 0o600);
    const shared = join(w.dir, `shared-${n}`);
    await mkdir(shared);
    await link(victim, join(shared, 'doc.txt.ferry-part'));
    ok(await w.ferry(['get', '/doc.txt', join(shared, 'doc.txt')]));
    await untouched(victim);
    expect(await readFile(join(shared, 'doc.txt'), 'utf8')).toBe('the current download\n');
  });
});
