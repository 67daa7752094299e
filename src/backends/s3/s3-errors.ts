/**
 * Translating AWS SDK v3 (S3) errors into Ferry's error registry, keeping the SDK's error as
 * `cause`. The rules, from the S3 error-code reference and the SDK's own retry classification:
 *
 * - NoSuchKey / NotFound (HEAD has no body, so only the status says it) → FERRY_ERR_NOT_FOUND;
 *   NoSuchBucket → FERRY_ERR_CONFIG (the remote is misconfigured, not an object missing);
 * - AccessDenied / 403 → FERRY_ERR_PERMISSION; bad keys or signatures → FERRY_ERR_AUTH_INVALID;
 * - SlowDown, throttling, 429, 503 → FERRY_ERR_RATE_LIMITED / FERRY_ERR_UNAVAILABLE (retryable,
 *   with the server's Retry-After when it sent one); other 5xx → FERRY_ERR_SERVER (retryable);
 * - InvalidRange / 416 → FERRY_ERR_RANGE_NOT_SATISFIABLE; 412 → FERRY_ERR_PRECONDITION_FAILED;
 * - NotImplemented → FERRY_ERR_UNSUPPORTED; an aborted request → FERRY_ERR_ABORTED;
 * - socket errors (ECONNREFUSED, ...) go through {@link fromSystemError} → FERRY_ERR_NETWORK.
 */
import {
  AbortedError,
  AuthInvalidError,
  ConfigError,
  FerryError,
  fromSystemError,
  NotFoundError,
  PayloadTooLargeError,
  PermissionError,
  PreconditionFailedError,
  RangeNotSatisfiableError,
  RateLimitedError,
  ServerError,
  TimeoutError,
  UnavailableError,
  UnsupportedError,
  ValidationError,
} from '../../core/errors.js';

interface SdkErrorShape {
  name?: string;
  Code?: string;
  message?: string;
  code?: string;
  $metadata?: { httpStatusCode?: number };
  $retryable?: { throttling?: boolean };
  $response?: { headers?: Record<string, string | undefined> };
}

const THROTTLING = new Set(['SlowDown', 'Throttling', 'ThrottlingException', 'TooManyRequests', 'TooManyRequestsException', 'RequestLimitExceeded', 'ProvisionedThroughputExceededException']);
const AUTH = new Set(['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'ExpiredToken', 'InvalidToken', 'TokenRefreshRequired', 'CredentialsProviderError']);

/** Seconds or an HTTP date, as in RFC 9110 §10.2.3. */
function retryAfterMs(err: SdkErrorShape): number | undefined {
  const value = err.$response?.headers?.['retry-after'];
  if (value === undefined) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

/** The FerryError for an error thrown by the S3 client while doing `what` (a key or an operation). */
export function fromS3Error(err: unknown, what: string): FerryError {
  if (err instanceof FerryError) return err;
  const e = (err ?? {}) as SdkErrorShape;
  const name = e.name ?? e.Code ?? '';
  const status = e.$metadata?.httpStatusCode;
  const detail = e.message && e.message !== name && e.message !== 'UnknownError' ? `: ${e.message}` : '';
  const label = `${what}: ${name || `HTTP ${status ?? '?'}`}${detail}`;
  const options = { cause: err, details: { s3Code: name, status } };

  if (name === 'AbortError' || e.code === 'ABORT_ERR') return new AbortedError(`${what}: aborted`, { cause: err });
  if (name === 'NoSuchKey' || name === 'NotFound' || (status === 404 && name !== 'NoSuchBucket' && name !== 'NoSuchUpload')) {
    return new NotFoundError(`${what}: not found`, options);
  }
  if (name === 'NoSuchBucket') return new ConfigError(`${label} (the bucket does not exist)`, options);
  if (name === 'InvalidRange' || status === 416) return new RangeNotSatisfiableError(label, options);
  if (name === 'PreconditionFailed' || status === 412) return new PreconditionFailedError(label, options);
  if (AUTH.has(name)) return new AuthInvalidError(label, options);
  if (name === 'AccessDenied' || status === 403) return new PermissionError(label, options);
  if (name === 'EntityTooLarge') return new PayloadTooLargeError(label, options);
  if (name === 'NotImplemented' || status === 501) return new UnsupportedError(label, options);
  if (THROTTLING.has(name) || e.$retryable?.throttling === true || status === 429) {
    return new RateLimitedError(label, { ...options, retryAfterMs: retryAfterMs(e) });
  }
  if (status === 503) return new UnavailableError(label, { ...options, retryAfterMs: retryAfterMs(e) });
  if (name === 'RequestTimeout' || name === 'TimeoutError' || name === 'RequestTimeTooSkewed') return new TimeoutError(label, options);
  if (status !== undefined && status >= 500) return new ServerError(label, options);
  if (name === 'InternalError') return new ServerError(label, options);
  if (status !== undefined && status >= 400) return new ValidationError(label, options);
  // No HTTP answer at all: a socket error, DNS, or something of ours.
  return fromSystemError(err, what);
}
