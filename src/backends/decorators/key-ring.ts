/**
 * Master keys and the key ring of an encrypted store (envelope encryption, restic's style).
 *
 * - The master key is 32 random bytes that live outside the store (a key file, or
 *   FERRY_ENCRYPTION_KEY), written as `ferry-key-1:` + base64url. Its id is a MAC of a fixed
 *   label under it: it names the key without revealing anything of it.
 * - The key ring holds the store's own keys: the name keys (which never change: stored names
 *   are not rewritten) and the data keys (objects name theirs by id in their header). It is
 *   stored in the store itself, wrapped (AES-256-GCM) by a master key, as the one object
 *   `ferry-keyring/master-<master id>`.
 * - Rotating the master key (`ferry admin rekey`) writes the same ring wrapped by the new
 *   master key, checks it, and deletes the old wrapping: no object body is touched, and each
 *   step is one atomic object write or delete, so a run killed anywhere is finished by running
 *   it again (see {@link rekeyRing}).
 * - Re-encryption (`ferry admin rekey --reencrypt`) adds a new random data key to the ring,
 *   makes it the current one and marks the others as retiring; a server started with the ring
 *   re-encrypts, in the background, every object whose header names a retiring key, and once
 *   a whole pass finds none it drops those keys from the ring (see `reencryptStore`).
 * - A store that had objects before its ring was created holds the marker
 *   `ferry-keyring/migrating` until every plain object was encrypted (see `encryption.ts`).
 *
 * The first ring of a store is derived from its master key rather than drawn at random: two
 * nodes that share an S3 store and start encrypted at the same moment write the same ring,
 * where random ones would leave each with a ring the other cannot read.
 */
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { ConfigError, CryptoKeyMissingError, CryptoKeyWrongError, CryptoTamperedError, isFerryError } from '../../core/errors.js';
import type { StorageBackend } from '../../core/storage.js';
import { KEY_ID_BYTES, NameCipher, type DataKey } from './encryption-format.js';

export const RING_DIR = 'ferry-keyring';
export const MIGRATING_KEY = `${RING_DIR}/migrating`;
const RING_FORMAT = 'ferry-keyring/1';
const KEY_PREFIX = 'ferry-key-1:';

/** A master key: its id and the key that wraps rings. */
export interface MasterKey {
  id: string;
  secret: Buffer;
}

const mac = (key: Buffer, label: string): Buffer => createHmac('sha256', key).update(label).digest();

export function masterKeyFromText(text: string, where: string): MasterKey {
  const t = text.trim();
  const bytes = t.startsWith(KEY_PREFIX) ? Buffer.from(t.slice(KEY_PREFIX.length), 'base64url') : undefined;
  if (!bytes || bytes.length !== 32) throw new ConfigError(`${where} is not a Ferry encryption key (make one with \`ferry admin keygen\`)`);
  return { id: mac(bytes, 'ferry master key id').subarray(0, 8).toString('hex'), secret: bytes };
}

/** A new random master key, as the text a key file holds. */
export function generateMasterKeyText(): string {
  return KEY_PREFIX + randomBytes(32).toString('base64url');
}

export async function readMasterKeyFile(file: string): Promise<MasterKey> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new CryptoKeyMissingError(`cannot read the encryption key file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
  return masterKeyFromText(text, `the file ${file}`);
}

/** The store's keys, unwrapped. */
export class KeyRing {
  readonly names: NameCipher;
  private readonly byId = new Map<string, DataKey>();
  /** Ids (hex) of the data keys being retired: their objects are re-encrypted under the current one. */
  readonly retiring: ReadonlySet<string>;

  constructor(
    readonly nameKeys: { enc: Buffer; mac: Buffer },
    dataKeys: DataKey[],
    private currentId: string,
    retiring: string[] = [],
  ) {
    this.names = new NameCipher(nameKeys.enc, nameKeys.mac);
    for (const k of dataKeys) this.byId.set(k.id.toString('hex'), k);
    if (!this.byId.has(currentId)) throw new CryptoTamperedError('the key ring names a current data key it does not hold');
    this.retiring = new Set(retiring.filter((id) => id !== currentId && this.byId.has(id)));
  }

  /** Whether objects of data key `id` are to be re-encrypted. */
  isRetiring(id: Buffer): boolean {
    return this.retiring.has(id.toString('hex'));
  }

  /** This ring with a new random data key as the current one, every other data key retiring. */
  withNewDataKey(): KeyRing {
    const id = randomBytes(KEY_ID_BYTES);
    const keys = [...this.byId.values(), { id, key: randomBytes(32) }];
    return new KeyRing(this.nameKeys, keys, id.toString('hex'), [...this.byId.keys()]);
  }

  /** This ring without its retiring data keys (once no object uses them). */
  withoutRetiring(): KeyRing {
    return new KeyRing(this.nameKeys, [...this.byId.values()].filter((k) => !this.retiring.has(k.id.toString('hex'))), this.currentId);
  }

  /** Ids (hex) of every data key the ring holds. */
  get dataKeyIds(): string[] {
    return [...this.byId.keys()];
  }

  /** The data key new objects are written with. */
  get current(): DataKey {
    return this.byId.get(this.currentId)!;
  }

  /** The data key of `id`; FERRY_ERR_CRYPTO_KEY_WRONG when this ring has none such. */
  dataKey(id: Buffer, what: string): DataKey {
    const k = this.byId.get(id.toString('hex'));
    if (!k) throw new CryptoKeyWrongError(`${what}: the object was encrypted with a data key this store's key ring does not hold`);
    return k;
  }

  toJSON(): unknown {
    return {
      names: Buffer.concat([this.nameKeys.enc, this.nameKeys.mac]).toString('base64'),
      keys: [...this.byId.values()].map((k) => ({ id: k.id.toString('hex'), key: k.key.toString('base64') })),
      current: this.currentId,
      ...(this.retiring.size > 0 ? { retiring: [...this.retiring] } : {}),
    };
  }

  static fromJSON(value: unknown): KeyRing {
    const v = value as { names: string; keys: { id: string; key: string }[]; current: string; retiring?: string[] };
    const names = Buffer.from(v.names, 'base64');
    return new KeyRing(
      { enc: names.subarray(0, 32), mac: names.subarray(32, 64) },
      v.keys.map((k) => ({ id: Buffer.from(k.id, 'hex'), key: Buffer.from(k.key, 'base64') })),
      v.current,
      v.retiring ?? [],
    );
  }

  /** The first ring of a store encrypted under `master` (see the module comment). */
  static initial(master: MasterKey): KeyRing {
    const id = mac(master.secret, 'ferry data key id 1').subarray(0, KEY_ID_BYTES);
    return new KeyRing(
      { enc: mac(master.secret, 'ferry name encryption key'), mac: mac(master.secret, 'ferry name mac key') },
      [{ id, key: mac(master.secret, 'ferry data key 1') }],
      id.toString('hex'),
    );
  }
}

const ringKey = (masterId: string): string => `${RING_DIR}/master-${masterId}`;

function wrapRing(ring: KeyRing, master: MasterKey): Buffer {
  const nonce = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', mac(master.secret, 'ferry key ring wrap'), nonce);
  c.setAAD(Buffer.from(`${RING_FORMAT}:${master.id}`));
  const sealed = Buffer.concat([c.update(JSON.stringify(ring.toJSON())), c.final(), c.getAuthTag()]);
  return Buffer.from(JSON.stringify({ format: RING_FORMAT, master: master.id, nonce: nonce.toString('base64'), sealed: sealed.toString('base64') }) + '\n');
}

function unwrapRing(bytes: Buffer, master: MasterKey): KeyRing {
  try {
    const doc = JSON.parse(bytes.toString('utf8')) as { format: string; nonce: string; sealed: string };
    if (doc.format !== RING_FORMAT) throw new Error(`unknown format ${doc.format}`);
    const sealed = Buffer.from(doc.sealed, 'base64');
    const d = createDecipheriv('aes-256-gcm', mac(master.secret, 'ferry key ring wrap'), Buffer.from(doc.nonce, 'base64'));
    d.setAAD(Buffer.from(`${RING_FORMAT}:${master.id}`));
    d.setAuthTag(sealed.subarray(sealed.length - 16));
    const plain = Buffer.concat([d.update(sealed.subarray(0, sealed.length - 16)), d.final()]);
    return KeyRing.fromJSON(JSON.parse(plain.toString('utf8')));
  } catch (err) {
    throw new CryptoTamperedError(`the key ring wrapped by key ${master.id} failed authentication`, { cause: err });
  }
}

async function readAllBytes(backend: StorageBackend, key: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of await backend.read(key)) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

/** The ids of the master keys that wrap this store's ring (none: the store is not encrypted), and whether a migration is pending. */
export async function ringState(backend: StorageBackend): Promise<{ masters: string[]; migrating: boolean }> {
  const masters: string[] = [];
  let migrating = false;
  for await (const e of backend.list(RING_DIR)) {
    if (e.type !== 'file') continue;
    const m = /^ferry-keyring\/master-([0-9a-f]{16})$/.exec(e.key);
    if (m) masters.push(m[1]);
    else if (e.key === MIGRATING_KEY) migrating = true;
  }
  return { masters, migrating };
}

/** Whether the store holds anything but its key ring. */
async function holdsObjects(backend: StorageBackend): Promise<boolean> {
  for await (const e of backend.list('')) if (e.key !== RING_DIR) return true;
  return false;
}

/**
 * The ring of `backend` under `master`, created on the first start (with the migration marker
 * when the store already holds plain objects). FERRY_ERR_CRYPTO_KEY_WRONG when the store is
 * encrypted under other master keys only.
 */
export async function openRing(backend: StorageBackend, master: MasterKey): Promise<{ ring: KeyRing; migrating: boolean; created: boolean }> {
  const state = await ringState(backend);
  if (state.masters.includes(master.id)) {
    return { ring: unwrapRing(await readAllBytes(backend, ringKey(master.id)), master), migrating: state.migrating, created: false };
  }
  if (state.masters.length > 0) {
    throw new CryptoKeyWrongError(
      `${backend.name} is encrypted under another key (key id ${state.masters.join(', ')}); the key given has id ${master.id}`,
      { details: { keyIds: state.masters, given: master.id } },
    );
  }
  const ring = KeyRing.initial(master);
  const migrating = state.migrating || (await holdsObjects(backend));
  if (migrating) await backend.write(MIGRATING_KEY, Buffer.from('plain objects remain; the server encrypts them in the background\n'));
  await backend.write(ringKey(master.id), wrapRing(ring, master));
  return { ring, migrating, created: true };
}

/** Refuses a store that is encrypted when no key was given (FERRY_ERR_CRYPTO_KEY_MISSING). */
export async function refuseEncryptedWithoutKey(backend: StorageBackend): Promise<void> {
  const { masters } = await ringState(backend);
  if (masters.length > 0) {
    throw new CryptoKeyMissingError(
      `${backend.name} is encrypted (key id ${masters.join(', ')}): give its key with \`encryptionKeyFile\` or FERRY_ENCRYPTION_KEY`,
      { details: { keyIds: masters } },
    );
  }
}

export type RekeyStep = 'loaded' | 'wrote-new' | 'verified-new' | 'deleted-old' | 'done';

export interface RekeyReport {
  /** Ring wrappings still made with the old key (0 once the old key can be retired). */
  oldWrappings: number;
  /** The run found the work already done (a finished run repeated). */
  alreadyDone: boolean;
  /** Data keys the ring marks as retiring: a server started with it re-encrypts their objects. */
  retiringDataKeys: number;
}

/**
 * Re-wraps the ring of `backend` from `oldKey` to `newKey`: write the new wrapping, read it
 * back and open it, delete the old one. Every state a kill can leave is one this function
 * finishes: only the old wrapping (start over), both (the new one is checked, the old one
 * deleted), only the new one (nothing left but to report). Chunk bodies are never touched.
 *
 * With `reencrypt`, the ring written gains a new data key, made current, the others retiring
 * (unless a re-encryption is pending already: a repeated run does not pile up keys). Where both
 * wrappings exist, the new one is the one carried on: it was checked by the run that wrote it,
 * or it is rewritten now. `newKey` may then be `oldKey`: a new data key under the same master
 * key, one atomic rewrite of its wrapping.
 */
export async function rekeyRing(
  backend: StorageBackend,
  oldKey: MasterKey,
  newKey: MasterKey,
  onStep: (step: RekeyStep) => Promise<void> | void = () => {},
  options: { reencrypt?: boolean } = {},
): Promise<RekeyReport> {
  const reencrypt = options.reencrypt ?? false;
  const sameMaster = oldKey.id === newKey.id;
  if (sameMaster && !reencrypt) throw new ConfigError('the new key is the key in use: make a new one with `ferry admin keygen`');
  const state = await ringState(backend);
  const hasOld = state.masters.includes(oldKey.id);
  const hasNew = !sameMaster && state.masters.includes(newKey.id);
  if (!hasOld && !hasNew) {
    if (state.masters.length === 0) throw new ConfigError(`${backend.name} is not encrypted: there is nothing to rekey`);
    if (sameMaster) throw new CryptoKeyWrongError(`${backend.name} is encrypted under key id ${state.masters.join(', ')}, not ${oldKey.id}`);
    throw new CryptoKeyWrongError(`${backend.name} is encrypted under key id ${state.masters.join(', ')}, neither the old key (${oldKey.id}) nor the new one (${newKey.id})`);
  }
  let alreadyDone = !hasOld;
  let ring: KeyRing | undefined;
  if (hasOld) {
    ring = hasNew ? unwrapRing(await readAllBytes(backend, ringKey(newKey.id)), newKey) : unwrapRing(await readAllBytes(backend, ringKey(oldKey.id)), oldKey);
    await onStep('loaded');
    const addKey = reencrypt && ring.retiring.size === 0;
    if (addKey) ring = ring.withNewDataKey();
    if (!hasNew || addKey) {
      await backend.write(ringKey(newKey.id), wrapRing(ring, newKey));
      await onStep('wrote-new');
    }
    alreadyDone = sameMaster && !addKey;
  }
  // Whatever wrote it (this run or a killed one), the new wrapping must open before the old goes.
  const check = unwrapRing(await readAllBytes(backend, ringKey(newKey.id)), newKey);
  await onStep('verified-new');
  if (hasOld && !sameMaster) {
    await backend.delete(ringKey(oldKey.id));
    await onStep('deleted-old');
  }
  const after = await ringState(backend);
  await onStep('done');
  return { oldWrappings: sameMaster ? 0 : after.masters.filter((m) => m === oldKey.id).length, alreadyDone, retiringDataKeys: check.retiring.size };
}

/** Writes `ring` wrapped by `master` (one atomic object write): how a server records a change to its ring. */
export async function saveRing(backend: StorageBackend, ring: KeyRing, master: MasterKey): Promise<void> {
  await backend.write(ringKey(master.id), wrapRing(ring, master));
  // Read back and opened: a ring that does not open would lock the store.
  unwrapRing(await readAllBytes(backend, ringKey(master.id)), master);
}

/** Whether `err` says the ring or an object could not be opened with the key given. */
export const isKeyError = (err: unknown): boolean => isFerryError(err, 'FERRY_ERR_CRYPTO_KEY_WRONG') || isFerryError(err, 'FERRY_ERR_CRYPTO_KEY_MISSING');
