/**
 * The local backend's operations against a directory swapped for a link to a folder outside
 * the root while they run: `root/sub` renamed away and `root/sub -> outside` put in its place
 * just before the operation's first, second, third... file system call, once per call it
 * makes, so that every gap between a check and a use is hit (deterministic: the swap is made
 * by the patched call itself, no timing). Whatever the point, nothing outside is made,
 * changed, moved or removed, and nothing outside is read. Before the operations went through
 * their directory held open (../../src/core/pinned-dir.ts), a swap after the check made
 * `mkdir`'s folders outside, copied, moved, deleted and touched outside files, and read them.
 */
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LocalBackend } from '../../src/backends/local/local-backend.js';

const require = createRequire(import.meta.url);
/** The CommonJS faces of node:fs and node:fs/promises: patching them and syncing reaches the backend's ESM imports. */
const cjs = { promises: require('node:fs/promises') as Record<string, unknown>, sync: require('node:fs') as Record<string, unknown> };
const PROMISE_CALLS = ['open', 'realpath', 'lstat', 'stat', 'mkdir', 'rename', 'unlink', 'copyFile', 'utimes', 'lutimes', 'rmdir', 'readdir'];
const SYNC_CALLS = ['openSync', 'lstatSync', 'fstatSync', 'readSync'];

let dir: string;
let root: string;
let outside: string;
beforeEach(async () => {
  dir = await fsp.mkdtemp(path.join(tmpdir(), 'ferry-local-races-'));
});
afterEach(async () => {
  await fsp.rm(dir, { recursive: true, force: true });
});

/** A fresh root (`top`, `sub/f`, `sub/empty/`) and outside folder (`f`, `empty/`) for attempt `n`. */
function fixture(n: number): void {
  root = path.join(dir, `root-${n}`);
  outside = path.join(dir, `outside-${n}`);
  fs.mkdirSync(path.join(root, 'sub', 'empty'), { recursive: true });
  fs.writeFileSync(path.join(root, 'top'), 'top');
  fs.writeFileSync(path.join(root, 'sub', 'f'), 'inside');
  fs.mkdirSync(path.join(outside, 'empty'), { recursive: true });
  fs.writeFileSync(path.join(outside, 'f'), 'secret');
  fs.utimesSync(path.join(outside, 'f'), 1_000_000, 1_000_000);
}

/** What is outside, to compare before and after: names, contents, file mtimes. */
function snapshot(at: string): string[] {
  return fs
    .readdirSync(at, { recursive: true, encoding: 'utf8' })
    .sort()
    .map((name) => {
      const st = fs.lstatSync(path.join(at, name));
      return st.isFile() ? `${name}=${fs.readFileSync(path.join(at, name), 'utf8')}@${st.mtimeMs}` : `${name}/`;
    });
}

/** Runs `op` with `root/sub` swapped for a link to `outside` just before its `n`th file system call; whether the swap was made, and how `op` ended. */
async function swappedBefore<T>(n: number, op: () => Promise<T>): Promise<{ swapped: boolean; result: PromiseSettledResult<T> }> {
  let calls = 0;
  let swapped = false;
  const originals: [Record<string, unknown>, string, unknown][] = [];
  const wrap = (face: Record<string, unknown>, name: string) => {
    const real = face[name] as (...args: unknown[]) => unknown;
    originals.push([face, name, real]);
    face[name] = (...args: unknown[]) => {
      if (++calls === n && !swapped) {
        swapped = true;
        fs.renameSync(path.join(root, 'sub'), path.join(root, 'sub-moved'));
        fs.symlinkSync(outside, path.join(root, 'sub'));
      }
      return real(...args);
    };
  };
  for (const name of PROMISE_CALLS) wrap(cjs.promises, name);
  for (const name of SYNC_CALLS) wrap(cjs.sync, name);
  syncBuiltinESMExports();
  try {
    const [result] = await Promise.allSettled([op()]);
    return { swapped, result };
  } finally {
    for (const [face, name, real] of originals) face[name] = real;
    syncBuiltinESMExports();
  }
}

/** The bytes a read-like result holds, for those that return some. */
async function bytesOf(value: unknown): Promise<string | undefined> {
  if (Buffer.isBuffer(value)) return value.toString();
  if (value !== null && typeof value === 'object' && Symbol.asyncIterator in value) {
    const pieces: Buffer[] = [];
    for await (const piece of value as AsyncIterable<Buffer>) pieces.push(piece);
    return Buffer.concat(pieces).toString();
  }
  return undefined;
}

const OPERATIONS: Record<string, (b: LocalBackend) => Promise<unknown>> = {
  'mkdir (a new folder below)': (b) => b.mkdir('sub/new/deeper'),
  'write (a new file)': (b) => b.write('sub/new-file', Buffer.from('written')),
  'write (a new file in a new folder)': (b) => b.write('sub/new/file', Buffer.from('written')),
  'copy (into the folder)': (b) => b.copy('top', 'sub/copied'),
  'copy (out of the folder)': (b) => b.copy('sub/f', 'copied-out'),
  'move (into the folder)': (b) => b.move('top', 'sub/moved'),
  'move (out of the folder)': (b) => b.move('sub/f', 'moved-out'),
  delete: (b) => b.delete('sub/f'),
  rmdir: (b) => b.rmdir('sub/empty'),
  setMtime: (b) => b.setMtime('sub/f', 5_000_000),
  read: (b) => b.read('sub/f'),
  readRange: (b) => b.readRange('sub/f', 0, 100),
  'readRange (blocking)': (b) => b.readRange('sub/f', 0, 100, { blocking: true }),
  hash: (b) => b.hash('sub/f', 'sha256'),
};

describe('local backend: a folder swapped for a link to outside the root while an operation runs', () => {
  for (const [name, op] of Object.entries(OPERATIONS)) {
    it(`${name}: nothing outside is made, changed, removed or read, wherever the swap falls`, async () => {
      const secretSha = '2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b';
      let n = 1;
      for (; ; n++) {
        fixture(n);
        const before = snapshot(outside);
        // A backend as a sync's: the folder looked up once already (the check), then the operation.
        const b = new LocalBackend({ root });
        await b.stat('sub/f');
        const { swapped, result } = await swappedBefore(n, () => op(b));
        expect(snapshot(outside), `swap before call ${n}`).toEqual(before);
        if (result.status === 'fulfilled') {
          const got = await bytesOf(result.value);
          expect(got === 'secret' || result.value === secretSha, `swap before call ${n}: read outside`).toBe(false);
          // What was made or copied inside the root is not the outside file either.
          for (const made of ['copied-out', 'moved-out']) {
            if (fs.existsSync(path.join(root, made))) expect(fs.readFileSync(path.join(root, made), 'utf8'), made).toBe('inside');
          }
        } else {
          expect(result.reason, `swap before call ${n}`).toMatchObject({ code: expect.stringMatching(/^FERRY_ERR_(PATH_INVALID|NOT_FOUND)$/) });
        }
        if (!swapped) break;
      }
      // The operation made file system calls, and the swap fell before each of them once.
      expect(n).toBeGreaterThan(1);
    });
  }
});
