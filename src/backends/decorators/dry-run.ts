/**
 * Dry-run decorator: reads pass through; calls that would change what is stored (write,
 * delete, copy, move, setMtime, mkdir, rmdir) are checked as far as reading allows (keys
 * validated, a copy's or move's source must exist), reported to `onSkip`, and not performed.
 * A write still consumes its body (the producer is not left hanging) and answers with the size
 * that would have been stored.
 */
import { PathInvalidError } from '../../core/errors.js';
import { normalizeKey } from '../../core/path.js';
import type { ObjectInfo, StorageBackend } from '../../core/storage.js';
import { bodyChunks } from '../body.js';
import { decorate, MUTATING, type Call } from './decorate.js';

function objectKey(key: string): string {
  const k = normalizeKey(key);
  if (k === '') throw new PathInvalidError('the root is a directory, not an object', { details: { reason: 'root' } });
  return k;
}

/** `inner`, with every change reported instead of made. */
export function withDryRun(inner: StorageBackend, onSkip: (call: Call) => void = () => {}): StorageBackend {
  return decorate(inner, inner.name, {
    async call<T>(call: Call, run: () => Promise<T>): Promise<T> {
      if (!MUTATING.has(call.op)) return run();
      switch (call.op) {
        case 'write': {
          const key = objectKey(call.key);
          let size = 0;
          for await (const chunk of bodyChunks(call.body!, { size: call.size, signal: call.signal, what: key })) size += chunk.byteLength;
          onSkip(call);
          return { key, size } satisfies ObjectInfo as T;
        }
        case 'copy':
        case 'move': {
          const source = await inner.stat(call.key, { signal: call.signal });
          const to = objectKey(call.to!);
          onSkip(call);
          return { ...source, key: to } as T;
        }
        case 'setMtime':
          await inner.stat(call.key, { signal: call.signal });
          onSkip(call);
          return undefined as T;
        case 'sweepLeftovers':
          onSkip(call);
          return { count: 0, bytes: 0 } as T;
        default:
          normalizeKey(call.key);
          onSkip(call);
          return undefined as T;
      }
    },
  });
}
