/**
 * Path rules, shared by the server, the client and every backend.
 *
 * A Ferry path is an absolute, normalized POSIX path: `/`, `/a`, `/a/b c/d.txt`.
 * Normalizing collapses repeated slashes and drops a trailing slash; it never resolves
 * `.` or `..`: such segments are refused, so a path can never climb out of the root it is
 * applied to. Also refused: NUL and other control characters, unpaired UTF-16 surrogates
 * (they have no UTF-8 form), a segment longer than 255 UTF-8 bytes and a path longer than
 * 4096 bytes (the Linux limits).
 *
 * A backend key is the same thing without the leading slash (`a/b c/d.txt`, `` for the root).
 */
import { PathInvalidError } from './errors.js';

export const MAX_SEGMENT_BYTES = 255;
export const MAX_PATH_BYTES = 4096;

// C0 controls, DEL and C1 controls; unpaired surrogates are checked separately.
const FORBIDDEN = /[\u0000-\u001f\u007f-\u009f]/;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * Bytes of `s` in UTF-8, without encoding it (this module also runs in browsers, where
 * there is no Buffer). A lone surrogate counts 3 bytes, like its replacement character.
 */
export function utf8Length(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) n += 1;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 2; // a pair: 4 bytes for 2 code units
      i++;
    } else n += 2;
  }
  return n;
}

function fail(input: string, reason: string): never {
  throw new PathInvalidError(`invalid path ${JSON.stringify(input.length > 200 ? input.slice(0, 200) + '…' : input)}: ${reason}`, {
    details: { reason },
  });
}

/** Splits and validates; returns the segments of a path (empty array for the root). */
export function pathSegments(input: unknown): string[] {
  if (typeof input !== 'string') throw new PathInvalidError('a path must be a string');
  if (utf8Length(input) > MAX_PATH_BYTES) fail(input, `longer than ${MAX_PATH_BYTES} bytes`);
  if (FORBIDDEN.test(input)) fail(input, 'contains a NUL or control character');
  if (LONE_SURROGATE.test(input)) fail(input, 'contains an unpaired surrogate (not valid Unicode)');
  const segments: string[] = [];
  for (const segment of input.split('/')) {
    if (segment === '') continue;
    if (segment === '.' || segment === '..') fail(input, `'${segment}' segments are not allowed`);
    if (utf8Length(segment) > MAX_SEGMENT_BYTES) fail(input, `a name is longer than ${MAX_SEGMENT_BYTES} bytes`);
    segments.push(segment);
  }
  return segments;
}

// Unicode direction embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069).
const DIRECTION_CONTROLS = /[\u202a-\u202e\u2066-\u2069]/;

/**
 * Throws FERRY_ERR_PATH_INVALID for a new name holding a Unicode direction control: it
 * shows as another name in browsers, file managers and terminals (`invoice\u202efdp.exe`
 * reads `invoiceexe.pdf`), the way to pass a program off as a document. Only names about to
 * be made are checked (the server's namespace does, for every door), so files that already
 * have one stay reachable. The marks U+200E and U+200F, which right-to-left text uses and
 * which reorder nothing by themselves, are names like any other.
 */
export function refuseDirectionControls(name: string): void {
  const m = DIRECTION_CONTROLS.exec(name);
  if (m) {
    const code = 'U+' + m[0].charCodeAt(0).toString(16).toUpperCase();
    // The name as written, not as it would show.
    const written = (name.length > 200 ? name.slice(0, 200) + '…' : name).replace(new RegExp(DIRECTION_CONTROLS.source, 'g'), (c) => '\\u' + c.charCodeAt(0).toString(16));
    throw new PathInvalidError(`invalid name "${written}": it holds the direction control ${code}, which makes it show as another name`, {
      details: { reason: 'direction control', char: code },
    });
  }
}

/**
 * Characters that show as nothing and join nothing: the soft hyphen, the zero-width space,
 * the word joiner and invisible operators, the deprecated format controls, the byte order
 * mark, the Hangul and Khmer fillers, the Mongolian vowel separator. `a\u200b.txt` shows as
 * `a.txt`, and no Unicode normal form maps the two together. Left out on purpose: U+200C
 * and U+200D (Persian and Indic words, emoji sequences need them), variation selectors
 * (emoji), U+034F and the Mongolian free variation selectors.
 */
const INVISIBLE = /[\u00ad\u115f\u1160\u17b4\u17b5\u180e\u200b\u2060-\u2064\u206a-\u206f\u3164\ufeff\uffa0]/g;

const INVISIBLE_ONE = new RegExp(INVISIBLE.source);

/**
 * What a name looks like, for telling look-alike names apart: its NFC form without invisible
 * characters. `café` composed and decomposed, `K` and U+212A KELVIN SIGN, `a.txt` and
 * `a\u200b.txt` each have one. Names are stored as sent; this is only compared.
 */
export function lookAlikeForm(name: string): string {
  return name.normalize('NFC').replace(INVISIBLE, '');
}

/** `text` with its invisible characters written out (`a\u200b.txt`), for a message that must show them. */
export function writeOutInvisible(text: string): string {
  return text.replace(INVISIBLE, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));
}

/** Whether `name` holds an invisible character ({@link INVISIBLE}). */
export function hasInvisibleCharacters(name: string): boolean {
  return INVISIBLE_ONE.test(name);
}

/**
 * Throws FERRY_ERR_PATH_INVALID for a new name made of invisible characters only: it shows
 * as no name at all (a name holding some beside visible ones is a name, refused only beside
 * its look-alike). Only names about to be made, as {@link refuseDirectionControls}.
 */
export function refuseInvisibleName(name: string): void {
  if (lookAlikeForm(name) !== '') return;
  const written = name.replace(/[^]/gu, (c) => '\\u' + c.codePointAt(0)!.toString(16).padStart(4, '0'));
  throw new PathInvalidError(`invalid name "${written}": it is made of invisible characters only, and would show as no name`, {
    details: { reason: 'invisible name' },
  });
}

/** `a//b/` -> `/a/b`; throws FERRY_ERR_PATH_INVALID for anything unsafe. */
export function normalizePath(input: unknown): string {
  return '/' + pathSegments(input).join('/');
}

/** `/a/b` -> `a/b`, `/` -> `` (validated). */
export function pathToKey(input: unknown): string {
  return pathSegments(input).join('/');
}

/** Validates a backend key (relative, no leading slash needed) and returns its canonical form. */
export function normalizeKey(input: unknown): string {
  return pathSegments(input).join('/');
}

/** Parent of a normalized path; the root's parent is the root. */
export function parentPath(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}

/** Last segment of a normalized path; `` for the root. */
export function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/**
 * `text` without its trailing slashes (`http://h/ferry//` -> `http://h/ferry`). A loop, not
 * `replace(/\/+$/, '')`: that regex tries every run of slashes to its end, quadratic on a
 * long one (0.4 s on 16,000 slashes and a letter).
 */
export function trimTrailingSlashes(text: string): string {
  let end = text.length;
  while (end > 0 && text.charCodeAt(end - 1) === 0x2f) end--;
  return text.slice(0, end);
}

/** Joins a normalized path and a relative part (validated). */
export function joinPath(base: string, ...parts: string[]): string {
  try {
    return normalizePath([base, ...parts].join('/'));
  } catch (err) {
    // A refused part is named as the caller gave it (`../x`), not as joined (`//../x`).
    for (const part of parts) pathSegments(part);
    throw err;
  }
}

/** Whether `path` equals `ancestor` or lies below it. Both normalized. */
export function isWithin(path: string, ancestor: string): boolean {
  if (ancestor === '/') return true;
  return path === ancestor || path.startsWith(ancestor + '/');
}

/**
 * The homes whose users' files the subtree `scope` holds: every home at or below it, and the
 * deepest home above it (`/users/ana/tmp` holds Ana's files, not those of an admin whose home
 * is `/`). Emptying the trash at `scope` deletes what the users of these homes deleted.
 */
export function homesReachedBy(scope: string, homes: readonly string[]): Set<string> {
  const reached = new Set(homes.filter((h) => isWithin(h, scope)));
  const above = homes.filter((h) => isWithin(scope, h)).sort((a, b) => b.length - a.length)[0];
  if (above !== undefined) reached.add(above);
  return reached;
}

/** `relativePath('/a/b/c', '/a')` -> `b/c`; `` when equal. Both normalized; path within base. */
export function relativePath(path: string, base: string): string {
  if (base === '/') return path.slice(1);
  if (path === base) return '';
  if (!path.startsWith(base + '/')) throw new PathInvalidError(`${path} is not within ${base}`);
  return path.slice(base.length + 1);
}

/** Every ancestor of a normalized path, nearest the root first, excluding the root and itself. */
export function ancestors(path: string): string[] {
  const out: string[] = [];
  let i = path.indexOf('/', 1);
  while (i !== -1) {
    out.push(path.slice(0, i));
    i = path.indexOf('/', i + 1);
  }
  return out;
}
