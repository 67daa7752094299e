/**
 * A remote, as the sync engine sees it: a StorageBackend plus a key prefix (the folder the
 * operation is about). Paths inside a remote are relative to the prefix (`a/b.txt`).
 *
 * Two remotes over the same backend instance can use its server-side copy and move between
 * them (a rename on a Ferry server, `rename(2)` on disk); {@link openRemotes} arranges that
 * when two remote strings name places in one store.
 */
import { realpathSync } from 'node:fs';
import path from 'node:path';
import { normalizeKey } from '../core/path.js';
import { NotADirectoryError, NotFoundError, UsageError } from '../core/errors.js';
import { canCheckDirectories, hasDirectories, type StorageBackend } from '../core/storage.js';
import type { BackendRegistry } from '../backends/registry.js';
import type { RemoteSpec } from '../backends/definition.js';
import { defaultRegistry, remoteContext } from '../remotes/index.js';

export interface Remote {
  backend: StorageBackend;
  /** Key prefix of the folder ('' for the backend's root), normalized, no trailing slash. */
  prefix: string;
  /** For messages: what the person typed, secrets removed. */
  label: string;
  /**
   * The remote stands for this one file directly inside the folder, not the folder's whole
   * tree: a single-file source (rclone's `copy file dir/`) and the destination folder it goes
   * into. Listings show that file alone (so a sync deletes nothing beside it).
   */
  only?: string;
  /** Told of each entry its listings leave out (a local symbolic link), by its path in the remote: the CLI warns. */
  onSkip?: (rel: string, reason: string) => void;
}

export function makeRemote(backend: StorageBackend, prefix = '', label?: string): Remote {
  const p = prefix === '' ? '' : normalizeKey(prefix);
  return { backend, prefix: p, label: label ?? (p ? `${backend.name}/${p}` : backend.name) };
}

/** The backend key of a path relative to the remote. */
export function keyOf(remote: Remote, rel: string): string {
  return remote.prefix === '' ? rel : rel === '' ? remote.prefix : `${remote.prefix}/${rel}`;
}

/** The remote's path of a backend key, or undefined when the key is outside it. */
export function relOf(remote: Remote, key: string): string | undefined {
  if (remote.prefix === '') return key;
  if (key === remote.prefix) return '';
  return key.startsWith(remote.prefix + '/') ? key.slice(remote.prefix.length + 1) : undefined;
}

/** Whether server-side copy/move between the two remotes is possible (one backend instance). */
export function sameBackend(a: Remote, b: Remote): boolean {
  return a.backend === b.backend;
}

/** Whether one remote is inside the other (the same folder included). */
export function overlaps(a: Remote, b: Remote): boolean {
  if (!sameBackend(a, b)) return false;
  const inside = (x: string, y: string) => y === '' || x === y || x.startsWith(y + '/');
  // A one-file remote is that file's path (a file copied into a folder beside it is fine).
  const place = (r: Remote) => (r.only === undefined ? r.prefix : keyOf(r, r.only));
  return inside(place(a), place(b)) || inside(place(b), place(a));
}

/** UsageError when one remote is inside the other: a run between them would copy into what it reads. */
export function refuseOverlap(a: Remote, b: Remote): void {
  if (overlaps(a, b)) throw new UsageError(`${a.label} and ${b.label} overlap: one is inside the other`);
}

/** The modify window of two remotes: the coarser mtime precision, at least 1 ms. */
export function modifyWindow(a: Remote, b: Remote): number {
  return Math.max(1, a.backend.features().mtimePrecisionMs, b.backend.features().mtimePrecisionMs);
}

/** A sub-folder of a remote (for --backup-dir given as a path inside the destination's store). */
export function subRemote(remote: Remote, rel: string): Remote {
  return makeRemote(remote.backend, keyOf(remote, normalizeKey(rel)), `${remote.label}/${rel}`);
}

/** Deepest common directory of two absolute local paths. */
export function commonDir(a: string, b: string): string {
  const pa = a.split(path.sep);
  const pb = b.split(path.sep);
  let i = 0;
  while (i < pa.length && i < pb.length && pa[i] === pb[i]) i++;
  return pa.slice(0, i).join(path.sep) || path.sep;
}

/** The real path of `p`: symlinks of its existing part resolved, the missing rest appended. */
export function realPath(p: string): string {
  const abs = path.resolve(p);
  try {
    return realpathSync(abs);
  } catch {
    const parent = path.dirname(abs);
    return parent === abs ? abs : path.join(realPath(parent), path.basename(abs));
  }
}

/**
 * Opens remote strings, sharing one backend between those that name places in the same
 * store so that moves between them are renames: local folders (one backend at their deepest
 * common directory) and Ferry remotes of one server (one backend at `/`).
 */
export async function openRemotes(
  specs: string[],
  env: Readonly<Record<string, string | undefined>> = process.env,
  registry: BackendRegistry = defaultRegistry,
  options: { retries?: number } = {},
): Promise<Remote[]> {
  // Named remotes (`ferry remote add`) and FERRY_<TYPE>_<OPTION> variables, as every command.
  const context = await remoteContext(env);
  const parsed: RemoteSpec[] = specs.map((s) => registry.parseRemote(s, context));
  // A Ferry server's client retries each request itself: with the run's --retries (the retry
  // decorator then adds none, see backends/decorators/retry.ts), not its own default of 8.
  if (options.retries !== undefined) {
    for (const p of parsed) if (p.type === 'ferry' && p.options.retries === undefined) p.options = { ...p.options, retries: options.retries };
  }
  const labels = specs.map((s) => registry.redactRemote(s));
  const out: Remote[] = new Array(specs.length);
  const locals = parsed.map((p, i) => ({ p, i })).filter(({ p }) => p.type === 'local');
  if (locals.length > 1 && locals.every(({ p }) => p.options.followSymlinks === undefined)) {
    // Real paths: a symlink between the shared root and a folder would otherwise be skipped.
    const roots = locals.map(({ p }) => realPath(String(p.options.root)));
    let base = roots[0];
    for (const r of roots.slice(1)) base = commonDir(base, r);
    const backend = await registry.open({ type: 'local', options: { root: base } }, context);
    locals.forEach(({ i }, j) => {
      const rel = path.relative(base, roots[j]).split(path.sep).join('/');
      out[i] = makeRemote(backend, rel, labels[i]);
    });
  }
  // Remotes of one type and one server (same options but the path) share a backend when the
  // type's options have a `root`/`path` and the rest match: one connection pool, server-side moves.
  const groups = new Map<string, { backend: Promise<StorageBackend>; base: string }>();
  for (let i = 0; i < specs.length; i++) {
    if (out[i] !== undefined) continue;
    const { type, options, origin } = parsed[i];
    const pathOption = type === 'ferry' && typeof options.path === 'string' ? 'path' : undefined;
    if (pathOption === undefined) {
      out[i] = makeRemote(await registry.open(parsed[i], context), '', labels[i]);
      continue;
    }
    const rest = { ...options, [pathOption]: '/' };
    // The origin too: a login's refused token is explained as that login's (see NamedRemote).
    const id = `${type}:${origin ?? ''}:${JSON.stringify(Object.entries(rest).sort())}`;
    let g = groups.get(id);
    if (!g) {
      g = { backend: registry.open({ type, options: rest, ...(origin ? { origin } : {}) }, context), base: '/' };
      groups.set(id, g);
    }
    out[i] = makeRemote(await g.backend, normalizeKey(String(options[pathOption])), labels[i]);
  }
  return out;
}

async function isFile(b: StorageBackend, key: string): Promise<boolean> {
  try {
    await b.stat(key);
    return true;
  } catch {
    return false;
  }
}

/**
 * A destination folder that is a file (`ferry sync ferry:/photos ./notes.txt`) lists as
 * empty, and each copy into it would then fail on its own with a parent error: refused once
 * here (FERRY_ERR_NOT_A_DIRECTORY), before anything is listed or copied. Only where
 * directories are real: on S3 an object `x` and keys below `x/` live side by side.
 * `spec` is the destination as typed.
 */
export async function refuseFileDestination(
  spec: string,
  dst: Remote,
  env: Readonly<Record<string, string | undefined>> = process.env,
  registry: BackendRegistry = defaultRegistry,
): Promise<void> {
  if (!hasDirectories(dst.backend)) return;
  const refuse = (): never => {
    throw new NotADirectoryError(`${dst.label} is a file, not a folder: name the folder it should go into`, { details: { remote: dst.label } });
  };
  if (dst.prefix !== '') {
    if (await isFile(dst.backend, dst.prefix)) refuse();
    return;
  }
  // The backend's own root names the place (`./notes.txt`): a file there is seen from its parent.
  if (!canCheckDirectories(dst.backend) || (await dst.backend.isDirectory(''))) return;
  const context = await remoteContext(env);
  const parent = registry.parentOf(registry.parseRemote(spec, context));
  if (parent === undefined) return;
  const backend = await registry.open(parent.remote, context);
  try {
    if (await isFile(backend, parent.name)) refuse();
  } finally {
    await backend.close?.();
  }
}

/**
 * A side of a bisync that must be an existing folder (rclone bisync refuses a missing path
 * too): `--resync` with a mistyped path1 made that folder and filled it with path2. Stores
 * without real folders (S3-like: a folder is its keys) cannot tell a missing folder from an
 * empty one, and pass. `name` says which side (`path1`).
 */
export async function refuseMissingFolder(side: Remote, name: string, signal?: AbortSignal): Promise<void> {
  if (!canCheckDirectories(side.backend) || (await side.backend.isDirectory(side.prefix, { signal }))) return;
  throw new NotFoundError(`${name} ${side.label} does not exist: bisync keeps two existing folders in step; make it first (mkdir, or ferry mkdir on a server)`, {
    details: { remote: side.label },
  });
}

/**
 * Makes a missing side of a first bisync (`--resync`), as its copies would have: with nothing
 * to copy (an empty path1, or all of it filtered out) no copy made it, and the next run
 * refused the pair saying the folder does not exist. Stores without real folders pass.
 */
export async function makeMissingFolder(side: Remote, signal?: AbortSignal): Promise<void> {
  if (!hasDirectories(side.backend) || !canCheckDirectories(side.backend) || (await side.backend.isDirectory(side.prefix, { signal }))) return;
  await side.backend.mkdir(side.prefix, { signal });
}

/**
 * When the source of a copy, move or sync names a file rather than a folder, as rclone
 * allows (`ferry copy report.pdf nas:/docs/`): the source becomes the file's folder
 * restricted to it, and the destination the folder it goes into, restricted to the same
 * name. Otherwise the remotes come back as they were. `spec` is the source as typed.
 */
export async function fileSource(
  spec: string,
  src: Remote,
  dst: Remote,
  env: Readonly<Record<string, string | undefined>> = process.env,
  registry: BackendRegistry = defaultRegistry,
): Promise<[Remote, Remote]> {
  const restrict = (from: Remote, name: string): [Remote, Remote] => [{ ...from, only: name }, { ...dst, only: name }];
  if (src.prefix !== '') {
    if (!(await isFile(src.backend, src.prefix))) return [src, dst];
    const slash = src.prefix.lastIndexOf('/');
    return restrict(makeRemote(src.backend, slash === -1 ? '' : src.prefix.slice(0, slash), src.label), src.prefix.slice(slash + 1));
  }
  // The backend's own root names the file (`./report.pdf`, `sftp://host/srv/x/a.iso`): open
  // its parent folder, when a folder listing finds nothing there.
  for await (const _ of src.backend.list('', {})) return [src, dst];
  const context = await remoteContext(env);
  const parsed = registry.parseRemote(spec, context);
  const parent = registry.parentOf(parsed);
  if (parent === undefined) return [src, dst];
  const backend = await registry.open(parent.remote, context);
  if (!(await isFile(backend, parent.name))) {
    await backend.close?.();
    return [src, dst];
  }
  if (src.backend !== dst.backend) await src.backend.close?.();
  return restrict(makeRemote(backend, '', src.label), parent.name);
}

/** Closes the distinct backends of some remotes. */
export async function closeRemotes(remotes: Remote[]): Promise<void> {
  const seen = new Set<StorageBackend>();
  for (const r of remotes) {
    if (seen.has(r.backend)) continue;
    seen.add(r.backend);
    await r.backend.close?.().catch(() => {});
  }
}
