/** Request validation shared by the routes: paths from URLs and bodies, hashes, limits. */
import type { FastifyRequest } from 'fastify';
import { HashMismatchError, PathInvalidError, SizeMismatchError, ValidationError } from '../core/errors.js';
import { assertSha256Hex, fileHashOf, validateChunkList } from '../core/manifest.js';
import { normalizePath } from '../core/path.js';
import type { UploadFileSpec } from '../core/protocol.js';

/** The Ferry path of a `/prefix/*` route (Fastify has already percent-decoded it). */
export function wildcardPath(request: FastifyRequest): string {
  const raw = (request.params as Record<string, string | undefined>)['*'] ?? '';
  return normalizePath('/' + raw);
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
    // A complete manifest is checked now, so the client hears of a mistake before sending bytes.
    if (spec.size !== undefined && spec.hash !== undefined) {
      if (total !== spec.size) throw new SizeMismatchError(`${where}: chunk sizes add up to ${total}, not size ${spec.size}`);
      const actual = fileHashOf(spec.chunks);
      if (actual !== spec.hash) throw new HashMismatchError(`${where}: the chunk list hashes to ${actual}, not ${spec.hash}`);
    }
  }
  return spec;
}
