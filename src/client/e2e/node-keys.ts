/**
 * The end-to-end user key in Node.js: scrypt from node:crypto (native; faster than a JavaScript
 * one), key files, and where a command finds
 * the secret: `--e2e-key-file FILE`, `--passphrase-file FILE`, FERRY_E2E_PASSPHRASE, or
 * a prompt that does not echo. Never an argument: argv is visible to every local user
 * (`ps`), and Ferry never logs a secret.
 */
import { createCipheriv, createDecipheriv, createHash, scrypt as scryptCb } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { ConfigError, CryptoKeyMissingError, fromSystemError, isFerryError } from '../../core/errors.js';
import type { ChunkCrypto } from './format.js';
import type { E2eSecret, Scrypt } from './kdf.js';

/** scrypt with memory allowed for the parameters (node's default cap is 32 MiB). */
export const nodeScrypt: Scrypt = (password, salt, { N, r, p }) =>
  new Promise((resolve, reject) => {
    scryptCb(password, salt, 32, { N, r, p, maxmem: 128 * N * r * p + 16 * 1024 * 1024 }, (err, key) => (err ? reject(err) : resolve(new Uint8Array(key))));
  });

const ZERO_IV = Buffer.alloc(12);

/** The per-chunk primitives on node:crypto (see ChunkCrypto in ./format.ts): synchronous, no copies of the input. */
export const nodeChunkCrypto: ChunkCrypto = {
  sha256: (data) => createHash('sha256').update(data).digest(),
  seal: (key, plain, aad) => {
    const c = createCipheriv('aes-256-gcm', key, ZERO_IV);
    c.setAAD(aad);
    const out = Buffer.allocUnsafe(plain.length + 16);
    out.set(c.update(plain), 0);
    c.final();
    out.set(c.getAuthTag(), plain.length);
    return out;
  },
  open: (key, sealed, aad) => {
    if (sealed.length < 16) return undefined;
    const d = createDecipheriv('aes-256-gcm', key, ZERO_IV);
    d.setAAD(aad);
    d.setAuthTag(sealed.subarray(sealed.length - 16));
    const plain = d.update(sealed.subarray(0, sealed.length - 16));
    try {
      d.final();
    } catch {
      return undefined;
    }
    return plain;
  },
};

/** A key file is what `ferry admin keygen` writes: `ferry-key-1:` + base64url of 32 bytes. */
export function parseKeyFile(text: string, where: string): Uint8Array {
  const t = text.trim();
  const bytes = t.startsWith('ferry-key-1:') ? Buffer.from(t.slice('ferry-key-1:'.length), 'base64url') : undefined;
  if (!bytes || bytes.length !== 32) throw new ConfigError(`${where} is not a Ferry key file (make one with \`ferry admin keygen FILE\`)`);
  return new Uint8Array(bytes);
}

export interface E2eSecretOptions {
  /** `--e2e-key-file`. */
  keyFile?: string;
  /** `--passphrase-file`: the first line of the file is the passphrase. */
  passphraseFile?: string;
  /** Asks the person at the terminal (no echo); absent: no prompt, a missing secret is an error. */
  prompt?: (question: string) => Promise<string>;
  env?: NodeJS.ProcessEnv;
}

async function readSecretFile(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw fromSystemError(err, path);
  }
}

/** Whether the options or the environment give a secret without asking. */
export function hasE2eSecret(o: E2eSecretOptions): boolean {
  return Boolean(o.keyFile || o.passphraseFile || (o.env ?? process.env).FERRY_E2E_PASSPHRASE);
}

/** The secret, read once when first needed (a command that meets no encrypted data never asks). */
export function lazySecret(o: E2eSecretOptions): () => Promise<E2eSecret> {
  let got: Promise<E2eSecret> | undefined;
  return () => (got ??= readSecret(o));
}

const MISSING = 'end-to-end encrypted: give `passphraseFile`, FERRY_E2E_PASSPHRASE or `keyFile` (or type the passphrase at a terminal)';

async function readSecret(o: E2eSecretOptions): Promise<E2eSecret> {
  if (o.keyFile) return { keyFile: parseKeyFile(await readSecretFile(o.keyFile), o.keyFile) };
  if (o.passphraseFile) {
    const line = (await readSecretFile(o.passphraseFile)).split(/\r?\n/)[0];
    if (!line) throw new ConfigError(`${o.passphraseFile} holds no passphrase on its first line`);
    return { passphrase: line };
  }
  const env = (o.env ?? process.env).FERRY_E2E_PASSPHRASE;
  if (env) return { passphrase: env };
  if (!o.prompt) throw new CryptoKeyMissingError(MISSING);
  // Without a terminal the prompt reads a line of stdin; none there means no passphrase at all.
  const typed = await o.prompt('End-to-end passphrase: ').catch((err: unknown) => {
    if (isFerryError(err, 'FERRY_ERR_USAGE')) throw new CryptoKeyMissingError(MISSING, { cause: err });
    throw err;
  });
  if (!typed) throw new CryptoKeyMissingError(MISSING);
  return { passphrase: typed };
}
