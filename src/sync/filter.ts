/**
 * Which files take part in a sync, copy, check or bisync: rclone's filter rules.
 *
 * Rules are tried in order and the first whose pattern matches decides (`+` include,
 * `-` exclude); a file no rule matches is included. They are assembled as rclone does:
 * every `--include` (then `--include-from`) first, then every `--exclude`, then the
 * `--filter` / `--filter-from` rules in the order given, and, when any include was given,
 * an implicit `- **` at the end (so `--include '*.gz'` means "only *.gz").
 *
 * Directories have rules of their own, as in rclone, whose walk does not enter a directory
 * they exclude, so no file below it takes part whatever the file rules say. A pattern ending
 * in `/` is a directory rule only (`- dir/` is turned into `dir/**`, which is both); a
 * pattern holding `**` is both; an include pattern also adds the directories a walk must
 * enter to reach its files ({@link directoryGlobs}: `a/**` adds `a/`, so with the implicit
 * `- /**` the walk does not enter `x/` and `x/a/f` is not included), as does `- *`.
 * Directory rules are tested against `dir/sub/`; the root is always entered.
 * Filters are applied to files' paths relative to the root of each side, on both sides
 * alike: a destination file that is excluded is neither compared nor deleted (unless
 * `--delete-excluded`).
 *
 * Size and age limits come after the rules: `--min-size` drops files smaller than it,
 * `--max-size` files larger; `--max-age` drops files modified longer ago than it,
 * `--min-age` files modified more recently.
 */
import { UsageError } from '../core/errors.js';
import { directoryGlobs, globToRegExp } from './filter-glob.js';

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
  /**
   * What a bad rule's message names as its source: the CLI passes its flags (`--filter`,
   * `--filter-from`); by default `filter rule N` and `filterFromText[I] line N`.
   */
  ruleSources?: { filter?: string; filterFromText?: string };
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

const LIST_OPTIONS = ['include', 'exclude', 'filter', 'filterFromText'] as const;
const AMOUNT_OPTIONS = { minSize: 'a number of bytes', maxSize: 'a number of bytes', minAge: 'a number of milliseconds', maxAge: 'a number of milliseconds' } as const;
const KNOWN_OPTIONS = new Set<string>([...LIST_OPTIONS, ...Object.keys(AMOUNT_OPTIONS), 'ignoreCase', 'now', 'ruleSources']);

/**
 * Refuses options a program got wrong, which would otherwise filter silently otherwise than
 * meant: `minSize: 'abc'` compared as NaN (no file excluded), `exclude: '*.tmp'` taken letter
 * by letter, a misspelt `excludes` ignored.
 */
function checkFilterOptions(options: FilterOptions): void {
  if (typeof options !== 'object' || options === null) throw new UsageError(`Filter: the options are an object, not ${String(options)}`);
  const unknown = Object.keys(options).filter((k) => !KNOWN_OPTIONS.has(k));
  if (unknown.length > 0) throw new UsageError(`Filter: unknown option ${unknown.map((k) => JSON.stringify(k)).join(', ')} (known: ${[...KNOWN_OPTIONS].join(', ')})`);
  for (const name of LIST_OPTIONS) {
    const v: unknown = options[name];
    if (v !== undefined && !(Array.isArray(v) && v.every((p) => typeof p === 'string'))) {
      throw new UsageError(`Filter: ${name} is an array of strings, not ${JSON.stringify(v)}`);
    }
  }
  for (const [name, what] of Object.entries(AMOUNT_OPTIONS)) {
    const v: unknown = options[name as keyof typeof AMOUNT_OPTIONS];
    if (v !== undefined && !(typeof v === 'number' && Number.isFinite(v) && v >= 0)) {
      throw new UsageError(`Filter: ${name} is ${what} (0 or more), not ${JSON.stringify(v)}`);
    }
  }
  if (options.ignoreCase !== undefined && typeof options.ignoreCase !== 'boolean') throw new UsageError(`Filter: ignoreCase is true or false, not ${JSON.stringify(options.ignoreCase)}`);
  if (options.now !== undefined && !(typeof options.now === 'number' && Number.isFinite(options.now))) throw new UsageError(`Filter: now is a time in milliseconds, not ${JSON.stringify(options.now)}`);
  const sources: unknown = options.ruleSources;
  if (sources !== undefined && !(typeof sources === 'object' && sources !== null && Object.values(sources).every((v) => typeof v === 'string'))) {
    throw new UsageError(`Filter: ruleSources is { filter?: string, filterFromText?: string }, not ${JSON.stringify(sources)}`);
  }
}

export class Filter {
  /** Rules for files, first match decides. */
  readonly rules: FilterRule[] = [];
  /** Rules for directories (tested against `dir/`), first match decides; no match enters it. */
  readonly dirRules: FilterRule[] = [];
  /** Whether a directory is entered, by its relative path, as decided so far. */
  private readonly entered = new Map<string, boolean>();
  readonly minSize?: number;
  readonly maxSize?: number;
  /** Files modified after this are excluded (from --min-age). */
  readonly newestMtime?: number;
  /** Files modified before this are excluded (from --max-age). */
  readonly oldestMtime?: number;
  private readonly ignoreCase: boolean;

  /** Throws FERRY_ERR_USAGE for an option of the wrong type, out of range or unknown. */
  constructor(options: FilterOptions = {}) {
    checkFilterOptions(options);
    this.ignoreCase = options.ignoreCase ?? false;
    const now = options.now ?? Date.now();
    let anyInclude = false;
    for (const p of options.include ?? []) {
      this.add(true, p);
      anyInclude = true;
    }
    for (const p of options.exclude ?? []) this.add(false, p);
    const named = options.ruleSources ?? {};
    for (const [i, r] of (options.filter ?? []).entries()) this.addLine(r, named.filter ?? `filter rule ${i + 1}`, true);
    for (const [i, text] of (options.filterFromText ?? []).entries()) {
      for (const [n, line] of text.split('\n').entries()) this.addLine(line, named.filterFromText ?? `filterFromText[${i}] line ${n + 1}`);
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
    if (rule === 'clear') {
      this.rules.length = 0;
      this.dirRules.length = 0;
      this.entered.clear();
    } else {
      this.add(rule.include, rule.pattern);
    }
  }

  /** Adds one rule at the end. */
  add(include: boolean, pattern: string): void {
    if (pattern === '') throw new UsageError('an empty filter pattern matches nothing');
    let glob = pattern;
    let forDirs = glob.endsWith('/');
    let forFiles = !forDirs;
    if (forDirs && !include) glob += '**'; // excluding `dir/` is excluding `dir/**`
    if (glob.includes('**')) forDirs = forFiles = true;
    const regexp = globToRegExp(glob, this.ignoreCase);
    if (forFiles) {
      this.rules.push({ include, pattern, regexp });
      // An include must open the directories on the way to its files; an exclude cannot
      // close any (other rules may reach into them), except `*`, which matches every file.
      if (include || glob === '*') {
        for (const dirGlob of directoryGlobs(glob)) {
          if (dirGlob !== '/') this.dirRules.push({ include, pattern, regexp: globToRegExp(dirGlob, this.ignoreCase) });
        }
      }
    }
    if (forDirs) this.dirRules.push({ include, pattern, regexp });
    this.entered.clear();
  }

  /** Whether any rule, size or age limit is set (a filter that lets everything through can be skipped). */
  get active(): boolean {
    return this.rules.length > 0 || this.dirRules.length > 0 || this.minSize !== undefined || this.maxSize !== undefined || this.newestMtime !== undefined || this.oldestMtime !== undefined;
  }

  /**
   * Whether rclone's walk enters the directory `dir` (relative, `/`-separated, `''` for the
   * root): it and each directory above it pass the directory rules.
   */
  includesDirectory(dir: string): boolean {
    if (dir === '') return true;
    let known = this.entered.get(dir);
    if (known === undefined) {
      const slash = dir.lastIndexOf('/');
      known = this.includesDirectory(slash === -1 ? '' : dir.slice(0, slash)) && firstMatch(this.dirRules, dir + '/');
      this.entered.set(dir, known);
    }
    return known;
  }

  /** Whether the path alone (rules only) is included. `path` is relative, `/`-separated. */
  includesPath(path: string): boolean {
    const slash = path.lastIndexOf('/');
    if (slash !== -1 && !this.includesDirectory(path.slice(0, slash))) return false;
    return firstMatch(this.rules, path);
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

/** The first rule matching `path` decides; none: included. */
function firstMatch(rules: FilterRule[], path: string): boolean {
  for (const r of rules) if (r.regexp.test(path)) return r.include;
  return true;
}

/** The filter that lets everything through. */
export const NO_FILTER = new Filter();
