/**
 * rclone's glob dialect, turned into a RegExp that is tested against a path relative to the
 * root of the transfer (`a/b/c.txt`, no leading slash).
 *
 * The rules, as rclone's `fs/filter/glob.go` applies them:
 * - `*` matches any run of characters except `/`; `**` matches any run including `/`;
 *   three or more stars in a row are an error.
 * - `?` matches one character except `/`.
 * - `[...]` is a character class, passed through (`[a-z]`, `[^abc]`; `[!abc]` is accepted
 *   as a negation too, as shells write it).
 * - `{a,b,c}` is an alternation (not nestable); a `,` outside braces is a literal comma.
 * - `\x` escapes `x`.
 * - A leading `/` anchors the pattern at the root; without it the pattern matches at the
 *   end of the path at any depth (`*.jpg` matches `a.jpg` and `x/y/a.jpg`; `b/c.txt`
 *   matches `a/b/c.txt` but not `ab/c.txt`).
 * - The pattern always matches up to the end of the path.
 * Every other character is literal.
 *
 * {@link directoryGlobs} derives, from an include pattern, the directories a walk must enter
 * to reach what it can match, as rclone's `globToDirGlobs` does.
 */
import { UsageError } from '../core/errors.js';

const REGEX_SPECIAL = new Set(['.', '+', '(', ')', '|', '^', '$', '{', '}', '[', ']', '\\', '*', '?']);

function fail(glob: string, why: string): never {
  throw new UsageError(`bad filter pattern ${JSON.stringify(glob)}: ${why}`, { details: { pattern: glob } });
}

/** Converts one rclone glob to an anchored RegExp source (see the module comment). */
export function globToRegExpSource(glob: string): string {
  let out = '';
  let body = glob;
  if (body.startsWith('/')) {
    body = body.slice(1);
    out += '^';
  } else {
    out += '(?:^|/)';
  }
  let stars = 0;
  const flushStars = () => {
    if (stars === 1) out += '[^/]*';
    else if (stars === 2) out += '.*';
    else if (stars > 2) fail(glob, 'too many stars in a row');
    stars = 0;
  };
  let inBraces = false;
  let bracket: string | undefined; // the class being collected, from its `[`
  let escaped = false;
  for (const c of body) {
    if (escaped) {
      flushStars();
      out += REGEX_SPECIAL.has(c) ? '\\' + c : c;
      escaped = false;
      continue;
    }
    if (c !== '*') flushStars();
    if (bracket !== undefined) {
      if (c === ']' && bracket.length > 1 && bracket !== '[^' && bracket !== '[!') {
        out += bracket + ']';
        bracket = undefined;
      } else if (c === '\\') {
        bracket += '\\\\';
      } else if (c === '!' && bracket === '[') {
        bracket += '^';
      } else if (c === '[') {
        bracket += '\\[';
      } else {
        bracket += c;
      }
      continue;
    }
    switch (c) {
      case '\\':
        escaped = true;
        break;
      case '*':
        stars++;
        break;
      case '?':
        out += '[^/]';
        break;
      case '[':
        bracket = '[';
        break;
      case ']':
        fail(glob, "mismatched ']'");
        break;
      case '{':
        if (inBraces) fail(glob, "'{' cannot be nested");
        inBraces = true;
        out += '(?:';
        break;
      case '}':
        if (!inBraces) fail(glob, "mismatched '}'");
        inBraces = false;
        out += ')';
        break;
      case ',':
        out += inBraces ? '|' : ',';
        break;
      default:
        out += REGEX_SPECIAL.has(c) ? '\\' + c : c;
    }
  }
  flushStars();
  if (escaped) fail(glob, 'ends with an unfinished escape');
  if (bracket !== undefined) fail(glob, "mismatched '['");
  if (inBraces) fail(glob, "mismatched '{'");
  return out + '$';
}

/** The compiled form of {@link globToRegExpSource}; `ignoreCase` as rclone's --ignore-case. */
export function globToRegExp(glob: string, ignoreCase = false): RegExp {
  const source = globToRegExpSource(glob);
  try {
    return new RegExp(source, ignoreCase ? 'iu' : 'u');
  } catch (err) {
    return fail(glob, (err as Error).message);
  }
}

/** A `{...}` holding `/` or `**`: its directories cannot be told apart, so every one may hold a match. */
const ALTERNATION_ACROSS_DIRECTORIES = /\{[^{}]*(?:\*\*|\/)[^{}]*\}/;

/**
 * The directory patterns (each ending in `/`) that a directory, written `dir/sub/`, must match
 * for a walk to enter it in search of paths `glob` matches: `a/b/*.txt` gives `a/b/`, `a/`;
 * `a/**` gives `a/` and `a/**` with a `/` after it; a glob without `/` (`*.txt`) gives `/**` (every directory).
 * Cut at each `/` and `**` from the end, as rclone does (its walk never enters a directory
 * these exclude, so the files below it are not seen: `a/**` does not reach `x/a/f`).
 */
export function directoryGlobs(glob: string): string[] {
  if (ALTERNATION_ACROSS_DIRECTORIES.test(glob)) return ['/**'];
  let rest = glob.replace(/\/{2,}/g, '/');
  const out: string[] = [];
  for (;;) {
    let cut = rest.lastIndexOf('/');
    const stars = rest.lastIndexOf('**');
    let kept = '';
    if (stars > cut) {
      cut = stars;
      kept = '**';
    }
    if (cut < 0) break;
    rest = rest.slice(0, cut);
    const dirGlob = rest + kept + '/';
    if (out.at(-1) !== dirGlob) out.push(dirGlob);
  }
  return out.length === 0 ? ['/**'] : out;
}
