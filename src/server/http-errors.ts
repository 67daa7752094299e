/**
 * The server's error edge: the one place where a FerryError code becomes an HTTP status,
 * and where anything else thrown by a handler or by Fastify itself becomes a JSON error
 * `{error: {code, message}}` with a stable code.
 */
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { FerryError, InternalError, fromSystemError, type FerryErrorCode, ferryErrorOf } from '../core/errors.js';
import { escapeHtml, plainPageStart } from './html.js';

const STATUS: Record<FerryErrorCode, number> = {
  FERRY_ERR_INTERNAL: 500,
  FERRY_ERR_VALIDATION: 400,
  FERRY_ERR_PATH_INVALID: 400,
  FERRY_ERR_ALL_USERS_REQUIRED: 400,
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
  FERRY_ERR_LINK_BYTES_EXCEEDED: 413,
  FERRY_ERR_UPLOAD_REJECTED: 422,
  FERRY_ERR_RANGE_NOT_SATISFIABLE: 416,
  FERRY_ERR_AUTH_REQUIRED: 401,
  FERRY_ERR_AUTH_INVALID: 401,
  FERRY_ERR_FORBIDDEN: 403,
  FERRY_ERR_BANNED: 403,
  FERRY_ERR_GONE: 410,
  FERRY_ERR_TLS_UNTRUSTED: 502,
  FERRY_ERR_TLS_MISMATCH: 502,
  FERRY_ERR_HOST_UNKNOWN: 502,
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
  // WebDAV (RFC 4918) and tus (tus.io 1.0.0) answers.
  FERRY_ERR_NO_PARENT: 409,
  FERRY_ERR_LOCKED: 423,
  FERRY_ERR_LOCK_TOKEN_MISMATCH: 409,
  FERRY_ERR_METHOD_NOT_ALLOWED: 405,
  FERRY_ERR_UNSUPPORTED_MEDIA_TYPE: 415,
  FERRY_ERR_DEPTH_INFINITY: 403,
  // RFC 4918 9.8.5 and 9.9.4: a Destination on another server is 502 (Bad Gateway).
  FERRY_ERR_DESTINATION_FOREIGN: 502,
  FERRY_ERR_OFFSET_MISMATCH: 409,
  FERRY_ERR_CHECKSUM_MISMATCH: 460,
  FERRY_ERR_ENCODING_INVALID: 400,
  FERRY_ERR_ENCODING_UNSUPPORTED: 415,
  // Encrypted storage that fails to open or authenticate is the server's fault, never the client's.
  FERRY_ERR_CRYPTO_KEY_MISSING: 500,
  FERRY_ERR_CRYPTO_KEY_WRONG: 500,
  FERRY_ERR_CRYPTO_TAMPERED: 500,
  FERRY_ERR_CRYPTO_TRUNCATED: 500,
  FERRY_ERR_CRYPTO_SWAPPED: 500,
  FERRY_ERR_E2E_FORMAT: 422,
  // The request is fine; the state of the target (an end-to-end folder) refuses it.
  FERRY_ERR_E2E_PLAIN_IN_VAULT: 409,
  FERRY_ERR_E2E_NEEDS_KEY: 409,
  FERRY_ERR_E2E_MARKER_IN_USE: 409,
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
  FST_ERR_MAX_PARAM_LENGTH: { status: 414, code: 'FERRY_ERR_PATH_INVALID', message: 'the URL is too long' },
};

/** Converts whatever was thrown into a FerryError plus status. */
export function toHttpError(err: unknown): { status: number; error: FerryError } {
  if (err instanceof FerryError) return { status: STATUS[err.code], error: err };
  const fe = err as FastifyError;
  const known = fe?.code ? FASTIFY_CODES[fe.code] : undefined;
  if (known) {
    const error = ferryErrorOf(known.code, known.message ?? fe.message, { cause: err });
    return { status: known.status, error };
  }
  if (fe?.validation) return { status: 400, error: ferryErrorOf('FERRY_ERR_VALIDATION', fe.message, { cause: err }) };
  if (typeof fe?.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    return { status: fe.statusCode, error: ferryErrorOf('FERRY_ERR_VALIDATION', fe.message, { cause: err }) };
  }
  const sys = fromSystemError(err);
  if (sys.code !== 'FERRY_ERR_INTERNAL') return { status: STATUS[sys.code], error: sys };
  return { status: 500, error: new InternalError('internal error', { cause: err }) };
}

/**
 * 5xx answers that are the client's doing, not a failure here: logged at debug as other
 * refusals are, not at error (a WebDAV client naming a Destination on another host paged
 * whoever watches the server's error log).
 */
const CLIENTS_5XX = new Set<FerryErrorCode>(['FERRY_ERR_DESTINATION_FOREIGN']);

/** The driver's or the system's words under a 503 (a refused connection, a timed-out query), for the log: what an operator looks for. */
function causeOf(error: FerryError): { cause?: string } {
  const cause = (error as { cause?: unknown }).cause;
  return cause instanceof Error ? { cause: cause.message } : {};
}

export function errorHandler(err: unknown, request: FastifyRequest, reply: FastifyReply): void {
  const { status, error } = toHttpError(err);
  // A client that went away mid-body (an upload cancelled) is no failure of the server's:
  // its access-log line says `cut`, and an error line with a stack would page an operator.
  // Nor is a 503, the server's own choice to turn a request away for now (draining for a
  // stop, too busy to take more): a warning, without the stack of where it was decided.
  // The 5xx that answer a client's error (CLIENTS_5XX) are logged as 4xx are.
  if (request.raw.aborted || status < 500 || CLIENTS_5XX.has(error.code)) request.log.debug({ code: error.code }, error.message);
  else if (status === 503) request.log.warn({ code: error.code, ...causeOf(error) }, error.message);
  else request.log.error({ err, code: error.code }, error.message);
  if (error.retryAfterMs !== undefined) reply.header('retry-after', Math.ceil(error.retryAfterMs / 1000));
  if (reply.sent || reply.raw.headersSent) {
    // Headers are out: the only honest signal left is to cut the connection.
    reply.raw.destroy(error);
    return;
  }
  void reply.status(status).type('application/json').send({ error: publicError(error, status, request.id) });
}

/**
 * 5xx codes whose messages are written for the client (no paths, no system text): a damaged
 * chunk is named by its hash and store-relative key, and `details.hash` lets a client refetch;
 * a WebDAV Destination on another server is the client's request, not a failure here.
 */
const PUBLIC_5XX = new Set<FerryErrorCode>(['FERRY_ERR_UNAVAILABLE', 'FERRY_ERR_NOT_IMPLEMENTED', 'FERRY_ERR_CHUNK_CORRUPT', 'FERRY_ERR_DESTINATION_FOREIGN']);

/**
 * What a client reads of an error: a refusal (4xx) in its own words; the server's own failures
 * (5xx) only as their code, a generic sentence and the request id, because their messages can
 * hold absolute paths or system text (EXDEV, EINVAL, SQL), which go to the log only.
 */
export function publicError(error: FerryError, status: number, requestId: string): ReturnType<FerryError['toJSON']> & { requestId?: string } {
  if (!isServerFault(error.code, status)) return error.toJSON();
  return { code: error.code, message: internalMessage(error.code, requestId), requestId };
}

/** A failure of the server itself (5xx, other than a stated unavailability): its message stays in the log. */
export function isServerFault(code: FerryErrorCode, status = STATUS[code]): boolean {
  return status >= 500 && !PUBLIC_5XX.has(code);
}

/**
 * A dependency's failure, as the backends translate it (an S3 answering 5xx, a connection to it
 * refused or cut, a request to it timed out): said as such, not as a bug of the server's.
 */
const STORE_FAILURES = new Set<FerryErrorCode>(['FERRY_ERR_SERVER', 'FERRY_ERR_NETWORK', 'FERRY_ERR_TIMEOUT']);

/** The generic words of a server failure, with the id its log lines carry (`reqId`). */
export function internalMessage(code: FerryErrorCode, requestId: string): string {
  const what = code === 'FERRY_ERR_NO_SPACE' ? 'the server is out of storage space' : STORE_FAILURES.has(code) ? 'a storage service behind the server failed or did not answer' : 'internal error';
  return `${what} (request ${requestId}; the details are in the server's log)`;
}

/** What Node's HTTP parser reports, in words for the client. */
const PARSER_REASONS: Record<string, string> = {
  HPE_INVALID_METHOD: 'unknown method',
  HPE_INVALID_URL: 'invalid request target',
  HPE_INVALID_VERSION: 'invalid HTTP version',
  HPE_INVALID_HEADER_TOKEN: 'invalid header',
  HPE_INVALID_CONTENT_LENGTH: 'invalid Content-Length',
  HPE_UNEXPECTED_CONTENT_LENGTH: 'Content-Length together with Transfer-Encoding',
  HPE_INVALID_TRANSFER_ENCODING: 'invalid Transfer-Encoding',
  HPE_INVALID_CHUNK_SIZE: 'invalid chunk size',
  HPE_CR_EXPECTED: 'malformed line ending',
  HPE_LF_EXPECTED: 'malformed line ending',
};

/**
 * Fastify's `clientErrorHandler`: a request Node's parser refused (no request object exists)
 * is answered on the socket in Ferry's error format, then the connection is closed, as
 * Node's own handler does. A reset connection needs no answer.
 */
export function writeClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  let status = 400;
  let error: FerryError;
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    status = 408;
    error = ferryErrorOf('FERRY_ERR_TIMEOUT', 'the request did not arrive in time');
  } else if (err.code === 'HPE_HEADER_OVERFLOW') {
    status = 431;
    error = ferryErrorOf('FERRY_ERR_PAYLOAD_TOO_LARGE', 'the request headers are too large');
  } else {
    const reason = (err.code && PARSER_REASONS[err.code]) ?? 'unreadable request';
    error = ferryErrorOf('FERRY_ERR_VALIDATION', `malformed HTTP request: ${reason}`);
  }
  const body = JSON.stringify({ error: error.toJSON() });
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  }
  socket.destroy(err);
}

/** A small page for a browser that asked for a path no route serves. */
export function notFoundPage(method: string, path: string): string {
  return `${plainPageStart('404')}<body><h1>404</h1><p>${escapeHtml(`No route ${method} ${path} on this Ferry server.`)}</p></body></html>`;
}
