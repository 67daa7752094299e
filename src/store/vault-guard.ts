/**
 * The server's vault guard: keeps plain files and plain names out of end-to-end folders
 * (vaults, docs/e2e.md), whatever front the write comes through. A vault is a folder
 * holding a `.ferry-e2e` marker whose JSON says `"vault": true`; below it every name must
 * be an encrypted one (`.fe2e`) and every file must begin with the end-to-end magic.
 * Without this, a WebDAV or SFTP upload into a vault is stored plain and the folder's
 * promise is silently broken.
 *
 * The namespace (src/store/namespace.ts) calls it inside the transaction of every write
 * that makes a path: a commit, a restore, mkdir, move and copy; and before a delete or move
 * of a marker. What it reads there is one indexed lookup of the marker paths of the
 * written paths' ancestors. Bytes are never read inside a transaction (a chunk read goes
 * through the same database connection on SQLite): what a marker holds and whether a chunk
 * begins with the magic are facts of immutable content, cached by hash; when one is not
 * known yet the check throws {@link GuardNeedsBytes}, the namespace reads the bytes outside
 * the transaction ({@link VaultGuard.learn}) and runs the operation again.
 */
import type { Kysely, Transaction } from 'kysely';
import { E2E_MARKER_NAME, E2E_NAME_SUFFIX, hasE2eMagic, isE2eName } from '../core/e2e-layout.js';
import { E2eMarkerInUseError, E2eNeedsKeyError, E2ePlainInVaultError, type FerryError } from '../core/errors.js';
import type { ChunkRef } from '../core/manifest.js';
import { ancestors, baseName, parentPath, relativePath } from '../core/path.js';
import { batches } from './batches.js';
import { decodeChunkList } from './chunk-list-codec.js';
import type { Database } from './meta-schema.js';
import { subtreeEnd, subtreeStart } from './path-range.js';

type Db = Kysely<Database> | Transaction<Database>;

/** Reads a stored chunk's bytes (the server's chunk store). */
export type ChunkReader = (hash: string) => Promise<Uint8Array>;

/** What a marker's content makes of its folder: a vault, the user's key marker (no vault), or nothing. */
type MarkerKind = 'vault' | 'key' | 'invalid';

/** A path a write is about to make: a file (with its content) or a folder. */
export interface GuardTarget {
  path: string;
  type: 'file' | 'dir';
  /** A file's manifest hash (stored already, or about to be). */
  manifest?: string;
  /** The chunks of content not stored yet (a commit's); stored content is looked up by `manifest`. */
  chunks?: readonly ChunkRef[];
}

/** Thrown inside a transaction: these bytes must be read first (outside it), then the operation run again. */
export class GuardNeedsBytes extends Error {
  constructor(
    readonly heads: readonly string[],
    readonly markers: readonly { manifest: string; chunks?: readonly ChunkRef[] }[],
  ) {
    super('the vault guard needs to read content first');
  }
}

/** A marker is a few hundred bytes of JSON; anything larger is not one. */
const MAX_MARKER_BYTES = 64 * 1024;
/** Cached facts (a hash and a flag each): bounded so a long-running server does not grow. */
const MAX_CACHED = 100_000;

// The guard's words are read through every front (WebDAV, SFTP, tus, the web app, the CLI):
// they say what is needed, never one front's command; the CLI adds its own commands to them
// by `details.reason` (src/cli/exit.ts).

/** What a write of plain content or names into a vault needs instead. */
const ENCRYPT_FIRST = 'only files and names encrypted with its key go in it: send them through a Ferry client that holds the key';

function refusal(path: string, vault: string, reason: 'name' | 'content' | 'marker' | 'marker-removal', what: string): FerryError {
  const next = reason === 'name' || reason === 'content' ? `; ${ENCRYPT_FIRST}` : '';
  return new E2ePlainInVaultError(`${path}: ${vault} is an end-to-end encrypted folder; ${what}${next}`, { details: { path, vault, reason } });
}

function needsKey(path: string, vault: string, what: string, reason: 'rename' | 'restore', how: string): FerryError {
  return new E2eNeedsKeyError(`${path}: ${what}; ${how}`, { details: { path, vault, reason } });
}

/** How a move or copy the guard refused is done instead. */
const RENAME_WITH_KEY = 'moving or copying it needs the key, to encrypt those names again for their new place: move or copy it through a Ferry client that holds the key, by plain paths';
/** How a restore the guard refused is done instead. */
const RESTORE_WITH_KEY = 'restore it through a Ferry client that holds the key, to a plain path in the vault';

function remember<K, V>(map: Map<K, V>, key: K, value: V): void {
  if (map.size >= MAX_CACHED) map.delete(map.keys().next().value as K);
  map.set(key, value);
}

export class VaultGuard {
  /** chunk hash -> whether it begins with the end-to-end magic */
  private readonly heads = new Map<string, boolean>();
  /** marker manifest hash -> what it declares */
  private readonly markers = new Map<string, MarkerKind>();
  private reader?: ChunkReader;

  /** Installs the chunk reader (the server does at start; without one no content counts as end-to-end). */
  setReader(reader: ChunkReader | undefined): void {
    this.reader = reader;
  }

  /**
   * Refuses (FERRY_ERR_E2E_PLAIN_IN_VAULT) targets that would put something plain below a
   * vault, a marker inside a vault, a second marker over a vault's, or a vault marker into
   * a folder that already holds something.
   */
  async checkWrites(trx: Db, targets: readonly GuardTarget[]): Promise<void> {
    if (targets.length === 0) return;
    const vaults = await this.vaultsAbove(trx, targets.map((t) => t.path));
    const heads: string[] = [];
    const markers: { manifest: string; chunks?: readonly ChunkRef[] }[] = [];
    for (const t of targets) {
      const vault = outermost(vaults.dirs, t.path);
      if (baseName(t.path) === E2E_MARKER_NAME && t.type === 'file' && (vault === undefined || vault === parentPath(t.path))) {
        const kind = t.manifest ? this.markers.get(t.manifest) : 'invalid';
        if (kind === undefined) markers.push({ manifest: t.manifest!, chunks: t.chunks });
        else await this.checkMarkerWrite(trx, t.path, kind, vaults.kinds.get(t.path), t.manifest);
        continue;
      }
      if (vault === undefined) continue;
      const plainName = relativePath(t.path, vault)
        .split('/')
        .find((seg) => !isE2eName(seg));
      if (plainName !== undefined) throw refusal(t.path, vault, 'name', `"${plainName}" is not an encrypted name`);
      if (t.type !== 'file') continue;
      const first = t.chunks ? t.chunks[0]?.hash : await firstChunkOf(trx, t.manifest);
      if (first === undefined) throw refusal(t.path, vault, 'content', 'an empty file is not an encrypted one');
      const ok = this.heads.get(first);
      if (ok === undefined) heads.push(first);
      else if (!ok) throw refusal(t.path, vault, 'content', 'the file is not end-to-end encrypted');
    }
    if (heads.length > 0 || markers.length > 0) throw new GuardNeedsBytes(heads, markers);
  }

  /**
   * For a move or copy of a folder to `to`: what is in it (`from`'s subtree, read in this
   * transaction) must fit there too when `to` lies below a vault.
   */
  async checkTree(trx: Db, from: string, to: string): Promise<void> {
    await this.checkWrites(trx, [{ path: to, type: 'dir' }]);
    const vaults = await this.vaultsAbove(trx, [to]);
    if (outermost(vaults.dirs, to) === undefined) return;
    const rows = await trx
      .selectFrom('files as f')
      .leftJoin('manifests as m', 'm.hash', 'f.manifest')
      .select(['f.path', 'f.type', 'f.manifest', 'm.chunks'])
      .where('f.path', '>', subtreeStart(from))
      .where('f.path', '<', subtreeEnd(from))
      .execute();
    const targets: GuardTarget[] = rows.map((r) => ({
      path: to + r.path.slice(from.length),
      type: r.type === 'dir' ? 'dir' : 'file',
      ...(r.manifest ? { manifest: r.manifest, chunks: r.chunks ? decodeChunkList(r.chunks).slice(0, 1) : [] } : {}),
    }));
    for (const part of batches(targets)) await this.checkWrites(trx, part);
  }

  /**
   * Refuses (FERRY_ERR_E2E_NEEDS_KEY) a move or copy that would leave encrypted names where
   * they were not made for: each name in a vault is encrypted with its plain folder path as
   * context (docs/e2e.md, "Names"), so anything moved or copied inside a vault, or a vault
   * that holds files moved or copied as a whole (its path is part of every context), must
   * get new names, which only a client with the key can compute. The native API's caller
   * says it does (`reencrypt`, what `ferry mv` and the web app send); WebDAV and SFTP cannot,
   * and a rename through them would leave names that clients no longer find where they look
   * (and a later upload of the same plain name would make a second entry of it).
   */
  async checkRename(trx: Db, from: string, to: string, type: 'file' | 'dir'): Promise<void> {
    const vaults = await this.vaultsAbove(trx, [from, to]);
    const inside = outermost(vaults.dirs, from) ?? outermost(vaults.dirs, to);
    if (inside !== undefined) throw needsKey(from, inside, `${inside} is an end-to-end encrypted folder, whose names are encrypted for the folder they are in`, 'rename', RENAME_WITH_KEY);
    if (type !== 'dir') return;
    const held = await this.vaultHoldingFilesIn(trx, from);
    if (held !== undefined) throw needsKey(from, held, `${held === from ? 'it is' : `it holds ${held},`} an end-to-end encrypted folder with files, whose names are encrypted with its path`, 'rename', RENAME_WITH_KEY);
  }

  /**
   * Refuses (FERRY_ERR_E2E_NEEDS_KEY) a restore (an old version, a trashed file) at `to` of
   * content that was at `from`, when its stored names would not be the ones of its place.
   * Names in a vault are encrypted for the plain path they were made at: at the very path the
   * content had, under a vault that is still there, they are right (the same stored folders
   * decrypt to the same plain ones; a folder renamed since comes back under its old name,
   * as for any file). Anywhere else in a vault only a client with the key can compute them
   * (the caller says `reencrypt`). And a path whose folder names are encrypted ones but which
   * no vault holds any more (the vault was moved, renamed or deleted) would put the file
   * outside any vault: out of its vault's sight and out of the guard's reach.
   */
  async checkRestore(trx: Db, to: string, from: string): Promise<void> {
    const vaults = await this.vaultsAbove(trx, [to]);
    const vault = outermost(vaults.dirs, to);
    if (vault !== undefined) {
      if (to !== from) throw needsKey(to, vault, `${vault} is an end-to-end encrypted folder, whose names are encrypted for the folder they are in, and this content's name was made for ${from}`, 'restore', RESTORE_WITH_KEY);
      return;
    }
    const stray = ancestors(to).find((dir) => isE2eName(baseName(dir)));
    if (stray !== undefined) {
      throw needsKey(to, stray, `${stray} has an encrypted name but is in no end-to-end folder: the one this content was in is no longer there (moved, renamed or deleted)`, 'restore', 'restore it into the vault where it is now, through a Ferry client that holds the key, by a plain path');
    }
  }

  /** A vault at or below `dir` that holds more than its marker (undefined: none). */
  private async vaultHoldingFilesIn(trx: Db, dir: string): Promise<string | undefined> {
    const own = dir === '/' ? '/' + E2E_MARKER_NAME : dir + '/' + E2E_MARKER_NAME;
    const rows = await trx
      .selectFrom('files')
      .select(['path', 'manifest'])
      .where('name', '=', E2E_MARKER_NAME)
      .where('type', '=', 'file')
      .where((eb) => eb.or([eb('path', '=', own), eb.and([eb('path', '>', subtreeStart(dir)), eb('path', '<', subtreeEnd(dir))])]))
      .execute();
    const unknown: { manifest: string }[] = [];
    for (const r of rows) {
      const kind = r.manifest ? this.markers.get(r.manifest) : 'invalid';
      if (kind === undefined) unknown.push({ manifest: r.manifest! });
      if (kind !== 'vault') continue;
      const vault = parentPath(r.path);
      const other = await trx.selectFrom('files').select('path').where('parent', '=', vault).where('path', '<>', r.path).limit(1).executeTakeFirst();
      if (other) return vault;
    }
    if (unknown.length > 0) throw new GuardNeedsBytes([], unknown);
    return undefined;
  }

  /**
   * Refuses taking away (delete, move) the marker of a vault that still holds something, or
   * a key marker that encrypted files below it need (FERRY_ERR_E2E_MARKER_IN_USE).
   */
  async checkMarkerRemoval(trx: Db, path: string): Promise<void> {
    if (baseName(path) !== E2E_MARKER_NAME) return;
    const row = await trx.selectFrom('files').select(['manifest']).where('path', '=', path).where('type', '=', 'file').executeTakeFirst();
    if (!row?.manifest) return;
    const kind = this.markers.get(row.manifest);
    if (kind === undefined) throw new GuardNeedsBytes([], [{ manifest: row.manifest }]);
    if (kind === 'key') return this.checkKeyMarkerUnused(trx, path, 'deleted or moved');
    if (kind !== 'vault') return;
    const dir = parentPath(path);
    const other = await trx.selectFrom('files').select('path').where('parent', '=', dir).where('path', '<>', path).limit(1).executeTakeFirst();
    if (other) throw refusal(path, dir, 'marker-removal', 'its marker goes only with the folder (delete the whole folder, or empty it first)');
  }

  /**
   * A key marker (`"vault": false`, what the first `put --encrypt` writes at the user's
   * root) holds the salt and check value the key of every encrypted file below it is
   * derived with: without it no client finds those files by name, and the next `put
   * --encrypt` makes a marker of a new salt, so the same passphrase gives another key.
   * Refused while an encrypted file (an encrypted name outside any vault) depends on it;
   * files below another marker (a vault keeps its own copy of the parameters) do not.
   * Only runs when a key marker itself is deleted, moved or replaced.
   */
  private async checkKeyMarkerUnused(trx: Db, path: string, what: string): Promise<void> {
    const dir = parentPath(path);
    const others = await trx
      .selectFrom('files')
      .select('path')
      .where('name', '=', E2E_MARKER_NAME)
      .where('type', '=', 'file')
      .where('path', '>', subtreeStart(dir))
      .where('path', '<', subtreeEnd(dir))
      .where('path', '<>', path)
      .execute();
    const shadowed = new Set(others.map((r) => parentPath(r.path)));
    const underOther = (p: string) => ancestors(p).some((d) => shadowed.has(d));
    let after = subtreeStart(dir);
    for (;;) {
      const page = await trx
        .selectFrom('files')
        .select(['path', 'name'])
        .where('type', '=', 'file')
        .where('name', 'like', '%' + E2E_NAME_SUFFIX)
        .where('path', '>', after)
        .where('path', '<', subtreeEnd(dir))
        .orderBy('path')
        .limit(500)
        .execute();
      const dependent = page.find((r) => isE2eName(r.name) && !underOther(r.path));
      if (dependent) {
        throw new E2eMarkerInUseError(
          `${path}: the end-to-end key marker of ${dir} (the key's salt and check value) cannot be ${what} while encrypted files below it need it, e.g. ${dependent.path}: ` +
            'without it the passphrase no longer opens them. Delete those files first (or the whole folder)',
          { details: { path, dir, file: dependent.path, reason: 'key-marker' } },
        );
      }
      if (page.length < 500) return;
      after = page[page.length - 1].path;
    }
  }

  /** Reads what a {@link GuardNeedsBytes} asked for, outside any transaction. */
  async learn(db: Db, need: GuardNeedsBytes): Promise<void> {
    for (const hash of new Set(need.heads)) {
      remember(this.heads, hash, this.reader ? hasE2eMagic((await this.reader(hash)).subarray(0, 16)) : false);
    }
    for (const m of need.markers) {
      let chunks = m.chunks;
      if (!chunks) {
        const row = await db.selectFrom('manifests').select('chunks').where('hash', '=', m.manifest).executeTakeFirst();
        chunks = row ? decodeChunkList(row.chunks) : [];
      }
      remember(this.markers, m.manifest, await this.markerKind(chunks));
    }
  }

  private async markerKind(chunks: readonly ChunkRef[]): Promise<MarkerKind> {
    if (!this.reader || chunks.length !== 1 || chunks[0].size > MAX_MARKER_BYTES) return 'invalid';
    try {
      const m = JSON.parse(new TextDecoder().decode(await this.reader(chunks[0].hash))) as Record<string, unknown> | null;
      if (!m || m.ferryE2e !== 1 || typeof m.check !== 'string' || typeof m.kdf !== 'object' || m.kdf === null) return 'invalid';
      return m.vault === true ? 'vault' : 'key';
    } catch {
      return 'invalid';
    }
  }

  /** A marker written at `path` (no vault above its folder): valid, not over a vault's, and a vault's only into an empty folder. */
  private async checkMarkerWrite(trx: Db, path: string, kind: MarkerKind, existing: MarkerKind | undefined, manifest: string | undefined): Promise<void> {
    const dir = parentPath(path);
    if (kind === 'invalid') throw refusal(path, dir, 'marker', `${E2E_MARKER_NAME} is the end-to-end marker's name and this is not one (a Ferry client writes it when it makes an end-to-end folder)`);
    if (existing === 'vault') throw refusal(path, dir, 'marker', 'its marker (the key\'s salt and check value) cannot be replaced');
    if (existing === 'key') {
      const old = await trx.selectFrom('files').select('manifest').where('path', '=', path).executeTakeFirst();
      if (old?.manifest !== manifest) await this.checkKeyMarkerUnused(trx, path, 'replaced');
    }
    if (kind !== 'vault') return;
    const other = await trx.selectFrom('files').select('path').where('parent', '=', dir).where('path', '<>', path).limit(1).executeTakeFirst();
    if (other) throw refusal(path, dir, 'marker', 'only an empty folder becomes one: make a new folder end-to-end instead');
  }

  /**
   * The markers at and above the folders of `paths` (one indexed lookup per 400 marker
   * paths): which folders are vaults, and each marker's kind by its path.
   */
  private async vaultsAbove(trx: Db, paths: readonly string[]): Promise<{ dirs: Set<string>; kinds: Map<string, MarkerKind> }> {
    const markerPaths = new Set<string>();
    for (const p of paths) for (const dir of ['/', ...ancestors(p)]) markerPaths.add(dir === '/' ? '/' + E2E_MARKER_NAME : dir + '/' + E2E_MARKER_NAME);
    const dirs = new Set<string>();
    const kinds = new Map<string, MarkerKind>();
    const unknown: { manifest: string }[] = [];
    for (const part of batches([...markerPaths])) {
      const rows = await trx.selectFrom('files').select(['path', 'manifest']).where('path', 'in', part).where('type', '=', 'file').execute();
      for (const r of rows) {
        const kind = r.manifest ? this.markers.get(r.manifest) : 'invalid';
        if (kind === undefined) unknown.push({ manifest: r.manifest! });
        else {
          kinds.set(r.path, kind);
          if (kind === 'vault') dirs.add(parentPath(r.path));
        }
      }
    }
    if (unknown.length > 0) throw new GuardNeedsBytes([], unknown);
    return { dirs, kinds };
  }
}

/** The first chunk of stored content (undefined: empty, or no content). */
async function firstChunkOf(trx: Db, manifest: string | undefined): Promise<string | undefined> {
  if (!manifest) return undefined;
  const row = await trx.selectFrom('manifests').select('chunks').where('hash', '=', manifest).executeTakeFirst();
  return row ? decodeChunkList(row.chunks)[0]?.hash : undefined;
}

/** The outermost vault strictly above `path`, if any. */
function outermost(vaults: ReadonlySet<string>, path: string): string | undefined {
  if (vaults.size === 0) return undefined;
  for (const dir of ['/', ...ancestors(path)]) if (vaults.has(dir)) return dir;
  return undefined;
}
