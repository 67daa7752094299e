/**
 * URLs of the WebDAV share and the Ferry paths they name.
 *
 * `/dav/<path>` names `<path>` in the caller's home, like every other front. The request
 * target is decoded here segment by segment (not by the router), so that `%2F` inside a
 * segment is refused instead of becoming a separator, and a `#` (a fragment sent by a
 * client that should have stripped it) is refused instead of being cut off: DELETE
 * `/dav/dir/#frag` must not delete `/dav/dir/`. Then Ferry's path rules apply (`..`, NUL,
 * control characters, over-long names: FERRY_ERR_PATH_INVALID).
 */
import { PathInvalidError } from '../../core/errors.js';
import { normalizePath } from '../../core/path.js';

export const DAV_PREFIX = '/dav';

/** The Ferry path (the caller's) of a URL path under /dav, e.g. `/dav/a%20b/` -> `/a b`. */
export function davPathOf(urlPath: string): string {
  if (urlPath.includes('#')) throw new PathInvalidError('a URL with a fragment (#) names no resource: percent-encode # in names (%23)');
  if (urlPath !== DAV_PREFIX && !urlPath.startsWith(DAV_PREFIX + '/')) throw new PathInvalidError(`not a WebDAV URL: it must start with ${DAV_PREFIX}/`);
  const segments: string[] = [];
  for (const raw of urlPath.slice(DAV_PREFIX.length).split('/')) {
    if (raw === '') continue;
    let seg: string;
    try {
      seg = decodeURIComponent(raw);
    } catch {
      throw new PathInvalidError('the URL has a bad percent-encoding');
    }
    if (seg.includes('/')) throw new PathInvalidError('a name cannot contain "/" (%2F)');
    segments.push(seg);
  }
  return normalizePath('/' + segments.join('/'));
}

/** The request target's path (no query string), as sent. */
export function rawUrlPath(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

/** Characters kept as they are in hrefs (RFC 3986 unreserved and a few sub-delims that are safe in a path segment). */
function encodeSegment(seg: string): string {
  return encodeURIComponent(seg).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** The href of a caller path: `/a b` -> `/dav/a%20b`, collections with a trailing slash. */
export function hrefOf(userPath: string, collection: boolean): string {
  const encoded = userPath === '/' ? '' : userPath.split('/').map(encodeSegment).join('/');
  return `${DAV_PREFIX}${encoded}${collection ? '/' : ''}`;
}

/**
 * A header value as the UTF-8 its client sent. Node reads header bytes as Latin-1, and some
 * clients (curl or cadaver with a name typed as is, scripts, pages calling fetch) send a
 * Destination with its non-ASCII characters as raw UTF-8 rather than percent-encoded: `ü`
 * arrives as `Ã¼`. Bytes that are not valid UTF-8 are left as they were read.
 */
function utf8Header(value: string): string {
  if (!/[\u0080-\u00ff]/.test(value) || /[^\u0000-\u00ff]/.test(value)) return value;
  const decoded = Buffer.from(value, 'latin1').toString('utf8');
  return decoded.includes('\ufffd') ? value : decoded;
}

/**
 * The Ferry path named by a Destination header (an absolute URL or an absolute path; RFC
 * 4918 10.3). Only the path counts: the host may be a proxy's. FERRY_ERR_PATH_INVALID
 * when it is not under /dav.
 */
export function destinationPath(header: string | undefined): string {
  if (header === undefined || header.trim() === '') throw new PathInvalidError('COPY and MOVE need a Destination header');
  let path: string;
  try {
    path = new URL(utf8Header(header.trim()), 'http://destination.invalid').pathname;
  } catch {
    throw new PathInvalidError('the Destination header is not a URL');
  }
  if (/#/.test(header)) throw new PathInvalidError('the Destination header has a fragment (#)');
  return davPathOf(path);
}
