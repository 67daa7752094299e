/** `ferry bisync PATH1 PATH2`: two-way sync with persisted state; deletions and renames propagate. */
import { InvalidArgumentError, Option, type Command } from 'commander';
import type { BisyncEvent, BisyncResult, ConflictStrategy, ResyncMode } from '../../sync/bisync.js';
import { ExitError, exitCodeOfSyncErrors } from '../exit.js';
import { progressWanted, withInterrupt } from '../options.js';
import { addCommonFlags, compareMode, filterFrom, planPrinter, progressPrinter, storageCallPrinter, withRemotes, type CommonFlags } from '../sync-flags.js';
import { UsageError } from '../../core/errors.js';
import type { StepEvent } from '../../sync/plan.js';
import { countOf } from '../../core/units.js';
import { inCliTerms } from '../option-flags.js';
import { terminalSafe } from '../terminal-text.js';

/** As sync/bisync.ts's CONFLICT_STRATEGIES (not imported: the engine loads only when the command runs). */
const CONFLICT_STRATEGIES = ['newer', 'older', 'larger', 'path1', 'path2', 'keep-both', 'skip', 'error'];
/** As sync/bisync.ts's RESYNC_MODES (not imported, for the same reason). */
const RESYNC_MODES = ['newer', 'older', 'larger', 'smaller', 'path1', 'path2'];

interface BisyncFlags extends CommonFlags {
  resync?: boolean;
  resyncMode: ResyncMode;
  conflict: ConflictStrategy;
  conflictSuffix?: string;
  maxDelete: number;
  force?: boolean;
  stateDir?: string;
}

/** `copy on path2 a.txt`, `rename on path1 x -> y`. */
function line(e: StepEvent): string {
  const side = e.side ? ` on path${e.side}` : '';
  const to = e.to ? ` -> ${e.to}` : '';
  const why = e.reason ? ` (${inCliTerms(e.reason)})` : '';
  return terminalSafe(`${e.action}${side} ${e.path}${to}${why}`);
}

/** Errors, conflicts and recoveries always; with -v every action (a dry run's were printed as the plan). */
function printEvent(verbose: number) {
  return (e: BisyncEvent) => {
    if (e.action === 'error' || e.action === 'note') return void process.stderr.write(`ferry: ${terminalSafe(`${e.path ? e.path + ': ' : ''}${inCliTerms(e.reason ?? '')}`)}\n`);
    const always = e.action === 'conflict' || e.action === 'recover';
    if (!always && (e.dryRun || verbose < 1)) return;
    process.stderr.write(`${e.dryRun ? '(dry run) ' : ''}${line(e)}\n`);
  };
}

function summary(r: BisyncResult): string {
  const [copied, deleted, renamed] = r.dryRun ? ['would copy', 'would delete', 'would rename'] : ['copied', 'deleted', 'renamed'];
  return (
    `${r.resync ? 'resync: ' : ''}${copied} ${r.copied1to2} to path2 and ${r.copied2to1} to path1, ${deleted} ${r.deleted2} on path2 and ${r.deleted1} on path1, ` +
    `${renamed} ${r.renamed}, conflicts ${r.conflicts.length}, errors ${r.errors.length} in ${(r.elapsedMs / 1000).toFixed(2)}s`
  );
}

export function registerBisync(program: Command): void {
  const cmd = program
    .command('bisync <path1> <path2>')
    .description('two-way sync: changes, deletions and renames on either side reach the other (state kept between runs)')
    .addOption(new Option('--resync', 'first run (or recovery): make both sides the union and record the state; deletes nothing, loses no version'))
    .addOption(new Option('--resync-mode <mode>', 'at --resync, which version of a file that differs keeps its name (the other is kept as a conflict copy)').choices(RESYNC_MODES).default('newer'))
    .addOption(new Option('--conflict <strategy>', 'when a file changed on both sides').choices(CONFLICT_STRATEGIES).default('keep-both'))
    .addOption(new Option('--conflict-suffix <text>', 'keep-both renames to name.<text>1.ext / name.<text>2.ext').default('conflict'))
    .addOption(
      new Option('--max-delete <percent>', 'stop (changing nothing) when more than this % of a side was deleted').default(50).argParser((v) => {
        const n = Number(v);
        if (!Number.isFinite(n) || n < 0 || n > 100) throw new InvalidArgumentError('--max-delete is a percentage from 0 to 100');
        return n;
      }),
    )
    .addOption(new Option('--force', 'go on even above --max-delete'))
    .addOption(new Option('--state-dir <dir>', 'where pair states live (default $XDG_STATE_HOME/ferry/bisync)'));
  addCommonFlags(cmd).addHelpText(
    'after',
    `
Conflict strategies: newer, older, larger (a tie keeps both), path1, path2 (that side
overwrites the other), keep-both (both versions kept under suffixed names on both sides),
skip (left alone, reported again next run), error (stop before changing anything).
An interrupted run is recovered by running again: the state is only saved after success.

--resync deletes nothing and loses no version: a file on one side only is copied to the
other; where both sides hold a file and the two differ, the --resync-mode version (newer by
modification time, unless told: older, larger, smaller, path1, path2) keeps the name on both
sides and the other is kept beside it on both sides as a conflict copy, name.conflict1.ext
(path1's) or name.conflict2.ext (path2's): nothing tells an edit made since the last run from
a stale copy, so neither is overwritten. Delete the copies you do not want.
A pair made by ferry 0.1.0 needs no --resync where its state can be shown to be this pair's:
the first run says "carried over the state saved by an older ferry" (docs/sync.md says when).

Examples:
  ferry bisync ./notes ferry:/notes --resync      # the first time
  ferry bisync ./notes ferry:/notes               # then, as often as you like
  ferry bisync ./a s3:bucket/a --conflict newer --dry-run`,
  );
  cmd.action(async (p1: string, p2: string, flags: BisyncFlags) => {
    const { bisync } = await import('../../sync/bisync.js');
    await withRemotes([p1, p2], flags, async (remotes, skippedNames) => {
      // A file as a side would be listed as an empty folder: a run that does nothing, exit 0.
      const { fileSource } = await import('../../sync/remote.js');
      for (const [i, spec] of [p1, p2].entries()) {
        const [side] = await fileSource(spec, remotes[i], remotes[1 - i]);
        if (side.only !== undefined) throw new UsageError(`bisync keeps two folders in step, and ${spec} is a file: name the folder it is in`);
      }
      const progress = progressPrinter(progressWanted(flags));
      const filter = await filterFrom(flags);
      const r = await withInterrupt((signal) => bisync(remotes[0], remotes[1], {
        resync: flags.resync,
        resyncMode: flags.resyncMode,
        conflict: flags.conflict,
        conflictSuffix: flags.conflictSuffix,
        maxDelete: flags.maxDelete,
        force: flags.force,
        compare: compareMode(flags),
        filter,
        transfers: flags.transfers,
        checkers: flags.checkers,
        bwlimit: flags.bwlimit,
        retries: flags.retries,
        dryRun: flags.dryRun,
        fsync: flags.fsync,
        stateRoot: flags.stateDir,
        signal,
        onProgress: progress.onProgress,
        onEvent: printEvent(flags.verbose),
        onPlan: planPrinter(flags.dryRun, line),
        onStorageCall: storageCallPrinter(flags.verbose),
      }));
      progress.end();
      if (flags.json) process.stdout.write(JSON.stringify(r) + '\n');
      else if (!flags.quiet) process.stderr.write(`ferry bisync: ${summary(r)}\n`);
      const unnameable = skippedNames.failure(flags.dryRun, r.errors);
      if (skippedNames.bad.length > 0 && unnameable) throw unnameable;
      if (r.errors.length > 0) throw new ExitError(exitCodeOfSyncErrors(r.errors), flags.json ? '' : `${countOf(r.errors.length, 'error')}; the state was not saved, run again`);
    });
  });
}
