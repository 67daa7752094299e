/**
 * Listing a remote for comparison: one recursive `list` of the backend (a Ferry server
 * answers it with pages of 10,000 entries carrying size, mtime and hash), split by the
 * filter into the files that take part and those excluded.
 */
import { canCheckDirectories } from '../core/storage.js';
import type { TreeHashed } from '../core/storage-bulk.js';
import type { Filter } from './filter.js';
import type { FileEntry } from './hashes.js';
import { isFerryError } from '../core/errors.js';
import { keyOf, relOf, type Remote } from './remote.js';

export interface Listing {
  /** Files that pass the filter, by path relative to the remote. */
  files: Map<string, FileEntry>;
  /** Files the filter excluded (for --delete-excluded). */
  excluded: Map<string, FileEntry>;
  /** Directories, where the backend has real ones (relative paths, '' excluded). */
  dirs: Set<string>;
}

/** `willRead`: false for a listing whose files will not be read (a sync's destination; see ListOptions). */
export async function listRemote(remote: Remote, filter: Filter, signal?: AbortSignal, willRead = true): Promise<Listing> {
  const files = new Map<string, FileEntry>();
  const excluded = new Map<string, FileEntry>();
  const dirs = new Set<string>();
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
    return { files, excluded, dirs };
  }
  for await (const e of remote.backend.list(remote.prefix, { recursive: true, signal, ...(willRead ? {} : { willRead }) })) {
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
  return { files, excluded, dirs };
}

/** An empty listing (a remote that does not exist yet). */
export function emptyListing(): Listing {
  return { files: new Map(), excluded: new Map(), dirs: new Set() };
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
