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
import { E2E_MARKER_NAME, fromBase64Url, type E2eFileInfo, type E2eKeys } from '../../src/client/e2e/format.js';
import { keysFor, type E2eSecret } from '../../src/client/e2e/kdf.js';
import { inVault, readFileKey, serverPathOf, vaultOf, type KeyLocation } from '../../src/client/e2e/locate.js';
import { FerryError } from '../../src/core/errors.js';
import { joinPath } from '../../src/core/path.js';
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
  /** The entry's path on the server (encrypted names). */
  stored: string;
  /** The stored name did not decrypt with this key (shown as stored). */
  foreign?: boolean;
  /** Size and mtime come from the sealed table (else: the stored size and upload time). */
  exact?: boolean;
}

/** A vault folder's entries, names decrypted (the marker left out). */
export async function listVault(api: FerryApi, keys: E2eKeys, loc: KeyLocation, plainDir: string, signal?: AbortSignal): Promise<VaultEntry[]> {
  const serverDir = await storedPath(keys, loc, plainDir);
  const out: VaultEntry[] = [];
  for await (const e of api.list(serverDir, { signal })) {
    if (e.name === E2E_MARKER_NAME && plainDir === loc.dir) continue;
    const name = await keys.decryptName(e.name);
    if (name === undefined) out.push({ ...e, stored: e.path, foreign: true });
    else out.push({ ...e, name, path: joinPath(plainDir, name), stored: e.path });
  }
  return out;
}

/** The sealed table's name, size and mtime of a stored file, with its file key (for share links). */
export function fileInfo(api: FerryApi, keys: E2eKeys, storedPath: string, signal?: AbortSignal): Promise<{ fileKey: Uint8Array; info: E2eFileInfo }> {
  return readFileKey(api, storedPath, async (header) => {
    keys.verify(header.check);
    return { keys };
  }, signal);
}
