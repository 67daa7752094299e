import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { treeDigestOf } from '../../src/core/tree-digest.js';
import { abilitiesOf, withBandwidthLimit, withDryRun, withLogging, withRetry, type Call, type StorageLogEntry } from '../../src/backends/decorators/index.js';
import { MemoryBackend } from '../../src/backends/memory/memory-backend.js';
import { FerryError, NetworkError, NotFoundError, RateLimitedError } from '../../src/core/errors.js';
import { canCopy, canHash, canIdentify, canMove, canReadRange, canSetMtime, hasDirectories, type Identifier, type StorageBackend } from '../../src/core/storage.js';
import { describeStorageBackend } from '../conformance/storage-backend.js';

const noSleep = { sleep: async () => {} };

// The decorated backends are backends: the whole suite holds for them.
describeStorageBackend('retry(memory)', async () => ({ backend: withRetry(new MemoryBackend({ directories: 'real' }), noSleep), cleanup: async () => {} }));
describeStorageBackend('bandwidth(memory)', async () => ({
  backend: withBandwidthLimit(new MemoryBackend(), { bytesPerSecond: 4e9 }),
  cleanup: async () => {},
}));
describeStorageBackend('logging(memory)', async () => ({ backend: withLogging(new MemoryBackend({ directories: 'real' }), () => {}), cleanup: async () => {} }));

const ALL = ['copy', 'move', 'setMtime', 'hash', 'readRange', 'mkdir', 'rmdir', 'isDirectory'];

/** Records which methods of the inner backend were reached. */
function recording(inner: StorageBackend, reached: string[]): StorageBackend {
  return new Proxy(inner, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      if (prop === 'features') return value.bind(target);
      return (...args: unknown[]) => {
        reached.push(String(prop));
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

/** Only the required methods (and a features record saying so). */
function requiredOnly(inner: StorageBackend): StorageBackend {
  return {
    name: 'required-only',
    features: () => ({ ...inner.features(), copy: false, move: false, setMtime: false, directories: 'virtual' }),
    stat: (k, o) => inner.stat(k, o),
    read: (k, o) => inner.read(k, o),
    write: (k, b, o) => inner.write(k, b, o),
    delete: (k, o) => inner.delete(k, o),
    list: (p, o) => inner.list(p, o),
  };
}

const DECORATORS: [string, (b: StorageBackend) => StorageBackend][] = [
  ['retry', (b) => withRetry(b, noSleep)],
  ['bandwidth', (b) => withBandwidthLimit(b, { bytesPerSecond: 1e9 })],
  ['logging', (b) => withLogging(b, () => {})],
  ['dry-run', (b) => withDryRun(b)],
  ['all four stacked', (b) => withDryRun(withLogging(withBandwidthLimit(withRetry(b, noSleep), { bytesPerSecond: 1e9 }), () => {}))],
];

describe('decorators forward every ability of what they wrap, and invent none', () => {
  for (const [label, wrap] of DECORATORS) {
    it(`${label}: a backend with every ability keeps every ability, and each call reaches it`, async () => {
      const reached: string[] = [];
      const inner = new MemoryBackend({ directories: 'real' });
      await inner.write('src', Buffer.from('data'));
      const d = wrap(recording(inner, reached));
      expect(abilitiesOf(d)).toEqual(ALL);
      expect([canCopy(d), canMove(d), canSetMtime(d), canHash(d), canReadRange(d), hasDirectories(d)]).toEqual([true, true, true, true, true, true]);
      expect(d.features()).toEqual(inner.features());
      const b = d as StorageBackend & Required<Pick<MemoryBackend, 'copy' | 'move' | 'setMtime' | 'hash' | 'readRange' | 'mkdir' | 'rmdir' | 'isDirectory'>>;
      await b.copy('src', 'copied');
      await b.setMtime('src', 1_600_000_000_000);
      expect(await b.hash('src', 'sha256')).toMatch(/^[0-9a-f]{64}$/);
      expect((await b.readRange('src', 1, 2)).toString()).toBe('at');
      await b.mkdir('dir');
      expect(await b.isDirectory('src')).toBe(false);
      await b.rmdir('dir');
      await b.move('src', 'moved');
      const mutating = new Set(['copy', 'move', 'setMtime', 'mkdir', 'rmdir']);
      const expected = label === 'dry-run' || label === 'all four stacked' ? ALL.filter((m) => !mutating.has(m)) : ALL;
      for (const method of expected) expect(reached, method).toContain(method);
      if (expected !== ALL) for (const method of mutating) expect(reached, `${method} must be skipped`).not.toContain(method);
    });

    it(`${label}: a backend with only the required methods gets no ability`, () => {
      const d = wrap(requiredOnly(new MemoryBackend()));
      expect(abilitiesOf(d)).toEqual([]);
      expect([canCopy(d), canMove(d), canSetMtime(d), canHash(d), canReadRange(d), hasDirectories(d)]).toEqual([false, false, false, false, false, false]);
      for (const method of ALL) expect((d as unknown as Record<string, unknown>)[method], method).toBeUndefined();
    });

    it(`${label}: a backend with some abilities (copy and readRange, no move) keeps exactly those`, () => {
      const inner = new MemoryBackend();
      const partial = Object.assign(requiredOnly(inner), {
        features: () => ({ ...inner.features(), move: false, setMtime: false }),
        copy: inner.copy.bind(inner),
        readRange: inner.readRange.bind(inner),
      });
      const d = wrap(partial);
      expect(abilitiesOf(d)).toEqual(['copy', 'readRange']);
      expect([canCopy(d), canMove(d), canReadRange(d)]).toEqual([true, false, true]);
    });
  }
});

/** A memory backend whose calls fail with the given errors first. */
function flaky(errors: Error[]): { backend: StorageBackend; inner: MemoryBackend; calls: () => number } {
  const inner = new MemoryBackend();
  let calls = 0;
  const next = () => {
    calls++;
    const err = errors.shift();
    if (err) throw err;
  };
  const backend: StorageBackend = {
    name: 'flaky',
    features: () => inner.features(),
    stat: async (k, o) => (next(), inner.stat(k, o)),
    read: async (k, o) => (next(), inner.read(k, o)),
    write: async (k, b, o) => (next(), inner.write(k, b, o)),
    delete: async (k, o) => (next(), inner.delete(k, o)),
    async *list(p, o) {
      next();
      yield* inner.list(p, o);
    },
  };
  return { backend, inner, calls: () => calls };
}

describe('withRetry', () => {
  it('retries retryable errors with jittered backoff, honouring Retry-After as a floor', async () => {
    const { backend, calls } = flaky([new NetworkError('reset'), new RateLimitedError('slow down', { retryAfterMs: 5000 })]);
    const waits: number[] = [];
    const retried: string[] = [];
    const b = withRetry(backend, { sleep: async (ms) => void waits.push(ms), random: () => 0.5, onRetry: (call: Call) => retried.push(call.op) });
    await b.write('k', Buffer.from('v'));
    expect(calls()).toBe(3);
    expect(waits[0]).toBe(100); // half of the first 200 ms window
    expect(waits[1]).toBe(5000);
    expect(retried).toEqual(['write', 'write']);
  });

  it('throws fatal errors at once, and gives up after the policy’s retries', async () => {
    const fatal = flaky([new NotFoundError('gone')]);
    await expect(withRetry(fatal.backend, noSleep).stat('k')).rejects.toMatchObject({ code: 'FERRY_ERR_NOT_FOUND' });
    expect(fatal.calls()).toBe(1);
    const down = flaky(Array.from({ length: 10 }, () => new NetworkError('down')));
    await expect(withRetry(down.backend, { ...noSleep, policy: { retries: 3 } }).stat('k')).rejects.toMatchObject({ code: 'FERRY_ERR_NETWORK' });
    expect(down.calls()).toBe(4);
  });

  it('never sends a stream body twice; retries a listing only before its first entry', async () => {
    const once = flaky([new NetworkError('reset')]);
    await expect(withRetry(once.backend, noSleep).write('k', Readable.from([Buffer.from('v')]))).rejects.toBeInstanceOf(FerryError);
    expect(once.calls()).toBe(1);
    const listing = flaky([new NetworkError('reset')]);
    await listing.inner.write('a', Buffer.from('x'));
    const keys: string[] = [];
    for await (const e of withRetry(listing.backend, noSleep).list('')) keys.push(e.key);
    expect(keys).toEqual(['a']);
  });

  it('an abort during the backoff ends the call with FERRY_ERR_ABORTED', async () => {
    const { backend } = flaky([new NetworkError('reset')]);
    const ac = new AbortController();
    const b = withRetry(backend, { policy: { baseMs: 60_000 }, random: () => 1 });
    const pending = b.stat('k', { signal: ac.signal });
    setImmediate(() => ac.abort());
    await expect(pending).rejects.toMatchObject({ code: 'FERRY_ERR_ABORTED' });
  });
});

describe('withBandwidthLimit', () => {
  it('holds writes and reads to the rate (virtual clock: the sleeps add up to bytes / rate)', async () => {
    let now = 0;
    const clock = { now: () => now, sleep: async (ms: number) => void (now += ms) };
    const b = withBandwidthLimit(new MemoryBackend(), { bytesPerSecond: 1024 * 1024, clock });
    const data = Buffer.alloc(4 * 1024 * 1024, 1);
    await b.write('big', data);
    // 4 MiB at 1 MiB/s, less the initial burst (a tenth of a second's worth).
    expect(now).toBeGreaterThanOrEqual(3900);
    expect(now).toBeLessThanOrEqual(4000);
    const before = now;
    let n = 0;
    for await (const chunk of await b.read('big')) n += (chunk as Buffer).length;
    expect(n).toBe(data.length);
    expect(now - before).toBeGreaterThanOrEqual(3900);
  });
});

describe('withLogging', () => {
  it('reports each call with its outcome and no data', async () => {
    const entries: StorageLogEntry[] = [];
    const b = withLogging(new MemoryBackend(), (e) => entries.push(e));
    await b.write('a', Buffer.from('hello'));
    await b.stat('nope').catch(() => {});
    for await (const _ of b.list('')) void _;
    expect(entries.map((e) => [e.op, e.key, e.ok, e.error, e.bytes])).toEqual([
      ['write', 'a', true, undefined, 5],
      ['stat', 'nope', false, 'FERRY_ERR_NOT_FOUND', undefined],
      ['list', '', true, undefined, undefined],
    ]);
  });
});

describe('withDryRun', () => {
  it('changes nothing, reports what it would do, consumes bodies of unknown size and keeps read errors', async () => {
    const inner = new MemoryBackend({ directories: 'real' });
    await inner.write('keep', Buffer.from('old'));
    const skipped: string[] = [];
    const b = withDryRun(inner, (call) => skipped.push(`${call.op} ${call.key}${call.to ? ' ' + call.to : ''}`));
    const body = Readable.from([Buffer.alloc(1000), Buffer.alloc(500)]);
    expect(await b.write('new', body)).toEqual({ key: 'new', size: 1500 });
    expect(body.readableEnded).toBe(true);
    await (b as MemoryBackend).move('keep', 'moved');
    await b.delete('moved');
    await expect((b as MemoryBackend).copy('missing', 'x')).rejects.toMatchObject({ code: 'FERRY_ERR_NOT_FOUND' });
    await (b as MemoryBackend).mkdir('d');
    await expect(b.write('../evil', Buffer.from('x'))).rejects.toMatchObject({ code: 'FERRY_ERR_PATH_INVALID' });
    expect(skipped).toEqual(['write new', 'move keep moved', 'delete moved', 'mkdir d']);
    const left: string[] = [];
    for await (const e of inner.list('', { recursive: true })) left.push(e.key);
    expect(left).toEqual(['keep']);
    expect((await inner.read('keep')).read()?.toString()).toBe('old');
  });

  it('releases a body of announced size unread, and answers with the announced size and time', async () => {
    const b = withDryRun(new MemoryBackend());
    let started = false;
    const lazy = (async function* () {
      started = true;
      yield Buffer.from('never read');
    })();
    expect(await b.write('f', lazy, { size: 10, mtime: 1_600_000_000_000 })).toEqual({ key: 'f', size: 10, mtime: 1_600_000_000_000 });
    expect(started).toBe(false);
    const stream = Readable.from([Buffer.from('abc')]);
    await b.write('g', stream, { size: 3 });
    expect(stream.destroyed).toBe(true);
  });

  it('sees its own changes: moved keys stat as their source, removed keys are gone, written keys stat as written', async () => {
    const inner = new MemoryBackend();
    await inner.write('a', Buffer.from('aaaa'), { mtime: 1_600_000_000_000 });
    const b = withDryRun(inner) as MemoryBackend;
    await b.move('a', 'b');
    expect(await b.stat('b')).toMatchObject({ key: 'b', size: 4, mtime: 1_600_000_000_000 });
    await expect(b.stat('a')).rejects.toMatchObject({ code: 'FERRY_ERR_NOT_FOUND' });
    await expect(b.read('a')).rejects.toMatchObject({ code: 'FERRY_ERR_NOT_FOUND' });
    await b.setMtime('b', 1_700_000_000_000); // checked against the moved file, not refused
    await b.copy('b', 'c');
    expect(await b.stat('c')).toMatchObject({ key: 'c', size: 4 });
    await b.write('new', Buffer.from('12345'), { mtime: 5 });
    expect(await b.stat('new')).toEqual({ key: 'new', size: 5, mtime: 5 });
    await b.delete('new');
    await expect(b.stat('new')).rejects.toMatchObject({ code: 'FERRY_ERR_NOT_FOUND' });
    await expect(b.setMtime('new', 1)).rejects.toMatchObject({ code: 'FERRY_ERR_NOT_FOUND' });
    // and the inner backend holds what it held
    const keys: string[] = [];
    for await (const e of inner.list('')) keys.push(e.key);
    expect(keys).toEqual(['a']);
  });
});

/** A memory backend with the bulk abilities of core/storage-bulk.ts (as a Ferry server has them). */
function bulky(inner = new MemoryBackend(), reached: string[] = [], failReads: Error[] = []) {
  const limits = { maxObjectSize: 1 << 20, maxObjects: 100, maxBytes: 1 << 24 };
  return Object.assign(requiredOnly(inner), {
    batchWriteLimits: async () => limits,
    batchReadLimits: async () => limits,
    treeHashParams: async () => ({ algorithm: 'fastcdc-v1' as const, minSize: 1024, avgSize: 4096, maxSize: 16384, normalization: 0 }),
    async writeBatch(items: readonly { key: string; data: Buffer; mtime?: number }[]) {
      reached.push('writeBatch');
      return Promise.all(items.map((it) => inner.write(it.key, it.data, { mtime: it.mtime })));
    },
    async treeDigest(prefix: string) {
      reached.push('treeDigest');
      const files = new Map<string, { size: number; mtime?: number }>();
      for await (const e of inner.list(prefix, { recursive: true })) if (e.type === 'file') files.set(e.key, { size: e.size ?? 0, mtime: e.mtime });
      return treeDigestOf(files, []);
    },
    async readBatch(keys: readonly string[]) {
      reached.push('readBatch');
      const err = failReads.shift();
      if (err) throw err;
      return Promise.all(keys.map(async (k) => Buffer.concat(await (await inner.read(k)).toArray())));
    },
  });
}

describe('decorators and the bulk abilities', () => {
  const BULK = ['writeBatch', 'batchWriteLimits', 'readBatch', 'batchReadLimits', 'treeHashParams', 'treeDigest'];
  for (const [label, wrap] of DECORATORS) {
    it(`${label}: forwards the bulk abilities of what it wraps`, async () => {
      const reached: string[] = [];
      const inner = new MemoryBackend();
      await inner.write('r', Buffer.from('read me'));
      const d = wrap(bulky(inner, reached)) as unknown as ReturnType<typeof bulky>;
      expect(abilitiesOf(d)).toEqual(BULK);
      expect((await d.batchWriteLimits()).maxObjects).toBe(100);
      expect((await d.treeHashParams()).algorithm).toBe('fastcdc-v1');
      expect((await d.readBatch(['r']))[0].toString()).toBe('read me');
      const infos = await d.writeBatch([{ key: 'w', data: Buffer.from('12345'), mtime: 7 }]);
      expect(infos[0]).toMatchObject({ key: 'w', size: 5 });
      const dry = label === 'dry-run' || label === 'all four stacked';
      // A digest is a reading: a dry run's is the inner backend's, as its listings are.
      const files = new Map([['r', { size: 7, mtime: (await inner.stat('r')).mtime }]]);
      if (!dry) files.set('w', { size: 5, mtime: 7 });
      expect(await d.treeDigest('')).toBe(treeDigestOf(files, []));
      expect(reached).toEqual(dry ? ['readBatch', 'treeDigest'] : ['readBatch', 'writeBatch', 'treeDigest']);
      const stored = await inner.stat('w').then(() => true, () => false);
      expect(stored).toBe(!dry);
    });
  }

  it('withRetry retries a failed readBatch; withLogging counts a batch; withBandwidthLimit paces it', async () => {
    const reached: string[] = [];
    const inner = new MemoryBackend();
    await inner.write('r', Buffer.from('x'));
    const r = withRetry(bulky(inner, reached, [new NetworkError('reset')]), noSleep) as unknown as ReturnType<typeof bulky>;
    expect((await r.readBatch(['r']))[0].toString()).toBe('x');
    expect(reached).toEqual(['readBatch', 'readBatch']);
    const failing = bulky(inner, reached);
    const digest = failing.treeDigest;
    let fails = 1;
    failing.treeDigest = async (prefix: string) => {
      if (fails-- > 0) throw new NetworkError('reset');
      return digest(prefix);
    };
    expect(await (withRetry(failing, noSleep) as unknown as ReturnType<typeof bulky>).treeDigest('')).toMatch(/^tree-digest-v1:/);
    expect(fails).toBe(-1);
    const entries: StorageLogEntry[] = [];
    const l = withLogging(bulky(new MemoryBackend()), (e) => entries.push(e)) as unknown as ReturnType<typeof bulky>;
    await l.writeBatch([{ key: 'a', data: Buffer.alloc(3) }, { key: 'b', data: Buffer.alloc(4) }]);
    expect(entries).toMatchObject([{ op: 'writeBatch', key: 'a', count: 2, bytes: 7, ok: true }]);
    let now = 0;
    const clock = { now: () => now, sleep: async (ms: number) => void (now += ms) };
    const bw = withBandwidthLimit(bulky(new MemoryBackend()), { bytesPerSecond: 1024 * 1024, clock }) as unknown as ReturnType<typeof bulky>;
    await bw.writeBatch([{ key: 'big', data: Buffer.alloc(2 * 1024 * 1024) }]);
    expect(now).toBeGreaterThanOrEqual(1900);
  });
});

describe('withRetry and enclosing retry loops', () => {
  it('marks an error it gave up on as spent (not retryable), so callers do not multiply attempts', async () => {
    const down = flaky(Array.from({ length: 10 }, () => new NetworkError('down')));
    const err = await withRetry(down.backend, { ...noSleep, policy: { retries: 2 } }).stat('k').catch((e: unknown) => e);
    expect(down.calls()).toBe(3);
    expect(err).toMatchObject({ code: 'FERRY_ERR_NETWORK', retryable: false });
  });

  it('leaves the error of a stream write (which it cannot repeat) retryable for the caller', async () => {
    const once = flaky([new NetworkError('reset')]);
    const err = await withRetry(once.backend, noSleep).write('k', Readable.from([Buffer.from('v')])).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'FERRY_ERR_NETWORK', retryable: true });
  });
});

describe('decorators forward identityOf (where a key is) as it is', () => {
  for (const [label, wrap] of DECORATORS) {
    it(`${label}: present when the inner backend has it, absent otherwise`, async () => {
      const inner = Object.assign(requiredOnly(new MemoryBackend()), { identityOf: async (key: string) => ({ store: 'one', path: '/' + key }) });
      const d = wrap(inner);
      expect(abilitiesOf(d)).toEqual(['identityOf']);
      expect(canIdentify(d)).toBe(true);
      expect(await (d as StorageBackend & Identifier).identityOf('a/b')).toEqual({ store: 'one', path: '/a/b' });
      expect(canIdentify(wrap(requiredOnly(new MemoryBackend())))).toBe(false);
    });
  }
});
