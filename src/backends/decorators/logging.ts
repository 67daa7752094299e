/**
 * Logging decorator: one entry per call, after it ends, with the operation, key(s), duration,
 * outcome (the FerryError code on failure) and, for writes, the size stored. Entries carry the
 * backend's `name`, which never holds secrets (see the registry's redaction), and no data.
 */
import { FerryError } from '../../core/errors.js';
import type { ObjectInfo, StorageBackend } from '../../core/storage.js';
import { decorate, type Operation } from './decorate.js';

export interface StorageLogEntry {
  backend: string;
  op: Operation;
  key: string;
  to?: string;
  ms: number;
  ok: boolean;
  /** The error's code (FERRY_ERR_…) or name, on failure. */
  error?: string;
  /** write, writeBatch: bytes stored. */
  bytes?: number;
  /** writeBatch, readBatch: how many objects (`key` is the first). */
  count?: number;
}

export type StorageLogger = (entry: StorageLogEntry) => void;

/** `inner`, reporting every call to `log`. */
export function withLogging(inner: StorageBackend, log: StorageLogger): StorageBackend {
  return decorate(inner, inner.name, {
    async call(call, run) {
      const started = performance.now();
      const entry = (ok: boolean): StorageLogEntry => {
        const e: StorageLogEntry = { backend: inner.name, op: call.op, key: call.key, ms: Math.round((performance.now() - started) * 10) / 10, ok };
        if (call.to !== undefined) e.to = call.to;
        return e;
      };
      try {
        const result = await run();
        const e = entry(true);
        if (call.op === 'write') e.bytes = (result as ObjectInfo).size;
        if (call.op === 'writeBatch') e.bytes = call.bytes;
        if (call.keys !== undefined) e.count = call.keys.length;
        log(e);
        return result;
      } catch (err) {
        log({ ...entry(false), error: err instanceof FerryError ? err.code : err instanceof Error ? err.name : 'unknown' });
        throw err;
      }
    },
    async *list(call, run) {
      const started = performance.now();
      try {
        yield* run();
        log({ backend: inner.name, op: 'list', key: call.key, ms: Math.round(performance.now() - started), ok: true });
      } catch (err) {
        log({ backend: inner.name, op: 'list', key: call.key, ms: Math.round(performance.now() - started), ok: false, error: err instanceof FerryError ? err.code : 'unknown' });
        throw err;
      }
    },
  });
}
