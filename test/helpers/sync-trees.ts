/**
 * Helpers for the sync engine's tests: trees on memory remotes, snapshots, and a decorator
 * that makes a backend misbehave or count what it is asked. Not used by the engine.
 */
import { MemoryBackend } from '../../src/backends/memory/index.js';
import { IoError, NotFoundError, type FerryError } from '../../src/core/errors.js';
import type { BackendFeatures, StorageBackend } from '../../src/core/storage.js';
import { makeRemote, type Remote } from '../../src/sync/remote.js';

/** path -> content (string) or [content, mtime]. */
export type TreeSpec = Record<string, string | [string, number]>;

export const T0 = 1_700_000_000_000;

export async function writeTree(remote: Remote, tree: TreeSpec): Promise<void> {
  for (const [rel, v] of Object.entries(tree)) {
    const [content, mtime] = typeof v === 'string' ? [v, T0] : v;
    const key = remote.prefix ? `${remote.prefix}/${rel}` : rel;
    await remote.backend.write(key, Buffer.from(content), { mtime });
  }
}

export async function memRemote(tree: TreeSpec = {}, directories: 'virtual' | 'real' = 'virtual'): Promise<Remote> {
  const r = makeRemote(new MemoryBackend({ directories }));
  await writeTree(r, tree);
  return r;
}

/** path -> [content, mtime] of every file below the remote. */
export async function snapshot(remote: Remote): Promise<Record<string, [string, number | undefined]>> {
  const out: Record<string, [string, number | undefined]> = {};
  for await (const e of remote.backend.list(remote.prefix, { recursive: true })) {
    if (e.type !== 'file') continue;
    const rel = remote.prefix ? e.key.slice(remote.prefix.length + 1) : e.key;
    const chunks: Buffer[] = [];
    for await (const c of await remote.backend.read(e.key)) chunks.push(c as Buffer);
    out[rel] = [Buffer.concat(chunks).toString(), e.mtime];
  }
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : 1)));
}

/** Just the contents. */
export async function contents(remote: Remote): Promise<Record<string, string>> {
  const s = await snapshot(remote);
  return Object.fromEntries(Object.entries(s).map(([k, [c]]) => [k, c]));
}

export interface Instrumented {
  backend: StorageBackend;
  calls: Record<string, number>;
  bytesRead: number;
  bytesWritten: number;
}

export interface Misbehaviour {
  /** Keys whose reads fail (non-retryable unless `retryable`) the first `times` times (default always). */
  failRead?: { keys: string[]; times?: number; retryable?: boolean };
  failWrite?: { keys: string[]; times?: number; retryable?: boolean };
  features?: Partial<BackendFeatures>;
  /** Round stored mtimes down to this many ms (emulates a coarse backend). */
  mtimePrecisionMs?: number;
  /** Keys whose written bytes get their first byte flipped (a destination that corrupts). */
  corruptWrite?: string[];
  /** Hide these methods (abilities). */
  hide?: string[];
}

/** Wraps a backend: counts calls and bytes, injects failures, changes features. */
export function instrument(inner: StorageBackend, m: Misbehaviour = {}): Instrumented {
  const calls: Record<string, number> = {};
  const failures = new Map<string, number>();
  const state: Instrumented = { backend: undefined as unknown as StorageBackend, calls, bytesRead: 0, bytesWritten: 0 };
  const shouldFail = (spec: Misbehaviour['failRead'], key: string): FerryError | undefined => {
    if (!spec || !spec.keys.includes(key)) return undefined;
    const n = failures.get(key) ?? 0;
    if (spec.times !== undefined && n >= spec.times) return undefined;
    failures.set(key, n + 1);
    return new IoError(`injected failure on ${key}`, { retryable: spec.retryable ?? false });
  };
  const round = (t: number | undefined) => (t === undefined || !m.mtimePrecisionMs ? t : Math.floor(t / m.mtimePrecisionMs) * m.mtimePrecisionMs);
  const handler: ProxyHandler<StorageBackend> = {
    get(target, prop, receiver) {
      const name = String(prop);
      if (m.hide?.includes(name)) return undefined;
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        calls[name] = (calls[name] ?? 0) + 1;
        switch (name) {
          case 'features': {
            const f = { ...(value.apply(target, args) as BackendFeatures), ...m.features };
            if (m.mtimePrecisionMs) f.mtimePrecisionMs = m.mtimePrecisionMs;
            return f;
          }
          case 'read': {
            const err = shouldFail(m.failRead, args[0] as string);
            if (err) return Promise.reject(err);
            return (value.apply(target, args) as Promise<NodeJS.ReadableStream>).then((s) => {
              s.on('data', (c: Buffer) => (state.bytesRead += c.length));
              return s;
            });
          }
          case 'write': {
            const err = shouldFail(m.failWrite, args[0] as string);
            if (err) return Promise.reject(err);
            const opts = { ...((args[2] as object) ?? {}) } as { mtime?: number };
            opts.mtime = round(opts.mtime);
            let body = args[1] as AsyncIterable<Uint8Array> | Uint8Array;
            if (m.corruptWrite?.includes(args[0] as string)) {
              const inner = body;
              body = (async function* () {
                let first = true;
                for await (const c of inner instanceof Uint8Array ? [inner] : inner) {
                  const copy = Buffer.from(c);
                  if (first && copy.length > 0) copy[0] ^= 0xff;
                  first = false;
                  yield copy;
                }
              })();
            }
            const counted =
              body instanceof Uint8Array
                ? ((state.bytesWritten += body.length), body)
                : (async function* () {
                    for await (const c of body) {
                      state.bytesWritten += c.length;
                      yield c;
                    }
                  })();
            return value.call(target, args[0], counted, opts);
          }
          case 'setMtime':
            return value.call(target, args[0], round(args[1] as number), args[2]);
          default:
            return value.apply(target, args);
        }
      };
    },
  };
  state.backend = new Proxy(inner, handler);
  return state;
}

export { NotFoundError };
