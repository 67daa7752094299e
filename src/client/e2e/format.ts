/**
 * The end-to-end encrypted file format (docs/e2e.md), the part that runs wherever the client
 * runs: Node.js and browsers alike, on Web Crypto only (no node: imports; the web build's
 * `no-node` plugin holds this module to it). Encrypting and decrypting chunks, file headers
 * and names; deriving the sub-keys of a user key. The passphrase KDF is in ./kdf.ts, the
 * Node.js transfers in ./transfer.ts.
 *
 * Key hierarchy, from the 32-byte user key K (scrypt of the passphrase, or a key file):
 *   K_chunk = HKDF(K, "ferry-e2e v1 chunk")   K_c = HMAC(K_chunk, SHA-256(plain chunk))
 *   K_wrap  = HKDF(K, "ferry-e2e v1 wrap")    wraps each file's random key K_f
 *   K_name  = HKDF(K, "ferry-e2e v1 name")    name cipher; its IV is HMAC(K_niv, dir \0 name)
 *   K_niv   = HKDF(K, "ferry-e2e v1 name iv")
 *   check   = HKDF(K, "ferry-e2e v1 check")[0..16)   stored in markers and headers
 *
 * A chunk is AES-256-GCM under its own key K_c with a zero nonce: K_c is used for one
 * plaintext only (it is derived from that plaintext's hash), so the same chunk always gives
 * the same ciphertext within one user key (dedup) and different chunks never share a key.
 *
 * An encrypted file, as the server stores it, is the concatenation of
 *   "FERRYE2E" | version (1 byte) | header length (u32 BE) | header (JSON)
 *   chunk 1 ciphertext (plain size + 16) | chunk 2 ciphertext | ...
 * where the header holds the public KDF parameters and key check, K_f wrapped by K_wrap,
 * and the table sealed by K_f: the file's name, size and mtime, and per chunk its plain
 * SHA-256, its key K_c and its plain size. A share link carries K_f (never K): it opens
 * this one file's table and chunks and nothing else of the user's.
 */
import { E2E_MAGIC, E2E_NAME_SUFFIX, hasE2eMagic } from '../../core/e2e-layout.js';
import { CryptoKeyWrongError, CryptoTamperedError, CryptoTruncatedError, FerryError, PathInvalidError, ferryErrorOf } from '../../core/errors.js';

type Bytes = Uint8Array<ArrayBuffer>;
// Web Crypto's types by inference: Node's typings (this build's lib) and the DOM's (the web
// app's) name them differently, and this module must compile under both.
type Subtle = typeof globalThis.crypto.subtle;
type CryptoKey = Awaited<ReturnType<Subtle['importKey']>>;
type KeyUsage = 'encrypt' | 'decrypt';

export { E2E_MAGIC, E2E_MARKER_NAME, E2E_NAME_SUFFIX, hasE2eMagic, isE2eName } from '../../core/e2e-layout.js';
export const E2E_VERSION = 1;
/** Bytes a chunk grows by: the GCM tag. */
export const E2E_CHUNK_OVERHEAD = 16;
/**
 * Longest plain name that still fits a 255-byte server name once encrypted:
 * base64url(12-byte IV + name + 16-byte tag) + ".fe2e" <= 255.
 */
export const E2E_MAX_NAME_BYTES = Math.floor(((255 - E2E_NAME_SUFFIX.length) * 3) / 4) - 28;
const PREFIX_BYTES = E2E_MAGIC.length + 1 + 4;
const ZERO_IV = new Uint8Array(12);
const TABLE_ENTRY = 32 + 32 + 4;
/** A header is small (68 bytes a chunk, about 70 KiB per GiB); anything far larger is not one. */
const MAX_HEADER_BYTES = 256 * 1024 * 1024;
/** Chunks being decrypted at once while reading a file. */
const DECRYPT_AHEAD = 4;

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder('utf-8', { fatal: true });
const subtle = (): Subtle => globalThis.crypto.subtle;
const ad = (what: string): Bytes => utf8.encode(`ferry-e2e v1 ${what}`) as Bytes;

export type KdfParams = { name: 'scrypt'; N: number; r: number; p: number; salt: string } | { name: 'key-file' };

/** The marker object's content (a small JSON file named {@link E2E_MARKER_NAME}). */
export interface E2eMarker {
  ferryE2e: 1;
  kdf: KdfParams;
  /** base64url of the key check value. */
  check: string;
  /** A folder made with `ferry mkdir --e2e`: everything below it is encrypted, names too. */
  vault: boolean;
}

/** What a file's sealed table says about it. */
export interface E2eFileInfo {
  name: string;
  size: number;
  mtime: number;
  chunks: number;
}

export interface PlainChunkKey {
  /** SHA-256 of the plain chunk (32 bytes). */
  hash: Uint8Array;
  /** The chunk's key K_c (32 bytes). */
  key: Uint8Array;
  size: number;
}

// ---- encodings ------------------------------------------------------------------------

export function toBase64Url(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export function fromBase64Url(text: string): Bytes {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) throw new CryptoTamperedError('not base64url');
  const bin = atob(text.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (text.length % 4)) % 4));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}

export async function sha256(data: Uint8Array): Promise<Bytes> {
  return new Uint8Array(await subtle().digest('SHA-256', data as Bytes));
}

async function hmac(key: CryptoKey, data: Uint8Array): Promise<Bytes> {
  return new Uint8Array(await subtle().sign('HMAC', key, data as Bytes));
}

const importAes = (raw: Uint8Array, usages: KeyUsage[] = ['encrypt', 'decrypt']) => subtle().importKey('raw', raw as Bytes, 'AES-GCM', false, usages);
const importHmac = (raw: Uint8Array) => subtle().importKey('raw', raw as Bytes, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);

async function gcmOpen(key: CryptoKey, iv: Uint8Array, sealed: Uint8Array, aad: Bytes): Promise<Bytes | undefined> {
  try {
    return new Uint8Array(await subtle().decrypt({ name: 'AES-GCM', iv: iv as Bytes, additionalData: aad }, key, sealed as Bytes));
  } catch {
    return undefined; // authentication failed: the caller says what that means there
  }
}

async function gcmSeal(key: CryptoKey, iv: Uint8Array, plain: Uint8Array, aad: Bytes): Promise<Bytes> {
  return new Uint8Array(await subtle().encrypt({ name: 'AES-GCM', iv: iv as Bytes, additionalData: aad }, key, plain as Bytes));
}

const randomBytes = (n: number): Bytes => globalThis.crypto.getRandomValues(new Uint8Array(n));

// ---- keys -----------------------------------------------------------------------------

/** The sub-keys of one user key (see the module comment). */
export class E2eKeys {
  private constructor(
    private readonly chunkKey: CryptoKey,
    private readonly wrapKey: CryptoKey,
    private readonly nameKey: CryptoKey,
    private readonly nameIvKey: CryptoKey,
    /** base64url of the key check value. */
    readonly check: string,
  ) {}

  static async fromUserKey(userKey: Uint8Array): Promise<E2eKeys> {
    if (userKey.length !== 32) throw ferryErrorOf('FERRY_ERR_VALIDATION', 'an end-to-end user key is 32 bytes');
    const base = await subtle().importKey('raw', userKey as Bytes, 'HKDF', false, ['deriveBits']);
    const derive = async (what: string) => new Uint8Array(await subtle().deriveBits({ name: 'HKDF', hash: 'SHA-256', salt: new Uint8Array(0), info: ad(what) }, base, 256));
    const [c, w, n, niv, chk] = await Promise.all(['chunk', 'wrap', 'name', 'name iv', 'check'].map(derive));
    return new E2eKeys(await importHmac(c), await importAes(w), await importAes(n), await importHmac(niv), toBase64Url(chk.subarray(0, 16)));
  }

  /** Throws FERRY_ERR_CRYPTO_KEY_WRONG unless this key is the one `check` was made with. */
  verify(check: string): void {
    if (!equalBytes(utf8.encode(check), utf8.encode(this.check))) {
      throw new CryptoKeyWrongError('the passphrase (or key file) is not the one this end-to-end data was encrypted with');
    }
  }

  /** K_c of a chunk whose plain SHA-256 is `hash`. */
  chunkKeyOf(hash: Uint8Array): Promise<Bytes> {
    return hmac(this.chunkKey, hash);
  }

  async wrapFileKey(fileKey: Uint8Array): Promise<string> {
    const iv = randomBytes(12);
    const sealed = await gcmSeal(this.wrapKey, iv, fileKey, ad('file key'));
    return toBase64Url(concat([iv, sealed]));
  }

  async unwrapFileKey(wrapped: string): Promise<Bytes> {
    const b = fromBase64Url(wrapped);
    const key = await gcmOpen(this.wrapKey, b.subarray(0, 12), b.subarray(12), ad('file key'));
    if (!key || key.length !== 32) throw new CryptoTamperedError('the file key in the end-to-end header failed authentication');
    return key;
  }

  /**
   * The server name of `name` in the (plain) directory `dir`: deterministic per directory,
   * so the same name can be found again without listing; names in one directory are unique
   * anyway, so that shows nothing a random IV would hide.
   */
  async encryptName(dir: string, name: string): Promise<string> {
    const plain = utf8.encode(name);
    if (plain.length > E2E_MAX_NAME_BYTES) throw new PathInvalidError(`the name ${JSON.stringify(name.slice(0, 40))} is longer than ${E2E_MAX_NAME_BYTES} bytes, the most an encrypted name can hold`);
    const iv = (await hmac(this.nameIvKey, utf8.encode(`${dir}\0${name}`))).subarray(0, 12);
    return toBase64Url(concat([iv, await gcmSeal(this.nameKey, iv, plain, ad('name'))])) + E2E_NAME_SUFFIX;
  }

  /** The plain name of a server name, or undefined when it is not one of this key's. */
  async decryptName(serverName: string): Promise<string | undefined> {
    if (!serverName.endsWith(E2E_NAME_SUFFIX)) return undefined;
    let b: Bytes;
    try {
      b = fromBase64Url(serverName.slice(0, -E2E_NAME_SUFFIX.length));
    } catch {
      return undefined;
    }
    if (b.length < 28) return undefined;
    const plain = await gcmOpen(this.nameKey, b.subarray(0, 12), b.subarray(12), ad('name'));
    if (!plain) return undefined;
    try {
      return fromUtf8.decode(plain);
    } catch {
      return undefined;
    }
  }
}


function concat(parts: readonly Uint8Array[]): Bytes {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

// ---- chunks ---------------------------------------------------------------------------

/**
 * The per-chunk primitives (SHA-256, AES-256-GCM with a zero IV under a one-time key).
 * Web Crypto by default; Node.js swaps in node:crypto (./node-keys.ts), which gives the
 * same bytes (tested) without Web Crypto's copy of every input and a trip to the thread
 * pool per call: measured here, decryption of a 256 MiB file spent more time in those
 * copies and their garbage collection than in AES.
 */
export interface ChunkCrypto {
  sha256(data: Uint8Array): Promise<Uint8Array> | Uint8Array;
  /** ciphertext + 16-byte tag. */
  seal(key: Uint8Array, plain: Uint8Array, aad: Uint8Array): Promise<Uint8Array> | Uint8Array;
  /** The plaintext, or undefined when authentication fails. */
  open(key: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Promise<Uint8Array | undefined> | Uint8Array | undefined;
}

export const webChunkCrypto: ChunkCrypto = {
  sha256,
  seal: async (key, plain, aad) => gcmSeal(await importAes(key, ['encrypt']), ZERO_IV, plain, aad as Bytes),
  open: async (key, sealed, aad) => gcmOpen(await importAes(key, ['decrypt']), ZERO_IV, sealed, aad as Bytes),
};

let chunkCrypto: ChunkCrypto = webChunkCrypto;

/** Called once by the Node.js side with node:crypto's implementation. */
export function useChunkCrypto(impl: ChunkCrypto): void {
  chunkCrypto = impl;
}

const CHUNK_AD = ad('chunk');

/**
 * Encrypts one plain chunk: its plain hash and key (for the table) and its ciphertext.
 * `knownHash` skips hashing again what the chunker has just hashed; if the bytes no longer
 * match it, the ciphertext will not match its stored name and the server refuses it.
 */
export async function encryptChunk(keys: E2eKeys, plain: Uint8Array, knownHash?: Uint8Array): Promise<PlainChunkKey & { ciphertext: Uint8Array }> {
  const hash = knownHash ?? (await chunkCrypto.sha256(plain));
  const key = await keys.chunkKeyOf(hash);
  const ciphertext = await chunkCrypto.seal(key, plain, CHUNK_AD);
  return { hash, key, size: plain.length, ciphertext };
}

/** Decrypts one chunk with its table entry; the plain SHA-256 is checked too. */
export async function decryptChunk(entry: PlainChunkKey, ciphertext: Uint8Array, index: number): Promise<Uint8Array> {
  const plain = await chunkCrypto.open(entry.key, ciphertext, CHUNK_AD);
  if (!plain || plain.length !== entry.size || !equalBytes(await chunkCrypto.sha256(plain), entry.hash)) {
    throw new CryptoTamperedError(`end-to-end chunk ${index + 1} failed authentication: it was altered, damaged or swapped`);
  }
  return plain;
}

// ---- the file header ------------------------------------------------------------------

interface HeaderJson {
  kdf: KdfParams;
  check: string;
  key: string;
  table: string;
}

/** The header of an encrypted file, and the file key K_f (a share link carries it). */
export async function sealHeader(keys: E2eKeys, kdf: KdfParams, info: Omit<E2eFileInfo, 'chunks'>, chunks: readonly PlainChunkKey[]): Promise<{ bytes: Bytes; fileKey: Bytes }> {
  const meta = utf8.encode(JSON.stringify({ name: info.name, size: info.size, mtime: info.mtime }));
  const table = new Uint8Array(4 + meta.length + chunks.length * TABLE_ENTRY);
  const view = new DataView(table.buffer);
  view.setUint32(0, meta.length);
  table.set(meta, 4);
  let o = 4 + meta.length;
  for (const c of chunks) {
    table.set(c.hash, o);
    table.set(c.key, o + 32);
    view.setUint32(o + 64, c.size);
    o += TABLE_ENTRY;
  }
  const fileKey = randomBytes(32);
  const iv = randomBytes(12);
  const sealed = await gcmSeal(await importAes(fileKey), iv, table, ad('table'));
  const json: HeaderJson = { kdf, check: keys.check, key: await keys.wrapFileKey(fileKey), table: toBase64Url(concat([iv, sealed])) };
  const body = utf8.encode(JSON.stringify(json));
  const prefix = new Uint8Array(PREFIX_BYTES);
  prefix.set(utf8.encode(E2E_MAGIC), 0);
  prefix[E2E_MAGIC.length] = E2E_VERSION;
  new DataView(prefix.buffer).setUint32(E2E_MAGIC.length + 1, body.length);
  return { bytes: concat([prefix, body]), fileKey };
}

/** The public part of a header: enough to ask for the right key. */
export interface E2eHeader {
  kdf: KdfParams;
  check: string;
  wrappedKey: string;
  sealedTable: string;
}

/** How a reader gets the file key: the owner unwraps it with the user key, a share link has it. */
export type FileKeySource = { keys: E2eKeys } | { fileKey: Uint8Array };

/** Opens the table with the file key; a wrong file key (a bad link) is FERRY_ERR_CRYPTO_KEY_WRONG. */
async function openTable(header: E2eHeader, source: FileKeySource): Promise<{ info: E2eFileInfo; chunks: PlainChunkKey[]; fileKey: Bytes }> {
  let fileKey: Bytes;
  if ('keys' in source) {
    source.keys.verify(header.check);
    fileKey = await source.keys.unwrapFileKey(header.wrappedKey);
  } else {
    if (source.fileKey.length !== 32) throw new CryptoKeyWrongError('the link does not carry a whole file key');
    fileKey = source.fileKey as Bytes;
  }
  const b = fromBase64Url(header.sealedTable);
  const table = await gcmOpen(await importAes(fileKey), b.subarray(0, 12), b.subarray(12), ad('table'));
  if (!table) {
    if ('keys' in source) throw new CryptoTamperedError('the end-to-end file table failed authentication');
    throw new CryptoKeyWrongError('the key in the link does not open this file (a damaged or wrong link)');
  }
  const view = new DataView(table.buffer, table.byteOffset, table.byteLength);
  const metaLen = view.getUint32(0);
  const meta = JSON.parse(fromUtf8.decode(table.subarray(4, 4 + metaLen))) as Omit<E2eFileInfo, 'chunks'>;
  const chunks: PlainChunkKey[] = [];
  let sum = 0;
  for (let o = 4 + metaLen; o + TABLE_ENTRY <= table.length; o += TABLE_ENTRY) {
    const size = view.getUint32(o + 64);
    chunks.push({ hash: table.subarray(o, o + 32), key: table.subarray(o + 32, o + 64), size });
    sum += size;
  }
  if (sum !== meta.size) throw new CryptoTamperedError('the end-to-end file table does not add up');
  return { info: { ...meta, chunks: chunks.length }, chunks, fileKey };
}

function parseHeader(body: Uint8Array): E2eHeader {
  let j: Partial<HeaderJson>;
  try {
    j = JSON.parse(fromUtf8.decode(body)) as Partial<HeaderJson>;
  } catch (err) {
    throw new CryptoTamperedError('the end-to-end header is damaged', { cause: err });
  }
  if (!j || typeof j.check !== 'string' || typeof j.key !== 'string' || typeof j.table !== 'string' || typeof j.kdf !== 'object' || j.kdf === null) {
    throw new CryptoTamperedError('the end-to-end header is damaged');
  }
  return { kdf: j.kdf, check: j.check, wrappedKey: j.key, sealedTable: j.table };
}

// ---- reading a whole file -------------------------------------------------------------

/** Exact reads out of a stream of byte pieces. */
class ByteReader {
  private pieces: Uint8Array[] = [];
  private held = 0;
  private done = false;
  constructor(private readonly it: AsyncIterator<Uint8Array>) {}

  /** Exactly `n` bytes, or fewer only at the end of the stream. */
  async read(n: number): Promise<Bytes> {
    while (this.held < n && !this.done) {
      const r = await this.it.next();
      if (r.done) this.done = true;
      else if (r.value.length > 0) {
        this.pieces.push(r.value);
        this.held += r.value.length;
      }
    }
    const all = this.pieces.length === 1 ? (this.pieces[0] as Bytes) : concat(this.pieces);
    const out = all.subarray(0, Math.min(n, all.length));
    this.pieces = all.length > n ? [all.subarray(n)] : [];
    this.held = Math.max(0, all.length - n);
    return out;
  }

  async atEnd(): Promise<boolean> {
    return (await this.read(1)).length === 0;
  }
}

/** The public header at the start of an encrypted file's bytes (reads no further). */
export async function readHeader(reader: { read(n: number): Promise<Uint8Array> }): Promise<E2eHeader> {
  const prefix = await reader.read(PREFIX_BYTES);
  if (prefix.length < PREFIX_BYTES || !hasE2eMagic(prefix)) throw ferryErrorOf('FERRY_ERR_E2E_FORMAT', 'not an end-to-end encrypted file');
  if (prefix[E2E_MAGIC.length] !== E2E_VERSION) throw ferryErrorOf('FERRY_ERR_E2E_FORMAT', `end-to-end format version ${prefix[E2E_MAGIC.length]} is not one this Ferry reads`);
  const len = new DataView(prefix.buffer, prefix.byteOffset, prefix.byteLength).getUint32(E2E_MAGIC.length + 1);
  if (len > MAX_HEADER_BYTES) throw new CryptoTamperedError('the end-to-end header is damaged (impossible length)');
  const body = await reader.read(len);
  if (body.length < len) throw new CryptoTruncatedError('the end-to-end file ends inside its header');
  return parseHeader(body);
}

export interface DecryptOptions {
  /** Says which key the file needs (before any is tried): the owner's code asks for the passphrase here. */
  keyFor(header: E2eHeader): Promise<FileKeySource>;
  /** The file's name, size and mtime, once the key is known good and before any plain byte. */
  onInfo?(info: E2eFileInfo, fileKey: Uint8Array): void | Promise<void>;
}

/**
 * The plain bytes of an encrypted file given as a stream of its stored bytes, chunk by
 * chunk, each verified before it is yielded. A wrong key fails before the first byte; a
 * truncated or extended file, a tampered or swapped chunk fail where they are found (the
 * caller writes to a part file and keeps it only when this ends without an error).
 */
export async function* decryptFile(stored: AsyncIterable<Uint8Array>, options: DecryptOptions): AsyncGenerator<Uint8Array> {
  const it = stored[Symbol.asyncIterator]();
  try {
    const reader = new ByteReader(it);
    const header = await readHeader(reader);
    const { info, chunks, fileKey } = await openTable(header, await options.keyFor(header));
    await options.onInfo?.(info, fileKey);
    // A few chunks decrypt at once (Web Crypto works off the calling thread), yielded in order.
    const ahead: Array<Promise<Uint8Array>> = [];
    for (let i = 0; i < chunks.length; i++) {
      const want = chunks[i].size + E2E_CHUNK_OVERHEAD;
      const ct = await reader.read(want);
      if (ct.length < want) throw new CryptoTruncatedError(`the end-to-end file ends early: chunk ${i + 1} of ${chunks.length} is cut short or missing`);
      const p = decryptChunk(chunks[i], ct, i);
      p.catch(() => undefined); // awaited in order below
      ahead.push(p);
      if (ahead.length >= DECRYPT_AHEAD) yield await ahead.shift()!;
    }
    while (ahead.length > 0) yield await ahead.shift()!;
    if (!(await reader.atEnd())) throw new CryptoTamperedError('the end-to-end file has bytes after its last chunk');
  } finally {
    await it.return?.();
  }
}

/** The file key of an encrypted file (for a share link), from its first stored bytes. */
export async function fileKeyOf(stored: AsyncIterable<Uint8Array>, keyFor: DecryptOptions['keyFor']): Promise<{ fileKey: Bytes; info: E2eFileInfo }> {
  const it = stored[Symbol.asyncIterator]();
  try {
    const header = await readHeader(new ByteReader(it));
    const { fileKey, info } = await openTable(header, await keyFor(header));
    return { fileKey, info };
  } finally {
    await it.return?.();
  }
}
