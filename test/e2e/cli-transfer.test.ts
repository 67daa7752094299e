/**
 * End to end: the real `ferry` CLI against a real `ferry serve`: round trips of the sizes
 * around the chunking parameters and of a 200 MiB file, stdin/stdout, a tree of 300 files
 * with nasty names, listings and the namespace commands.
 */
import { mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Entry } from '../../src/core/protocol.js';
import { NASTY_NAMES, sha256File, writeRandomFile } from '../helpers/files.js';
import { ok, startWorld, type E2EWorld } from '../helpers/e2e.js';

// The tests of a block marked concurrent run at once (each on its own paths); the others one
// after another: they count every user's open upload sessions, or the server's requests.
let w: E2EWorld;
beforeAll(async () => {
  w = await startWorld();
});
afterAll(async () => {
  await w?.close();
});

/** Requests per `METHOD route` answered between two readings, the readings of /metrics left out. */
function requestsBetween(before: Map<string, number>, after: Map<string, number>): Map<string, number> {
  const out = new Map<string, number>();
  for (const [k, n] of after) {
    const d = n - (before.get(k) ?? 0);
    if (d > 0 && k !== 'GET /metrics') out.set(k, d);
  }
  return out;
}

describe.concurrent('put / get round trips', () => {
  it('round-trips the sizes around the chunking parameters', async () => {
    const { minSize, avgSize, maxSize } = w.caps.chunking;
    const sizes = [0, 1, minSize - 1, minSize, avgSize, maxSize, maxSize + 1];
    await mkdir(join(w.dir, 'out')); // a download's folder must exist, as for cp and scp
    for (const size of sizes) {
      const src = join(w.dir, `in-${size}.bin`);
      const dst = join(w.dir, 'out', `out-${size}.bin`);
      await writeRandomFile(src, size);
      ok(await w.ferry(['put', '-q', src, `/sizes/${size}.bin`]));
      const st = JSON.parse(ok(await w.ferry(['stat', '--json', `/sizes/${size}.bin`])).stdout) as Entry;
      expect(st.size).toBe(size);
      ok(await w.ferry(['get', '-q', `/sizes/${size}.bin`, dst]));
      expect(await sha256File(dst), `size ${size}`).toBe(await sha256File(src));
      const [a, b] = [await stat(src), await stat(dst)];
      expect(Math.round(b.mtimeMs)).toBe(Math.round(a.mtimeMs));
      expect(b.mode & 0o777).toBe(a.mode & 0o777);
    }
  });

  it('round-trips a 200 MiB random file, with --json summaries', { timeout: 300_000 }, async () => {
    const size = 200 * 1024 * 1024;
    const src = join(w.dir, 'big.bin');
    const dst = join(w.dir, 'big-back.bin');
    await writeRandomFile(src, size);
    const up = JSON.parse(ok(await w.ferry(['put', '--json', src, '/big/big.bin'])).stdout);
    expect(up).toMatchObject({ ok: true, files: 1, bytes: size });
    const down = JSON.parse(ok(await w.ferry(['get', '--json', '--parallel', '8', '/big/big.bin', dst])).stdout);
    expect(down).toMatchObject({ ok: true, files: 1, bytes: size });
    expect(await sha256File(dst)).toBe(await sha256File(src));
  });

  it('puts into a remote directory and gets into a local one', async () => {
    const src = join(w.dir, 'note.txt');
    await writeFile(src, 'hello\n');
    ok(await w.ferry(['mkdir', '-p', '/inbox']));
    ok(await w.ferry(['put', '-q', src, '/inbox']));
    expect(JSON.parse(ok(await w.ferry(['stat', '--json', '/inbox/note.txt'])).stdout).size).toBe(6);
    const into = join(w.dir, 'into');
    await mkdir(into);
    ok(await w.ferry(['get', '-q', '/inbox/note.txt', into]));
    expect(await readFile(join(into, 'note.txt'), 'utf8')).toBe('hello\n');
  });
});

describe('stdin / stdout', () => {
  it('puts from stdin and gets to stdout', async () => {
    const src = join(w.dir, 'stream.bin');
    await writeRandomFile(src, 9 * 1024 * 1024 + 123);
    ok(await w.ferry(['put', '-', '/streams/s.bin'], { stdinFile: src }));
    const r = ok(await w.ferry(['get', '/streams/s.bin', '-']));
    expect(r.stdoutBytes.equals(await readFile(src))).toBe(true);
    // an empty stdin makes an empty file
    ok(await w.ferry(['put', '-', '/streams/empty'], { input: Buffer.alloc(0) }));
    expect(ok(await w.ferry(['get', '/streams/empty', '-'])).stdoutBytes.length).toBe(0);
  });

  /** The open upload sessions of every user (admin). */
  const sessions = async () => JSON.parse(ok(await w.ferry(['admin', 'uploads', '--json'])).stdout) as unknown[];

  it('put - into a folder fails before reading, and leaves no upload session', async () => {
    ok(await w.ferry(['mkdir', '/pipe-dir']));
    expect(await sessions()).toEqual([]);
    const src = join(w.dir, 'stream-dir.bin');
    await writeRandomFile(src, 3 * 1024 * 1024);
    const r = await w.ferry(['put', '-', '/pipe-dir'], { stdinFile: src });
    expect(r.code).toBe(6);
    expect(r.stderr).toMatch(/\/pipe-dir is a folder: stdin needs a file name, such as \/pipe-dir\/NAME \(FERRY_ERR_IS_A_DIRECTORY\)/);
    expect(await sessions()).toEqual([]);
    expect((await w.ferry(['ls', '/pipe-dir'])).stdout).toBe('');
  });

  it('put - that fails once its session exists (over quota) aborts the session: nothing to resume from a stream', async () => {
    ok(await w.ferry(['user', 'add', 'pipequota', '--quota', '1M']));
    const token = JSON.parse(ok(await w.ferry(['token', 'create', '--user', 'pipequota', '--json'])).stdout) as { token: string };
    const src = join(w.dir, 'stream-quota.bin');
    await writeRandomFile(src, 3 * 1024 * 1024);
    const r = await w.ferry(['put', '-', '/big.bin'], { stdinFile: src, env: { FERRY_TOKEN: token.token } });
    expect(r.code).toBe(8);
    expect(r.stderr).toContain('FERRY_ERR_QUOTA_EXCEEDED');
    expect(await sessions()).toEqual([]);
  });
});

describe('trees', () => {
  it('puts and gets a tree of 300 files with nested folders and nasty names', { timeout: 180_000 }, async () => {
    const src = join(w.dir, 'tree');
    const files: string[] = [];
    for (let i = 0; i < 300; i++) {
      const dir = join(src, NASTY_NAMES[i % 5].trim() || 'x', `lvl ${i % 3}`, i % 4 === 0 ? 'déeper #?' : '');
      await mkdir(dir, { recursive: true });
      const f = join(dir, `${String(i).padStart(3, '0')} ${NASTY_NAMES[i % NASTY_NAMES.length]}`);
      await writeRandomFile(f, (i * 7919) % 50_000);
      files.push(f);
    }
    await mkdir(join(src, 'empty dir', 'nested empty'), { recursive: true });
    const up = JSON.parse(ok(await w.ferry(['put', '-r', '--json', src, '/tree'])).stdout);
    expect(up).toMatchObject({ ok: true, files: 300 });

    const listing = JSON.parse(ok(await w.ferry(['ls', '-R', '--json', '/tree'])).stdout) as Entry[];
    const remoteFiles = listing.filter((e) => e.type === 'file');
    expect(remoteFiles).toHaveLength(300);
    expect(listing.some((e) => e.path === '/tree/empty dir/nested empty' && e.type === 'dir')).toBe(true);
    const sorted = [...listing].sort((a, b) => Buffer.compare(Buffer.from(a.path), Buffer.from(b.path)));
    expect(listing.map((e) => e.path)).toEqual(sorted.map((e) => e.path));

    const dst = join(w.dir, 'tree-back');
    const before = await w.requests();
    const down = JSON.parse(ok(await w.ferry(['get', '-r', '--json', '/tree', dst])).stdout);
    expect(down).toMatchObject({ ok: true, files: 300 });
    // A few requests for 300 small files: their chunks come in batches, not one GET each.
    const during = requestsBetween(before, await w.requests());
    expect(during.get('POST /api/v1/chunks/batch') ?? 0).toBeGreaterThanOrEqual(1);
    expect(during.get('GET /api/v1/files/*') ?? 0).toBe(0);
    expect(during.get('GET /api/v1/chunks/:hash') ?? 0).toBe(0);
    expect([...during.values()].reduce((a, n) => a + n, 0), JSON.stringify([...during])).toBeLessThanOrEqual(20);
    for (const f of files) expect(await sha256File(join(dst, relative(src, f))), f).toBe(await sha256File(f));
    expect(await readdir(join(dst, 'empty dir', 'nested empty'))).toEqual([]);

    // a re-run moves no chunk bodies either way
    const recv = await w.metric('ferry_chunk_bytes_received_total');
    const dedup = await w.metric('ferry_chunks_deduplicated_total');
    ok(await w.ferry(['put', '-r', '-q', src, '/tree']));
    expect(await w.metric('ferry_chunk_bytes_received_total')).toBe(recv);
    expect(await w.metric('ferry_chunks_deduplicated_total')).toBe(dedup);
  });

  it('ls shows names, -l long lines, and a file when given a file', async () => {
    ok(await w.ferry(['mkdir', '-p', '/lsdir/sub']));
    await writeFile(join(w.dir, 'f.txt'), 'abc');
    ok(await w.ferry(['put', '-q', join(w.dir, 'f.txt'), '/lsdir/f.txt']));
    expect(ok(await w.ferry(['ls', '/lsdir'])).stdout).toBe('f.txt\nsub/\n');
    const long = ok(await w.ferry(['ls', '-l', '/lsdir'])).stdout.trim().split('\n');
    expect(long[0]).toMatch(/^-rw.* 3 \d{4}-\d\d-\d\d \d\d:\d\d:\d\d f\.txt$/);
    expect(long[1]).toMatch(/^d.* sub\/$/);
    expect(ok(await w.ferry(['ls', '/lsdir/f.txt'])).stdout).toBe('f.txt\n');
  });
});

describe.concurrent('namespace commands', () => {
  it('mkdir, stat, mv, cp, rm', async () => {
    await writeFile(join(w.dir, 'n.txt'), 'namespace');
    ok(await w.ferry(['mkdir', '-p', '/ns/a/b']));
    expect((await w.ferry(['mkdir', '/ns/a'])).code).toBe(6); // exists
    expect((await w.ferry(['mkdir', '/ns/x/y'])).code).not.toBe(0); // no parent without -p
    ok(await w.ferry(['put', '-q', join(w.dir, 'n.txt'), '/ns/a/b/n.txt']));

    const human = ok(await w.ferry(['stat', '/ns/a/b/n.txt'])).stdout;
    expect(human).toMatch(/^path: +\/ns\/a\/b\/n\.txt$/m);
    expect(human).toMatch(/^size: +9 /m);

    ok(await w.ferry(['mv', '/ns/a/b/n.txt', '/ns/renamed.txt']));
    expect((await w.ferry(['stat', '/ns/a/b/n.txt'])).code).toBe(3);
    ok(await w.ferry(['mv', '/ns/renamed.txt', '/ns/a/'])); // into a directory
    expect(JSON.parse(ok(await w.ferry(['stat', '--json', '/ns/a/renamed.txt'])).stdout).size).toBe(9);

    expect((await w.ferry(['cp', '/ns/a', '/ns/c'])).code).toBe(2); // a directory needs -r
    ok(await w.ferry(['cp', '-r', '/ns/a', '/ns/c']));
    ok(await w.ferry(['cp', '/ns/c/renamed.txt', '/ns/copy.txt']));
    expect(ok(await w.ferry(['get', '/ns/c/renamed.txt', '-'])).stdout).toBe('namespace');
    expect(ok(await w.ferry(['get', '/ns/copy.txt', '-'])).stdout).toBe('namespace');

    const notEmpty = await w.ferry(['rm', '/ns/c']);
    expect(notEmpty.code).toBe(6);
    expect(notEmpty.stderr).toMatch(/-r/);
    ok(await w.ferry(['rm', '-r', '/ns/c']));
    ok(await w.ferry(['rm', '/ns/copy.txt']));
    expect((await w.ferry(['rm', '/ns/copy.txt'])).code).toBe(3);
    ok(await w.ferry(['rm', '-f', '/ns/copy.txt']));
    expect(ok(await w.ferry(['ls', '/ns'])).stdout).toBe('a/\n');
  });

  it('mv and cp of a server file onto itself, however spelled, are refused (exit 2) and the file stays (README, mv/cp)', async () => {
    await writeFile(join(w.dir, 'self.txt'), 'self');
    ok(await w.ferry(['put', '-q', join(w.dir, 'self.txt'), '/self/f.txt']));
    for (const args of [
      ['mv', '/self/f.txt', '/self/f.txt'],
      ['mv', '/self/f.txt', 'ferry:/self//f.txt'],
      ['mv', '/self/f.txt', '/self/'],
      ['cp', '/self/f.txt', '/self/f.txt'],
    ]) {
      const r = await w.ferry(args);
      expect({ args, code: r.code }).toEqual({ args, code: 2 });
      expect(r.stderr).toMatch(/same/);
    }
    expect(ok(await w.ferry(['get', '/self/f.txt', '-'])).stdout).toBe('self');
  });

  it('reports a missing remote file with exit code 3 and one line', async () => {
    const r = await w.ferry(['get', '/no/such/file', join(w.dir, 'x')]);
    expect(r.code).toBe(3);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/FERRY_ERR_NOT_FOUND/);
  });
});
