/**
 * `--no-clobber` never replaces a file: `get` (one file, a tree, an old version, an
 * end-to-end encrypted file, from the server and from another store) and `put -r` into a
 * store other than a Ferry server; `mv` and `cp`, which otherwise replace a file as mv(1) does.
 * A file that would replace another fails (exit 6, FERRY_ERR_ALREADY_EXISTS) and the file there
 * keeps its bytes; in a tree the other files go on.
 */
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ok, startWorld, type E2EWorld } from '../helpers/e2e.js';

let world: E2EWorld;
const ferry = (args: string[], env: Record<string, string> = {}) => world.ferry(args, { cwd: world.dir, env });
const local = (...p: string[]) => join(world.dir, ...p);
const PASS = 'correct horse battery staple, no clobber';

beforeAll(async () => {
  world = await startWorld({ extraArgs: ['--versions', '{"keep": 5}'] });
  await mkdir(local('src', 'sub'), { recursive: true });
  await writeFile(local('src', 'one.txt'), 'server one\n');
  await writeFile(local('src', 'sub', 'two.txt'), 'server two\n');
  ok(await ferry(['put', '-r', local('src'), '/tree']));
  ok(await ferry(['put', local('src', 'one.txt'), '/tree/one.txt']));
}, 60_000);

afterAll(async () => {
  await world?.close();
});

describe('get --no-clobber', () => {
  it('one file: refused before anything travels when DEST exists, written when it does not', async () => {
    await mkdir(local('g1'));
    await writeFile(local('g1', 'one.txt'), 'mine\n');
    const r = await ferry(['get', '--no-clobber', '/tree/one.txt', local('g1', 'one.txt')]);
    expect(r.code).toBe(6);
    expect(r.stderr).toContain('exists (--no-clobber)');
    expect(r.stderr).toContain('FERRY_ERR_ALREADY_EXISTS');
    expect(await readFile(local('g1', 'one.txt'), 'utf8')).toBe('mine\n');
    // Into the directory: the same name there is the same refusal.
    expect((await ferry(['get', '--no-clobber', '/tree/one.txt', local('g1') + '/'])).code).toBe(6);
    expect(await readdir(local('g1'))).toEqual(['one.txt']);
    ok(await ferry(['get', '--no-clobber', '/tree/one.txt', local('g1', 'new.txt')]));
    expect(await readFile(local('g1', 'new.txt'), 'utf8')).toBe('server one\n');
    // Without the flag the file is replaced, as before.
    ok(await ferry(['get', '/tree/one.txt', local('g1', 'one.txt')]));
    expect(await readFile(local('g1', 'one.txt'), 'utf8')).toBe('server one\n');
  });

  it('a tree: a local file in the way fails alone, the rest is downloaded, files already in place pass', async () => {
    ok(await ferry(['get', '-r', '/tree', local('g2')]));
    await writeFile(local('g2', 'one.txt'), 'edited here\n');
    await writeFile(local('g2', 'sub', 'two.txt'), 'x');
    ok(await ferry(['put', local('src', 'one.txt'), '/tree/three.txt']));
    const r = await ferry(['get', '-r', '--no-clobber', '/tree', local('g2')]);
    expect(r.code).toBe(6);
    expect(r.stderr).toContain('one.txt exists (--no-clobber)');
    expect(r.stderr).toContain('two.txt exists (--no-clobber)');
    expect(await readFile(local('g2', 'one.txt'), 'utf8')).toBe('edited here\n');
    expect(await readFile(local('g2', 'sub', 'two.txt'), 'utf8')).toBe('x');
    expect(await readFile(local('g2', 'three.txt'), 'utf8')).toBe('server one\n');
    // Nothing left in the way: files in place are no replacement, and the run succeeds.
    await writeFile(local('g3-ok'), '');
    ok(await ferry(['get', '-r', '/tree', local('g3')]));
    ok(await ferry(['get', '-r', '--no-clobber', '/tree', local('g3')]));
    await ferry(['rm', '/tree/three.txt']);
  });

  it('an old version and an end-to-end encrypted file', async () => {
    await writeFile(local('v.txt'), 'version one\n');
    ok(await ferry(['put', local('v.txt'), '/v.txt']));
    await writeFile(local('v.txt'), 'version two!\n');
    ok(await ferry(['put', local('v.txt'), '/v.txt']));
    const versions = JSON.parse((await ferry(['versions', '--json', '/v.txt'])).stdout) as Array<{ id: number; size: number }>;
    const old = versions.find((v) => v.size === 'version one\n'.length)!;
    await writeFile(local('v-out.txt'), 'keep\n');
    const r = await ferry(['get', '--no-clobber', '--version', String(old.id), '/v.txt', local('v-out.txt')]);
    expect(r.code).toBe(6);
    expect(await readFile(local('v-out.txt'), 'utf8')).toBe('keep\n');
    ok(await ferry(['get', '--no-clobber', '--version', String(old.id), '/v.txt', local('v-old.txt')]));
    expect(await readFile(local('v-old.txt'), 'utf8')).toBe('version one\n');

    const env = { FERRY_E2E_PASSPHRASE: PASS };
    ok(await ferry(['put', '--encrypt', local('src', 'one.txt'), '/enc/one.txt'], env));
    await mkdir(local('e'));
    await writeFile(local('e', 'one.txt'), 'plain mine\n');
    const e = await ferry(['get', '--no-clobber', '/enc/one.txt', local('e', 'one.txt')], env);
    expect(e.code).toBe(6);
    expect(await readFile(local('e', 'one.txt'), 'utf8')).toBe('plain mine\n');
    expect(await readdir(local('e'))).toEqual(['one.txt']);
    ok(await ferry(['get', '--no-clobber', '/enc/one.txt', local('e', 'two.txt')], env));
    expect(await readFile(local('e', 'two.txt'), 'utf8')).toBe('server one\n');
  });
});

describe('mv and cp onto an existing file', () => {
  it('replace it, as mv(1) and cp(1) do; with --no-clobber they fail (exit 6) and both files stay', async () => {
    const cat = async (path: string) => ok(await ferry(['get', path, '-'])).stdout;
    for (const cmd of ['mv', 'cp']) {
      ok(await ferry(['put', local('src', 'one.txt'), `/${cmd}/a.txt`]));
      ok(await ferry(['put', local('src', 'sub', 'two.txt'), `/${cmd}/b.txt`]));
      const refused = await ferry([cmd, '--no-clobber', `/${cmd}/a.txt`, `/${cmd}/b.txt`]);
      expect({ cmd, code: refused.code }).toEqual({ cmd, code: 6 });
      expect(refused.stderr).toContain('FERRY_ERR_ALREADY_EXISTS');
      expect([await cat(`/${cmd}/a.txt`), await cat(`/${cmd}/b.txt`)]).toEqual(['server one\n', 'server two\n']);
      const replaced = ok(await ferry([cmd, `/${cmd}/a.txt`, `/${cmd}/b.txt`]));
      expect(replaced.stderr).toBe('');
      expect(await cat(`/${cmd}/b.txt`)).toBe('server one\n');
      expect((await ferry(['stat', `/${cmd}/a.txt`])).code).toBe(cmd === 'mv' ? 3 : 0);
    }
  });
});

describe('--no-clobber with another store (local:)', () => {
  it('put -r into it and get -r and get from it: a file that differs is refused, new ones are copied', async () => {
    const store = local('store');
    await mkdir(join(store, 't', 'sub'), { recursive: true });
    await writeFile(join(store, 't', 'one.txt'), 'store one, different\n');
    const put = await ferry(['put', '-r', '--no-clobber', local('src'), `local:${join(store, 't')}`]);
    expect(put.code).toBe(6);
    expect(put.stderr).toContain('one.txt exists on the destination (--no-clobber)');
    expect(await readFile(join(store, 't', 'one.txt'), 'utf8')).toBe('store one, different\n');
    expect(await readFile(join(store, 't', 'sub', 'two.txt'), 'utf8')).toBe('server two\n');

    await mkdir(local('from-store'));
    await writeFile(local('from-store', 'one.txt'), 'local one\n');
    const get = await ferry(['get', '-r', '--no-clobber', `local:${join(store, 't')}`, local('from-store')]);
    expect(get.code).toBe(6);
    expect(await readFile(local('from-store', 'one.txt'), 'utf8')).toBe('local one\n');
    expect(await readFile(local('from-store', 'sub', 'two.txt'), 'utf8')).toBe('server two\n');

    const one = await ferry(['get', '--no-clobber', `local:${join(store, 't', 'one.txt')}`, local('from-store', 'one.txt')]);
    expect(one.code).toBe(6);
    expect(await readFile(local('from-store', 'one.txt'), 'utf8')).toBe('local one\n');
    ok(await ferry(['get', `local:${join(store, 't', 'one.txt')}`, local('from-store', 'one.txt')]));
    expect(await readFile(local('from-store', 'one.txt'), 'utf8')).toBe('store one, different\n');
  });
});

describe('put refused by the server leaves no upload session open', () => {
  it('--no-clobber (a small file, a chunked one, a tree), a file in the way, a Unicode twin: no session left to count against maxUploadSessions', async () => {
    const open = async () => JSON.parse(ok(await ferry(['admin', 'uploads', '--json'])).stdout) as Array<{ path: string }>;
    const before = (await open()).length;
    await writeFile(local('big.bin'), Buffer.alloc(3 * 1024 * 1024, 7)); // more than one chunk: not a batch
    ok(await ferry(['put', local('big.bin'), '/refused/big.bin']));
    await writeFile(local('cafe\u0301.txt'), 'nfd');
    ok(await ferry(['put', local('src', 'one.txt'), '/refused/caf\u00e9.txt']));
    const refusals: Array<[string[], number]> = [
      [['put', '--no-clobber', local('src', 'one.txt'), '/tree/one.txt'], 6],
      [['put', '--no-clobber', local('big.bin'), '/refused/big.bin'], 6],
      [['put', '-r', '--no-clobber', local('src'), '/tree'], 0], // the same files: skipped as unchanged
      [['put', local('src', 'one.txt'), '/tree/one.txt/'], 6], // a file where a folder should be
      [['put', local('cafe\u0301.txt'), '/refused/'], 6],
    ];
    for (const [args, code] of refusals) expect((await ferry(args)).code, args.join(' ')).toBe(code);
    await writeFile(local('src', 'sub', 'two.txt'), 'changed here\n');
    expect((await ferry(['put', '-r', '--no-clobber', local('src'), '/tree'])).code).toBe(6);
    // Were 6 sessions, each open for the upload TTL (a day): 100 of them refused every upload.
    expect((await open()).length).toBe(before);
  });
});
