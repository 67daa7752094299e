/**
 * Who may download which chunks: the one decision behind `GET /chunks/:hash` and
 * `POST /chunks/batch`.
 *
 * A chunk is served only in the context of files the caller may read (`read` on each),
 * and only if one of their manifests holds it: chunk hashes are not capabilities, and the
 * store's dedup across users must not turn into a way to read (or probe) someone else's
 * files. An unrestricted admin (home `/`, no path prefix) may read every file anyway, so
 * for them any chunk that some file references will do and the files may be left out.
 * A chunk outside the named files is answered exactly like an unknown one.
 */
import { IsADirectoryError, NotFoundError, ValidationError } from '../core/errors.js';
import type { ChunkRef } from '../core/manifest.js';
import { normalizePath } from '../core/path.js';
import { API_PREFIX } from '../core/protocol.js';
import type { ServerContext } from './context.js';
import { authorize, isAdmin, type AuthContext } from './authz.js';

/**
 * Which chunks a manifest holds: a download of an N-chunk file makes N chunk requests, and
 * decoding the manifest for each would cost O(N²). Manifests are immutable (named by their
 * hash), so entries never go stale; the cache is bounded by the total number of chunk hashes
 * it holds (about 100 bytes each) and drops the least recently used manifests first.
 */
export class ManifestChunkSets {
  private readonly sets = new Map<string, Set<string>>();
  private held = 0;

  constructor(private readonly maxHashes = 200_000) {}

  async has(manifest: string, hash: string, load: () => Promise<readonly ChunkRef[]>): Promise<boolean> {
    return (await this.get(manifest, load)).has(hash);
  }

  cached(manifest: string): boolean {
    return this.sets.has(manifest);
  }

  /** The manifest's chunk hashes (loaded once, then cached). */
  async get(manifest: string, load: () => Promise<readonly ChunkRef[]>): Promise<ReadonlySet<string>> {
    let set = this.sets.get(manifest);
    if (set) {
      this.sets.delete(manifest); // re-inserted below: Map order is recency
    } else {
      set = new Set((await load()).map((c) => c.hash));
      this.held += set.size;
      for (const [k, v] of this.sets) {
        if (this.held <= this.maxHashes) break;
        this.sets.delete(k);
        this.held -= v.size;
      }
    }
    this.sets.set(manifest, set);
    return set;
  }
}

export class ChunkAccess {
  private readonly chunkSets = new ManifestChunkSets();

  constructor(private readonly ctx: ServerContext) {}

  /**
   * Of `hashes`, those `auth` may not download through the files at `paths` (user paths),
   * unknown ones included, in request order. Throws FERRY_ERR_FORBIDDEN for a path the caller
   * may not read, FERRY_ERR_NOT_FOUND / FERRY_ERR_IS_A_DIRECTORY for a path that is no file,
   * and FERRY_ERR_VALIDATION when `paths` is missing and the caller is not an unrestricted admin.
   */
  async unreadable(auth: AuthContext, hashes: readonly string[], paths: readonly string[] | undefined): Promise<string[]> {
    if (paths === undefined) {
      if (!(isAdmin(auth) && auth.home === '/' && auth.pathPrefix === null)) {
        throw new ValidationError(`name the files the chunks belong to (${API_PREFIX}/chunks/HASH?path=/file/path, or paths in a batch)`);
      }
      const referenced = await this.ctx.meta.referencedChunks(hashes);
      return hashes.filter((h) => !referenced.has(h));
    }
    const servers = paths.map((p) => authorize(auth, 'read', normalizePath(p)));
    // One query for the files' rows and one for the manifests not cached yet, not one per path:
    // a batch names dozens of small files.
    const entries = await this.ctx.meta.statMany(servers);
    const manifests: string[] = [];
    servers.forEach((server, i) => {
      const entry = entries.get(server);
      if (!entry) throw new NotFoundError(`${paths[i]}: no such file or directory`, { details: { path: paths[i] } });
      if (entry.type !== 'file') throw new IsADirectoryError(`${paths[i]} is a directory`, { details: { path: paths[i] } });
      manifests.push(entry.hash!);
    });
    const uncached = manifests.filter((m) => !this.chunkSets.cached(m));
    const loaded = uncached.length > 0 ? await this.ctx.meta.manifestChunkLists(uncached) : new Map<string, ChunkRef[]>();
    const wanted = new Set(hashes);
    for (const m of manifests) {
      const set = await this.chunkSets.get(m, async () => {
        // (not in `loaded` when the cache dropped it since the check above)
        const list = loaded.get(m) ?? (await this.ctx.meta.manifestChunkLists([m])).get(m);
        if (!list) throw new NotFoundError(`manifest ${m} is missing`);
        return list;
      });
      for (const h of wanted) if (set.has(h)) wanted.delete(h);
      if (wanted.size === 0) break;
    }
    return hashes.filter((h) => wanted.has(h));
  }
}
