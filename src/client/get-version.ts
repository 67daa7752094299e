/**
 * Reading an old version of a file without restoring it (README "Versions and trash"):
 * `GET /files/*path?version=ID`, checked against the version's listing entry. The chunk API
 * authorizes chunks by current files, so an old version comes as one stream of bytes; its
 * byte count must equal the listed size and its file hash (sha256-tree-v1, computed by
 * chunking the bytes as they arrive, with the server's parameters) the listed hash. To a
 * file, the bytes go to `DEST.v<ID>.ferry-part` (never `DEST.ferry-part`, which holds what
 * an interrupted normal download of DEST verified, for `getFile` to resume from), which
 * becomes DEST only once both checks passed; a failure removes it. To a stream, the bytes are written as they come, so a
 * failed check is known only after they went out (the call throws). An end-to-end
 * encrypted file's old versions are sealed bytes this does not decrypt: refused
 * (FERRY_ERR_UNSUPPORTED) before anything is read or written.
 */
import { mkdir, unlink, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Writable } from 'node:stream';
import { once } from 'node:events';
import { AbortedError, HashMismatchError, NotFoundError, SizeMismatchError, UnsupportedError, fromSystemError, isFerryError } from '../core/errors.js';
import { isE2eName } from '../core/e2e-layout.js';
import { FileHasher } from '../core/manifest.js';
import { baseName, normalizePath } from '../core/path.js';
import { API_PREFIX } from '../core/protocol.js';
import { chunkStream } from '../algo/chunk-stream.js';
import type { FerryApi } from './api.js';
import { PART_SUFFIX, finishPart, refuseClobber, refuseMissingParent } from './get.js';
import { openPartFile, partPathOf } from './part-file.js';
import { writeAt } from './local-file.js';
import { TransferContext, type TransferOptions, type TransferResult } from './transfer.js';
import { listVersions, type VersionEntry } from './versions.js';
import type { TokenBucket } from '../core/token-bucket.js';

export type GetVersionOptions = TransferOptions & {
  /** Never replace a local file (`--no-clobber`): see GetFileOptions. */
  noOverwrite?: boolean;
  /** Make the local file's missing parent folders (`mkdir -p`); default false, as getFile: see GetFileOptions. */
  makeParents?: boolean;
};

const encodePath = (p: string): string => p.split('/').map(encodeURIComponent).join('/');

/**
 * Refuses a file of an end-to-end folder (in a vault, or named by its stored name): its old
 * versions are sealed bytes, which these reads do not decrypt. FERRY_ERR_UNSUPPORTED.
 */
async function refuseVaultFile(client: FerryApi<Buffer>, path: string, id: number, signal: AbortSignal): Promise<void> {
  const { vaultOf } = await import('./e2e/locate.js');
  if (isE2eName(baseName(path)) || (await vaultOf(client, path, signal))) {
    throw new UnsupportedError(`${path} is end-to-end encrypted: its old versions are not read by --version or getVersionStream/getVersionFile; restore it with ferry restore ${path} --version ${id} (SDK: restoreVersion), then get it`, { details: { path, version: id } });
  }
}

/**
 * Streams version `id` of `path` into `sink` piece by piece, then checks size and hash.
 * An id the path does not have is the server's 404 (FERRY_ERR_NOT_FOUND).
 */
async function readVersion(ctx: TransferContext<Buffer>, path: string, id: number, sink: (piece: Buffer) => Promise<void>): Promise<VersionEntry> {
  const { client, signal } = ctx;
  // The listing is asked first only for the size and hash; a missing id is left to the server to refuse.
  const [versions, caps] = await Promise.all([listVersions(client, path).catch(() => [] as VersionEntry[]), client.capabilities({ signal })]);
  const listed = versions.find((v) => v.id === id);
  ctx.progress.addTotals(listed?.size ?? 0, 1);
  // The Node client's bandwidth limit (--bwlimit), as its other reads take it.
  const limiter = (client.http as { limiter?: TokenBucket }).limiter;
  const spec = { method: 'GET' as const, path: `${API_PREFIX}/files${encodePath(path)}`, query: { version: id }, retry: 'unprocessed' as const, signal };
  return client.http.request(spec, async (res) => {
    if (!listed) {
      await res.body.dump();
      throw new NotFoundError(`${path} has no version ${id}`);
    }
    let n = 0;
    async function* counted(): AsyncGenerator<Uint8Array> {
      for await (const piece of res.body as AsyncIterable<Buffer>) {
        n += piece.length;
        if (n > listed!.size) throw new SizeMismatchError(`${path} version ${id}: the server sent more than its ${listed!.size} bytes`);
        if (limiter) await limiter.take(piece.length, signal);
        ctx.progress.transferred(piece.length);
        await sink(piece);
        ctx.progress.done(piece.length);
        yield piece;
      }
    }
    const file = new FileHasher();
    for await (const c of chunkStream(counted(), caps.chunking, { signal })) file.add(c.hash, c.size);
    if (n !== listed.size) throw new SizeMismatchError(`${path} version ${id}: short transfer, ${n} of ${listed.size} bytes`);
    if (file.digest() !== listed.hash) throw new HashMismatchError(`${path} version ${id}: the bytes received do not match its hash`);
    ctx.result.bytesTransferred += n;
    ctx.result.wireBytes += n;
    return listed;
  });
}

function finishResult(ctx: TransferContext<Buffer>, v: VersionEntry): TransferResult {
  ctx.result.files = 1;
  ctx.result.bytes = v.size;
  ctx.progress.fileDone();
  return ctx.finish();
}

function failure(ctx: TransferContext<Buffer>, err: unknown, what: string): unknown {
  const aborted = ctx.signal.aborted;
  ctx.abort(err);
  if (aborted) return new AbortedError('aborted', { cause: ctx.signal.reason });
  return isFerryError(err) ? err : fromSystemError(err, what);
}

/**
 * Writes the bytes of version `id` of `remotePath` to `out` (waiting for it to drain; not
 * ending it), then checks their count and hash against the version's listing: a mismatch
 * throws FERRY_ERR_SIZE_MISMATCH or FERRY_ERR_HASH_MISMATCH after the bytes were written.
 */
export async function getVersionStream(client: FerryApi<Buffer>, remotePath: string, id: number, out: Writable, options: GetVersionOptions = {}): Promise<TransferResult> {
  const ctx = new TransferContext(client, options);
  try {
    await refuseVaultFile(client, normalizePath(remotePath), id, ctx.signal);
    const v = await readVersion(ctx, normalizePath(remotePath), id, async (piece) => {
      if (!out.write(piece)) await once(out, 'drain', { signal: ctx.signal });
    });
    return finishResult(ctx, v);
  } catch (err) {
    throw failure(ctx, err, 'output');
  }
}

/**
 * The part file of a version read to `localPath`: its own name, so that an interrupted
 * normal download's `localPath.ferry-part` is left for its next run to resume from.
 */
export function versionPartPath(localPath: string, id: number): string {
  return partPathOf(localPath, `.v${id}${PART_SUFFIX}`);
}

/**
 * Downloads version `id` of `remotePath` to `localPath`: written to {@link versionPartPath},
 * which becomes `localPath` (with the version's mtime) only once count and hash are right;
 * any failure removes the part file and leaves `localPath` as it was. A missing parent folder
 * of `localPath` is refused before anything travels, as by getFile, unless `makeParents`.
 */
export async function getVersionFile(client: FerryApi<Buffer>, remotePath: string, id: number, localPath: string, options: GetVersionOptions = {}): Promise<TransferResult> {
  if (!options.makeParents) await refuseMissingParent(localPath, 'getVersionFile');
  if (options.noOverwrite) await refuseClobber(localPath);
  const ctx = new TransferContext(client, options);
  const part = versionPartPath(localPath, id);
  let fh: FileHandle | undefined;
  try {
    await refuseVaultFile(client, normalizePath(remotePath), id, ctx.signal);
    if (options.makeParents) await mkdir(dirname(localPath), { recursive: true }).catch((err: unknown) => Promise.reject(fromSystemError(err, dirname(localPath))));
    const handle = await openPartFile(part, false, localPath);
    fh = handle;
    let offset = 0;
    const v = await readVersion(ctx, normalizePath(remotePath), id, async (piece) => {
      await writeAt(handle, piece, offset);
      offset += piece.length;
    });
    await handle.sync();
    fh = undefined;
    await finishPart(handle, part, localPath, v.mtime, v.mode, undefined, options.noOverwrite === true);
    return finishResult(ctx, v);
  } catch (err) {
    await fh?.close().catch(() => {});
    await unlink(part).catch(() => {});
    throw failure(ctx, err, localPath);
  }
}
