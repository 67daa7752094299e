/** The Node client's SHA-256: node:crypto's digests, large shared buffers on the hash workers, and none of it without workers. */
import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { OFFLOAD_MIN_BYTES, Sha256Workers } from '../algo/sha256-workers.js';
import { nodeSha256Using } from './node-hashing.js';

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** Workers that count the buffers they were given. */
class CountingWorkers extends Sha256Workers {
  given = 0;
  override digest(data: Uint8Array): Promise<string> {
    this.given++;
    return super.digest(data);
  }
}

describe('nodeSha256Using', () => {
  it('with workers: hashes a large buffer of its shared memory on them, anything else here, with the same digests', async () => {
    const workers = new CountingWorkers(1);
    const hasher = nodeSha256Using(workers);
    const bytes = randomBytes(2 * 1024 * 1024 + 3);
    const shared = hasher.allocShared!(bytes.length);
    expect(shared.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(shared.length).toBe(bytes.length);
    shared.set(bytes);

    // here: synchronous answers
    expect(hasher.digest([bytes])).toBe(sha(bytes));
    expect(hasher.digest([bytes.subarray(0, 1000), bytes.subarray(1000)])).toBe(sha(bytes));
    expect(hasher.digest([shared.subarray(0, OFFLOAD_MIN_BYTES - 1)])).toBe(sha(bytes.subarray(0, OFFLOAD_MIN_BYTES - 1)));
    expect(hasher.digest([shared.subarray(0, 10), shared.subarray(10)])).toBe(sha(bytes));
    expect(workers.given).toBe(0);

    // on the workers: a promise, the same digest, the bytes left as they were
    const whole = hasher.digest([shared]);
    expect(whole).toBeInstanceOf(Promise);
    expect(await whole).toBe(sha(bytes));
    expect(await hasher.digest([shared.subarray(5, 5 + OFFLOAD_MIN_BYTES)])).toBe(sha(bytes.subarray(5, 5 + OFFLOAD_MIN_BYTES)));
    expect(workers.given).toBe(2);
    expect(Buffer.from(shared).equals(bytes)).toBe(true);
  });

  it('without workers (one core): no shared memory, every digest here', () => {
    const hasher = nodeSha256Using(undefined);
    expect(hasher.allocShared).toBeUndefined();
    const bytes = randomBytes(OFFLOAD_MIN_BYTES * 2);
    const shared = Buffer.from(new SharedArrayBuffer(bytes.length));
    shared.set(bytes);
    expect(hasher.digest([shared])).toBe(sha(bytes));
  });
});
