/**
 * The CLI's one error edge: every command throws (a FerryError, an ExitError or anything
 * else) and `reportError` prints one line and chooses the exit code.
 */
import { FerryError, type FerryErrorCode } from '../core/errors.js';
import { inCliTerms } from './option-flags.js';
import { terminalSafe, terminalSafeLines } from './terminal-text.js';

/** Exit codes, documented in the README. */
export const EXIT = {
  OK: 0,
  /** Generic failure; also `check` finding differences. */
  FAILURE: 1,
  USAGE: 2,
  NOT_FOUND: 3,
  AUTH: 4,
  NETWORK: 5,
  CONFLICT: 6,
  INTEGRITY: 7,
  NO_SPACE: 8,
  /** The server's host name does not resolve. */
  HOST_UNKNOWN: 9,
  /** https against a plain-HTTP server, or plain HTTP against a TLS one. */
  TLS_MISMATCH: 10,
  /** The server's certificate is not trusted (--ca, --fingerprint). */
  TLS_UNTRUSTED: 11,
  INTERNAL: 70,
  /** Ctrl-C / SIGTERM: the operation was aborted (128 + SIGINT, as shells report it). */
  INTERRUPTED: 130,
  /** stdout was closed by its reader (`ferry get x - | head`), like a SIGPIPE death. */
  BROKEN_PIPE: 141,
} as const;

/** Thrown by a command to end with a given exit code (and an optional message). */
export class ExitError extends Error {
  constructor(
    readonly exitCode: number,
    message = '',
  ) {
    super(message);
    this.name = 'ExitError';
  }
}

const BY_CODE: Partial<Record<FerryErrorCode, number>> = {
  FERRY_ERR_USAGE: EXIT.USAGE,
  FERRY_ERR_CONFIG: EXIT.USAGE,
  FERRY_ERR_VALIDATION: EXIT.USAGE,
  FERRY_ERR_PATH_INVALID: EXIT.USAGE,
  FERRY_ERR_ALL_USERS_REQUIRED: EXIT.USAGE,
  FERRY_ERR_NOT_FOUND: EXIT.NOT_FOUND,
  FERRY_ERR_UPLOAD_NOT_FOUND: EXIT.NOT_FOUND,
  FERRY_ERR_AUTH_REQUIRED: EXIT.AUTH,
  FERRY_ERR_AUTH_INVALID: EXIT.AUTH,
  FERRY_ERR_FORBIDDEN: EXIT.AUTH,
  FERRY_ERR_BANNED: EXIT.AUTH,
  FERRY_ERR_TLS_UNTRUSTED: EXIT.TLS_UNTRUSTED,
  FERRY_ERR_TLS_MISMATCH: EXIT.TLS_MISMATCH,
  FERRY_ERR_HOST_UNKNOWN: EXIT.HOST_UNKNOWN,
  FERRY_ERR_GONE: EXIT.NOT_FOUND,
  FERRY_ERR_PERMISSION: EXIT.AUTH,
  FERRY_ERR_HOST_KEY: EXIT.AUTH,
  FERRY_ERR_NETWORK: EXIT.NETWORK,
  FERRY_ERR_TIMEOUT: EXIT.NETWORK,
  FERRY_ERR_UNAVAILABLE: EXIT.NETWORK,
  FERRY_ERR_SERVER: EXIT.NETWORK,
  FERRY_ERR_RATE_LIMITED: EXIT.NETWORK,
  FERRY_ERR_ALREADY_EXISTS: EXIT.CONFLICT,
  FERRY_ERR_NOT_A_DIRECTORY: EXIT.CONFLICT,
  FERRY_ERR_IS_A_DIRECTORY: EXIT.CONFLICT,
  FERRY_ERR_DIRECTORY_NOT_EMPTY: EXIT.CONFLICT,
  FERRY_ERR_PRECONDITION_FAILED: EXIT.CONFLICT,
  FERRY_ERR_HASH_MISMATCH: EXIT.INTEGRITY,
  FERRY_ERR_SIZE_MISMATCH: EXIT.INTEGRITY,
  FERRY_ERR_CHUNK_CORRUPT: EXIT.INTEGRITY,
  FERRY_ERR_NO_SPACE: EXIT.NO_SPACE,
  FERRY_ERR_QUOTA_EXCEEDED: EXIT.NO_SPACE,
  FERRY_ERR_LINK_BYTES_EXCEEDED: EXIT.NO_SPACE,
  FERRY_ERR_UPLOAD_REJECTED: EXIT.FAILURE,
  FERRY_ERR_INTERNAL: EXIT.INTERNAL,
  FERRY_ERR_ABORTED: EXIT.INTERRUPTED,
  FERRY_ERR_PROTOCOL: EXIT.NETWORK,
  FERRY_ERR_NO_PARENT: EXIT.CONFLICT,
  FERRY_ERR_LOCKED: EXIT.CONFLICT,
  FERRY_ERR_OFFSET_MISMATCH: EXIT.CONFLICT,
  FERRY_ERR_CHECKSUM_MISMATCH: EXIT.INTEGRITY,
  FERRY_ERR_ENCODING_INVALID: EXIT.INTEGRITY,
  FERRY_ERR_CRYPTO_KEY_MISSING: EXIT.USAGE,
  FERRY_ERR_CRYPTO_KEY_WRONG: EXIT.AUTH,
  FERRY_ERR_CRYPTO_TAMPERED: EXIT.INTEGRITY,
  FERRY_ERR_CRYPTO_TRUNCATED: EXIT.INTEGRITY,
  FERRY_ERR_CRYPTO_SWAPPED: EXIT.INTEGRITY,
  FERRY_ERR_E2E_FORMAT: EXIT.INTEGRITY,
  FERRY_ERR_E2E_PLAIN_IN_VAULT: EXIT.CONFLICT,
  FERRY_ERR_E2E_NEEDS_KEY: EXIT.CONFLICT,
  FERRY_ERR_E2E_MARKER_IN_USE: EXIT.CONFLICT,
};

export function exitCodeOf(err: unknown): number {
  if (err instanceof ExitError) return err.exitCode;
  if (err instanceof FerryError) {
    const failedCodes = err.details?.failedCodes;
    if (Array.isArray(failedCodes) && failedCodes.length > 0) return exitCodeOfFailedFiles(failedCodes as string[]);
    return BY_CODE[err.code] ?? EXIT.FAILURE;
  }
  return EXIT.INTERNAL;
}

/**
 * The exit code of a tree command that carried on past failed files (`put -r`, `get -r`,
 * `sync`, `copy`, `move`, `bisync`), from the failures' error codes: as {@link exitCodeOfAll},
 * their own code when they share one (every file refused by --no-clobber: 6), else 1.
 */
export function exitCodeOfFailedFiles(codes: readonly string[]): number {
  const exits = new Set(codes.map((code) => BY_CODE[code as FerryErrorCode] ?? EXIT.FAILURE));
  return exits.size === 1 ? [...exits][0] : EXIT.FAILURE;
}

/** The exit code of a sync, copy, move or bisync with errors: a refusal of the whole run (`--max-delete`: no path) 1, else as {@link exitCodeOfFailedFiles}. */
export function exitCodeOfSyncErrors(errors: ReadonlyArray<{ path: string; code: string }>): number {
  return errors.some((e) => e.path === '') ? EXIT.FAILURE : exitCodeOfFailedFiles(errors.map((e) => e.code));
}

/**
 * The exit code of a command that carried on past failures (rm and cat with several
 * operands, as rm(1) and cat(1) do): the failures' own code when they share one, else 1.
 */
export function exitCodeOfAll(errors: readonly unknown[]): number {
  const codes = new Set(errors.map(exitCodeOf));
  return codes.size === 1 ? [...codes][0] : EXIT.FAILURE;
}

/** --debug (on the command or the program) or FERRY_DEBUG=1: print stack traces with errors. */
export function debugWanted(argv: readonly string[] = process.argv): boolean {
  return argv.includes('--debug') || process.env.FERRY_DEBUG === '1';
}

/**
 * The CLI's own next step for a refusal the server words for every front (the vault guard
 * names no command: a WebDAV or SFTP user has none of them), chosen by the refusal's
 * `details.reason`; undefined when the message is all there is to say.
 */
const CLI_HINTS: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  FERRY_ERR_E2E_PLAIN_IN_VAULT: {
    name: 'ferry put FILE DIR/ into the folder encrypts with its passphrase (--passphrase-file FILE, or typed at a terminal)',
    content: 'ferry put FILE DIR/ into the folder encrypts with its passphrase (--passphrase-file FILE, or typed at a terminal)',
    marker: 'ferry mkdir --e2e NEWDIR makes a new end-to-end folder',
  },
  FERRY_ERR_E2E_NEEDS_KEY: {
    rename: 'ferry mv and ferry cp do it by plain paths, with the passphrase',
    restore: 'ferry restore PLAIN_PATH or ferry trash restore ID --to PLAIN_PATH do it, with the passphrase',
  },
};

/** `err`'s message, in the CLI's terms, with the CLI's own next step when it has one. */
export function cliMessage(err: FerryError): string {
  const reason = err.details?.reason;
  const hint = typeof reason === 'string' ? CLI_HINTS[err.code]?.[reason] : undefined;
  const message = inCliTerms(err.message);
  return hint ? `${message} (with this CLI: ${hint})` : message;
}

/** A FerryError as --json shows it, on stdout or stderr alike: its code and details, its message in the CLI's terms. */
export function errorJson(err: FerryError): ReturnType<FerryError['toJSON']> {
  return { ...err.toJSON(), message: cliMessage(err) };
}

/**
 * The stderr line of one file's failure in a command that carries on (sync, copy, move, put
 * -r, get -r): `ferry: PATH: message`, or with --json the `{"error": {…}}` object
 * {@link reportError} prints, the path in its details, so that stderr stays JSON throughout.
 */
export function fileErrorLine(path: string | undefined, err: unknown, json: boolean | undefined): string {
  const ferry = err instanceof FerryError ? err : undefined;
  const plain = err !== null && typeof err === 'object' && typeof (err as { message?: unknown }).message === 'string' ? (err as { code?: unknown; message: string }) : undefined;
  const message = ferry ? cliMessage(ferry) : inCliTerms(plain?.message ?? String(err));
  // One line: a name's newline (and the message quoting it) written out as \x0a.
  if (!json) return `ferry: ${path ? terminalSafe(path) + ': ' : ''}${terminalSafe(message)}\n`;
  const code = ferry?.code ?? (typeof plain?.code === 'string' ? plain.code : 'FERRY_ERR_INTERNAL');
  return JSON.stringify({ error: { code, message, details: { ...ferry?.details, ...(path ? { path } : {}) } } }) + '\n';
}

/** Prints one line to stderr (or a JSON object with --json) and returns the exit code. */
export function reportError(err: unknown, options: { json?: boolean; debug?: boolean } = {}): number {
  const code = exitCodeOf(err);
  if (err instanceof ExitError && err.message === '') return code;
  if (options.json) {
    const body =
      err instanceof FerryError
        ? errorJson(err)
        : { code: code === EXIT.INTERNAL ? 'FERRY_ERR_INTERNAL' : 'FERRY_ERR_EXIT', message: err instanceof Error ? err.message : String(err) };
    process.stderr.write(JSON.stringify({ error: body }) + '\n');
  } else if (err instanceof FerryError) {
    process.stderr.write(`ferry: ${terminalSafeLines(cliMessage(err))} (${err.code})\n`);
  } else if (err instanceof ExitError) {
    process.stderr.write(`ferry: ${terminalSafeLines(err.message)}\n`);
  } else {
    process.stderr.write(`ferry: unexpected error: ${terminalSafeLines(err instanceof Error ? err.message : String(err))}\n`);
  }
  if (options.debug && err instanceof Error && err.stack) process.stderr.write(err.stack + '\n');
  return code;
}
