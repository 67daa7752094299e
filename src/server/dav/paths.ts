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
import { DestinationForeignError, PathInvalidError } from '../../core/errors.js';
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
 * The names this server answers to, for a Destination's host: the request's `Host` (and
 * `X-Forwarded-Host` from a trusted proxy: Fastify's `request.host`) and `--public-url`'s
 * host, for a reverse proxy that rewrites `Host` on its way here.
 */
export interface OwnHosts {
  hosts: (string | undefined)[];
  publicUrl?: string | undefined;
}

/**
 * The Ferry path named by a Destination header (an absolute URL or an absolute path; RFC
 * 4918 10.3). FERRY_ERR_PATH_INVALID when it is not under /dav; FERRY_ERR_DESTINATION_FOREIGN
 * (502, RFC 4918 9.8.5 and 9.9.4) when its host is not one of `own`: moving a file to
 * another server is not something this one can do, and doing it here instead would put it
 * where the client did not ask.
 */
export function destinationPath(header: string | undefined, own: OwnHosts): string {
  if (header === undefined || header.trim() === '') throw new PathInvalidError('COPY and MOVE need a Destination header');
  let url: URL;
  try {
    url = new URL(utf8Header(header.trim()), 'http://destination.invalid');
  } catch {
    throw new PathInvalidError('the Destination header is not a URL');
  }
  if (/#/.test(header)) throw new PathInvalidError('the Destination header has a fragment (#)');
  if (url.hostname !== 'destination.invalid' && !isOwnHost(url, own)) {
    throw new DestinationForeignError(`the Destination ${url.host} is another server: move or copy within this one (a path, or a URL on ${own.hosts.find(Boolean) ?? 'this host'})`, { details: { destination: url.host } });
  }
  return davPathOf(url.pathname);
}

/**
 * Whether a Destination URL names this server: the same host name as one of `own`, and the
 * same port where that one states a port; one that states none (`Host: files.example.com`
 * behind a proxy ending TLS) matches either default port, 80 or 443, whatever the scheme.
 */
function isOwnHost(dest: URL, own: OwnHosts): boolean {
  const port = dest.port || (dest.protocol === 'https:' ? '443' : '80');
  const names = [...own.hosts, own.publicUrl ? safeUrl(own.publicUrl)?.host : undefined];
  return names.some((name) => {
    const u = name ? safeUrl(`http://${name}`) : undefined;
    if (!u || u.hostname !== dest.hostname) return false;
    // `http://h:80` parses with port '' (the default): a stated 80 counts as none.
    return u.port === '' ? port === '80' || port === '443' : u.port === port;
  });
}

function safeUrl(s: string): URL | undefined {
  try {
    return new URL(s);
  } catch {
    return undefined;
  }
}
