import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import type { FerryClient } from '../../client/client.js';
import type { TransferResult } from '../../client/transfer.js';
import { FileSessionMemo } from '../../client/session-memo-file.js';
import { UsageError, ferryErrorOf, fromSystemError, isFerryError, type FerryError } from '../../core/errors.js';
import { joinPath } from '../../core/path.js';
import { formatSize } from '../../core/units.js';
import { MAX_TTL_SECONDS } from '../../core/option-values.js';
import { formatDuration, formatRate } from '../format.js';
import { addOutputOptions, addTransferOptions, durationArg, printJson, progressWanted, withServer, withInterrupt, type OutputOpts, type TransferOpts } from '../options.js';
import { addFilterFlags, filterFrom, hasFilters, type FilterFlags } from '../sync-flags.js';
import { resolveLocations, type Location } from '../location.js';
import { createProgressBar } from '../progress-bar.js';
import { errorJson, fileErrorLine } from '../exit.js';
import { E2E_HELP, addE2eOptions, type E2eOpts } from '../e2e-flags.js';
import { terminalSafe } from '../terminal-text.js';
import { refuseClosedStream } from '../local-dest.js';
import { etagArg, refuseIfMatchWith } from '../if-match.js';

interface PutOpts extends TransferOpts, OutputOpts, FilterFlags, E2eOpts {
  encrypt?: boolean;
  ttl?: number;
  recursive?: boolean;
  clobber?: boolean;
  ifMatch?: string;
  checksum?: boolean;
  ignoreTimes?: boolean;
}

/**
 * One line for people: what moved, how fast, how much dedup saved; after a dry run what
 * would move (`would put 3 files, 11 B`), since nothing did.
 */
export function describeResult(verb: 'put' | 'got', r: TransferResult, dryRun = false): string {
  if (dryRun) {
    const unchangedToo = r.unchanged > 0 ? `, ${r.unchanged} unchanged` : '';
    return `(dry run) would ${verb === 'got' ? 'get' : 'put'} ${r.files} file${r.files === 1 ? '' : 's'}, ${formatSize(r.bytes)}${unchangedToo}; nothing was transferred`;
  }
  const secs = r.elapsedMs / 1000;
  const rate = secs > 0 ? r.bytes / secs : 0;
  const files = `${r.files} file${r.files === 1 ? '' : 's'}`;
  const reused = r.bytesReused > 0 ? `, ${formatSize(r.bytesReused)} already there` : '';
  const skipped = r.skipped.length > 0 ? `, ${r.skipped.length} skipped` : '';
  const unchanged = r.unchanged > 0 ? `, ${r.unchanged} unchanged` : '';
  // Compressed or sent as deltas, the chunks took fewer bytes on the network: said when it saved at least 1 %.
  const wire = r.wireBytes < r.bytesTransferred * 0.99 ? ` (${formatSize(r.wireBytes)} on the wire)` : '';
  return `${verb} ${files}, ${formatSize(r.bytes)} in ${formatDuration(r.elapsedMs)} (${formatRate(rate)}); ${formatSize(r.bytesTransferred)} transferred${wire}${reused}${unchanged}${skipped}`;
}

export function summarize(results: TransferResult[]): TransferResult & { seconds: number } {
  const sum: TransferResult = { files: 0, bytes: 0, bytesTransferred: 0, wireBytes: 0, chunks: 0, chunksTransferred: 0, bytesReused: 0, dirs: 0, unchanged: 0, skipped: [], elapsedMs: 0 };
  for (const r of results) {
    sum.files += r.files;
    sum.bytes += r.bytes;
    sum.bytesTransferred += r.bytesTransferred;
    sum.wireBytes += r.wireBytes;
    sum.chunks += r.chunks;
    sum.chunksTransferred += r.chunksTransferred;
    sum.bytesReused += r.bytesReused;
    sum.dirs += r.dirs;
    sum.unchanged += r.unchanged;
    sum.skipped.push(...r.skipped);
    sum.elapsedMs += r.elapsedMs;
  }
  return { ...sum, seconds: Math.round(sum.elapsedMs) / 1000 };
}

/** `--if-match` is about one file replaced on a Ferry server. */
function refuseIfMatchOfPut(sources: string[], dest: Location, opts: PutOpts): void {
  refuseIfMatchWith(dest.kind === 'server', opts);
  if (sources.length !== 1 || opts.recursive) throw new UsageError('--if-match is about one file: give one source (a file or -), without -r');
  if (hasFilters(opts)) throw new UsageError('--if-match is for a put to a Ferry server (no dry run or filters)');
}

async function isRemoteDir(client: FerryClient, path: string, signal: AbortSignal): Promise<boolean> {
  const e = await client.statIfExists(path, { signal });
  return e?.type === 'dir';
}

export function registerPut(program: Command): void {
  const cmd = program
    .command('put')
    .description('upload files, trees (-r) or stdin (-) to the server or any remote; to a Ferry server resumable, only missing chunks travel')
    .usage('[options] <SRC...> <DEST>')
    .argument('<paths...>', 'local sources (or - for stdin), then DEST: a server path (/x, ferry:/x), NAME:path, s3:bucket/x, sftp://host/x')
    .option('-r, --recursive', 'upload directories (their contents go into DEST)')
    .option('--no-clobber', 'fail instead of replacing an existing remote file')
    .option('--if-match <etag>', 'replace the remote file only if it still has this ETag (as ferry stat --json gives it; the hash alone works too): fail (exit 6) if it changed or went away meanwhile', etagArg)
    .option('-c, --checksum', 'trees: skip files whose content is already there (reads them), not size and mtime')
    .option('-I, --ignore-times', 'trees: do not skip files that have the same size and mtime')
    .option('--ttl <duration>', 'the server deletes the uploaded files this long after the upload (90s, 24h, 7d)', (v: string) => {
      const ms = durationArg(v);
      if (ms < 1000) throw new InvalidArgumentError('--ttl must be at least 1s');
      if (ms / 1000 > MAX_TTL_SECONDS) throw new InvalidArgumentError('--ttl may be at most 3650d (ten years)');
      return Math.round(ms / 1000);
    });
  cmd.option('--encrypt', 'end to end: encrypt the file and its name here; the server never sees them (puts into a folder made with mkdir --e2e are encrypted anyway)');
  addE2eOptions(cmd);
  addTransferOptions(cmd);
  addFilterFlags(cmd);
  addOutputOptions(cmd);
  cmd.addHelpText(
    'after',
    `
DEST is a location (see ferry ls --help): a bare path like /isos is a shorthand for
ferry:/isos, the logged-in server; NAME:path is a named remote (another Ferry server,
S3, SFTP); an unknown NAME: is an error, never a directory of that name.
A file goes to DEST, or into DEST when DEST is a remote directory or ends with '/'.
A directory's contents go into DEST (like rclone copy), so re-running is idempotent;
files already there with the same size and mtime are skipped (-c compares content).
With several sources DEST is a directory and each source lands in DEST/<its name>.
An interrupted upload resumes when run again; unchanged chunks are never re-sent.
Filters (--include, --exclude, --filter, --min-size, ...) and -n/--dry-run run the tree
through the sync engine's copy, as ferry copy would.

Examples:
  $ ferry put ./big.iso /isos/big.iso
  $ ferry put ./a.jpg ./b.jpg /photos/
  $ ferry put -r ./photos /backup/photos --parallel 8 --bwlimit 20M
  $ tar c ./src | ferry put - /backups/src.tar
  $ ferry put --ttl 7d ./report.pdf /outbox/
  $ ferry put --if-match "$(ferry stat --json /notes.md | jq -r .etag)" ./notes.md /notes.md
  $ ferry put -rn ./photos work:/photos        # dry run, to the server named work
${E2E_HELP}
  $ ferry put --encrypt ./taxes.pdf /docs/          (asks for the passphrase)
  $ FERRY_E2E_PASSPHRASE=... ferry put ./diary.txt /vault/
  $ ferry put --encrypt --passphrase-file ~/.ferry-pass ./keys.kdbx /backup/
  $ ferry put --encrypt -r ./papers ferry:/vault/papers --exclude '*.tmp'
  $ tar c ./papers | ferry put --encrypt --passphrase-file ~/.ferry-pass - /backup/papers.tar
  $ pg_dump db | FERRY_E2E_PASSPHRASE=... ferry put - /vault/db.sql   (a vault: encrypted)
With stdin (-) the secret must come from --passphrase-file, FERRY_E2E_PASSPHRASE or
--e2e-key-file (stdin is the data); it is read once, encrypted and sent as it arrives.`,
  );
  cmd.action(async (paths: string[], opts: PutOpts) => {
    if (paths.length < 2) throw new UsageError('put needs at least a source and a destination');
    const destArg = paths[paths.length - 1];
    if (paths.slice(0, -1).includes('-') && paths.length > 2) throw new UsageError('`-` (stdin) must be the only source');
    const sourceArgs = paths.slice(0, -1);
    if (sourceArgs.includes('-') && !opts.dryRun) refuseClosedStream(0);
    const locals = await resolveLocations(sourceArgs.filter((s) => s !== '-'), 'local');
    const remoteSource = locals.find((l) => l.kind !== 'local');
    if (remoteSource) throw new UsageError(`put uploads local files; ${remoteSource.label} is not local (ferry get, cp or copy take it)`);
    const sources = sourceArgs.map((s) => (s === '-' ? '-' : (locals.shift() as Extract<Location, { kind: 'local' }>).path));
    const [destLoc] = await resolveLocations([destArg], 'server');
    if (opts.ifMatch !== undefined) refuseIfMatchOfPut(sources, destLoc, opts);
    // --encrypt takes filters itself (for -r); only a dry run or another store goes through the stores.
    if (destLoc.kind !== 'server' || opts.dryRun || (hasFilters(opts) && !opts.encrypt)) {
      if (opts.encrypt) throw new UsageError('--encrypt uploads to a Ferry server (no dry run)');
      await putThroughStores(sources, destLoc, destArg, opts);
    } else await putToServer(sources, destLoc, destArg, opts);
  });
}

/**
 * Other stores, and the server when filters or a dry run are asked for, go through the
 * store layer (the sync engine's copy for trees).
 */
async function putThroughStores(sources: string[], destLoc: Location, destArg: string, opts: PutOpts): Promise<void> {
  if (opts.ttl !== undefined && destLoc.kind !== 'server') throw new UsageError('--ttl is for a Ferry server');
  const { withPlaces } = await import('../remote-fs.js');
  const { engineOptions, placesEnv, putToPlace } = await import('../remote-transfer.js');
  const { SkippedNames } = await import('../skipped-names.js');
  const skipped = new SkippedNames(opts);
  const bar = createProgressBar({ enabled: progressWanted(opts) });
  const engine = await engineOptions(opts, bar.onProgress);
  const say = (line: string) => {
    if (opts.dryRun || (opts.verbose ?? 0) > 0) process.stderr.write(terminalSafe(line) + '\n');
  };
  const results = await withPlaces(
    [destLoc.spec],
    ([place]) =>
      withInterrupt((signal) =>
        putToPlace(sources, place, {
          intoDir: sources.length > 1 || destArg.endsWith('/'),
          recursive: opts.recursive,
          noClobber: opts.clobber === false,
          dryRun: opts.dryRun,
          signal,
          engine,
          onAction: say,
          skipped,
        }),
      ),
    placesEnv(opts),
  ).finally(() => bar.stop());
  const total = summarize(results);
  if (opts.json) printJson({ ok: true, ...(opts.dryRun ? { dryRun: true } : {}), ...total });
  else if (!opts.quiet) process.stderr.write(describeResult('put', total, opts.dryRun) + '\n');
}

/** Upload sessions remembered, so that a failure can say whether there is one to resume. */
class BegunSessions extends FileSessionMemo {
  begun = 0;

  override async remember(key: string, saved: Parameters<FileSessionMemo['remember']>[1]): Promise<void> {
    this.begun++;
    await super.remember(key, saved);
  }
}

/** Failures of the server or the way to it, after which the server keeps the session and what it received. */
const RESUMABLE = new Set(['FERRY_ERR_NO_SPACE', 'FERRY_ERR_NETWORK', 'FERRY_ERR_UNAVAILABLE', 'FERRY_ERR_TIMEOUT', 'FERRY_ERR_SERVER']);

/** `err` with the next step a user needs after a put cut off mid-way: the same command resumes it. */
function withResumeHint(err: unknown): unknown {
  if (!isFerryError(err) || !RESUMABLE.has(err.code)) return err;
  const e = err as FerryError;
  return ferryErrorOf(e.code, `${e.message}; run the same command again to resume (what reached the server is kept)`, { cause: e, details: e.details, retryAfterMs: e.retryAfterMs });
}

/** The server's own path: chunks, dedup, resume, --ttl. */
async function putToServer(sources: string[], destLoc: Extract<Location, { kind: 'server' }>, destArg: string, opts: PutOpts): Promise<void> {
  const dest = destLoc.path;
  const warn = (m: string) => {
    if (!opts.quiet) process.stderr.write(`ferry: warning: ${m}\n`);
  };
  const results: TransferResult[] = [];
  // A large file's chunker threads start now, beside the requests that come before its chunking.
  if (sources.length === 1 && sources[0] !== '-') {
    const size = await stat(sources[0]).then((s) => (s.isFile() ? s.size : 0), () => 0);
    if (size > 0) (await import('../../algo/chunk-file.js')).warmChunkWorkers(size);
  }
  // A put killed mid-way, run again, continues its upload session (not one more at the user's limit).
  const sessions = new BegunSessions();
  try {
    await withServer(destLoc, opts, (client) => withInterrupt(async (signal) => {
      const common = { parallel: opts.parallel, signal, noOverwrite: opts.clobber === false, ttlSeconds: opts.ttl };
      const ifMatch = opts.ifMatch !== undefined ? { ifMatch: opts.ifMatch } : {};
      const into = async (src: string, isDir = (p: string) => isRemoteDir(client, p, signal)) => (sources.length > 1 || destArg.endsWith('/') || (await isDir(dest)) ? joinPath(dest, basename(src)) : dest);
      const filter = hasFilters(opts) ? await filterFrom(opts) : undefined;
      const e2eBar = createProgressBar({ enabled: progressWanted(opts) });
      const { putEndToEnd } = await import('../e2e-run.js');
      const e2e = await putEndToEnd(client, sources, dest, into, opts, {
        ...common,
        sessions,
        onProgress: e2eBar.onProgress,
        ...(filter ? { filter: (rel: string, f: { size: number; mtime: number }) => filter.includes(rel, f) } : {}),
        onFileError: (p, err) => process.stderr.write(fileErrorLine(p, err, opts.json)),
      }).finally(() => e2eBar.stop());
      if (e2e) return void results.push(...e2e);
      for (const src of sources) {
        const bar = createProgressBar({ enabled: progressWanted(opts), label: sources.length > 1 ? basename(src) : undefined });
        try {
          if (src === '-') {
            results.push(await client.putStream(process.stdin, dest, { ...common, ...ifMatch, onProgress: bar.onProgress }));
            continue;
          }
          let st;
          try {
            st = await stat(src);
          } catch (err) {
            throw fromSystemError(err, src);
          }
          const intoDir = sources.length > 1 || destArg.endsWith('/');
          if (st.isDirectory()) {
            if (!opts.recursive) throw new UsageError(`${src} is a directory: use -r to upload it`);
            const target = sources.length > 1 ? joinPath(dest, basename(src)) : dest;
            results.push(
              await client.putTree(src, target, {
                ...common,
                compare: opts.ignoreTimes ? 'ignore-times' : opts.checksum ? 'checksum' : 'default',
                sessions,
                onProgress: bar.onProgress,
                onFileError: (p, err) => process.stderr.write(fileErrorLine(p, err, opts.json)),
              }),
            );
          } else {
            const target = intoDir || (await isRemoteDir(client, dest, signal)) ? joinPath(dest, basename(src)) : dest;
            results.push(await client.putFile(src, target, { ...common, ...ifMatch, sessions, onProgress: bar.onProgress }));
          }
        } finally {
          bar.stop();
        }
      }
    }), warn);
  } catch (caught) {
    const err = sessions.begun > 0 ? withResumeHint(caught) : caught;
    if (opts.json && isFerryError(err)) printJson({ ok: false, error: errorJson(err), ...summarize(results) });
    throw err;
  }
  const total = summarize(results);
  if (opts.json) printJson({ ok: true, ...total });
  else if (!opts.quiet) process.stderr.write(describeResult('put', total) + '\n');
}
