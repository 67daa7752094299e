import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { FerryError, IoError, PermissionError } from '../../core/errors.js';
import type { StorageBackend } from '../../core/storage.js';
import { MemoryBackend } from '../memory/memory-backend.js';
import { compress, decodeNdjson, decompress, encodeNdjson, MultiWriter, readRecords, writeRecords, type Codec } from './index.js';

async function collect<T>(source: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of source) out.push(x);
  return out;
}

async function bytesOf(source: AsyncIterable<unknown>): Promise<Buffer> {
  return Buffer.concat((await collect(source)).map((c) => Buffer.from(c as Uint8Array)));
}

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('NDJSON records', () => {
  const records = [
    { id: 1, name: 'plain' },
    { id: 2, name: 'Ünïcödé 日本語 🚀', nested: { list: [1, 2, 3], none: null } },
    'a bare string with a\nnewline inside',
    42,
    [true, false],
  ];

  it('round-trips records through a backend, plain and compressed', async () => {
    const b = new MemoryBackend();
    for (const codec of [undefined, 'gzip', 'zstd'] as const) {
      const key = `log.ndjson${codec ? '.' + codec : ''}`;
      await writeRecords(b, key, records, { codec });
      expect(await collect(readRecords(b, key, { codec })), String(codec)).toEqual(records);
    }
    expect((await bytesOf(await b.read('log.ndjson'))).toString().split('\n').length).toBe(records.length + 1);
  });

  it('streams many records in batches and parses lines and characters split across chunks', async () => {
    const many = Array.from({ length: 20_000 }, (_, i) => ({ i, text: 'é'.repeat(i % 7) }));
    const encoded = await collect(encodeNdjson(many));
    expect(encoded.length).toBeGreaterThan(5); // batched, not one buffer
    const whole = Buffer.concat(encoded);
    // Re-chunk at awkward sizes: 1-byte pieces cut lines and two-byte characters.
    const pieces = async function* () {
      for (let at = 0; at < whole.length; at += 997) yield whole.subarray(at, at + 997);
      yield Buffer.alloc(0);
    };
    expect(await collect(decodeNdjson(pieces()))).toEqual(many);
    const tiny = async function* () {
      const text = Buffer.from('{"a":"é"}\n\n{"b":2}');
      for (const byte of text) yield Buffer.from([byte]);
    };
    expect(await collect(decodeNdjson(tiny()))).toEqual([{ a: 'é' }, { b: 2 }]);
  });

  it('a line that is not JSON fails with FERRY_ERR_VALIDATION naming it; records without JSON form are refused', async () => {
    const err = await collect(decodeNdjson(Readable.from([Buffer.from('{"ok":1}\n{broken\n')]))).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'FERRY_ERR_VALIDATION', details: { line: 2 } });
    await expect(collect(encodeNdjson([1, undefined]))).rejects.toMatchObject({ code: 'FERRY_ERR_VALIDATION' });
  });
});

describe('compression', () => {
  for (const codec of ['gzip', 'zstd'] as Codec[]) {
    it(`${codec}: round-trips 8 MiB streamed (random and compressible), and compresses`, async () => {
      const random = randomBytes(4 * 1024 * 1024);
      const text = Buffer.from('ferry '.repeat(700_000));
      const input = async function* () {
        for (let at = 0; at < random.length; at += 65536) yield random.subarray(at, at + 65536);
        yield text;
      };
      const packed = await bytesOf(compress(input(), codec));
      expect(packed.length).toBeLessThan(random.length + text.length / 10);
      const unpacked = await bytesOf(decompress(Readable.from([packed.subarray(0, 1000), packed.subarray(1000)]), codec));
      expect(sha(unpacked)).toBe(sha(Buffer.concat([random, text])));
    });

    it(`${codec}: corrupt or truncated input fails with FERRY_ERR_VALIDATION`, async () => {
      const packed = await bytesOf(compress(Readable.from([randomBytes(100_000)]), codec));
      const garbage = await bytesOf(decompress(Readable.from([randomBytes(5000)]), codec)).catch((e: unknown) => e);
      expect(garbage).toMatchObject({ code: 'FERRY_ERR_VALIDATION' });
      const truncated = await bytesOf(decompress(Readable.from([packed.subarray(0, packed.length - 100)]), codec)).catch((e: unknown) => e);
      expect(truncated).toMatchObject({ code: 'FERRY_ERR_VALIDATION' });
    });
  }
});

/** A backend whose writes fail after `after` bytes with `error` (after reading them, as a broken upload would). */
function failing(name: string, error: FerryError, after = 0): StorageBackend {
  const inner = new MemoryBackend();
  return {
    name,
    features: () => inner.features(),
    stat: (k, o) => inner.stat(k, o),
    read: (k, o) => inner.read(k, o),
    delete: (k, o) => inner.delete(k, o),
    list: (p, o) => inner.list(p, o),
    async write(_key, body) {
      let seen = 0;
      const iterator = (body as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]();
      if (after === 0) {
        void iterator.return?.();
        throw error;
      }
      for (let step = await iterator.next(); !step.done; step = await iterator.next()) {
        seen += step.value.byteLength;
        if (seen >= after) {
          void iterator.return?.();
          throw error;
        }
      }
      throw error;
    },
  };
}

describe('MultiWriter', () => {
  const data = randomBytes(3 * 1024 * 1024 + 5);
  const body = () => Readable.from((function* () {
    for (let at = 0; at < data.length; at += 100_000) yield data.subarray(at, at + 100_000);
  })());

  it('all: every backend gets identical bytes; the report lists each', async () => {
    const backends = [new MemoryBackend(), new MemoryBackend(), new MemoryBackend()];
    const report = await new MultiWriter(backends, { mode: 'all' }).write('k', body());
    expect(report).toMatchObject({ ok: true, succeeded: 3, failed: 0 });
    for (const b of backends) expect(sha(await bytesOf(await b.read('k')))).toBe(sha(data));
  });

  it('all: one backend failing midway fails the write, reports it, and removes the copies made', async () => {
    const good = [new MemoryBackend(), new MemoryBackend()];
    const bad = failing('broken', new IoError('disk on fire'), 1_000_000);
    const err = await new MultiWriter([good[0], bad, good[1]], { mode: 'all' }).write('k', body()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FerryError);
    const report = (err as FerryError).details?.report as { ok: boolean; outcomes: { backend: string; ok: boolean; error?: FerryError }[] };
    expect(report.ok).toBe(false);
    expect(report.outcomes.find((o) => o.backend === 'broken')?.error?.message).toContain('disk on fire');
    expect((err as FerryError).message).toContain('broken: disk on fire');
    for (const b of good) await expect(b.stat('k')).rejects.toMatchObject({ code: 'FERRY_ERR_NOT_FOUND' });
  });

  it('all: the error is the real cause (its code, retryability and cause), not the aborts it caused', async () => {
    const good = [new MemoryBackend(), new MemoryBackend()];
    const cause = new IoError('disk on fire');
    // The failing backend is not the first: the ones before it are aborted because of it.
    const err = (await new MultiWriter([good[0], failing('broken', cause, 1_000_000), good[1]], { mode: 'all' }).write('k', body()).catch((e: unknown) => e)) as FerryError;
    expect(err).toBeInstanceOf(FerryError);
    expect(err.code).toBe('FERRY_ERR_IO');
    expect(err.retryable).toBe(cause.retryable);
    expect(err.cause).toBe(cause);
    expect(err.message).toMatch(/^k: stored on 0 of 3 backends, 3 needed \(all\): broken: disk on fire; /);
    const report = err.details?.report as { outcomes: { backend: string; error?: FerryError }[] };
    expect(report.outcomes.filter((o) => o.error?.code === 'FERRY_ERR_ABORTED')).toHaveLength(2);
    // A write the caller aborts is FERRY_ERR_ABORTED, as it should be.
    const ac = new AbortController();
    const slow = Readable.from((async function* () {
      yield data.subarray(0, 1000);
      ac.abort();
      yield data.subarray(1000, 2000);
    })());
    const aborted = await new MultiWriter([new MemoryBackend(), new MemoryBackend()], { mode: 'all' }).write('k2', slow, { signal: ac.signal }).catch((e: unknown) => e);
    expect(aborted).toMatchObject({ code: 'FERRY_ERR_ABORTED' });
  });

  it('best-effort: succeeds with the healthy backends and reports the failing one', async () => {
    const healthy = [new MemoryBackend(), new MemoryBackend()];
    const report = await new MultiWriter([failing('refuses', new PermissionError('no')), ...healthy], { mode: 'best-effort' }).write('k', body());
    expect(report).toMatchObject({ ok: true, succeeded: 2, failed: 1 });
    expect(report.outcomes[0]).toMatchObject({ backend: 'refuses', ok: false, error: { code: 'FERRY_ERR_PERMISSION' } });
    for (const b of healthy) expect(sha(await bytesOf(await b.read('k')))).toBe(sha(data));
  });

  it('quorum: 2 of 3 with one failing counts; 2 of 3 with two failing does not', async () => {
    const a = new MemoryBackend();
    const b = new MemoryBackend();
    const ok = await new MultiWriter([a, failing('x', new IoError('x'), 500_000), b], { mode: 'quorum' }).write('k', body());
    expect(ok).toMatchObject({ ok: true, succeeded: 2, failed: 1 });
    const c = new MemoryBackend();
    const err = await new MultiWriter([failing('x', new IoError('x')), c, failing('y', new IoError('y'), 200_000)], { mode: 'quorum', quorum: 2 })
      .write('k', body())
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'FERRY_ERR_IO' });
    await expect(c.stat('k')).rejects.toMatchObject({ code: 'FERRY_ERR_NOT_FOUND' });
  });

  it('a body failure fails every backend and leaves nothing', async () => {
    const backends = [new MemoryBackend(), new MemoryBackend()];
    const broken = (async function* () {
      yield randomBytes(1000);
      throw new Error('producer died');
    })();
    await expect(new MultiWriter(backends, { mode: 'best-effort' }).write('k', broken)).rejects.toBeInstanceOf(FerryError);
    for (const b of backends) await expect(b.stat('k')).rejects.toMatchObject({ code: 'FERRY_ERR_NOT_FOUND' });
    expect(() => new MultiWriter(backends, { mode: 'quorum', quorum: 3 })).toThrow(/quorum/);
  });
});
