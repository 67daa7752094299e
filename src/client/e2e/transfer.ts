/**
 * End-to-end encrypted transfers in Node.js (docs/e2e.md): where the key of a remote path
 * is (markers), what its server path is (encrypted names), and put/get/list/share of
 * encrypted files over the ordinary protocol. The server sees an ordinary file whose
 * chunks are ciphertext named by their SHA-256, so it verifies, dedups (within one user
 * key), resumes and replicates them like any other; only the client can read them.
 */
import type { Stats } from 'node:fs';
import { mkdir, open, rm, stat, type FileHandle } from 'node:fs/promises';
import { PART_SUFFIX, putInPlace, refuseClobber } from '../get.js';
import { openPartFile, partPathOf, settlePart } from '../part-file.js';
import { dirname, join } from 'node:path';
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { chunkStream } from '../../algo/chunk-stream.js';
import { CryptoKeyMissingError, CryptoTamperedError, FerryError, NotFoundError, PreconditionFailedError, UsageError, fromSystemError, isFerryError, ferryErrorOf } from '../../core/errors.js';
import { baseName, joinPath, normalizePath, parentPath } from '../../core/path.js';
import type { Entry } from '../../core/protocol.js';
import { checkUploadMeta } from '../../core/option-values.js';
import type { FerryApi } from '../api.js';
import { readAt } from '../local-file.js';
import { putStream, uploadKeyOf } from '../put.js';
import type { SessionMemo } from '../resume-session.js';
import { TransferContext, type TransferOptions, type TransferResult } from '../transfer.js';
import { forEachConcurrent } from '../concurrency.js';
import type { ChunkRef } from '../../core/manifest.js';
import { plainChunking, uploadEncryptedOnce } from './single-pass.js';
import {
  E2E_MARKER_NAME,
  E2eKeys,
  decryptFile,
  isE2eName,
  toBase64Url,
  useChunkCrypto,
  type E2eFileInfo,
  type E2eMarker,
} from './format.js';
import { keysFor, newMarker, type E2eSecret } from './kdf.js';
import { inVault, locateKey, readFileKey, serverPathOf, vaultOf, type KeyLocation } from './locate.js';
import type { KdfParams } from './format.js';
import { nodeChunkCrypto, nodeScrypt } from './node-keys.js';

type Client = FerryApi<Buffer>;

// Chunks are encrypted and decrypted with node:crypto in Node.js (see ChunkCrypto).
useChunkCrypto(nodeChunkCrypto);

export { ancestorsOf, inVault, locateKey, markerIn, serverPathOf, vaultOf, type KeyLocation } from './locate.js';

/**
 * Keys already derived in this process, by secret and parameters: scrypt costs a second or
 * more, and one command may need the same key for the lookup and for the file's header.
 */
const derived = new WeakMap<E2eSecret, Map<string, Promise<E2eKeys>>>();

/** The keys of a secret under parameters and a check value (FERRY_ERR_CRYPTO_KEY_WRONG if they differ). */
export function keysOf(secret: E2eSecret, kdf: KdfParams, check: string): Promise<E2eKeys> {
  let bySecret = derived.get(secret);
  if (!bySecret) derived.set(secret, (bySecret = new Map()));
  const id = JSON.stringify([kdf, check]);
  let keys = bySecret.get(id);
  if (!keys) {
    keys = keysFor(secret, kdf, check, nodeScrypt);
    keys.catch(() => bySecret.delete(id));
    bySecret.set(id, keys);
  }
  return keys;
}

/** The keys of a location's marker, the secret checked against it (FERRY_ERR_CRYPTO_KEY_WRONG). */
export async function keysAt(loc: KeyLocation, secret: E2eSecret): Promise<E2eKeys> {
  return keysOf(secret, loc.marker.kdf, loc.marker.check);
}

async function writeMarker(client: Client, dir: string, marker: E2eMarker, signal?: AbortSignal): Promise<void> {
  const body = Buffer.from(JSON.stringify(marker) + '\n');
  await putStream(client, (async function* () {
    yield body;
  })(), joinPath(dir, E2E_MARKER_NAME), { signal, mode: 0o644 });
}

/**
 * `ferry mkdir --e2e DIR`: the folder, and its marker. The key is the user's: a marker
 * above DIR (or at the root) gives the parameters, so every vault of a user shares one key
 * and dedups across them; without one, a new salt (and the root marker, for later
 * `put --encrypt`).
 */
export async function makeVault(client: Client, plainDir: string, secret: () => Promise<E2eSecret>, signal?: AbortSignal): Promise<void> {
  const dir = normalizePath(plainDir);
  if (dir === '/') throw new UsageError('the root cannot be an end-to-end folder; make one below it');
  const above = await locateKey(client, parentPath(dir), signal);
  if (above?.marker.vault) throw new UsageError(`${dir} would be inside the end-to-end folder ${above.dir}: folders in it are made by put, their names encrypted`);
  let marker: E2eMarker;
  if (above) {
    await keysAt(above, await secret());
    marker = { ...above.marker, vault: true };
  } else {
    const made = await newMarker(await secret(), nodeScrypt, true);
    marker = made.marker;
    await writeMarker(client, '/', { ...marker, vault: false }, signal);
  }
  await client.mkdir(dir, { parents: true, signal });
  await writeMarker(client, dir, marker, signal);
}

/** The key for writing below `plainDir`: its marker's, or a new root marker's. */
export async function keyForWrite(client: Client, plainDir: string, secret: () => Promise<E2eSecret>, signal?: AbortSignal): Promise<{ loc: KeyLocation; keys: E2eKeys }> {
  const loc = await locateKey(client, plainDir, signal);
  if (loc) return { loc, keys: await keysAt(loc, await secret()) };
  const made = await newMarker(await secret(), nodeScrypt, false);
  await writeMarker(client, '/', made.marker, signal);
  return { loc: { dir: '/', marker: made.marker }, keys: made.keys };
}

export interface E2ePutOptions extends TransferOptions {
  noOverwrite?: boolean;
  /**
   * Replace the file only if its stored copy still has this ETag (`stat` of the plain path
   * gives it), else FERRY_ERR_PRECONDITION_FAILED, as PutFileOptions.ifMatch.
   */
  ifMatch?: string;
  ttlSeconds?: number;
  /** As PutFileOptions.sessions: a put killed mid-way, run again, continues its gathering session (./single-pass.ts). */
  sessions?: SessionMemo;
}

/**
 * `ferry put --encrypt FILE` and puts of files into a vault: the file is read once, cut with
 * the server's chunking (maximum lowered by the tag), each chunk encrypted under its own
 * convergent key and sent as it is cut; then the stored file (header + ciphertext chunks)
 * is committed (./single-pass.ts). Deduped within the user key; a chunk the server loses
 * before the commit is read from the file again. The server records the upload time, not
 * the file's mtime (the header keeps that).
 */
export async function putEncrypted(client: Client, localPath: string, plainDest: string, secret: () => Promise<E2eSecret>, options: E2ePutOptions = {}): Promise<TransferResult & { path: string }> {
  checkUploadMeta({ ttlSeconds: options.ttlSeconds });
  const ctx = new TransferContext(client, options);
  const dest = normalizePath(plainDest);
  let st: Stats;
  try {
    st = await stat(localPath);
  } catch (err) {
    throw fromSystemError(err, localPath);
  }
  if (!st.isFile()) throw new UsageError(`${localPath} is not a regular file: end-to-end encryption takes files one by one`);
  const { loc, keys } = await keyForWrite(client, parentPath(dest), secret, ctx.signal);
  const serverPath = await serverPathOf(keys, loc, dest);
  let fh: FileHandle;
  try {
    fh = await open(localPath, 'r');
  } catch (err) {
    throw fromSystemError(err, localPath);
  }
  try {
    const caps = await client.capabilities({ signal: ctx.signal });
    ctx.progress.addTotals(st.size, 1);
    const input = fh.createReadStream({ start: 0, highWaterMark: READ_PIECE, autoClose: false });
    const plain = chunkStream(input, plainChunking(caps), { signal: ctx.signal });
    // The same file, to the same stored path (so under the same key): the same ciphertext chunks.
    const resume = options.sessions && { memo: options.sessions, key: await uploadKeyOf(client, localPath, serverPath, 'e2e-gathering'), stamp: JSON.stringify([st.dev, st.ino, st.size, st.mtimeMs]) };
    await uploadEncryptedOnce(ctx, plain, { keys, kdf: loc.marker.kdf, serverPath, name: baseName(dest), mtime: Math.round(st.mtimeMs) }, {
      noOverwrite: options.noOverwrite,
      ifMatch: options.ifMatch,
      ttlSeconds: options.ttlSeconds,
      ...(resume ? { keepGathering: resume } : {}),
      reread: (offset, size) => readAt(fh, offset, size, localPath),
      checkUnchanged: async () => {
        const now = await fh.stat();
        if (now.size !== st.size || now.mtimeMs !== st.mtimeMs) throw new PreconditionFailedError(`${localPath} changed while it was being uploaded; run again`);
      },
    });
  } finally {
    await fh.close();
  }
  return { ...ctx.finish(), path: serverPath };
}

/** Bytes read from a file at a time for the chunker. */
const READ_PIECE = 1024 * 1024;

export interface E2ePutStreamOptions extends E2ePutOptions {
  /** The mtime sealed in the header (default: now). */
  mtime?: number;
}

/**
 * `ferry put --encrypt - DEST` (and `put - DEST` into a vault): a stream of unknown size,
 * read once, encrypted and sent as it arrives (./single-pass.ts); memory stays at a few
 * chunks per slot plus the table of chunk keys (about 90 bytes a chunk). The key is
 * checked before a byte is read. Cannot resume: a put that fails midway must be run again.
 */
export async function putEncryptedStream(client: Client, input: AsyncIterable<Uint8Array>, plainDest: string, secret: () => Promise<E2eSecret>, options: E2ePutStreamOptions = {}): Promise<TransferResult & { path: string }> {
  checkUploadMeta({ mtime: options.mtime, ttlSeconds: options.ttlSeconds });
  const ctx = new TransferContext(client, options);
  const dest = normalizePath(plainDest);
  if (dest === '/') throw new UsageError('stdin needs a file name: give DEST as a path such as /vault/name');
  const { loc, keys } = await keyForWrite(client, parentPath(dest), secret, ctx.signal);
  // As for a plain `put -`, DEST names the file: a folder there is an error (inside a vault
  // the encrypted path is what the server has; single-pass.ts checks that one).
  if (!inVault(loc, dest) && (await client.statIfExists(dest, { signal: ctx.signal }))?.type === 'dir') {
    throw ferryErrorOf('FERRY_ERR_IS_A_DIRECTORY', `${dest} is a folder: stdin needs a file name, such as ${joinPath(dest, 'NAME')}`);
  }
  const serverPath = await serverPathOf(keys, loc, dest);
  const caps = await client.capabilities({ signal: ctx.signal });
  ctx.progress.addTotals(undefined, 1);
  const plain = chunkStream(input, plainChunking(caps), { signal: ctx.signal });
  await uploadEncryptedOnce(ctx, plain, { keys, kdf: loc.marker.kdf, serverPath, name: baseName(dest), mtime: options.mtime ?? Date.now() }, {
    noOverwrite: options.noOverwrite,
    ifMatch: options.ifMatch,
    ttlSeconds: options.ttlSeconds,
  });
  return { ...ctx.finish(), path: serverPath };
}

/** What `ferry get` should fetch: a plain entry as it is, or the server path of an encrypted file. */
export type GetTarget = { kind: 'plain'; entry: Entry } | { kind: 'e2e'; serverPath: string; loc?: KeyLocation };

/**
 * Tells a plain remote path from an encrypted one: a name with the encrypted suffix is one;
 * a plain path the server does not have may name an encrypted file (below a marker, its
 * name encrypted), found by computing its server path, or else by decrypting the names of
 * its folder (a file moved on the server keeps the name it was encrypted with).
 */
export async function resolveGetTarget(client: Client, remote: string, secret: () => Promise<E2eSecret>, signal?: AbortSignal): Promise<GetTarget> {
  let notFound: unknown;
  // Inside a vault the plain path is never asked for: the request would show the server its plain names.
  const vault = remote === '/' || isE2eName(baseName(remote)) ? undefined : await vaultOf(client, parentPath(remote), signal);
  if (!inVault(vault, remote)) {
    try {
      const entry = await client.stat(remote, { signal });
      return entry.type === 'file' && isE2eName(baseName(remote)) ? { kind: 'e2e', serverPath: remote } : { kind: 'plain', entry };
    } catch (err) {
      if (!isFerryError(err, 'FERRY_ERR_NOT_FOUND')) throw err;
      notFound = err;
    }
  }
  const loc = vault ?? (remote === '/' ? undefined : await locateKey(client, parentPath(remote), signal));
  if (!loc) throw notFound; // the server's own answer: nothing end-to-end here either
  // Outside a vault, only a folder holding files put with --encrypt can hide the name under an
  // encrypted one: anywhere else the answer is the server's "not found", not a request for the
  // passphrase (a user who once put a file with --encrypt has a key at the root).
  if (!vault && !(await holdsEncryptedFiles(client, parentPath(remote), signal))) throw notFound;
  const keys = await keysAt(loc, await secretToLookAmongNames(secret, remote, vault === undefined ? notFound : undefined));
  const serverPath = await serverPathOf(keys, loc, remote);
  const found = await client.statIfExists(serverPath, { signal });
  if (found?.type === 'file') return { kind: 'e2e', serverPath, loc };
  if (found?.type === 'dir') return { kind: 'plain', entry: found };
  const serverDir = parentPath(serverPath);
  const want = baseName(remote);
  try {
    for await (const e of client.list(serverDir, { signal })) {
      if (e.type === 'file' && (await keys.decryptName(e.name)) === want) return { kind: 'e2e', serverPath: e.path, loc };
    }
  } catch (err) {
    if (!isFerryError(err, 'FERRY_ERR_NOT_FOUND')) throw err;
  }
  throw new NotFoundError(`${remote} not found (no plain or end-to-end encrypted file of that name)`);
}

/**
 * Outside a vault, for commands that act on one server path (`stat`, `size`, `rm`, `mv`,
 * `cp`): undefined when the server has `plainPath` itself (nothing more is asked), else the
 * file put with --encrypt that the plain name stands for, found as {@link resolveGetTarget}
 * finds it (the secret asked for only then). NOT_FOUND when neither is there; in a folder
 * holding encrypted files and without the secret, FERRY_ERR_CRYPTO_KEY_MISSING.
 */
export async function encryptedFileNamed(client: Client, plainPath: string, secret: () => Promise<E2eSecret>, signal?: AbortSignal): Promise<{ serverPath: string; loc?: KeyLocation } | undefined> {
  if (plainPath === '/' || (await client.statIfExists(plainPath, { signal }))) return undefined;
  const target = await resolveGetTarget(client, plainPath, secret, signal);
  return target.kind === 'e2e' ? target : undefined;
}

/**
 * The secret; in an ordinary folder holding encrypted files, a secret not given is
 * FERRY_ERR_CRYPTO_KEY_MISSING naming the path and why the key is needed: `ferry get /typo`
 * there said only "end-to-end encrypted: give --passphrase-file ...", as if /typo were an
 * encrypted file. (Without the key nobody can tell whether an encrypted name hides it.)
 */
async function secretToLookAmongNames(secret: () => Promise<E2eSecret>, remote: string, notFound: unknown): Promise<E2eSecret> {
  try {
    return await secret();
  } catch (err) {
    if (notFound === undefined || !isFerryError(err, 'FERRY_ERR_CRYPTO_KEY_MISSING')) throw err;
    throw new CryptoKeyMissingError(`${remote} is no plain file or folder, and its folder holds files put with --encrypt: give --passphrase-file FILE or FERRY_E2E_PASSPHRASE to look among their names`, { cause: notFound });
  }
}

/** Whether the folder exists and holds a file with an end-to-end encrypted name (`.fe2e`). */
async function holdsEncryptedFiles(client: Client, dir: string, signal?: AbortSignal): Promise<boolean> {
  try {
    for await (const e of client.list(dir, { signal })) if (e.type === 'file' && isE2eName(e.name)) return true;
  } catch (err) {
    if (isFerryError(err, 'FERRY_ERR_NOT_FOUND') || isFerryError(err, 'FERRY_ERR_NOT_A_DIRECTORY')) return false;
    throw err;
  }
  return false;
}

/**
 * The stored bytes of a remote file, chunk by chunk in order: one ranged request for the
 * whole file (getChunkRun: each chunk verified against its name as it arrives, the request
 * resumed where it broke), a few chunks held ahead of the reader and no more.
 */
async function* storedChunks(ctx: TransferContext<Buffer>, serverPath: string): AsyncGenerator<Uint8Array> {
  const { client, signal } = ctx;
  const manifest = await client.manifest(serverPath, { signal });
  ctx.progress.addTotals(manifest.size, 1);
  const held: Uint8Array[] = [];
  let ended = false;
  let failure: { err: unknown } | undefined;
  let wakeReader: (() => void) | undefined;
  let wakeWriter: (() => void) | undefined;
  const wake = () => {
    wakeReader?.();
    wakeReader = undefined;
  };
  const run =
    manifest.chunks.length === 0
      ? Promise.resolve()
      : client.getChunkRun(
          manifest.path,
          manifest.hash,
          0,
          manifest.chunks,
          async (_i, pieces) => {
            const data = pieces.length === 1 ? pieces[0] : Buffer.concat(pieces);
            ctx.result.bytesTransferred += data.length;
            ctx.result.wireBytes += data.length;
            ctx.result.chunksTransferred += 1;
            ctx.progress.transferred(data.length);
            ctx.progress.done(data.length);
            held.push(data);
            wake();
            while (held.length >= ctx.parallel && !signal.aborted) await new Promise<void>((r) => (wakeWriter = r));
          },
          { signal },
        );
  const finished = run.then(
    () => void (ended = true),
    (err: unknown) => void (failure = { err }),
  );
  void finished.then(wake);
  try {
    for (;;) {
      if (held.length > 0) {
        yield held.shift()!;
        wakeWriter?.();
        wakeWriter = undefined;
      } else if (failure) throw failure.err;
      else if (ended) return;
      else await new Promise<void>((r) => (wakeReader = r));
    }
  } finally {
    if (!ended && !failure) {
      ctx.abort(new Error('stopped')); // the reader stopped early (a decryption error): so does the request
      wakeWriter?.();
      await finished;
    }
  }
}

/**
 * The name a file fetched into a folder gets there: the one it has now, its stored name
 * decrypted, as `ls` shows it and as it was asked for. The sealed table's name is the one it
 * was put with and goes stale when the file is moved or renamed (`ferry mv` renames the entry
 * and leaves the header alone), so it is only the fallback: for a file key without the user
 * key (a share link), or a stored name that is not this key's.
 */
async function localNameOf(serverPath: string, info: E2eFileInfo, keys: E2eKeys | undefined): Promise<string> {
  return (keys && (await keys.decryptName(baseName(serverPath)))) || info.name;
}

/** A decrypted name used as a local file name must be one name, nothing more. */
function safeLocalName(name: string): string {
  if (!name || name === '.' || name === '..' || /[/\\\0]/.test(name)) throw new CryptoTamperedError('the end-to-end file carries a name that is not a plain file name');
  return name;
}

async function isLocalDir(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

export interface E2eGetOptions extends TransferOptions {
  /** For share links and tests: the file key instead of the user's secret. */
  fileKey?: Uint8Array;
  /** Never replace a local file (`--no-clobber`): see GetFileOptions. */
  noOverwrite?: boolean;
}

/**
 * Downloads and decrypts an encrypted file to `destArg` (a file, or a directory: then the
 * file's current name, see localNameOf), or to a stream when `destArg` is a Writable. The key is
 * checked against the header before anything local is created; the plain bytes go to
 * DEST.ferry-part, which becomes DEST only when every chunk has been authenticated and
 * the file is whole: a wrong key, a tampered, swapped or truncated chunk leaves nothing.
 */
export async function getEncrypted(client: Client, serverPath: string, destArg: string | Writable, secret: () => Promise<E2eSecret>, options: E2eGetOptions = {}): Promise<TransferResult & { info?: E2eFileInfo; dest?: string }> {
  const ctx = new TransferContext(client, options);
  let info: E2eFileInfo | undefined;
  let dest: string | undefined;
  let part: string | undefined;
  let fh: FileHandle | undefined;
  let keys: E2eKeys | undefined;
  const plain = decryptFile(storedChunks(ctx, serverPath), {
    keyFor: async (header) => {
      if (options.fileKey) return { fileKey: options.fileKey };
      keys = await keysOf(await secret(), header.kdf, header.check);
      return { keys };
    },
    onInfo: async (i) => {
      info = i;
      if (typeof destArg !== 'string') return;
      dest = destArg.endsWith('/') || (await isLocalDir(destArg)) ? join(destArg, safeLocalName(await localNameOf(serverPath, i, keys))) : destArg;
      if (options.noOverwrite) await refuseClobber(dest);
      part = partPathOf(dest, PART_SUFFIX);
      await mkdir(dirname(dest), { recursive: true });
      fh = await openPartFile(part, false, dest);
    },
  });
  try {
    for await (const bytes of plain) {
      if (typeof destArg !== 'string') {
        if (!destArg.write(bytes)) await once(destArg, 'drain', { signal: ctx.signal });
      } else await fh!.write(bytes);
    }
    if (fh) {
      await fh.sync();
      const done = fh;
      fh = undefined;
      await settlePart(done, part!, new Date(info!.mtime), undefined);
      await putInPlace(part!, dest!, options.noOverwrite === true);
    }
  } catch (err) {
    await fh?.close().catch(() => undefined);
    if (part) await rm(part, { force: true });
    throw isFerryError(err) || !(err instanceof Error && 'code' in err) ? err : fromSystemError(err, dest ?? 'output');
  }
  ctx.result.files = 1;
  ctx.result.bytes = info?.size ?? 0;
  ctx.result.chunks = info?.chunks ?? 0;
  ctx.progress.fileDone();
  return { ...ctx.finish(), info, dest };
}

/** An entry of an encrypted folder with its plain name (undefined when the key does not open it). */
export interface E2eEntry extends Entry {
  plainName?: string;
  /** The entry's path on the server, when `path` is its plain one. */
  storedPath?: string;
}

/**
 * The entries of a plain folder path below a marker, names decrypted when `keys` is given.
 * `fileInfo` (`ls -l`): each encrypted file's plain size and mtime too, from the sealed
 * table of its header: one read of its first chunk per file (two for a file too large for
 * the listing to carry its chunk list), eight at a time. A file whose header cannot be read
 * or opened (not end to end, another key, damaged) keeps its stored size and time.
 */
export async function listEncrypted(
  client: Client,
  plainDir: string,
  keys: E2eKeys | undefined,
  loc: KeyLocation,
  signal?: AbortSignal,
  options: { fileInfo?: boolean; serverDir?: string } = {},
): Promise<E2eEntry[]> {
  const serverDir = options.serverDir ?? (keys && inVault(loc, plainDir) ? await serverPathOf(keys, loc, plainDir) : plainDir);
  const withInfo = keys !== undefined && options.fileInfo === true;
  const out: E2eEntry[] = [];
  const infoOf = new Map<number, { path: string; chunks?: ChunkRef[] }>();
  for await (const e of client.list(serverDir, { signal, chunks: withInfo })) {
    if (e.name === E2E_MARKER_NAME) continue;
    const plainName = keys ? await keys.decryptName(e.name) : undefined;
    const entry: Entry = { ...e };
    delete entry.chunkList;
    out.push(plainName === undefined ? entry : { ...entry, plainName, name: plainName, path: joinPath(plainDir, plainName), storedPath: e.path });
    if (withInfo && plainName !== undefined && e.type === 'file') infoOf.set(out.length - 1, { path: e.path, chunks: e.chunkList });
  }
  if (withInfo) {
    await forEachConcurrent(
      [...infoOf],
      8,
      async ([i, f]) => {
        try {
          const { info } = await readFileKey(client, f.path, async () => ({ keys: keys! }), signal, f.chunks);
          out[i] = { ...out[i], size: info.size, mtime: info.mtime };
        } catch (err) {
          // One unreadable file (not end to end, another key, damaged) must not cost the whole listing.
          if (signal?.aborted || isFerryError(err, 'FERRY_ERR_ABORTED')) throw err;
        }
      },
      signal,
    );
  }
  return out;
}

/** The file key of an encrypted file, for the fragment of its share link (`#k=...`). */
export async function shareFragmentOf(client: Client, serverPath: string, secret: () => Promise<E2eSecret>, signal?: AbortSignal): Promise<string> {
  const { fileKey } = await readFileKey(client, serverPath, async (header) => ({ keys: await keysOf(await secret(), header.kdf, header.check) }), signal);
  return `k=${toBase64Url(fileKey)}`;
}
