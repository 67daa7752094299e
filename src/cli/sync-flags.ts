/**
 * Flags shared by `ferry sync`, `copy`, `move`, `check` and `bisync` (rclone's names), their
 * translation into the engine's options, and the progress / event / summary printing.
 */
import { readFile } from 'node:fs/promises';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { UsageError, fromSystemError } from '../core/errors.js';
import { parseRate } from '../client/bandwidth.js';
import { formatSize, parseDuration, parseRcloneSize } from '../core/units.js';
import { formatDuration } from './format.js';
import { inCliTerms } from './option-flags.js';
import { fileErrorLine } from './exit.js';
import { terminalSafe } from './terminal-text.js';
import { SkippedNames } from './skipped-names.js';
import { addProgressOptions, intArg, RETRIES_HELP } from './options.js';
import { MAX_RETRIES } from '../core/option-values.js';
import type { Filter } from '../sync/filter.js';
import type { SyncEvent } from '../sync/engine.js';
import type { Plan, StepEvent } from '../sync/plan.js';
import type { CompareMode } from '../core/compare-mode.js';
import type { Remote } from '../sync/remote.js';
import type { StorageLogEntry } from '../backends/decorators/logging.js';
import type { Progress } from '../core/progress.js';
import { trimTrailingSlashes } from '../core/path.js';

export interface FilterFlags {
  include?: string[];
  exclude?: string[];
  filter?: string[];
  filterFrom?: string[];
  minSize?: number;
  maxSize?: number;
  minAge?: number;
  maxAge?: number;
  ignoreCase?: boolean;
}

export interface CommonFlags extends FilterFlags {
  checksum?: boolean;
  sizeOnly?: boolean;
  ignoreTimes?: boolean;
  transfers: number;
  checkers: number;
  bwlimit?: number;
  retries: number;
  dryRun?: boolean;
  fsync?: boolean;
  progress?: boolean;
  json?: boolean;
  /** -v: every action; -vv: every storage call too. */
  verbose: number;
  quiet?: boolean;
  /** A Ferry server's connection, as every command that talks to one takes it. */
  server?: string;
  token?: string;
  ca?: string;
  fingerprint?: string;
}

const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

function parsed<T>(name: string, parse: (v: string) => T) {
  return (value: string): T => {
    try {
      return parse(value);
    } catch (err) {
      throw new InvalidArgumentError(`${name}: ${err instanceof Error ? err.message : String(err)}`);
    }
  };
}

export function addFilterFlags(cmd: Command): Command {
  return cmd
    .addOption(new Option('--include <pattern>', 'only files matching (repeatable; rclone glob: *, **, ?, [..], {a,b}, leading / anchors)').argParser(collect))
    .addOption(new Option('--exclude <pattern>', 'skip files matching (repeatable; dir/ excludes a directory)').argParser(collect))
    .addOption(new Option('--filter <rule>', "a '+ pattern' or '- pattern' rule (repeatable, in order)").argParser(collect))
    .addOption(new Option('--filter-from <file>', "read rules from a file: '+ pat' / '- pat' lines, '#' comments (repeatable)").argParser(collect))
    .addOption(new Option('--min-size <size>', 'only files at least this big (10k, 5M, 1G, 200B; a bare number is KiB, as in rclone)').argParser(parsed('--min-size', parseRcloneSize)))
    .addOption(new Option('--max-size <size>', 'only files at most this big (a bare number is KiB)').argParser(parsed('--max-size', parseRcloneSize)))
    .addOption(new Option('--min-age <duration>', 'only files older than this (90s, 24h, 7d)').argParser(parsed('--min-age', parseDuration)))
    .addOption(new Option('--max-age <duration>', 'only files younger than this').argParser(parsed('--max-age', parseDuration)))
    .addOption(new Option('--ignore-case', 'filter patterns ignore case'));
}

export function addCommonFlags(cmd: Command, what: { transfers?: boolean } = {}): Command {
  // check transfers nothing and always compares sizes and hashes: -c and -I (accepted, as rclone's check does) change nothing there.
  const copies = what.transfers !== false;
  addFilterFlags(cmd)
    .addOption(new Option('-c, --checksum', copies ? 'compare by size and hash, not modification time' : 'no effect: check always compares size and hash'))
    .addOption(new Option('--size-only', 'compare by size only'))
    .addOption(new Option('-I, --ignore-times', copies ? 'transfer every file, even those of the same size and time' : 'no effect: check never compares times'))
    .addOption(new Option('--checkers <n>', 'comparisons (and hash computations) at once').default(8).argParser(intArg('--checkers', 1, 256)))
    .addOption(new Option('--retries <n>', RETRIES_HELP).default(3).argParser(intArg('--retries', 0, MAX_RETRIES)))
    .addOption(new Option('--json', 'print a JSON summary on stdout'))
    .addOption(new Option('-v, --verbose', 'print every action on stderr; -vv: every storage call too').argParser((_v: string, n: number) => n + 1).default(0))
    .addOption(new Option('-q, --quiet', 'no summary line on stderr; errors only'))
    .addOption(new Option('--server <url>', 'the server of ferry: locations (default: FERRY_SERVER or the config file)'))
    .addOption(new Option('--token <token>', 'access token for it (default: FERRY_TOKEN or the config file)'))
    .addOption(new Option('--ca <file>', "trust this CA (PEM) for https (default: FERRY_CA or the config file)"))
    .addOption(new Option('--fingerprint <sha256>', 'trust exactly the server certificate with this fingerprint (default: FERRY_FINGERPRINT or the config file)'));
  addProgressOptions(cmd);
  if (what.transfers !== false) {
    cmd
      .addOption(new Option('--transfers <n>', 'files transferred at once').default(4).argParser(intArg('--transfers', 1, 256)))
      .addOption(new Option('--bwlimit <rate>', 'bandwidth limit for all transfers together (10M = 10 MiB/s; a bare number is KiB/s, as in rclone)').argParser(parsed('--bwlimit', parseRate)))
      .addOption(new Option('-n, --dry-run', 'show what would happen; change nothing'))
      .addOption(new Option('--fsync', 'flush every written file to disk before it counts (slower; survives a power cut)'));
  }
  return cmd;
}

/** Whether any filter flag was given. */
export function hasFilters(flags: FilterFlags): boolean {
  return [flags.include, flags.exclude, flags.filter, flags.filterFrom].some((l) => (l?.length ?? 0) > 0) ||
    [flags.minSize, flags.maxSize, flags.minAge, flags.maxAge].some((v) => v !== undefined);
}

/** The filter the flags describe (reads --filter-from files). */
export async function filterFrom(flags: FilterFlags): Promise<Filter> {
  const texts: string[] = [];
  for (const file of flags.filterFrom ?? []) {
    try {
      texts.push(await readFile(file, 'utf8'));
    } catch (err) {
      throw fromSystemError(err, `--filter-from ${file}`);
    }
  }
  const { Filter } = await import('../sync/filter.js');
  return new Filter({
    include: flags.include,
    exclude: flags.exclude,
    filter: flags.filter,
    filterFromText: texts,
    minSize: flags.minSize,
    maxSize: flags.maxSize,
    minAge: flags.minAge,
    maxAge: flags.maxAge,
    ignoreCase: flags.ignoreCase,
    ruleSources: { filter: '--filter', filterFromText: '--filter-from' },
  });
}

export function compareMode(flags: CommonFlags): CompareMode {
  if ([flags.checksum, flags.sizeOnly, flags.ignoreTimes].filter(Boolean).length > 1) throw new UsageError('--checksum, --size-only and --ignore-times exclude each other');
  return flags.checksum ? 'checksum' : flags.sizeOnly ? 'size-only' : flags.ignoreTimes ? 'ignore-times' : 'default';
}


/** One progress line: `files 12/40, 3.1 MiB/12 MiB, 1.2 MiB/s, ETA 7s`. */
export function progressLine(p: Progress): string {
  const eta = formatDuration(p.etaMs);
  const parts = [
    p.phase,
    `files ${p.filesDone}/${p.filesTotal ?? '?'}`,
    `${formatSize(p.bytesDone)}/${p.bytesTotal === undefined ? '?' : formatSize(p.bytesTotal)}`,
    `${formatSize(Math.round(p.rate))}/s`,
    `ETA ${eta}`,
    `checks ${p.checks}`,
  ];
  if (p.deletes) parts.push(`deleted ${p.deletes}`);
  if (p.renames) parts.push(`renamed ${p.renames}`);
  if (p.errors) parts.push(`errors ${p.errors}`);
  return parts.join(', ');
}

/** A progress printer for stderr: rewrites one line on a terminal, prints a line a second otherwise. */
export function progressPrinter(enabled: boolean | undefined): { onProgress?: (p: Progress) => void; end: () => void } {
  if (!enabled) return { end: () => {} };
  const tty = process.stderr.isTTY === true;
  let lastLine = 0;
  return {
    onProgress(p) {
      const now = Date.now();
      if (tty) process.stderr.write(`\r\x1b[K${progressLine(p)}`);
      else if (now - lastLine >= 1000 || p.phase === 'done') {
        lastLine = now;
        process.stderr.write(progressLine(p) + '\n');
      }
    },
    end() {
      if (tty) process.stderr.write('\n');
    },
  };
}

/** An action line: `copy a/b.txt`, `rename x -> y (why)`. */
export function actionLine(e: StepEvent): string {
  const to = e.to ? ` -> ${e.to}` : '';
  const why = e.reason ? ` (${inCliTerms(e.reason)})` : '';
  return terminalSafe(`${e.action} ${e.path}${to}${why}`);
}

/**
 * Prints errors always, and with -v every action as it happens. A dry run's actions are not
 * printed as they are (not) done: {@link planPrinter} printed them as the plan.
 */
export function eventPrinter(verbose: number, json?: boolean): (e: SyncEvent) => void {
  return (e) => {
    if (e.action === 'error') {
      process.stderr.write(fileErrorLine(e.path || undefined, e.error ?? { message: e.reason ?? '' }, json));
      return;
    }
    if (e.dryRun || verbose < 1) return;
    process.stderr.write(actionLine(e) + '\n');
  };
}

/** With --dry-run: prints the plan, one `(dry run) action` line per step, before it is run on dry-run remotes. */
export function planPrinter(dryRun: boolean | undefined, line: (e: StepEvent) => string = actionLine): ((plan: Plan) => void) | undefined {
  if (!dryRun) return undefined;
  return (plan) => {
    const out: string[] = [];
    for (const phase of plan.phases) {
      if (phase.refused) out.push(`(dry run) ${terminalSafe(inCliTerms(phase.refused))}`);
      else for (const task of phase.tasks) for (const step of task.steps) out.push(`(dry run) ${line(step.event)}`);
    }
    if (out.length > 0) process.stderr.write(out.join('\n') + '\n');
  };
}

/** With -vv: one line per storage call (op, key, time, outcome, bytes; never data or secrets). */
export function storageCallPrinter(verbose: number): ((e: StorageLogEntry) => void) | undefined {
  if (verbose < 2) return undefined;
  return (e) => {
    const to = e.to ? ` -> ${e.to}` : '';
    const n = e.count !== undefined ? ` (${e.count} objects)` : '';
    const bytes = e.bytes !== undefined ? ` ${formatSize(e.bytes)}` : '';
    process.stderr.write(`ferry: ${e.backend} ${e.op} ${e.key}${to}${n} ${e.ms} ms ${e.ok ? 'ok' : e.error}${bytes}\n`);
  };
}

/**
 * Reports what a listing leaves out, once each (skipped-names.ts): a name no Ferry path can
 * hold fails as a file, as in `put -r`; a link not followed or a special file is a warning.
 */
function reportSkipped(remotes: Remote[], skipped: SkippedNames): void {
  const seen = new Set<string>();
  for (const r of remotes) {
    r.onSkip = (rel, reason) => {
      const where = `${trimTrailingSlashes(r.label)}/${rel}`;
      if (seen.has(where)) return;
      seen.add(where);
      skipped.add(rel, reason, where);
    };
  }
}

/** Opens the remote strings (named remotes and the environment included; a Ferry server's client with the run's --retries), runs `fn`, and closes them. */
export async function withRemotes<T>(
  specs: string[],
  options: { retries?: number; server?: string; token?: string; ca?: string; fingerprint?: string; quiet?: boolean; json?: boolean },
  fn: (remotes: Remote[], skipped: SkippedNames) => Promise<T>,
): Promise<T> {
  // The flags stand in for the variables they override, with the same rules (a FERRY_TOKEN
  // goes only to FERRY_SERVER when both are set): Ferry remotes resolve their server from them.
  const flagged = { FERRY_SERVER: options.server, FERRY_TOKEN: options.token, FERRY_CA: options.ca, FERRY_FINGERPRINT: options.fingerprint };
  for (const [name, value] of Object.entries(flagged)) if (value !== undefined) process.env[name] = value;
  // The engine loads here, not at start-up (see commands/index.ts).
  const { openRemotes, closeRemotes } = await import('../sync/remote.js');
  const remotes = await openRemotes(specs, process.env, undefined, { retries: options.retries });
  const skipped = new SkippedNames(options);
  reportSkipped(remotes, skipped);
  try {
    // fn may put other remotes in the array (fileSource opens a file's folder): what it holds
    // at the end is closed.
    return await fn(remotes, skipped);
  } finally {
    await closeRemotes(remotes);
  }
}
