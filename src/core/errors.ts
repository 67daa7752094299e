/**
 * The one error registry of Ferry.
 *
 * Every error Ferry raises on purpose is a {@link FerryError} with a stable string `code`
 * (`FERRY_ERR_<AREA>_<WHAT>`), a default message a person understands, and a
 * classification: `retryable` errors may succeed if the same call is made again later
 * (network hiccups, 5xx, rate limits), the others will fail the same way every time.
 *
 * The HTTP status of a code is decided only at the server edge (`src/server/http-errors.ts`)
 * and the exit code only in the CLI; this module knows neither.
 */

export interface FerryErrorOptions {
  cause?: unknown;
  /** Structured facts for machines: the offending path, the missing hashes, ... */
  details?: Record<string, unknown>;
  /** For rate limits and 503s: how long the caller should wait before retrying. */
  retryAfterMs?: number;
  /** Override the registry's classification for this instance. */
  retryable?: boolean;
}

interface ErrorSpec {
  message: string;
  retryable: boolean;
}

const spec = (message: string, retryable = false): ErrorSpec => ({ message, retryable });

/** code -> default message and classification. Codes are part of the public API: never rename. */
export const ERROR_CODES = {
  FERRY_ERR_INTERNAL: spec('internal error'),
  FERRY_ERR_VALIDATION: spec('the request is not valid'),
  FERRY_ERR_PATH_INVALID: spec('the path is not valid'),
  FERRY_ERR_ALL_USERS_REQUIRED: spec("this would also empty other users' trash: add allUsers=true to mean that, or name a folder of your own"),
  FERRY_ERR_HASH_INVALID: spec('not a valid SHA-256 hash (64 lowercase hex digits)'),
  FERRY_ERR_HASH_MISMATCH: spec('the data does not match its hash'),
  FERRY_ERR_SIZE_MISMATCH: spec('the data does not have the announced size'),
  FERRY_ERR_NOT_FOUND: spec('not found'),
  FERRY_ERR_ALREADY_EXISTS: spec('already exists'),
  FERRY_ERR_NOT_A_DIRECTORY: spec('not a directory'),
  FERRY_ERR_IS_A_DIRECTORY: spec('is a directory'),
  FERRY_ERR_DIRECTORY_NOT_EMPTY: spec('the directory is not empty'),
  FERRY_ERR_PRECONDITION_FAILED: spec('the precondition did not hold'),
  FERRY_ERR_RANGE_NOT_SATISFIABLE: spec('the requested range is not satisfiable'),
  FERRY_ERR_PAYLOAD_TOO_LARGE: spec('the request body is too large'),
  FERRY_ERR_UPLOAD_NOT_FOUND: spec('no such upload session (unknown, committed, aborted or expired)'),
  FERRY_ERR_UPLOAD_INCOMPLETE: spec('the upload still lacks chunks'),
  FERRY_ERR_UPLOAD_SEALED: spec('the upload session no longer accepts manifest entries'),
  FERRY_ERR_CHUNK_NOT_IN_UPLOAD: spec('the chunk is not part of this upload session'),
  FERRY_ERR_CHUNK_CORRUPT: spec('a stored chunk failed verification'),
  FERRY_ERR_AUTH_REQUIRED: spec('authentication required'),
  FERRY_ERR_AUTH_INVALID: spec('the credentials are not valid'),
  FERRY_ERR_FORBIDDEN: spec('permission denied'),
  FERRY_ERR_BANNED: spec('this address is banned for a while after repeated authentication failures'),
  FERRY_ERR_GONE: spec('the link expired, was used up or was revoked'),
  FERRY_ERR_TLS_UNTRUSTED: spec("the server's TLS certificate is not trusted"),
  FERRY_ERR_TLS_MISMATCH: spec('one side speaks TLS (https) and the other plain HTTP'),
  FERRY_ERR_HOST_UNKNOWN: spec('the host name does not resolve'),
  FERRY_ERR_RATE_LIMITED: spec('too many requests', true),
  FERRY_ERR_QUOTA_EXCEEDED: spec('quota exceeded'),
  FERRY_ERR_LINK_BYTES_EXCEEDED: spec("the upload link's byte limit is reached"),
  FERRY_ERR_UPLOAD_REJECTED: spec('the upload was rejected by the server’s pre-upload check'),
  FERRY_ERR_NO_SPACE: spec('no space left on the storage device'),
  FERRY_ERR_UNSUPPORTED: spec('not supported'),
  FERRY_ERR_NOT_IMPLEMENTED: spec('not implemented'),
  FERRY_ERR_UNAVAILABLE: spec('the service is unavailable', true),
  FERRY_ERR_TIMEOUT: spec('the operation timed out', true),
  FERRY_ERR_NETWORK: spec('network error', true),
  FERRY_ERR_SERVER: spec('the server failed', true),
  FERRY_ERR_IO: spec('input/output error', true),
  FERRY_ERR_PERMISSION: spec('the storage refused access'),
  FERRY_ERR_HOST_KEY: spec('the server’s host key is not the one expected (unknown or changed)'),
  FERRY_ERR_ABORTED: spec('the operation was aborted'),
  FERRY_ERR_CONFIG: spec('the configuration is not valid'),
  FERRY_ERR_USAGE: spec('the command was not used correctly'),
  FERRY_ERR_PROTOCOL: spec('the peer answered something this version does not understand'),
  FERRY_ERR_NO_PARENT: spec('the parent directory does not exist'),
  FERRY_ERR_LOCKED: spec('the resource is locked: send the lock token in an If header'),
  FERRY_ERR_LOCK_TOKEN_MISMATCH: spec('the lock token names no lock on this resource'),
  FERRY_ERR_METHOD_NOT_ALLOWED: spec('this method is not allowed on this resource'),
  FERRY_ERR_UNSUPPORTED_MEDIA_TYPE: spec('the request body has a content type this request does not take'),
  FERRY_ERR_DEPTH_INFINITY: spec('Depth: infinity is not served: ask for Depth 0 or 1'),
  FERRY_ERR_DESTINATION_FOREIGN: spec('the Destination names another server: this one moves and copies only within itself'),
  FERRY_ERR_OFFSET_MISMATCH: spec('the upload offset does not match the bytes received so far'),
  FERRY_ERR_CHECKSUM_MISMATCH: spec('the body does not match its checksum'),
  FERRY_ERR_ENCODING_INVALID: spec('the compressed body is damaged or not what its Content-Encoding says'),
  FERRY_ERR_ENCODING_UNSUPPORTED: spec('the body has a Content-Encoding this request does not take'),
  FERRY_ERR_CRYPTO_KEY_MISSING: spec('the data is encrypted and no key was given'),
  FERRY_ERR_CRYPTO_KEY_WRONG: spec('the key does not open this encrypted data (another key, or a wrong passphrase)'),
  FERRY_ERR_CRYPTO_TAMPERED: spec('encrypted data failed authentication: it was altered or damaged'),
  FERRY_ERR_CRYPTO_TRUNCATED: spec('encrypted data ends early: the object was truncated'),
  FERRY_ERR_CRYPTO_SWAPPED: spec('encrypted data belongs to another object: it was swapped or moved'),
  FERRY_ERR_E2E_FORMAT: spec('not an end-to-end encrypted file, or one in a format this version does not read'),
  FERRY_ERR_E2E_PLAIN_IN_VAULT: spec('the folder is end-to-end encrypted: only files and names encrypted with its key go in it, sent through a Ferry client that holds the key'),
  FERRY_ERR_E2E_MARKER_IN_USE: spec('the end-to-end key marker (.ferry-e2e) is needed to open the encrypted files below it: it cannot be deleted, moved or replaced while they are there'),
  FERRY_ERR_E2E_NEEDS_KEY: spec('moving, renaming or copying in an end-to-end folder needs its key, to encrypt the names for their new place: a Ferry client that holds the key does it'),
} as const satisfies Record<string, ErrorSpec>;

export type FerryErrorCode = keyof typeof ERROR_CODES;

export class FerryError extends Error {
  readonly code: FerryErrorCode;
  readonly retryable: boolean;
  readonly retryAfterMs?: number;
  readonly details?: Record<string, unknown>;

  constructor(code: FerryErrorCode, message?: string, options: FerryErrorOptions = {}) {
    super(message ?? ERROR_CODES[code].message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'FerryError';
    this.code = code;
    this.retryable = options.retryable ?? ERROR_CODES[code].retryable;
    if (options.retryAfterMs !== undefined) this.retryAfterMs = options.retryAfterMs;
    if (options.details !== undefined) this.details = options.details;
  }

  toJSON(): { code: FerryErrorCode; message: string; details?: Record<string, unknown> } {
    return this.details ? { code: this.code, message: this.message, details: this.details } : { code: this.code, message: this.message };
  }
}

/**
 * A class per code, for `instanceof` checks and terse throws: `throw new NotFoundError('no /a')`.
 * Each is named (`err.name`, `err.constructor.name`: 'NotFoundError'), so a stack trace or a
 * log line says which it is; `instanceof FerryError` holds for all of them.
 */
function defineError<C extends FerryErrorCode>(name: string, code: C) {
  const named = class extends FerryError {
    static readonly code: C = code;
    /** Its own code, narrowed: after `err instanceof NotFoundError`, `err.code` is 'FERRY_ERR_NOT_FOUND'. */
    declare readonly code: C;
    constructor(message?: string, options?: FerryErrorOptions) {
      super(code, message, options);
      this.name = name;
    }
  };
  Object.defineProperty(named, 'name', { value: name });
  CLASS_OF_CODE.set(code, named);
  return named;
}

const CLASS_OF_CODE = new Map<FerryErrorCode, new (message?: string, options?: FerryErrorOptions) => FerryError>();

/**
 * An error of `code` as the instance of its class (`NotFoundError` for `FERRY_ERR_NOT_FOUND`),
 * so that `instanceof NotFoundError` holds for an error decoded from elsewhere (a server's
 * answer); a plain `FerryError` for a code without a class.
 */
export function ferryErrorOf(code: FerryErrorCode, message?: string, options?: FerryErrorOptions): FerryError {
  const ErrorClass = CLASS_OF_CODE.get(code);
  return ErrorClass ? new ErrorClass(message, options) : new FerryError(code, message, options);
}

export const InternalError = defineError('InternalError', 'FERRY_ERR_INTERNAL');
export const ValidationError = defineError('ValidationError', 'FERRY_ERR_VALIDATION');
export const PathInvalidError = defineError('PathInvalidError', 'FERRY_ERR_PATH_INVALID');
export const AllUsersRequiredError = defineError('AllUsersRequiredError', 'FERRY_ERR_ALL_USERS_REQUIRED');
export const HashInvalidError = defineError('HashInvalidError', 'FERRY_ERR_HASH_INVALID');
export const HashMismatchError = defineError('HashMismatchError', 'FERRY_ERR_HASH_MISMATCH');
export const SizeMismatchError = defineError('SizeMismatchError', 'FERRY_ERR_SIZE_MISMATCH');
export const NotFoundError = defineError('NotFoundError', 'FERRY_ERR_NOT_FOUND');
export const AlreadyExistsError = defineError('AlreadyExistsError', 'FERRY_ERR_ALREADY_EXISTS');
export const NotADirectoryError = defineError('NotADirectoryError', 'FERRY_ERR_NOT_A_DIRECTORY');
export const IsADirectoryError = defineError('IsADirectoryError', 'FERRY_ERR_IS_A_DIRECTORY');
export const DirectoryNotEmptyError = defineError('DirectoryNotEmptyError', 'FERRY_ERR_DIRECTORY_NOT_EMPTY');
export const PreconditionFailedError = defineError('PreconditionFailedError', 'FERRY_ERR_PRECONDITION_FAILED');
export const RangeNotSatisfiableError = defineError('RangeNotSatisfiableError', 'FERRY_ERR_RANGE_NOT_SATISFIABLE');
export const PayloadTooLargeError = defineError('PayloadTooLargeError', 'FERRY_ERR_PAYLOAD_TOO_LARGE');
export const UploadNotFoundError = defineError('UploadNotFoundError', 'FERRY_ERR_UPLOAD_NOT_FOUND');
export const UploadIncompleteError = defineError('UploadIncompleteError', 'FERRY_ERR_UPLOAD_INCOMPLETE');
export const UploadSealedError = defineError('UploadSealedError', 'FERRY_ERR_UPLOAD_SEALED');
export const ChunkNotInUploadError = defineError('ChunkNotInUploadError', 'FERRY_ERR_CHUNK_NOT_IN_UPLOAD');
export const ChunkCorruptError = defineError('ChunkCorruptError', 'FERRY_ERR_CHUNK_CORRUPT');
export const AuthRequiredError = defineError('AuthRequiredError', 'FERRY_ERR_AUTH_REQUIRED');
export const AuthInvalidError = defineError('AuthInvalidError', 'FERRY_ERR_AUTH_INVALID');
export const ForbiddenError = defineError('ForbiddenError', 'FERRY_ERR_FORBIDDEN');
export const BannedError = defineError('BannedError', 'FERRY_ERR_BANNED');
export const GoneError = defineError('GoneError', 'FERRY_ERR_GONE');
export const TlsUntrustedError = defineError('TlsUntrustedError', 'FERRY_ERR_TLS_UNTRUSTED');
export const TlsMismatchError = defineError('TlsMismatchError', 'FERRY_ERR_TLS_MISMATCH');
export const HostUnknownError = defineError('HostUnknownError', 'FERRY_ERR_HOST_UNKNOWN');
export const RateLimitedError = defineError('RateLimitedError', 'FERRY_ERR_RATE_LIMITED');
export const QuotaExceededError = defineError('QuotaExceededError', 'FERRY_ERR_QUOTA_EXCEEDED');
export const LinkBytesExceededError = defineError('LinkBytesExceededError', 'FERRY_ERR_LINK_BYTES_EXCEEDED');
export const NoSpaceError = defineError('NoSpaceError', 'FERRY_ERR_NO_SPACE');
export const UnsupportedError = defineError('UnsupportedError', 'FERRY_ERR_UNSUPPORTED');
export const NotImplementedError = defineError('NotImplementedError', 'FERRY_ERR_NOT_IMPLEMENTED');
export const UnavailableError = defineError('UnavailableError', 'FERRY_ERR_UNAVAILABLE');
export const TimeoutError = defineError('TimeoutError', 'FERRY_ERR_TIMEOUT');
export const NetworkError = defineError('NetworkError', 'FERRY_ERR_NETWORK');
export const ServerError = defineError('ServerError', 'FERRY_ERR_SERVER');
export const IoError = defineError('IoError', 'FERRY_ERR_IO');
export const PermissionError = defineError('PermissionError', 'FERRY_ERR_PERMISSION');
export const HostKeyError = defineError('HostKeyError', 'FERRY_ERR_HOST_KEY');
export const AbortedError = defineError('AbortedError', 'FERRY_ERR_ABORTED');
export const ConfigError = defineError('ConfigError', 'FERRY_ERR_CONFIG');
export const UploadRejectedError = defineError('UploadRejectedError', 'FERRY_ERR_UPLOAD_REJECTED');
export const UsageError = defineError('UsageError', 'FERRY_ERR_USAGE');
export const ProtocolError = defineError('ProtocolError', 'FERRY_ERR_PROTOCOL');
export const NoParentError = defineError('NoParentError', 'FERRY_ERR_NO_PARENT');
export const LockedError = defineError('LockedError', 'FERRY_ERR_LOCKED');
export const LockTokenMismatchError = defineError('LockTokenMismatchError', 'FERRY_ERR_LOCK_TOKEN_MISMATCH');
export const MethodNotAllowedError = defineError('MethodNotAllowedError', 'FERRY_ERR_METHOD_NOT_ALLOWED');
export const UnsupportedMediaTypeError = defineError('UnsupportedMediaTypeError', 'FERRY_ERR_UNSUPPORTED_MEDIA_TYPE');
export const DepthInfinityError = defineError('DepthInfinityError', 'FERRY_ERR_DEPTH_INFINITY');
export const DestinationForeignError = defineError('DestinationForeignError', 'FERRY_ERR_DESTINATION_FOREIGN');
export const OffsetMismatchError = defineError('OffsetMismatchError', 'FERRY_ERR_OFFSET_MISMATCH');
export const ChecksumMismatchError = defineError('ChecksumMismatchError', 'FERRY_ERR_CHECKSUM_MISMATCH');
export const EncodingInvalidError = defineError('EncodingInvalidError', 'FERRY_ERR_ENCODING_INVALID');
export const EncodingUnsupportedError = defineError('EncodingUnsupportedError', 'FERRY_ERR_ENCODING_UNSUPPORTED');
export const CryptoKeyMissingError = defineError('CryptoKeyMissingError', 'FERRY_ERR_CRYPTO_KEY_MISSING');
export const CryptoKeyWrongError = defineError('CryptoKeyWrongError', 'FERRY_ERR_CRYPTO_KEY_WRONG');
export const E2ePlainInVaultError = defineError('E2ePlainInVaultError', 'FERRY_ERR_E2E_PLAIN_IN_VAULT');
export const E2eNeedsKeyError = defineError('E2eNeedsKeyError', 'FERRY_ERR_E2E_NEEDS_KEY');
export const E2eMarkerInUseError = defineError('E2eMarkerInUseError', 'FERRY_ERR_E2E_MARKER_IN_USE');
export const CryptoTamperedError = defineError('CryptoTamperedError', 'FERRY_ERR_CRYPTO_TAMPERED');
export const CryptoTruncatedError = defineError('CryptoTruncatedError', 'FERRY_ERR_CRYPTO_TRUNCATED');
export const CryptoSwappedError = defineError('CryptoSwappedError', 'FERRY_ERR_CRYPTO_SWAPPED');

export function isFerryError(err: unknown, code?: FerryErrorCode): err is FerryError {
  return err instanceof FerryError && (code === undefined || err.code === code);
}

export function isErrorCode(code: unknown): code is FerryErrorCode {
  return typeof code === 'string' && Object.hasOwn(ERROR_CODES, code);
}

/** Encrypted data that failed to open as stored: damaged, cut or swapped (not a key problem). */
export function isCryptoDamage(err: unknown): err is FerryError {
  return isFerryError(err, 'FERRY_ERR_CRYPTO_TAMPERED') || isFerryError(err, 'FERRY_ERR_CRYPTO_TRUNCATED') || isFerryError(err, 'FERRY_ERR_CRYPTO_SWAPPED');
}

/** Whether retrying the call that threw `err` may succeed. Unknown errors are not retried. */
export function isRetryable(err: unknown): boolean {
  return err instanceof FerryError ? err.retryable : false;
}

/**
 * Translates a Node.js system error (`ENOENT`, `ENOSPC`, ...) into a FerryError, keeping it
 * as `cause`. Errors that are already FerryErrors pass through; anything else becomes
 * FERRY_ERR_IO (retryable) or FERRY_ERR_INTERNAL.
 */
export function fromSystemError(err: unknown, what?: string): FerryError {
  if (err instanceof FerryError) return err;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const label = what ? `${what}: ` : '';
  switch (code) {
    case 'ENOENT':
      return new NotFoundError(`${label}not found`, { cause: err });
    case 'EEXIST':
      return new AlreadyExistsError(`${label}already exists`, { cause: err });
    case 'ENOTDIR':
      return new NotADirectoryError(`${label}a parent is not a directory`, { cause: err });
    case 'EISDIR':
      return new IsADirectoryError(`${label}is a directory`, { cause: err });
    case 'ENOTEMPTY':
      return new DirectoryNotEmptyError(`${label}directory not empty`, { cause: err });
    case 'ENOSPC':
    case 'EDQUOT':
    // SQLite's "database or disk is full" (better-sqlite3 puts SQLite's code in `code`).
    case 'SQLITE_FULL':
      return new NoSpaceError(`${label}no space left on device`, { cause: err });
    case 'EACCES':
    case 'EPERM':
    case 'EROFS':
      return new PermissionError(`${label}permission denied`, { cause: err });
    case 'ENAMETOOLONG':
      return new PathInvalidError(`${label}name too long`, { cause: err });
    case 'ELOOP':
      return new PathInvalidError(`${label}too many levels of symbolic links`, { cause: err });
    case 'EXDEV':
    case 'EINVAL':
    case 'EBADF':
      // Repeating the call will fail the same way.
      return new IoError(`${label}${(err as Error).message}`, { cause: err, retryable: false });
    case 'ABORT_ERR':
      return new AbortedError(`${label}aborted`, { cause: err });
    case 'ECONNRESET':
    case 'ECONNREFUSED':
    case 'EPIPE':
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'EAI_AGAIN':
      return new NetworkError(`${label}${(err as Error).message}`, { cause: err });
    default:
      if ((err as Error | undefined)?.name === 'AbortError') return new AbortedError(`${label}aborted`, { cause: err });
      if (code && code.startsWith('E')) return new IoError(`${label}${(err as Error).message}`, { cause: err });
      return new InternalError(`${label}${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}

/** Throws the signal's reason as a FERRY_ERR_ABORTED error when the signal is aborted. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new AbortedError('aborted', { cause: signal.reason });
}
