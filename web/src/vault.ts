/**
 * The web app's end-to-end vaults (folders made with `ferry mkdir --e2e`): which vault a
 * folder is in, the keys of the vaults unlocked in this tab, and the plain view of a vault
 * folder (names decrypted, sizes and times from each file's sealed table).
 *
 * Keys live in this module's memory only: never in localStorage, IndexedDB or a cookie,
 * never sent to the server. A reload, a new tab or "Lock" forgets them; the passphrase
 * itself is not kept at all (only the keys derived from it).
 */
import type { FerryApi } from '../../src/client/api.js';
import { E2E_MARKER_NAME, fromBase64Url, isE2eName, type E2eFileInfo, type E2eKeys } from '../../src/client/e2e/format.js';
import { keysFor, type E2eSecret } from '../../src/client/e2e/kdf.js';
import { inVault, markerIn, readFileKey, serverPathOf, vaultOf, type KeyLocation } from '../../src/client/e2e/locate.js';
import { relocate } from '../../src/client/e2e/rename.js';
import { FerryError, isFerryError } from '../../src/core/errors.js';
import { isWithin, joinPath, parentPath, relativePath } from '../../src/core/path.js';
import type { Entry } from '../../src/core/protocol.js';
import { browserScrypt } from './e2e.js';

export type { KeyLocation };

/** Keys by marker (its parameters and check value): a user's vaults share one key, unlocked once. */
const unlocked = new Map<string, E2eKeys>();
const listeners = new Set<() => void>();
const idOf = (loc: KeyLocation) => JSON.stringify([loc.marker.kdf, loc.marker.check]);

export function onKeysChanged(fn: () => void): () => void {
  listeners.add(fn);
  return () => void listeners.delete(fn);
}

export const keysOfVault = (loc: KeyLocation): E2eKeys | undefined => unlocked.get(idOf(loc));

/** Derives the keys (scrypt in the page) and checks them against the marker: FERRY_ERR_CRYPTO_KEY_WRONG if wrong. */
export async function unlockVault(loc: KeyLocation, secret: E2eSecret): Promise<E2eKeys> {
  const keys = await keysFor(secret, loc.marker.kdf, loc.marker.check, browserScrypt);
  unlocked.set(idOf(loc), keys);
  for (const l of listeners) l();
  return keys;
}

/** Forgets every key of this tab. */
export function lockVaults(): void {
  unlocked.clear();
  for (const l of listeners) l();
}

/** A key file as `ferry admin keygen` writes it: `ferry-key-1:` + base64url of 32 bytes. */
export function parseKeyFileText(text: string): Uint8Array {
  const t = text.trim();
  let bytes: Uint8Array | undefined;
  try {
    bytes = t.startsWith('ferry-key-1:') ? fromBase64Url(t.slice('ferry-key-1:'.length)) : undefined;
  } catch {
    bytes = undefined;
  }
  if (!bytes || bytes.length !== 32) throw new FerryError('FERRY_ERR_VALIDATION', 'this is not a Ferry key file (one line "ferry-key-1:…" from ferry admin keygen)');
  return bytes;
}

/** The vault a plain folder path is or is in (undefined: a plain folder). */
export const findVault = (api: FerryApi, plainPath: string): Promise<KeyLocation | undefined> => vaultOf(api, plainPath);

/** The server path of a plain path in (or of) a vault. */
export const storedPath = (keys: E2eKeys, loc: KeyLocation, plainPath: string): Promise<string> => (inVault(loc, plainPath) ? serverPathOf(keys, loc, plainPath) : Promise.resolve(plainPath));

/** An entry of a vault folder as the page shows it: plain name and path, and where it is stored. */
export interface VaultEntry extends Entry {
  /** The entry's path on the server (encrypted names): also its `path`. */
  stored: string;
  /** Its plain path. */
  plain: string;
  /** The stored name did not decrypt with this key (shown as stored). */
  foreign?: boolean;
  /** Size and mtime come from the sealed table (else: the stored size and upload time). */
  exact?: boolean;
}

/**
 * The plain path of a stored path in a vault (the page's address holds the stored path, so
 * that a reload or a bookmark never sends a plain name to the server); a segment that does
 * not decrypt with this key stays as it is.
 */
export async function plainPathOf(keys: E2eKeys, loc: KeyLocation, stored: string): Promise<string> {
  if (!isWithin(stored, loc.dir) || stored === loc.dir) return stored;
  let plain = loc.dir;
  for (const seg of relativePath(stored, loc.dir).split('/')) plain = joinPath(plain, (await keys.decryptName(seg)) ?? seg);
  return plain;
}

/** The stored path of `rel` (a name, or a relative path of a dropped folder) below a folder known by both its paths. */
export async function storedChild(keys: E2eKeys, storedDir: string, plainDir: string, rel: string): Promise<string> {
  let stored = storedDir;
  let plain = plainDir;
  for (const seg of rel.split('/').filter(Boolean)) {
    stored = joinPath(stored, await keys.encryptName(plain, seg));
    plain = joinPath(plain, seg);
  }
  return stored;
}

/** A vault folder's entries, names decrypted (the marker left out); `path` stays the stored path. */
export async function listVault(api: FerryApi, keys: E2eKeys, loc: KeyLocation, storedDir: string, plainDir: string, signal?: AbortSignal): Promise<VaultEntry[]> {
  const out: VaultEntry[] = [];
  for await (const e of api.list(storedDir, { signal })) {
    if (e.name === E2E_MARKER_NAME && storedDir === loc.dir) continue;
    const name = await keys.decryptName(e.name);
    if (name === undefined) out.push({ ...e, stored: e.path, plain: joinPath(plainDir, e.name), foreign: true });
    else out.push({ ...e, name, stored: e.path, plain: joinPath(plainDir, name) });
  }
  return out;
}

/**
 * A stored path as this tab can show it: `path` with every encrypted name that some unlocked key
 * opens decrypted, and each other one as {@link LOCKED_NAME}; `locked` when one stayed encrypted.
 */
export const LOCKED_NAME = '(encrypted name)';

export interface ShownPath {
  path: string;
  encrypted: boolean;
  locked: boolean;
}

/** A stored path with no name decrypted: what shows until {@link showStoredPath} has answered. */
export function maskedPath(stored: string): ShownPath {
  const segs = stored.split('/');
  const encrypted = segs.some(isE2eName);
  return { path: encrypted ? segs.map((s) => (isE2eName(s) ? LOCKED_NAME : s)).join('/') : stored, encrypted, locked: encrypted };
}

/**
 * Decrypts what it can of a stored path without knowing its vault (the trash lists files
 * whose vault may be gone): each segment that looks encrypted is tried with every key
 * unlocked in this tab; a key that is not the segment's fails its check and says nothing.
 */
export async function showStoredPath(stored: string): Promise<ShownPath> {
  let encrypted = false;
  let locked = false;
  const out: string[] = [];
  for (const seg of stored.split('/')) {
    if (!isE2eName(seg)) {
      out.push(seg);
      continue;
    }
    encrypted = true;
    let name: string | undefined;
    for (const keys of unlocked.values()) if ((name = await keys.decryptName(seg)) !== undefined) break;
    if (name === undefined) locked = true;
    out.push(name ?? LOCKED_NAME);
  }
  return { path: out.join('/'), encrypted, locked };
}

/** The sealed table's name, size and mtime of a stored file, with its file key (for share links): its manifest, then its first chunks only. */
export const fileInfo = (api: FerryApi, keys: E2eKeys, storedPath: string): Promise<{ fileKey: Uint8Array; info: E2eFileInfo }> => readFileKey(api, storedPath, async () => ({ keys }));

/** File operations in a vault: on stored paths, names encrypted for their (new) plain folder. */
export function vaultOps(api: FerryApi, keys: E2eKeys, loc: KeyLocation) {
  const vaultDir = loc.dir;
  const within = (plainDir: string) => {
    const inside = plainDir === loc.dir || inVault(loc, plainDir);
    if (!inside) {
      throw new FerryError('FERRY_ERR_VALIDATION', `${plainDir} is outside the end-to-end folder ${vaultDir}: moving or copying out of it would need decrypting (download the file and upload it there)`);
    }
  };
  const place = async (e: VaultEntry, plainDir: string, how: 'move' | 'copy', name = e.name) => {
    if (e.foreign) throw new FerryError('FERRY_ERR_VALIDATION', `${e.name} is not encrypted with this vault's key: it can only be deleted here`);
    within(plainDir);
    const plain = joinPath(plainDir, name);
    await relocate(api, keys, how, { stored: e.stored, type: e.type }, { stored: await storedPath(keys, loc, plain), plain });
  };
  return {
    mkdir: async (storedDir: string, plainDir: string, name: string) => void (await api.mkdir(await storedChild(keys, storedDir, plainDir, name))),
    /** In its own folder, wherever that is stored. */
    rename: async (e: VaultEntry, plainDir: string, name: string) => {
      if (e.foreign) throw new FerryError('FERRY_ERR_VALIDATION', `${e.name} is not encrypted with this vault's key: it can only be deleted here`);
      const target = await storedChild(keys, parentPath(e.stored), plainDir, name);
      await relocate(api, keys, 'move', { stored: e.stored, type: e.type }, { stored: target, plain: joinPath(plainDir, name) });
    },
    moveTo: (e: VaultEntry, plainDir: string) => place(e, plainDir, 'move'),
    copyTo: (e: VaultEntry, plainDir: string) => place(e, plainDir, 'copy'),
    remove: (e: VaultEntry) => api.remove(e.stored, { recursive: e.type === 'dir' }),
  };
}

/**
 * Moves (renames) a folder of a plain folder with the server's move, and when the server
 * refuses it because the folder is a vault that holds files (FERRY_ERR_E2E_NEEDS_KEY: every
 * name below it is encrypted with its path), with this tab's keys of that vault: the move
 * with `reencrypt`, then every name below encrypted again for the new path (the CLI's code,
 * rename.ts). A vault locked in this tab, or a folder that only holds a vault, stays
 * refused, with a message saying what to do.
 */
export async function moveFolderOrVault(api: FerryApi, from: string, to: string): Promise<void> {
  try {
    await api.move(from, to, { overwrite: false });
    return;
  } catch (err) {
    if (!isFerryError(err, 'FERRY_ERR_E2E_NEEDS_KEY')) throw err;
  }
  const loc = await markerIn(api, from);
  if (!loc?.marker.vault) throw new FerryError('FERRY_ERR_E2E_NEEDS_KEY', `${from} holds an end-to-end encrypted folder with files, whose names are encrypted with its path: move it with \`ferry mv\`, which asks for the key`);
  const keys = keysOfVault(loc);
  if (!keys) throw new FerryError('FERRY_ERR_E2E_NEEDS_KEY', `${from} is an end-to-end encrypted folder with files, whose names are encrypted with its path: open it and unlock it first, then rename or move it here (or use \`ferry mv\`)`);
  await relocate(api, keys, 'move', { stored: from, type: 'dir' }, { stored: to, plain: to }, { overwrite: false });
}
