/**
 * HTTP Range (RFC 9110 §14): one `bytes=` range. Multiple ranges and malformed headers are
 * ignored (the whole representation is served), as the RFC permits.
 */
export type RangeResult = { start: number; end: number } | 'unsatisfiable' | undefined;

export function parseRange(header: string | undefined, size: number): RangeResult {
  if (!header) return undefined;
  // Linear in the header's length: every run of spaces can match one way only. The pattern
  // before (`\s*(\d*)\s*$`: two space runs with only an empty match between them) backtracked
  // quadratically, and a share link's visitor's 16 KB Range of spaces took 0.26 s of the
  // server's thread (a 60 KB one, as HTTP/2 carries, 7 s).
  const m = /^bytes\s*=\s*(?:(\d+)\s*)?-(?:\s*(\d+))?$/i.exec(header.trim());
  if (!m || (m[1] === undefined && m[2] === undefined)) return undefined;
  if (m[1] === undefined) {
    const suffix = Number(m[2]);
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === undefined ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (!Number.isSafeInteger(start) || start >= size) return 'unsatisfiable';
  if (m[2] !== undefined && Number(m[2]) < start) return undefined;
  return { start, end };
}

/**
 * Whether an If-Modified-Since header names the Last-Modified a download sent (to the
 * second): then the copy the client holds is current (304). Exactly that date, as nginx's
 * default `if_modified_since exact`, not RFC 9110's "not modified after it": a file's time
 * is its uploader's (rsync -t, an older version restored) and may go back, and a client
 * holding the newer copy must not keep it. An If-None-Match, when sent, decides instead.
 */
export function notModifiedSince(header: string | undefined, mtimeMs: number): boolean {
  if (!header) return false;
  const date = Date.parse(header);
  return !Number.isNaN(date) && Math.floor(date / 1000) === Math.floor(mtimeMs / 1000);
}

/** Whether an If-None-Match header matches an ETag (weak comparison). */
export function etagMatches(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  if (header.trim() === '*') return true;
  const bare = etag.replace(/^W\//, '');
  return header.split(',').some((t) => t.trim().replace(/^W\//, '') === bare);
}
