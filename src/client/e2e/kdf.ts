/**
 * From a passphrase (or a key file) to an end-to-end user key, wherever the client runs.
 * The scrypt itself is passed in: Node.js has a native one (node:crypto, ./node-keys.ts),
 * browsers take @noble/hashes' (the web app); both give the same bytes for the same
 * parameters (tested).
 *
 * Parameters: scrypt N = 2^17, r = 8, p = 1, 32-byte output, 16-byte random salt: 128 MiB
 * of memory and 1.5 s of one core per derivation (measured here, cores busy with other work),
 * the cost OWASP recommends for scrypt; a
 * marker keeps its own parameters, so they can grow later without breaking old data.
 */
import { ConfigError } from '../../core/errors.js';
import { E2eKeys, fromBase64Url, toBase64Url, type E2eMarker, type KdfParams } from './format.js';

export const SCRYPT_PARAMS = { N: 2 ** 17, r: 8, p: 1 } as const;

/** scrypt(password, salt) with the given cost, 32 bytes out. */
export type Scrypt = (password: Uint8Array, salt: Uint8Array, params: { N: number; r: number; p: number }) => Promise<Uint8Array>;

/** What the user gave: a passphrase or the 32 bytes of a key file. */
export type E2eSecret = { passphrase: string } | { keyFile: Uint8Array };

/** Refuses parameters that would make a hostile marker eat memory or time (or weaken the key). */
function checkParams(kdf: KdfParams): void {
  if (kdf.name === 'key-file') return;
  if (kdf.name !== 'scrypt') throw new ConfigError(`unknown end-to-end key derivation ${JSON.stringify((kdf as { name: unknown }).name)}`);
  const ok = Number.isInteger(Math.log2(kdf.N)) && kdf.N >= 2 ** 14 && kdf.N <= 2 ** 20 && kdf.r >= 1 && kdf.r <= 32 && kdf.p >= 1 && kdf.p <= 16;
  if (!ok) throw new ConfigError('the end-to-end key parameters are outside what Ferry accepts (scrypt N 2^14..2^20, r 1..32, p 1..16)');
}

/** The user key the secret gives under `kdf` (the marker's or a file header's parameters). */
export async function userKeyOf(secret: E2eSecret, kdf: KdfParams, scrypt: Scrypt): Promise<Uint8Array> {
  checkParams(kdf);
  if (kdf.name === 'key-file') {
    if (!('keyFile' in secret)) throw new ConfigError('this end-to-end data was encrypted with a key file: give it with `keyFile`');
    return secret.keyFile;
  }
  if (!('passphrase' in secret)) throw new ConfigError('this end-to-end data was encrypted with a passphrase, not a key file: give that passphrase (a user has one end-to-end key: a new vault takes the one of the marker above it, or of the root)');
  const pass = new TextEncoder().encode(secret.passphrase.normalize('NFC'));
  return scrypt(pass, fromBase64Url(kdf.salt), kdf);
}

/** The keys of a secret under a marker's (or header's) parameters, checked against its key check value. */
export async function keysFor(secret: E2eSecret, kdf: KdfParams, check: string, scrypt: Scrypt): Promise<E2eKeys> {
  const keys = await E2eKeys.fromUserKey(await userKeyOf(secret, kdf, scrypt));
  keys.verify(check);
  return keys;
}

/** A new marker for a secret: fresh salt, the default cost. */
export async function newMarker(secret: E2eSecret, scrypt: Scrypt, vault: boolean): Promise<{ marker: E2eMarker; keys: E2eKeys }> {
  const kdf: KdfParams =
    'keyFile' in secret ? { name: 'key-file' } : { name: 'scrypt', ...SCRYPT_PARAMS, salt: toBase64Url(globalThis.crypto.getRandomValues(new Uint8Array(16))) };
  const keys = await E2eKeys.fromUserKey(await userKeyOf(secret, kdf, scrypt));
  return { marker: { ferryE2e: 1, kdf, check: keys.check, vault }, keys };
}

/** A marker read from the server, validated. */
export function parseMarker(text: string): E2eMarker {
  let m: Partial<E2eMarker>;
  try {
    m = JSON.parse(text) as Partial<E2eMarker>;
  } catch (err) {
    throw new ConfigError('the end-to-end marker is not valid JSON', { cause: err });
  }
  if (!m || m.ferryE2e !== 1 || typeof m.check !== 'string' || typeof m.kdf !== 'object' || m.kdf === null) throw new ConfigError('the end-to-end marker is damaged');
  checkParams(m.kdf);
  return { ferryE2e: 1, kdf: m.kdf, check: m.check, vault: m.vault === true };
}
