/**
 * Folders end to end (docs/e2e.md, "Folders"): `ferry put --encrypt -r DIR DEST` and
 * `ferry get -r VAULT/DIR DEST`. Each file goes as `putEncrypted` / `getEncrypted` send it
 * one by one (its own header, resumable upload, verified download into a part file), a few
 * files at once; the key is derived once for the whole tree. Inside a vault the folders'
 * names are encrypted too (the server's vault guard refuses plain ones); elsewhere only the
 * files' names are.
 */
import { lstat, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fromSystemError, isFerryError } from '../../core/errors.js';
import { joinPath, relativePath } from '../../core/path.js';
import { ProgressTracker, type Progress } from '../../core/progress.js';
import type { FerryApi } from '../api.js';
import { DestGuard } from '../dest-guard.js';
import { walkLocalTree } from '../local-file.js';
import type { TransferOptions, TransferResult } from '../transfer.js';
import { E2E_MARKER_NAME } from './format.js';
import type { E2eSecret } from './kdf.js';
import { getEncrypted, inVault, keyForWrite, keysAt, putEncrypted, serverPathOf, vaultOf, type E2ePutOptions, type KeyLocation } from './transfer.js';

type Client = FerryApi<Buffer>;

/** Which files of a tree to take (the CLI's --include/--exclude/... filter), by plain relative path. */
export type TreeFilter = (rel: string, file: { size: number; mtime: number }) => boolean;

export interface E2eTreeOptions extends TransferOptions {
  noOverwrite?: boolean;
  ttlSeconds?: number;
  filter?: TreeFilter;
  /** A file that failed: the tree goes on, and the result counts it. */
  onFileError?: (path: string, err: unknown) => void;
}

/** Files of a tree in flight at once: each already keeps `parallel` chunk requests busy. */
const FILES_AT_ONCE = 4;

function emptyResult(): TransferResult {
  return { files: 0, bytes: 0, bytesTransferred: 0, wireBytes: 0, chunks: 0, chunksTransferred: 0, bytesReused: 0, dirs: 0, unchanged: 0, skipped: [], elapsedMs: 0 };
}

function add(into: TransferResult, r: TransferResult): void {
  into.files += r.files;
  into.bytes += r.bytes;
  into.bytesTransferred += r.bytesTransferred;
  into.wireBytes += r.wireBytes;
  into.chunks += r.chunks;
  into.chunksTransferred += r.chunksTransferred;
  into.bytesReused += r.bytesReused;
}

/**
 * One progress for the whole tree from the files' own: each file reports its totals and
 * bytes from zero, the tree adds up what changed since that file's last report.
 */
function treeProgress(onProgress: TransferOptions['onProgress']): { tracker: ProgressTracker; forFile: () => (p: Progress) => void } {
  const tracker = new ProgressTracker(onProgress);
  return {
    tracker,
    forFile: () => {
      let done = 0;
      let sent = 0;
      return (p) => {
        tracker.done(p.bytesDone - done);
        tracker.transferred(p.bytesTransferred - sent);
        done = p.bytesDone;
        sent = p.bytesTransferred;
      };
    },
  };
}

/**
 * Runs each file's transfer a few at a time, adding its result to `result`. A file that fails
 * with a Ferry error is counted, told to `onFileError`, and the others go on; the first such
 * error is thrown once every file has run. Any other error, or an abort, stops the tree.
 */
async function runFiles<T extends { rel: string }>(
  items: readonly T[],
  transfer: (item: T, onProgress: (p: Progress) => void) => Promise<TransferResult>,
  result: TransferResult,
  progress: ReturnType<typeof treeProgress>,
  options: E2eTreeOptions,
): Promise<void> {
  const { tracker, forFile } = progress;
  let failed: unknown;
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < items.length && !options.signal?.aborted; i = next++) {
      const f = items[i];
      try {
        add(result, await transfer(f, forFile()));
        tracker.fileDone();
      } catch (err) {
        if (!isFerryError(err) || options.signal?.aborted) throw err;
        failed ??= err;
        tracker.count('errors');
        options.onFileError?.(f.rel, err);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(FILES_AT_ONCE, items.length) }, worker));
  tracker.finish();
  if (failed) throw failed;
}

/** `ferry put --encrypt -r DIR DEST`: every file of DIR below the plain path DEST, names (and, in a vault, folder names) encrypted. */
export async function putTreeEncrypted(client: Client, localRoot: string, plainDest: string, secret: () => Promise<E2eSecret>, options: E2eTreeOptions = {}): Promise<TransferResult> {
  const started = Date.now();
  const result = emptyResult();
  const tree = await walkLocalTree(localRoot, (path, reason) => result.skipped.push({ path, reason }), options.signal);
  const files = tree.files.filter((f) => !options.filter || options.filter(f.rel, { size: f.size, mtime: f.mtimeMs }));
  // The key once, before any file: a wrong passphrase stops here, with nothing sent.
  const { loc, keys } = await keyForWrite(client, plainDest, secret, options.signal);
  const progress = treeProgress(options.onProgress);
  progress.tracker.addTotals(files.reduce((n, f) => n + f.size, 0), files.length);
  if (!options.filter) {
    for (const rel of tree.emptyDirs) {
      const plain = joinPath(plainDest, rel);
      await client.mkdir(inVault(loc, plain) ? await serverPathOf(keys, loc, plain) : plain, { parents: true, signal: options.signal });
      result.dirs++;
    }
  }
  await runFiles(files, (f, onProgress) => putEncrypted(client, f.local, joinPath(plainDest, f.rel), secret, { ...options, onProgress }), result, progress, options);
  return { ...result, elapsedMs: Date.now() - started };
}

/** The key location of a plain remote folder that is a vault or lies in one; undefined for an ordinary folder. */
export async function vaultFolder(client: Client, plainDir: string, signal?: AbortSignal): Promise<KeyLocation | undefined> {
  // From the root down (the folder itself last): a plain name below a vault is never asked for.
  return vaultOf(client, plainDir, signal);
}

/**
 * `ferry get -r VAULT/DIR DEST`: the folder's files decrypted into DEST under their plain
 * names and folders, each file's mtime restored from its sealed table. Entries whose name
 * the key does not open are skipped and reported (something not put end to end).
 */
export async function getTreeEncrypted(client: Client, loc: KeyLocation, plainDir: string, localDest: string, secret: () => Promise<E2eSecret>, options: E2eTreeOptions = {}): Promise<TransferResult> {
  const started = Date.now();
  const result = emptyResult();
  const keys = await keysAt(loc, await secret());
  const serverRoot = plainDir === loc.dir ? loc.dir : await serverPathOf(keys, loc, plainDir);
  const files: { server: string; rel: string; size: number }[] = [];
  // As for a plain `get -r`: nothing is made or written through a symbolic link inside the
  // destination (a folder of the tree that is a link to elsewhere there refuses the download
  // before any file is fetched; a file below one planted later fails on its own).
  const links = new DestGuard(localDest);
  const walk = async (serverDir: string, rel: string): Promise<void> => {
    for await (const e of client.list(serverDir, { signal: options.signal })) {
      if (e.name === E2E_MARKER_NAME) continue;
      const name = await keys.decryptName(e.name);
      if (name === undefined || name === '.' || name === '..' || /[/\\\0]/.test(name)) {
        result.skipped.push({ path: relativePath(e.path, serverRoot), reason: 'not an end-to-end name this key opens' });
        continue;
      }
      const childRel = rel ? `${rel}/${name}` : name;
      if (e.type === 'dir') {
        if (!options.filter) {
          const dir = join(localDest, ...childRel.split('/'));
          const bad = await links.problem(dir);
          if (bad) throw bad;
          await links.within(dir, makeDir);
          result.dirs++;
        }
        await walk(e.path, childRel);
      } else if (!options.filter || options.filter(childRel, { size: e.size, mtime: e.mtime })) files.push({ server: e.path, rel: childRel, size: e.size });
    }
  };
  await mkdir(localDest, { recursive: true });
  await walk(serverRoot, '');
  const progress = treeProgress(options.onProgress);
  // Stored sizes (each a little larger than the plain one): the bar's total is approximate.
  progress.tracker.addTotals(files.reduce((n, f) => n + f.size, 0), files.length);
  await runFiles(
    files,
    (f, onProgress) => links.within(join(localDest, ...f.rel.split('/')), (at) => getEncrypted(client, f.server, at, secret, { ...options, onProgress })),
    result,
    progress,
    options,
  );
  return { ...result, elapsedMs: Date.now() - started };
}

export type { E2ePutOptions };

/** A directory whose parent exists; one that is already there (a directory, not a link) is fine. */
async function makeDir(path: string): Promise<void> {
  try {
    await mkdir(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || !(await lstat(path)).isDirectory()) throw fromSystemError(err, path);
  }
}
