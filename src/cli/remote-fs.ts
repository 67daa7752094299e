/**
 * ls, stat, cat, size, rm, mkdir, mv and cp on any remote the registry opens (local, S3,
 * SFTP, memory, a named remote), as rclone's commands of the same names: a location is opened
 * as its parent folder plus a name in it, so one place can be a file or a folder and the
 * commands find out which. The logged-in Ferry server goes through the SDK instead (richer
 * answers: hashes, modes, expiry, copies by reference), see the commands.
 */
import type { Readable } from 'node:stream';
import { AlreadyExistsError, DirectoryNotEmptyError, IsADirectoryError, NotADirectoryError, NotFoundError, UsageError, ValidationError, isFerryError } from '../core/errors.js';
import type { Entry } from '../core/protocol.js';
import { isUnnameable, type SkippedNames } from './skipped-names.js';
import {
  canCheckDirectories,
  copyObject,
  hasDirectories,
  moveObject,
  relateKeys,
  type DirEntry,
  type OpOptions,
  type StorageBackend,
} from '../core/storage.js';
import type { BackendRegistry } from '../backends/registry.js';
import type { RemoteContext } from '../backends/definition.js';

/** One location opened: a backend and the key of the thing inside it ('' for the backend's root). */
export interface Place {
  backend: StorageBackend;
  key: string;
  label: string;
}

/** Opens `spec` as its parent folder and its name there (the root of a store stays the root). */
export async function openPlace(spec: string, registry: BackendRegistry, context: RemoteContext = {}): Promise<Place> {
  const parsed = registry.parseRemote(spec, context);
  const parent = registry.parentOf(parsed);
  const label = registry.redactRemote(spec);
  if (parent === undefined) return { backend: await registry.open(parsed, context), key: '', label };
  return { backend: await registry.open(parent.remote, context), key: parent.name, label };
}

/**
 * Opens several specs as places, sharing a backend where they are in one store, so that keys
 * compare and a move is the store's own: local folders share one backend at their deepest
 * common directory (real paths, as the sync engine's remotes do), other stores one backend
 * per identical folder. Two spellings of one local file (`./a`, `sub/../a`) are then one key:
 * mv and cp can tell a file or folder from itself, or a folder from one inside it.
 */
export async function openPlaces(specs: string[], registry: BackendRegistry, context: RemoteContext = {}): Promise<Place[]> {
  const { commonDir, realPath } = await import('../sync/remote.js');
  const { relative, sep } = await import('node:path');
  const opened = specs.map((spec) => {
    const parsed = registry.parseRemote(spec, context);
    const parent = registry.parentOf(parsed);
    return { remote: parent?.remote ?? parsed, name: parent?.name ?? '', label: registry.redactRemote(spec) };
  });
  const locals = opened.filter((o) => o.remote.type === 'local' && o.remote.options.followSymlinks === undefined);
  let shared: StorageBackend | undefined;
  let base = '';
  if (locals.length > 1) {
    base = locals.map((o) => realPath(String(o.remote.options.root))).reduce(commonDir);
    shared = await registry.open({ type: 'local', options: { root: base } }, context);
  }
  const byFolder = new Map<string, StorageBackend>();
  const places: Place[] = [];
  for (const o of opened) {
    if (shared && locals.includes(o)) {
      const rel = relative(base, realPath(String(o.remote.options.root))).split(sep).join('/');
      places.push({ backend: shared, key: join(rel, o.name), label: o.label });
      continue;
    }
    const id = `${o.remote.type}:${JSON.stringify(Object.entries(o.remote.options).sort())}`;
    let backend = byFolder.get(id);
    if (backend === undefined) {
      backend = await registry.open(o.remote, context);
      byFolder.set(id, backend);
    }
    places.push({ backend, key: o.name, label: o.label });
  }
  return places;
}

/** Opens the specs (sharing backends, see openPlaces), runs `fn`, closes them. */
export async function withPlaces<T>(specs: string[], fn: (places: Place[]) => Promise<T>, env: Readonly<Record<string, string | undefined>> = process.env): Promise<T> {
  const { defaultRegistry, remoteContext } = await import('../remotes/index.js');
  const context = await remoteContext(env);
  let places: Place[] = [];
  try {
    places = specs.length === 1 ? [await openPlace(specs[0], defaultRegistry, context)] : await openPlaces(specs, defaultRegistry, context);
    return await fn(places);
  } finally {
    for (const b of new Set(places.map((p) => p.backend))) await b.close?.().catch(() => {});
  }
}

const join = (a: string, b: string) => (a === '' ? b : b === '' ? a : `${a}/${b}`);
const nameOf = (key: string) => key.slice(key.lastIndexOf('/') + 1);

function entryOf(key: string, type: 'file' | 'dir', info: Partial<DirEntry> = {}): Entry {
  const e: Entry = { path: '/' + key, name: nameOf(key), type, size: type === 'dir' ? 0 : (info.size ?? 0), mtime: info.mtime ?? 0 };
  if (info.hashes?.sha256) e.hash = info.hashes.sha256;
  return e;
}

/**
 * `key` (the place's own key or one below it) as a location a person can pass back to ferry:
 * the place as they wrote it, plus the rest (`./d` and `d/sub/x` -> `./d/sub/x`). Keys are
 * relative to a backend that may be opened higher up (the parent folder, the common folder of
 * two local paths), so `/` + key alone would name another file: `/sub/x` on the server.
 */
export function locationOf(p: Place, key: string): string {
  const rest = p.key === '' ? key : key === p.key ? '' : key.startsWith(p.key + '/') ? key.slice(p.key.length + 1) : undefined;
  if (rest === undefined) throw new Error(`${key} is not within ${p.key}`);
  if (rest === '') return p.label;
  // A typed remote's options (`memory:x?directories=real`) stay at the end; a local path has none.
  const q = /^[A-Za-z][A-Za-z0-9+.-]+:/.test(p.label) ? p.label.indexOf('?') : -1;
  const [where, options] = q === -1 ? [p.label, ''] : [p.label.slice(0, q), p.label.slice(q)];
  const base = where.replace(/(?<=[^/:])\/+$/, '');
  return (base.endsWith('/') || base.endsWith(':') ? base + rest : `${base}/${rest}`) + options;
}

/** An entry of `p` (its path a key with a leading slash) with its path as a location (locationOf). */
export function entryAtLocation(p: Place, e: Entry): Entry {
  return { ...e, path: locationOf(p, e.path.slice(1)) };
}

/** What the place is: a file, a folder, or FERRY_ERR_NOT_FOUND. The root of a store is a folder. */
export async function statPlace(p: Place, opts: OpOptions = {}): Promise<Entry> {
  if (p.key === '') return entryOf('', 'dir');
  try {
    const info = await p.backend.stat(p.key, opts);
    return entryOf(p.key, 'file', info);
  } catch (err) {
    if (!isFerryError(err, 'FERRY_ERR_NOT_FOUND')) throw err;
  }
  if (canCheckDirectories(p.backend) ? await p.backend.isDirectory(p.key, opts) : await hasChildren(p, opts)) return entryOf(p.key, 'dir');
  throw new NotFoundError(`${p.label}: no such file or directory`);
}

async function hasChildren(p: Place, opts: OpOptions): Promise<boolean> {
  for await (const _ of p.backend.list(p.key, { signal: opts.signal })) return true;
  return false;
}

/** The entries of a folder (or the file itself), sorted by path; paths relative to the backend's root. `onSkip`: what the listing leaves out (ListOptions). */
export async function* listPlace(p: Place, opts: { recursive?: boolean; signal?: AbortSignal; onSkip?: (key: string, reason: string) => void } = {}): AsyncGenerator<Entry> {
  const self = await statPlace(p, opts);
  if (self.type === 'file') {
    yield self;
    return;
  }
  const out: Entry[] = [];
  for await (const e of p.backend.list(p.key, opts)) out.push(entryOf(e.key, e.type, e));
  if (opts.recursive && p.backend.features().directories === 'virtual') {
    // A virtual store lists files only, recursively: the folders between are implied by keys.
    const dirs = new Set<string>();
    for (const e of out) {
      for (let k = e.path.lastIndexOf('/'); k > 0; k = e.path.lastIndexOf('/', k - 1)) {
        const d = e.path.slice(1, k);
        if (p.key !== '' && !(d + '/').startsWith(p.key + '/')) break;
        if (d === p.key) break;
        dirs.add(d);
      }
    }
    for (const d of dirs) out.push(entryOf(d, 'dir'));
  }
  out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  yield* out;
}

/** Files below a folder (recursive), with their keys. */
async function filesBelow(p: Place, opts: { signal?: AbortSignal; onSkip?: (key: string, reason: string) => void } = {}): Promise<DirEntry[]> {
  const out: DirEntry[] = [];
  for await (const e of p.backend.list(p.key, { recursive: true, ...opts })) if (e.type === 'file') out.push(e);
  return out;
}

/** Bytes and files below (or of) a place: rclone's `size`. */
export async function sizeOfPlace(p: Place, signal?: AbortSignal): Promise<{ files: number; bytes: number }> {
  const self = await statPlace(p, { signal });
  if (self.type === 'file') return { files: 1, bytes: self.size };
  let files = 0;
  let bytes = 0;
  for (const e of await filesBelow(p, { signal })) {
    files++;
    bytes += e.size ?? 0;
  }
  return { files, bytes };
}

/** A file's bytes. */
export async function readPlace(p: Place, signal?: AbortSignal): Promise<Readable> {
  const self = await statPlace(p, { signal });
  if (self.type === 'dir') throw new IsADirectoryError(`${p.label} is a directory`);
  return p.backend.read(p.key, { signal });
}

/**
 * Removes a file, or a folder with `recursive` (an empty real folder without). `onFile`: the
 * place must be a folder (`rm name/`); if it is a file, the error it returns is thrown and
 * nothing is removed.
 */
export async function removePlace(
  p: Place,
  opts: { recursive?: boolean; signal?: AbortSignal; dryRun?: boolean; onAction?: (line: string) => void; onFile?: () => Error; skipped?: SkippedNames },
): Promise<void> {
  const self = await statPlace(p, opts);
  const act = (line: string) => opts.onAction?.(opts.dryRun ? `(dry run) ${line}` : line);
  if (self.type === 'file') {
    if (opts.onFile) throw opts.onFile();
    act(`delete ${p.label}`);
    if (!opts.dryRun) await p.backend.delete(p.key, opts);
    return;
  }
  if (p.key === '') throw new UsageError(`refusing to remove the root of ${p.label}`);
  // A name the listing leaves out for what it holds (control characters) cannot be deleted
  // by key: it stays, and so do the folders that hold it.
  const kept: string[] = [];
  const onSkip = (key: string, reason: string) => {
    if (isUnnameable(key)) kept.push(key);
    opts.skipped?.add(key, reason, locationOf(p, key));
  };
  const files = await filesBelow(p, { signal: opts.signal, onSkip });
  if (!opts.recursive && files.length + kept.length > 0) throw new DirectoryNotEmptyError(`${p.label} is a directory that is not empty: use -r`);
  for (const f of files) {
    act(`delete ${locationOf(p, f.key)}`);
    if (!opts.dryRun) await p.backend.delete(f.key, opts);
  }
  const holdsKept = (d: string) => kept.some((k) => k.startsWith(`${d}/`));
  await removeDirs(p, { ...opts, keep: holdsKept, onDir: (d) => act(`rmdir ${locationOf(p, d)}`) });
  const failure = opts.skipped?.failure(opts.dryRun);
  if (failure) throw failure;
}

/**
 * Removes the folder and the folders below it, deepest first, where folders are real: each
 * once what it held is gone. `ifEmpty`: a folder that still holds something stays (after a
 * move, whatever arrived inside the source must not go with it); `keep`: one that holds a
 * name the listing left out stays, without trying.
 */
async function removeDirs(p: Place, opts: { signal?: AbortSignal; dryRun?: boolean; ifEmpty?: boolean; keep?: (key: string) => boolean; onDir?: (key: string) => void }): Promise<void> {
  if (!hasDirectories(p.backend)) return;
  const dirs: string[] = [];
  for await (const e of p.backend.list(p.key, { recursive: true, signal: opts.signal })) if (e.type === 'dir') dirs.push(e.key);
  dirs.sort((a, b) => b.length - a.length);
  for (const d of [...dirs, p.key]) {
    if (opts.keep?.(d)) continue;
    opts.onDir?.(d);
    if (opts.dryRun) continue;
    try {
      await p.backend.rmdir(d, opts);
    } catch (err) {
      if (!opts.ifEmpty) throw err; // rmdir removes only an empty folder: the others stay
    }
  }
}

/**
 * Makes a folder where folders are real; where they are implied by keys there is nothing to
 * make ('implied'). With `parents` a folder already there is 'existed'.
 */
export async function mkdirPlace(p: Place, opts: { parents?: boolean; signal?: AbortSignal; dryRun?: boolean }): Promise<'made' | 'existed' | 'implied'> {
  if (!hasDirectories(p.backend)) return 'implied';
  let existing: Entry | undefined;
  try {
    existing = await statPlace(p, opts);
  } catch (err) {
    if (!isFerryError(err, 'FERRY_ERR_NOT_FOUND')) throw err;
  }
  if (existing?.type === 'file') throw new NotADirectoryError(`${p.label} is a file`);
  if (existing !== undefined) {
    if (opts.parents) return 'existed';
    throw new AlreadyExistsError(`${p.label} already exists`);
  }
  if (!opts.parents) await requireParentDir(p, opts);
  if (opts.dryRun) return 'made';
  try {
    await p.backend.mkdir(p.key, opts);
  } catch (err) {
    // The backend names the key in the folder it was opened on (`x`); say what the user wrote.
    if (isFerryError(err, 'FERRY_ERR_NOT_A_DIRECTORY')) throw new NotADirectoryError(`${p.label}: a parent is a file, not a directory`, { cause: err });
    throw err;
  }
  return 'made';
}

/** Without -p, as mkdir(1): the folder above must be there (a store's own mkdir may make it). */
async function requireParentDir(p: Place, opts: OpOptions): Promise<void> {
  if (!canCheckDirectories(p.backend)) return;
  const parent = p.key.slice(0, Math.max(0, p.key.lastIndexOf('/')));
  if (await p.backend.isDirectory(parent, opts)) return;
  const file = parent !== '' && (await p.backend.stat(parent, opts).then(() => true, () => false));
  if (file) throw new NotADirectoryError(`${p.label}: a parent is a file, not a directory`);
  throw new NotFoundError(`${p.label}: no such directory above it (-p makes it)`);
}

/**
 * Copies (or moves) a file or, with `recursive`, a folder from one place to another: inside
 * one backend by its server-side copy/move when it has one, otherwise by streaming the bytes
 * through this process. `into`: the target is a folder receiving the source under its name.
 * The entry made is answered with its path as a location (locationOf).
 */
export async function transferPlace(
  from: Place,
  to: Place,
  opts: {
    move?: boolean;
    recursive?: boolean;
    noClobber?: boolean;
    /** true: the target is a folder (DEST/); false: exactly the target (-T); undefined: a folder if one is there. */
    into?: boolean;
    signal?: AbortSignal;
    dryRun?: boolean;
    onAction?: (line: string) => void;
  },
): Promise<Entry> {
  const src = await statPlace(from, opts);
  if (src.type === 'dir' && !opts.recursive && !opts.move) throw new UsageError(`${from.label} is a directory: use -r to copy it`);
  const inside = join(to.key, nameOf(from.key) || nameOf(from.label));
  let target = opts.into === true ? inside : to.key;
  if (opts.into === undefined) {
    try {
      if ((await statPlace(to, opts)).type === 'dir') target = inside;
    } catch (err) {
      if (!isFerryError(err, 'FERRY_ERR_NOT_FOUND')) throw err;
    }
  }
  await refuseOneStore(from, { ...to, key: target }, src.type, opts);
  const pairs: Array<[string, string]> =
    src.type === 'file'
      ? [[from.key, target]]
      : (await filesBelow(from, { signal: opts.signal })).map((f) => [f.key, join(target, f.key.slice(from.key === '' ? 0 : from.key.length + 1))]);
  for (const [a, b] of pairs) {
    if (opts.noClobber) {
      const exists = await to.backend.stat(b, opts).then(
        () => true,
        (err) => (isFerryError(err, 'FERRY_ERR_NOT_FOUND') ? false : Promise.reject(err)),
      );
      if (exists) throw new AlreadyExistsError(`${to.label}: ${b} exists (--no-clobber)`);
    }
    opts.onAction?.(`${opts.dryRun ? '(dry run) ' : ''}${opts.move ? 'move' : 'copy'} ${locationOf(from, a)} -> ${locationOf(to, b)}`);
    if (opts.dryRun) continue;
    if (from.backend === to.backend) {
      await (opts.move ? moveObject : copyObject)(from.backend, a, b, opts);
      continue;
    }
    const info = await from.backend.stat(a, opts);
    await to.backend.write(b, await from.backend.read(a, opts), { size: info.size, mtime: info.mtime, signal: opts.signal });
    if (opts.move) await from.backend.delete(a, opts);
  }
  if (opts.move && src.type === 'dir' && !opts.dryRun && from.key !== '') {
    // Only the emptied folders: one store seen through two backends (two spellings of an SFTP
    // path) may have received the files inside the source.
    await removeDirs(from, { ifEmpty: true, signal: opts.signal }).catch(() => {});
  }
  if (opts.dryRun) return { ...src, path: locationOf(to, target), name: nameOf(target) };
  return entryAtLocation(to, await statPlace({ ...to, key: target }, opts));
}

/**
 * The target being the source, or inside the source folder, is refused before anything is
 * copied: copying a file onto itself and deleting "the source" would lose it. Keys of one
 * backend compare as they are; two backends may still reach one store (`fs:dir/f` and
 * `fs:/dir/f` on an SFTP server whose home is `/`, two remote names for one bucket), compared
 * where both can tell where a key really is (relateKeys).
 */
async function refuseOneStore(from: Place, target: Place, type: Entry['type'], opts: { move?: boolean; signal?: AbortSignal }): Promise<void> {
  const how = await relateKeys(from.backend, from.key, target.backend, target.key, opts);
  if (how === 'same') throw new ValidationError(`${from.label} and ${target.label} are the same ${type === 'dir' ? 'folder' : 'file'}`);
  if (how === 'b-in-a' && type === 'dir') throw new ValidationError(`cannot ${opts.move ? 'move' : 'copy'} ${from.label} into itself (${target.label})`);
}

/** A remote folder or file that must exist and be a folder. */
export async function requireDir(p: Place, signal?: AbortSignal): Promise<void> {
  if ((await statPlace(p, { signal })).type !== 'dir') throw new NotADirectoryError(`${p.label} is not a directory`);
}
