/** Counting the local backend's directory fsyncs. */
import { createRequire, syncBuiltinESMExports } from 'node:module';

/**
 * Runs `fn` counting the calls of node:fs's callback `fsync` (in `counter.calls`): the local
 * backend's directory fsyncs, since its files are fsynced through their FileHandle and SQLite
 * through its own calls. Patched through node:fs's CommonJS face, which
 * `syncBuiltinESMExports` carries to the backend's ESM import.
 */
export async function countingDirFsyncs<T>(fn: (counter: { calls: number }) => Promise<T>): Promise<T> {
  const fsCjs = createRequire(import.meta.url)('node:fs') as Record<string, unknown>;
  const real = fsCjs.fsync as (...args: unknown[]) => unknown;
  const counter = { calls: 0 };
  fsCjs.fsync = (...args: unknown[]) => {
    counter.calls++;
    return real(...args);
  };
  syncBuiltinESMExports();
  try {
    return await fn(counter);
  } finally {
    fsCjs.fsync = real;
    syncBuiltinESMExports();
  }
}
