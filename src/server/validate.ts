/** Request validation shared by the routes: paths from URLs and bodies, hashes, limits. */
import type { FastifyRequest } from 'fastify';
import { HashMismatchError, PathInvalidError, SizeMismatchError, ValidationError } from '../core/errors.js';
import { assertSha256Hex, checkChunkEntries, fileHashOf, validateChunkList } from '../core/manifest.js';
import { normalizePath } from '../core/path.js';
import type { UploadFileSpec } from '../core/protocol.js';
import { parseEtagList, type WriteCondition } from '../core/write-conditions.js';

/** The Ferry path of a `/prefix/*` route (Fastify has already percent-decoded it). */
export function wildcardPath(request: FastifyRequest): string {
  const raw = (request.params as Record<string, string | undefined>)['*'] ?? '';
  return normalizePath('/' + raw);
}

/**
 * The request's If-Match and If-None-Match (../core/write-conditions.ts), undefined when it
 * carries neither; FERRY_ERR_VALIDATION for a value that is not `*` or quoted entity tags.
 */
export function writeConditionOf(request: FastifyRequest): WriteCondition | undefined {
  const header = (name: 'if-match' | 'if-none-match'): string | undefined => {
    const v = request.headers[name];
    return Array.isArray(v) ? v.join(',') : v;
  };
  const ifMatch = header('if-match');
  const ifNoneMatch = header('if-none-match');
  if (ifMatch === undefined && ifNoneMatch === undefined) return undefined;
  const condition: WriteCondition = {};
  if (ifMatch !== undefined) condition.ifMatch = parseEtagList(ifMatch, 'If-Match');
  if (ifNoneMatch !== undefined) condition.ifNoneMatch = parseEtagList(ifNoneMatch, 'If-None-Match');
  return condition;
}

export function bodyPath(value: unknown, what: string): string {
  if (typeof value !== 'string' || value === '') throw new PathInvalidError(`${what} must be a non-empty path string`);
  return normalizePath(value);
}

export function optionalInt(value: unknown, what: string, min = 0): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Number.isSafeInteger(value) || (value as number) < min) throw new ValidationError(`${what} must be an integer >= ${min}`);
  return value as number;
}

/** Validates one file of an upload request and returns it normalized. */
export function validateFileSpec(raw: unknown, where: string, maxChunkSize: number): UploadFileSpec {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new ValidationError(`${where} must be an object`);
  const f = raw as Record<string, unknown>;
  const spec: UploadFileSpec = { path: bodyPath(f.path, `${where}.path`) };
  if (spec.path === '/') throw new PathInvalidError(`${where}.path: the root is a directory`);
  const size = optionalInt(f.size, `${where}.size`);
  if (size !== undefined) spec.size = size;
  if (f.hash !== undefined) spec.hash = assertSha256Hex(f.hash, `${where}.hash`);
  const mtime = optionalInt(f.mtime, `${where}.mtime`);
  if (mtime !== undefined) spec.mtime = mtime;
  const mode = optionalInt(f.mode, `${where}.mode`);
  if (mode !== undefined) spec.mode = mode & 0o7777;
  if (f.chunks !== undefined) {
    const total = validateChunkList(f.chunks, maxChunkSize, `${where}.chunks`);
    spec.chunks = (f.chunks as { hash: string; size: number }[]).map((c) => ({ hash: c.hash, size: c.size }));
    checkChunkEntries(spec.chunks.length, total, `${where}.chunks`);
    // A complete manifest is checked now, so the client hears of a mistake before sending bytes.
    if (spec.size !== undefined && spec.hash !== undefined) {
      if (total !== spec.size) throw new SizeMismatchError(`${where}: chunk sizes add up to ${total}, not size ${spec.size}`);
      const actual = fileHashOf(spec.chunks);
      if (actual !== spec.hash) throw new HashMismatchError(`${where}: the chunk list hashes to ${actual}, not ${spec.hash}`);
    }
  }
  return spec;
}

/** The body as a JSON object (an absent body reads as `{}` when `optional`). */
export function bodyObject(body: unknown, optional = false): Record<string, unknown> {
  if (optional && (body === undefined || body === null)) return {};
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new ValidationError('the body must be a JSON object');
  return body as Record<string, unknown>;
}

/**
 * Refuses a field the route does not know: a misspelt limit (`maxDownloads` for `maxUses`,
 * `scope` for `scopes`) would otherwise be ignored, and make a link or token that can do
 * more than its author meant.
 */
export function onlyFields(body: Record<string, unknown>, known: readonly string[]): void {
  for (const k of Object.keys(body)) if (!known.includes(k)) throw new ValidationError(`unknown field ${k} (known: ${known.join(', ')})`, { details: { field: k } });
}

export function requiredString(value: unknown, what: string, max = 1024): string {
  if (typeof value !== 'string' || value === '') throw new ValidationError(`${what} must be a non-empty string`);
  if (value.length > max) throw new ValidationError(`${what} may have at most ${max} characters`);
  return value;
}

export function optionalString(value: unknown, what: string, max = 1024): string | undefined {
  return value === undefined ? undefined : requiredString(value, what, max);
}

// Control characters (C0, DEL, C1) and Unicode direction embeddings, overrides and isolates.
const LABEL_CONTROLS = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

/**
 * A name people give a thing others are shown (a share link's name, on its page for anyone
 * with the link; a token's, in an admin's listings): a string without control characters or
 * direction controls. `Payroll\u202efdp.exe` showed as `Payrollexe.pdf` on a drop box's
 * page, and a newline or an ESC sequence starts another line or colour in a terminal.
 */
export function optionalLabel(value: unknown, what: string, max: number): string | undefined {
  const label = optionalString(value, what, max);
  const m = label === undefined ? null : LABEL_CONTROLS.exec(label);
  if (m) {
    const code = 'U+' + m[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0');
    throw new ValidationError(`${what} holds the control character ${code}: a name here is shown to others, and would show as other text`, { details: { char: code } });
  }
  return label;
}

export function requiredLabel(value: unknown, what: string, max: number): string {
  return optionalLabel(requiredString(value, what, max), what, max)!;
}

/** An integer, `null` (meaning "no limit"), or absent (undefined: leave as is). */
export function optionalLimit(value: unknown, what: string): number | null | undefined {
  if (value === null) return null;
  return optionalInt(value, what, 0);
}

export function stringList(value: unknown, what: string, maxItems = 1000): string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || value.length > maxItems || value.some((v) => typeof v !== 'string')) {
    throw new ValidationError(`${what} must be an array of at most ${maxItems} strings`);
  }
  return value as string[];
}

/** A query-string flag: absent false; `true`/`1`/empty true; `false`/`0` false. */
/**
 * `limit` and `cursor` of a listing paged by keyset (tokens, share links): undefined when the
 * query has neither (the listing's whole-array answer), else the page asked for; `limit` from
 * 1 to `max`, `max` by default.
 */
export function keysetPageQuery(query: unknown, max: number): { limit: number; after?: string } | undefined {
  const q = (query ?? {}) as Record<string, unknown>;
  if (q.limit === undefined && q.cursor === undefined) return undefined;
  const limit = q.limit === undefined ? max : Number(q.limit);
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > max) throw new ValidationError(`limit must be an integer from 1 to ${max}`);
  if (q.cursor !== undefined && (typeof q.cursor !== 'string' || q.cursor === '')) throw new ValidationError('cursor must be the next of the page before');
  return q.cursor === undefined ? { limit } : { limit, after: q.cursor as string };
}

export function queryFlag(query: unknown, name: string): boolean {
  const v = (query as Record<string, string | undefined>)[name];
  if (v === undefined) return false;
  if (v === '' || v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  throw new ValidationError(`${name} must be true or false`);
}

/** An integer query parameter (`?mtime=1700000000000`), undefined when absent. */
export function optionalQueryInt(query: unknown, name: string, min = 0): number | undefined {
  const v = (query as Record<string, string | undefined>)[name];
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v === '' || !Number.isSafeInteger(n) || n < min) throw new ValidationError(`${name} must be an integer >= ${min}`);
  return n;
}
