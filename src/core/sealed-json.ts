/**
 * Passphrase-sealed JSON, for the client's files that hold secrets (config.json with its
 * token, remotes.json with S3 keys and SFTP passwords): rclone's config encryption.
 *
 * A sealed file is itself JSON, `{"ferrySealed": 1, "kdf": {...}, "nonce", "sealed"}`: the
 * original JSON encrypted with AES-256-GCM under a key derived from the passphrase with
 * scrypt (N = 2^15, r = 8, p = 1: 32 MiB and about 0.1 s here, per file and process; a fresh
 * random 16-byte salt at every write). A wrong passphrase fails authentication:
 * FERRY_ERR_CRYPTO_KEY_WRONG; none given for a sealed file: FERRY_ERR_CRYPTO_KEY_MISSING.
 */
import { createCipheriv, createDecipheriv, randomBytes, scryptSync } from 'node:crypto';
import { ConfigError, CryptoKeyMissingError, CryptoKeyWrongError } from './errors.js';

export const SCRYPT_PARAMS = { N: 2 ** 15, r: 8, p: 1 } as const;

export interface SealedDocument {
  ferrySealed: 1;
  kdf: { name: 'scrypt'; N: number; r: number; p: number; salt: string };
  nonce: string;
  sealed: string;
}

export function isSealed(data: Record<string, unknown>): boolean {
  return data.ferrySealed === 1;
}

const derived = new Map<string, Buffer>();

function keyFor(passphrase: string, kdf: SealedDocument['kdf']): Buffer {
  const id = `${kdf.N}:${kdf.r}:${kdf.p}:${kdf.salt}:${passphrase}`;
  let key = derived.get(id);
  if (!key) {
    key = scryptSync(passphrase.normalize('NFC'), Buffer.from(kdf.salt, 'base64'), 32, { N: kdf.N, r: kdf.r, p: kdf.p, maxmem: 128 * kdf.N * kdf.r * 2 });
    derived.set(id, key);
  }
  return key;
}

export function sealJson(data: unknown, passphrase: string): SealedDocument {
  if (passphrase === '') throw new ConfigError('the passphrase is empty');
  const kdf = { name: 'scrypt' as const, ...SCRYPT_PARAMS, salt: randomBytes(16).toString('base64') };
  const nonce = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', keyFor(passphrase, kdf), nonce);
  c.setAAD(Buffer.from('ferry sealed json v1'));
  const sealed = Buffer.concat([c.update(JSON.stringify(data), 'utf8'), c.final(), c.getAuthTag()]);
  return { ferrySealed: 1, kdf, nonce: nonce.toString('base64'), sealed: sealed.toString('base64') };
}

/** The JSON inside a sealed document; `what` names the file in messages (never its content). */
export function openSealedJson(doc: Record<string, unknown>, passphrase: string | undefined, what: string): unknown {
  if (passphrase === undefined || passphrase === '') {
    throw new CryptoKeyMissingError(`${what} is encrypted: give its passphrase in FERRY_CONFIG_PASS`);
  }
  const d = doc as unknown as SealedDocument;
  if (d.kdf?.name !== 'scrypt' || typeof d.nonce !== 'string' || typeof d.sealed !== 'string') throw new ConfigError(`${what}: not a sealed file this version understands`);
  const sealed = Buffer.from(d.sealed, 'base64');
  try {
    const dec = createDecipheriv('aes-256-gcm', keyFor(passphrase, d.kdf), Buffer.from(d.nonce, 'base64'));
    dec.setAAD(Buffer.from('ferry sealed json v1'));
    dec.setAuthTag(sealed.subarray(sealed.length - 16));
    return JSON.parse(Buffer.concat([dec.update(sealed.subarray(0, sealed.length - 16)), dec.final()]).toString('utf8'));
  } catch (err) {
    throw new CryptoKeyWrongError(`${what}: the passphrase does not open it (or the file was altered)`, { cause: err });
  }
}
