/**
 * Hashes for comparing files across remotes.
 *
 * A hash kind is one of the backends' {@link HashName}s or `ferry-tree`: the Ferry file hash
 * (`sha256-tree-v1`, core/manifest.ts), which a Ferry server stores for every file and any
 * side that can read a file computes by chunking it with the server's parameters. Between two
 * remotes the engine picks one kind both can produce, preferring kinds stored on both (free),
 * then stored on one side and computed on the other, then computed on both. A side computes
 * only where reading is cheap, which is what a backend with a {@link Hasher} says (local disk,
 * memory): rclone does the same when it hashes local files but never downloads to compare.
 */
import type { ChunkingParams } from '../core/manifest.js';
import { canHash, type HashName } from '../core/storage.js';
import { hasTreeHash } from '../core/storage-bulk.js';
import { hashByReading } from '../backends/shared.js';
import { fileHashOfStream } from '../algo/file-hash.js';
import { keyOf, type Remote } from './remote.js';

export type HashKind = HashName | 'ferry-tree';

const BACKEND_HASHES: readonly HashName[] = ['sha256', 'md5', 'sha1'];

/** Kinds a remote reports in its listings without reading data. */
export function storedKinds(remote: Remote): HashKind[] {
  const kinds: HashKind[] = [...remote.backend.features().hashes];
  if (hasTreeHash(remote.backend)) kinds.push('ferry-tree');
  return kinds;
}

/** Whether a remote can compute `kind` cheaply (by reading locally). */
export function computable(remote: Remote, kind: HashKind): boolean {
  return canHash(remote.backend) && (kind === 'ferry-tree' || BACKEND_HASHES.includes(kind));
}

/** The best hash kind two remotes can both produce, or undefined (compare by size and time only). */
export function commonHashKind(a: Remote, b: Remote): HashKind | undefined {
  const sa = storedKinds(a);
  const sb = storedKinds(b);
  const both = sa.filter((k) => sb.includes(k));
  if (both.length > 0) return both[0];
  for (const k of sa) if (computable(b, k)) return k;
  for (const k of sb) if (computable(a, k)) return k;
  for (const k of BACKEND_HASHES) if (computable(a, k) && computable(b, k)) return k;
  return undefined;
}

function requireParams(params: ChunkingParams | undefined): ChunkingParams {
  if (params === undefined) throw new Error('ferry-tree hashes need chunking parameters');
  return params;
}

/** A listed file: what the comparisons need. */
export interface FileEntry {
  size: number;
  mtime?: number;
  /** Hashes known for it (stored by the backend or computed earlier in this run). */
  hashes: Partial<Record<HashKind, string>>;
}

/** Where the planners get a file's hash when a comparison needs one (a HashSource; a stub in tests). */
export interface HashLookup {
  hash(rel: string, entry: FileEntry, kind: HashKind, signal?: AbortSignal): Promise<string>;
}

/**
 * Produces hashes of files of one remote: from the listing when stored, else by computing
 * (the Hasher for backend hashes, a read for `ferry-tree`), remembering the result on the entry.
 */
export class HashSource implements HashLookup {
  constructor(
    readonly remote: Remote,
    /** Chunking parameters for `ferry-tree` (those of the Ferry side of the comparison). */
    readonly treeParams?: ChunkingParams,
  ) {}

  async hash(rel: string, entry: FileEntry, kind: HashKind, signal?: AbortSignal): Promise<string> {
    const known = entry.hashes[kind];
    if (known !== undefined) return known;
    const key = keyOf(this.remote, rel);
    const b = this.remote.backend;
    let value: string;
    if (kind === 'ferry-tree') value = await fileHashOfStream(await b.read(key, { signal }), requireParams(this.treeParams), signal);
    else if (canHash(b)) value = await b.hash(key, kind, { signal });
    else value = await hashByReading(b, key, kind, signal);
    entry.hashes[kind] = value;
    return value;
  }
}

/** The chunking parameters for `ferry-tree` between two remotes: from the side that stores tree hashes. */
export async function treeParamsFor(a: Remote, b: Remote, signal?: AbortSignal): Promise<ChunkingParams | undefined> {
  for (const r of [a, b]) if (hasTreeHash(r.backend)) return r.backend.treeHashParams({ signal });
  return undefined;
}
