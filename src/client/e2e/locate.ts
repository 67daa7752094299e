/**
 * Where the key of a remote path is (markers), what a plain path's server path is
 * (encrypted names), and the file key of a stored encrypted file: the part of the
 * end-to-end client that runs wherever the client runs. Node.js (./transfer.ts, the CLI)
 * and the web app (web/src/vault.ts) both use this module, so both find the same marker
 * and compute the same stored names (docs/e2e.md, "Names"). Imports nothing of Node.js.
 */
import { isFerryError } from '../../core/errors.js';
import { baseName, isWithin, joinPath, parentPath, relativePath } from '../../core/path.js';
import type { ChunkRef } from '../../core/manifest.js';
import type { Entry } from '../../core/protocol.js';
import type { FerryApi } from '../api.js';
import { E2E_MARKER_NAME, fileKeyOf, type DecryptOptions, type E2eFileInfo, type E2eKeys, type E2eMarker } from './format.js';
import { parseMarker } from './kdf.js';

/** Any client: Node's (Buffer bodies) or a browser's (Uint8Array). */
type AnyClient = FerryApi<Uint8Array> | FerryApi<Buffer>;

/** The nearest marker at or above a plain path, and where it is. */
export interface KeyLocation {
  dir: string;
  marker: E2eMarker;
}

/** The marker directly in `dir`, if any (a folder the caller may not read, or a file, has none). */
export async function markerIn(client: AnyClient, dir: string, signal?: AbortSignal): Promise<KeyLocation | undefined> {
  const at = joinPath(dir, E2E_MARKER_NAME);
  let e: Entry | undefined;
  try {
    e = await client.statIfExists(at, { signal });
  } catch (err) {
    if (isFerryError(err, 'FERRY_ERR_NOT_A_DIRECTORY') || isFerryError(err, 'FERRY_ERR_FORBIDDEN')) return undefined;
    throw err;
  }
  if (!e || e.type !== 'file') return undefined;
  const text = new TextDecoder().decode(await client.getFileBytes(at, e.size, { signal }));
  return { dir, marker: parseMarker(text) };
}

export function ancestorsOf(path: string): string[] {
  const out: string[] = [];
  for (let i = path.indexOf('/', 1); i !== -1; i = path.indexOf('/', i + 1)) out.push(path.slice(0, i));
  return out;
}

/**
 * The markers from the root down to `dir`, one small request each, stopping at the first
 * vault: below a vault the server's names are encrypted, so asking for the marker of a
 * plain path there would hand the server that plain folder name (the request's path).
 */
async function markersDown(client: AnyClient, dir: string, signal?: AbortSignal): Promise<KeyLocation[]> {
  const out: KeyLocation[] = [];
  for (const d of dir === '/' ? ['/'] : ['/', ...ancestorsOf(dir), dir]) {
    const found = await markerIn(client, d, signal);
    if (found) out.push(found);
    if (found?.marker.vault) break;
  }
  return out;
}

/** The nearest marker at or above `plainDir` (a vault's stops the search: nothing below it is asked for). */
export async function locateKey(client: AnyClient, plainDir: string, signal?: AbortSignal): Promise<KeyLocation | undefined> {
  return (await markersDown(client, plainDir, signal)).at(-1);
}

/** The vault (end-to-end folder) `plainPath` is in or is (the root is never one). */
export async function vaultOf(client: AnyClient, plainPath: string, signal?: AbortSignal): Promise<KeyLocation | undefined> {
  if (plainPath === '/') return undefined;
  const last = (await markersDown(client, plainPath, signal)).at(-1);
  return last?.marker.vault ? last : undefined;
}

/** Whether `plainPath` lies strictly inside a vault (an end-to-end folder) of `loc`. */
export const inVault = (loc: KeyLocation | undefined, plainPath: string): loc is KeyLocation =>
  loc !== undefined && loc.marker.vault && plainPath !== loc.dir && isWithin(plainPath, loc.dir);

/**
 * The server path of a plain path: inside a vault every name below it is encrypted;
 * elsewhere (`put --encrypt`) only the file's own name.
 */
export async function serverPathOf(keys: E2eKeys, loc: KeyLocation | undefined, plainPath: string): Promise<string> {
  if (!inVault(loc, plainPath)) return joinPath(parentPath(plainPath), await keys.encryptName(parentPath(plainPath), baseName(plainPath)));
  let server = loc.dir;
  let plain = loc.dir;
  for (const seg of relativePath(plainPath, loc.dir).split('/')) {
    server = joinPath(server, await keys.encryptName(plain, seg));
    plain = joinPath(plain, seg);
  }
  return server;
}

/**
 * The file key and the sealed table's name, size and mtime of a stored encrypted file:
 * its manifest (unless its chunk list is known: a listing with `chunks` gives it for small
 * files), then only its first chunks (the header comes first and is cut at the server's
 * maximum chunk size, so one chunk holds it for files up to about 100 GiB).
 */
export async function readFileKey(
  client: AnyClient,
  serverPath: string,
  keyFor: DecryptOptions['keyFor'],
  signal?: AbortSignal,
  knownChunks?: readonly ChunkRef[],
): Promise<{ fileKey: Uint8Array; info: E2eFileInfo }> {
  const { chunks, path } = knownChunks ? { chunks: knownChunks, path: serverPath } : await client.manifest(serverPath, { signal });
  async function* stored(): AsyncGenerator<Uint8Array> {
    for (const c of chunks) yield await client.getChunk(c.hash, c.size, { signal, path });
  }
  return fileKeyOf(stored(), keyFor);
}
