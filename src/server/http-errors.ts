/**
 * The server's error edge: the one place where a FerryError code becomes an HTTP status,
 * and where anything else thrown by a handler or by Fastify itself becomes a JSON error
 * `{error: {code, message}}` with a stable code.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { FerryError, InternalError, fromSystemError, type FerryErrorCode } from '../core/errors.js';

const STATUS: Record<FerryErrorCode, number> = {
  FERRY_ERR_INTERNAL: 500,
  FERRY_ERR_VALIDATION: 400,
  FERRY_ERR_PATH_INVALID: 400,
  FERRY_ERR_HASH_INVALID: 400,
  FERRY_ERR_HASH_MISMATCH: 400,
  FERRY_ERR_SIZE_MISMATCH: 400,
  FERRY_ERR_CHUNK_NOT_IN_UPLOAD: 400,
  FERRY_ERR_NOT_FOUND: 404,
  FERRY_ERR_UPLOAD_NOT_FOUND: 404,
  FERRY_ERR_ALREADY_EXISTS: 409,
  FERRY_ERR_NOT_A_DIRECTORY: 409,
  FERRY_ERR_IS_A_DIRECTORY: 409,
  FERRY_ERR_DIRECTORY_NOT_EMPTY: 409,
  FERRY_ERR_UPLOAD_INCOMPLETE: 409,
  FERRY_ERR_UPLOAD_SEALED: 409,
  FERRY_ERR_PRECONDITION_FAILED: 412,
  FERRY_ERR_PAYLOAD_TOO_LARGE: 413,
  FERRY_ERR_QUOTA_EXCEEDED: 413,
  FERRY_ERR_UPLOAD_REJECTED: 422,
  FERRY_ERR_RANGE_NOT_SATISFIABLE: 416,
  FERRY_ERR_AUTH_REQUIRED: 401,
  FERRY_ERR_AUTH_INVALID: 401,
  FERRY_ERR_FORBIDDEN: 403,
  FERRY_ERR_BANNED: 403,
  FERRY_ERR_GONE: 410,
  FERRY_ERR_TLS_UNTRUSTED: 502,
  FERRY_ERR_RATE_LIMITED: 429,
  FERRY_ERR_CHUNK_CORRUPT: 500,
  FERRY_ERR_NOT_IMPLEMENTED: 501,
  FERRY_ERR_UNAVAILABLE: 503,
  FERRY_ERR_NO_SPACE: 507,
  FERRY_ERR_UNSUPPORTED: 400,
  FERRY_ERR_TIMEOUT: 504,
  FERRY_ERR_NETWORK: 502,
  FERRY_ERR_SERVER: 502,
  FERRY_ERR_IO: 500,
  FERRY_ERR_PERMISSION: 500,
  FERRY_ERR_HOST_KEY: 502,
  FERRY_ERR_ABORTED: 499,
  FERRY_ERR_CONFIG: 500,
  FERRY_ERR_USAGE: 400,
  FERRY_ERR_PROTOCOL: 400,
};

export function statusOf(code: FerryErrorCode): number {
  return STATUS[code];
}

/** Fastify's own error codes that are the client's fault, with the code we report. */
const FASTIFY_CODES: Record<string, { status: number; code: FerryErrorCode; message?: string }> = {
  FST_ERR_CTP_INVALID_JSON_BODY: { status: 400, code: 'FERRY_ERR_VALIDATION', message: 'the body is not valid JSON' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { status: 400, code: 'FERRY_ERR_VALIDATION', message: 'the JSON body is empty' },
  FST_ERR_CTP_BODY_TOO_LARGE: { status: 413, code: 'FERRY_ERR_PAYLOAD_TOO_LARGE' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { status: 415, code: 'FERRY_ERR_VALIDATION', message: 'unsupported content type' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { status: 400, code: 'FERRY_ERR_VALIDATION', message: 'Content-Length does not match the body' },
  FST_ERR_VALIDATION: { status: 400, code: 'FERRY_ERR_VALIDATION' },
  FST_ERR_BAD_URL: { status: 400, code: 'FERRY_ERR_PATH_INVALID', message: 'the URL is not valid (bad percent-encoding?)' },
};

/** Converts whatever was thrown into a FerryError plus status. */
export function toHttpError(err: unknown): { status: number; error: FerryError } {
  if (err instanceof FerryError) return { status: STATUS[err.code], error: err };
  const fe = err as FastifyError;
  const known = fe?.code ? FASTIFY_CODES[fe.code] : undefined;
  if (known) {
    const error = new FerryError(known.code, known.message ?? fe.message, { cause: err });
    return { status: known.status, error };
  }
  if (fe?.validation) return { status: 400, error: new FerryError('FERRY_ERR_VALIDATION', fe.message, { cause: err }) };
  if (typeof fe?.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    return { status: fe.statusCode, error: new FerryError('FERRY_ERR_VALIDATION', fe.message, { cause: err }) };
  }
  const sys = fromSystemError(err);
  if (sys.code !== 'FERRY_ERR_INTERNAL') return { status: STATUS[sys.code], error: sys };
  return { status: 500, error: new InternalError('internal error', { cause: err }) };
}

export function errorHandler(err: unknown, request: FastifyRequest, reply: FastifyReply): void {
  const { status, error } = toHttpError(err);
  if (status >= 500) request.log.error({ err, code: error.code }, error.message);
  else request.log.debug({ code: error.code }, error.message);
  if (error.retryAfterMs !== undefined) reply.header('retry-after', Math.ceil(error.retryAfterMs / 1000));
  if (reply.sent || reply.raw.headersSent) {
    // Headers are out: the only honest signal left is to cut the connection.
    reply.raw.destroy(error);
    return;
  }
  // 500s carry a generic message: internals (paths, SQL) stay in the log.
  const body = status === 500 && error.code === 'FERRY_ERR_INTERNAL' ? { code: error.code, message: 'internal error' } : error.toJSON();
  void reply.status(status).type('application/json').send({ error: body });
}
