/**
 * The StorageBackend conformance suite: the contract of `src/core/storage.ts`, as tests.
 *
 * Every backend calls it from its own test file (a dozen lines, as rclone's fstests):
 *
 *   describeStorageBackend('local', async () => {
 *     const root = await mkdtemp(...);
 *     return { backend: new LocalBackend({ root }), cleanup: () => rm(root, { recursive: true }) };
 *   });
 *
 * `makeBackend` runs before each test and must hand out an empty backend. No test is ever
 * skipped: an optional ability the backend has is tested; one it lacks is checked to be
 * honestly absent (its type guard false, its feature flag off) and the fallback callers use
 * (`copyObject`, `moveObject`, ranged `read`) is tested instead.
 *
 * Pass-through backends (`features().persistent === false`: the channel backend) keep nothing,
 * so the tests that read back what was stored do not apply; they declare it with
 * `{ persistent: false }` and run {@link describePassThroughBackend}'s tests instead, which hold
 * them to the rest of the contract (bodies, sizes, aborts, invalid keys, backpressure).
 */
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { setImmediate as tick } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FerryError, isFerryError, type FerryErrorCode } from '../../src/core/errors.js';
import { canDigestTree, type TreeDigestSource } from '../../src/core/storage-bulk.js';
import { EMPTY_TREE_DIGEST, treeDigestOf } from '../../src/core/tree-digest.js';
import {
  canCopy,
  canHash,
  canMove,
  canIdentify,
  canReadRange,
  canSetMtime,
  canStage,
  canSyncDirectoriesLater,
  copyObject,
  hasDirectories,
  canCheckDirectories,
  moveObject,
  type DirEntry,
  type DirectoryChecker,
  type DirectorySyncer,
  type HashName,
  type StagedWriter,
  type StorageBackend,
  type WriteBody,
} from '../../src/core/storage.js';

export interface BackendUnderTest {
  backend: StorageBackend;
  /** Removes whatever the backend stored (temporary directory, bucket prefix, ...). */
  cleanup: () => Promise<void>;
}

export interface ConformanceOptions {
  /** Size of the large streamed object (default 20 MiB); slow transports may lower it. */
  largeBytes?: number;
  /** Size of the large object written without a size (default 8 MiB: past one S3 multipart part). */
  unknownSizeBytes?: number;
  /** `false` for pass-through backends (see the module comment); checked against `features()`. */
  persistent?: boolean;
  /**
   * The longest name (path segment, in UTF-8 bytes) the backend holds, where it is below the
   * 255 that keys allow (the encryption decorator: an encrypted name is longer than its plain
   * one). Longer names must be refused with FERRY_ERR_PATH_INVALID, storing nothing.
   */
  maxNameBytes?: number;
}

const MiB = 1024 * 1024;

// ---- helpers ------------------------------------------------------------------------------

async function readAll(stream: AsyncIterable<unknown>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of stream) parts.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(parts);
}

async function get(b: StorageBackend, key: string, options?: { offset?: number; length?: number }): Promise<Buffer> {
  return readAll(await b.read(key, options));
}

async function entries(b: StorageBackend, prefix: string, recursive = false): Promise<DirEntry[]> {
  const out: DirEntry[] = [];
  for await (const entry of b.list(prefix, { recursive })) out.push(entry);
  return out;
}

/** `file:key` / `dir:key`, sorted: easy to compare whole listings. */
async function listing(b: StorageBackend, prefix: string, recursive = false): Promise<string[]> {
  return (await entries(b, prefix, recursive)).map((e) => `${e.type}:${e.key}`).sort();
}

/** Every object key: what "nothing became visible" is checked against. */
async function allFiles(b: StorageBackend): Promise<string[]> {
  return (await entries(b, '', true)).filter((e) => e.type === 'file').map((e) => e.key).sort();
}

async function expectCode(promise: Promise<unknown>, code: FerryErrorCode): Promise<FerryError> {
  let caught: unknown;
  try {
    await promise;
  } catch (err) {
    caught = err;
  }
  expect(caught, `expected ${code}`).toBeInstanceOf(FerryError);
  expect((caught as FerryError).code).toBe(code);
  return caught as FerryError;
}

/** Runs `fn` inside an async function, so a backend that throws synchronously still yields a rejection. */
const attempt = (fn: () => unknown): Promise<unknown> => (async () => fn())();

function hashOf(data: Uint8Array, algorithm: HashName = 'sha256'): string {
  return createHash(algorithm).update(data).digest('hex');
}

/** A body of `size` random bytes in `piece`-sized chunks, hashed as it is produced (never held whole). */
function streamedBody(size: number, piece = 256 * 1024): { body: AsyncIterable<Uint8Array>; digest: () => string } {
  const hash = createHash('sha256');
  async function* produce(): AsyncGenerator<Uint8Array> {
    for (let sent = 0; sent < size; sent += piece) {
      const chunk = randomBytes(Math.min(piece, size - sent));
      hash.update(chunk);
      yield chunk;
    }
  }
  let digest: string | undefined;
  return { body: produce(), digest: () => (digest ??= hash.digest('hex')) };
}

async function streamDigest(stream: AsyncIterable<unknown>): Promise<{ digest: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of stream) {
    hash.update(chunk as Uint8Array);
    size += (chunk as Uint8Array).byteLength;
  }
  return { digest: hash.digest('hex'), size };
}

/** A producer that hands out `first`, reports that the backend asked for more, then never answers. */
function stalledBody(first: Uint8Array): { body: AsyncIterable<Uint8Array>; waiting: Promise<void> } {
  let signalWaiting!: () => void;
  const waiting = new Promise<void>((resolve) => (signalWaiting = resolve));
  async function* produce(): AsyncGenerator<Uint8Array> {
    yield first;
    signalWaiting();
    await new Promise(() => {});
  }
  return { body: produce(), waiting };
}

/** The same backend with only the required methods: forces the fallback paths of copyObject/moveObject. */
function requiredOnly(b: StorageBackend): StorageBackend {
  return {
    name: `${b.name} (required methods only)`,
    features: () => ({ ...b.features(), copy: false, move: false, setMtime: false }),
    stat: (key, options) => b.stat(key, options),
    read: (key, options) => b.read(key, options),
    write: (key, body, options) => b.write(key, body, options),
    delete: (key, options) => b.delete(key, options),
    list: (prefix, options) => b.list(prefix, options),
  };
}

function causeChainMentions(err: unknown, text: string): boolean {
  for (let e: unknown = err; e instanceof Error; e = e.cause) if (e.message.includes(text)) return true;
  return false;
}

/**
 * Names that break naive code: URL-special characters, quotes, shell characters, spaces at the
 * ends, several scripts, emoji, invisible characters, and 255-byte names (the Linux limit) in
 * one- and two-byte characters.
 */
export const NASTY_NAMES: readonly string[] = [
  'space in name.txt',
  ' leading and trailing ',
  `quote's "double" \`back\``,
  'hash#tag',
  'question?mark=1&b=2',
  'percent%20and%zz%',
  'plus+equals=',
  'emoji 🚀🎉👩‍👩‍👧',
  'Ünïcödé 日本語 русский العربية',
  'back\\slash',
  'colon:star*pipe|lt<gt>',
  'semi;comma,tilde~bang!dollar$',
  'brackets[]{}()',
  'trailing.dot.',
  '-dash-leading',
  'nbsp\u00a0and\u200bzero-width',
  'a'.repeat(255),
  'é'.repeat(127) + 'x',
];

// ---- the suite ----------------------------------------------------------------------------

export function describeStorageBackend(name: string, makeBackend: () => Promise<BackendUnderTest>, options: ConformanceOptions = {}): void {
  if (options.persistent === false) {
    describePassThroughBackend(name, makeBackend, options);
    return;
  }
  const largeBytes = options.largeBytes ?? 20 * MiB;
  const unknownSizeBytes = options.unknownSizeBytes ?? 8 * MiB;
  const maxNameBytes = options.maxNameBytes ?? 255;

  describe(`StorageBackend conformance: ${name}`, () => {
    let b: StorageBackend;
    let cleanup: () => Promise<void>;

    beforeEach(async () => {
      ({ backend: b, cleanup } = await makeBackend());
    });
    afterEach(async () => {
      // close() is optional and idempotent: calling it twice must be fine.
      await b.close?.();
      await b.close?.();
      await cleanup();
    });

    describe('features and identity', () => {
      it('reports a complete, consistent features record and a name', () => {
        const f = b.features();
        expect(typeof b.name).toBe('string');
        expect(b.name.length).toBeGreaterThan(0);
        for (const flag of ['copy', 'move', 'rangeRead', 'mtime', 'setMtime', 'unknownSizeWrite', 'caseSensitive', 'network'] as const) {
          expect(typeof f[flag], flag).toBe('boolean');
        }
        expect(['real', 'virtual']).toContain(f.directories);
        expect(f.mtimePrecisionMs).toBeGreaterThanOrEqual(0);
        if (!f.mtime) expect(f.mtimePrecisionMs).toBe(0);
        for (const h of f.hashes) expect(['sha256', 'md5', 'sha1']).toContain(h);
        // A feature flag must come with its method (decorators rely on it to forward abilities).
        if (f.copy) expect(canCopy(b)).toBe(true);
        if (f.move) expect(canMove(b)).toBe(true);
        if (f.setMtime) expect(canSetMtime(b)).toBe(true);
        expect(f.persistent, 'a persistent backend (pass-through ones run the other suite)').toBe(true);
      });

      it('identityOf (Identifier): where a key is, nested as the keys are, for existing and missing keys (absent: two backends of it cannot be compared)', async () => {
        if (!canIdentify(b)) return;
        await b.write('id/x/f.txt', Buffer.from('x'));
        const [dir, file, missing, again] = await Promise.all([b.identityOf('id/x'), b.identityOf('id/x/f.txt'), b.identityOf('id/x/no/such'), b.identityOf('id//x/f.txt')]);
        expect(again).toEqual(file);
        expect([file.store, missing.store]).toEqual([dir.store, dir.store]);
        expect(dir.path).toMatch(/^\/(.*\/)?id\/x$/);
        expect(file.path).toBe(dir.path + '/f.txt');
        expect(missing.path).toBe(dir.path + '/no/such');
      });

      it('an empty backend lists nothing', async () => {
        expect(await listing(b, '', true)).toEqual([]);
        expect(await listing(b, '')).toEqual([]);
      });
    });

    describe('write, stat, read', () => {
      it('round-trips bytes and reports them in stat', async () => {
        const data = randomBytes(1000);
        const info = await b.write('hello.bin', data, { size: data.length });
        expect(info.key).toBe('hello.bin');
        expect(info.size).toBe(1000);
        const st = await b.stat('hello.bin');
        expect(st.key).toBe('hello.bin');
        expect(st.size).toBe(1000);
        expect((await get(b, 'hello.bin')).equals(data)).toBe(true);
      });

      it('accepts every body form: Uint8Array, Buffer, Readable, async iterable', async () => {
        const data = randomBytes(3000);
        await b.write('u8', new Uint8Array(data));
        await b.write('buf', data);
        await b.write('readable', Readable.from([data.subarray(0, 1000), data.subarray(1000)]), { size: 3000 });
        await b.write(
          'iterable',
          (async function* () {
            yield data.subarray(0, 1);
            yield new Uint8Array(0);
            yield data.subarray(1);
          })(),
          { size: 3000 },
        );
        for (const key of ['u8', 'buf', 'readable', 'iterable']) expect((await get(b, key)).equals(data), key).toBe(true);
      });

      it('copies what it keeps: a producer may reuse its chunk buffer after the next pull', async () => {
        const shared = Buffer.alloc(4096);
        const expected: Buffer[] = [];
        async function* reuse(): AsyncGenerator<Uint8Array> {
          for (let i = 0; i < 8; i++) {
            shared.fill(i + 1);
            expected.push(Buffer.from(shared));
            yield shared;
          }
        }
        await b.write('reused', reuse());
        shared.fill(0xff);
        expect((await get(b, 'reused')).equals(Buffer.concat(expected))).toBe(true);
      });

      it('creates missing parents and normalizes keys', async () => {
        const info = await b.write('p//q/r/s.txt/', Buffer.from('deep'));
        expect(info.key).toBe('p/q/r/s.txt');
        expect((await get(b, 'p/q/r/s.txt')).toString()).toBe('deep');
        expect((await b.stat('/p/q//r/s.txt')).size).toBe(4);
        expect(await allFiles(b)).toEqual(['p/q/r/s.txt']);
      });

      it('stores empty objects (Uint8Array, empty stream with and without a size)', async () => {
        await b.write('empty-a', new Uint8Array(0));
        await b.write('empty-b', Readable.from([]), { size: 0 });
        if (b.features().unknownSizeWrite) await b.write('empty-c', (async function* () {})());
        else await b.write('empty-c', new Uint8Array(0), { size: 0 });
        for (const key of ['empty-a', 'empty-b', 'empty-c']) {
          expect((await b.stat(key)).size, key).toBe(0);
          expect((await get(b, key)).length, key).toBe(0);
          expect((await get(b, key, { offset: 0, length: 10 })).length).toBe(0);
        }
        await expectCode(b.read('empty-a', { offset: 1 }), 'FERRY_ERR_RANGE_NOT_SATISFIABLE');
        const listed = (await entries(b, '')).find((e) => e.key === 'empty-a');
        expect(listed).toMatchObject({ type: 'file', size: 0 });
      });

      it(`streams a large object (${largeBytes} bytes) in and out`, async () => {
        const { body, digest } = streamedBody(largeBytes);
        const info = await b.write('large.bin', Readable.from(body), { size: largeBytes });
        expect(info.size).toBe(largeBytes);
        expect((await b.stat('large.bin')).size).toBe(largeBytes);
        expect(await streamDigest(await b.read('large.bin'))).toEqual({ digest: digest(), size: largeBytes });
      });

      it(`writes a body of unknown size (${unknownSizeBytes} bytes) when unknownSizeWrite, else refuses it`, async () => {
        const { body, digest } = streamedBody(unknownSizeBytes, 100_000);
        if (!b.features().unknownSizeWrite) {
          await expectCode(b.write('unknown-size.bin', body), 'FERRY_ERR_UNSUPPORTED');
          expect(await allFiles(b)).toEqual([]);
          return;
        }
        const info = await b.write('unknown-size.bin', body);
        expect(info.size).toBe(unknownSizeBytes);
        expect(await streamDigest(await b.read('unknown-size.bin'))).toEqual({ digest: digest(), size: unknownSizeBytes });
      });

      it('overwrite replaces the whole object, longer or shorter', async () => {
        const big = randomBytes(MiB);
        await b.write('over', big);
        await b.write('over', Buffer.from('short'));
        expect((await get(b, 'over')).toString()).toBe('short');
        expect((await b.stat('over')).size).toBe(5);
        await b.write('over', big);
        await b.write('over', big); // the same bytes twice: idempotent
        expect(hashOf(await get(b, 'over'))).toBe(hashOf(big));
        expect(await allFiles(b)).toEqual(['over']);
      });

      it('a read begun before an overwrite returns the old or the new bytes, never a mix', async () => {
        const before = randomBytes(2 * MiB);
        const after = randomBytes(2 * MiB);
        await b.write('swap', before);
        const iterator = (await b.read('swap'))[Symbol.asyncIterator]();
        const first = await iterator.next();
        await b.write('swap', after);
        const parts = [Buffer.from(first.value as Uint8Array)];
        for (let step = await iterator.next(); !step.done; step = await iterator.next()) parts.push(Buffer.from(step.value as Uint8Array));
        const seen = hashOf(Buffer.concat(parts));
        expect([hashOf(before), hashOf(after)]).toContain(seen);
        expect((await get(b, 'swap')).equals(after)).toBe(true);
      });

      it('concurrent writers to one key: the result is exactly one of the writes', async () => {
        const contents = [0, 1, 2, 3].map(() => randomBytes(MiB));
        const piece = 64 * 1024;
        const writer = (data: Buffer) =>
          b.write(
            'contended',
            (async function* () {
              for (let at = 0; at < data.length; at += piece) {
                yield data.subarray(at, at + piece);
                await tick(); // let the other writers interleave
              }
            })(),
            { size: data.length },
          );
        const results = await Promise.allSettled(contents.map(writer));
        // A backend may refuse a loser (e.g. a precondition), but at least one write wins.
        expect(results.some((r) => r.status === 'fulfilled')).toBe(true);
        const stored = hashOf(await get(b, 'contended'));
        expect(contents.map((c) => hashOf(c))).toContain(stored);
        expect((await b.stat('contended')).size).toBe(MiB);
        expect(await allFiles(b)).toEqual(['contended']);
      });
    });

    describe('nasty names', () => {
      it('stores, stats, reads and lists each name exactly', async () => {
        const dir = 'nasty ü #?% dir';
        const names = NASTY_NAMES.filter((n) => Buffer.byteLength(n) <= maxNameBytes);
        for (const n of NASTY_NAMES.filter((n) => !names.includes(n))) {
          await expectCode(b.write(`${dir}/${n}`, Buffer.from(n, 'utf8')), 'FERRY_ERR_PATH_INVALID');
        }
        for (const n of names) await b.write(`${dir}/${n}`, Buffer.from(n, 'utf8'));
        for (const n of names) {
          const key = `${dir}/${n}`;
          expect((await b.stat(key)).size, key).toBe(Buffer.byteLength(n));
          expect((await get(b, key)).toString('utf8'), key).toBe(n);
        }
        const expected = names.map((n) => `file:${dir}/${n}`).sort();
        expect(await listing(b, dir)).toEqual(expected);
        expect((await listing(b, '', true)).filter((e) => e.startsWith('file:'))).toEqual(expected);
        expect(await listing(b, '')).toEqual([`dir:${dir}`]);
      });

      it('keeps NFC and NFD spellings apart: keys are exact strings, never normalized (or refuses the second)', async () => {
        const nfc = 'caf\u00e9';
        const nfd = 'cafe\u0301';
        expect(nfc.normalize('NFD')).toBe(nfd);
        await b.write(nfc, Buffer.from('composed'));
        if (b.features().lookAlikeNames === 'refused') {
          await expectCode(attempt(() => b.write(nfd, Buffer.from('decomposed'))), 'FERRY_ERR_ALREADY_EXISTS');
          await b.write(`d/${nfd}`, Buffer.from('decomposed'));
          expect((await get(b, nfc)).toString()).toBe('composed');
          expect((await get(b, `d/${nfd}`)).toString()).toBe('decomposed');
          expect(await allFiles(b)).toEqual([nfc, `d/${nfd}`].sort());
        } else {
          await b.write(nfd, Buffer.from('decomposed'));
          expect((await get(b, nfc)).toString()).toBe('composed');
          expect((await get(b, nfd)).toString()).toBe('decomposed');
          expect(await allFiles(b)).toEqual([nfc, nfd].sort());
        }
      });

      it('keeps case apart when caseSensitive, else folds it', async () => {
        await b.write('Case', Buffer.from('upper'));
        await b.write('case', Buffer.from('lower'));
        if (!b.features().caseSensitive) {
          expect((await get(b, 'Case')).toString()).toBe('lower');
          expect(await allFiles(b)).toHaveLength(1);
          return;
        }
        expect((await get(b, 'Case')).toString()).toBe('upper');
        expect((await get(b, 'case')).toString()).toBe('lower');
        expect(await listing(b, 'CASE')).toEqual([]);
      });

      it('refuses invalid keys with FERRY_ERR_PATH_INVALID, before any I/O', async () => {
        await b.write('ok', Buffer.from('x'));
        const invalid = ['../x', 'a/../b', '..', './a', 'a/./b', 'a\u0000b', 'tab\there', 'new\nline', 'a'.repeat(256), 'x/' + 'é'.repeat(128)];
        for (const key of invalid) {
          await expectCode(attempt(() => b.write(key, Buffer.from('x'))), 'FERRY_ERR_PATH_INVALID');
          await expectCode(attempt(() => b.stat(key)), 'FERRY_ERR_PATH_INVALID');
          await expectCode(attempt(() => b.read(key)), 'FERRY_ERR_PATH_INVALID');
          await expectCode(attempt(() => b.delete(key)), 'FERRY_ERR_PATH_INVALID');
          await expectCode(attempt(() => entries(b, key)), 'FERRY_ERR_PATH_INVALID');
          await expectCode(attempt(() => copyObject(b, 'ok', key)), 'FERRY_ERR_PATH_INVALID');
          await expectCode(attempt(() => moveObject(b, key, 'ok')), 'FERRY_ERR_PATH_INVALID');
        }
        // The root is a directory, never an object.
        await expectCode(attempt(() => b.write('', Buffer.from('x'))), 'FERRY_ERR_PATH_INVALID');
        await expectCode(attempt(() => b.stat('/')), 'FERRY_ERR_PATH_INVALID');
        expect(await allFiles(b)).toEqual(['ok']);
      });
    });

    describe('ranged reads', () => {
      const size = 3 * MiB + 17;
      let data: Buffer;
      beforeEach(async () => {
        data = randomBytes(size);
        await b.write('ranged', data);
      });

      const cases: [string, number | undefined, number | undefined, (d: Buffer) => Buffer][] = [
        ['start', 0, 10, (d) => d.subarray(0, 10)],
        ['middle, across chunk boundaries', MiB - 5, MiB + 10, (d) => d.subarray(MiB - 5, 2 * MiB + 5)],
        ['end', size - 10, 10, (d) => d.subarray(size - 10)],
        ['length past the end is clipped', size - 10, 1000, (d) => d.subarray(size - 10)],
        ['offset only: to the end', 2 * MiB, undefined, (d) => d.subarray(2 * MiB)],
        ['offset == size: empty', size, undefined, () => Buffer.alloc(0)],
        ['offset == size with a length: empty', size, 5, () => Buffer.alloc(0)],
        ['length 0: empty', 100, 0, () => Buffer.alloc(0)],
        ['no range: everything', undefined, undefined, (d) => d],
      ];
      for (const [label, offset, length, expected] of cases) {
        it(`read: ${label}`, async () => {
          expect((await get(b, 'ranged', { offset, length })).equals(expected(data))).toBe(true);
        });
      }

      it('read: offset > size is FERRY_ERR_RANGE_NOT_SATISFIABLE', async () => {
        await expectCode(b.read('ranged', { offset: size + 1 }), 'FERRY_ERR_RANGE_NOT_SATISFIABLE');
      });

      it('readRange (RangeReader): same ranges into one buffer, which is the caller’s (absent: rangeRead is off)', async () => {
        if (!canReadRange(b)) {
          // Without a RangeReader callers use ranged `read` (tested above); a backend that
          // serves ranges natively has no reason not to offer the buffer form.
          expect(b.features().rangeRead).toBe(false);
          return;
        }
        for (const [label, offset, length, expected] of cases) {
          if (offset === undefined || length === undefined) continue;
          const got = await b.readRange('ranged', offset, length);
          expect(Buffer.isBuffer(got), label).toBe(true);
          expect(got.equals(expected(data)), label).toBe(true);
        }
        const got = await b.readRange('ranged', 0, 16);
        got.fill(0);
        expect((await b.readRange('ranged', 0, 16)).equals(data.subarray(0, 16))).toBe(true);
        // A buffer offered to read into (used or not): the result holds the bytes either way.
        const into = Buffer.alloc(size + 10, 0xee);
        for (const [label, offset, length, expected] of cases) {
          if (offset === undefined || length === undefined) continue;
          const r = await b.readRange('ranged', offset, length, { into: into.subarray(0, Math.max(length, 1)) });
          expect(r.equals(expected(data)), `${label}, into a buffer`).toBe(true);
        }
        await expectCode(b.readRange('ranged', size + 1, 1), 'FERRY_ERR_RANGE_NOT_SATISFIABLE');
        await expectCode(b.readRange('missing', 0, 1), 'FERRY_ERR_NOT_FOUND');
        // `blocking` is a hint (a CLI reading a tree): the same bytes and errors with it.
        for (const [label, offset, length, expected] of cases) {
          if (offset === undefined || length === undefined) continue;
          expect((await b.readRange('ranged', offset, length, { blocking: true })).equals(expected(data)), `${label}, blocking`).toBe(true);
        }
        await expectCode(b.readRange('ranged', size + 1, 1, { blocking: true }), 'FERRY_ERR_RANGE_NOT_SATISFIABLE');
        await expectCode(b.readRange('missing', 0, 1, { blocking: true }), 'FERRY_ERR_NOT_FOUND');
      });
    });

    describe('grouped durability', () => {
      it('stage / publish / discard (StagedWriter): staged objects appear only once published, whole; discarded ones leave nothing (absent: neither half offered)', async () => {
        if (!canStage(b)) {
          // Without a StagedWriter callers write durably one object at a time.
          const half = b as Partial<StagedWriter>;
          expect([typeof half.stage, typeof half.publish, typeof half.discard]).toEqual(['undefined', 'undefined', 'undefined']);
          return;
        }
        const one = randomBytes(3 * 65536 + 5);
        const two = randomBytes(1000);
        const staged1 = await b.stage('staged/one', Readable.from([one.subarray(0, 16), one.subarray(16)]), { size: one.length });
        const staged2 = await b.stage('staged/two', two);
        const dropped = await b.stage('staged/dropped', Buffer.from('never seen'));
        expect([staged1.key, staged1.size, staged2.key, staged2.size]).toEqual(['staged/one', one.length, 'staged/two', two.length]);
        // Staged is not visible: neither to stat nor to a listing.
        await expectCode(b.stat('staged/one'), 'FERRY_ERR_NOT_FOUND');
        expect(await allFiles(b)).toEqual([]);
        expect(await b.publish([staged1, staged2])).toEqual([null, null]);
        await b.discard([dropped]);
        expect((await get(b, 'staged/one')).equals(one)).toBe(true);
        expect((await get(b, 'staged/two')).equals(two)).toBe(true);
        await expectCode(b.stat('staged/dropped'), 'FERRY_ERR_NOT_FOUND');
        expect(await allFiles(b)).toEqual(['staged/one', 'staged/two']);
        // A size that the body does not match fails the stage, leaving nothing.
        await expectCode(b.stage('staged/short', Readable.from([two]), { size: two.length + 1 }), 'FERRY_ERR_SIZE_MISMATCH');
        expect(await allFiles(b)).toEqual(['staged/one', 'staged/two']);
      });

      it('publish with directoriesLater, then syncDirectories (DirectorySyncer): the objects are whole and visible; a backend without it publishes wholly', async () => {
        if (!canStage(b)) return;
        const one = randomBytes(70_000);
        const two = randomBytes(10);
        const staged = [await b.stage('later/a/one', one), await b.stage('later/b/two', two)];
        // Asked of any StagedWriter: one without DirectorySyncer ignores the option.
        expect(await b.publish(staged, { directoriesLater: true })).toEqual([null, null]);
        expect((await get(b, 'later/a/one')).equals(one)).toBe(true);
        expect((await get(b, 'later/b/two')).equals(two)).toBe(true);
        if (canSyncDirectoriesLater(b)) expect(await b.syncDirectories(staged)).toEqual([null, null]);
        else expect(typeof (b as Partial<DirectorySyncer>).syncDirectories).toBe('undefined');
        expect(await allFiles(b)).toEqual(['later/a/one', 'later/b/two']);
      });
    });

    describe('not found', () => {
      it('stat and read of a missing key are FERRY_ERR_NOT_FOUND, read raising before any stream', async () => {
        await expectCode(b.stat('nope'), 'FERRY_ERR_NOT_FOUND');
        await expectCode(b.stat('no/such/dir/key'), 'FERRY_ERR_NOT_FOUND');
        // The promise itself rejects: callers (HTTP handlers) decide the status before streaming.
        await expectCode(b.read('nope'), 'FERRY_ERR_NOT_FOUND');
        await expectCode(b.read('nope', { offset: 10, length: 5 }), 'FERRY_ERR_NOT_FOUND');
      });

      it('a directory is not an object: stat and read are FERRY_ERR_NOT_FOUND', async () => {
        await b.write('d/inner', Buffer.from('x'));
        await expectCode(b.stat('d'), 'FERRY_ERR_NOT_FOUND');
        await expectCode(b.read('d'), 'FERRY_ERR_NOT_FOUND');
      });

      it('a key below an object is not found', async () => {
        await b.write('plain', Buffer.from('x'));
        await expectCode(b.stat('plain/child'), 'FERRY_ERR_NOT_FOUND');
        await expectCode(b.read('plain/child'), 'FERRY_ERR_NOT_FOUND');
      });
    });

    describe('list', () => {
      beforeEach(async () => {
        for (const key of ['ab', 'a/x', 'a/y/z', 'b', 'c/d/e/f']) await b.write(key, Buffer.from(key));
      });

      it('non-recursive: immediate children, directories included', async () => {
        expect(await listing(b, '')).toEqual(['dir:a', 'dir:c', 'file:ab', 'file:b']);
        expect(await listing(b, 'a')).toEqual(['dir:a/y', 'file:a/x']);
        expect(await listing(b, 'c/d')).toEqual(['dir:c/d/e']);
        expect(await listing(b, 'a/')).toEqual(await listing(b, 'a'));
      });

      it('recursive: every object below (and real directories)', async () => {
        const real = b.features().directories === 'real';
        const files = ['file:a/x', 'file:a/y/z', 'file:ab', 'file:b', 'file:c/d/e/f'];
        const dirs = real ? ['dir:a', 'dir:a/y', 'dir:c', 'dir:c/d', 'dir:c/d/e'] : [];
        expect(await listing(b, '', true)).toEqual([...files, ...dirs].sort());
        expect(await listing(b, 'a', true)).toEqual(['file:a/x', 'file:a/y/z', ...(real ? ['dir:a/y'] : [])].sort());
      });

      it('a prefix is a directory: `a` never matches `ab`; missing or object prefixes yield nothing', async () => {
        for (const recursive of [false, true]) {
          const keys = (await entries(b, 'a', recursive)).map((e) => e.key);
          expect(keys).not.toContain('ab');
          expect(keys.every((k) => k.startsWith('a/'))).toBe(true);
          expect(await listing(b, 'missing', recursive)).toEqual([]);
          expect(await listing(b, 'missing/deeper', recursive)).toEqual([]);
          expect(await listing(b, 'ab', recursive)).toEqual([]);
          expect(await listing(b, 'a/x', recursive)).toEqual([]);
        }
      });

      it('file entries carry size and mtime like stat', async () => {
        const entry = (await entries(b, 'a')).find((e) => e.key === 'a/x');
        const st = await b.stat('a/x');
        expect(entry).toMatchObject({ type: 'file', size: 3 });
        if (entry?.mtime !== undefined) expect(entry.mtime).toBe(st.mtime);
        if (!b.features().mtime) expect(entry?.mtime).toBeUndefined();
      });

      it('an aborted signal fails the listing with FERRY_ERR_ABORTED', async () => {
        const ac = new AbortController();
        ac.abort();
        await expectCode(attempt(async () => {
          for await (const _ of b.list('', { recursive: true, signal: ac.signal })) void _;
        }), 'FERRY_ERR_ABORTED');
      });

      it('treeDigest (TreeDigestSource), where it exists, is the digest of what a recursive list returns now', async () => {
        if (!canDigestTree(b)) {
          expect((b as Partial<TreeDigestSource>).treeDigest).toBeUndefined();
          return;
        }
        /** What a sync computes from the listing it holds. */
        const ofListing = async (prefix: string) => {
          const files = new Map<string, { size: number; mtime?: number }>();
          const dirs: string[] = [];
          for (const e of await entries(b, prefix, true)) {
            const rel = prefix === '' ? e.key : e.key.slice(prefix.length + 1);
            if (e.type === 'dir') dirs.push(rel);
            else files.set(rel, { size: e.size ?? 0, mtime: e.mtime });
          }
          return treeDigestOf(files, dirs);
        };
        expect(await ofListing('a')).not.toBe(EMPTY_TREE_DIGEST);
        expect(await b.treeDigest('a')).toBe(await ofListing('a'));
        // Names whose UTF-16 order is not their byte order: any order of the rows would not do.
        await b.write('a/y/\u{1F600} smile', Buffer.from('astral'), { mtime: 1_700_000_000_123 });
        await b.write('a/y/\uFB01le', Buffer.from('ligature'), { mtime: 1_700_000_000_456 });
        const before = await b.treeDigest('a');
        expect(before).toBe(await ofListing('a'));
        await b.write('a/y/\uFB01le', Buffer.from('a new size'), { mtime: 1_700_000_000_456 });
        const after = await b.treeDigest('a');
        expect(after).not.toBe(before);
        expect(after).toBe(await ofListing('a'));
        await b.delete('a/x');
        expect(await b.treeDigest('a')).toBe(await ofListing('a'));
        expect(await b.treeDigest('')).toBe(await ofListing(''));
        // Missing and object prefixes list nothing, and digest as nothing.
        for (const p of ['missing', 'missing/deeper', 'ab']) expect(await b.treeDigest(p)).toBe(EMPTY_TREE_DIGEST);
      });
    });

    describe('mtime and hashes', () => {
      it('keeps the mtime given to write, within mtimePrecisionMs; stamps one otherwise (or keeps none, honestly)', async () => {
        const f = b.features();
        if (!f.mtime) {
          expect(f.mtimePrecisionMs).toBe(0);
          expect(f.setMtime).toBe(false);
          expect(canSetMtime(b)).toBe(false);
          await b.write('timed', Buffer.from('t'), { mtime: 1_600_000_000_123 });
          expect((await b.stat('timed')).mtime).toBeUndefined();
          return;
        }
        const mtime = 1_600_000_000_123;
        const info = await b.write('timed', Buffer.from('t'), { mtime });
        expect(Math.abs((info.mtime ?? NaN) - mtime)).toBeLessThanOrEqual(f.mtimePrecisionMs);
        expect(Math.abs(((await b.stat('timed')).mtime ?? NaN) - mtime)).toBeLessThanOrEqual(f.mtimePrecisionMs);
        // Listings may lack mtimes (S3's do); when they carry one it is the stored one.
        const listed = (await entries(b, '')).find((e) => e.key === 'timed');
        expect(listed).toBeDefined();
        if (listed?.mtime !== undefined) expect(Math.abs(listed.mtime - mtime)).toBeLessThanOrEqual(f.mtimePrecisionMs);
        await b.write('untimed', Buffer.from('u'));
        // A generous window: this only checks "now-ish", not a clock's accuracy.
        expect(Math.abs(((await b.stat('untimed')).mtime ?? NaN) - Date.now())).toBeLessThan(24 * 3600 * 1000);
      });

      it('setMtime (MtimeSetter) changes the mtime of an existing object (absent: the flag is off)', async () => {
        if (!canSetMtime(b)) {
          expect(b.features().setMtime).toBe(false);
          return;
        }
        await b.write('touch', Buffer.from('t'));
        const mtime = 1_500_000_000_456;
        await b.setMtime('touch', mtime);
        expect(Math.abs(((await b.stat('touch')).mtime ?? NaN) - mtime)).toBeLessThanOrEqual(b.features().mtimePrecisionMs);
        expect((await get(b, 'touch')).toString()).toBe('t');
        await expectCode(b.setMtime('missing', mtime), 'FERRY_ERR_NOT_FOUND');
      });

      it('reports stored hashes in stat and list, as features().hashes says (none: none claimed)', async () => {
        const stored = b.features().hashes;
        const data = randomBytes(5000);
        await b.write('hashed', data);
        await b.write('hashed-empty', new Uint8Array(0));
        const listed = await entries(b, '');
        if (stored.length === 0) {
          // A hash the backend does not declare must not appear: callers would trust it.
          for (const key of ['hashed', 'hashed-empty']) {
            expect(Object.keys((await b.stat(key)).hashes ?? {}), key).toEqual([]);
            expect(Object.keys(listed.find((e) => e.key === key)?.hashes ?? {}), key).toEqual([]);
          }
          return;
        }
        for (const [key, bytes] of [['hashed', data], ['hashed-empty', Buffer.alloc(0)]] as const) {
          const st = await b.stat(key);
          const entry = listed.find((e) => e.key === key);
          for (const h of stored) {
            expect(st.hashes?.[h], `${key} ${h}`).toBe(hashOf(bytes, h));
            if (entry?.hashes?.[h] !== undefined) expect(entry.hashes[h]).toBe(hashOf(bytes, h));
          }
        }
      });

      it('hash (Hasher) computes sha256, md5 and sha1 (absent: hashing by reading works)', async () => {
        const data = randomBytes(3 * MiB + 1);
        await b.write('to-hash', data);
        await b.write('to-hash-empty', new Uint8Array(0));
        if (!canHash(b)) {
          expect(hashOf(await get(b, 'to-hash'))).toBe(hashOf(data));
          return;
        }
        for (const h of ['sha256', 'md5', 'sha1'] as const) {
          expect(await b.hash('to-hash', h), h).toBe(hashOf(data, h));
          expect(await b.hash('to-hash-empty', h), h).toBe(hashOf(Buffer.alloc(0), h));
        }
        await expectCode(b.hash('missing', 'sha256'), 'FERRY_ERR_NOT_FOUND');
      });
    });

    for (const mode of ['ability', 'fallback'] as const) {
      describe(`copy and move (${mode})`, () => {
        // 'ability': the backend as it is (copyObject/moveObject use its Copier/Mover when it
        // has them, and fall back when it does not); 'fallback': forced through the fallbacks.
        let target: StorageBackend;
        beforeEach(() => {
          target = mode === 'ability' ? b : requiredOnly(b);
          expect(canCopy(target)).toBe(mode === 'ability' && b.features().copy);
          expect(canMove(target)).toBe(mode === 'ability' && b.features().move);
        });

        it('copy: the destination gets the bytes (and the mtime), the source stays', async () => {
          const data = randomBytes(100_000);
          await b.write('src/one', data, { mtime: 1_600_000_000_000 });
          const info = await copyObject(target, 'src/one', 'dst/deep/two');
          expect(info).toMatchObject({ key: 'dst/deep/two', size: data.length });
          expect((await get(b, 'dst/deep/two')).equals(data)).toBe(true);
          expect((await get(b, 'src/one')).equals(data)).toBe(true);
          if (b.features().mtime) {
            const precision = b.features().mtimePrecisionMs;
            expect(Math.abs(((await b.stat('dst/deep/two')).mtime ?? NaN) - 1_600_000_000_000)).toBeLessThanOrEqual(precision);
          }
        });

        it('copy: replaces an existing destination; onto itself changes nothing', async () => {
          await b.write('c1', Buffer.from('new bytes'));
          await b.write('c2', randomBytes(50_000));
          await copyObject(target, 'c1', 'c2');
          expect((await get(b, 'c2')).toString()).toBe('new bytes');
          await copyObject(target, 'c1', 'c1');
          expect((await get(b, 'c1')).toString()).toBe('new bytes');
          expect(await allFiles(b)).toEqual(['c1', 'c2']);
        });

        it('copy: a missing source is FERRY_ERR_NOT_FOUND and creates nothing', async () => {
          await expectCode(copyObject(target, 'missing', 'there'), 'FERRY_ERR_NOT_FOUND');
          expect(await allFiles(b)).toEqual([]);
        });

        it('move: the destination gets the bytes (and the mtime), the source is gone', async () => {
          const data = randomBytes(100_000);
          await b.write('from/here', data, { mtime: 1_600_000_000_000 });
          const info = await moveObject(target, 'from/here', 'to/there/now');
          expect(info).toMatchObject({ key: 'to/there/now', size: data.length });
          expect((await get(b, 'to/there/now')).equals(data)).toBe(true);
          await expectCode(b.stat('from/here'), 'FERRY_ERR_NOT_FOUND');
          if (b.features().mtime) {
            const precision = b.features().mtimePrecisionMs;
            expect(Math.abs(((await b.stat('to/there/now')).mtime ?? NaN) - 1_600_000_000_000)).toBeLessThanOrEqual(precision);
          }
          expect(await allFiles(b)).toEqual(['to/there/now']);
        });

        it('move: replaces an existing destination; onto itself keeps the object', async () => {
          await b.write('m1', Buffer.from('mover'));
          await b.write('m2', randomBytes(50_000));
          await moveObject(target, 'm1', 'm2');
          expect((await get(b, 'm2')).toString()).toBe('mover');
          await moveObject(target, 'm2', 'm2');
          await moveObject(target, 'm2', '/m2/');
          expect((await get(b, 'm2')).toString()).toBe('mover');
          expect(await allFiles(b)).toEqual(['m2']);
        });

        it('move: a missing source is FERRY_ERR_NOT_FOUND', async () => {
          await expectCode(moveObject(target, 'missing', 'there'), 'FERRY_ERR_NOT_FOUND');
          expect(await allFiles(b)).toEqual([]);
        });
      });
    }

    describe('delete', () => {
      it('removes an object and is idempotent', async () => {
        await b.write('gone', Buffer.from('x'));
        await b.delete('gone');
        await expectCode(b.stat('gone'), 'FERRY_ERR_NOT_FOUND');
        await b.delete('gone');
        await b.delete('never/was/here');
        expect(await allFiles(b)).toEqual([]);
      });

      it('never removes a directory or what is in it', async () => {
        await b.write('keep/inner', Buffer.from('x'));
        await b.delete('keep');
        expect(await allFiles(b)).toEqual(['keep/inner']);
      });

      it('virtual directories vanish with their last object; real ones stay', async () => {
        await b.write('v/only', Buffer.from('x'));
        await b.delete('v/only');
        const expected = b.features().directories === 'real' ? ['dir:v'] : [];
        expect(await listing(b, '')).toEqual(expected);
      });
    });

    describe('failed writes leave nothing', () => {
      it('size mismatch (short, long, buffer) is FERRY_ERR_SIZE_MISMATCH and leaves nothing', async () => {
        await b.write('existing', Buffer.from('old'));
        await expectCode(b.write('short', Readable.from([randomBytes(50)]), { size: 100 }), 'FERRY_ERR_SIZE_MISMATCH');
        const long = Readable.from([randomBytes(40), randomBytes(40)]);
        await expectCode(b.write('long', long, { size: 50 }), 'FERRY_ERR_SIZE_MISMATCH');
        expect(long.destroyed).toBe(true); // the producer learns the write is over
        await expectCode(b.write('buffer', randomBytes(10), { size: 11 }), 'FERRY_ERR_SIZE_MISMATCH');
        await expectCode(b.write('existing', Buffer.from('new and longer'), { size: 3 }), 'FERRY_ERR_SIZE_MISMATCH');
        expect(await allFiles(b)).toEqual(['existing']);
        expect((await get(b, 'existing')).toString()).toBe('old');
      });

      it('an overrun fails as soon as it happens, not after the whole body', async () => {
        let pulled = 0;
        let finished = false;
        async function* endless(): AsyncGenerator<Uint8Array> {
          try {
            for (;;) {
              pulled++;
              yield randomBytes(1000);
            }
          } finally {
            finished = true;
          }
        }
        await expectCode(b.write('overrun', endless(), { size: 5000 }), 'FERRY_ERR_SIZE_MISMATCH');
        expect(pulled).toBeLessThan(50);
        await tick();
        expect(finished).toBe(true); // return() was called on the iterator
        expect(await allFiles(b)).toEqual([]);
      });

      it('a body that errors midway fails the write with that error as cause, leaving nothing', async () => {
        await b.write('kept', Buffer.from('old'));
        async function* failing(): AsyncGenerator<Uint8Array> {
          yield randomBytes(100_000);
          throw new Error('body broke (generator)');
        }
        let err = await attempt(() => b.write('broken', failing())).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(FerryError);
        expect(causeChainMentions(err, 'body broke (generator)')).toBe(true);

        let pushed = 0;
        const readable = new Readable({
          read() {
            if (pushed++ < 3) this.push(randomBytes(50_000));
            else this.destroy(new Error('body broke (stream)'));
          },
        });
        err = await attempt(() => b.write('kept', readable, { size: 1_000_000 })).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(FerryError);
        expect(causeChainMentions(err, 'body broke (stream)')).toBe(true);
        expect(await allFiles(b)).toEqual(['kept']);
        expect((await get(b, 'kept')).toString()).toBe('old');
      });

      it('an already aborted signal fails with FERRY_ERR_ABORTED and writes nothing', async () => {
        const ac = new AbortController();
        ac.abort();
        await expectCode(b.write('pre-aborted', Buffer.from('x'), { signal: ac.signal }), 'FERRY_ERR_ABORTED');
        await expectCode(b.read('pre-aborted', { signal: ac.signal }), 'FERRY_ERR_ABORTED');
        expect(await allFiles(b)).toEqual([]);
      });

      it('abort mid-write (stalled producer) fails with FERRY_ERR_ABORTED; nothing, not even a temporary, is listed', async () => {
        await b.write('sub/existing', Buffer.from('old'));
        for (const key of ['sub/fresh', 'sub/existing']) {
          const ac = new AbortController();
          const { body, waiting } = stalledBody(randomBytes(200_000));
          const writing = b.write(key, body, { signal: ac.signal });
          writing.catch(() => {});
          await waiting; // the first chunk went in; the backend waits for more
          expect(await allFiles(b)).toEqual(['sub/existing']); // the write in progress is invisible
          ac.abort();
          await expectCode(writing, 'FERRY_ERR_ABORTED');
          expect(await allFiles(b)).toEqual(['sub/existing']);
          expect((await get(b, 'sub/existing')).toString()).toBe('old');
        }
      });

      it('abort mid-write of a Readable destroys it and leaves nothing', async () => {
        const ac = new AbortController();
        let reads = 0;
        const readable = new Readable({
          read() {
            // One chunk, then silence: only the signal can end this write.
            if (reads++ === 0) this.push(randomBytes(100_000));
          },
        });
        const writing = b.write('stream-aborted', readable, { signal: ac.signal, size: 1_000_000 });
        writing.catch(() => {});
        while (reads < 2) await tick();
        ac.abort(new Error('caller gave up'));
        await expectCode(writing, 'FERRY_ERR_ABORTED');
        expect(readable.destroyed).toBe(true);
        expect(await allFiles(b)).toEqual([]);
      });

      it('abort mid-read fails the stream with FERRY_ERR_ABORTED (not a bare AbortError)', async () => {
        await b.write('long-read', randomBytes(4 * MiB));
        const ac = new AbortController();
        const stream = await b.read('long-read', { signal: ac.signal });
        let failed: unknown;
        try {
          for await (const _ of stream) {
            void _;
            ac.abort();
          }
        } catch (err) {
          failed = err;
        }
        expect(isFerryError(failed) ? failed.code : failed).toBe('FERRY_ERR_ABORTED');
      });
    });

    describe('directories (DirectoryMaker)', () => {
      it('virtual directories: no DirectoryMaker, and a directory never outlives its objects', async () => {
        if (b.features().directories === 'real') {
          expect(hasDirectories(b)).toBe(true);
          return;
        }
        expect(hasDirectories(b)).toBe(false);
        await b.write('vd/a/b', Buffer.from('x'));
        expect(await listing(b, 'vd')).toEqual(['dir:vd/a']);
        await b.delete('vd/a/b');
        expect(await listing(b, '', true)).toEqual([]);
      });

      it('mkdir makes empty directories (idempotent, with parents); rmdir removes empty ones', async () => {
        if (!hasDirectories(b)) {
          expect(b.features().directories).toBe('virtual'); // no mkdir: directories come from keys (above)
          return;
        }
        await b.mkdir('d1/d2');
        await b.mkdir('d1/d2');
        await b.mkdir('d1');
        expect(await listing(b, '')).toEqual(['dir:d1']);
        expect(await listing(b, '', true)).toEqual(['dir:d1', 'dir:d1/d2']);
        await expectCode(b.stat('d1'), 'FERRY_ERR_NOT_FOUND');
        await expectCode(b.rmdir('d1'), 'FERRY_ERR_DIRECTORY_NOT_EMPTY');
        await b.rmdir('d1/d2');
        await b.rmdir('d1/d2');
        await b.rmdir('never/there');
        expect(await listing(b, '', true)).toEqual(['dir:d1']);
        await b.write('d1/file', Buffer.from('x'));
        await expectCode(b.rmdir('d1'), 'FERRY_ERR_DIRECTORY_NOT_EMPTY');
        await b.delete('d1/file');
        await b.rmdir('d1');
        expect(await listing(b, '', true)).toEqual([]);
      });

      it('isDirectory (DirectoryChecker) tells an empty directory from a missing one and from an object (virtual: absent)', async () => {
        const real = b.features().directories === 'real';
        expect(canCheckDirectories(b)).toBe(real);
        if (canCheckDirectories(b) && hasDirectories(b)) {
          expect(await b.isDirectory('nd')).toBe(false);
          await b.mkdir('nd/empty');
          expect(await b.isDirectory('')).toBe(true); // the root (a local one exists once something is in it)
          await b.write('nd/obj', Buffer.from('x'));
          expect([await b.isDirectory('nd'), await b.isDirectory('nd/empty'), await b.isDirectory('nd/obj'), await b.isDirectory('nd/missing')]).toEqual([true, true, false, false]);
        } else {
          expect((b as Partial<DirectoryChecker>).isDirectory === undefined || b.features().directories === 'virtual').toBe(true);
        }
      });

      it('objects and directories do not share names (virtual: they may)', async () => {
        if (!hasDirectories(b)) {
          await b.write('f', Buffer.from('object'));
          await b.write('f/below', Buffer.from('x'));
          expect((await get(b, 'f')).toString()).toBe('object');
          expect((await get(b, 'f/below')).toString()).toBe('x');
          return;
        }
        await b.write('f', Buffer.from('object'));
        await b.mkdir('d');
        await expectCode(b.mkdir('f'), 'FERRY_ERR_ALREADY_EXISTS');
        await expectCode(b.mkdir('f/below'), 'FERRY_ERR_NOT_A_DIRECTORY');
        await expectCode(b.write('f/below', Buffer.from('x')), 'FERRY_ERR_NOT_A_DIRECTORY');
        await expectCode(b.write('d', Buffer.from('x')), 'FERRY_ERR_IS_A_DIRECTORY');
        await b.rmdir('f'); // an object is not a directory: nothing happens
        await b.delete('d'); // a directory is not an object: nothing happens
        expect(await listing(b, '', true)).toEqual(['dir:d', 'file:f']);
        expect((await get(b, 'f')).toString()).toBe('object');
      });
    });
  });
}

// ---- pass-through backends ----------------------------------------------------------------

/** Collects a stream into a buffer, or the error that ended it. */
async function settle(stream: Promise<AsyncIterable<unknown>>): Promise<{ data?: Buffer; error?: unknown }> {
  try {
    return { data: await readAll(await stream) };
  } catch (error) {
    return { error };
  }
}

/**
 * The contract for backends that keep nothing (`features().persistent === false`): a reader
 * attached to a key receives exactly what the next write to that key sends, with backpressure;
 * a failed write fails its readers instead of ending them cleanly.
 */
export function describePassThroughBackend(name: string, makeBackend: () => Promise<BackendUnderTest>, options: ConformanceOptions = {}): void {
  const largeBytes = options.largeBytes ?? 20 * MiB;
  const unknownSizeBytes = options.unknownSizeBytes ?? 8 * MiB;

  describe(`StorageBackend conformance (pass-through): ${name}`, () => {
    let b: StorageBackend;
    let cleanup: () => Promise<void>;
    beforeEach(async () => {
      ({ backend: b, cleanup } = await makeBackend());
    });
    afterEach(async () => {
      await b.close?.();
      await b.close?.();
      await cleanup();
    });

    it('declares itself pass-through and claims no ability that needs kept objects', () => {
      const f = b.features();
      expect(f.persistent).toBe(false);
      expect(b.name.length).toBeGreaterThan(0);
      expect([f.copy, f.move, f.setMtime, f.mtime, f.rangeRead]).toEqual([false, false, false, false, false]);
      expect(f.hashes).toEqual([]);
      expect(f.mtimePrecisionMs).toBe(0);
      expect(f.unknownSizeWrite).toBe(true);
      expect([canCopy(b), canMove(b), canSetMtime(b), canReadRange(b), hasDirectories(b)]).toEqual([false, false, false, false, false]);
    });

    it('a reader attached before the write receives every body form exactly; nothing is kept', async () => {
      const data = randomBytes(3000);
      const bodies: [string, () => WriteBody][] = [
        ['u8', () => new Uint8Array(data)],
        ['buf', () => data],
        ['readable', () => Readable.from([data.subarray(0, 1000), data.subarray(1000)])],
        ['iterable', () => (async function* () {
          yield data.subarray(0, 1);
          yield new Uint8Array(0);
          yield data.subarray(1);
        })()],
      ];
      for (const [key, body] of bodies) {
        const reading = b.read(key);
        const info = await b.write(key, body(), { size: 3000 });
        expect(info).toMatchObject({ key, size: 3000 });
        expect((await get2(reading)).equals(data), key).toBe(true);
        await expectCode(b.stat(key), 'FERRY_ERR_NOT_FOUND');
      }
      expect(await listing(b, '', true)).toEqual([]);
    });

    it('every attached reader receives the bytes; offset/length are applied per reader', async () => {
      const data = randomBytes(100_000);
      const whole = [b.read('fan'), b.read('fan')];
      const part = b.read('fan', { offset: 10, length: 50_000 });
      const tail = b.read('fan', { offset: 99_990 });
      await b.write('fan', Readable.from([data.subarray(0, 40_000), data.subarray(40_000)]));
      for (const r of whole) expect((await get2(r)).equals(data)).toBe(true);
      expect((await get2(part)).equals(data.subarray(10, 50_010))).toBe(true);
      expect((await get2(tail)).equals(data.subarray(99_990))).toBe(true);
    });

    it('copies what it hands on: a producer may reuse its chunk buffer after the next pull', async () => {
      const shared = Buffer.alloc(4096);
      const expected: Buffer[] = [];
      async function* reuse(): AsyncGenerator<Uint8Array> {
        for (let i = 0; i < 8; i++) {
          shared.fill(i + 1);
          expected.push(Buffer.from(shared));
          yield shared;
        }
      }
      const reading = b.read('reused');
      await b.write('reused', reuse());
      shared.fill(0xff);
      expect((await get2(reading)).equals(Buffer.concat(expected))).toBe(true);
    });

    it('empty objects end their readers cleanly with no bytes', async () => {
      const reading = b.read('empty');
      expect((await b.write('empty', new Uint8Array(0))).size).toBe(0);
      expect((await get2(reading)).length).toBe(0);
      const unknown = b.read('empty-unknown');
      await b.write('empty-unknown', (async function* () {})());
      expect((await get2(unknown)).length).toBe(0);
    });

    it(`streams a large object (${largeBytes} bytes) with backpressure: the writer never runs far ahead of a slow reader`, async () => {
      let produced = 0;
      let consumed = 0;
      let maxAhead = 0;
      const hash = createHash('sha256');
      async function* produce(): AsyncGenerator<Uint8Array> {
        for (let sent = 0; sent < largeBytes; sent += 256 * 1024) {
          const chunk = randomBytes(Math.min(256 * 1024, largeBytes - sent));
          hash.update(chunk);
          produced += chunk.length;
          maxAhead = Math.max(maxAhead, produced - consumed);
          yield chunk;
        }
      }
      const stream = await b.read('large.bin');
      const writing = b.write('large.bin', produce(), { size: largeBytes });
      const got = createHash('sha256');
      for await (const chunk of stream) {
        got.update(chunk as Uint8Array);
        consumed += (chunk as Uint8Array).byteLength;
        await tick(); // a reader slower than the writer
      }
      expect((await writing).size).toBe(largeBytes);
      expect(consumed).toBe(largeBytes);
      expect(got.digest('hex')).toBe(hash.digest('hex'));
      expect(maxAhead).toBeLessThan(4 * MiB);
    });

    it(`writes a body of unknown size (${unknownSizeBytes} bytes)`, async () => {
      const { body, digest } = streamedBody(unknownSizeBytes, 100_000);
      const reading = b.read('unknown-size.bin');
      // Read while writing: past the readers' buffers the writer waits for them.
      const [info, got] = await Promise.all([b.write('unknown-size.bin', body), reading.then(streamDigest)]);
      expect(info.size).toBe(unknownSizeBytes);
      expect(got).toEqual({ digest: digest(), size: unknownSizeBytes });
    });

    it('size mismatch fails the write with FERRY_ERR_SIZE_MISMATCH and fails its readers', async () => {
      const short = b.read('short');
      await expectCode(b.write('short', Readable.from([randomBytes(50)]), { size: 100 }), 'FERRY_ERR_SIZE_MISMATCH');
      expect((await settle(short)).error).toBeInstanceOf(FerryError);
      const long = b.read('long');
      const body = Readable.from([randomBytes(40), randomBytes(40)]);
      await expectCode(b.write('long', body, { size: 50 }), 'FERRY_ERR_SIZE_MISMATCH');
      expect(body.destroyed).toBe(true);
      expect((await settle(long)).error).toBeInstanceOf(FerryError);
    });

    it('a body that errors midway fails the write (error as cause) and its readers', async () => {
      const reading = b.read('broken');
      async function* failing(): AsyncGenerator<Uint8Array> {
        yield randomBytes(100_000);
        throw new Error('body broke (generator)');
      }
      const err = await attempt(() => b.write('broken', failing())).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(FerryError);
      expect(causeChainMentions(err, 'body broke (generator)')).toBe(true);
      expect((await settle(reading)).error).toBeDefined();
    });

    it('abort mid-write (stalled producer) fails with FERRY_ERR_ABORTED and fails the readers', async () => {
      const reading = settle(b.read('stalled'));
      const ac = new AbortController();
      const { body, waiting } = stalledBody(randomBytes(200_000));
      const writing = b.write('stalled', body, { signal: ac.signal });
      writing.catch(() => {});
      await waiting;
      ac.abort();
      await expectCode(writing, 'FERRY_ERR_ABORTED');
      expect((await reading).error).toBeDefined();
    });

    it('an already aborted signal fails write and read with FERRY_ERR_ABORTED', async () => {
      const ac = new AbortController();
      ac.abort();
      await expectCode(b.write('pre-aborted', Buffer.from('x'), { signal: ac.signal }), 'FERRY_ERR_ABORTED');
      await expectCode(b.read('pre-aborted', { signal: ac.signal }), 'FERRY_ERR_ABORTED');
    });

    it('a waiting reader gives up when its signal aborts; the next writer is not held by it', async () => {
      const ac = new AbortController();
      const waiting = settle(b.read('given-up', { signal: ac.signal }));
      ac.abort();
      expect((await waiting).error).toBeDefined();
      const reading = b.read('given-up');
      await b.write('given-up', Buffer.from('for the live reader'));
      expect((await get2(reading)).toString()).toBe('for the live reader');
    });

    it('abort mid-read fails that reader only; the write completes for the others', async () => {
      const data = randomBytes(4 * MiB);
      const ac = new AbortController();
      const quitter = await b.read('long-read', { signal: ac.signal });
      const stayer = b.read('long-read');
      const writing = b.write('long-read', data);
      let failed: unknown;
      try {
        for await (const _ of quitter) {
          void _;
          ac.abort();
        }
      } catch (err) {
        failed = err;
      }
      expect(failed).toBeDefined();
      expect((await get2(stayer)).equals(data)).toBe(true);
      expect((await writing).size).toBe(data.length);
    });

    it('refuses invalid keys with FERRY_ERR_PATH_INVALID; stat, list and delete find nothing kept', async () => {
      for (const key of ['../x', 'a/../b', 'a\u0000b', 'new\nline', 'a'.repeat(256)]) {
        await expectCode(attempt(() => b.write(key, Buffer.from('x'))), 'FERRY_ERR_PATH_INVALID');
        await expectCode(attempt(() => b.read(key)), 'FERRY_ERR_PATH_INVALID');
        await expectCode(attempt(() => b.stat(key)), 'FERRY_ERR_PATH_INVALID');
        await expectCode(attempt(() => b.delete(key)), 'FERRY_ERR_PATH_INVALID');
        await expectCode(attempt(() => entries(b, key)), 'FERRY_ERR_PATH_INVALID');
      }
      for (const n of NASTY_NAMES) {
        const reading = b.read(`nasty/${n}`);
        await b.write(`nasty/${n}`, Buffer.from(n));
        expect((await get2(reading)).toString(), n).toBe(n);
      }
      await b.delete('nasty/never');
      await expectCode(b.stat('nasty/never'), 'FERRY_ERR_NOT_FOUND');
      expect(await listing(b, '', true)).toEqual([]);
    });
  });
}

async function get2(stream: Promise<AsyncIterable<unknown>>): Promise<Buffer> {
  return readAll(await stream);
}
