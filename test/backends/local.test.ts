import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import * as fsp from 'node:fs/promises';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LocalBackend, mkdirDurable, TEMP_PREFIX } from '../../src/backends/local/local-backend.js';
import { WRITE_SLICE_BYTES } from '../../src/core/file-writes.js';
import { fromSystemError } from '../../src/core/errors.js';
import { describeLeftoverSweeping } from '../conformance/leftovers.js';
import { countingDirFsyncs } from '../helpers/dir-fsyncs.js';
import { describeStorageBackend } from '../conformance/storage-backend.js';

async function tempRoot(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await fsp.mkdtemp(path.join(tmpdir(), 'ferry-local-'));
  return { dir, cleanup: () => fsp.rm(dir, { recursive: true, force: true }) };
}

describeStorageBackend('local', async () => {
  const { dir, cleanup } = await tempRoot();
  // A root that does not exist yet: the first write creates it.
  return { backend: new LocalBackend({ root: path.join(dir, 'root') }), cleanup };
});

describeStorageBackend('local (followSymlinks)', async () => {
  const { dir, cleanup } = await tempRoot();
  return { backend: new LocalBackend({ root: dir, followSymlinks: true }), cleanup };
});

describeLeftoverSweeping('local', async () => {
  const { dir, cleanup } = await tempRoot();
  return { backend: new LocalBackend({ root: dir }), rootDir: dir, cleanup };
});

// ---- local-only behaviour ------------------------------------------------------------------

const require = createRequire(import.meta.url);
/** The CommonJS face of node:fs/promises: patching it and syncing reaches the backend's ESM import. */
const fspCjs = require('node:fs/promises') as Record<string, unknown>;

/** Replaces one node:fs/promises function for the duration of `fn` (see `module.syncBuiltinESMExports`). */
async function patchFs<T>(name: string, replacement: (...args: never[]) => unknown, fn: () => Promise<T>): Promise<T> {
  const original = fspCjs[name];
  fspCjs[name] = replacement;
  syncBuiltinESMExports();
  try {
    return await fn();
  } finally {
    fspCjs[name] = original;
    syncBuiltinESMExports();
  }
}

/** Runs `fn` with fs/promises' `name` counting its calls (in `counter.calls`, which `fn` may reset). */
function countingFs<T>(name: string, fn: (counter: { calls: number }) => Promise<T>): Promise<T> {
  const real = fspCjs[name] as (...args: unknown[]) => unknown;
  const counter = { calls: 0 };
  const counting = (...args: never[]) => {
    counter.calls++;
    return real(...args);
  };
  return patchFs(name, counting, () => fn(counter));
}

/**
 * Mounts a small tmpfs at `dir` when this process may (root with CAP_SYS_ADMIN); returns an
 * unmount, or undefined. FERRY_TEST_NO_MOUNT=1 takes the no-mount path, to exercise it.
 */
/**
 * Publishes the three objects `staged` in two directories: no `open` by path, and `dirs`
 * `fs.fsync` calls by descriptor, one per directory and one per parent of new directories
 * (files go through their FileHandle).
 */
/** How many descriptors this process holds open. */
async function openFds(): Promise<number> {
  return (await fsp.readdir('/proc/self/fd')).length;
}

async function expectPublishOpensNothing(b: LocalBackend, staged: Awaited<ReturnType<LocalBackend['stage']>>[], dirs = 2): Promise<void> {
  const fsCjs = require('node:fs') as Record<string, unknown>;
  const realFsync = fsCjs.fsync as (...args: unknown[]) => unknown;
  let dirFsyncs = 0;
  fsCjs.fsync = (...args: unknown[]) => {
    dirFsyncs++;
    return realFsync(...args);
  };
  syncBuiltinESMExports();
  try {
    const opens = await countingFs('open', async (counter) => {
      expect(await b.publish(staged)).toEqual([null, null, null]);
      return counter.calls;
    });
    expect(opens).toBe(0);
    expect(dirFsyncs).toBe(dirs);
  } finally {
    fsCjs.fsync = realFsync;
    syncBuiltinESMExports();
  }
}

function mountTmpfs(dir: string, size: string): (() => void) | undefined {
  if (process.env.FERRY_TEST_NO_MOUNT === '1') return undefined;
  const result = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'ignore' });
  if (result.status !== 0) return undefined;
  return () => void spawnSync('umount', ['-l', dir], { stdio: 'ignore' });
}

function systemError(code: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: injected`), { code });
}

async function readWhole(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const pieces: Buffer[] = [];
  for await (const piece of stream as AsyncIterable<Buffer>) pieces.push(piece);
  return Buffer.concat(pieces);
}

/** Every file name below `dir` on disk, temporaries included (the backend's listing hides them). */
async function diskNames(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await fsp.readdir(dir, { recursive: true })) out.push(String(entry));
  return out.sort();
}

describe('LocalBackend on disk', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  beforeEach(async () => {
    ({ dir, cleanup } = await tempRoot());
  });
  afterEach(async () => {
    vi.restoreAllMocks();
    await cleanup();
  });

  it('reads do not create the root; the first write does', async () => {
    const root = path.join(dir, 'later', 'root');
    const b = new LocalBackend({ root });
    expect(b.name).toBe(`local:${root}`);
    await expect(b.stat('x')).rejects.toMatchObject({ code: 'FERRY_ERR_NOT_FOUND' });
    const listed: unknown[] = [];
    for await (const e of b.list('', { recursive: true })) listed.push(e);
    expect(listed).toEqual([]);
    await b.delete('x');
    await expect(fsp.stat(root)).rejects.toMatchObject({ code: 'ENOENT' });
    await b.write('x', Buffer.from('y'));
    expect(await fsp.readFile(path.join(root, 'x'), 'utf8')).toBe('y');
  });

  it('readRange with `blocking` (a CLI reading a tree) reads without the thread pool, and fails as the promise path does', async () => {
    const b = new LocalBackend({ root: dir });
    const data = Buffer.from('0123456789');
    await b.write('f', data);
    // The blocking path makes no FileHandle: fs/promises' open is counted and must stay at 0.
    await countingFs('open', async (opens) => {
      expect((await b.readRange('f', 0, 11, { blocking: true })).equals(data)).toBe(true);
      expect((await b.readRange('f', 3, 4, { blocking: true })).toString()).toBe('3456');
      expect((await b.readRange('f', 10, 5, { blocking: true })).length).toBe(0);
      const into = Buffer.alloc(20, 0xee);
      expect((await b.readRange('f', 2, 3, { blocking: true, into })).toString()).toBe('234');
      expect(opens.calls).toBe(0);
      await expect(b.readRange('f', 11, 1, { blocking: true })).rejects.toMatchObject({ code: 'FERRY_ERR_RANGE_NOT_SATISFIABLE' });
      await expect(b.readRange('missing', 0, 1, { blocking: true })).rejects.toMatchObject({ code: 'FERRY_ERR_NOT_FOUND' });
      await expect(b.readRange('nodir/f', 0, 1, { blocking: true })).rejects.toMatchObject({ code: 'FERRY_ERR_NOT_FOUND' });
      await fsp.mkdir(path.join(dir, 'sub'));
      await expect(b.readRange('sub', 0, 1, { blocking: true })).rejects.toMatchObject({ code: 'FERRY_ERR_NOT_FOUND' });
      // A FIFO swapped in for a file neither blocks the open nor reads as a file.
      expect(spawnSync('mkfifo', [path.join(dir, 'fifo')]).status).toBe(0);
      await expect(b.readRange('fifo', 0, 1, { blocking: true })).rejects.toMatchObject({ code: 'FERRY_ERR_NOT_FOUND' });
      await expect(b.readRange('f', 0, 1, { blocking: true, signal: AbortSignal.abort() })).rejects.toMatchObject({ code: 'FERRY_ERR_ABORTED' });
      expect(opens.calls).toBe(0);
      // Past the blocking limit (1 MiB) the hint is ignored: the promise path reads the same bytes.
      const big = Buffer.alloc((1 << 20) + 1, 7);
      await b.write('big', big);
      opens.calls = 0;
      expect((await b.readRange('big', 0, big.length, { blocking: true })).equals(big)).toBe(true);
      expect(opens.calls).toBe(1);
    });
  });

  it('reads of many files of a directory at once resolve the directory once, and share its absence', async () => {
    const writer = new LocalBackend({ root: dir });
    const names = Array.from({ length: 40 }, (_, i) => `${i % 2 ? 'd' : 'e'}/f${i}`);
    for (const n of names) await writer.write(n, Buffer.from(n));
    // A fresh backend, as a sync's source: nothing resolved yet. Directories not held open
    // (pinDirs: false): held open, they are opened one name at a time instead, not resolved.
    const b = new LocalBackend({ root: dir, pinDirs: false });
    await countingFs('realpath', async (realpaths) => {
      const read = await Promise.all(names.map((n) => b.readRange(n, 0, 100, { blocking: true })));
      expect(read.map((r) => r.toString())).toEqual(names);
      // The root and the two directories, each once at most (80 before: the root and the directory, once per file).
      expect(realpaths.calls).toBeLessThanOrEqual(4);
      realpaths.calls = 0;
      const missing = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => b.readRange(`none/f${i}`, 0, 1)));
      for (const m of missing) expect(m).toMatchObject({ status: 'rejected', reason: { code: 'FERRY_ERR_NOT_FOUND' } });
      expect(realpaths.calls).toBe(1);
      // Not remembered while absent: it is looked up again, and found once it exists.
      await writer.write('none/f0', Buffer.from('now'));
      expect((await b.readRange('none/f0', 0, 3)).toString()).toBe('now');
    });
  });

  it('a root that is itself a symlink works (the operator chose it)', async () => {
    await fsp.mkdir(path.join(dir, 'real-root'));
    await fsp.symlink(path.join(dir, 'real-root'), path.join(dir, 'link-root'));
    const b = new LocalBackend({ root: path.join(dir, 'link-root') });
    await b.write('a/b', Buffer.from('c'));
    expect(await fsp.readFile(path.join(dir, 'real-root', 'a', 'b'), 'utf8')).toBe('c');
    expect((await b.stat('a/b')).size).toBe(1);
  });

  it('writes the mtime to the file on disk and keeps files private to the umask', async () => {
    const b = new LocalBackend({ root: dir });
    await b.write('t', Buffer.from('x'), { mtime: 1_234_567_890_123 });
    const st = await fsp.stat(path.join(dir, 't'));
    expect(Math.round(st.mtimeMs)).toBe(1_234_567_890_123);
    const umask = process.umask();
    expect(st.mode & 0o777).toBe(0o666 & ~umask);
  });

  it('durable writes fsync the file and the directory; durable: false does not', async () => {
    const b = new LocalBackend({ root: dir });
    const probe = await fsp.open(path.join(dir, 'probe'), 'w');
    const proto = Object.getPrototypeOf(probe) as { sync: () => Promise<void> };
    await probe.close();
    const sync = vi.spyOn(proto, 'sync');
    // Directories held open (../../src/core/pinned-dir.ts) are fsynced by descriptor: fs.fsync.
    const fsCjs = require('node:fs') as Record<string, unknown>;
    const realFsync = fsCjs.fsync as (...args: unknown[]) => unknown;
    let fsyncs = 0;
    fsCjs.fsync = (...args: unknown[]) => {
      fsyncs++;
      return realFsync(...args);
    };
    syncBuiltinESMExports();
    const syncs = () => sync.mock.calls.length + fsyncs;
    try {
      await b.write('new/dir/durable', Buffer.from('x'));
      // file + its directory + the new directories' entries
      expect(syncs()).toBeGreaterThanOrEqual(3);
      sync.mockClear();
      fsyncs = 0;
      // A new directory under one already known (one mkdir): its entry is made durable too.
      await b.write('new/other/durable', Buffer.from('x'));
      expect(syncs()).toBeGreaterThanOrEqual(3);
      sync.mockClear();
      fsyncs = 0;
      await b.write('new/dir/fast', Buffer.from('x'), { durable: false });
      await b.write('new/third/fast', Buffer.from('x'), { durable: false });
      expect(syncs()).toBe(0);
    } finally {
      fsCjs.fsync = realFsync;
      syncBuiltinESMExports();
    }
    expect(await fsp.readFile(path.join(dir, 'new', 'third', 'fast'), 'utf8')).toBe('x');
  });

  /** A pinning backend with aa/ and bb/ already there, three objects staged in them, and the count of open descriptors before. */
  async function stagedBesideSeeds() {
    const b = new LocalBackend({ root: dir });
    await b.write('aa/seed', Buffer.from('s'));
    await b.write('bb/seed', Buffer.from('s'));
    const before = await openFds();
    const staged = [await b.stage('aa/one', Buffer.from('1')), await b.stage('aa/two', Buffer.from('2')), await b.stage('bb/three', Buffer.from('3'))];
    return { b, before, staged };
  }

  it('publish fsyncs each directory once, through the directory held open since the write (no open by path), then lets go of it', async () => {
    const { b, before, staged } = await stagedBesideSeeds();
    await expectPublishOpensNothing(b, staged);
    expect(await openFds()).toBe(before);
    expect(await fsp.readFile(path.join(dir, 'aa', 'two'), 'utf8')).toBe('2');
    expect(await fsp.readFile(path.join(dir, 'bb', 'three'), 'utf8')).toBe('3');
    // A durable write opens only its temporary file; its directory is fsynced through the pin too.
    const writeOpens = await countingFs('open', async (counter) => {
      await b.write('aa/four', Buffer.from('4'));
      return counter.calls;
    });
    expect(writeOpens).toBe(1);
    expect(await openFds()).toBe(before);
  });

  it('without pinned directories (the server\'s store), publish fsyncs each directory once, opened without the thread pool', async () => {
    const b = new LocalBackend({ root: dir, pinDirs: false });
    const staged = [await b.stage('aa/one', Buffer.from('1')), await b.stage('aa/two', Buffer.from('2')), await b.stage('bb/three', Buffer.from('3'))];
    // aa and bb, and the root once for their entries (the stages made them).
    await expectPublishOpensNothing(b, staged, 3);
    expect(await fsp.readFile(path.join(dir, 'aa', 'one'), 'utf8')).toBe('1');
    // A directory removed before the publication fails the objects staged in it, as before.
    const lost = await b.stage('cc/four', Buffer.from('4'));
    await fsp.rm(path.join(dir, 'cc'), { recursive: true });
    const [err] = await b.publish([lost]);
    expect(err).toBeInstanceOf(Error);
  });

  it('publish with directoriesLater renames without the thread pool, fsyncs no directory and lets go of the pins; syncDirectories then fsyncs each directory once', async () => {
    const { b, before, staged } = await stagedBesideSeeds();
    await countingDirFsyncs(async (fsyncs) => {
      const renames = await countingFs('rename', async (counter) => {
        expect(await b.publish(staged, { directoriesLater: true })).toEqual([null, null, null]);
        return counter.calls;
      });
      expect([renames, fsyncs.calls]).toEqual([0, 0]);
      expect(await openFds()).toBe(before);
      expect(await fsp.readFile(path.join(dir, 'bb', 'three'), 'utf8')).toBe('3');
      expect(await b.syncDirectories(staged)).toEqual([null, null, null]);
      expect(fsyncs.calls).toBe(2);
    });
    expect(await openFds()).toBe(before);
    // A directory gone before its fsync fails its objects.
    const lost = await b.stage('cc/four', Buffer.from('4'));
    expect(await b.publish([lost], { directoriesLater: true })).toEqual([null]);
    await fsp.rm(path.join(dir, 'cc'), { recursive: true });
    expect((await b.syncDirectories([lost]))[0]).toBeInstanceOf(Error);
  });

  for (const pinDirs of [true, false]) {
    it(`a directory a stage made has its entry fsynced once, by the first group that publishes into it (pinDirs: ${pinDirs})`, async () => {
      const b = new LocalBackend({ root: dir, pinDirs });
      await b.write('chunks/seed', Buffer.from('s'));
      await b.write('chunks/cd/seed', Buffer.from('s'));
      const stage = (key: string) => b.stage(key, Buffer.from(key));
      await countingDirFsyncs(async (fsyncs) => {
        // Two objects in a new fan-out directory: the directory, and `chunks/` for its entry.
        expect(await b.publish([await stage('chunks/ab/one'), await stage('chunks/ab/two')])).toEqual([null, null]);
        expect(fsyncs.calls).toBe(2);
        fsyncs.calls = 0;
        // Into the same directory again: its entry is durable already.
        expect(await b.publish([await stage('chunks/ab/three')])).toEqual([null]);
        expect(fsyncs.calls).toBe(1);
        fsyncs.calls = 0;
        // A directory that was there (made by a durable write): nothing more.
        expect(await b.publish([await stage('chunks/cd/one')])).toEqual([null]);
        expect(fsyncs.calls).toBe(1);
        fsyncs.calls = 0;
        // Two new directories in one group: `chunks/` once for both.
        expect(await b.publish([await stage('chunks/ef/one'), await stage('chunks/gh/one')])).toEqual([null, null]);
        expect(fsyncs.calls).toBe(3);
        fsyncs.calls = 0;
        // With directoriesLater, the entry goes with the directories, in syncDirectories.
        const later = [await stage('chunks/ij/one')];
        expect(await b.publish(later, { directoriesLater: true })).toEqual([null]);
        expect(fsyncs.calls).toBe(0);
        expect(await b.syncDirectories(later)).toEqual([null]);
        expect(fsyncs.calls).toBe(2);
        fsyncs.calls = 0;
        const again = [await stage('chunks/ij/two')];
        expect(await b.publish(again, { directoriesLater: true })).toEqual([null]);
        expect(await b.syncDirectories(again)).toEqual([null]);
        expect(fsyncs.calls).toBe(1);
      });
      expect(await fsp.readFile(path.join(dir, 'chunks', 'ij', 'two'), 'utf8')).toBe('chunks/ij/two');
    });
  }

  it('directories a stage made, nested: each entry fsynced once, by the group or by a durable write that goes below them first', async () => {
    const b = new LocalBackend({ root: dir });
    const first = await b.stage('chunks/ab/one', Buffer.from('1'));
    expect(await b.publish([first], { directoriesLater: true })).toEqual([null]);
    await countingDirFsyncs(async (fsyncs) => {
      // The write's own directory, `chunks/` for `ab`, the root for `chunks`.
      await b.write('chunks/ab/two', Buffer.from('2'));
      expect(fsyncs.calls).toBe(3);
      fsyncs.calls = 0;
      await b.write('chunks/ab/three', Buffer.from('3'));
      expect(fsyncs.calls).toBe(1);
      fsyncs.calls = 0;
      expect(await b.syncDirectories([first])).toEqual([null]);
      expect(fsyncs.calls).toBe(1);
      fsyncs.calls = 0;
      // Both new, in one group: `cd`, `cd/ef`, and the entries of `cd` (in `chunks/`) and `ef` (in `cd`): `cd` once.
      expect(await b.publish([await b.stage('chunks/cd/ef/one', Buffer.from('1')), await b.stage('chunks/cd/two', Buffer.from('2'))])).toEqual([null, null]);
      expect(fsyncs.calls).toBe(3);
    });
  });

  it('a failed fsync of a new directory\'s parent fails the objects below it, and the entry stays due for the next group', async () => {
    const b = new LocalBackend({ root: dir, pinDirs: false });
    await b.write('chunks/seed', Buffer.from('s'));
    const staged = await b.stage('chunks/ab/one', Buffer.from('1'));
    const parent = path.join(await fsp.realpath(dir), 'chunks');
    const fsCjs = require('node:fs') as Record<string, unknown>;
    const realOpenSync = fsCjs.openSync as (...args: unknown[]) => unknown;
    fsCjs.openSync = (...args: unknown[]) => {
      if (args[0] === parent) throw systemError('EIO');
      return realOpenSync(...args);
    };
    syncBuiltinESMExports();
    let results: (Error | null)[];
    try {
      results = await b.publish([staged]);
    } finally {
      fsCjs.openSync = realOpenSync;
      syncBuiltinESMExports();
    }
    expect(results[0]).toBeInstanceOf(Error);
    expect(results[0]?.message).toContain('chunks/ab/one');
    await countingDirFsyncs(async (fsyncs) => {
      expect(await b.publish([await b.stage('chunks/ab/two', Buffer.from('2'))])).toEqual([null]);
      expect(fsyncs.calls).toBe(2);
      fsyncs.calls = 0;
      expect(await b.publish([await b.stage('chunks/ab/three', Buffer.from('3'))])).toEqual([null]);
      expect(fsyncs.calls).toBe(1);
    });
  });

  it('mkdirDurable fsyncs the parent of each directory it makes, and nothing when there is nothing to make', async () => {
    const target = path.join(dir, 'a', 'b', 'c');
    await countingDirFsyncs(async (fsyncs) => {
      expect(await mkdirDurable(target, 0o700)).toBe(path.join(dir, 'a'));
      // dir for a, a for b, b for c.
      expect(fsyncs.calls).toBe(3);
      fsyncs.calls = 0;
      expect(await mkdirDurable(target)).toBeUndefined();
      expect(fsyncs.calls).toBe(0);
    });
    expect((await fsp.stat(target)).mode & 0o777).toBe(0o700 & ~process.umask());
  });

  it('a root the backend makes has its entry, and those of the directories made for it, fsynced, whatever the write', async () => {
    const b = new LocalBackend({ root: path.join(dir, 'x', 'root') });
    await countingDirFsyncs(async (fsyncs) => {
      await b.write('f', Buffer.from('f'), { durable: false });
      // dir for x, x for root.
      expect(fsyncs.calls).toBe(2);
    });
  });

  it('writes a chunk object (a header, then its bytes in one buffer) in writes of at most WRITE_SLICE_BYTES, the header with the first', async () => {
    const b = new LocalBackend({ root: dir });
    const probe = await fsp.open(path.join(dir, 'probe'), 'w');
    const proto = Object.getPrototypeOf(probe) as Record<'write' | 'writev', (...args: unknown[]) => Promise<{ bytesWritten: number }>>;
    await probe.close();
    const lengths: number[] = [];
    for (const name of ['write', 'writev'] as const) {
      const real = proto[name];
      vi.spyOn(proto, name).mockImplementation(async function (this: unknown, ...args: unknown[]) {
        const r = await real.apply(this, args);
        lengths.push(r.bytesWritten);
        return r;
      });
    }
    const header = randomBytes(16);
    const bytes = randomBytes(2 * WRITE_SLICE_BYTES + 300 * 1024);
    await b.write('ab/chunk', Readable.from([header, bytes]), { size: header.length + bytes.length });
    expect(lengths).toEqual([WRITE_SLICE_BYTES, WRITE_SLICE_BYTES, header.length + bytes.length - 2 * WRITE_SLICE_BYTES]);
    expect((await fsp.readFile(path.join(dir, 'ab', 'chunk'))).equals(Buffer.concat([header, bytes]))).toBe(true);
    // A body given whole, and one of socket-sized pieces (staged, then written 256 KiB at a time).
    lengths.length = 0;
    await b.write('ab/whole', bytes);
    expect(lengths).toEqual([WRITE_SLICE_BYTES, WRITE_SLICE_BYTES, 300 * 1024]);
    lengths.length = 0;
    const pieces = Array.from({ length: 20 }, (_, i) => bytes.subarray(i * 64 * 1024, (i + 1) * 64 * 1024));
    await b.write('ab/pieces', Readable.from(pieces));
    expect(lengths).toEqual([256 * 1024, 256 * 1024, 256 * 1024, 256 * 1024, 256 * 1024]);
    expect((await fsp.readFile(path.join(dir, 'ab', 'pieces'))).equals(bytes.subarray(0, 20 * 64 * 1024))).toBe(true);
  });

  it('failed writes leave no temporary file on disk', async () => {
    const b = new LocalBackend({ root: dir });
    await b.write('sub/keep', Buffer.from('old'));
    await expect(b.write('sub/a', Readable.from([Buffer.alloc(10)]), { size: 20 })).rejects.toMatchObject({
      code: 'FERRY_ERR_SIZE_MISMATCH',
    });
    const ac = new AbortController();
    const writing = b.write(
      'sub/b',
      (async function* () {
        yield Buffer.alloc(1000);
        ac.abort();
        await new Promise(() => {});
      })(),
      { signal: ac.signal },
    );
    await expect(writing).rejects.toMatchObject({ code: 'FERRY_ERR_ABORTED' });
    await expect(
      b.write(
        'sub/keep',
        (async function* () {
          yield Buffer.alloc(1000);
          throw new Error('broken body');
        })(),
      ),
    ).rejects.toThrow();
    expect(await diskNames(dir)).toEqual(['sub', 'sub/keep']);
    expect(await fsp.readFile(path.join(dir, 'sub', 'keep'), 'utf8')).toBe('old');
  });

  it(`names starting with ${TEMP_PREFIX} are reserved: refused as keys, never listed`, async () => {
    const b = new LocalBackend({ root: dir });
    await fsp.writeFile(path.join(dir, `${TEMP_PREFIX}stale`), 'left by a crash');
    await fsp.mkdir(path.join(dir, 'd'));
    await fsp.writeFile(path.join(dir, 'd', `${TEMP_PREFIX}x`), 'x');
    for (const key of [`${TEMP_PREFIX}stale`, `d/${TEMP_PREFIX}x`, `${TEMP_PREFIX}dir/file`]) {
      await expect(b.write(key, Buffer.from('x'))).rejects.toMatchObject({ code: 'FERRY_ERR_PATH_INVALID' });
      await expect(b.stat(key)).rejects.toMatchObject({ code: 'FERRY_ERR_PATH_INVALID' });
    }
    const keys: string[] = [];
    for await (const e of b.list('', { recursive: true })) keys.push(`${e.type}:${e.key}`);
    expect(keys).toEqual(['dir:d']);
    // A temporary file (of a write in progress, or stale) keeps its directory from being removed.
    await expect(b.rmdir('d')).rejects.toMatchObject({ code: 'FERRY_ERR_DIRECTORY_NOT_EMPTY' });
  });

  it('skips names that are not valid keys (invalid UTF-8, control characters) and special files', async () => {
    const b = new LocalBackend({ root: dir });
    await fsp.writeFile(Buffer.concat([Buffer.from(dir + '/'), Buffer.from([0x66, 0xff, 0x66])]), 'latin-1 name');
    await fsp.writeFile(path.join(dir, 'new\nline'), 'x');
    await fsp.writeFile(path.join(dir, 'fine'), 'x');
    expect(spawnSync('mkfifo', [path.join(dir, 'fifo')]).status).toBe(0);
    const keys: string[] = [];
    for await (const e of b.list('', { recursive: true })) keys.push(e.key);
    expect(keys).toEqual(['fine']);
    // A FIFO is not an object, and looking at it must not block.
    await expect(b.stat('fifo')).rejects.toMatchObject({ code: 'FERRY_ERR_NOT_FOUND' });
    await expect(b.read('fifo')).rejects.toMatchObject({ code: 'FERRY_ERR_NOT_FOUND' });
  });

  describe('symbolic links (not followed: the default)', () => {
    let outside: string;
    let b: LocalBackend;
    beforeEach(async () => {
      outside = path.join(dir, 'outside');
      await fsp.mkdir(outside);
      await fsp.writeFile(path.join(outside, 'secret'), 'secret');
      await fsp.mkdir(path.join(dir, 'root', 'real'), { recursive: true });
      await fsp.writeFile(path.join(dir, 'root', 'real', 'f'), 'inside');
      await fsp.symlink(outside, path.join(dir, 'root', 'out-dir'));
      await fsp.symlink(path.join(outside, 'secret'), path.join(dir, 'root', 'out-file'));
      await fsp.symlink('real', path.join(dir, 'root', 'alias'));
      await fsp.symlink('real/f', path.join(dir, 'root', 'alias-file'));
      b = new LocalBackend({ root: path.join(dir, 'root') });
    });

    it('links are invisible: not listed, not found', async () => {
      const keys: string[] = [];
      for await (const e of b.list('', { recursive: true })) keys.push(`${e.type}:${e.key}`);
      expect(keys.sort()).toEqual(['dir:real', 'file:real/f']);
      for (const key of ['out-dir/secret', 'out-file', 'alias/f', 'alias-file']) {
        await expect(b.stat(key), key).rejects.toMatchObject({ code: 'FERRY_ERR_NOT_FOUND' });
        await expect(b.read(key), key).rejects.toMatchObject({ code: 'FERRY_ERR_NOT_FOUND' });
        await expect(b.readRange(key, 0, 1), key).rejects.toMatchObject({ code: 'FERRY_ERR_NOT_FOUND' });
        await expect(b.readRange(key, 0, 1, { blocking: true }), key).rejects.toMatchObject({ code: 'FERRY_ERR_NOT_FOUND' });
        await expect(b.hash(key, 'sha256'), key).rejects.toMatchObject({ code: 'FERRY_ERR_NOT_FOUND' });
        await expect(b.setMtime(key, 0), key).rejects.toMatchObject({ code: 'FERRY_ERR_NOT_FOUND' });
        await expect(b.copy(key, 'copied'), key).rejects.toMatchObject({ code: 'FERRY_ERR_NOT_FOUND' });
        await expect(b.move(key, 'moved'), key).rejects.toMatchObject({ code: 'FERRY_ERR_NOT_FOUND' });
      }
      for (const prefix of ['out-dir', 'alias']) {
        for await (const e of b.list(prefix, { recursive: true })) expect.fail(`listed ${e.key} through a link`);
      }
    });

    it('nothing is written, created or removed through a linked directory', async () => {
      await b.write('real/src', Buffer.from('x'));
      for (const key of ['out-dir/new', 'out-dir/deeper/new', 'alias/new']) {
        await expect(b.write(key, Buffer.from('x')), key).rejects.toMatchObject({ code: 'FERRY_ERR_PATH_INVALID' });
        await expect(b.copy('real/src', key), key).rejects.toMatchObject({ code: 'FERRY_ERR_PATH_INVALID' });
        await expect(b.move('real/src', key), key).rejects.toMatchObject({ code: 'FERRY_ERR_PATH_INVALID' });
        await expect(b.mkdir(key), key).rejects.toMatchObject({ code: 'FERRY_ERR_PATH_INVALID' });
      }
      await b.delete('out-dir/secret');
      await b.delete('out-file');
      await b.rmdir('out-dir');
      expect(await diskNames(outside)).toEqual(['secret']);
      expect(await fsp.readFile(path.join(outside, 'secret'), 'utf8')).toBe('secret');
      expect((await fsp.lstat(path.join(dir, 'root', 'out-dir'))).isSymbolicLink()).toBe(true);
      expect(await diskNames(path.join(dir, 'root', 'real'))).toEqual(['f', 'src']);
    });

    it('a new directory under a known one is made directly; a link or a file in its place is still refused', async () => {
      await b.write('real/a/x', Buffer.from('x')); // `real` is now known
      await b.write('real/b/x', Buffer.from('y')); // made by one mkdir under it
      expect(await fsp.readFile(path.join(dir, 'root', 'real', 'b', 'x'), 'utf8')).toBe('y');
      await fsp.symlink(outside, path.join(dir, 'root', 'real', 'ln'));
      await expect(b.write('real/ln/y', Buffer.from('x'))).rejects.toMatchObject({ code: 'FERRY_ERR_PATH_INVALID' });
      await expect(b.write('real/f/y', Buffer.from('x'))).rejects.toMatchObject({ code: 'FERRY_ERR_NOT_A_DIRECTORY' });
      expect(await diskNames(outside)).toEqual(['secret']);
      // A known directory removed behind Ferry's back: looked up again, then made.
      await fsp.rm(path.join(dir, 'root', 'real', 'b'), { recursive: true });
      await b.write('real/b/z', Buffer.from('z'));
      expect(await fsp.readFile(path.join(dir, 'root', 'real', 'b', 'z'), 'utf8')).toBe('z');
    });

    it('writing over a link replaces the link, never the file it points to', async () => {
      await b.write('out-file', Buffer.from('replaced'));
      expect(await fsp.readFile(path.join(outside, 'secret'), 'utf8')).toBe('secret');
      expect((await fsp.lstat(path.join(dir, 'root', 'out-file'))).isFile()).toBe(true);
      expect(await fsp.readFile(path.join(dir, 'root', 'out-file'), 'utf8')).toBe('replaced');
      expect((await b.stat('out-file')).size).toBe(8);
    });
  });

  describe('symbolic links (followSymlinks)', () => {
    let outside: string;
    let root: string;
    let b: LocalBackend;
    beforeEach(async () => {
      outside = path.join(dir, 'outside');
      root = path.join(dir, 'root');
      await fsp.mkdir(outside);
      await fsp.writeFile(path.join(outside, 'secret'), 'secret');
      await fsp.mkdir(path.join(root, 'real'), { recursive: true });
      await fsp.writeFile(path.join(root, 'real', 'f'), 'inside');
      await fsp.symlink(outside, path.join(root, 'out-dir'));
      await fsp.symlink(path.join(outside, 'secret'), path.join(root, 'out-file'));
      await fsp.symlink('real', path.join(root, 'alias'));
      await fsp.symlink('real/f', path.join(root, 'alias-file'));
      await fsp.symlink('nowhere', path.join(root, 'dangling'));
      await fsp.symlink('..', path.join(root, 'real', 'loop')); // a cycle back to the root
      b = new LocalBackend({ root, followSymlinks: true });
    });

    it('links inside the root are followed; links leading out stay invisible; cycles end', async () => {
      const keys: string[] = [];
      for await (const e of b.list('', { recursive: true })) keys.push(`${e.type}:${e.key}`);
      expect(keys.sort()).toEqual(['dir:alias', 'dir:real', 'file:alias-file', 'file:alias/f', 'file:real/f']);
      expect((await b.stat('alias-file')).size).toBe(6);
      expect((await b.readRange('alias/f', 0, 6)).toString()).toBe('inside');
      for (const key of ['out-dir/secret', 'out-file', 'dangling']) {
        await expect(b.read(key), key).rejects.toMatchObject({ code: 'FERRY_ERR_NOT_FOUND' });
      }
    });

    it('writes go through inside links, never through links leading out', async () => {
      await b.write('alias/new', Buffer.from('via alias'));
      expect(await fsp.readFile(path.join(root, 'real', 'new'), 'utf8')).toBe('via alias');
      await expect(b.write('out-dir/new', Buffer.from('x'))).rejects.toMatchObject({ code: 'FERRY_ERR_PATH_INVALID' });
      await expect(b.write('out-dir/a/b', Buffer.from('x'))).rejects.toMatchObject({ code: 'FERRY_ERR_PATH_INVALID' });
      await b.delete('out-dir/secret');
      expect(await diskNames(outside)).toEqual(['secret']);
    });

    it('deleting or moving a linked file affects the link, not its target', async () => {
      await b.move('alias-file', 'moved');
      expect(await fsp.readFile(path.join(root, 'moved'), 'utf8')).toBe('inside');
      expect((await fsp.lstat(path.join(root, 'moved'))).isFile()).toBe(true);
      await expect(fsp.lstat(path.join(root, 'alias-file'))).rejects.toMatchObject({ code: 'ENOENT' });
      expect(await fsp.readFile(path.join(root, 'real', 'f'), 'utf8')).toBe('inside');
      await fsp.symlink('real/f', path.join(root, 'again'));
      await b.delete('again');
      expect(await fsp.readFile(path.join(root, 'real', 'f'), 'utf8')).toBe('inside');
    });
  });

  it('ENOSPC becomes FERRY_ERR_NO_SPACE and leaves no temporary file (a 1 MiB tmpfs, or an injected ENOSPC)', async () => {
    const small = path.join(dir, 'small');
    await fsp.mkdir(small);
    const unmount = mountTmpfs(small, '1m');
    try {
      const b = new LocalBackend({ root: small });
      await b.write('kept', Buffer.from('old'));
      const big = Buffer.alloc(2 * 1024 * 1024, 7);
      const attempt = () => b.write('kept', Readable.from([big.subarray(0, 1 << 20), big.subarray(1 << 20)]));
      if (unmount) {
        await expect(attempt()).rejects.toMatchObject({ code: 'FERRY_ERR_NO_SPACE' });
      } else {
        // No mount allowed here: fail the second write(2) the way a full disk does.
        const probe = await fsp.open(path.join(dir, 'probe'), 'w');
        const proto = Object.getPrototypeOf(probe) as Record<'write' | 'writev', (...args: unknown[]) => Promise<unknown>>;
        await probe.close();
        let calls = 0;
        for (const name of ['write', 'writev'] as const) {
          const real = proto[name];
          vi.spyOn(proto, name).mockImplementation(function (this: unknown, ...args: unknown[]) {
            if (++calls === 2) return Promise.reject(systemError('ENOSPC'));
            return real.apply(this, args);
          });
        }
        await expect(attempt()).rejects.toMatchObject({ code: 'FERRY_ERR_NO_SPACE' });
      }
      expect(await diskNames(small)).toEqual(['kept']);
      expect(await fsp.readFile(path.join(small, 'kept'), 'utf8')).toBe('old');
    } finally {
      unmount?.();
    }
  });

  it('a rename across file systems (EXDEV) falls back to copy and delete (a tmpfs inside the root, or an injected EXDEV)', async () => {
    const b = new LocalBackend({ root: dir });
    await fsp.mkdir(path.join(dir, 'mnt'));
    const unmount = mountTmpfs(path.join(dir, 'mnt'), '4m');
    try {
      await b.write('src', Buffer.from('crossing'), { mtime: 1_600_000_000_000 });
      const move = () => b.move('src', 'mnt/dst');
      // Without a mount: only the move's own rename fails; the copy fallback's rename must work.
      const original = fspCjs.rename as (...args: never[]) => Promise<void>;
      let first = true;
      const exdevOnce = async (...args: never[]): Promise<void> => {
        if (!first) return original(...args);
        first = false;
        throw systemError('EXDEV');
      };
      const info = unmount ? await move() : await patchFs('rename', exdevOnce, move);
      expect(info).toMatchObject({ key: 'mnt/dst', size: 8, mtime: 1_600_000_000_000 });
      expect(await fsp.readFile(path.join(dir, 'mnt', 'dst'), 'utf8')).toBe('crossing');
      await expect(b.stat('src')).rejects.toMatchObject({ code: 'FERRY_ERR_NOT_FOUND' });
    } finally {
      unmount?.();
    }
  });

  it('a file written to while it is read fails the read (retryable), never yields a mix of old and new bytes as whole', async () => {
    const b = new LocalBackend({ root: dir });
    const file = path.join(dir, 'live.bin');
    await fsp.writeFile(file, Buffer.alloc(1024 * 1024, 1));
    const stream = await b.read('live.bin', {});
    const pieces: Buffer[] = [];
    const reading = (async () => {
      for await (const piece of stream as AsyncIterable<Buffer>) {
        if (pieces.length === 0) {
          // Edited in place after the first piece: same size, new bytes at the end, new mtime.
          const h = await fsp.open(file, 'r+');
          await h.write(Buffer.alloc(4096, 2), 0, 4096, 1024 * 1024 - 4096);
          await h.utimes(new Date(), new Date(Date.now() + 5000));
          await h.close();
        }
        pieces.push(piece);
      }
    })();
    await expect(reading).rejects.toMatchObject({ code: 'FERRY_ERR_IO', retryable: true, message: expect.stringContaining('changed while it was being read') });
    // Read again, untouched: the whole new file, no error.
    const again = await readWhole(await b.read('live.bin', {}));
    expect(again.subarray(-4096).every((x) => x === 2)).toBe(true);
    expect(again.length).toBe(1024 * 1024);
  });

  it('a file replaced by a rename while it is read is read whole, as it was at open', async () => {
    const b = new LocalBackend({ root: dir });
    await fsp.writeFile(path.join(dir, 'doc.txt'), Buffer.alloc(256 * 1024, 1));
    const stream = await b.read('doc.txt', {});
    await fsp.writeFile(path.join(dir, 'doc.new'), 'the saved version');
    await fsp.rename(path.join(dir, 'doc.new'), path.join(dir, 'doc.txt'));
    const got = await readWhole(stream);
    expect(got.equals(Buffer.alloc(256 * 1024, 1))).toBe(true);
  });

  it('fromSystemError maps the errno values a disk raises', () => {
    expect(fromSystemError(systemError('ENOSPC')).code).toBe('FERRY_ERR_NO_SPACE');
    expect(fromSystemError(systemError('EDQUOT')).code).toBe('FERRY_ERR_NO_SPACE');
    expect(fromSystemError(systemError('EROFS')).code).toBe('FERRY_ERR_PERMISSION');
    expect(fromSystemError(systemError('EIO')).retryable).toBe(true);
  });
});
