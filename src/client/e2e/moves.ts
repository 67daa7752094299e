/**
 * `ferry mv` and `ferry cp` on one server when end-to-end folders (vaults) are involved
 * (docs/e2e.md, "Moving and copying"). Paths are plain: inside a vault each is turned into
 * its stored path here, never sent as it is. What the server would do by itself is
 * refused where it would strand encrypted names:
 *
 *   - in a vault (source and target in it, or in another vault of the same key): the
 *     target's names are computed for its new place, the server moves or copies the entry,
 *     and everything below it is renamed for its new folder (./rename.ts);
 *   - out of a vault, or from outside into one: refused (it would need decrypting, or
 *     encrypting, the files: that is `ferry get` and `ferry put`);
 *   - a vault that holds files, or a folder holding one, moved or copied as a whole: the
 *     server refuses it without the key (FERRY_ERR_E2E_NEEDS_KEY); then the key is asked
 *     for, the move made, and each vault's names encrypted again for its new path.
 */
import { NotFoundError, UsageError, ValidationError } from '../../core/errors.js';
import { baseName, isWithin, joinPath, normalizePath, parentPath } from '../../core/path.js';
import type { Entry } from '../../core/protocol.js';
import type { FerryApi } from '../api.js';
import { E2E_MARKER_NAME, isE2eName } from './format.js';
import type { E2eSecret } from './kdf.js';
import { findStored, rehome, relocate } from './rename.js';
import { encryptedFileNamed, inVault, keysAt, locateKey, markerIn, serverPathOf, vaultOf, type KeyLocation } from './transfer.js';

type Client = FerryApi<Buffer>;

export interface VaultMoveOptions {
  /** Replace an existing file at the target (default true, as mv(1)). */
  overwrite?: boolean;
  /** false: DEST is the exact target even when it is a folder (-T). */
  targetDirectory?: boolean;
  /** Replace the file at the target only if it still has this ETag (MoveOptions.ifMatch). */
  ifMatch?: string;
  /** cp: copy folders. */
  recursive?: boolean;
  /** Say what would be done ("(dry run) …" lines), do nothing. */
  onDryRun?: (line: string) => void;
  signal?: AbortSignal;
}

/** What was done: the entry at its new place (its plain path), and how many names below it were encrypted again. */
export interface VaultMoveResult {
  entry: Entry;
  renamed: number;
}

const sameKey = (a: KeyLocation, b: KeyLocation): boolean => a.marker.check === b.marker.check && JSON.stringify(a.marker.kdf) === JSON.stringify(b.marker.kdf);

/**
 * Moves or copies `src` to `destArg` on one server when a vault is involved; undefined
 * when neither place is in a vault (the caller does an ordinary move, and comes back to
 * {@link moveVaultsWithin} if the server says the tree holds a vault).
 */
export async function moveInVaults(client: Client, op: 'move' | 'copy', src: string, destArg: string, secret: () => Promise<E2eSecret>, options: VaultMoveOptions = {}): Promise<VaultMoveResult | undefined> {
  const { signal } = options;
  const from = normalizePath(src);
  const dest = normalizePath(destArg);
  const fromVault = from === '/' ? undefined : await vaultOf(client, from, signal);
  const destVault = await vaultOf(client, dest, signal);
  const srcInside = inVault(fromVault, from);
  if (!srcInside && !destVault) return undefined;
  const keys = srcInside ? await keysAt(fromVault, await secret()) : destVault ? await keysAt(destVault, await secret()) : undefined;
  // Where SRC lands: into DEST when it is an existing folder (mv(1)), unless -T.
  let target = dest;
  if (options.targetDirectory !== false) {
    if (destArg.endsWith('/')) target = joinPath(dest, baseName(from));
    else {
      const d = inVault(destVault, dest) ? await findStored(client, keys!, destVault, dest, signal) : await client.statIfExists(dest, { signal });
      if (d?.type === 'dir') target = joinPath(dest, baseName(from));
    }
  }
  const targetVault = inVault(destVault, target) ? destVault : undefined;
  if (!srcInside) {
    if (targetVault) throw new ValidationError(`${target} is in the end-to-end folder ${targetVault.dir} and ${from} is not: ${op === 'move' ? 'moving' : 'copying'} it in would need encrypting it (upload it with \`ferry put\`)`);
    return undefined; // DEST is a vault itself, taken as the exact target (-T): the server decides
  }
  if (!targetVault) {
    throw new ValidationError(`${from} is in the end-to-end folder ${fromVault.dir} and ${target} is not: ${op === 'move' ? 'moving' : 'copying'} it out would need decrypting it (\`ferry get\` it, then \`ferry put\` it there)`);
  }
  if (!sameKey(fromVault, targetVault)) throw new ValidationError(`${fromVault.dir} and ${targetVault.dir} are end-to-end folders of different keys: \`ferry get\` and \`ferry put\` the files instead`);
  if (isWithin(target, from)) throw new ValidationError(`cannot ${op} ${from} into itself (${target})`);
  const found = await findStored(client, keys!, fromVault, from, signal);
  if (!found) throw new NotFoundError(`${from}: no such file or directory`, { details: { path: from } });
  if (op === 'copy' && found.type === 'dir' && !options.recursive) throw new UsageError(`${from} is a directory: use \`recursive: true\` to copy it`);
  const stored = await serverPathOf(keys!, targetVault, target);
  const plainEntry = (e: Entry): Entry => ({ ...e, path: target, name: baseName(target) });
  if (options.onDryRun) {
    options.onDryRun(`(dry run) ${op} ${from} -> ${target}`);
    return { entry: plainEntry(found), renamed: 0 };
  }
  const overwrite = options.overwrite ?? true;
  const done = await relocate(client, keys!, op, { stored: found.path, type: found.type }, { stored, plain: target }, { overwrite, ifMatch: options.ifMatch, signal });
  return { entry: plainEntry(done.entry), renamed: done.renamed };
}

/**
 * After the server refused an ordinary move or copy of `from` with FERRY_ERR_E2E_NEEDS_KEY
 * (the tree is, or holds, a vault with files): the same with the key, then every vault in
 * the tree gets its names encrypted for its new path.
 */
export async function moveVaultsWithin(client: Client, op: 'move' | 'copy', from: string, target: string, secret: () => Promise<E2eSecret>, options: VaultMoveOptions = {}): Promise<VaultMoveResult> {
  const { signal } = options;
  const vaults = await vaultsIn(client, from, signal);
  const s = await secret();
  const keys = await Promise.all(vaults.map((v) => keysAt(v, s))); // a wrong key stops here, before anything moves
  if (options.onDryRun) {
    options.onDryRun(`(dry run) ${op} ${from} -> ${target}, and encrypt the names of ${vaults.length} end-to-end folder(s) again for their new path`);
    return { entry: await client.stat(from, { signal }), renamed: 0 };
  }
  const o = { overwrite: options.overwrite ?? true, ifMatch: options.ifMatch, reencrypt: true, signal };
  const entry = op === 'move' ? await client.move(from, target, o) : await client.copy(from, target, o);
  let renamed = 0;
  for (const [i, v] of vaults.entries()) {
    const moved = target + v.dir.slice(from.length);
    renamed += await rehome(client, keys[i], moved, moved, signal);
  }
  return { entry, renamed };
}

/**
 * The server path to act on for a plain path (`ferry rm`): inside a vault its stored path
 * (the key is asked for; NOT_FOUND when there is none); elsewhere the path itself, or the
 * stored path of the file put with --encrypt under that plain name when the server has no
 * entry of that name ({@link encryptedFileNamed}).
 */
export async function serverPathFor(client: Client, plainPath: string, secret: () => Promise<E2eSecret>, signal?: AbortSignal): Promise<string> {
  const path = normalizePath(plainPath);
  const vault = path === '/' ? undefined : await vaultOf(client, path, signal);
  if (!inVault(vault, path)) return (await encryptedFileNamed(client, path, secret, signal))?.serverPath ?? path;
  // The vault's marker is the one plain name in it.
  if (path === joinPath(vault.dir, E2E_MARKER_NAME)) return path;
  const found = await findStored(client, await keysAt(vault, await secret()), vault, path, signal);
  if (!found) throw new NotFoundError(`${path}: no such file or directory`, { details: { path } });
  return found.path;
}

/**
 * Where a file put with --encrypt (outside a vault) goes when moved or copied to the plain
 * path `plainTarget`: that path with its last name encrypted for its folder (so that `get`
 * and `ls` find it there by its plain name), or `plainTarget` itself when its last name is
 * already an encrypted one. `loc`: the key's marker, as {@link encryptedFileNamed} found it.
 */
export async function encryptedTargetOf(client: Client, plainTarget: string, secret: () => Promise<E2eSecret>, loc: KeyLocation | undefined, signal?: AbortSignal): Promise<string> {
  if (isE2eName(baseName(plainTarget))) return plainTarget;
  const at = loc ?? (await locateKey(client, parentPath(plainTarget), signal));
  if (!at) throw new NotFoundError(`no end-to-end key marker above ${plainTarget}`, { details: { path: plainTarget } });
  return serverPathOf(await keysAt(at, await secret()), undefined, plainTarget);
}

/**
 * `ferry mkdir` of a plain path inside a vault: the folder is made under its encrypted name
 * (with `parents`, each missing folder above it too). False when the path is not in a vault.
 */
export async function mkdirInVault(client: Client, plainPath: string, secret: () => Promise<E2eSecret>, options: { parents?: boolean; signal?: AbortSignal } = {}): Promise<boolean> {
  const { signal } = options;
  const path = normalizePath(plainPath);
  const vault = path === '/' ? undefined : await vaultOf(client, path, signal);
  if (!inVault(vault, path)) return false;
  const keys = await keysAt(vault, await secret());
  const parent = parentPath(path);
  let storedParent = parent === vault.dir ? parent : (await findStored(client, keys, vault, parent, signal))?.path;
  if (storedParent === undefined && options.parents) {
    await mkdirInVault(client, parent, secret, options);
    storedParent = (await findStored(client, keys, vault, parent, signal))?.path;
  }
  // A missing parent without --parents: its computed path, which the server answers as missing.
  storedParent ??= await serverPathOf(keys, vault, parent);
  await client.mkdir(joinPath(storedParent, await keys.encryptName(parent, baseName(path))), { parents: options.parents, signal });
  return true;
}

/** The vaults at or below a plain folder (their markers, read); nothing below a vault is asked for. */
async function vaultsIn(client: Client, dir: string, signal?: AbortSignal): Promise<KeyLocation[]> {
  const out: KeyLocation[] = [];
  const own = await markerIn(client, dir, signal);
  if (own?.marker.vault) return [own];
  for await (const e of client.list(dir, { recursive: true, signal })) {
    if (e.type !== 'file' || e.name !== E2E_MARKER_NAME) continue;
    const folder = e.path.slice(0, -(E2E_MARKER_NAME.length + 1));
    if (out.some((v) => isWithin(folder, v.dir))) continue;
    const found = await markerIn(client, folder, signal);
    if (found?.marker.vault) out.push(found);
  }
  return out;
}
