/** `ferry check SRC DST`: compare two remotes (size and hash, or bytes); exit 1 on differences. */
import { Option, type Command } from 'commander';
import { ExitError, EXIT } from '../exit.js';
import { progressWanted, withInterrupt } from '../options.js';
import { addCommonFlags, filterFrom, progressPrinter, storageCallPrinter, withRemotes, type CommonFlags } from '../sync-flags.js';
import { countOf } from '../../core/units.js';
import { terminalSafe } from '../terminal-text.js';

interface CheckFlags extends CommonFlags {
  download?: boolean;
  oneWay?: boolean;
  combined?: boolean;
}

export function registerCheck(program: Command): void {
  const cmd = program
    .command('check <src> <dst>')
    .description('compare SRC and DST without changing anything (size and hash; bytes with --download); exit code 1 on differences')
    .addOption(new Option('--download', 'compare the bytes of both sides, not hashes'))
    .addOption(new Option('--one-way', 'only check that SRC files are on DST'))
    .addOption(new Option('--combined', "print every file with rclone's marks: = same, * differ, + only in SRC, - only in DST, ! error"));
  addCommonFlags(cmd, { transfers: false }).addHelpText(
    'after',
    `
Without --combined only differences are printed (* - + !), one per line, on stdout.
Files are compared by the hash both sides can produce (stored or computed locally; the
ferry file hash against a Ferry server); without one, sizes only (the summary says so).

Examples:
  ferry check ./photos ferry:/photos
  ferry check ./report.pdf ferry:/docs      # one file: against ferry:/docs/report.pdf
  ferry check ./a ./b --combined
  ferry check s3:bucket/x ./x --download --json`,
  );
  cmd.action(async (srcSpec: string, dstSpec: string, flags: CheckFlags) => {
    const { check, combinedLines } = await import('../../sync/check.js');
    await withRemotes([srcSpec, dstSpec], flags, async (remotes, skippedNames) => {
      // A source that is a file is checked against the file of its name in DST (rclone: `check file dir/`).
      const { fileSource } = await import('../../sync/remote.js');
      [remotes[0], remotes[1]] = await fileSource(srcSpec, remotes[0], remotes[1]);
      const progress = progressPrinter(progressWanted(flags));
      const filter = await filterFrom(flags);
      const r = await withInterrupt((signal) => check(remotes[0], remotes[1], {
        filter,
        download: flags.download,
        oneWay: flags.oneWay,
        checkers: flags.checkers,
        retries: flags.retries,
        signal,
        onProgress: progress.onProgress,
        onStorageCall: storageCallPrinter(flags.verbose),
      }));
      progress.end();
      // A name no Ferry path holds could not be compared: an error of the comparison too, in its counts.
      const uncompared = skippedNames.bad.length;
      const errors = r.errors + uncompared;
      if (flags.json) {
        process.stdout.write(JSON.stringify({ ...r, errors, ok: r.ok && uncompared === 0 }) + '\n');
      } else {
        const lines = combinedLines(r).filter((l) => flags.combined || !l.startsWith('='));
        if (lines.length) process.stdout.write(lines.map(terminalSafe).join('\n') + '\n');
        const unhashed = r.unhashed ? `, ${r.unhashed} compared by size only (no common hash)` : '';
        // One way, files only on DST are not looked for: no count of them to give.
        const onSrc = r.missingOnSrc === null ? '' : `${r.missingOnSrc} missing on ${remotes[0].label}, `;
        const oneWay = flags.oneWay ? ` (one way: files only on ${remotes[1].label} not looked for)` : '';
        if (!flags.quiet) process.stderr.write(
          `ferry check: ${r.same} matching, ${r.differ} differing, ${r.missingOnDst} missing on ${remotes[1].label}, ` +
            `${onSrc}${countOf(errors, 'error')}${unhashed}${oneWay}\n`,
        );
      }
      // Such a name is a failed file (put -r's rule); with differences as well, 1.
      const unnameable = skippedNames.failure(false);
      if (unnameable && r.ok) throw unnameable;
      if (!r.ok) throw new ExitError(EXIT.FAILURE);
    });
  });
}
