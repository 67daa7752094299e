/**
 * Conditional writes (RFC 9110 13.1.1 If-Match, 13.1.2 If-None-Match) on the native API: a
 * write that replaces, moves onto or deletes a path says what it expects the path to hold,
 * and the store decides inside the write's own transaction, once the path's name is locked
 * (CommitOptions.expect, MoveOptions.expect, RemoveOptions.expect): of writers racing from
 * one ETag exactly one wins, the others get FERRY_ERR_PRECONDITION_FAILED (412).
 *
 * A file's ETag is its hash in quotes, as downloads give it (`"<hash>"`); a download in a
 * content coding gives `"<hash>-zstd"` (or `-gzip`, `-br`), which names the same content and
 * matches too. A directory has no ETag: If-Match with a tag never holds on one, `*` does.
 * Weak tags (`W/"…"`) never match an If-Match (strong comparison); If-None-Match compares
 * weakly, as the RFC says.
 */
import { PreconditionFailedError, ValidationError } from './errors.js';
import type { Entry } from './protocol.js';

/** What a write expects of its target. `'*'`: anything there (If-Match), nothing there (If-None-Match). */
export interface WriteCondition {
  /** One of these ETags must be the file's now (`'*'`: something must be there). */
  ifMatch?: readonly string[] | '*';
  /** None of these ETags may be the file's now (`'*'`: nothing may be there). */
  ifNoneMatch?: readonly string[] | '*';
}

/** A file's ETag on the native API: its hash in quotes. */
export function etagOfHash(hash: string): string {
  return `"${hash}"`;
}

const TAG = /^(W\/)?"([\x21\x23-\x7e\x80-\xff]*)"$/;

/**
 * An If-Match or If-None-Match header's value: `*`, or a comma-separated list of entity
 * tags in quotes. FERRY_ERR_VALIDATION otherwise (a bare hash is refused, not guessed at:
 * `ferry stat --json` gives the ETag with its quotes).
 */
export function parseEtagList(value: string, header: 'If-Match' | 'If-None-Match'): readonly string[] | '*' {
  const trimmed = value.trim();
  if (trimmed === '*') return '*';
  const tags = trimmed.split(',').map((t) => t.trim()).filter((t) => t !== '');
  if (tags.length === 0 || tags.some((t) => !TAG.test(t))) {
    throw new ValidationError(`${header} takes * or entity tags in quotes, as downloads and \`ferry stat --json\` give them ("<hash>"): got ${JSON.stringify(value.slice(0, 200))}`, {
      details: { header },
    });
  }
  return tags;
}

/** The hash an ETag names (a coded download's `"<hash>-zstd"` names the same), or undefined for a weak or foreign tag. */
function hashOfTag(tag: string, weakToo: boolean): string | undefined {
  const m = TAG.exec(tag);
  if (!m || (m[1] && !weakToo)) return undefined;
  return /^([0-9a-f]{64})(-[a-z0-9]+)?$/.exec(m[2])?.[1];
}

function matches(tags: readonly string[], hash: string, weak: boolean): boolean {
  return tags.some((t) => hashOfTag(t, weak) === hash);
}

/**
 * Throws FERRY_ERR_PRECONDITION_FAILED when `condition` does not hold for `current` (what
 * `path` holds now, undefined: nothing). `path` is the one the caller named, for the message;
 * `details` carry `path`, the header refused (`condition`) and the file's ETag now (`etag`,
 * null when nothing or a directory is there).
 */
export function checkWriteCondition(condition: WriteCondition, path: string, current: Entry | undefined): void {
  const hash = current?.type === 'file' ? current.hash : undefined;
  const fail = (header: 'If-Match' | 'If-None-Match', message: string): never => {
    throw new PreconditionFailedError(message, { details: { path, condition: header, etag: hash === undefined ? null : etagOfHash(hash) } });
  };
  const { ifMatch, ifNoneMatch } = condition;
  if (ifMatch !== undefined) {
    if (!current) fail('If-Match', `${path}: no longer there (deleted or moved away since you read it); If-Match does not hold`);
    else if (ifMatch !== '*' && current.type !== 'file') fail('If-Match', `${path} is a folder, which has no ETag; If-Match does not hold`);
    else if (ifMatch !== '*' && !matches(ifMatch, hash!, false)) fail('If-Match', `${path} changed since you read it: its ETag is now ${etagOfHash(hash!)}, not ${ifMatch.join(', ')}`);
  }
  if (ifNoneMatch !== undefined && current) {
    if (ifNoneMatch === '*') fail('If-None-Match', `${path} exists (${current.type === 'dir' ? 'a folder' : `a file, ETag ${etagOfHash(hash!)}`}); If-None-Match: * does not hold`);
    else if (hash !== undefined && matches(ifNoneMatch, hash, true)) fail('If-None-Match', `${path} still holds ${etagOfHash(hash)}; If-None-Match does not hold`);
  }
}
