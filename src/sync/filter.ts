/**
 * Which files take part in a sync, copy, check or bisync: rclone's filter rules.
 *
 * Rules are tried in order and the first whose pattern matches decides (`+` include,
 * `-` exclude); a file no rule matches is included. They are assembled as rclone does:
 * every `--include` (then `--include-from`) first, then every `--exclude`, then the
 * `--filter` / `--filter-from` rules in the order given, and, when any include was given,
 * an implicit `- **` at the end (so `--include '*.gz'` means "only *.gz").
 *
 * A pattern ending in `/` names directories: `- dir/` excludes everything below `dir`
 * (rclone turns it into `dir/**`); `+ dir/` only steers rclone's directory traversal and
 * decides nothing about files, so it is ignored here. Filters are applied to files'
 * paths relative to the root of each side, on both sides alike: a destination file that is
 * excluded is neither compared nor deleted (unless `--delete-excluded`).
 *
 * Size and age limits come after the rules: `--min-size` drops files smaller than it,
 * `--max-size` files larger; `--max-age` drops files modified longer ago than it,
 * `--min-age` files modified more recently.
 */
import { UsageError } from '../core/errors.js';
import { globToRegExp } from './filter-glob.js';

export interface FilterRule {
  include: boolean;
  /** The pattern as written. */
  pattern: string;
  regexp: RegExp;
}

export interface FilterOptions {
  include?: string[];
  exclude?: string[];
  /** `+ pattern` / `- pattern` rules, as `--filter` takes them. */
  filter?: string[];
  /** Contents of `--filter-from` files (already read), in order. */
  filterFromText?: string[];
  minSize?: number;
  maxSize?: number;
  /** Milliseconds: only files at least this old. */
  minAge?: number;
  /** Milliseconds: only files at most this old. */
  maxAge?: number;
  ignoreCase?: boolean;
  /** The time ages are measured from (default: when the filter is built). */
  now?: number;
}

export interface FilterSubject {
  size: number;
  mtime?: number;
}

/** Parses one `+ pattern` / `- pattern` line; `!` clears (returned as 'clear'). */
export function parseRuleLine(line: string, where = 'filter'): { include: boolean; pattern: string } | 'clear' | undefined {
  const text = line.replace(/\r$/, '');
  const trimmed = text.trim();
  if (trimmed === '' || trimmed.startsWith('#') || trimmed.startsWith(';')) return undefined;
  if (trimmed === '!') return 'clear';
  const m = /^([+-]) (.*)$/.exec(text.trimStart());
  if (!m) throw new UsageError(`${where}: a rule is "+ pattern" or "- pattern" (or "!" to clear), not ${JSON.stringify(text)}`);
  return { include: m[1] === '+', pattern: m[2] };
}

export class Filter {
  readonly rules: FilterRule[] = [];
  readonly minSize?: number;
  readonly maxSize?: number;
  /** Files modified after this are excluded (from --min-age). */
  readonly newestMtime?: number;
  /** Files modified before this are excluded (from --max-age). */
  readonly oldestMtime?: number;
  private readonly ignoreCase: boolean;

  constructor(options: FilterOptions = {}) {
    this.ignoreCase = options.ignoreCase ?? false;
    const now = options.now ?? Date.now();
    let anyInclude = false;
    for (const p of options.include ?? []) {
      this.add(true, p);
      anyInclude = true;
    }
    for (const p of options.exclude ?? []) this.add(false, p);
    for (const r of options.filter ?? []) this.addLine(r, '--filter', true);
    for (const text of options.filterFromText ?? []) {
      for (const line of text.split('\n')) this.addLine(line, '--filter-from');
    }
    if (anyInclude) this.add(false, '/**');
    this.minSize = options.minSize;
    this.maxSize = options.maxSize;
    if (options.minAge !== undefined) this.newestMtime = now - options.minAge;
    if (options.maxAge !== undefined) this.oldestMtime = now - options.maxAge;
  }

  private addLine(line: string, where: string, required = false): void {
    const rule = parseRuleLine(line, where);
    if (rule === undefined) {
      if (required) throw new UsageError(`${where}: empty rule`);
      return;
    }
    if (rule === 'clear') this.rules.length = 0;
    else this.add(rule.include, rule.pattern);
  }

  /** Adds one rule at the end. */
  add(include: boolean, pattern: string): void {
    if (pattern === '') throw new UsageError('an empty filter pattern matches nothing');
    let glob = pattern;
    if (glob.endsWith('/')) {
      // Directory rules: excluding `dir/` is excluding `dir/**`; including it only guides traversal.
      if (include) return;
      glob += '**';
    }
    this.rules.push({ include, pattern, regexp: globToRegExp(glob, this.ignoreCase) });
  }

  /** Whether any rule, size or age limit is set (a filter that lets everything through can be skipped). */
  get active(): boolean {
    return this.rules.length > 0 || this.minSize !== undefined || this.maxSize !== undefined || this.newestMtime !== undefined || this.oldestMtime !== undefined;
  }

  /** Whether the path alone (rules only) is included. `path` is relative, `/`-separated. */
  includesPath(path: string): boolean {
    for (const r of this.rules) if (r.regexp.test(path)) return r.include;
    return true;
  }

  /** Whether a file takes part: rules, then size and age limits. */
  includes(path: string, file: FilterSubject): boolean {
    if (!this.includesPath(path)) return false;
    if (this.minSize !== undefined && file.size < this.minSize) return false;
    if (this.maxSize !== undefined && file.size > this.maxSize) return false;
    if (file.mtime !== undefined) {
      if (this.newestMtime !== undefined && file.mtime > this.newestMtime) return false;
      if (this.oldestMtime !== undefined && file.mtime < this.oldestMtime) return false;
    }
    return true;
  }
}

/** The filter that lets everything through. */
export const NO_FILTER = new Filter();
