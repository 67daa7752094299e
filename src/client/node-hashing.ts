/**
 * SHA-256 of the client in Node.js: node:crypto (OpenSSL, SHA-NI), no copies. Synchronous in
 * this thread, except for a large buffer over shared memory (from `allocShared`), which a hash
 * worker reads in place (../algo/sha256-workers.ts) while this thread reads the sockets.
 *
 * Why: a download's client thread does the socket reads, the hashing and the rest; the hash
 * was a third of its busy time (benchmarks/results/issue-15-speed.md, "Download hashing on a
 * worker"). With one core to run on (`taskset`, a container's CPU set) a worker could only add
 * its round trips, so there the hash stays in this thread.
 */
import { createHash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { OFFLOAD_MIN_BYTES, sha256Workers, type Sha256Workers } from '../algo/sha256-workers.js';
import type { Sha256 } from './hashing.js';

function digestHere(pieces: readonly Uint8Array[]): string {
  const h = createHash('sha256');
  for (const p of pieces) h.update(p);
  return h.digest('hex');
}

/** A {@link Sha256} that hands large shared buffers to `workers` (none: everything in this thread). */
export function nodeSha256Using(workers?: Sha256Workers): Sha256 {
  if (!workers) return { digest: digestHere };
  return {
    digest(pieces) {
      const one = pieces.length === 1 ? pieces[0] : undefined;
      if (one && one.length >= OFFLOAD_MIN_BYTES && one.buffer instanceof SharedArrayBuffer) return workers.digest(one);
      return digestHere(pieces);
    },
    allocShared: (size) => Buffer.from(new SharedArrayBuffer(size)),
  };
}

/** The client's SHA-256: with hash workers where the process may use more than one core (`os.availableParallelism()` honours the CPU affinity). */
export const nodeSha256: Sha256 = nodeSha256Using(availableParallelism() > 1 ? sha256Workers : undefined);
