/** Sha256Workers: the same digests as node:crypto in the calling thread, whatever memory the bytes sit in (shared memory goes to the workers). */
import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { OFFLOAD_MIN_BYTES, Sha256Workers } from './sha256-workers.js';

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** `bytes` copied into a SharedArrayBuffer, at `offset` within it. */
function shared(bytes: Uint8Array, offset = 0): Buffer {
  const view = Buffer.from(new SharedArrayBuffer(offset + bytes.length + 7), offset, bytes.length);
  view.set(bytes);
  return view;
}

describe('Sha256Workers', () => {
  const workers = new Sha256Workers(2);

  it('hashes small buffers, plain buffers, slices and shared memory alike', async () => {
    const big = randomBytes(3 * 1024 * 1024 + 5);
    const cases: Array<[string, Uint8Array]> = [
      ['empty', Buffer.alloc(0)],
      ['small', randomBytes(1000)],
      ['just below the threshold', randomBytes(OFFLOAD_MIN_BYTES - 1)],
      ['at the threshold', randomBytes(OFFLOAD_MIN_BYTES)],
      ['plain', big],
      ['a slice of a larger buffer', big.subarray(12345, 12345 + 2 * 1024 * 1024)],
      ['large', randomBytes(9 * 1024 * 1024)],
      ['shared', shared(big)],
      ['shared, at an offset', shared(big.subarray(0, 1024 * 1024), 4096 + 3)],
    ];
    for (const [name, bytes] of cases) expect(await workers.digest(bytes), name).toBe(sha(bytes));
  });

  it('leaves the bytes where they were', async () => {
    const bytes = randomBytes(2 * 1024 * 1024);
    const copy = Buffer.from(bytes);
    const view = shared(bytes);
    await workers.digest(bytes);
    await workers.digest(view);
    expect(bytes.equals(copy)).toBe(true);
    expect(view.equals(copy)).toBe(true);
    expect(bytes.buffer.byteLength).toBeGreaterThan(0); // not detached
  });

  it('keeps many digests in flight apart', async () => {
    const inputs = Array.from({ length: 24 }, (_, i) => (i % 2 ? shared(randomBytes(300_000 + i * 1000)) : randomBytes(300_000 + i * 1000)));
    const digests = await Promise.all(inputs.map((b) => workers.digest(b)));
    expect(digests).toEqual(inputs.map(sha));
  });
});
