/**
 * `ferry put` and `ferry get` when the remote side is not a Ferry server (S3, SFTP, memory,
 * a named remote of those): one file is streamed straight into the store (one write, atomic
 * as the store's writes are), a tree (-r) runs the sync engine's copy, with the same flags
 * as `ferry copy`. The Ferry server keeps its own engines (chunks, dedup, resume) in the SDK.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { UsageError, fromSystemError } from '../core/errors.js';
import { ProgressTracker, type ProgressCallback } from '../core/progress.js';
import type { SkippedNames } from './skipped-names.js';
import type { TransferResult } from '../client/transfer.js';
import { locationOf, type Place } from './remote-fs.js';
import type { SyncOptions } from '../sync/engine.js';
import type { FilterFlags } from './sync-flags.js';
import { trimTrailingSlashes } from '../core/path.js';

const join = (a: string, b: string) => (a === '' ? b : `${a}/${b}`);

/** What put and get pass on when they run through the stores (a tree, a filter, a dry run). */
export interface StoreFlags extends FilterFlags {
  checksum?: boolean;
  ignoreTimes?: boolean;
  bwlimit?: number;
  retries?: number;
  dryRun?: boolean;
  verbose?: number;
  /** --json: a file's failure goes to stderr as JSON too. */
  json?: boolean;
  server?: string;
  token?: string;
}

/** The sync engine's options for put -r / get -r through the stores: filters, compare mode, -v, a dry run's plan. */
export async function engineOptions(flags: StoreFlags, onProgress?: SyncOptions['onProgress']): Promise<SyncOptions> {
  const { filterFrom, eventPrinter, planPrinter } = await import('./sync-flags.js');
  return {
    compare: flags.ignoreTimes ? 'ignore-times' : flags.checksum ? 'checksum' : 'default',
    filter: await filterFrom(flags),
    bwlimit: flags.bwlimit,
    retries: flags.retries,
    dryRun: flags.dryRun,
    onEvent: eventPrinter(flags.verbose ?? 0, flags.json),
    onPlan: planPrinter(flags.dryRun),
    onProgress,
  };
}

/** The environment a `ferry:` place is opened with: --server and --token reach it as FERRY_FERRY_* options do. */
export function placesEnv(flags: { server?: string; token?: string }): Record<string, string | undefined> {
  return { ...process.env, FERRY_FERRY_SERVER: flags.server ?? process.env.FERRY_FERRY_SERVER, FERRY_FERRY_TOKEN: flags.token ?? process.env.FERRY_FERRY_TOKEN };
}

function resultOf(files: number, bytes: number, startedAt: number, extra: Partial<TransferResult> = {}): TransferResult {
  return {
    files,
    bytes,
    bytesTransferred: bytes,
    // Not counted through the storage layer: as they are.
    wireBytes: bytes,
    chunks: 0,
    chunksTransferred: 0,
    bytesReused: 0,
    dirs: 0,
    unchanged: 0,
    skipped: [],
    elapsedMs: Date.now() - startedAt,
    ...extra,
  };
}

/**
 * A tree through the sync engine's copy. What the source's listing leaves out goes to
 * `skipped` (`srcLabel/rel` shown): a name no Ferry path holds fails the run as a file that
 * failed would, dry run or not, as `put -r` counts it.
 */
async function treeCopy(
  src: { backend: Place['backend']; key: string; label: string },
  dst: { backend: Place['backend']; key: string; label: string },
  engine: SyncOptions,
  startedAt: number,
  skipped: SkippedNames,
): Promise<TransferResult> {
  const [{ copy }, { makeRemote }] = await Promise.all([import('../sync/engine.js'), import('../sync/remote.js')]);
  const from = makeRemote(src.backend, src.key);
  from.onSkip = (rel, reason) => skipped.add(rel, reason, `${trimTrailingSlashes(src.label)}/${rel}`);
  const r = await copy(from, makeRemote(dst.backend, dst.key, dst.label), engine);
  const failure = skipped.failure(engine.dryRun, r.errors);
  if (failure) throw failure;
  return resultOf(r.transferred, r.bytes, startedAt, { unchanged: r.unchanged, bytesTransferred: r.bytes, wireBytes: r.bytes, skipped: r.skipped });
}

/** Whether `place` is a folder (or the root of its store), for "into DEST" decisions. */
async function isFolder(place: Place, signal: AbortSignal): Promise<boolean> {
  if (place.key === '') return true;
  const { statPlace } = await import('./remote-fs.js');
  try {
    return (await statPlace(place, { signal })).type === 'dir';
  } catch {
    return false;
  }
}

async function openLocal(root: string): Promise<Place['backend']> {
  const { defaultRegistry } = await import('../remotes/index.js');
  return defaultRegistry.open({ type: 'local', options: { root } });
}

/** Uploads local files, trees (-r) or stdin (`-`) into a store's place. */
export async function putToPlace(
  sources: string[],
  place: Place,
  opts: { intoDir: boolean; recursive?: boolean; noClobber?: boolean; dryRun?: boolean; signal: AbortSignal; engine: SyncOptions; onAction?: (line: string) => void; skipped: SkippedNames },
): Promise<TransferResult[]> {
  const into = opts.intoDir || (await isFolder(place, opts.signal));
  const out: TransferResult[] = [];
  for (const src of sources) {
    const startedAt = Date.now();
    if (src === '-') {
      if (into) throw new UsageError(`${place.label} is a folder: name the file stdin goes to`);
      opts.onAction?.(`${opts.dryRun ? '(dry run) ' : ''}copy - -> ${place.label}`);
      if (opts.dryRun) {
        out.push(resultOf(1, 0, startedAt)); // stdin's size is not known before it is read
        continue;
      }
      const info = await place.backend.write(place.key, process.stdin, { signal: opts.signal });
      out.push(resultOf(1, info.size, startedAt));
      continue;
    }
    let st;
    try {
      st = await stat(src);
    } catch (err) {
      throw fromSystemError(err, src);
    }
    const target = into ? join(place.key, basename(resolve(src))) : place.key;
    if (st.isDirectory()) {
      if (!opts.recursive) throw new UsageError(`${src} is a directory: use -r to upload it`);
      const local = await openLocal(src);
      try {
        const dst = { backend: place.backend, key: sources.length > 1 ? target : place.key, label: place.label };
        out.push(await treeCopy({ backend: local, key: '', label: src }, dst, { ...opts.engine, dryRun: opts.dryRun, noOverwrite: opts.noClobber }, startedAt, opts.skipped));
      } finally {
        await local.close?.();
      }
      continue;
    }
    if (opts.noClobber && (await place.backend.stat(target, { signal: opts.signal }).then(() => true, () => false))) {
      const { AlreadyExistsError } = await import('../core/errors.js');
      throw new AlreadyExistsError(`${place.label}: ${target} exists (--no-clobber)`);
    }
    opts.onAction?.(`${opts.dryRun ? '(dry run) ' : ''}copy ${src} -> ${locationOf(place, target)}`);
    if (opts.dryRun) {
      out.push(resultOf(1, st.size, startedAt)); // what a tree's dry run counts too: what would be sent
      continue;
    }
    const info = await place.backend.write(target, createReadStream(src), { size: st.size, mtime: st.mtimeMs, signal: opts.signal });
    out.push(resultOf(1, info.size, startedAt));
  }
  return out;
}

/** One file's bytes as they are read, counted for the progress bar (-P) when there is one. */
function counted(body: Readable, size: number, onProgress: ProgressCallback | undefined): Readable {
  if (onProgress === undefined) return body;
  const progress = new ProgressTracker(onProgress);
  progress.addTotals(size, 1);
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      progress.done(chunk.length);
      callback(null, chunk);
    },
    flush(callback) {
      progress.fileDone();
      progress.finish();
      callback();
    },
  });
  body.on('error', (err) => counter.destroy(err));
  return body.pipe(counter);
}

/** Downloads a store's file (to a local path or stdout, `-`) or tree (-r). */
export async function getFromPlace(
  place: Place,
  dest: string,
  opts: { recursive?: boolean; noClobber?: boolean; dryRun?: boolean; signal: AbortSignal; engine: SyncOptions; onAction?: (line: string) => void; skipped: SkippedNames },
): Promise<TransferResult> {
  const { statPlace } = await import('./remote-fs.js');
  const startedAt = Date.now();
  const entry = await statPlace(place, { signal: opts.signal });
  if (entry.type === 'dir') {
    if (dest === '-') throw new UsageError(`${place.label} is a directory: cannot write it to stdout`);
    if (!opts.recursive) throw new UsageError(`${place.label} is a directory: use -r to download it`);
    const local = await openLocal(dest);
    try {
      const engine = { ...opts.engine, dryRun: opts.dryRun, noOverwrite: opts.noClobber };
      return await treeCopy({ backend: place.backend, key: place.key, label: place.label }, { backend: local, key: '', label: dest }, engine, startedAt, opts.skipped);
    } finally {
      await local.close?.();
    }
  }
  if (dest === '-') {
    const { pipeline } = await import('node:stream/promises');
    await pipeline(counted(await place.backend.read(place.key, { signal: opts.signal }), entry.size, opts.engine.onProgress), process.stdout, { end: false });
    return resultOf(1, entry.size, startedAt);
  }
  let file = dest;
  try {
    if (dest.endsWith('/') || (await stat(dest)).isDirectory()) file = `${trimTrailingSlashes(dest)}/${entry.name}`;
  } catch {
    // a new file
  }
  if (opts.noClobber) await (await import('../client/get.js')).refuseClobber(file);
  opts.onAction?.(`${opts.dryRun ? '(dry run) ' : ''}copy ${place.label} -> ${file}`);
  if (opts.dryRun) return resultOf(1, entry.size, startedAt);
  // The local backend writes atomically (temporary file, rename): no half file is ever visible.
  const local = await openLocal(dirname(resolve(file)));
  try {
    const info = await local.write(basename(file), counted(await place.backend.read(place.key, { signal: opts.signal }), entry.size, opts.engine.onProgress), {
      size: entry.size,
      mtime: entry.mtime || undefined,
      signal: opts.signal,
    });
    return resultOf(1, info.size, startedAt);
  } finally {
    await local.close?.();
  }
}
