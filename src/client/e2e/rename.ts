/**
 * Moves, renames and copies inside end-to-end folders (vaults), shared by the CLI
 * (./moves.ts) and the web app (web/src/vault.ts). Each name in a vault is encrypted with
 * its plain folder path as context (docs/e2e.md, "Names"), so a name that changes folder
 * must be encrypted again, and so must every name below a folder that moves: the server
 * moves the entry (no bytes copied), then the client renames what lies below, one request
 * per name that changes. The server refuses such moves from clients that do not say they
 * do this (`reencrypt`, FERRY_ERR_E2E_NEEDS_KEY: WebDAV and SFTP cannot). Imports nothing
 * of Node.js.
 */
import { isFerryError } from '../../core/errors.js';
import { joinPath, relativePath } from '../../core/path.js';
import type { Entry } from '../../core/protocol.js';
import type { FerryApi } from '../api.js';
import { E2E_MARKER_NAME, type E2eKeys } from './format.js';
import { type KeyLocation } from './locate.js';

/** Any client: Node's (Buffer bodies) or a browser's (Uint8Array). */
type AnyClient = FerryApi<Uint8Array> | FerryApi<Buffer>;

/**
 * Gives every entry below `storedDir` the stored name its plain name has under its plain
 * folder `plainDir`, recursively; returns how many names changed. Entries whose names this
 * key does not open are left as they are (and so is a vault's marker). Idempotent: a run
 * cut short is finished by running it again.
 */
export async function rehome(client: AnyClient, keys: E2eKeys, plainDir: string, storedDir: string, signal?: AbortSignal): Promise<number> {
  // Listed whole before any rename: renaming while paging through the folder could skip or repeat entries.
  const children: Entry[] = [];
  for await (const e of client.list(storedDir, { signal })) children.push(e);
  let renamed = 0;
  for (const e of children) {
    if (e.name === E2E_MARKER_NAME) continue;
    const name = await keys.decryptName(e.name);
    if (name === undefined) continue;
    const want = await keys.encryptName(plainDir, name);
    const at = joinPath(storedDir, want);
    if (want !== e.name) {
      await client.move(e.path, at, { overwrite: false, reencrypt: true, signal });
      renamed++;
    }
    if (e.type === 'dir') renamed += await rehome(client, keys, joinPath(plainDir, name), at, signal);
  }
  return renamed;
}

/**
 * Moves or copies a stored entry to `to.stored`, the stored path of the plain path
 * `to.plain`, then renames what lies below it for its new place (how many: `renamed`).
 */
export async function relocate(
  client: AnyClient,
  keys: E2eKeys,
  op: 'move' | 'copy',
  from: { stored: string; type: Entry['type'] },
  to: { stored: string; plain: string },
  options: { overwrite?: boolean; ifMatch?: string; signal?: AbortSignal } = {},
): Promise<{ entry: Entry; renamed: number }> {
  const o = { overwrite: options.overwrite ?? false, ifMatch: options.ifMatch, reencrypt: true, signal: options.signal };
  const entry = op === 'move' ? await client.move(from.stored, to.stored, o) : await client.copy(from.stored, to.stored, o);
  return { entry, renamed: from.type === 'dir' ? await rehome(client, keys, to.plain, to.stored, options.signal) : 0 };
}

/**
 * The stored entry of a plain path in a vault: each name computed for its folder, or else
 * found by listing that folder and decrypting its names (a name left by an older client or
 * by a move cut short, which still decrypts but was made for another folder). Undefined
 * when there is none.
 */
export async function findStored(client: AnyClient, keys: E2eKeys, loc: KeyLocation, plainPath: string, signal?: AbortSignal): Promise<Entry | undefined> {
  let stored = loc.dir;
  let plain = loc.dir;
  const segs = relativePath(plainPath, loc.dir).split('/');
  let entry: Entry | undefined;
  for (const seg of segs) {
    const computed = joinPath(stored, await keys.encryptName(plain, seg));
    entry = await statOrUndefined(client, computed, signal);
    if (!entry) entry = await byDecryptedName(client, keys, stored, seg, signal);
    if (!entry) return undefined;
    stored = entry.path;
    plain = joinPath(plain, seg);
  }
  return entry;
}

async function statOrUndefined(client: AnyClient, path: string, signal?: AbortSignal): Promise<Entry | undefined> {
  try {
    return await client.statIfExists(path, { signal });
  } catch (err) {
    if (isFerryError(err, 'FERRY_ERR_NOT_A_DIRECTORY')) return undefined;
    throw err;
  }
}

async function byDecryptedName(client: AnyClient, keys: E2eKeys, storedDir: string, name: string, signal?: AbortSignal): Promise<Entry | undefined> {
  try {
    for await (const e of client.list(storedDir, { signal })) if ((await keys.decryptName(e.name)) === name) return e;
  } catch (err) {
    if (isFerryError(err, 'FERRY_ERR_NOT_FOUND') || isFerryError(err, 'FERRY_ERR_NOT_A_DIRECTORY')) return undefined;
    throw err;
  }
  return undefined;
}
