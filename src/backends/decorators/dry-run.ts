/**
 * Dry-run decorator: reads pass through; calls that would change what is stored (write,
 * writeBatch, delete, copy, move, setMtime, mkdir, rmdir) are checked as far as reading
 * allows (keys validated, a copy's, move's or time change's source must exist), reported to
 * `onSkip`, and not performed.
 *
 * A write answers with what would have been stored: the announced size and mtime. A body of
 * announced size is released unread (a stream is destroyed, an iterator never started stays
 * unstarted: a caller that opens its source lazily reads nothing); a body of unknown size is
 * consumed to count it.
 *
 * A dry run sees its own changes, so that a run of dependent steps is checked against the
 * world it would meet: a key it deleted or moved away is not found, a key it moved or copied
 * to stats as its source, a key it wrote stats as written. Reads of such keys (and listings)
 * still see what the inner backend holds.
 */
import { NotFoundError, PathInvalidError } from '../../core/errors.js';
import { normalizeKey } from '../../core/path.js';
import type { ObjectInfo, StorageBackend } from '../../core/storage.js';
import { bodyChunks, discardBody } from '../shared.js';
import { decorate, MUTATING, type Call } from './decorate.js';

function objectKey(key: string): string {
  const k = normalizeKey(key);
  if (k === '') throw new PathInvalidError('the root is a directory, not an object', { details: { reason: 'root' } });
  return k;
}

/** What a dry run has done so far, by normalized key. */
class Overlay {
  /** Keys that now hold what another key held: key -> that key (in the inner backend). */
  private readonly sourceOf = new Map<string, string>();
  private readonly gone = new Set<string>();
  private readonly written = new Map<string, ObjectInfo>();

  constructor(private readonly inner: StorageBackend) {}

  /** FERRY_ERR_NOT_FOUND for a key this run removed. */
  check(key: string): void {
    if (this.gone.size === 0) return;
    let k: string;
    try {
      k = normalizeKey(key);
    } catch {
      return; // not a key: the inner backend says so
    }
    if (this.gone.has(k)) throw new NotFoundError(`${key}: removed earlier in this dry run`);
  }

  /** The key's info as this run left it; `passThrough` when the run did nothing to it (or it is not a valid key). */
  async stat(key: string, signal?: AbortSignal, passThrough?: () => Promise<ObjectInfo>): Promise<ObjectInfo> {
    let k: string;
    try {
      k = normalizeKey(key);
    } catch (err) {
      if (passThrough) return passThrough();
      throw err;
    }
    this.check(k);
    const written = this.written.get(k);
    if (written) return written;
    const source = this.sourceOf.get(k);
    if (source === undefined && passThrough) return passThrough();
    return { ...(await this.inner.stat(source ?? objectKey(k), { signal })), key: k };
  }

  wrote(info: ObjectInfo): void {
    this.gone.delete(info.key);
    this.sourceOf.delete(info.key);
    this.written.set(info.key, info);
  }

  removed(key: string): void {
    const k = normalizeKey(key);
    this.gone.add(k);
    this.written.delete(k);
    this.sourceOf.delete(k);
  }

  /** `to` now holds what `from` holds (a copy; a move also removes `from`). */
  async carried(from: string, to: string, signal: AbortSignal | undefined, move: boolean): Promise<ObjectInfo> {
    const f = objectKey(from);
    const t = objectKey(to);
    const info = { ...(await this.stat(f, signal)), key: t };
    const written = this.written.get(f);
    const origin = this.sourceOf.get(f) ?? f;
    if (f === t) return info;
    if (move) this.removed(f);
    this.gone.delete(t);
    if (written) this.written.set(t, info);
    else {
      this.written.delete(t);
      this.sourceOf.set(t, origin);
    }
    return info;
  }
}

async function skipWrite(call: Call, overlay: Overlay): Promise<ObjectInfo> {
  const key = objectKey(call.key);
  let size = call.size;
  if (size === undefined) {
    size = 0;
    for await (const chunk of bodyChunks(call.body!, { signal: call.signal, what: key })) size += chunk.byteLength;
  } else {
    discardBody(call.body!);
  }
  const info: ObjectInfo = call.mtime === undefined ? { key, size } : { key, size, mtime: call.mtime };
  overlay.wrote(info);
  return info;
}

/** `inner`, with every change reported instead of made. */
export function withDryRun(inner: StorageBackend, onSkip: (call: Call) => void = () => {}): StorageBackend {
  const overlay = new Overlay(inner);
  const skip = async (call: Call): Promise<unknown> => {
    switch (call.op) {
      case 'write':
        return skipWrite(call, overlay);
      case 'writeBatch':
        return call.items!.map((it) => {
          const info: ObjectInfo = { key: objectKey(it.key), size: it.data.length, ...(it.mtime === undefined ? {} : { mtime: it.mtime }) };
          overlay.wrote(info);
          return info;
        });
      case 'copy':
      case 'move':
        return overlay.carried(call.key, call.to!, call.signal, call.op === 'move');
      case 'setMtime':
        await overlay.stat(call.key, call.signal);
        return undefined;
      case 'delete':
        overlay.removed(call.key);
        return undefined;
      case 'sweepLeftovers':
        return { count: 0, bytes: 0 };
      default:
        normalizeKey(call.key);
        return undefined;
    }
  };
  return decorate(inner, inner.name, {
    async call<T>(call: Call, run: () => Promise<T>): Promise<T> {
      if (!MUTATING.has(call.op)) {
        if (call.op === 'stat') return (await overlay.stat(call.key, call.signal, run as () => Promise<ObjectInfo>)) as T;
        if (call.op === 'read' || call.op === 'readRange' || call.op === 'hash') overlay.check(call.key);
        if (call.op === 'readBatch') for (const k of call.keys ?? []) overlay.check(k);
        return run();
      }
      const result = (await skip(call)) as T;
      onSkip(call);
      return result;
    },
  });
}
