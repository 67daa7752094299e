import { createHash } from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import { MemoryBackend } from '../../src/backends/memory/memory-backend.js';
import { describeStorageBackend } from '../conformance/storage-backend.js';

describeStorageBackend('memory (virtual directories)', async () => ({ backend: new MemoryBackend(), cleanup: async () => {} }));
describeStorageBackend('memory (real directories)', async () => ({
  backend: new MemoryBackend({ directories: 'real' }),
  cleanup: async () => {},
}));

describe('MemoryBackend named stores', () => {
  it('the same name shares one store within the process; other names and anonymous stores do not', async () => {
    const a = MemoryBackend.named('shared-test');
    const b = MemoryBackend.named('shared-test');
    await a.write('k', Buffer.from('v'));
    expect((await b.stat('k')).size).toBe(1);
    expect(b.name).toBe('memory:shared-test');
    await expect(MemoryBackend.named('other-test').stat('k')).rejects.toMatchObject({ code: 'FERRY_ERR_NOT_FOUND' });
    await expect(new MemoryBackend().stat('k')).rejects.toMatchObject({ code: 'FERRY_ERR_NOT_FOUND' });
    MemoryBackend.forget('shared-test');
    await expect(MemoryBackend.named('shared-test').stat('k')).rejects.toMatchObject({ code: 'FERRY_ERR_NOT_FOUND' });
    MemoryBackend.forget('shared-test');
  });

  it('refuses to reopen a named store with the other kind of directories', () => {
    MemoryBackend.named('kind-test', { directories: 'real' });
    expect(MemoryBackend.named('kind-test').features().directories).toBe('real');
    expect(() => MemoryBackend.named('kind-test', { directories: 'virtual' })).toThrow(/already exists/);
    MemoryBackend.forget('kind-test');
  });

  it('virtual stores have no mkdir/rmdir ability', async () => {
    const { hasDirectories } = await import('../../src/core/storage.js');
    expect(hasDirectories(new MemoryBackend())).toBe(false);
    expect(hasDirectories(new MemoryBackend({ directories: 'real' }))).toBe(true);
  });
});

describe('MemoryBackend large bodies', () => {
  // A 2 GiB write through memory: peaked at 4.1 GB of RSS when the pieces were joined into one
  // Buffer at the end (and a body past 4 GiB, Buffer's limit on Node 20, failed with a RangeError).
  it('stores a body as its pieces: never joins more than a small piece, reads, ranges and hashes it back whole', async () => {
    const piece = (n: number) => Buffer.alloc(1 << 20, n);
    const pieces = Array.from({ length: 24 }, (_, n) => piece(n));
    const whole = Buffer.concat(pieces);
    const concat = vi.spyOn(Buffer, 'concat');
    try {
      const b = new MemoryBackend();
      async function* body() {
        yield Buffer.from('a'); // small pieces are gathered
        for (const p of pieces) yield p;
      }
      const info = await b.write('big', body());
      const joined = concat.mock.calls.map(([list]) => list.reduce((n, x) => n + x.length, 0));
      expect(Math.max(0, ...joined)).toBeLessThan(2 << 20);
      concat.mockRestore();
      const expected = Buffer.concat([Buffer.from('a'), whole]);
      expect(info.size).toBe(expected.length);
      const read: Buffer[] = [];
      for await (const c of await b.read('big')) read.push(c as Buffer);
      expect(Buffer.concat(read).equals(expected)).toBe(true);
      expect((await b.stat('big')).hashes?.sha256).toBe(createHash('sha256').update(expected).digest('hex'));
      expect(await b.hash('big', 'sha1')).toBe(createHash('sha1').update(expected).digest('hex'));
      // Ranges across piece boundaries, at the ends, and clipped past the end.
      for (const [offset, length] of [[0, 1], [1, 1 << 20], [(1 << 20) - 3, 7], [5 << 20, 3 << 20], [expected.length - 2, 10], [expected.length, 5]]) {
        expect((await b.readRange('big', offset, length)).equals(expected.subarray(offset, offset + length))).toBe(true);
        const part: Buffer[] = [];
        for await (const c of await b.read('big', { offset, length })) part.push(c as Buffer);
        expect(Buffer.concat(part).equals(expected.subarray(offset, offset + length))).toBe(true);
      }
    } finally {
      concat.mockRestore();
    }
  });
});
