/**
 * The CLI side of end-to-end encryption (docs/e2e.md): the few decisions each command hands
 * to src/client/e2e/. Imported when a command runs (not by the commands' definitions), so
 * that printing help or the version does not load the end-to-end client.
 */
import { stat } from 'node:fs/promises';
import { basename, join, sep } from 'node:path';
import type { FerryClient } from '../client/client.js';
import { hasE2eSecret } from '../client/e2e/node-keys.js';
import type { E2eKeys } from '../client/e2e/format.js';
import {
  encryptedFileNamed,
  getEncrypted,
  inVault,
  keysAt,
  listEncrypted,
  locateKey,
  makeVault,
  putEncrypted,
  putEncryptedStream,
  resolveGetTarget,
  serverPathOf,
  shareFragmentOf,
  vaultOf,
  type E2ePutOptions,
  type GetTarget,
  type KeyLocation,
} from '../client/e2e/transfer.js';
import type { TransferOptions, TransferResult } from '../client/transfer.js';
import { getTreeEncrypted, putTreeEncrypted, vaultFolder, type E2eTreeOptions, type TreeFilter } from '../client/e2e/tree.js';
import { findStored } from '../client/e2e/rename.js';
import { isE2eName } from '../core/e2e-layout.js';
import { CryptoKeyMissingError, UsageError } from '../core/errors.js';
import { baseName, joinPath, normalizePath, parentPath, relativePath } from '../core/path.js';
import type { Entry } from '../core/protocol.js';
import { secretOf, type E2eOpts } from './e2e-flags.js';
import { terminalSafe } from './terminal-text.js';

export { encryptedTargetOf, mkdirInVault, moveInVaults, moveVaultsWithin, serverPathFor } from '../client/e2e/moves.js';
export { encryptedFileNamed } from '../client/e2e/transfer.js';

/**
 * Whether a put goes end to end: `--encrypt`, or a destination inside a vault (one small
 * request per level of DEST). Returns the results when it did the put, undefined when the
 * put is an ordinary one.
 */
export async function putEndToEnd(
  client: FerryClient,
  sources: string[],
  dest: string,
  into: (src: string, isDir?: (path: string) => Promise<boolean>) => Promise<string>,
  opts: E2eOpts & { encrypt?: boolean; recursive?: boolean; ifMatch?: string },
  common: E2ePutOptions & { filter?: TreeFilter; onFileError?: (path: string, err: unknown) => void },
): Promise<TransferResult[] | undefined> {
  const vault = await vaultOf(client, dest, common.signal);
  if (!opts.encrypt && !vault) {
    // A key named on the command line says "encrypt": outside a vault it would go unused, the file in the clear.
    const named = opts.e2eKeyFile !== undefined ? '--e2e-key-file' : opts.passphraseFile !== undefined ? '--passphrase-file' : undefined;
    if (named) throw new UsageError(`${terminalSafe(dest)} is not in an end-to-end folder, so ${named} alone encrypts nothing: add --encrypt to encrypt here, put into a folder made with ferry mkdir --e2e, or leave out ${named} to upload in the clear`);
    return undefined;
  }
  const secret = secretOf(opts);
  // --if-match (one file, put.ts checks): the stored file's ETag, decided at the commit as for a plain put.
  if (opts.ifMatch !== undefined) common = { ...common, ifMatch: opts.ifMatch };
  if (sources.includes('-')) {
    // Without a terminal a prompt would read the passphrase from stdin, which is the data here.
    if (!process.stdin.isTTY && !hasE2eSecret({ keyFile: opts.e2eKeyFile, passphraseFile: opts.passphraseFile })) {
      throw new CryptoKeyMissingError('stdin is the data: give the end-to-end secret with --passphrase-file FILE, FERRY_E2E_PASSPHRASE or --e2e-key-file FILE');
    }
    return [await putEncryptedStream(client, process.stdin, dest, secret, common)];
  }
  // Whether DEST is a folder: inside a vault asked by its stored path, never the plain one.
  const isDir = inVault(vault, dest) ? async (p: string) => (await findStored(client, await keysAt(vault, await secret()), vault, p, common.signal))?.type === 'dir' : undefined;
  const results: TransferResult[] = [];
  for (const src of sources) {
    if (await isLocalDirectory(src)) {
      if (!opts.recursive) throw new UsageError(`${src} is a directory: use -r to upload it`);
      results.push(await putTreeEncrypted(client, src, sources.length > 1 ? joinPath(dest, basename(src)) : dest, secret, common));
    } else results.push(await putEncrypted(client, src, await into(src, isDir), secret, common));
  }
  return results;
}

async function isLocalDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false; // putEncrypted reports a missing source
  }
}

/**
 * For `get -r`: a remote folder that is a vault or lies in one comes down decrypted (names,
 * folders, mtimes); undefined for an ordinary folder.
 */
export async function getTreeEndToEnd(client: FerryClient, remote: string, dest: string, opts: E2eOpts, common: E2eTreeOptions): Promise<TransferResult | undefined> {
  const loc = await vaultFolder(client, normalizePath(remote), common.signal);
  if (!loc) return undefined;
  return getTreeEncrypted(client, loc, normalizePath(remote), dest, secretOf(opts), common);
}

/**
 * For `get -r` of an ordinary folder with the key given: the files of `put --encrypt` in it
 * (`encrypted`, which getTree left out), each fetched decrypted under its plain name into
 * the local folder of its server folder. Undefined when no key is given: getTree then
 * writes them as stored, with a warning.
 */
export function encryptedInPlainTree(opts: E2eOpts): { onEncrypted: (e: Entry) => void; fetch: (client: FerryClient, remote: string, dest: string, common: TransferOptions) => Promise<TransferResult[]> } | undefined {
  if (!hasE2eSecret({ keyFile: opts.e2eKeyFile, passphraseFile: opts.passphraseFile })) return undefined;
  const found: Entry[] = [];
  return {
    onEncrypted: (e) => found.push(e),
    fetch: async (client, remote, dest, common) => {
      const results: TransferResult[] = [];
      for (const e of found) {
        const rel = relativePath(parentPath(e.path), normalizePath(remote));
        const dir = rel === '' ? dest : join(dest, ...rel.split('/'));
        results.push(await getEncrypted(client, e.path, dir + sep, secretOf(opts), common));
      }
      return results;
    },
  };
}

/** For `get`: the entry to fetch as usual, or an encrypted file (the secret is asked only then). */
export function getTarget(client: FerryClient, remote: string, opts: E2eOpts, signal: AbortSignal): Promise<GetTarget> {
  return resolveGetTarget(client, remote, secretOf(opts), signal);
}

export async function getEndToEnd(client: FerryClient, serverPath: string, dest: string, opts: E2eOpts, common: TransferOptions): Promise<TransferResult> {
  return getEncrypted(client, serverPath, dest === '-' ? process.stdout : dest, secretOf(opts), common);
}

/**
 * For `ls`: the entries of an end-to-end folder (a vault, or a path inside one named in
 * plain), names decrypted when a secret is given without asking; else a note on stderr
 * and the stored names. `fileInfo` (`-l`, `--json`): encrypted files' plain sizes and times,
 * read from their headers (one read per file). Undefined for an ordinary folder (after one
 * small request).
 */
export async function listEndToEnd(client: FerryClient, path: string, opts: E2eOpts, signal: AbortSignal, fileInfo = false, recursive = false): Promise<Entry[] | undefined> {
  const given = hasE2eSecret({ keyFile: opts.e2eKeyFile, passphraseFile: opts.passphraseFile });
  // The vault PATH is or is in, from the root down: nothing below a vault is asked for in
  // plain (a stat of a plain folder name inside a vault would hand the server that name).
  let loc = await vaultOf(client, path, signal);
  if (loc) {
    if (inVault(loc, path) && !given) throw new CryptoKeyMissingError(`${path} is inside the end-to-end folder ${loc.dir}: give --passphrase-file FILE or FERRY_E2E_PASSPHRASE to list it`);
  } else {
    // An ordinary folder: with a key, the names of encrypted files in it (put --encrypt) are shown decrypted.
    if (!given || !(await client.statIfExists(path, { signal }))) return undefined;
    loc = await locateKey(client, path, signal);
    if (!loc) return undefined;
  }
  if (!given) {
    process.stderr.write(`ferry: ${terminalSafe(path)} is end-to-end encrypted: names are shown as stored; give --passphrase-file FILE or FERRY_E2E_PASSPHRASE to see them\n`);
    return byPath(await (recursive ? listTreeEncrypted(client, path, undefined, undefined, loc, signal, false) : listEncrypted(client, path, undefined, loc, signal)));
  }
  const keys = await keysAt(loc, await secretOf(opts)());
  return byPath(await (recursive ? listTreeEncrypted(client, path, undefined, keys, loc, signal, fileInfo) : listEncrypted(client, path, keys, loc, signal, { fileInfo })));
}

/**
 * Sorted by the paths shown, as every other listing is (`ferry ls --help`): the server sorts
 * a vault's folder by the stored names, whose order says nothing about the plain ones.
 * Byte order of the UTF-8 names, as the server's.
 */
function byPath<E extends { path: string }>(entries: E[]): E[] {
  const keyed = entries.map((e) => ({ e, k: Buffer.from(e.path) }));
  keyed.sort((a, b) => Buffer.compare(a.k, b.k));
  return keyed.map((x) => x.e);
}

/**
 * `ls -R` where names are encrypted: folder by folder, each listed by its stored path (a
 * recursive listing of a plain path inside a vault would hand the server that plain name),
 * every entry's path made of the plain names above it (stored ones where a name does not open).
 */
async function listTreeEncrypted(client: FerryClient, plainDir: string, serverDir: string | undefined, keys: E2eKeys | undefined, loc: KeyLocation, signal: AbortSignal, fileInfo: boolean): Promise<Entry[]> {
  const out: Entry[] = [];
  for (const { storedPath, ...e } of await listEncrypted(client, plainDir, keys, loc, signal, { fileInfo, serverDir })) {
    const path = joinPath(plainDir, e.name);
    out.push({ ...e, path });
    if (e.type === 'dir') out.push(...(await listTreeEncrypted(client, path, storedPath ?? e.path, keys, loc, signal, fileInfo)));
  }
  return out;
}

/** For `mkdir --e2e`. */
export async function mkdirEndToEnd(client: FerryClient, dir: string, opts: E2eOpts, signal: AbortSignal): Promise<void> {
  await makeVault(client, dir, secretOf(opts), signal);
}

/** For `share`: the server path of an encrypted file and the fragment its link carries; undefined for anything else. */
export async function shareEndToEnd(client: FerryClient, path: string, opts: E2eOpts): Promise<{ serverPath: string; fragment: string } | undefined> {
  const target = await getTarget(client, normalizePath(path), opts, new AbortController().signal);
  if (target.kind !== 'e2e') return undefined;
  return { serverPath: target.serverPath, fragment: await shareFragmentOf(client, target.serverPath, secretOf(opts)) };
}

/**
 * For `versions`, `restore` and `trash restore --to`: the stored path of a path inside a
 * vault, given plain (the stored entry of that plain path when there is one, else the names
 * computed for its place: `computed`) or already as stored (every name below the vault an
 * encrypted one, as `ferry trash ls` shows them: taken as it is). Undefined for a path in
 * no vault.
 */
export async function storedPathInVault(
  client: FerryClient,
  path: string,
  opts: E2eOpts,
  signal?: AbortSignal,
): Promise<{ stored: string; computed: false } | { stored: string; computed: true; vault: string; opens: (storedName: string) => Promise<boolean> } | undefined> {
  const loc = await vaultOf(client, path, signal);
  if (!inVault(loc, path)) return undefined;
  if (relativePath(path, loc.dir).split('/').every(isE2eName)) return { stored: path, computed: false };
  const keys = await keysAt(loc, await secretOf(opts)());
  const computed = { computed: true as const, vault: loc.dir, opens: async (name: string) => (await keys.decryptName(name)) !== undefined };
  const found = await findStored(client, keys, loc, path, signal);
  if (found) return { stored: found.path, ...computed };
  // A new name in an existing folder goes where that folder is, even under a name a move cut short left.
  const parent = parentPath(path);
  const dir = parent === loc.dir ? undefined : await findStored(client, keys, loc, parent, signal);
  if (dir) return { stored: joinPath(dir.path, await keys.encryptName(parent, baseName(path))), ...computed };
  return { stored: await serverPathOf(keys, loc, path), ...computed };
}

/**
 * For commands that name one server path and read what is there (`stat`, `cat`, `size`):
 * the path to send. Inside a vault, a path named in plain is never sent (its request would
 * hand the server the names the vault hides): its stored path is found with the key (given,
 * or asked for as `get` does) and sent instead; a name that does not exist becomes the
 * encrypted name it would have, and the server's 404. Anywhere else, the path itself, or the
 * stored path of a file put with --encrypt under that plain name (found as `get` finds it).
 */
export async function pathToSend(client: FerryClient, path: string, opts: E2eOpts, signal?: AbortSignal): Promise<string> {
  const inVault = await storedPathInVault(client, normalizePath(path), opts, signal);
  if (inVault) return inVault.stored;
  return (await encryptedFileNamed(client, normalizePath(path), secretOf(opts), signal))?.serverPath ?? path;
}

/**
 * For `trash ls` when a secret is given (never asked for): the plain path of each stored
 * path whose names are encrypted (in a vault, or a `put --encrypt` file), each encrypted name
 * decrypted with the key of the nearest marker above it (the root's when its vault is no
 * longer there: moved, renamed or deleted since); a name this key does not open stays as
 * stored. Undefined without a secret.
 */
export async function plainPathsOf(client: FerryClient, paths: readonly string[], opts: E2eOpts, signal?: AbortSignal): Promise<Map<string, string> | undefined> {
  if (!hasE2eSecret({ keyFile: opts.e2eKeyFile, passphraseFile: opts.passphraseFile })) return undefined;
  const keysOfDir = new Map<string, Promise<Awaited<ReturnType<typeof keysAt>> | undefined>>();
  const keysFor = (dir: string) => {
    let k = keysOfDir.get(dir);
    if (!k) {
      k = locateKey(client, dir, signal).then(async (loc) => (loc ? keysAt(loc, await secretOf(opts)()) : undefined));
      keysOfDir.set(dir, k);
    }
    return k;
  };
  const out = new Map<string, string>();
  for (const stored of paths) {
    const segs = stored.split('/').slice(1);
    const first = segs.findIndex(isE2eName);
    if (first === -1) continue;
    const keys = await keysFor('/' + segs.slice(0, first).join('/'));
    if (!keys) continue;
    const plain = await Promise.all(segs.map(async (seg, i) => (i >= first && isE2eName(seg) ? ((await keys.decryptName(seg)) ?? seg) : seg)));
    out.set(stored, '/' + plain.join('/'));
  }
  return out;
}
