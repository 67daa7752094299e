/**
 * Listing a remote for comparison: one recursive `list` of the backend (a Ferry server
 * answers it with pages of 10,000 entries carrying size, mtime and hash), split by the
 * filter into the files that take part and those excluded. A side that can digest its tree
 * (a Ferry server with `list-digest`) may be asked for that instead (listPair).
 */
import { canCheckDirectories, canIdentify } from '../core/storage.js';
import { canDigestTree, type TreeHashed } from '../core/storage-bulk.js';
import { EMPTY_TREE_DIGEST, treeDigestOf } from '../core/tree-digest.js';
import type { Filter } from './filter.js';
import type { FileEntry } from './hashes.js';
import { isFerryError } from '../core/errors.js';
import { isRetriesSpent } from '../core/retry.js';
import { keyOf, relOf, type Remote } from './remote.js';
import { trimTrailingSlashes } from '../core/path.js';

export interface Listing {
  /** Files that pass the filter, by path relative to the remote. */
  files: Map<string, FileEntry>;
  /** Files the filter excluded (for --delete-excluded). */
  excluded: Map<string, FileEntry>;
  /** Directories, where the backend has real ones (relative paths, '' excluded). */
  dirs: Set<string>;
  /**
   * What the backend's listing left out (a local symbolic link not followed, a socket), by
   * relative path: counted whether or not the remote has an `onSkip`, so that a program
   * using the library sees them in the result instead of losing them unseen.
   */
  skipped: SkippedEntry[];
}

/** An entry a listing left out, and why. */
export interface SkippedEntry {
  path: string;
  reason: string;
}

/** `willRead`: false for a listing whose files will not be read (a sync's destination; see ListOptions). */
export async function listRemote(remote: Remote, filter: Filter, signal?: AbortSignal, willRead = true): Promise<Listing> {
  const files = new Map<string, FileEntry>();
  const excluded = new Map<string, FileEntry>();
  const dirs = new Set<string>();
  const skipped: SkippedEntry[] = [];
  if (remote.only !== undefined) {
    // One file stands for the remote: it alone is looked at (one stat, no listing).
    const info = await remote.backend.stat(keyOf(remote, remote.only), { signal }).catch((err: unknown) => {
      if (isFerryError(err, 'FERRY_ERR_NOT_FOUND')) return undefined;
      throw err;
    });
    if (info !== undefined) {
      const entry: FileEntry = { size: info.size, mtime: info.mtime, hashes: { ...(info.hashes ?? {}) } };
      const tree = (info as TreeHashed).treeHash;
      if (tree !== undefined) entry.hashes['ferry-tree'] = tree;
      (filter.includes(remote.only, entry) ? files : excluded).set(remote.only, entry);
    }
    return { files, excluded, dirs, skipped };
  }
  const onSkip = (key: string, reason: string) => {
    const path = relOf(remote, key) ?? key;
    skipped.push({ path, reason });
    remote.onSkip?.(path, reason);
  };
  for await (const e of remote.backend.list(remote.prefix, { recursive: true, signal, onSkip, ...(willRead ? {} : { willRead }) })) {
    const rel = relOf(remote, e.key);
    if (rel === undefined || rel === '') continue;
    if (e.type === 'dir') {
      dirs.add(rel);
      continue;
    }
    const entry: FileEntry = { size: e.size ?? 0, mtime: e.mtime, hashes: { ...(e.hashes ?? {}) } };
    const tree = (e as TreeHashed).treeHash;
    if (tree !== undefined) entry.hashes['ferry-tree'] = tree;
    (filter.includes(rel, entry) ? files : excluded).set(rel, entry);
  }
  return { files, excluded, dirs, skipped };
}

/** An empty listing (a remote that does not exist yet). */
export function emptyListing(): Listing {
  return { files: new Map(), excluded: new Map(), dirs: new Set(), skipped: [] };
}

/**
 * Whether the remote's folder exists: a listing that finds nothing cannot tell an empty
 * folder from a missing one, and syncing from a mistyped path must not empty the
 * destination. Where directories are real the backend says (DirectoryChecker); elsewhere
 * (an S3 prefix, where empty folders do not exist) an empty folder is taken as existing.
 */
export async function remoteExists(remote: Remote, signal?: AbortSignal): Promise<boolean> {
  if (remote.only !== undefined) {
    return remote.backend.stat(keyOf(remote, remote.only), { signal }).then(
      () => true,
      () => false,
    );
  }
  if (canCheckDirectories(remote.backend)) return remote.backend.isDirectory(remote.prefix, { signal });
  return true;
}

/**
 * Whether the source folder of a sync, copy or move that listed nothing exists: as
 * {@link remoteExists}, except below the root of a store without directories (S3), where a
 * prefix with no object under it is taken as missing rather than as an empty folder. A
 * mistyped `s3:bucket/typo` would otherwise make a sync delete the whole destination (rclone
 * 1.60 does); a bucket's root, empty, is still an empty folder.
 */
export async function sourceExists(remote: Remote, signal?: AbortSignal): Promise<boolean> {
  if (remote.only !== undefined || canCheckDirectories(remote.backend)) return remoteExists(remote, signal);
  // The prefix may be the backend's own (`s3:bucket/typo`) or the remote's: where the store says, ask it.
  const b = remote.backend;
  const path = canIdentify(b) ? (await b.identityOf(remote.prefix, { signal })).path : '/' + remote.prefix;
  return trimTrailingSlashes(path) === '';
}

/**
 * The two listings of a sync or copy, fetched in parallel. With `digests` (the caller needs
 * only sizes and times, and equal listings mean nothing to do) and no filter, a side that can
 * digest its tree (TreeDigestSource) is asked for its digest while the other side is listed:
 * a digest equal to that listing's means this side lists the same (a no-change re-sync of
 * 10,000 files: one short answer instead of 1.7 MB of entries), the empty digest means it
 * lists nothing; any other answer, and it is listed after all (one request more, after the
 * other listing instead of beside it).
 */
export async function listPair(src: Remote, dst: Remote, filter: Filter, digests: boolean, signal?: AbortSignal): Promise<[Listing, Listing]> {
  const able = (r: Remote) => digests && !filter.active && src.only === undefined && dst.only === undefined && canDigestTree(r.backend);
  // The destination's listing is compared and written, not read from (see ListOptions).
  const list = (r: Remote) => listRemote(r, filter, signal, r === src);
  const side = able(dst) ? dst : able(src) ? src : undefined;
  if (side === undefined || !canDigestTree(side.backend)) return Promise.all([list(src), list(dst)]);
  const other = side === dst ? src : dst;
  // A digest the server fails to give is no answer: the listing may still work. But where
  // the retries were spent (the server or the network is down) the listing would only spend
  // as many again: the run fails as a failed listing fails it.
  const asked = side.backend.treeDigest(side.prefix, { signal }).catch((err: unknown) => {
    if (isFerryError(err, 'FERRY_ERR_ABORTED') || signal?.aborted || isRetriesSpent(err)) throw err;
    return undefined;
  });
  const [listed, digest] = await Promise.all([list(other), asked]);
  let mirrored: Listing;
  if (digest === EMPTY_TREE_DIGEST) mirrored = emptyListing();
  else if (digest !== undefined && digest === treeDigestOf(listed.files, listed.dirs)) mirrored = listed;
  else mirrored = await list(side);
  return side === dst ? [listed, mirrored] : [mirrored, listed];
}
