import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import { IsADirectoryError, UsageError, isFerryError } from '../../core/errors.js';
import { baseName } from '../../core/path.js';
import { addOutputOptions, addTransferOptions, printJson, progressWanted, withServer, withInterrupt, type OutputOpts, type TransferOpts } from '../options.js';
import { addFilterFlags, hasFilters, type FilterFlags } from '../sync-flags.js';
import { resolveLocations, type Location } from '../location.js';
import { createProgressBar } from '../progress-bar.js';
import { errorJson, fileErrorLine } from '../exit.js';
import { E2E_HELP, addE2eOptions, type E2eOpts } from '../e2e-flags.js';
import { describeResult, summarize } from './put.js';
import type { TransferResult } from '../../client/transfer.js';
import { VERSION_HELP } from './cat.js';
import { positive } from './versions.js';
import { terminalSafe } from '../terminal-text.js';
import { prepareLocalDest, refuseClosedStream } from '../local-dest.js';

interface GetOpts extends TransferOpts, OutputOpts, FilterFlags, E2eOpts {
  recursive?: boolean;
  reuse?: boolean;
  checksum?: boolean;
  ignoreTimes?: boolean;
  version?: number;
  /** commander's `--no-clobber`: false when given. */
  clobber?: boolean;
}

/**
 * A progress bar on stderr: as for every transfer, except that a download to stdout (`-`) draws
 * one only when asked with -P (a pipe's reader may share the terminal).
 */
function barWanted(opts: GetOpts, destArg: string): boolean {
  return destArg === '-' ? opts.progress === true : progressWanted(opts);
}

/** `get --version ID`: one old version to DEST (through DEST.vID.ferry-part) or to stdout. */
async function getVersion(srcLoc: Location, src: string, destArg: string, id: number, opts: GetOpts): Promise<void> {
  if (opts.recursive) throw new UsageError('--version reads one file: it does not go with -r');
  if (srcLoc.kind !== 'server') throw new UsageError(`--version reads an old version on a Ferry server; ${src} is not one`);
  if (opts.dryRun || hasFilters(opts)) throw new UsageError('--version does not go with filters or -n/--dry-run');
  const bar = createProgressBar({ enabled: barWanted(opts, destArg) });
  await reportGot(opts, destArg, bar, () =>
    withServer(srcLoc, opts, (client) =>
      withInterrupt(async (signal) => {
        const common = { signal, onProgress: bar.onProgress };
        if (destArg === '-') return client.getVersionStream(srcLoc.path, id, process.stdout, common);
        const dest = destArg.endsWith('/') || (await isLocalDir(destArg)) ? join(destArg, baseName(srcLoc.path)) : destArg;
        return client.getVersionFile(srcLoc.path, id, dest, { ...common, noOverwrite: opts.clobber === false });
      }),
    ),
  );
}

/**
 * Every download's ending: runs it, stops its progress bar, and says what was got (a line on
 * stderr, or --json's result; a Ferry error as JSON too with --json).
 */
async function reportGot(opts: GetOpts, destArg: string, bar: { stop(): void }, run: () => Promise<TransferResult>): Promise<void> {
  let result: TransferResult;
  try {
    result = await run();
  } catch (err) {
    bar.stop();
    if (opts.json && isFerryError(err)) printJson({ ok: false, error: errorJson(err), ...summarize([]) });
    throw err;
  } finally {
    bar.stop();
  }
  const total = summarize([result]);
  if (opts.json) printJson({ ok: true, ...total });
  else if (!opts.quiet && destArg !== '-') process.stderr.write(describeResult('got', total) + '\n');
}

async function isLocalDir(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

export function registerGet(program: Command): void {
  const cmd = program
    .command('get')
    .description('download a file, a tree (-r) or a file to stdout (-) from the server or any remote; from a Ferry server resumable, only missing chunks travel')
    .argument('<src>', 'a server path (/isos/big.iso, ferry:/isos/big.iso), NAME:path, s3:bucket/key, sftp://host/path')
    .argument('<dest>', 'local destination, or - for stdout')
    .option('-r, --recursive', 'download a directory (its contents go into DEST)')
    .option('--no-reuse', 'do not reuse chunks of an older local copy at DEST')
    .option('-c, --checksum', 'trees: skip files whose content is already there (reads them), not size and mtime')
    .option('-I, --ignore-times', 'trees: do not skip files that have the same size and mtime')
    .option('--version <id>', 'one file: an old version (an id from ferry versions), not restored', positive)
    .option('--no-clobber', 'fail instead of replacing an existing local file (a tree: that file fails, the others go on)');
  addE2eOptions(cmd);
  addTransferOptions(cmd);
  addFilterFlags(cmd);
  addOutputOptions(cmd);
  cmd.addHelpText(
    'after',
    `
SRC is a location (see ferry ls --help); a bare path is on the logged-in server.
A file goes to DEST, or into DEST when DEST is a local directory or ends with '/'.
As with cp, DEST's folder must exist; a DEST ending with '/' is made, with its parents.
A directory's contents go into DEST; files already there with the same size and mtime
are skipped (-c compares content). The file appears only when complete and verified;
an interrupted download keeps DEST.ferry-part and the next run continues from it. When
DEST holds an older version, only the chunks that differ are fetched. Filters and
-n/--dry-run run the tree through the sync engine's copy, as ferry copy would.

Examples:
  $ ferry get /isos/big.iso ./big.iso
  $ ferry get /isos/big.iso ~/Downloads/
  $ ferry get -r /backup/photos ./photos
  $ ferry get /backups/src.tar - | tar x
  $ ferry get -r s3:bucket/logs ./logs --include '*.gz' --max-age 7d
  $ ferry get -rn work:/photos ./photos        # what would be downloaded
  $ ferry get --version 42 /docs/report.odt ./report-v42.odt
  $ ferry get --version 42 /docs/report.odt - | less

${VERSION_HELP}
${E2E_HELP}
An end-to-end encrypted file is found by its plain name (or its stored one) and
decrypted; a wrong passphrase stops before anything is written (FERRY_ERR_CRYPTO_KEY_WRONG).
  $ ferry get /vault/diary.txt ./                  (asks for the passphrase)
  $ ferry get --passphrase-file ~/.ferry-pass /docs/taxes.pdf ./taxes.pdf
  $ ferry get -r --e2e-key-file ~/.ferry-key ferry:/vault/papers ./papers`,
  );
  cmd.action(async (src: string, destArg: string, opts: GetOpts) => {
    const [srcLoc] = await resolveLocations([src], 'server');
    if (destArg === '-') refuseClosedStream(1);
    else {
      const [destLoc] = await resolveLocations([destArg], 'local');
      if (destLoc.kind !== 'local') throw new UsageError(`get downloads to this machine; ${destLoc.label} is not local (ferry put, cp or copy take it)`);
      destArg = destLoc.path;
      if (!opts.dryRun) await prepareLocalDest(destArg, opts.recursive === true);
    }
    if (opts.version !== undefined) return getVersion(srcLoc, src, destArg, opts.version, opts);
    // Other stores, and the server when filters or a dry run are asked for, go through the
    // store layer (the sync engine's copy for trees); the server's own path is below.
    if (srcLoc.kind !== 'server' || opts.dryRun || hasFilters(opts)) {
      const { withPlaces } = await import('../remote-fs.js');
      const { engineOptions, getFromPlace, placesEnv } = await import('../remote-transfer.js');
      const { SkippedNames } = await import('../skipped-names.js');
      const skipped = new SkippedNames(opts);
      const bar = createProgressBar({ enabled: barWanted(opts, destArg) });
      const engine = await engineOptions(opts, bar.onProgress);
      const say = (line: string) => {
        if (opts.dryRun || (opts.verbose ?? 0) > 0) process.stderr.write(terminalSafe(line) + '\n');
      };
      const r = await withPlaces(
        [srcLoc.spec],
        ([place]) => withInterrupt((signal) => getFromPlace(place, destArg, { recursive: opts.recursive, noClobber: opts.clobber === false, dryRun: opts.dryRun, signal, engine, onAction: say, skipped })),
        placesEnv(opts),
      ).finally(() => bar.stop());
      const total = summarize([r]);
      if (opts.json) printJson({ ok: true, ...(opts.dryRun ? { dryRun: true } : {}), ...total });
      else if (!opts.quiet && destArg !== '-') process.stderr.write(describeResult('got', total, opts.dryRun) + '\n');
      return;
    }
    const remote = srcLoc.path;
    const bar = createProgressBar({ enabled: barWanted(opts, destArg) });
    await reportGot(opts, destArg, bar, () => withServer(srcLoc, opts, (client) => withInterrupt(async (signal) => {
        const common = { parallel: opts.parallel, signal, onProgress: bar.onProgress, noReuse: opts.reuse === false, noOverwrite: opts.clobber === false };
        const { getEndToEnd, getTarget } = await import('../e2e-run.js');
        const target = await getTarget(client, remote, opts, signal);
        if (target.kind === 'e2e') return getEndToEnd(client, target.serverPath, destArg, opts, common);
        const entry = target.entry;
        if (destArg === '-') {
          if (entry.type === 'dir') throw new IsADirectoryError(`${remote} is a directory: cannot write it to stdout`);
          // A reader that goes away (`| head`) aborts the signal: see ../stdout.ts.
          return await client.getStream(remote, process.stdout, common);
        }
        if (entry.type === 'dir') {
          if (!opts.recursive) throw new UsageError(`${remote} is a directory: use -r to download it`);
          const { getTreeEndToEnd } = await import('../e2e-run.js');
          const e2e = await getTreeEndToEnd(client, remote, destArg, opts, {
            ...common,
            onFileError: (p, err) => process.stderr.write(fileErrorLine(p, err, opts.json)),
          });
          if (e2e) return e2e;
          // With the key given, files of put --encrypt in the tree come decrypted, under their plain names.
          const encrypted = (await import('../e2e-run.js')).encryptedInPlainTree(opts);
          const plain = await client.getTree(remote, destArg, {
            ...common,
            compare: opts.ignoreTimes ? 'ignore-times' : opts.checksum ? 'checksum' : 'default',
            onFileError: (p, err) => process.stderr.write(fileErrorLine(p, err, opts.json)),
            ...(encrypted ? { onEncrypted: encrypted.onEncrypted } : {}),
          });
          const decrypted = encrypted ? await encrypted.fetch(client, remote, destArg, common) : [];
          return decrypted.length === 0 ? plain : summarize([plain, ...decrypted]);
        }
        const dest = destArg.endsWith('/') || (await isLocalDir(destArg)) ? join(destArg, baseName(remote)) : destArg;
        return client.getFile(remote, dest, common);
      }), (m) => {
        if (!opts.quiet) process.stderr.write(`ferry: warning: ${terminalSafe(m)}\n`);
      }));
  });
}
