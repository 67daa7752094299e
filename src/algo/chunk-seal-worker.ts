/**
 * Worker thread of chunk-seal.ts: hashes a chunk rebuilt from a delta and compresses it for
 * storage, so that the server's main thread goes on to the next delta meanwhile.
 *
 * The chunk's memory comes transferred (never copied) and goes back transferred with the
 * answer, for the main thread to rebuild the next chunk in; the frame goes back in an
 * ArrayBuffer of its own exact size (a view of a larger buffer would be cloned whole).
 *
 * Loaded as compiled JavaScript (`dist/src/algo/chunk-seal-worker.js`, or beside the
 * bundle's parts) in every case: see `sealWorkerUrl` in chunk-seal.ts.
 */
import { parentPort } from 'node:worker_threads';
import { sealPlain } from './chunk-seal.js';

/** Main thread -> worker: the chunk is the first `size` bytes of `memory`. */
export interface SealTask {
  id: number;
  memory: ArrayBuffer;
  size: number;
}

/** Worker -> main thread: `memory` back, the chunk's SHA-256, its zstd frame when it compresses. */
export interface SealAnswer {
  id: number;
  memory: ArrayBuffer;
  hash?: string;
  frame?: ArrayBuffer;
  error?: string;
}

parentPort?.on('message', (task: SealTask) => {
  const plain = new Uint8Array(task.memory, 0, task.size);
  let answer: SealAnswer;
  const transfer: ArrayBuffer[] = [task.memory];
  try {
    const sealed = sealPlain(plain);
    answer = { id: task.id, memory: task.memory, hash: sealed.hash };
    if (sealed.frame) {
      const frame = new ArrayBuffer(sealed.frame.length);
      new Uint8Array(frame).set(sealed.frame);
      answer.frame = frame;
      transfer.push(frame);
    }
  } catch (err) {
    answer = { id: task.id, memory: task.memory, error: (err as Error).message };
  }
  parentPort?.postMessage(answer, transfer);
});
