/**
 * `ferry sync SRC DST`: make DST match SRC (deletes extras). Also the shared body of
 * `ferry copy` and `ferry move`, which differ only in mode and help text.
 */
import { InvalidArgumentError, Option, type Command } from 'commander';
import type { SyncMode, SyncResult } from '../../sync/engine.js';
import { ExitError, exitCodeOfSyncErrors } from '../exit.js';
import { progressWanted, withInterrupt } from '../options.js';
import { addCommonFlags, compareMode, eventPrinter, filterFrom, planPrinter, progressPrinter, storageCallPrinter, withRemotes, type CommonFlags } from '../sync-flags.js';
import { countOf, formatSize } from '../../core/units.js';
import { inCliTerms } from '../option-flags.js';

interface TransferFlags extends CommonFlags {
  update?: boolean;
  ignoreExisting?: boolean;
  deleteExcluded?: boolean;
  backupDir?: string;
  trackRenames?: boolean;
  maxDelete?: number;
}

const DESCRIPTIONS: Record<SyncMode, { summary: string; examples: string }> = {
  sync: {
    summary: 'make DST match SRC: copy new and changed files, delete files DST has and SRC lacks (nothing is deleted if any error happened)',
    examples: `  ferry sync ./photos ferry:/photos
  ferry sync ./a ferry:/a --dry-run --json
  ferry sync s3:bucket/site ./site --checksum --delete-excluded --exclude '*.tmp'
  ferry sync ./docs ferry:/docs --backup-dir ferry:/docs-old --track-renames --max-delete 100`,
  },
  copy: {
    summary: 'copy new and changed files from SRC to DST; never deletes',
    examples: `  ferry copy ./photos ferry:/photos
  ferry copy s3:bucket/logs ./logs --include '*.gz' --max-age 7d
  ferry copy ferry:/backup ./restore --transfers 8 --bwlimit 20M -P`,
  },
  move: {
    summary: 'move files from SRC to DST: each source file is removed once its copy is verified (a rename when both are on one server or disk)',
    examples: `  ferry move ./outbox sftp://me@host/inbox
  ferry move ferry:/incoming ferry:/archive/2026   # server-side, no bytes copied`,
  },
};

/**
 * The exit line: how many files failed. Each error, a refusal about no file included
 * (--max-delete), was printed as it happened (eventPrinter), so it is not repeated here.
 */
function failureLine(r: SyncResult): string {
  const files = r.errors.filter((e) => e.path !== '');
  return files.length > 0 ? `${countOf(files.length, 'file')} failed` : '';
}

/** Why deletes were skipped, unless that is a refusal already printed as an error. */
function skippedDeletes(r: SyncResult): string | undefined {
  if (!r.deletesSkipped || r.errors.some((e) => e.path === '' && e.message === r.deletesSkipped)) return undefined;
  return inCliTerms(r.deletesSkipped);
}

function summary(r: SyncResult): string {
  const parts = [`${r.dryRun ? 'would transfer' : 'transferred'} ${countOf(r.transferred, 'file')} (${formatSize(r.bytes)})`, `checked ${r.checked}`];
  if (r.mtimeUpdated) parts.push(`times updated ${r.mtimeUpdated}`);
  if (r.renamed) parts.push(`renamed ${r.renamed}`);
  if (r.deleted) parts.push(`${r.dryRun ? 'would delete' : 'deleted'} ${r.deleted}`);
  if (r.backedUp) parts.push(`backed up ${r.backedUp}`);
  if (r.sourceDeleted) parts.push(`sources removed ${r.sourceDeleted}`);
  if (r.errors.length) parts.push(`errors ${r.errors.length}`);
  return `${parts.join(', ')} in ${(r.elapsedMs / 1000).toFixed(2)}s`;
}

export function transferCommand(mode: SyncMode) {
  return (program: Command): void => {
    const d = DESCRIPTIONS[mode];
    const cmd = program
      .command(`${mode} <src> <dst>`)
      .description(d.summary)
      .addOption(new Option('-u, --update', 'skip files that are newer on the destination'))
      .addOption(new Option('--ignore-existing', 'skip files that exist on the destination'))
      .addOption(new Option('--backup-dir <remote>', 'move replaced (and, for sync, deleted) destination files here'));
    if (mode === 'sync') {
      cmd
        .addOption(new Option('--delete-excluded', 'also delete destination files the filters exclude'))
        .addOption(new Option('--track-renames', 'detect renamed files by hash and move them on the destination instead of copying'))
        .addOption(
          new Option('--max-delete <n>', 'refuse to delete anything if more than N files would be deleted').argParser((v) => {
            const n = Number(v);
            if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('--max-delete must be a whole number >= 0');
            return n;
          }),
        );
    }
    addCommonFlags(cmd).addHelpText(
      'after',
      `
Remotes: a local path, ferry:/path (the logged-in server), ferry://host:port/path,
memory:name, and the backends registered (s3:bucket/prefix, sftp://user@host/path).
Comparison: size and modification time by default (within the coarser side's time
precision); --checksum uses size and hash, --size-only size alone.

Examples:
${d.examples}`,
    );
    cmd.action(async (srcSpec: string, dstSpec: string, flags: TransferFlags) => {
      // The engine loads here, not at start-up (see index.ts).
      const engine = await import('../../sync/engine.js');
      const specs = [srcSpec, dstSpec, ...(flags.backupDir ? [flags.backupDir] : [])];
      await withRemotes(specs, flags, async (remotes, skippedNames) => {
        // A source that is a file goes into the destination folder (rclone: `copy file dir/`).
        const { fileSource, refuseFileDestination } = await import('../../sync/remote.js');
        await refuseFileDestination(dstSpec, remotes[1]);
        [remotes[0], remotes[1]] = await fileSource(srcSpec, remotes[0], remotes[1]);
        const [src, dst, backupDir] = remotes;
        const progress = progressPrinter(progressWanted(flags));
        const filter = await filterFrom(flags);
        const result = await withInterrupt((signal) => engine[mode](src, dst, {
          compare: compareMode(flags),
          update: flags.update,
          ignoreExisting: flags.ignoreExisting,
          filter,
          deleteExcluded: flags.deleteExcluded,
          transfers: flags.transfers,
          checkers: flags.checkers,
          bwlimit: flags.bwlimit,
          retries: flags.retries,
          backupDir,
          trackRenames: flags.trackRenames,
          maxDelete: flags.maxDelete,
          dryRun: flags.dryRun,
          fsync: flags.fsync,
          signal,
          onProgress: progress.onProgress,
          onEvent: eventPrinter(flags.verbose, flags.json),
          onPlan: planPrinter(flags.dryRun),
          onStorageCall: storageCallPrinter(flags.verbose),
        }));
        progress.end();
        if (flags.json) process.stdout.write(JSON.stringify(result) + '\n');
        else if (!flags.quiet) process.stderr.write(`ferry ${mode}: ${summary(result)}\n`);
        const skipped = skippedDeletes(result);
        if (skipped) process.stderr.write(`ferry ${mode}: ${skipped}\n`);
        // Names no Ferry path holds failed as files (put -r's rule), with the run's own failures.
        const unnameable = skippedNames.failure(flags.dryRun, result.errors);
        if (skippedNames.bad.length > 0 && unnameable) throw unnameable;
        if (result.errors.length > 0) throw new ExitError(exitCodeOfSyncErrors(result.errors), flags.json ? '' : failureLine(result));
      });
    });
  };
}

export const registerSync = transferCommand('sync');
