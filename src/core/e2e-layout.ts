/**
 * What the server may know of the end-to-end format (docs/e2e.md) without any key: the
 * stored file's magic, the suffix of encrypted names and the marker's name. The client's
 * format (src/client/e2e/format.ts) re-exports these; the server's vault guard
 * (src/store/vault-guard.ts) checks writes below a vault against them.
 */

/** The first bytes of every stored end-to-end file. */
export const E2E_MAGIC = 'FERRYE2E';
/** Every encrypted name ends with it: how a listing (and `ferry get`) tells one apart. */
export const E2E_NAME_SUFFIX = '.fe2e';
/** The marker object: KDF parameters, salt and key check of the key used below it. */
export const E2E_MARKER_NAME = '.ferry-e2e';

/** Whether a relative or absolute path names a marker (`.ferry-e2e`, `dir/.ferry-e2e`). */
export const isE2eMarkerPath = (p: string): boolean => p === E2E_MARKER_NAME || p.endsWith('/' + E2E_MARKER_NAME);

/**
 * Whether a server name looks like an encrypted one (by its suffix; no key needed). The
 * shortest real one is base64url of a 12-byte IV, one byte and a 16-byte tag: 39 characters.
 */
export const isE2eName = (name: string): boolean => name.endsWith(E2E_NAME_SUFFIX) && name.length > E2E_NAME_SUFFIX.length + 36;

const MAGIC_BYTES = new TextEncoder().encode(E2E_MAGIC);

/** Whether bytes begin with the end-to-end magic. */
export function hasE2eMagic(bytes: Uint8Array): boolean {
  if (bytes.length < MAGIC_BYTES.length) return false;
  for (let i = 0; i < MAGIC_BYTES.length; i++) if (bytes[i] !== MAGIC_BYTES[i]) return false;
  return true;
}
