/**
 * One location syntax for every command (issue 12), through the real CLI: a Ferry server
 * (bare paths, ferry:/path, a named remote of type ferry), a local directory, and S3
 * (s3rver, as a named remote and typed in place). Memory is per process, so its commands are
 * checked in-process in src/cli/remote-fs.test.ts.
 *
 * The tests of a block run at once (each its own paths, here, on the server and in S3): a CLI
 * run mostly waits on its child and on the servers, and this file makes some 150 of them.
 */
import { chmod, mkdir, readFile, readdir, writeFile, stat, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ok, startWorld, type E2EWorld } from '../helpers/e2e.js';
import { startS3rver, type S3rverHandle } from '../helpers/s3rver.js';

let world: E2EWorld;
let s3: S3rverHandle;
let s3spec: (path: string) => string;

beforeAll(async () => {
  [world, s3] = await Promise.all([startWorld(), startS3rver(['loc-bucket'])]);
  world.env.FERRY_CONFIG_DIR = join(world.dir, 'conf');
  world.env.AWS_ACCESS_KEY_ID = 'S3RVER';
  world.env.AWS_SECRET_ACCESS_KEY = 'S3RVER';
  world.env.AWS_REGION = 'us-east-1';
  world.env.AWS_ENDPOINT_URL_S3 = s3.endpoint;
  s3spec = (p) => `s3:loc-bucket/${p}`;
  ok(await world.ferry(['remote', 'add', 'pics', 's3', 'bucket=loc-bucket', `endpoint=${s3.endpoint}`, 'forcePathStyle=true']));
  ok(await world.ferry(['remote', 'add', 'other', 'ferry', `server=${world.server.url}`, `token=${world.server.adminToken}`]));
  await writeFile(join(world.dir, 'a.txt'), 'alpha\n');
  await mkdir(join(world.dir, 'tree', 'sub'), { recursive: true });
  await writeFile(join(world.dir, 'tree', 'one.txt'), 'one\n');
  await writeFile(join(world.dir, 'tree', 'sub', 'two.txt'), 'two two\n');
  // A time long past, so that a copy stamped with the time of its download cannot pass for it.
  await utimes(join(world.dir, 'tree', 'sub', 'two.txt'), new Date('2024-03-01T10:00:00Z'), new Date('2024-03-01T10:00:00Z'));
}, 120_000);

afterAll(async () => {
  await Promise.all([world?.close(), s3?.stop()]);
});

const ferry = (args: string[]) => world.ferry(args, { cwd: world.dir });

describe.concurrent('put and get take every location form', () => {
  it('ferry put f ferry:/x uploads to the server path /x, never into a directory named "ferry:"', async () => {
    ok(await ferry(['put', './a.txt', 'ferry:/x/a.txt']));
    const ls = ok(await ferry(['ls', '--json', '/']));
    const names = (JSON.parse(ls.stdout) as Array<{ name: string }>).map((e) => e.name);
    expect(names).toContain('x');
    expect(names).not.toContain('ferry:');
    const got = ok(await ferry(['get', 'ferry:/x/a.txt', '-']));
    expect(got.stdout).toBe('alpha\n');
    await expect(stat(join(world.dir, 'ferry:'))).rejects.toThrow();
  });

  it('a named remote of type ferry is the same server through its own URL and token', async () => {
    ok(await ferry(['put', './a.txt', '/other/a.txt']));
    const r = ok(await ferry(['get', 'other:/other/a.txt', '-']));
    expect(r.stdout).toBe('alpha\n');
    ok(await world.ferry(['ls', 'other:/other'], { cwd: world.dir, env: { FERRY_SERVER: undefined, FERRY_TOKEN: undefined } }));
  });

  it('an unknown NAME: fails with a usage exit code and creates nothing', async () => {
    const r = await ferry(['put', './a.txt', 'nosuch:/x']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown remote type "nosuch".*FERRY_ERR_CONFIG/s);
    const ls = ok(await ferry(['ls', '--json', '/']));
    expect(ls.stdout).not.toContain('nosuch');
    const g = await ferry(['get', '/x/a.txt', 'nosuch:y']);
    expect(g.code).toBe(2);
  });

  it('put and get a file and a tree to and from S3 (a named remote and typed in place)', async () => {
    ok(await ferry(['put', './a.txt', 'pics:docs/a.txt']));
    ok(await ferry(['put', '-r', './tree', s3spec('trees/t')]));
    const one = ok(await ferry(['get', s3spec('docs/a.txt'), '-']));
    expect(one.stdout).toBe('alpha\n');
    ok(await ferry(['get', '-r', 'pics:trees/t', './back']));
    expect(await readFile(join(world.dir, 'back', 'sub', 'two.txt'), 'utf8')).toBe('two two\n');
    // The files keep their times on the way through S3 (in each object's metadata, which
    // an S3 listing does not carry), not the time of the download.
    const original = (await stat(join(world.dir, 'tree', 'sub', 'two.txt'))).mtimeMs;
    expect(Math.abs((await stat(join(world.dir, 'back', 'sub', 'two.txt'))).mtimeMs - original)).toBeLessThan(1000);
    ok(await ferry(['sync', 'pics:trees/t', './synced']));
    expect(Math.abs((await stat(join(world.dir, 'synced', 'sub', 'two.txt'))).mtimeMs - original)).toBeLessThan(1000);
    ok(await ferry(['get', 'pics:docs/a.txt', './got/']));
    expect(await readFile(join(world.dir, 'got', 'a.txt'), 'utf8')).toBe('alpha\n');
  });

  it('put stdin into S3, get a missing S3 key: not found (exit 3)', async () => {
    ok(await world.ferry(['put', '-', 'pics:stdin.bin'], { input: 'from stdin', cwd: world.dir }));
    expect(ok(await ferry(['get', 'pics:stdin.bin', '-'])).stdout).toBe('from stdin');
    const r = await ferry(['get', 'pics:missing.bin', '-']);
    expect(r.code).toBe(3);
  });
});

describe.concurrent('ls, stat, rm, mkdir, mv, cp on any remote', () => {
  it('ls and stat on S3, a local directory and the server', async () => {
    ok(await ferry(['put', '-r', './tree', 'pics:ls/t']));
    const ls = ok(await ferry(['ls', '-R', 'pics:ls/t']));
    expect(ls.stdout.trim().split('\n')).toEqual(['one.txt', 'sub/', 'sub/two.txt']);
    // An S3 listing has no times (they are in each object's metadata): none is shown, not 1970.
    const long = ok(await ferry(['ls', '-l', 'pics:ls/t'])).stdout.trim().split('\n');
    expect(long).toHaveLength(2);
    // Nor a mode: S3 keeps none, and a made-up -rw-r--r-- would pass for one.
    for (const line of long) expect(line).toMatch(/^[-d]\?{9} +\d+ - {19}(one\.txt|sub\/)$/);
    await chmod(join(world.dir, 'tree', 'one.txt'), 0o600);
    expect(ok(await ferry(['ls', '-l', './tree'])).stdout).toMatch(/^-\?{9} +4 \S+ \S+ one\.txt\nd\?{9} +0 \S+ \S+ sub\/\n$/);
    const st = JSON.parse(ok(await ferry(['stat', '--json', 'pics:ls/t/sub/two.txt'])).stdout);
    expect(st).toMatchObject({ type: 'file', size: 8, name: 'two.txt' });
    // A folder's time is one the store does not keep: null, not 0 (1970); a file's is its own.
    expect(JSON.parse(ok(await ferry(['stat', '--json', 'pics:ls/t/sub'])).stdout)).toMatchObject({ type: 'dir', mtime: null });
    expect(st.mtime).toBeGreaterThan(0);
    const lsJson = JSON.parse(ok(await ferry(['ls', '--json', 'pics:ls/t'])).stdout) as Array<{ name: string; mtime: number | null }>;
    expect(lsJson.find((e) => e.name === 'sub')?.mtime).toBeNull();
    const local = ok(await ferry(['ls', './tree']));
    expect(local.stdout.trim().split('\n')).toEqual(['one.txt', 'sub/']);
    expect(ok(await ferry(['ls', 'local:' + join(world.dir, 'tree', 'sub')])).stdout).toBe('two.txt\n');
    const missing = await ferry(['stat', 'pics:ls/none']);
    expect(missing.code).toBe(3);
  });

  it('--json paths off the server are locations to pass back to ferry, not keys of a parent folder', async () => {
    ok(await ferry(['put', '-r', './tree', 'pics:js/t']));
    // Was /sub/two.txt: a bare path, which names a file on the server.
    expect(JSON.parse(ok(await ferry(['stat', '--json', './tree/sub/two.txt'])).stdout).path).toBe('./tree/sub/two.txt');
    expect(JSON.parse(ok(await ferry(['stat', '--json', 'pics:js/t/one.txt'])).stdout).path).toBe('pics:js/t/one.txt');
    const paths = (stdout: string) => (JSON.parse(stdout) as Array<{ path: string }>).map((e) => e.path);
    expect(paths(ok(await ferry(['ls', '-R', '--json', './tree/'])).stdout)).toEqual(['./tree/one.txt', './tree/sub', './tree/sub/two.txt']);
    expect(paths(ok(await ferry(['ls', '-R', '--json', 'pics:js/t'])).stdout)).toEqual(['pics:js/t/one.txt', 'pics:js/t/sub', 'pics:js/t/sub/two.txt']);
    for (const e of JSON.parse(ok(await ferry(['ls', '-R', '--json', './tree'])).stdout) as Array<{ path: string; type: string; size: number }>) {
      expect(JSON.parse(ok(await ferry(['stat', '--json', e.path])).stdout)).toMatchObject({ path: e.path, type: e.type, size: e.size });
    }
    await mkdir(join(world.dir, 'cpj'), { recursive: true });
    const copied = JSON.parse(ok(await ferry(['cp', '--json', './a.txt', './cpj/'])).stdout);
    expect(copied).toMatchObject({ path: './cpj/a.txt', size: 6 });
    expect(JSON.parse(ok(await ferry(['mv', '--json', './cpj/a.txt', './cpj/b.txt'])).stdout).path).toBe('./cpj/b.txt');
    // A folder's time off the server is null, as stat says it, not 0 (1970).
    expect(JSON.parse(ok(await ferry(['cp', '-r', '--json', './tree', './cpj-tree'])).stdout)).toMatchObject({ path: './cpj-tree', type: 'dir', mtime: null });
    const dry = await ferry(['rm', '-r', '-n', './cpj']);
    expect(dry.stderr.trim().split('\n')).toEqual(['(dry run) delete ./cpj/b.txt', '(dry run) rmdir ./cpj']);
  });

  it('cat and size (du) on S3, a local directory and the server', async () => {
    ok(await ferry(['put', '-r', './tree', 'pics:sz']));
    ok(await ferry(['put', '-r', './tree', '/sz']));
    expect(ok(await ferry(['cat', 'pics:sz/one.txt', './tree/sub/two.txt', '/sz/one.txt'])).stdout).toBe('one\ntwo two\none\n');
    for (const where of ['pics:sz', './tree', '/sz', 'ferry:/sz']) {
      expect(JSON.parse(ok(await ferry(['size', '--json', where])).stdout)).toEqual({ files: 2, bytes: 12 });
    }
    expect(ok(await ferry(['du', './tree/one.txt'])).stdout).toBe('1 file, 4 B (4 bytes)\n');
    const dir = await ferry(['cat', 'pics:sz']);
    expect(dir.code).toBe(6);
    expect((await ferry(['cat', '/sz'])).code).toBe(6);
  });

  it('cp and mv within S3, from S3 to the server and to a local file; rm -r on S3', async () => {
    ok(await ferry(['put', './a.txt', 'pics:mv/a.txt']));
    ok(await ferry(['cp', 'pics:mv/a.txt', 'pics:mv/b.txt']));
    ok(await ferry(['mv', 'pics:mv/b.txt', 'ferry:/from-s3/']));
    expect(ok(await ferry(['get', '/from-s3/b.txt', '-'])).stdout).toBe('alpha\n');
    expect((await ferry(['stat', 'pics:mv/b.txt'])).code).toBe(3);
    ok(await ferry(['cp', 'pics:mv/a.txt', './copied.txt']));
    expect(await readFile(join(world.dir, 'copied.txt'), 'utf8')).toBe('alpha\n');
    const dry = ok(await ferry(['rm', '-rn', 'pics:mv']));
    expect(dry.stderr).toContain('(dry run) delete pics:mv/a.txt');
    expect(ok(await ferry(['ls', 'pics:mv'])).stdout).toBe('a.txt\n');
    ok(await ferry(['rm', '-r', 'pics:mv']));
    expect((await ferry(['ls', 'pics:mv'])).code).toBe(3);
  });

  it('mkdir and rm on a local directory; rm refuses a non-empty directory without -r', async () => {
    ok(await ferry(['mkdir', '-p', './made/deep']));
    expect((await stat(join(world.dir, 'made', 'deep'))).isDirectory()).toBe(true);
    await writeFile(join(world.dir, 'made', 'deep', 'f'), 'x');
    const refused = await ferry(['rm', './made']);
    expect(refused.code).toBe(6);
    expect(refused.stderr).toContain('use -r');
    ok(await ferry(['rm', '-r', './made']));
    expect(await readdir(world.dir)).not.toContain('made');
  });

  it('mkdir without -p needs the folder above, locally as on the server (as mkdir(1)); a file above is named as written', async () => {
    for (const where of ['./nop/a/b', '/nop/a/b']) {
      const r = await ferry(['mkdir', where]);
      expect(r.code, where).toBe(3);
      expect(r.stderr, where).toContain('FERRY_ERR_NOT_FOUND');
    }
    expect(await readdir(world.dir)).not.toContain('nop');
    ok(await ferry(['mkdir', './nop', './nop/a', './nop/a/b']));
    expect((await stat(join(world.dir, 'nop', 'a', 'b'))).isDirectory()).toBe(true);
    const underFile = await ferry(['mkdir', '-p', './a.txt/x']);
    expect(underFile.code).toBe(6);
    expect(underFile.stderr).toContain('./a.txt/x: a parent is a file, not a directory');
  });

  it('mkdir -n says what it would make, refuses what a real run refuses, and makes nothing', async () => {
    ok(await ferry(['mkdir', '/mkn']));
    const dry = ok(await ferry(['mkdir', '-pn', '--json', '/mkn/a/b', '/mkn', './mkn/x/y']));
    expect(JSON.parse(dry.stdout)).toEqual({ ok: true, dryRun: true, made: ['/mkn/a/b', './mkn/x/y'], existed: ['/mkn'], implied: [], failed: [] });
    expect(dry.stderr).toBe('(dry run) mkdir /mkn/a/b\n(dry run) mkdir ./mkn/x/y\n');
    expect(ok(await ferry(['ls', '/mkn'])).stdout).toBe('');
    expect(await readdir(world.dir)).not.toContain('mkn');
    // The refusals of a real run, with its exit codes: no parent without -p, a folder there, a file in the way.
    for (const [args, code] of [[['/mkn/a/b'], 3], [['./mkn/a'], 3], [['/mkn'], 6], [['-p', '/a.txt/x'], 6]] as const) {
      ok(await ferry(['put', '-q', './a.txt', '/a.txt']));
      const r = await ferry(['mkdir', '-n', ...args]);
      expect(r.code, args.join(' ')).toBe(code);
      const real = await ferry(['mkdir', ...args]);
      expect(real.code, args.join(' ')).toBe(code);
    }
  });

  it('mkdir --json says what was made, what -p found there and what a store of implied directories needs not make', async () => {
    const made = ok(await ferry(['mkdir', '-p', '--json', '/mkj/a/deep', './mkj/b', 'pics:mkj']));
    expect(JSON.parse(made.stdout)).toEqual({ ok: true, made: ['/mkj/a/deep', './mkj/b'], existed: [], implied: ['pics:mkj'], failed: [] });
    expect(JSON.parse(ok(await ferry(['stat', '--json', '/mkj/a/deep'])).stdout)).toMatchObject({ type: 'dir' });
    expect((await stat(join(world.dir, 'mkj', 'b'))).isDirectory()).toBe(true);
    const again = ok(await ferry(['mkdir', '-p', '--json', '/mkj/a/deep', '/mkj/a/new', './mkj/b']));
    expect(JSON.parse(again.stdout)).toEqual({ ok: true, made: ['/mkj/a/new'], existed: ['/mkj/a/deep', './mkj/b'], implied: [], failed: [] });
  });

  it('mkdir --json without -p on an existing directory: the others are still made (as mkdir(1)), each failure on stdout and stderr, exit 6', async () => {
    ok(await ferry(['mkdir', '-p', '/mkf/there']));
    const r = await ferry(['mkdir', '--json', '/mkf/first', '/mkf/there', '/mkf/after']);
    expect(r.code).toBe(6);
    expect(JSON.parse(r.stdout)).toEqual({
      ok: false,
      error: expect.objectContaining({ code: 'FERRY_ERR_ALREADY_EXISTS' }),
      made: ['/mkf/first', '/mkf/after'],
      existed: [],
      implied: [],
      failed: [{ location: '/mkf/there', error: expect.objectContaining({ code: 'FERRY_ERR_ALREADY_EXISTS' }) }],
    });
    expect(JSON.parse(r.stderr)).toMatchObject({ error: { code: 'FERRY_ERR_ALREADY_EXISTS' } });
    expect(JSON.parse(ok(await ferry(['stat', '--json', '/mkf/after'])).stdout)).toMatchObject({ type: 'dir' });
    // Without --json: each failure on stderr, the others made; failures of two kinds exit 1.
    const text = await ferry(['mkdir', '/mkf/there', './mkf-missing/x', '/mkf/later']);
    expect(text.code).toBe(1);
    expect(text.stderr.split('\n').filter(Boolean).map((l) => /\((FERRY_ERR_\w+)\)$/.exec(l)?.[1])).toEqual(['FERRY_ERR_ALREADY_EXISTS', 'FERRY_ERR_NOT_FOUND']);
    expect(JSON.parse(ok(await ferry(['stat', '--json', '/mkf/later'])).stdout)).toMatchObject({ type: 'dir' });
  });

  it('stat of several locations: each shown, a failed one reported and the others still shown; --json one line each', async () => {
    ok(await ferry(['put', './a.txt', '/stm/one.txt']));
    ok(await ferry(['put', './a.txt', '/stm/two.txt']));
    const text = await ferry(['stat', '/stm/one.txt', '/stm/nope', './a.txt', '/stm/two.txt']);
    expect(text.code).toBe(3);
    expect(text.stdout.split('\n').filter((l) => l.startsWith('path:'))).toEqual(['path:    /stm/one.txt', 'path:    ./a.txt', 'path:    /stm/two.txt']);
    expect(text.stderr).toMatch(/^ferry: .*nope.* \(FERRY_ERR_NOT_FOUND\)\n$/);
    const json = await ferry(['stat', '--json', '/stm/one.txt', '/stm/nope', '/stm/two.txt']);
    expect(json.code).toBe(3);
    const lines = json.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toEqual([
      expect.objectContaining({ path: '/stm/one.txt', type: 'file' }),
      { location: '/stm/nope', error: expect.objectContaining({ code: 'FERRY_ERR_NOT_FOUND' }) },
      expect.objectContaining({ path: '/stm/two.txt', type: 'file' }),
    ]);
    expect(JSON.parse(json.stderr)).toMatchObject({ error: { code: 'FERRY_ERR_NOT_FOUND' } });
    // One location: as before, its entry alone, or its error on stderr only.
    expect(JSON.parse(ok(await ferry(['stat', '--json', '/stm/one.txt'])).stdout)).toMatchObject({ path: '/stm/one.txt' });
    const one = await ferry(['stat', '--json', '/stm/nope']);
    expect([one.code, one.stdout]).toEqual([3, '']);
  });

  it('rm --json: what was removed, with -n what would be, with -f what was missing', async () => {
    ok(await ferry(['put', './a.txt', '/rmj/one.txt']));
    ok(await ferry(['put', '-r', './tree', '/rmj/tree']));
    ok(await ferry(['put', './a.txt', 'pics:rmj/a.txt']));
    ok(await ferry(['mkdir', '-p', './rmj-local/sub']));
    const dry = ok(await ferry(['rm', '-rn', '--json', '/rmj/one.txt', '/rmj/tree', 'pics:rmj', './rmj-local']));
    expect(JSON.parse(dry.stdout)).toEqual({ ok: true, dryRun: true, removed: ['/rmj/one.txt', '/rmj/tree', 'pics:rmj', './rmj-local'], missing: [], failed: [] });
    expect(dry.stderr).toContain('(dry run) delete /rmj/tree/ and everything in it');
    expect(ok(await ferry(['get', '/rmj/one.txt', '-'])).stdout).toBe('alpha\n');
    expect(ok(await ferry(['ls', 'pics:rmj'])).stdout).toBe('a.txt\n');
    const gone = ok(await ferry(['rm', '-rf', '--json', '/rmj/one.txt', '/rmj/nope', '/rmj/tree', 'pics:rmj', './rmj-local', './rmj-nope']));
    expect(JSON.parse(gone.stdout)).toEqual({ ok: true, dryRun: false, removed: ['/rmj/one.txt', '/rmj/tree', 'pics:rmj', './rmj-local'], missing: ['/rmj/nope', './rmj-nope'], failed: [] });
    expect(ok(await ferry(['ls', '--json', '/rmj'])).stdout).toBe('[]\n');
    expect((await ferry(['ls', 'pics:rmj'])).code).toBe(3);
    expect(await readdir(world.dir)).not.toContain('rmj-local');
  });

  it('rm --json that fails: every location\'s outcome on stdout, each error as JSON on stderr, the error\'s exit code', async () => {
    ok(await ferry(['put', './a.txt', '/rmf/one.txt']));
    ok(await ferry(['put', './a.txt', '/rmf/full/two.txt']));
    ok(await ferry(['put', './a.txt', '/rmf/last.txt']));
    // As rm(1): the locations after a failure are still removed; the exit status says it failed.
    const missing = await ferry(['rm', '--json', '/rmf/one.txt', '/rmf/nope', '/rmf/last.txt']);
    expect(missing.code).toBe(3);
    expect(JSON.parse(missing.stdout)).toMatchObject({
      ok: false,
      error: { code: 'FERRY_ERR_NOT_FOUND' },
      dryRun: false,
      removed: ['/rmf/one.txt', '/rmf/last.txt'],
      missing: [],
      failed: [{ location: '/rmf/nope', error: { code: 'FERRY_ERR_NOT_FOUND' } }],
    });
    expect(JSON.parse(missing.stderr)).toMatchObject({ error: { code: 'FERRY_ERR_NOT_FOUND' } });
    expect((await ferry(['stat', '/rmf/one.txt'])).code).toBe(3);
    expect((await ferry(['stat', '/rmf/last.txt'])).code).toBe(3);
    const full = await ferry(['rm', '--json', '/rmf/full']);
    expect(full.code).toBe(6);
    expect(JSON.parse(full.stdout)).toMatchObject({ ok: false, error: { code: 'FERRY_ERR_DIRECTORY_NOT_EMPTY', message: '/rmf/full is a directory that is not empty: use -r' }, removed: [] });
    expect(JSON.parse(full.stderr)).toMatchObject({ error: { code: 'FERRY_ERR_DIRECTORY_NOT_EMPTY' } });
    expect(ok(await ferry(['get', '/rmf/full/two.txt', '-'])).stdout).toBe('alpha\n');
    // Failures of different kinds: each one reported, exit status 1.
    const mixed = await ferry(['rm', '--json', '/rmf/gone', '/rmf/full']);
    expect(mixed.code).toBe(1);
    expect(JSON.parse(mixed.stdout).failed.map((f: { location: string; error: { code: string } }) => [f.location, f.error.code])).toEqual([
      ['/rmf/gone', 'FERRY_ERR_NOT_FOUND'],
      ['/rmf/full', 'FERRY_ERR_DIRECTORY_NOT_EMPTY'],
    ]);
    expect(mixed.stderr.trim().split('\n').map((l) => JSON.parse(l).error.code)).toEqual(['FERRY_ERR_NOT_FOUND', 'FERRY_ERR_DIRECTORY_NOT_EMPTY']);
  });

  it('rm and cat carry on past a location they cannot take, as rm(1) and cat(1): each failure on stderr, nonzero at the end', async () => {
    ok(await ferry(['put', './a.txt', '/carry/one.txt']));
    ok(await ferry(['put', './a.txt', '/carry/two.txt']));
    ok(await ferry(['put', './a.txt', 'pics:carry/three.txt']));
    const cat = await ferry(['cat', '/carry/one.txt', '/carry/nope', 'pics:carry/three.txt', 'pics:carry/nope', '/carry/two.txt']);
    expect(cat.code).toBe(3);
    expect(cat.stdout).toBe('alpha\nalpha\nalpha\n');
    expect(cat.stderr.trim().split('\n')).toHaveLength(2);
    expect(cat.stderr).toContain('/carry/nope: no such file or directory (FERRY_ERR_NOT_FOUND)');
    expect(cat.stderr).toContain('FERRY_ERR_NOT_FOUND');
    const rm = await ferry(['rm', '/carry/one.txt', '/carry/nope', 'pics:carry/three.txt', '/carry/two.txt']);
    expect(rm.code).toBe(3);
    expect(rm.stdout).toBe('');
    expect(rm.stderr).toBe('ferry: /carry/nope: no such file or directory (FERRY_ERR_NOT_FOUND)\n');
    expect(ok(await ferry(['ls', '--json', '/carry'])).stdout).toBe('[]\n');
    expect((await ferry(['ls', 'pics:carry'])).code).toBe(3);
  });

  it('rm NAME/ takes only a directory, as rm(1): a file so named is refused and kept, on the server, S3 and a local path', async () => {
    ok(await ferry(['put', './a.txt', '/slash/f.txt']));
    ok(await ferry(['put', './a.txt', 'pics:slash/f.txt']));
    await mkdir(join(world.dir, 'slash'), { recursive: true });
    await writeFile(join(world.dir, 'slash', 'f.txt'), 'kept\n');
    const refused = await ferry(['rm', '--json', '/slash/f.txt/', 'pics:slash/f.txt/', './slash/f.txt/']);
    expect(refused.code).toBe(6);
    expect(JSON.parse(refused.stdout)).toMatchObject({
      ok: false,
      removed: [],
      failed: [
        { location: '/slash/f.txt', error: { code: 'FERRY_ERR_NOT_A_DIRECTORY', message: '/slash/f.txt/: not a directory' } },
        { location: 'pics:slash/f.txt/', error: { code: 'FERRY_ERR_NOT_A_DIRECTORY' } },
        { location: './slash/f.txt/', error: { code: 'FERRY_ERR_NOT_A_DIRECTORY', message: './slash/f.txt/: not a directory' } },
      ],
    });
    expect((await ferry(['rm', '-n', '/slash/f.txt/'])).code).toBe(6);
    expect(ok(await ferry(['cat', '/slash/f.txt', 'pics:slash/f.txt', './slash/f.txt'])).stdout).toBe('alpha\nalpha\nkept\n');
    // A directory may be written so: an empty one without -r, a full one with it.
    ok(await ferry(['mkdir', '/slash/empty']));
    ok(await ferry(['rm', '/slash/empty/']));
    ok(await ferry(['rm', '-r', '/slash/', 'pics:slash/', './slash/']));
    expect((await ferry(['stat', '/slash'])).code).toBe(3);
    expect((await ferry(['ls', 'pics:slash'])).code).toBe(3);
    expect(await readdir(world.dir)).not.toContain('slash');
  });

  it("rm -r and mv refuse '.' and '..' (as rm and mv do): the folder the command runs in, or above it, is never taken", async () => {
    await mkdir(join(world.dir, 'here', 'deep'), { recursive: true });
    await writeFile(join(world.dir, 'here', 'deep', 'keep.txt'), 'keep');
    for (const spec of ['.', './', '..', '../', './deep/..', 'local:.']) {
      const r = await world.ferry(['rm', '-r', spec], { cwd: join(world.dir, 'here') });
      expect({ spec, code: r.code }).toEqual({ spec, code: 2 });
      expect(r.stderr).toMatch(/refusing to remove '\.' or '\.\.'/);
    }
    for (const spec of ['.', '../']) {
      const r = await world.ferry(['mv', spec, 'ferry:/dots/'], { cwd: join(world.dir, 'here') });
      expect({ spec, code: r.code }).toEqual({ spec, code: 2 });
      expect(r.stderr).toMatch(/refusing to move '\.' or '\.\.'/);
    }
    expect(await readFile(join(world.dir, 'here', 'deep', 'keep.txt'), 'utf8')).toBe('keep');
  });

  it('mv and cp on the server stay by reference; --dry-run changes nothing', async () => {
    ok(await ferry(['put', './a.txt', '/ref/a.txt']));
    const dry = ok(await ferry(['mv', '-n', '/ref/a.txt', '/ref/b.txt']));
    expect(dry.stderr).toContain('(dry run) move /ref/a.txt -> /ref/b.txt');
    expect(ok(await ferry(['ls', '/ref'])).stdout).toBe('a.txt\n');
    ok(await ferry(['cp', 'ferry:/ref/a.txt', 'ferry:/ref/c.txt']));
    expect(ok(await ferry(['ls', '/ref'])).stdout).toBe('a.txt\nc.txt\n');
  });
});

describe.concurrent('put and get take the transfer flags of ferry copy', () => {
  it('put -rn uploads nothing and prints the plan; filters choose the files; get -r --include too', async () => {
    const dry = ok(await ferry(['put', '-rn', './tree', '/flags/t']));
    expect(dry.stderr).toContain('(dry run) copy one.txt');
    // What would be sent, not "put 2 files ... 12 B transferred": nothing was.
    expect(dry.stderr).toMatch(/\n\(dry run\) would put 2 files, 12 B; nothing was transferred\n$/);
    expect((await ferry(['ls', '/flags/t'])).code).toBe(3);
    // One file counts the same way (was "put 0 files"), --json says it was a dry run, and the
    // destination is named as a location.
    const one = ok(await ferry(['put', '-n', '--json', './a.txt', '/flags/']));
    expect(JSON.parse(one.stdout)).toMatchObject({ ok: true, dryRun: true, files: 1, bytes: 6 });
    expect(one.stderr).toBe('(dry run) copy ./a.txt -> ferry:/flags/a.txt\n');
    expect(ok(await ferry(['put', '-n', './a.txt', '/flags/a.txt'])).stderr).toMatch(/would put 1 file, 6 B; nothing was transferred\n$/);
    expect((await ferry(['ls', '/flags'])).code).toBe(3);
    ok(await ferry(['put', '-r', './tree', '/flags/t', '--exclude', 'sub/**']));
    expect(ok(await ferry(['ls', '-R', '/flags/t'])).stdout).toBe('one.txt\n');
    ok(await ferry(['put', '-r', './tree', '/flags/all']));
    ok(await ferry(['get', '-r', '/flags/all', './filtered', '--include', '*two*']));
    expect(await readdir(join(world.dir, 'filtered'))).toEqual(['sub']);
    expect(await readdir(join(world.dir, 'filtered', 'sub'))).toEqual(['two.txt']);
    const getDry = ok(await ferry(['get', '-n', '/flags/all/one.txt', './nothing.txt']));
    expect(getDry.stderr).toBe('(dry run) copy ferry:/flags/all/one.txt -> ./nothing.txt\n(dry run) would get 1 file, 4 B; nothing was transferred\n');
    await expect(stat(join(world.dir, 'nothing.txt'))).rejects.toThrow();
  });
});

describe.concurrent('get to stdout with -P', () => {
  it('draws progress on stderr (the server, S3), the bytes alone on stdout; without -P stderr stays quiet', async () => {
    const data = Buffer.alloc(3 * 1024 * 1024, 'p');
    await writeFile(join(world.dir, 'big.bin'), data);
    ok(await ferry(['put', './big.bin', '/prog/big.bin']));
    ok(await ferry(['cp', './big.bin', 'pics:prog/big.bin']));
    for (const src of ['/prog/big.bin', 'pics:prog/big.bin']) {
      const shown = ok(await ferry(['get', src, '-', '-P']));
      expect(shown.stdout.length, src).toBe(data.length);
      expect(shown.stdout === data.toString(), src).toBe(true);
      expect(shown.stderr, src).toMatch(/100% \| 3(\.0+)? MiB \/ 3(\.0+)? MiB/);
      const quiet = ok(await ferry(['get', src, '-']));
      expect(quiet.stdout.length, src).toBe(data.length);
      expect(quiet.stderr, src).toBe('');
    }
  });
});
